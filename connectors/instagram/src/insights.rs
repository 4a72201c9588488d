//! Fetch-back for Instagram media (PLATFORMS.md §9.2): `GET /{ig-media-id}/insights?metric=`
//! with the names valid for the media's product type, the #100 fallback shared with Facebook
//! (`connector_meta_graph::insights`). A carousel is asked on its parent (the remote id: the
//! children have no insights); a story only within its 24 h, never after. Code 10 "Not enough
//! viewers" is a "not yet", never a permission problem (§9.6); any other code 10 (and the
//! 200 family) on this call is the missing insights permission.

use std::collections::BTreeSet;

use chrono::Utc;
use connector_meta_graph::insights::{self, Insights, Refusal};
use pressroom_connector::{
    ConnectorError, MetricsAnswer, MetricsCtx, MetricsQuery, MetricsReport, PostMetrics,
};
use serde_json::Value;

use crate::InstagramConnector;
use crate::config::Login;

/// FEED media (an image or a carousel parent). `saved` is the media metric (the
/// account-level one is `saves`, §9.2).
const FEED: [&str; 6] = ["views", "reach", "likes", "comments", "saved", "shares"];
/// STORY media: no likes, comments or saves.
const STORY: [&str; 3] = ["views", "reach", "shares"];

/// How long Instagram keeps a story's insights.
const STORY_HOURS: i64 = 24;

/// Posts one `fetch_metrics` call takes; each is its own request.
pub(crate) const BATCH: usize = 10;

/// What a person must do when the token may not read insights, by login.
fn revoked(login: &Login) -> &'static str {
    match login {
        Login::Facebook => "reconnect Instagram and grant instagram_manage_insights",
        Login::Instagram => "reconnect Instagram and grant instagram_business_manage_insights",
    }
}

/// Graph's "(#10) Not enough viewers for the media to show insights": a story seen by too
/// few people (fewer than 5, OSS). Told apart from the permission's code 10 by its words.
fn too_few_viewers(r: &Refusal) -> bool {
    r.code() == Some(10)
        && r.message()
            .to_ascii_lowercase()
            .contains("not enough viewers")
}

/// The insights permission is missing: code 10 ("Application does not have permission for
/// this action") or the 200 family.
fn no_permission(r: &Refusal) -> bool {
    matches!(r.code(), Some(10 | 200..=299)) && !too_few_viewers(r)
}

pub(crate) async fn fetch(
    ig: &InstagramConnector,
    ctx: &MetricsCtx,
    posts: &[MetricsQuery],
) -> Result<MetricsReport, ConnectorError> {
    // Refused names per product type: a #100 may mean "not for this product type".
    let mut refused_feed = BTreeSet::new();
    let mut refused_story = BTreeSet::new();
    let mut answers = Vec::with_capacity(posts.len());
    for query in posts {
        let story = query.is_story();
        if story && Utc::now() - query.published_at > chrono::Duration::hours(STORY_HOURS) {
            answers.push(MetricsAnswer::NotYet {
                reason: "Instagram keeps a story's insights for 24 hours only".into(),
                raw: Value::Null,
                metrics_id: None,
            });
            continue;
        }
        let (names, refused): (&[&str], _) = if story {
            (&STORY, &mut refused_story)
        } else {
            (&FEED, &mut refused_feed)
        };
        let media = query.metrics_id.as_deref().unwrap_or(&query.remote_id);
        let path = format!("{media}/insights");
        let got = insights::fetch(names, refused, |metric| {
            let req = ig
                .client
                .graph
                .get(&path, &ctx.credentials.access_token)
                .query(&[("metric", metric)]);
            ig.client.read(req)
        })
        .await;
        let answer = match got {
            Ok(got) => answer(media, got),
            Err(r) if r.is_gone() => {
                tracing::info!(media, "instagram media no longer exists");
                MetricsAnswer::Gone
            }
            Err(r) if too_few_viewers(&r) => MetricsAnswer::NotYet {
                reason: "too few viewers for Instagram to show insights".into(),
                raw: serde_json::json!({ "error": r.graph }),
                metrics_id: None,
            },
            Err(r) if no_permission(&r) => {
                tracing::info!(
                    media,
                    refusal = r.message(),
                    "instagram insights not permitted"
                );
                let mut report = MetricsReport::unavailable(posts, revoked(&ig.cfg.login));
                report.unknown_metrics = refused_feed.union(&refused_story).cloned().collect();
                return Ok(report);
            }
            Err(r) => return Err(r.error),
        };
        answers.push(answer);
    }
    Ok(MetricsReport {
        answers,
        unknown_metrics: refused_feed.union(&refused_story).cloned().collect(),
        unavailable: None,
    })
}

fn answer(media: &str, got: Insights) -> MetricsAnswer {
    if !got.unknown.is_empty() {
        tracing::warn!(media, unknown = ?got.unknown, "Meta refused insights metric names");
    }
    if got.is_empty() {
        let reason = if got.all_refused() {
            "Meta refused every insights metric we ask for as unknown"
        } else {
            "Instagram has no insights for this media yet (up to 48 h)"
        };
        return MetricsAnswer::NotYet {
            reason: reason.into(),
            raw: got.raw,
            metrics_id: None,
        };
    }
    MetricsAnswer::Measured {
        metrics: metrics(&got),
        raw: got.raw,
        metrics_id: None,
    }
}

/// Instagram's names onto ours; no clicks, and what Meta did not answer stays `None`.
pub(crate) fn metrics(got: &Insights) -> PostMetrics {
    PostMetrics {
        views: got.count("views"),
        reach: got.count("reach"),
        likes: got.count("likes"),
        comments: got.count("comments"),
        shares: got.count("shares"),
        saves: got.count("saved"),
        clicks: None,
    }
}

#[cfg(test)]
mod tests {
    use connector_meta_graph::GraphError;
    use serde_json::json;

    use super::*;

    fn refusal(code: i64, message: &str) -> Refusal {
        Refusal {
            graph: Some(GraphError {
                message: message.into(),
                code,
                ..GraphError::default()
            }),
            error: ConnectorError::Disconnected(message.into()),
        }
    }

    #[test]
    fn code_10_is_either_too_few_viewers_or_the_permission() {
        let few = refusal(
            10,
            "(#10) Not enough viewers for the media to show insights",
        );
        assert!(too_few_viewers(&few) && !no_permission(&few));
        let perm = refusal(
            10,
            "(#10) Application does not have permission for this action",
        );
        assert!(no_permission(&perm) && !too_few_viewers(&perm));
        assert!(no_permission(&refusal(200, "(#200) Requires permission")));
        assert!(!no_permission(&refusal(190, "expired")));
    }

    #[test]
    fn maps_saved_to_saves_and_has_no_clicks() {
        let raw = json!({"data": [
            {"name": "views", "values": [{"value": 532}]},
            {"name": "saved", "values": [{"value": 3}]},
        ]});
        let got = Insights {
            values: insights::values(&raw),
            ..Insights::default()
        };
        assert_eq!(
            metrics(&got),
            PostMetrics {
                views: Some(532),
                saves: Some(3),
                ..PostMetrics::default()
            }
        );
    }
}
