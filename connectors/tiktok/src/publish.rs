//! Photo posts through the Content Posting API.
//!
//! prepare: `creator_info/query` (TikTok requires it before every post; read-only), check the
//! configured privacy level against the creator's options, collect our signed public URLs.
//! commit: `content/init` (the irreversible call) → `publish_id`, stored at once as the
//! attempt's checkpoint, then `status/fetch` until a final state or `status_max_wait_secs`.
//! A commit that finds a publish id in the checkpoint (an earlier commit of this attempt was
//! cut short, e.g. by an expired token while polling) resumes polling it instead of sending
//! init again; only a publish TikTok reports FAILED is replaced by a new init.
//! reconcile: `status/fetch` of the stored publish id; without one (init's answer was lost),
//! the creator's public post list (`lookup.rs`). Init is never replayed blindly.

use std::time::Duration;

use pressroom_connector::{ConnectorError, PostDraft, Prepared, PublishCtx, Published, Reconciled};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::Client;
use crate::config::PostMode;
use crate::errors;

/// What `prepare` stores; everything `content/init` needs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub post_mode: PostMode,
    pub privacy_level: Option<String>,
    pub title: String,
    pub description: String,
    pub photo_urls: Vec<String>,
    /// Which photo is the cover (`photo_cover_index`); absent in checkpoints written before.
    #[serde(default)]
    pub cover_index: usize,
    pub username: String,
    /// Set by `commit` as soon as `content/init` answers, and saved before polling, so a
    /// reconcile after a restart asks `status/fetch` about this very publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_id: Option<String>,
}

#[derive(Deserialize)]
struct CreatorInfo {
    #[serde(default)]
    creator_username: String,
    #[serde(default)]
    privacy_level_options: Vec<String>,
}

#[derive(Deserialize)]
struct InitData {
    publish_id: String,
}

#[derive(Deserialize)]
pub(crate) struct StatusData {
    pub status: String,
    #[serde(default)]
    pub fail_reason: Option<String>,
    #[serde(default)]
    pub publicaly_available_post_id: Vec<serde_json::Value>,
}

/// First line of the caption, cut to `max` UTF-16 code units (TikTok counts in UTF-16).
pub fn utf16_prefix(text: &str, max: usize) -> String {
    let mut units = 0;
    let mut out = String::new();
    for c in text.lines().next().unwrap_or("").chars() {
        units += c.len_utf16();
        if units > max {
            break;
        }
        out.push(c);
    }
    out
}

