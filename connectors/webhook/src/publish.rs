//! The delivery document and the three phases.
//!
//! prepare: checks the rendition is there and, in URL mode, has a public URL; nothing is sent.
//! commit: one signed POST whose `webhook-id` is the attempt id, so every retry of an attempt
//! carries the same id and a receiver can dedupe. A 2xx body `{"id","url"}` becomes the remote
//! id and URL (else the attempt id). reconcile: only with a configured `status_url`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use pressroom_connector::{ConnectorError, PostDraft, Prepared, PublishCtx, Published, Reconciled};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::Client;
use crate::config::MediaMode;

/// One image in the document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MediaItem {
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub sha256: String,
    /// Our signed public URL (URL mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Path of the rendition on our disk; kept in the checkpoint, removed from the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<std::path::PathBuf>,
}

/// What `prepare` stores: the caption and media as they will be sent.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub caption: String,
    pub media: Vec<MediaItem>,
}

/// The receiver's optional 2xx answer.
#[derive(Debug, Default, Deserialize)]
struct Receipt {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    url: Option<String>,
}

pub async fn prepare(client: &Client, draft: &PostDraft) -> Result<Prepared, ConnectorError> {
    let mut media = Vec::with_capacity(draft.media.len());
    for m in &draft.media {
        if client.cfg.media == MediaMode::Url && m.public_url.is_none() {
            return Err(ConnectorError::Rejected(
                "webhook media mode is `url` but the rendition has no public URL".into(),
            ));
        }
        if client.cfg.media == MediaMode::Base64 && tokio::fs::metadata(&m.path).await.is_err() {
            return Err(ConnectorError::transient(format!(
                "rendition {} is missing",
                m.path.display()
            )));
        }
        media.push(MediaItem {
            mime: m.mime.clone(),
            width: m.width,
            height: m.height,
            bytes: m.bytes,
            sha256: m.sha256.clone(),
            url: m.public_url.clone(),
            path: Some(m.path.clone()),
        });
    }
    let cp = Checkpoint {
        caption: draft.caption.clone(),
        media,
    };
    let checkpoint = serde_json::to_value(cp)
        .map_err(|e| ConnectorError::transient(format!("encoding checkpoint: {e}")))?;
    Ok(Prepared { checkpoint })
}

/// The JSON document a receiver gets.
pub async fn document(
    client: &Client,
    ctx: &PublishCtx,
    cp: &Checkpoint,
) -> Result<Vec<u8>, ConnectorError> {
    let mut media = Vec::with_capacity(cp.media.len());
    for m in &cp.media {
        let mut item = serde_json::to_value(m)
            .map_err(|e| ConnectorError::transient(format!("encoding media: {e}")))?;
        if let Some(obj) = item.as_object_mut() {
            obj.remove("path");
        }
        if client.cfg.media == MediaMode::Base64 {
            let path = m.path.as_ref().ok_or_else(|| {
                ConnectorError::Rejected("checkpoint lacks the rendition path".into())
            })?;
            let bytes = tokio::fs::read(path).await.map_err(|e| {
                ConnectorError::transient(format!("reading {}: {e}", path.display()))
            })?;
            item["data_base64"] = STANDARD.encode(bytes).into();
            if let Some(obj) = item.as_object_mut() {
                obj.remove("url");
            }
        }
        media.push(item);
    }
    let doc = json!({
        "type": "post.publish",
        "attempt_id": ctx.attempt_id,
        "timestamp": Utc::now().to_rfc3339(),
        "account": { "id": ctx.account.id, "external_id": ctx.account.external_id },
        "caption": cp.caption,
        "media": media,
        "metadata": {
            "workspace_id": ctx.account.workspace_id,
            "media_sha256": ctx.media_sha256,
        },
    });
    serde_json::to_vec(&doc)
        .map_err(|e| ConnectorError::transient(format!("encoding document: {e}")))
}

pub async fn commit(
    client: &Client,
    ctx: &PublishCtx,
    prepared: &Prepared,
) -> Result<Published, ConnectorError> {
    let cp = checkpoint(prepared)?;
    let body = document(client, ctx, &cp).await?;
    let resp = client
        .deliver(&ctx.attempt_id, body, &ctx.credentials.access_token)
        .await?;
    let bytes = resp.bytes().await.unwrap_or_default();
    Ok(published(&ctx.attempt_id, &bytes))
}

fn published(msg_id: &str, body: &[u8]) -> Published {
    let r: Receipt = serde_json::from_slice(body).unwrap_or_default();
    let remote_id = match r.id {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => msg_id.to_owned(),
    };
    Published {
        remote_id,
        url: r.url,
    }
}

pub async fn reconcile(client: &Client, ctx: &PublishCtx) -> Result<Reconciled, ConnectorError> {
    let Some(resp) = client
        .status(&ctx.attempt_id, &ctx.credentials.access_token)
        .await
    else {
        return Ok(Reconciled::Unknown(
            "a generic webhook receiver cannot be asked whether it got the post; configure status_url, or check the receiver for webhook-id ".to_owned() + &ctx.attempt_id,
        ));
    };
    // A 404 right after the commit may only mean the receiver has not stored it yet: the
    // runtime takes Absent as final after `absent_final_after` (timeout + listing lag).
    Ok(match resp? {
        Some(bytes) => Reconciled::Landed(published(&ctx.attempt_id, &bytes)),
        None => Reconciled::Absent,
    })
}

fn checkpoint(prepared: &Prepared) -> Result<Checkpoint, ConnectorError> {
    serde_json::from_value(prepared.checkpoint.clone())
        .map_err(|e| ConnectorError::Rejected(format!("unreadable webhook checkpoint: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_id_and_url_or_the_attempt_id() {
        let p = published("att-1", br#"{"id":"post-9","url":"https://x.example/9"}"#);
        assert_eq!(p.remote_id, "post-9");
        assert_eq!(p.url.as_deref(), Some("https://x.example/9"));
        assert_eq!(published("att-1", br#"{"id":42}"#).remote_id, "42");
        assert_eq!(published("att-1", b"OK").remote_id, "att-1");
        assert_eq!(published("att-1", b"").url, None);
    }
}
