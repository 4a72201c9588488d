//! Organization posts: `GET /rest/organizationalEntityShareStatistics?q=organizationalEntity`
//! with `shares=List(…)` or `ugcPosts=List(…)` (one call per URN kind: LinkedIn refuses a
//! ugcPost URN in `shares` with 403 "Unpermitted fields present in PARAMETER"). Without
//! `timeIntervals` the answer is lifetime organic totals, one element per post it has data
//! for; a post it has none for (not populated yet, older than 12 months) has no element.

use pressroom_connector::{
    ConnectorError, MetricsAnswer, MetricsCtx, MetricsQuery, MetricsReport, PostMetrics,
};
use reqwest::Method;
use serde_json::Value;

use super::{ORG_SCOPE, UrnKind, count, error_message, error_raw, restli, urn_kind};
use crate::client::{Client, ErrorAnswer, Failure};
use crate::errors::Phase;

/// `totalShareStatistics` fields and the metric each one is.
const FIELDS: [(&str, &str); 6] = [
    ("impressionCount", "views"),
    ("uniqueImpressionsCount", "reach"),
    ("clickCount", "clicks"),
    ("likeCount", "likes"),
    ("commentCount", "comments"),
    ("shareCount", "shares"),
];

/// LinkedIn keeps organic share statistics for a rolling 12 months; older posts are not asked.
const WINDOW: chrono::Duration = chrono::Duration::days(365);

/// The message of the 403 LinkedIn gives for a post it will not measure in this request (a
/// URN in the wrong parameter, or a post the organization does not own): about that post, not
/// the account's permission.
const UNPERMITTED: &str = "Unpermitted fields present in PARAMETER";

pub async fn fetch(
    client: &Client,
    ctx: &MetricsCtx,
    org: &str,
    posts: &[MetricsQuery],
) -> Result<MetricsReport, ConnectorError> {
    let mut answers: Vec<Option<MetricsAnswer>> = vec![None; posts.len()];
    let (mut shares, mut ugc_posts) = (Vec::new(), Vec::new());
    let oldest = chrono::Utc::now() - WINDOW;
    for (i, q) in posts.iter().enumerate() {
        let skip = if q.published_at < oldest {
            "LinkedIn keeps organization statistics for 12 months only"
        } else {
            match urn_kind(&q.remote_id) {
                Some(UrnKind::Share) => {
                    shares.push(i);
                    continue;
                }
                Some(UrnKind::UgcPost) => {
                    ugc_posts.push(i);
                    continue;
                }
                None => "not a urn:li:share or urn:li:ugcPost post id; LinkedIn cannot measure it",
            }
        };
        answers[i] = Some(q.not_yet(skip, Value::Null));
    }
    for (kind, indices) in [(UrnKind::Share, shares), (UrnKind::UgcPost, ugc_posts)] {
        for chunk in indices.chunks(super::BATCH) {
            match ask(client, ctx, org, kind, posts, chunk).await? {
                Asked::Answers(list) => {
                    for (i, a) in list {
                        answers[i] = Some(a);
                    }
                }
                Asked::Unavailable(why) => {
                    tracing::info!(org, linkedin = %why, "LinkedIn refused the organization's share statistics");
                    return Ok(MetricsReport::unavailable(posts, ORG_SCOPE));
                }
            }
        }
    }
    let answers = answers
        .into_iter()
        .zip(posts)
        .map(|(a, q)| a.unwrap_or_else(|| q.not_yet("not asked", Value::Null)))
        .collect();
    Ok(MetricsReport {
        answers,
        unknown_metrics: Vec::new(),
        unavailable: None,
    })
}

enum Asked {
    Answers(Vec<(usize, MetricsAnswer)>),
    /// The account may not read the statistics (LinkedIn's words).
    Unavailable(String),
}

/// One statistics call for `chunk` (indices into `posts`, all of one URN kind). A refusal
/// about one post (404, "Unpermitted fields") fails the whole call, so a batch so refused is
/// asked again post by post, and each post so refused gets its own answer.
async fn ask(
    client: &Client,
    ctx: &MetricsCtx,
    org: &str,
    kind: UrnKind,
    posts: &[MetricsQuery],
    chunk: &[usize],
) -> Result<Asked, ConnectorError> {
    let urns: Vec<&str> = chunk.iter().map(|&i| posts[i].remote_id.as_str()).collect();
    let refused = match request(client, ctx, org, kind, &urns).await? {
        Ok(body) => return Ok(Asked::Answers(read(&body, posts, chunk))),
        Err(answer) => refusal(client, &answer)?,
    };
    if let Refusal::Unavailable(why) = refused {
        return Ok(Asked::Unavailable(why));
    }
    let mut out = Vec::with_capacity(chunk.len());
    for &i in chunk {
        let q = &posts[i];
        let refused = match request(client, ctx, org, kind, &[q.remote_id.as_str()]).await? {
            Ok(body) => {
                out.extend(read(&body, posts, &[i]));
                continue;
            }
            Err(answer) => refusal(client, &answer)?,
        };
        let answer = match refused {
            Refusal::Unavailable(why) => return Ok(Asked::Unavailable(why)),
            Refusal::Gone => MetricsAnswer::Gone,
            Refusal::Post { message, raw } => {
                q.not_yet(format!("LinkedIn refused its statistics: {message}"), raw)
            }
        };
        tracing::debug!(post = %q.remote_id, ?answer, "LinkedIn refused the statistics of one post");
        out.push((i, answer));
    }
    Ok(Asked::Answers(out))
}

