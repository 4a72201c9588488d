//! commit: `POST /rest/posts`, the one irreversible call, id from `x-restli-id`.
//!
//! LinkedIn refuses the create while the post's image is still processing. Members cannot read
//! the image's status (403), so for them that refusal is the only sign; it is a complete answer
//! saying nothing was created, so the create is sent again after a pause, for up to
//! `image_ready_timeout_secs`. Every other answer is classified once: a lost or 5xx answer is
//! `OutcomeUnknown` (reconcile first), never retried here.

use std::time::Duration;

use pressroom_connector::{ConnectorError, Prepared, PublishCtx, Published};
use reqwest::{Method, Response};
use serde_json::json;
use tokio::time::Instant;

use crate::client::{Client, Failure};
use crate::errors::{self, Phase};
use crate::publish::{checkpoint, published};

/// Longest pause between two creates refused for a processing image.
const MAX_PAUSE: Duration = Duration::from_secs(5);

pub async fn commit(
    client: &Client,
    ctx: &PublishCtx,
    prepared: &Prepared,
) -> Result<Published, ConnectorError> {
    let cp = checkpoint(prepared)?;
    let body = json!({
        "author": cp.author,
        "commentary": cp.commentary,
        "visibility": client.cfg.visibility,
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": []
        },
        "content": content(&cp),
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": false
    });
    // Creates are sent only before this instant, which `absent_final_after` counts on.
    let deadline = Instant::now() + Duration::from_secs(client.cfg.image_ready_timeout_secs);
    let mut pause = Duration::from_millis(client.cfg.image_poll_interval_ms.max(1));
    loop {
        let req = client
            .rest(Method::POST, "/rest/posts", &ctx.credentials.access_token)
            .json(&body);
        let answer = match client.try_send(req, Phase::Commit).await {
            Ok(resp) => return created(&resp),
            Err(Failure::Transport(e)) => return Err(e),
            Err(Failure::Answer(answer)) => answer,
        };
        let Some(why) = errors::image_not_ready(answer.status, &answer.body, &cp.image) else {
            return Err(client.classify(&answer, Phase::Commit));
        };
        if Instant::now() + pause >= deadline {
            // Not a rejection: the image may still become AVAILABLE, and nothing was created.
            return Err(ConnectorError::transient(format!(
                "{why}; image {} still not AVAILABLE after {}s, the create will be retried",
                cp.image, client.cfg.image_ready_timeout_secs
            )));
        }
        tracing::debug!(image = %cp.image, pause_ms = pause.as_millis() as u64, %why,
            "LinkedIn refused the post while its image is processing; sending it again.");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// `content.media` (one image) or `content.multiImage` (several, §8.3a), each image with
/// its alt text when given (§8.3d).
fn content(cp: &crate::publish::Checkpoint) -> serde_json::Value {
    let image = |id: &str, alt: Option<&str>| match alt {
        Some(alt) => json!({ "id": id, "altText": alt }),
        None => json!({ "id": id }),
    };
    if cp.images.len() > 1 {
        let images: Vec<_> = cp
            .images
            .iter()
            .enumerate()
            .map(|(i, id)| image(id, cp.alt_texts.get(i).and_then(Option::as_deref)))
            .collect();
        return json!({ "multiImage": { "images": images } });
    }
    json!({ "media": image(&cp.image, cp.alt_text.as_deref()) })
}

/// 201 with the post URN in `x-restli-id`; a 2xx without it may hide a created post.
fn created(resp: &Response) -> Result<Published, ConnectorError> {
    resp.headers()
        .get("x-restli-id")
        .and_then(|v| v.to_str().ok())
        .map(|id| published(id.to_owned()))
        .ok_or_else(|| {
            ConnectorError::OutcomeUnknown("LinkedIn answered 2xx without x-restli-id".into())
        })
}
