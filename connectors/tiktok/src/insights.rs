//! Post metrics read back (PLATFORMS.md §9.4): `POST /v2/video/query/` (scope `video.list`),
//! at most 20 ids a call, for posts the token's user owns.
//!
//! The remote id a publish stored may still be its publish handle (`p_pub_url~…`), which the
//! query cannot look up: TikTok often names the public post id only after moderation, later
//! than `commit` polls. It is resolved here, lazily, through `status/fetch`, and handed back as
//! `metrics_id` for the runtime to keep. An id the query does not return (another account's,
//! deleted, made private) is "not yet", never "gone": TikTok does not say which.

use std::collections::{HashMap, HashSet};

use pressroom_connector::{
    ConnectorError, MetricsAnswer, MetricsCtx, MetricsQuery, MetricsReport, PostMetrics,
};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::Client;
use crate::{errors, post_id, publish};

/// TikTok's cap on `filters.video_ids` ("should not be larger than 20"; more is
/// `invalid_params`).
pub const BATCH: usize = 20;
/// The query with the counters we map; TikTok has no reach, saves or clicks here.
const QUERY: &str = "/v2/video/query/?fields=id,view_count,like_count,comment_count,share_count";
const NO_VIDEO_LIST: &str = "reconnect TikTok and grant video.list";
const NO_STATUS: &str = "reconnect TikTok and grant video.publish (to resolve post ids)";
const NOT_PUBLIC: &str = "TikTok has not made the post public yet";

#[derive(Debug, Default, Deserialize)]
struct QueryData {
    #[serde(default)]
    videos: Vec<Value>,
}

/// One post before the query: the id to ask for, or already answered.
enum Target {
    Id {
        id: String,
        /// What to hand back as `metrics_id`: the stored one, or the one resolved now.
        metrics_id: Option<String>,
    },
    Answered(MetricsAnswer),
}

impl Target {
    fn metrics_id(&self) -> Option<&String> {
        match self {
            Target::Id { metrics_id, .. } => metrics_id.as_ref(),
            Target::Answered(_) => None,
        }
    }
}

pub async fn fetch(
    client: &Client,
    ctx: &MetricsCtx,
    posts: &[MetricsQuery],
) -> Result<MetricsReport, ConnectorError> {
    let token = &ctx.credentials.access_token;
    let mut targets = Vec::with_capacity(posts.len());
    for q in posts {
        match target(client, token, q).await {
            Ok(t) => targets.push(t),
            Err(e) if errors::is_missing_scope(&e) => {
                return Ok(unavailable(posts, &targets, NO_STATUS));
            }
            Err(e) => return Err(e),
        }
    }
    let mut seen = HashSet::new();
    let ids: Vec<String> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Id { id, .. } if seen.insert(id.clone()) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let mut found: HashMap<String, Value> = HashMap::new();
    for chunk in ids.chunks(BATCH) {
        let videos = match query(client, token, chunk).await {
            Ok(v) => v,
            Err(e) if errors::is_missing_scope(&e) => {
                return Ok(unavailable(posts, &targets, NO_VIDEO_LIST));
            }
            Err(e) => return Err(e),
        };
        for v in videos {
            if let Some(id) = v.get("id").and_then(post_id::text) {
                found.insert(id, v);
            }
        }
    }
    let answers = targets
        .into_iter()
        .map(|t| match t {
            Target::Answered(a) => a,
            Target::Id { id, metrics_id } => match found.get(&id) {
                Some(v) => MetricsAnswer::Measured {
                    metrics: metrics(v),
                    raw: v.clone(),
                    metrics_id,
                },
                None => MetricsAnswer::NotYet {
                    reason: format!(
                        "TikTok did not return post {id}: not this account's, deleted or private"
                    ),
                    raw: Value::Null,
                    metrics_id,
                },
            },
        })
        .collect();
    Ok(MetricsReport {
        answers,
        unknown_metrics: Vec::new(),
        unavailable: None,
    })
}

