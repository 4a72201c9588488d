//! Photo posts through the Content Posting API.
//!
//! prepare: `creator_info/query` (TikTok requires it before every post; read-only), check the
//! configured privacy level against the creator's options, collect our signed public URLs.
//! commit: `content/init` (the irreversible call) → `publish_id`, then `status/fetch` until a
//! final state or `status_max_wait_secs`. reconcile: `status/fetch` by the publish id this
//! process saw, else the creator's recent posts (`video/list`) matched by description and time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
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
    pub username: String,
}

/// Publish ids seen by `commit` in this process, by attempt id, so a reconcile after a
/// bounded wait ran out can ask `status/fetch` directly. Lost on restart (the SDK's commit
/// cannot store a checkpoint); reconcile then falls back to listing posts.
pub type PublishIds = Arc<Mutex<HashMap<String, String>>>;

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
        photo_urls,
        username: info.creator_username,
    };
    let checkpoint = serde_json::to_value(cp)
        .map_err(|e| ConnectorError::transient(format!("encoding checkpoint: {e}")))?;
    Ok(Prepared { checkpoint })
}

pub async fn commit(
    client: &Client,
    ids: &PublishIds,
    ctx: &PublishCtx,
    prepared: &Prepared,
) -> Result<Published, ConnectorError> {
    let cp = checkpoint(prepared)?;
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
            "photo_cover_index": 0,
        },
        "post_mode": cp.post_mode,
        "media_type": "PHOTO",
    });
    let token = &ctx.credentials.access_token;
    let init: InitData = client
        .call("/v2/post/publish/content/init/", token, Some(&body), true)
        .await?;
    remember(ids, &ctx.attempt_id, &init.publish_id);
    tracing::info!(publish_id = %init.publish_id, "TikTok accepted the photo post; polling its status.");

    // From here on TikTok has the post: every failure but a final FAILED is "outcome unknown".
    let deadline = tokio::time::Instant::now() + Duration::from_secs(cfg.status_max_wait_secs);
    let mut last: String;
    loop {
        match fetch_status(client, token, &init.publish_id).await {
            Ok(st) => match final_answer(&st, &init.publish_id, &cp.username, cp.post_mode) {
                Some(Ok(p)) => return Ok(p),
                Some(Err(e)) => return Err(e),
                None => last = st.status,
            },
            // Transient status errors mean "still pending" (Postiz does the same).
            Err(e) => last = e.to_string(),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ConnectorError::OutcomeUnknown(format!(
                "TikTok publish {} not final after {}s ({last})",
                init.publish_id, cfg.status_max_wait_secs
            )));
        }
        tokio::time::sleep(Duration::from_millis(cfg.status_poll_interval_ms)).await;
    }
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
            let id = st.publicaly_available_post_id.first().map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
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

#[derive(Deserialize)]
struct VideoList {
    #[serde(default)]
    videos: Vec<Video>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct Video {
    id: String,
    #[serde(default)]
    video_description: String,
    #[serde(default)]
    create_time: i64,
    #[serde(default)]
    share_url: Option<String>,
}

const SKEW: chrono::Duration = chrono::Duration::minutes(5);

pub async fn reconcile(
    client: &Client,
    ids: &PublishIds,
    ctx: &PublishCtx,
    prepared: Option<&Prepared>,
) -> Result<Reconciled, ConnectorError> {
    let cp = prepared.map(checkpoint).transpose()?;
    let token = &ctx.credentials.access_token;
    let known = ids
        .lock()
        .ok()
        .and_then(|m| m.get(&ctx.attempt_id).cloned());
    if let Some(publish_id) = known {
        let st = fetch_status(client, token, &publish_id).await?;
        let username = cp.as_ref().map(|c| c.username.as_str()).unwrap_or("");
        let mode = cp.as_ref().map(|c| c.post_mode).unwrap_or_default();
        return Ok(match final_answer(&st, &publish_id, username, mode) {
            Some(Ok(p)) => Reconciled::Landed(p),
            // A FAILED publish posted nothing: committing again is safe.
            Some(Err(_)) => Reconciled::Absent,
            None => Reconciled::Unknown(format!(
                "TikTok publish {publish_id} is still {}",
                st.status
            )),
        });
    }
    let mode = cp
        .as_ref()
        .map(|c| c.post_mode)
        .unwrap_or(client.cfg.post_mode);
    if !client.cfg.reconcile_via_video_list || mode == PostMode::MediaUpload {
        return Ok(Reconciled::Unknown(
            "no publish id for this attempt and TikTok cannot list inbox drafts; check the TikTok app".into(),
        ));
    }
    let list: VideoList = client
        .call(
            "/v2/video/list/?fields=id,title,video_description,create_time,share_url",
            token,
            Some(&json!({ "max_count": 20 })),
            false,
        )
        .await?;
    let since: Option<DateTime<Utc>> = ctx.committing_since.map(|t| t - SKEW);
    let description = cp
        .as_ref()
        .map(|c| c.description.as_str())
        .unwrap_or(&ctx.caption);
    for v in &list.videos {
        let created = DateTime::from_timestamp(v.create_time, 0);
        let in_window = match (since, created) {
            (Some(s), Some(c)) => c >= s,
            _ => true,
        };
        if in_window && v.video_description == description {
            return Ok(Reconciled::Landed(Published {
                remote_id: v.id.clone(),
                url: v.share_url.clone(),
            }));
        }
    }
    let reaches_back = since.is_some_and(|s| {
        list.videos
            .iter()
            .filter_map(|v| DateTime::from_timestamp(v.create_time, 0))
            .any(|c| c < s)
    });
    if !list.has_more || reaches_back {
        Ok(Reconciled::Absent)
    } else {
        Ok(Reconciled::Unknown(
            "no match in the creator's 20 most recent posts".into(),
        ))
    }
}

fn remember(ids: &PublishIds, attempt: &str, publish_id: &str) {
    if let Ok(mut m) = ids.lock() {
        m.insert(attempt.to_owned(), publish_id.to_owned());
    }
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
