//! Per-post Story stats read back (PLATFORMS.md §9.5):
//! `GET /v1/public_profiles/{profile_id}/{stories|saved_stories}/{id}/stats`
//! `?assetType=…&fields=VIEWS,VIEWERS,SHARES&granularity=LIFETIME` (lifetime: no times).
//!
//! UNVERIFIED: Snap documents only the profile-level `/stats` (all assets of a type); the
//! per-asset path and the timeseries shape come from OSS clients, so the answer is read
//! leniently. A field Snap refuses for the asset type (a validation exception) is dropped,
//! named in `unknown_metrics`, and the rest asked again. A Story's numbers live 24 h, like the
//! Story: past that it is not asked about at all.

use chrono::{Duration, Utc};
use pressroom_connector::{
    ConnectorError, MetricsAnswer, MetricsCtx, MetricsQuery, MetricsReport, PostFormat, PostMetrics,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::client::Client;
use crate::config::PostAs;
use crate::errors::{self, Phase, SnapError};
use crate::publish::Checkpoint;

/// Posts per call: each is its own request, paced per token (about 8 a second).
pub const BATCH: usize = 10;
/// Snap's field names and ours.
const FIELDS: [(&str, &str); 3] = [
    ("VIEWS", "views"),
    ("VIEWERS", "reach"),
    ("SHARES", "shares"),
];
const REAUTH: &str = "reconnect Snapchat (Public Profile authorization)";
const STORY_KEPT: &str = "a story's numbers are kept 24 h";

/// Which of the profile's assets a post is, as `publish.rs` made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asset {
    Story,
    SavedStory,
}

impl Asset {
    fn collection(self) -> &'static str {
        match self {
            Asset::Story => "stories",
            Asset::SavedStory => "saved_stories",
        }
    }

    fn asset_type(self) -> &'static str {
        match self {
            Asset::Story => "STORY",
            Asset::SavedStory => "SAVED_STORY",
        }
    }
}

/// What one stats request came back with.
enum Reply {
    Stats(Value),
    /// A validation exception (or other refusal of the request): Snap's words.
    Refused(SnapError),
    Unauthorized,
    Gone,
}

/// What one post came to.
enum Outcome {
    Answer(MetricsAnswer),
    Unauthorized,
}

/// The state of one `fetch_metrics` call: fields Snap refused are not asked again.
struct Run<'a> {
    client: &'a Client,
    ctx: &'a MetricsCtx,
    refused: Vec<(Asset, &'static str)>,
    unknown: Vec<String>,
}

pub async fn fetch(
    client: &Client,
    ctx: &MetricsCtx,
    posts: &[MetricsQuery],
) -> Result<MetricsReport, ConnectorError> {
    let mut run = Run {
        client,
        ctx,
        refused: Vec::new(),
        unknown: Vec::new(),
    };
    let mut answers = Vec::with_capacity(posts.len());
    for q in posts {
        match run.one(q).await? {
            Outcome::Answer(a) => answers.push(a),
            Outcome::Unauthorized => {
                let mut report = MetricsReport::unavailable(posts, REAUTH);
                report.unknown_metrics = run.unknown;
                return Ok(report);
            }
        }
    }
    Ok(MetricsReport {
        answers,
        unknown_metrics: run.unknown,
        unavailable: None,
    })
}

fn not_yet(reason: impl Into<String>, raw: Value) -> Outcome {
    Outcome::Answer(MetricsAnswer::NotYet {
        reason: reason.into(),
        raw,
        metrics_id: None,
    })
}

