//! Post statistics as LinkedIn serves them (PLATFORMS.md §9.3, §9.7):
//! `GET /rest/organizationalEntityShareStatistics` (scope `rw_organization_admin`, the member
//! an ADMINISTRATOR of the organization; share URNs in `shares=List()`, ugcPost URNs in
//! `ugcPosts=List()`, a mismatch or a post the organization does not own → 403 "Unpermitted
//! fields present in PARAMETER"; optional `timeIntervals`; nothing for posts older than 12
//! months) and `GET /rest/memberCreatorPostAnalytics` (scope `r_member_postAnalytics`, exactly
//! one `queryType`, `metricType` a string from `LinkedIn-Version` 202605 and a one-key object
//! before). Query values are read as sent: Rest.li 2.0 wants URNs percent-encoded inside
//! `List(…)` and `(share:…)`, so a raw `:` there is refused.

mod member;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State as AxState};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Months, Utc};
use pressroom_connector::PostMetrics;
use serde_json::{Map, Value, json};

use super::routes::{can_act_as, li_err, li_error, rest_caller};
use super::{FakeLinkedIn, FakePost, Shared, State};

pub(super) use member::member_analytics;

type S = AxState<Arc<Shared>>;

/// Our metric → `totalShareStatistics` field (organization posts).
const ORG_FIELDS: [(&str, &str); 6] = [
    ("views", "impressionCount"),
    ("reach", "uniqueImpressionsCount"),
    ("clicks", "clickCount"),
    ("likes", "likeCount"),
    ("comments", "commentCount"),
    ("shares", "shareCount"),
];

/// Our metric → member analytics `queryType` (member posts).
const MEMBER_FIELDS: [(&str, &str); 6] = [
    ("views", "IMPRESSION"),
    ("reach", "MEMBERS_REACHED"),
    ("likes", "REACTION"),
    ("comments", "COMMENT"),
    ("shares", "RESHARE"),
    ("saves", "POST_SAVE"),
];

/// The first `LinkedIn-Version` whose member analytics name `metricType` as a plain string.
pub const STRING_METRIC_TYPE_FROM: &str = "202605";

/// `metricType` before 202605: a one-key union object.
const METRIC_TYPE_UNION: &str =
    "com.linkedin.adsexternalapi.memberanalytics.v1.CreatorPostAnalyticsMetricTypeV1";

/// Organic statistics reach back a rolling 12 months.
fn window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::days(365)
}

impl FakeLinkedIn {
    /// A post made outside this connector (LinkedIn's own UI, the UGC API): `ugc` picks a
    /// `urn:li:ugcPost:` id over a `urn:li:share:` one. Returns its URN.
    pub fn add_external_post(&self, author: &str, ugc: bool) -> String {
        let mut st = self.shared.state();
        let n = st.next_id();
        let id = if ugc {
            format!("urn:li:ugcPost:7{n:018}")
        } else {
            format!("urn:li:share:7{n:018}")
        };
        let now = st.now();
        st.posts.push(FakePost {
            id: id.clone(),
            author: author.into(),
            commentary: String::new(),
            truncated: false,
            image: None,
            alt_text: None,
            images: Vec::new(),
            visibility: "PUBLIC".into(),
            created_at: now,
        });
        id
    }

    /// The author deletes a post: its statistics and analytics answer 404 from now on.
    pub fn delete_post(&self, urn: &str) {
        let mut st = self.shared.state();
        st.posts.retain(|p| p.id != urn);
        st.stats.remove(urn);
    }

    /// The member's tokens (access and refresh) lose both analytics scopes.
    pub fn revoke_analytics(&self, member_id: &str) {
        let mut st = self.shared.state();
        let keep = |s: &String| s != "r_member_postAnalytics" && s != "rw_organization_admin";
        st.tokens
            .values_mut()
            .filter(|t| t.member == member_id)
            .for_each(|t| t.scopes.retain(keep));
        st.refresh
            .values_mut()
            .filter(|t| t.member == member_id)
            .for_each(|t| t.scopes.retain(keep));
    }
}

