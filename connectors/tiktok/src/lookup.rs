//! Reconcile for an init whose answer (the `publish_id`) was lost: TikTok may have created the
//! post, and `status/fetch` needs the id we never got. The creator's public post list
//! (`POST /v2/video/list/`, scope `video.list`; PLATFORMS.md §9.4, as trypost matches by
//! caption and time) is the only other lookup, so a post found there is `Landed`.
//!
//! A post missing from that list proves nothing: the list holds only public posts, and only
//! after moderation, which can take hours (§4.2); inbox drafts never appear. So this lookup
//! never answers `Absent`: not found stays `Unknown` (the runtime asks again later, then a
//! person decides), and init is never replayed on a guess.

use chrono::{DateTime, Duration, Utc};
use pressroom_connector::{ConnectorError, PublishCtx, Published, Reconciled};
use serde::Deserialize;
use serde_json::json;

use crate::client::Client;
use crate::config::PostMode;
use crate::publish::Checkpoint;

/// The list endpoint with the fields the match needs.
const LIST: &str = "/v2/video/list/?fields=id,create_time,title,video_description,share_url";
/// TikTok's cap on `max_count`.
const PAGE: u32 = 20;
/// Pages read at most: a lost init is minutes old, the list is newest first.
const MAX_PAGES: usize = 5;
/// Tolerated difference between our clock and TikTok's `create_time`.
const SKEW: Duration = Duration::seconds(120);

#[derive(Debug, Deserialize)]
struct ListData {
    #[serde(default)]
    videos: Vec<Video>,
    #[serde(default)]
    cursor: Option<i64>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Debug, Deserialize)]
struct Video {
    /// A string in TikTok's docs; taken as a number too (19 digits, read exactly).
    id: serde_json::Value,
    #[serde(default)]
    create_time: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    video_description: String,
    #[serde(default)]
    share_url: Option<String>,
}

/// Looks for the post a lost init may have made: same description (or title when the
/// caption is empty), created no earlier than the commit started.
pub async fn find_lost_init(
    client: &Client,
    ctx: &PublishCtx,
    cp: &Checkpoint,
) -> Result<Reconciled, ConnectorError> {
    if cp.post_mode == PostMode::MediaUpload {
        return Ok(Reconciled::Unknown(
            "TikTok content/init was sent but its answer (the publish_id) never arrived; \
             inbox drafts are not listed anywhere, so check the creator's TikTok inbox"
                .into(),
        ));
    }
    let since = ctx.committing_since.unwrap_or_else(Utc::now) - SKEW;
    let token = &ctx.credentials.access_token;
    let mut cursor: Option<i64> = None;
    for _ in 0..MAX_PAGES {
        let mut body = json!({ "max_count": PAGE });
        if let Some(c) = cursor {
            body["cursor"] = c.into();
        }
        let page: ListData = match client.call(LIST, token, Some(&body), false).await {
            Ok(p) => p,
            // No `video.list` scope (accounts connected before it was asked for): the lookup
            // is unavailable, which is not the account's fault; the answer stays unknown.
            Err(ConnectorError::Disconnected(why)) => {
                return Ok(Reconciled::Unknown(format!(
                    "TikTok content/init's answer was lost and the post list cannot be read \
                     ({why}); reconnect with the video.list scope or check the profile"
                )));
            }
            Err(e) => return Err(e),
        };
        // Another post of ours with the same text is not this one.
        if let Some(p) = page
            .videos
            .iter()
            .filter(|v| matches(v, cp, since))
            .map(|v| published(v, &cp.username))
            .find(|p| !ctx.is_taken(&p.remote_id))
        {
            return Ok(Reconciled::Landed(p));
        }
        let older = page
            .videos
            .iter()
            .map(|v| v.create_time)
            .min()
            .is_some_and(|t| t < since.timestamp());
        if !page.has_more || older || page.cursor.is_none() {
            break;
        }
        cursor = page.cursor;
    }
    Ok(Reconciled::Unknown(
        "TikTok content/init's answer (the publish_id) was lost and the creator's public post \
         list does not show the post (yet): moderation can take hours and private posts are \
         never listed, so this is not proof of absence"
            .into(),
    ))
}

fn matches(v: &Video, cp: &Checkpoint, since: DateTime<Utc>) -> bool {
    let text = if cp.description.is_empty() {
        !cp.title.is_empty() && v.title == cp.title
    } else {
        v.video_description == cp.description
    };
    text && v.create_time >= since.timestamp()
}

fn published(v: &Video, username: &str) -> Published {
    let id = crate::post_id::text(&v.id).unwrap_or_else(|| v.id.to_string());
    let url = v
        .share_url
        .clone()
        .unwrap_or_else(|| format!("https://www.tiktok.com/@{username}/photo/{id}"));
    Published {
        remote_id: id,
        url: Some(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(description: &str, title: &str) -> Checkpoint {
        Checkpoint {
            post_mode: PostMode::DirectPost,
            privacy_level: None,
            title: title.into(),
            description: description.into(),
            photo_urls: vec![],
            cover_index: 0,
            username: "u".into(),
            publish_id: None,
        }
    }

    fn video(description: &str, title: &str, at: i64) -> Video {
        Video {
            id: json!(7678907398077074696_u64),
            create_time: at,
            title: title.into(),
            video_description: description.into(),
            share_url: None,
        }
    }

    #[test]
    fn matches_the_caption_created_after_the_commit_started() {
        let since = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let t = since.timestamp();
        assert!(matches(
            &video("hello", "h", t + 5),
            &cp("hello", "h"),
            since
        ));
        assert!(!matches(
            &video("hello", "h", t - 5),
            &cp("hello", "h"),
            since
        ));
        assert!(!matches(
            &video("other", "h", t + 5),
            &cp("hello", "h"),
            since
        ));
        assert!(matches(&video("", "only", t), &cp("", "only"), since));
        assert!(!matches(&video("", "", t), &cp("", ""), since));
        let p = published(&video("hello", "h", t), "creator");
        assert_eq!(p.remote_id, "7678907398077074696");
        assert_eq!(
            p.url.as_deref(),
            Some("https://www.tiktok.com/@creator/photo/7678907398077074696")
        );
    }
}