pub async fn prepare(
    client: &Client,
    ctx: &PublishCtx,
    draft: &PostDraft,
) -> Result<Prepared, ConnectorError> {
    let photo_urls = draft
        .media
        .iter()
        .map(|m| {
            m.public_url.clone().ok_or_else(|| {
                ConnectorError::Rejected(
                    "TikTok pulls photos from a public URL; the rendition has none".into(),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if draft.cover >= photo_urls.len() {
        return Err(ConnectorError::Rejected(format!(
            "the cover is photo {} (0-based) of a post of {}",
            draft.cover,
            photo_urls.len()
        )));
    }
    let info: CreatorInfo = client
        .call(
            "/v2/post/publish/creator_info/query/",
            &ctx.credentials.access_token,
            None,
            false,
        )
        .await?;
    let cfg = &client.cfg;
    let privacy_level = match cfg.post_mode {
        PostMode::DirectPost => {
            if !info.privacy_level_options.contains(&cfg.privacy_level) {
                return Err(ConnectorError::Rejected(format!(
                    "TikTok privacy_level {} is not offered to @{}; allowed: {}",
                    cfg.privacy_level,
                    info.creator_username,
                    info.privacy_level_options.join(", ")
                )));
            }
            Some(cfg.privacy_level.clone())
        }
        PostMode::MediaUpload => None,
    };
    let cp = Checkpoint {
        post_mode: cfg.post_mode,
        privacy_level,
        title: utf16_prefix(&draft.caption, 90),
        description: draft.caption.clone(),
        cover_index: draft.cover,
        photo_urls,
        username: info.creator_username,
        publish_id: None,
    };
    let checkpoint = serde_json::to_value(cp)
        .map_err(|e| ConnectorError::transient(format!("encoding checkpoint: {e}")))?;
    Ok(Prepared { checkpoint })
}

pub async fn commit(
    client: &Client,
    ctx: &PublishCtx,
    prepared: &Prepared,
) -> Result<Published, ConnectorError> {
    let mut cp = checkpoint(prepared)?;
    let token = &ctx.credentials.access_token;
    if let Some(publish_id) = cp.publish_id.clone() {
        // An earlier commit of this attempt got a publish id: TikTok has (or had) the post.
        let st = fetch_status(client, token, &publish_id).await?;
        if st.status != "FAILED" {
            return poll(client, ctx, &cp, &publish_id).await;
        }
        // FAILED posted nothing: that id must not answer for the new init. Nothing was sent
        // yet, so a failure to store the cleared checkpoint is transient.
        cp.publish_id = None;
        save(ctx, &cp).await?;
    }
    let cfg = &client.cfg;
    let mut post_info = json!({
        "title": cp.title,
        "description": cp.description,
        "disable_comment": cfg.disable_comment,
        "auto_add_music": cfg.auto_add_music,
        "brand_content_toggle": false,
        "brand_organic_toggle": false,
    });
    if let Some(p) = &cp.privacy_level {
        post_info["privacy_level"] = p.clone().into();
    }
    let body = json!({
        "post_info": post_info,
        "source_info": {
            "source": "PULL_FROM_URL",
            "photo_images": cp.photo_urls,
            "photo_cover_index": cp.cover_index,
        },
        "post_mode": cp.post_mode,
        "media_type": "PHOTO",
    });
    let init: InitData = client
        .call("/v2/post/publish/content/init/", token, Some(&body), true)
        .await?;
    let publish_id = init.publish_id;
    cp.publish_id = Some(publish_id.clone());
    if let Err(e) = save(ctx, &cp).await {
        // Polling may still reach a final answer; if not, reconcile cannot look this publish
        // up by its id after a restart and falls back to the creator's post list.
        tracing::warn!(%publish_id, error = %e, "TikTok publish id not stored as the checkpoint");
    }
    tracing::info!(%publish_id, "TikTok accepted the photo post; polling its status.");
    poll(client, ctx, &cp, &publish_id).await
}

/// Polls `status/fetch` until a final state or `status_max_wait_secs`. TikTok has the post:
/// a final FAILED is the only "not posted"; a deadline is "outcome unknown". An expired token
/// is `AuthExpired`: the runtime refreshes and calls `commit` again, which resumes here from
/// the checkpointed publish id (repeating a status fetch is safe; init is not repeated).
async fn poll(
    client: &Client,
    ctx: &PublishCtx,
    cp: &Checkpoint,
    publish_id: &str,
) -> Result<Published, ConnectorError> {
    let cfg = &client.cfg;
    let token = &ctx.credentials.access_token;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(cfg.status_max_wait_secs);
    let mut last: String;
    loop {
        match fetch_status(client, token, publish_id).await {
            Ok(st) => match final_answer(&st, publish_id, &cp.username, cp.post_mode) {
                Some(Ok(p)) => return Ok(p),
                Some(Err(e)) => return Err(e),
                None => last = st.status,
            },
            // Polling again with a dead token would only wait out the deadline.
            Err(ConnectorError::AuthExpired) => return Err(ConnectorError::AuthExpired),
            // Other status errors mean "still pending" (Postiz does the same).
            Err(e) => last = e.to_string(),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ConnectorError::OutcomeUnknown(format!(
                "TikTok publish {publish_id} not final after {}s ({last})",
                cfg.status_max_wait_secs
            )));
        }
        tokio::time::sleep(Duration::from_millis(cfg.status_poll_interval_ms)).await;
    }
}

/// Stores the checkpoint through the runtime (a no-op where nothing durable is behind the
/// attempt, as in one-shot tools).
async fn save(ctx: &PublishCtx, cp: &Checkpoint) -> Result<(), ConnectorError> {
    let value = serde_json::to_value(cp)
        .map_err(|e| ConnectorError::transient(format!("encoding checkpoint: {e}")))?;
    ctx.save_checkpoint(&value).await.map(|_| ())
}

pub(crate) async fn fetch_status(
    client: &Client,
    token: &secrecy::SecretString,
    publish_id: &str,
) -> Result<StatusData, ConnectorError> {
    let body = json!({ "publish_id": publish_id });
    client
        .call("/v2/post/publish/status/fetch/", token, Some(&body), false)
        .await
}

/// `None` while TikTok is still working. `PUBLISH_COMPLETE` with an empty id list (moderation
/// pending, or a non-public post) counts as published right away, as Postiz does: the remote id
/// is then the publish id and the URL the creator's profile.
fn final_answer(
    st: &StatusData,
    publish_id: &str,
    username: &str,
    mode: PostMode,
) -> Option<Result<Published, ConnectorError>> {
    match st.status.as_str() {
        "PUBLISH_COMPLETE" => {
            let id = st
                .publicaly_available_post_id
                .first()
                .and_then(crate::post_id::text);
            Some(Ok(match id {
                Some(id) => Published {
                    url: Some(format!("https://www.tiktok.com/@{username}/photo/{id}")),
                    remote_id: id,
                },
                None => Published {
                    remote_id: publish_id.to_owned(),
                    url: Some(format!("https://www.tiktok.com/@{username}")),
                },
            }))
        }
        "SEND_TO_USER_INBOX" if mode == PostMode::MediaUpload => Some(Ok(Published {
            remote_id: publish_id.to_owned(),
            url: None,
        })),
        "FAILED" => Some(Err(errors::classify_fail_reason(
            st.fail_reason.as_deref().unwrap_or("unknown"),
        ))),
        _ => None,
    }
}

/// Asks `status/fetch` about the publish id the attempt's checkpoint holds. Without one,
/// `content/init` either never ran or its answer was lost; TikTok documents no other lookup,
/// so only a person can tell (init is never replayed blindly).
pub async fn reconcile(
    client: &Client,
    ctx: &PublishCtx,
    prepared: Option<&Prepared>,
) -> Result<Reconciled, ConnectorError> {
    let parsed: Vec<Checkpoint> = [prepared.map(|p| &p.checkpoint), ctx.checkpoint.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    let stored = parsed
        .iter()
        .find(|c| c.publish_id.is_some())
        .or(parsed.first());
    let Some(publish_id) = stored.and_then(|c| c.publish_id.clone()) else {
        // init's answer (the publish_id) never arrived: look for the post itself.
        return match stored {
            Some(cp) => crate::lookup::find_lost_init(client, ctx, cp).await,
            None => Ok(Reconciled::Unknown(
                "no TikTok checkpoint for this attempt; check the creator's profile".into(),
            )),
        };
    };
    let st = fetch_status(client, &ctx.credentials.access_token, &publish_id).await?;
    let username = stored.map(|c| c.username.as_str()).unwrap_or("");
    let mode = stored.map(|c| c.post_mode).unwrap_or(client.cfg.post_mode);
    Ok(match final_answer(&st, &publish_id, username, mode) {
        Some(Ok(p)) => Reconciled::Landed(p),
        // A FAILED publish posted nothing: committing again is safe.
        Some(Err(_)) => Reconciled::Absent,
        None => Reconciled::Unknown(format!(
            "TikTok publish {publish_id} is still {}",
            st.status
        )),
    })
}

fn checkpoint(prepared: &Prepared) -> Result<Checkpoint, ConnectorError> {
    serde_json::from_value(prepared.checkpoint.clone())
        .map_err(|e| ConnectorError::Rejected(format!("unreadable TikTok checkpoint: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_the_first_line_cut_in_utf16_units() {
        assert_eq!(utf16_prefix("Hello\nworld", 90), "Hello");
        let emoji = "😀".repeat(50); // 2 units each
        assert_eq!(utf16_prefix(&emoji, 90).chars().count(), 45);
    }
}
