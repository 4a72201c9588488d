//! Fetch-back for Page posts (PLATFORMS.md §9.1): `GET /{page-id}_{post-id}/insights?metric=`
//! with the Page token, one request per post, the #100 fallback shared with Instagram
//! (`connector_meta_graph::insights`). Meta answers an empty `data` both before it has numbers
//! and when the token lacks `read_insights`, so an empty answer is followed by one
//! `GET /me/permissions` with the long-lived user token to tell the two apart.

use std::collections::BTreeSet;

use connector_meta_graph::insights::{self, Insights, Refusal};
use pressroom_connector::{
    ConnectorError, MetricsAnswer, MetricsCtx, MetricsQuery, MetricsReport, PostMetrics,
};
use secrecy::SecretString;
use serde_json::Value;

use crate::client::GraphClient;

/// What we ask for, each a 2026 name (the impressions family is gone, §9.1).
const METRICS: [&str; 5] = [
    POST_MEDIA_VIEW,
    POST_TOTAL_MEDIA_VIEW_UNIQUE,
    POST_CLICKS,
    POST_REACTIONS_BY_TYPE_TOTAL,
    POST_ACTIVITY_BY_ACTION_TYPE,
];
const POST_MEDIA_VIEW: &str = "post_media_view";
const POST_TOTAL_MEDIA_VIEW_UNIQUE: &str = "post_total_media_view_unique";
const POST_CLICKS: &str = "post_clicks";
/// An object of reaction counts (`{"like":9,"love":2}`); their sum is our `likes`.
const POST_REACTIONS_BY_TYPE_TOTAL: &str = "post_reactions_by_type_total";
/// An object with `comment`, `share` (and `like`) counts.
const POST_ACTIVITY_BY_ACTION_TYPE: &str = "post_activity_by_action_type";

/// What a person must do when the token may not read insights.
pub(crate) const REVOKED: &str = "reconnect the Facebook Page and grant read_insights";

/// Posts one `fetch_metrics` call takes; each is its own request.
pub(crate) const BATCH: usize = 10;

/// One post's outcome before the permission check an empty answer calls for.
enum Read {
    Answer(MetricsAnswer),
    /// Meta answered no metric: too early, or no `read_insights`.
    Empty {
        raw: Value,
        metrics_id: Option<String>,
    },
}

fn page_id(ctx: &MetricsCtx) -> &str {
    ctx.credentials
        .extra
        .get("page_id")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .unwrap_or(&ctx.account.external_id)
}

pub(crate) async fn fetch(
    client: &GraphClient,
    ctx: &MetricsCtx,
    posts: &[MetricsQuery],
) -> Result<MetricsReport, ConnectorError> {
    let page = page_id(ctx);
    client.check_throttle(page)?;
    let mut refused = BTreeSet::new();
    let mut granted: Option<bool> = None;
    let mut answers = Vec::with_capacity(posts.len());
    for query in posts {
        let answer = match read(client, ctx, page, query, &mut refused).await? {
            Read::Answer(a) => a,
            Read::Empty { raw, metrics_id } => {
                let ok = match granted {
                    Some(ok) => ok,
                    None => *granted.insert(read_insights_granted(client, ctx).await?),
                };
                if !ok {
                    tracing::info!(page, "facebook token lacks read_insights");
                    let mut report = MetricsReport::unavailable(posts, REVOKED);
                    report.unknown_metrics = refused.into_iter().collect();
                    return Ok(report);
                }
                MetricsAnswer::NotYet {
                    reason:
                        "Meta has no insights for this post yet (they refresh about once a day)"
                            .into(),
                    raw,
                    metrics_id,
                }
            }
        };
        answers.push(answer);
    }
    Ok(MetricsReport {
        answers,
        unknown_metrics: refused.into_iter().collect(),
        unavailable: None,
    })
}

async fn read(
    client: &GraphClient,
    ctx: &MetricsCtx,
    page: &str,
    query: &MetricsQuery,
    refused: &mut BTreeSet<String>,
) -> Result<Read, ConnectorError> {
    // A Page story (`/photo_stories`) is no feed post: Graph documents no per-post insights
    // for it (§9.1 lists feed posts only), so it is never asked.
    if query.is_story() {
        return Ok(Read::Answer(MetricsAnswer::NotYet {
            reason: "Facebook Page stories have no per-post insights".into(),
            raw: Value::Null,
            metrics_id: None,
        }));
    }
    let token = &ctx.credentials.access_token;
    // Insights live on the feed post (`{page-id}_{post-id}`), not on the photo: a photo id
    // (a `/photos` answer without `post_id`) is resolved to its post once.
    let (post, resolved) = match query.metrics_id.as_deref() {
        Some(id) => (id.to_owned(), None),
        None if query.remote_id.contains('_') => (query.remote_id.clone(), None),
        None => match feed_post_of_photo(client, token, page, &query.remote_id).await {
            Ok(Some(id)) => (id.clone(), Some(id)),
            Ok(None) => {
                return Ok(Read::Answer(MetricsAnswer::NotYet {
                    reason: "the photo has no feed post to measure".into(),
                    raw: Value::Null,
                    metrics_id: None,
                }));
            }
            Err(r) if r.is_gone() => return Ok(Read::Answer(MetricsAnswer::Gone)),
            Err(r) => return Err(r.error),
        },
    };
    let path = format!("{post}/insights");
    let got = insights::fetch(&METRICS, refused, |metric| {
        let req = client.graph.get(&path, token).query(&[("metric", metric)]);
        client.read(page, req)
    })
    .await;
    let got = match got {
        Ok(got) => got,
        Err(r) if r.is_gone() => {
            tracing::info!(post, "facebook post no longer exists");
            return Ok(Read::Answer(MetricsAnswer::Gone));
        }
        Err(r) => return Err(r.error),
    };
    if !got.unknown.is_empty() {
        tracing::warn!(post, unknown = ?got.unknown, "Meta refused insights metric names");
    }
    if got.is_empty() {
        if got.all_refused() {
            return Ok(Read::Answer(MetricsAnswer::NotYet {
                reason: "Meta refused every insights metric we ask for as unknown".into(),
                raw: got.raw,
                metrics_id: resolved,
            }));
        }
        return Ok(Read::Empty {
            raw: got.raw,
            metrics_id: resolved,
        });
    }
    Ok(Read::Answer(MetricsAnswer::Measured {
        metrics: metrics(&got),
        raw: got.raw,
        metrics_id: resolved,
    }))
}

