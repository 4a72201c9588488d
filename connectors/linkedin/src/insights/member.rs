//! Member posts: `GET /rest/memberCreatorPostAnalytics?q=entity&entity=(share:…)&queryType=…
//! &aggregation=TOTAL`, one `queryType` per call, so one call per metric and post. A
//! `queryType` LinkedIn refuses as invalid (POST_SAVE is documented for 2026-03 only) is
//! skipped for the rest of the fetch and named in `unknown_metrics`. `metricType` comes as a
//! plain string from `LinkedIn-Version` 202605 and as a one-key object before: both are read.

use pressroom_connector::{
    ConnectorError, MetricsAnswer, MetricsCtx, MetricsQuery, MetricsReport, PostMetrics,
};
use reqwest::Method;
use serde_json::{Map, Value};

use super::{MEMBER_SCOPE, UrnKind, count, error_message, error_raw, restli, urn_kind};
use crate::client::{Client, Failure};
use crate::errors::Phase;

/// Each `queryType` and the metric it is, in the order asked.
pub const QUERY_TYPES: [(&str, &str); 6] = [
    ("IMPRESSION", "views"),
    ("MEMBERS_REACHED", "reach"),
    ("REACTION", "likes"),
    ("COMMENT", "comments"),
    ("RESHARE", "shares"),
    ("POST_SAVE", "saves"),
];

pub async fn fetch(
    client: &Client,
    ctx: &MetricsCtx,
    posts: &[MetricsQuery],
) -> Result<MetricsReport, ConnectorError> {
    let mut refused: Vec<String> = Vec::new();
    let mut answers = Vec::with_capacity(posts.len());
    for q in posts {
        match post(client, ctx, q, &mut refused).await? {
            Read::Answer(a) => answers.push(a),
            Read::Unavailable(why) => {
                tracing::info!(account = %ctx.account.id, linkedin = %why,
                    "LinkedIn refused the member's post analytics");
                return Ok(MetricsReport {
                    unknown_metrics: refused,
                    ..MetricsReport::unavailable(posts, MEMBER_SCOPE)
                });
            }
        }
    }
    Ok(MetricsReport {
        answers,
        unknown_metrics: refused,
        unavailable: None,
    })
}

enum Read {
    Answer(MetricsAnswer),
    Unavailable(String),
}

/// Every metric of one post not refused so far; `refused` collects the refused queryTypes.
async fn post(
    client: &Client,
    ctx: &MetricsCtx,
    q: &MetricsQuery,
    refused: &mut Vec<String>,
) -> Result<Read, ConnectorError> {
    let entity = match urn_kind(&q.remote_id) {
        Some(UrnKind::Share) => format!("(share:{})", restli(&q.remote_id)),
        Some(UrnKind::UgcPost) => format!("(ugc:{})", restli(&q.remote_id)),
        None => {
            return Ok(Read::Answer(q.not_yet(
                "not a urn:li:share or urn:li:ugcPost post id; LinkedIn cannot measure it",
                Value::Null,
            )));
        }
    };
    let mut metrics = PostMetrics::default();
    let mut raw = Map::new();
    for (query_type, ours) in QUERY_TYPES {
        if refused.iter().any(|r| r == query_type) {
            continue;
        }
        let path = format!(
            "/rest/memberCreatorPostAnalytics?q=entity&entity={entity}&queryType={query_type}&aggregation=TOTAL"
        );
        let req = client.rest(Method::GET, &path, &ctx.credentials.access_token);
        let answer = match client.try_send(req, Phase::Safe).await {
            Ok(resp) => {
                let body: Value = Client::json(resp, Phase::Safe).await?;
                if let (Some(n), Some(slot)) = (total(&body, query_type), metrics.slot(ours)) {
                    *slot = Some(n);
                }
                raw.insert(query_type.into(), body);
                continue;
            }
            Err(Failure::Transport(e)) => return Err(e),
            Err(Failure::Answer(a)) => a,
        };
        let message = error_message(&answer);
        match answer.status.as_u16() {
            404 => return Ok(Read::Answer(MetricsAnswer::Gone)),
            403 => return Ok(Read::Unavailable(message)),
            400 | 422 if names_query_type(&message, query_type) => {
                tracing::warn!(query_type, linkedin = %message,
                    "LinkedIn refused a member analytics queryType; skipping it");
                refused.push(query_type.into());
            }
            // About this post only (a malformed entity): the other posts are still read.
            400 | 422 => {
                return Ok(Read::Answer(q.not_yet(
                    format!("LinkedIn refused its analytics: {message}"),
                    error_raw(&answer),
                )));
            }
            _ => return Err(client.classify(&answer, Phase::Safe)),
        }
    }
    let raw = Value::Object(raw);
    if metrics.is_empty() {
        return Ok(Read::Answer(q.not_yet(
            "LinkedIn has no analytics for this post yet (empty elements)",
            raw,
        )));
    }
    Ok(Read::Answer(MetricsAnswer::Measured {
        metrics,
        raw,
        metrics_id: q.metrics_id.clone(),
    }))
}

/// The lifetime count of `query_type` in one answer; `None` for empty `elements`.
fn total(body: &Value, query_type: &str) -> Option<u64> {
    body.get("elements")?
        .as_array()?
        .iter()
        .find(|e| match e.get("metricType").map(metric_type) {
            Some(Some(t)) => t == query_type,
            // Another shape still: the count is the one asked for.
            Some(None) | None => true,
        })
        .and_then(|e| count(e.get("count")))
}

/// `"IMPRESSION"` (LinkedIn-Version 202605 on) or
/// `{"com.linkedin.adsexternalapi.memberanalytics.v1.CreatorPostAnalyticsMetricTypeV1":"IMPRESSION"}`.
pub fn metric_type(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(m) if m.len() == 1 => m.values().next().and_then(Value::as_str),
        _ => None,
    }
}

/// A 400/422 about the queryType: its message names the value or the parameter.
/// LinkedIn's wording is UNVERIFIED.
fn names_query_type(message: &str, query_type: &str) -> bool {
    message.contains(query_type) || message.contains("queryType")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_metric_type_shapes_are_read() {
        let new = json!({"elements":[{"count":1204,"metricType":"IMPRESSION",
            "targetEntity":{"share":"urn:li:share:987"}}]});
        let old = json!({"elements":[{"count":1204,"metricType":
            {"com.linkedin.adsexternalapi.memberanalytics.v1.CreatorPostAnalyticsMetricTypeV1":"IMPRESSION"},
            "targetEntity":{"share":"urn:li:share:987"}}]});
        assert_eq!(total(&new, "IMPRESSION"), Some(1204));
        assert_eq!(total(&old, "IMPRESSION"), Some(1204));
        // Another metric's element is not this one's count.
        assert_eq!(total(&new, "REACTION"), None);
        assert_eq!(total(&old, "REACTION"), None);
        assert_eq!(total(&json!({"elements":[]}), "IMPRESSION"), None);
        assert_eq!(
            total(
                &json!({"elements":[{"count":0,"metricType":"RESHARE"}]}),
                "RESHARE"
            ),
            Some(0)
        );
    }
}