/// Stores `metrics` for the post under LinkedIn's names for its author kind and returns what
/// the connector can read back (`None`: the post has no such metric, or no such post; for an
/// organization post, whose element always carries every count, an unset one reads 0).
pub(crate) fn store_metrics(st: &mut State, urn: &str, metrics: &PostMetrics) -> PostMetrics {
    let Some(post) = st.posts.iter().find(|p| p.id == urn) else {
        return PostMetrics::default();
    };
    let org = post.author.starts_with("urn:li:organization:");
    let fields: &[(&str, &str)] = if org { &ORG_FIELDS } else { &MEMBER_FIELDS };
    let accepted = |name: &str| org || st.opts.member_query_types.iter().any(|q| q == name);
    let mut stored = BTreeMap::new();
    let mut readable = PostMetrics::default();
    for &(ours, theirs) in fields {
        // An organization element carries every count (0 when none); a member metric
        // without a number answers empty elements.
        let Some(n) = metrics.get(ours).or(org.then_some(0)) else {
            continue;
        };
        stored.insert(theirs.to_owned(), n);
        if let (true, Some(slot)) = (accepted(theirs), readable.slot(ours)) {
            *slot = Some(n);
        }
    }
    st.stats.insert(urn.to_owned(), stored);
    readable
}

/// The query's parameters as sent: names decoded, values raw (Rest.li syntax intact).
fn raw_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), v.to_owned())
        })
        .collect()
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A URN inside a Rest.li value, which must arrive encoded: a raw `:` would be read as syntax.
fn restli_urn(raw: &str) -> Option<String> {
    (!raw.is_empty() && !raw.contains(':')).then(|| decode(raw))
}