/// How a refused statistics call is read.
enum Refusal {
    /// 404: the post is gone.
    Gone,
    /// 403 "Unpermitted fields present in PARAMETER": LinkedIn will not measure this post here.
    Post { message: String, raw: Value },
    /// Any other 403: the token lacks `rw_organization_admin`, or the member is no
    /// ADMINISTRATOR of the organization. Not a reason to disconnect a publishing account.
    Unavailable(String),
}

/// A refusal about a post or about the permission; anything else (401, 429, 5xx, 426) goes
/// through the connector's error mapping and fails the call.
fn refusal(client: &Client, answer: &ErrorAnswer) -> Result<Refusal, ConnectorError> {
    let message = error_message(answer);
    match answer.status {
        reqwest::StatusCode::NOT_FOUND => Ok(Refusal::Gone),
        reqwest::StatusCode::FORBIDDEN if message.contains(UNPERMITTED) => Ok(Refusal::Post {
            message,
            raw: error_raw(answer),
        }),
        reqwest::StatusCode::FORBIDDEN => Ok(Refusal::Unavailable(message)),
        _ => Err(client.classify(answer, Phase::Safe)),
    }
}

/// The GET itself; a non-2xx answer comes back whole for `ask` to judge.
async fn request(
    client: &Client,
    ctx: &MetricsCtx,
    org: &str,
    kind: UrnKind,
    urns: &[&str],
) -> Result<Result<Value, ErrorAnswer>, ConnectorError> {
    let param = match kind {
        UrnKind::Share => "shares",
        UrnKind::UgcPost => "ugcPosts",
    };
    let list: Vec<String> = urns.iter().map(|u| restli(u)).collect();
    let path = format!(
        "/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity={}&{param}=List({})",
        restli(org),
        list.join(",")
    );
    let req = client.rest(Method::GET, &path, &ctx.credentials.access_token);
    match client.try_send(req, Phase::Safe).await {
        Ok(resp) => Ok(Ok(Client::json(resp, Phase::Safe).await?)),
        Err(Failure::Transport(e)) => Err(e),
        Err(Failure::Answer(a)) => Ok(Err(a)),
    }
}

/// Each asked post's element (lifetime: no `timeRange`), or "not yet" when it has none.
fn read(body: &Value, posts: &[MetricsQuery], chunk: &[usize]) -> Vec<(usize, MetricsAnswer)> {
    let elements = body
        .get("elements")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    chunk
        .iter()
        .map(|&i| {
            let q = &posts[i];
            let element = elements.iter().find(|e| {
                e.get("timeRange").is_none()
                    && ["share", "ugcPost"]
                        .iter()
                        .any(|k| e.get(k).and_then(Value::as_str) == Some(q.remote_id.as_str()))
            });
            let answer = match element {
                Some(e) => measured(q, e),
                None => q.not_yet(
                    "LinkedIn has no statistics for this post yet (none, or not populated)",
                    body.clone(),
                ),
            };
            (i, answer)
        })
        .collect()
}

fn measured(q: &MetricsQuery, element: &Value) -> MetricsAnswer {
    let stats = element.get("totalShareStatistics");
    let mut metrics = PostMetrics::default();
    for (field, ours) in FIELDS {
        if let (Some(n), Some(slot)) = (count(stats.and_then(|s| s.get(field))), metrics.slot(ours))
        {
            *slot = Some(n);
        }
    }
    if metrics.is_empty() {
        return q.not_yet(
            "LinkedIn's statistics for this post carry no counts",
            element.clone(),
        );
    }
    MetricsAnswer::Measured {
        metrics,
        raw: element.clone(),
        metrics_id: q.metrics_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(urn: &str) -> MetricsQuery {
        MetricsQuery {
            remote_id: urn.into(),
            metrics_id: None,
            format: pressroom_connector::PostFormat::Single,
            published_at: chrono::Utc::now(),
            checkpoint: None,
        }
    }

    #[test]
    fn elements_map_by_urn_and_absent_ones_are_not_zero() {
        let posts = [
            query("urn:li:share:1"),
            query("urn:li:share:2"),
            query("urn:li:ugcPost:3"),
        ];
        let body = json!({"paging":{"start":0,"count":10,"links":[]},"elements":[
            {"organizationalEntity":"urn:li:organization:9","share":"urn:li:share:2",
             "totalShareStatistics":{"impressionCount":1200,"uniqueImpressionsCount":800,"clickCount":30,
              "likeCount":25,"commentCount":4,"shareCount":2,"engagement":0.0508}},
            {"organizationalEntity":"urn:li:organization:9","ugcPost":"urn:li:ugcPost:3",
             "totalShareStatistics":{"impressionCount":0}}]});
        let got = read(&body, &posts, &[0, 1, 2]);
        assert!(matches!(got[0].1, MetricsAnswer::NotYet { .. }));
        let MetricsAnswer::Measured { metrics, .. } = &got[1].1 else {
            panic!("{:?}", got[1]);
        };
        assert_eq!(
            metrics,
            &PostMetrics {
                views: Some(1200),
                reach: Some(800),
                clicks: Some(30),
                likes: Some(25),
                comments: Some(4),
                shares: Some(2),
                saves: None,
            }
        );
        let MetricsAnswer::Measured { metrics, .. } = &got[2].1 else {
            panic!("{:?}", got[2]);
        };
        assert_eq!(metrics.views, Some(0));
        assert_eq!(metrics.likes, None);
    }
}