impl Run<'_> {
    async fn one(&mut self, q: &MetricsQuery) -> Result<Outcome, ConnectorError> {
        let cp = q
            .checkpoint
            .as_ref()
            .and_then(|v| serde_json::from_value::<Checkpoint>(v.clone()).ok());
        let post_as = match (&cp, q.format) {
            (Some(cp), _) => cp.post_as,
            (None, PostFormat::Story) => PostAs::Story,
            (None, _) => self.client.cfg.post_as,
        };
        let asset = match post_as {
            PostAs::Story => Asset::Story,
            PostAs::SavedStory => Asset::SavedStory,
        };
        if asset == Asset::Story && Utc::now() - q.published_at > Duration::hours(24) {
            return Ok(not_yet(STORY_KEPT, Value::Null));
        }
        if cp.as_ref().is_some_and(|cp| cp.media_id == q.remote_id) {
            return Ok(not_yet(
                "Snapchat answered no story id when this was posted; its stats cannot be asked for",
                Value::Null,
            ));
        }
        let profile = cp
            .map(|cp| cp.profile_id)
            .unwrap_or_else(|| self.ctx.account.external_id.clone());
        // Ids come from Snap's answers and our checkpoint: encoded, so none can change the path.
        let segment =
            |id: &str| url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>();
        let path = format!(
            "/v1/public_profiles/{}/{}/{}/stats",
            segment(&profile),
            asset.collection(),
            segment(&q.remote_id)
        );
        let mut fields: Vec<&'static str> = FIELDS
            .iter()
            .map(|(f, _)| *f)
            .filter(|f| !self.refused.contains(&(asset, *f)))
            .collect();
        while !fields.is_empty() {
            let err = match self.stats(&path, asset, &fields).await? {
                Reply::Stats(v) => return Ok(measured(v)),
                Reply::Unauthorized => return Ok(Outcome::Unauthorized),
                Reply::Gone => return Ok(Outcome::Answer(MetricsAnswer::Gone)),
                Reply::Refused(err) => err,
            };
            let named: Vec<&'static str> =
                fields.iter().copied().filter(|f| names(&err, f)).collect();
            if named.is_empty() {
                return Ok(not_yet(
                    format!(
                        "Snapchat refused the stats request: {}",
                        err.reason(StatusCode::OK)
                    ),
                    Value::Null,
                ));
            }
            if named.len() == fields.len() && fields.len() > 1 {
                // Every field is named (a list of the valid ones?): one field a call.
                return self.one_by_one(&path, asset, &fields).await;
            }
            for f in named {
                self.refuse(asset, f, &err);
            }
            fields.retain(|f| !self.refused.contains(&(asset, *f)));
        }
        Ok(not_yet(
            format!(
                "Snapchat refuses every metric we read for a {}",
                asset.asset_type()
            ),
            Value::Null,
        ))
    }

    /// Asks for each field alone; the ones refused alone are unknown for this asset type.
    async fn one_by_one(
        &mut self,
        path: &str,
        asset: Asset,
        fields: &[&'static str],
    ) -> Result<Outcome, ConnectorError> {
        let mut answers = Vec::new();
        for f in fields {
            match self.stats(path, asset, &[*f]).await? {
                Reply::Stats(v) => answers.push(v),
                Reply::Unauthorized => return Ok(Outcome::Unauthorized),
                Reply::Gone => return Ok(Outcome::Answer(MetricsAnswer::Gone)),
                Reply::Refused(err) => self.refuse(asset, f, &err),
            }
        }
        if answers.is_empty() {
            return Ok(not_yet(
                format!(
                    "Snapchat refuses every metric we read for a {}",
                    asset.asset_type()
                ),
                Value::Null,
            ));
        }
        Ok(measured(Value::Array(answers)))
    }

    fn refuse(&mut self, asset: Asset, field: &'static str, err: &SnapError) {
        tracing::warn!(
            field,
            asset_type = asset.asset_type(),
            reason = %err.reason(StatusCode::OK),
            "Snapchat refused a stats field; asking without it"
        );
        self.refused.push((asset, field));
        if !self.unknown.iter().any(|u| u == field) {
            self.unknown.push(field.to_owned());
        }
    }

    async fn stats(
        &self,
        path: &str,
        asset: Asset,
        fields: &[&str],
    ) -> Result<Reply, ConnectorError> {
        let req = self
            .client
            .request(Method::GET, path, &self.ctx.credentials.access_token)
            .query(&[
                ("assetType", asset.asset_type()),
                ("fields", fields.join(",").as_str()),
                ("granularity", "LIFETIME"),
            ]);
        let answer = self.client.send_raw(req, Phase::Safe).await?;
        let env: SnapError = serde_json::from_slice(&answer.body).unwrap_or_default();
        let refused = env.request_status.as_deref() == Some("ERROR");
        Ok(match answer.status.as_u16() {
            200..=299 if !refused => {
                Reply::Stats(serde_json::from_slice(&answer.body).map_err(|e| {
                    ConnectorError::transient(format!("Snapchat stats unreadable: {e}"))
                })?)
            }
            200..=299 | 400 | 422 => Reply::Refused(env),
            // The creator has not authorized Story metrics for this app (public tier).
            403 => Reply::Unauthorized,
            404 => Reply::Gone,
            _ => {
                return Err(errors::classify(
                    answer.status,
                    answer.retry_after,
                    &answer.body,
                    Phase::Safe,
                ));
            }
        })
    }
}