/// `YYYYMM` + `01`, as LinkedIn names the versioned resource in a 403.
fn resource_version(headers: &HeaderMap) -> String {
    let v = headers
        .get("linkedin-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    format!("{v}01")
}

fn unpermitted(field: &str) -> Response {
    li_error(
        403,
        Some(100),
        Some("ACCESS_DENIED"),
        &format!(
            "Unpermitted fields present in PARAMETER: Data Processing Exception while processing fields [{field}]"
        ),
    )
}

fn not_found(urn: &str) -> Response {
    li_error(404, None, None, &format!("Entity {urn} not found"))
}

/// `timeIntervals=(timeRange:(start:{ms},end:{ms}),timeGranularityType:DAY|MONTH)`.
struct Intervals {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    month: bool,
}

fn intervals(value: &str) -> Option<Intervals> {
    let inner = value.strip_prefix('(')?.strip_suffix(')')?;
    let number = |key: &str| -> Option<i64> {
        let rest = inner.split(key).nth(1)?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let start = DateTime::from_timestamp_millis(number("start:")?)?;
    let end = DateTime::from_timestamp_millis(number("end:")?)?;
    let granularity = inner.split("timeGranularityType:").nth(1)?;
    let granularity = granularity.split([',', ')']).next()?;
    let month = match granularity {
        "DAY" => false,
        "MONTH" => true,
        _ => return None,
    };
    (start < end && end - start <= chrono::Duration::days(366)).then_some(Intervals {
        start,
        end,
        month,
    })
}

impl Intervals {
    fn buckets(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut out = Vec::new();
        let mut at = self.start;
        while at < self.end {
            let next = if self.month {
                at.checked_add_months(Months::new(1)).unwrap_or(self.end)
            } else {
                at + chrono::Duration::days(1)
            };
            let next = next.min(self.end);
            out.push((at, next));
            at = next;
        }
        out
    }
}

/// `totalShareStatistics` from the stored counts (absent ones 0, as LinkedIn fills a bucket).
fn share_statistics(counts: Option<&BTreeMap<String, u64>>) -> Value {
    let get = |k: &str| counts.and_then(|c| c.get(k)).copied().unwrap_or(0);
    let mut stats = Map::new();
    for (_, field) in ORG_FIELDS {
        stats.insert(field.into(), get(field).into());
    }
    let impressions = get("impressionCount");
    let engaged = get("clickCount") + get("likeCount") + get("commentCount") + get("shareCount");
    let engagement = if impressions == 0 {
        0.0
    } else {
        engaged as f64 / impressions as f64
    };
    stats.insert("engagement".into(), engagement.into());
    Value::Object(stats)
}

/// `GET /rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=
/// {urn}[&shares=List(…)][&ugcPosts=List(…)][&timeIntervals=(…)]`.
pub(super) async fn organization_statistics(
    AxState(sh): S,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let st = sh.state();
    let t = match rest_caller(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let params = raw_params(query.as_deref().unwrap_or(""));
    if param(&params, "q") != Some("organizationalEntity") {
        return li_error(400, None, None, "Unsupported finder");
    }
    let Some(org) = param(&params, "organizationalEntity")
        .and_then(restli_urn)
        .filter(|o| o.starts_with("urn:li:organization:"))
    else {
        return li_error(
            400,
            None,
            None,
            "ERROR :: /organizationalEntity :: an encoded urn:li:organization is required",
        );
    };
    if !t.has_scope("rw_organization_admin") || !can_act_as(&st, &t, &org) {
        return li_error(
            403,
            Some(100),
            Some("ACCESS_DENIED"),
            &format!(
                "Not enough permissions to access: organizationalEntityShareStatistics.FINDER-organizationalEntity.{}",
                resource_version(&headers)
            ),
        );
    }
    let intervals = match param(&params, "timeIntervals") {
        None => None,
        Some(v) => match intervals(&decode(v)) {
            Some(i) => Some(i),
            None => {
                return li_error(
                    400,
                    None,
                    None,
                    "ERROR :: /timeIntervals :: invalid time intervals",
                );
            }
        },
    };
    let asked = match asked_posts(&st, &params, &org) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let oldest = window_start(st.now());
    let elements = if asked.is_empty() {
        vec![organization_totals(&st, &org, oldest)]
    } else {
        post_elements(&st, &org, &asked, intervals.as_ref(), oldest)
    };
    let n = elements.len();
    Json(json!({ "paging": { "start": 0, "count": n, "links": [] }, "elements": elements }))
        .into_response()
}

/// No posts named: one element with the organization's totals over its recent posts.
fn organization_totals(st: &State, org: &str, oldest: DateTime<Utc>) -> Value {
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    let own = st
        .posts
        .iter()
        .filter(|p| p.author == org && p.created_at >= oldest);
    for p in own {
        for (k, v) in st.stats.get(&p.id).into_iter().flatten() {
            *sums.entry(k.clone()).or_default() += v;
        }
    }
    json!({ "organizationalEntity": org, "totalShareStatistics": share_statistics(Some(&sums)) })
}

/// One element per named post with data (per bucket with `timeIntervals`); a post without
/// data yet or older than 12 months has none: absent, not zeros.
fn post_elements(
    st: &State,
    org: &str,
    asked: &[(&str, &FakePost)],
    intervals: Option<&Intervals>,
    oldest: DateTime<Utc>,
) -> Vec<Value> {
    let mut elements = Vec::new();
    for &(key, p) in asked {
        let Some(counts) = st.stats.get(&p.id).filter(|_| p.created_at >= oldest) else {
            continue;
        };
        let Some(iv) = intervals else {
            elements.push(json!({
                "organizationalEntity": org, key: p.id,
                "totalShareStatistics": share_statistics(Some(counts)),
            }));
            continue;
        };
        // The fake's numbers all fall in the bucket holding the post's creation.
        for (from, to) in iv.buckets() {
            let here = p.created_at >= from && p.created_at < to;
            elements.push(json!({
                "organizationalEntity": org, key: p.id,
                "timeRange": { "start": from.timestamp_millis(), "end": to.timestamp_millis() },
                "totalShareStatistics": share_statistics(here.then_some(counts)),
            }));
        }
    }
    elements
}

/// The posts named in `shares=List(…)` and `ugcPosts=List(…)`, each with its element key.
fn asked_posts<'a>(
    st: &'a State,
    params: &[(String, String)],
    org: &str,
) -> Result<Vec<(&'static str, &'a FakePost)>, Box<Response>> {
    let mut out = Vec::new();
    for (name, key, prefix) in [
        ("shares", "share", "urn:li:share:"),
        ("ugcPosts", "ugcPost", "urn:li:ugcPost:"),
    ] {
        let Some(value) = param(params, name) else {
            continue;
        };
        let Some(items) = value
            .strip_prefix("List(")
            .and_then(|v| v.strip_suffix(')'))
        else {
            return Err(li_err(
                400,
                None,
                None,
                &format!("ERROR :: /{name} :: expected List(…)"),
            ));
        };
        for (i, item) in items.split(',').filter(|s| !s.is_empty()).enumerate() {
            let field = format!("/{name}[{i}]");
            let Some(urn) = restli_urn(item) else {
                return Err(li_err(
                    400,
                    None,
                    None,
                    &format!("ERROR :: {field} :: invalid Rest.li 2.0 encoding of {item:?}"),
                ));
            };
            if !urn.starts_with(prefix) {
                return Err(Box::new(unpermitted(&field)));
            }
            match st.posts.iter().find(|p| p.id == urn) {
                None => return Err(Box::new(not_found(&urn))),
                Some(p) if p.author != org => return Err(Box::new(unpermitted(&field))),
                Some(p) => out.push((key, p)),
            }
        }
    }
    Ok(out)
}