/// Meta's names onto ours; a metric Meta did not answer stays `None`.
pub(crate) fn metrics(got: &Insights) -> PostMetrics {
    PostMetrics {
        views: got.count(POST_MEDIA_VIEW),
        reach: got.count(POST_TOTAL_MEDIA_VIEW_UNIQUE),
        likes: got.count(POST_REACTIONS_BY_TYPE_TOTAL),
        comments: got.part(POST_ACTIVITY_BY_ACTION_TYPE, "comment"),
        shares: got.part(POST_ACTIVITY_BY_ACTION_TYPE, "share"),
        saves: None,
        clicks: got.count(POST_CLICKS),
    }
}

/// `GET /{photo-id}?fields=page_story_id`: the feed post a published photo made.
async fn feed_post_of_photo(
    client: &GraphClient,
    token: &SecretString,
    page: &str,
    photo: &str,
) -> Result<Option<String>, Refusal> {
    let req = client
        .graph
        .get(photo, token)
        .query(&[("fields", "id,page_story_id")]);
    let v = client.read(page, req).await?;
    Ok(v.get("page_story_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned))
}

/// Whether the long-lived user token (the credentials' `refresh_token`) holds `read_insights`
/// granted (`GET /me/permissions`). Without a user token nobody can tell: assumed granted, so
/// an empty answer reads as "not yet" rather than a reconnect nobody can check.
async fn read_insights_granted(
    client: &GraphClient,
    ctx: &MetricsCtx,
) -> Result<bool, ConnectorError> {
    let Some(user) = ctx.credentials.refresh_token.as_ref() else {
        tracing::debug!("no user token stored; cannot check read_insights");
        return Ok(true);
    };
    let req = client.graph.get("me/permissions", user);
    let v = match client.call("me", req, false).await {
        Ok(v) => v,
        Err(ConnectorError::AuthExpired) => {
            return Err(ConnectorError::Disconnected(
                "the Facebook user token expired or was revoked; reconnect".into(),
            ));
        }
        Err(e) => return Err(e),
    };
    Ok(granted(&v, "read_insights"))
}

/// Whether `/me/permissions` lists `permission` with status `granted`.
pub(crate) fn granted(answer: &Value, permission: &str) -> bool {
    answer
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|p| {
            p.get("permission").and_then(Value::as_str) == Some(permission)
                && p.get("status").and_then(Value::as_str) == Some("granted")
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn maps_metas_names_onto_ours() {
        let raw = json!({"data": [
            {"name": "post_media_view", "values": [{"value": 1204}]},
            {"name": "post_total_media_view_unique", "values": [{"value": 800}]},
            {"name": "post_clicks", "values": [{"value": 30}]},
            {"name": "post_reactions_by_type_total", "values": [{"value": {"like": 20, "love": 5}}]},
            {"name": "post_activity_by_action_type", "values": [{"value": {"comment": 4, "like": 25}}]},
        ]});
        let got = Insights {
            values: insights::values(&raw),
            ..Insights::default()
        };
        assert_eq!(
            metrics(&got),
            PostMetrics {
                views: Some(1204),
                reach: Some(800),
                likes: Some(25),
                comments: Some(4),
                shares: Some(0),
                saves: None,
                clicks: Some(30),
            }
        );
        let partial = Insights {
            values: insights::values(&json!({"data": [
                {"name": "post_media_view", "values": [{"value": 7}]}]})),
            ..Insights::default()
        };
        assert_eq!(
            metrics(&partial),
            PostMetrics {
                views: Some(7),
                ..PostMetrics::default()
            },
            "what Meta did not answer is unmeasured, not zero"
        );
    }

    #[test]
    fn reads_permissions() {
        let v = json!({"data": [
            {"permission": "pages_show_list", "status": "granted"},
            {"permission": "read_insights", "status": "declined"},
        ]});
        assert!(!granted(&v, "read_insights"));
        assert!(granted(&v, "pages_show_list"));
        assert!(!granted(&json!({}), "read_insights"));
    }
}
