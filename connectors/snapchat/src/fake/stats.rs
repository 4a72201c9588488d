//! `GET /v1/public_profiles/{profile_id}/{stories|saved_stories|spotlights}/{id}/stats`
//! (PLATFORMS.md §9.5, §9.7; the per-asset path is OSS-only, UNVERIFIED). Checks, in Snap's
//! `request_status: "ERROR"` envelope (400): `assetType` (if given) must be the path's kind;
//! `granularity` DAY | TOTAL | LIFETIME (default LIFETIME); `startTime`/`endTime` required
//! unless LIFETIME and, when given, UTC midnights (`yyyy-mm-ddT00:00:00`) within the past 90
//! days, end after start; every field must be valid for the asset type (the lists are the
//! fake's own, from OSS names), else a validation exception naming the bad ones. A profile
//! that has not authorized Story metrics (public tier, `revoke_insights`) gets 403 for stories
//! and saved stories and only Spotlight fields for spotlights. Stories vanish after 24 h (404).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::routes::{authorize, ok, snap_error};
use super::{FakeStory, Shared, State};

type Q = Query<HashMap<String, String>>;

/// Fields each asset type takes (the fake's lists; Snap publishes none per type).
pub(super) fn valid_fields(asset_type: &str) -> &'static [&'static str] {
    match asset_type {
        "STORY" => &[
            "VIEWS",
            "VIEWERS",
            "SHARES",
            "SCREENSHOTS",
            "STORY_VIEWS",
            "AVG_VIEW_TIME_MILLIS",
            "INTERACTIONS",
        ],
        "SAVED_STORY" => &[
            "VIEWS",
            "VIEWERS",
            "SHARES",
            "STORY_VIEWS",
            "STORY_FAVORITES",
            "AVG_VIEW_TIME_MILLIS",
            "INTERACTIONS",
        ],
        "SPOTLIGHT" => &["SPOTLIGHT_VIEWS", "VIEWS", "SHARES"],
        _ => &[],
    }
}

/// What the public tier (no Story authorization) still shows of a Spotlight.
const PUBLIC_SPOTLIGHT: [&str; 2] = ["SPOTLIGHT_VIEWS", "SHARES"];

pub async fn story(
    AxState(sh): AxState<Arc<Shared>>,
    p: Path<(String, String)>,
    q: Q,
    h: HeaderMap,
) -> Response {
    stats(&sh, "STORY", p, q, &h)
}

pub async fn saved_story(
    AxState(sh): AxState<Arc<Shared>>,
    p: Path<(String, String)>,
    q: Q,
    h: HeaderMap,
) -> Response {
    stats(&sh, "SAVED_STORY", p, q, &h)
}

pub async fn spotlight(
    AxState(sh): AxState<Arc<Shared>>,
    p: Path<(String, String)>,
    q: Q,
    h: HeaderMap,
) -> Response {
    stats(&sh, "SPOTLIGHT", p, q, &h)
}

fn invalid(st: &mut State, debug: &str) -> Response {
    snap_error(st, 400, "E2050", debug, "Validation exception")
}