/// The id the query takes for `q`: the one resolved earlier, the remote id when it already is
/// the public post id, else the publish handle resolved through `status/fetch` now.
async fn target(
    client: &Client,
    token: &SecretString,
    q: &MetricsQuery,
) -> Result<Target, ConnectorError> {
    if let Some(id) = &q.metrics_id {
        return Ok(Target::Id {
            id: id.clone(),
            metrics_id: Some(id.clone()),
        });
    }
    if post_id::is_public(&q.remote_id) {
        return Ok(Target::Id {
            id: q.remote_id.clone(),
            metrics_id: None,
        });
    }
    let handle = &q.remote_id;
    let st = match publish::fetch_status(client, token, handle).await {
        Ok(st) => st,
        // TikTok looked at this handle and refused it (unknown, too old): this post only.
        Err(ConnectorError::Rejected(why)) => {
            return Ok(not_yet(
                format!("TikTok cannot resolve publish {handle} to a post id ({why})"),
                Value::Null,
            ));
        }
        Err(e) => return Err(e),
    };
    let raw = json!({
        "status": st.status,
        "publicaly_available_post_id": st.publicaly_available_post_id,
    });
    let id = st
        .publicaly_available_post_id
        .first()
        .and_then(post_id::text);
    Ok(match (st.status.as_str(), id) {
        ("PUBLISH_COMPLETE", Some(id)) => {
            tracing::debug!(%handle, post_id = %id, "TikTok publish resolved to its public post id");
            Target::Id {
                metrics_id: Some(id.clone()),
                id,
            }
        }
        ("PUBLISH_COMPLETE", None) => not_yet(NOT_PUBLIC.into(), raw),
        ("SEND_TO_USER_INBOX", _) => not_yet(
            "the post waits as a draft in the creator's TikTok inbox; it has no public id until \
             the creator posts it"
                .into(),
            raw,
        ),
        ("FAILED", _) => not_yet(
            format!(
                "TikTok reports publish {handle} FAILED ({})",
                st.fail_reason.as_deref().unwrap_or("no reason")
            ),
            raw,
        ),
        (other, _) => not_yet(
            format!("TikTok is still processing the post ({other})"),
            raw,
        ),
    })
}

fn not_yet(reason: String, raw: Value) -> Target {
    Target::Answered(MetricsAnswer::NotYet {
        reason,
        raw,
        metrics_id: None,
    })
}

async fn query(
    client: &Client,
    token: &SecretString,
    ids: &[String],
) -> Result<Vec<Value>, ConnectorError> {
    // Ids travel as strings: as JSON numbers they would be rounded by many parsers.
    let body = json!({ "filters": { "video_ids": ids } });
    let data: QueryData = client.call(QUERY, token, Some(&body), false).await?;
    Ok(data.videos)
}

/// TikTok's counters in our names; a counter TikTok left out stays unmeasured, not 0.
fn metrics(v: &Value) -> PostMetrics {
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    PostMetrics {
        views: n("view_count"),
        likes: n("like_count"),
        comments: n("comment_count"),
        shares: n("share_count"),
        ..PostMetrics::default()
    }
}

/// The account lacks a scope: nothing measured, but ids resolved before it showed are kept.
fn unavailable(posts: &[MetricsQuery], resolved: &[Target], why: &str) -> MetricsReport {
    let mut report = MetricsReport::unavailable(posts, why);
    for (answer, t) in report.answers.iter_mut().zip(resolved) {
        if let (MetricsAnswer::NotYet { metrics_id, .. }, Some(id)) = (answer, t.metrics_id()) {
            *metrics_id = Some(id.clone());
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_map_and_missing_ones_stay_unmeasured() {
        let v: Value = serde_json::from_str(
            r#"{"id":7678907398077074696,"view_count":340,"like_count":12,"comment_count":0}"#,
        )
        .expect("parses");
        let m = metrics(&v);
        assert_eq!(
            m,
            PostMetrics {
                views: Some(340),
                likes: Some(12),
                comments: Some(0),
                ..PostMetrics::default()
            }
        );
        assert_eq!(
            v.get("id").and_then(post_id::text).as_deref(),
            Some("7678907398077074696")
        );
    }
}