/// True when Snap's message names `field` as a word (not inside `STORY_VIEWS`).
fn names(err: &SnapError, field: &str) -> bool {
    [&err.debug_message, &err.display_message]
        .into_iter()
        .flatten()
        .any(|m| {
            m.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|w| w == field)
        })
}

fn measured(raw: Value) -> Outcome {
    let metrics = parse(&raw);
    if metrics.is_empty() {
        return not_yet("Snapchat has no numbers for this asset yet", raw);
    }
    Outcome::Answer(MetricsAnswer::Measured {
        metrics,
        raw,
        metrics_id: None,
    })
}

/// Reads `assets[].timeseries[].fields[]` (`field.field_name`, `stats[].value` of the
/// DEFAULT breakdown), summing over buckets; several answers (one field each) are merged.
fn parse(raw: &Value) -> PostMetrics {
    let mut m = PostMetrics::default();
    let answers: Vec<&Value> = match raw {
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    let list = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for answer in answers {
        for asset in list(answer, "assets") {
            for bucket in list(&asset, "timeseries") {
                for field in list(&bucket, "fields") {
                    let name = field
                        .pointer("/field/field_name")
                        .or_else(|| field.get("field_name"))
                        .or_else(|| field.get("field"))
                        .and_then(Value::as_str);
                    let ours = FIELDS
                        .iter()
                        .find(|(f, _)| Some(*f) == name)
                        .map(|(_, o)| *o);
                    let (Some(ours), Some(value)) = (ours, count(&field)) else {
                        continue;
                    };
                    if let Some(slot) = m.slot(ours) {
                        *slot = Some(slot.unwrap_or(0).saturating_add(value));
                    }
                }
            }
        }
    }
    m
}

/// The DEFAULT breakdown's value (or the only one), as a count.
fn count(field: &Value) -> Option<u64> {
    let stats = field.get("stats").and_then(Value::as_array)?;
    let stat = stats
        .iter()
        .find(|s| {
            s.get("dimension_breakdown")
                .and_then(Value::as_str)
                .is_none_or(|d| d == "DEFAULT")
        })
        .or(stats.first())?;
    let v = stat.get("value")?;
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_timeseries_shape_maps_to_our_names() {
        let raw = json!({"request_status":"SUCCESS","assets":[{"timeseries":[{
            "start_time":"2026-09-01T00:00:00.000Z","end_time":"2026-09-02T00:00:00.000Z",
            "fields":[
                {"field":{"field_name":"VIEWS"},"stats":[{"dimension_breakdown":"DEFAULT","value":123}]},
                {"field":{"field_name":"VIEWERS"},"stats":[{"value":80.0}]},
                {"field":{"field_name":"AVG_VIEW_TIME_MILLIS"},"stats":[{"value":900}]}]}]}]});
        assert_eq!(
            parse(&raw),
            PostMetrics {
                views: Some(123),
                reach: Some(80),
                ..PostMetrics::default()
            }
        );
        assert!(parse(&json!({"request_status":"SUCCESS","assets":[]})).is_empty());
    }

    #[test]
    fn a_field_is_named_only_as_a_whole_word() {
        let err = SnapError {
            debug_message: Some("Invalid fields for asset type STORY: STORY_VIEWS".into()),
            ..SnapError::default()
        };
        assert!(!names(&err, "VIEWS"));
        assert!(names(&err, "STORY_VIEWS"));
    }
}