fn stats(
    sh: &Shared,
    kind: &str,
    Path((profile, id)): Path<(String, String)>,
    Query(q): Q,
    headers: &HeaderMap,
) -> Response {
    let mut st = sh.state();
    if let Err(r) = authorize(&mut st, headers, Some(&profile)) {
        return *r;
    }
    let public_tier = st.insights_revoked.contains(&profile);
    if public_tier && kind != "SPOTLIGHT" {
        return snap_error(
            &mut st,
            403,
            "E3005",
            "Story metrics need the creator's Public Profile authorization for this app",
            "Forbidden",
        );
    }
    if let Some(t) = q.get("assetType")
        && t != kind
    {
        let msg = format!("assetType {t} does not match the asset ({kind})");
        return invalid(&mut st, &msg);
    }
    let granularity = q.get("granularity").map_or("LIFETIME", String::as_str);
    if !matches!(granularity, "DAY" | "TOTAL" | "LIFETIME") {
        return invalid(&mut st, "granularity must be DAY, TOTAL or LIFETIME");
    }
    let now = st.now();
    let range = match times(&q, granularity, now) {
        Ok(r) => r,
        Err(msg) => return invalid(&mut st, &msg),
    };
    let fields: Vec<String> = q
        .get("fields")
        .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    if fields.is_empty() {
        return invalid(&mut st, "fields is required");
    }
    let bad: Vec<&str> = fields
        .iter()
        .map(String::as_str)
        .filter(|f| {
            !valid_fields(kind).contains(f)
                || (public_tier && !PUBLIC_SPOTLIGHT.contains(f))
                || st.stats_refused.iter().any(|(k, r)| k == kind && r == f)
        })
        .collect();
    if !bad.is_empty() {
        let msg = format!("Invalid field(s) for assetType {kind}: {}", bad.join(", "));
        return invalid(&mut st, &msg);
    }
    let story_kind = match kind {
        "STORY" => "story",
        "SAVED_STORY" => "saved_story",
        _ => "spotlight",
    };
    let found = st
        .stories
        .iter()
        .find(|s| s.id == id && s.profile_id == profile && s.kind == story_kind)
        .filter(|s| s.kind != "story" || now - s.created_at < Duration::hours(24))
        .cloned();
    let Some(asset) = found else {
        return snap_error(&mut st, 404, "E2060", "Unknown asset", "Not Found");
    };
    let buckets = buckets(granularity, range, &asset, now);
    let timeseries: Vec<Value> = buckets
        .into_iter()
        .map(|(start, end, holds)| {
            let fields: Vec<Value> = fields
                .iter()
                .map(|f| {
                    let value = if holds { asset.stats.get(f).copied().unwrap_or(0) } else { 0 };
                    json!({ "field": { "field_name": f },
                        "stats": [{ "dimension_breakdown": "DEFAULT", "value": value }] })
                })
                .collect();
            json!({ "start_time": start.to_rfc3339(), "end_time": end.to_rfc3339(), "fields": fields })
        })
        .collect();
    ok(
        &mut st,
        json!({ "assets": [{ "id": asset.id, "asset_type": kind, "timeseries": timeseries }] }),
    )
}

type Range = Option<(DateTime<Utc>, DateTime<Utc>)>;

/// `startTime`/`endTime`: required unless LIFETIME; UTC midnights within the past 90 days.
fn times(
    q: &HashMap<String, String>,
    granularity: &str,
    now: DateTime<Utc>,
) -> Result<Range, String> {
    let (start, end) = match (q.get("startTime"), q.get("endTime")) {
        (None, None) if granularity == "LIFETIME" => return Ok(None),
        (Some(s), Some(e)) => (midnight(s)?, midnight(e)?),
        _ => {
            return Err("startTime and endTime are required unless granularity is LIFETIME".into());
        }
    };
    if end <= start {
        return Err("endTime must be after startTime".into());
    }
    if start < now - Duration::days(90) {
        return Err("startTime must be within the past 90 days".into());
    }
    Ok(Some((start, end)))
}

fn midnight(s: &str) -> Result<DateTime<Utc>, String> {
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .map_err(|_| format!("{s} is not yyyy-mm-ddT00:00:00"))?;
    if t.time() != chrono::NaiveTime::MIN {
        return Err(format!("{s} is not aligned to midnight UTC"));
    }
    Ok(t.and_utc())
}

/// The answer's buckets: (start, end, whether the asset's numbers fall in it). Everything is
/// counted on the asset's first day.
fn buckets(
    granularity: &str,
    range: Range,
    asset: &FakeStory,
    now: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>, bool)> {
    let Some((start, end)) = range else {
        return vec![(asset.created_at, now, true)];
    };
    let within = |a: DateTime<Utc>, b: DateTime<Utc>| asset.created_at >= a && asset.created_at < b;
    if granularity != "DAY" {
        return vec![(start, end, within(start, end))];
    }
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let next = at + Duration::days(1);
        out.push((at, next, within(at, next)));
        at = next;
    }
    out
}
