//! A period's published posts with their newest numbers, and the sums people ask of them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use pressroom_connector::PostMetrics;
use pressroom_core::WorkspaceId;
use pressroom_store::repo::insights::{self, ReportPost};
use pressroom_store::{Store, StoreError};
use serde::Serialize;

/// Most posts one period reads; a longer period is cut (and says so).
pub const MAX_POSTS: u64 = 5_000;

/// One published post and what it achieved, as of its newest measured fetch.
#[derive(Clone, Debug)]
pub struct PostResult {
    pub post: ReportPost,
    /// Empty when nothing was measured yet.
    pub metrics: PostMetrics,
    /// When the numbers were fetched (epoch ms).
    pub measured_at: Option<i64>,
    /// The newest fetch found the post deleted on the platform.
    pub gone: bool,
}

impl PostResult {
    /// The image generator's seed, when the post's image was generated with one.
    pub fn seed(&self) -> Option<serde_json::Value> {
        let params: serde_json::Value =
            serde_json::from_str(self.post.asset_params.as_deref()?).ok()?;
        params.get("seed").filter(|s| !s.is_null()).cloned()
    }
}

/// The posts published in `[from_ms, to_ms)`.
#[derive(Clone, Debug)]
pub struct Period {
    pub from_ms: i64,
    pub to_ms: i64,
    pub posts: Vec<PostResult>,
    /// More than [`MAX_POSTS`] were published; only the first are here.
    pub truncated: bool,
}

/// Reads the workspace's posts published in `[from_ms, to_ms)` with their newest numbers.
pub async fn load(
    store: &Store,
    workspace_id: &WorkspaceId,
    from_ms: i64,
    to_ms: i64,
) -> Result<Period, StoreError> {
    let conn = store.conn();
    let mut rows =
        insights::published_between(store, conn, workspace_id, from_ms, to_ms, MAX_POSTS + 1)
            .await?;
    let truncated = rows.len() as u64 > MAX_POSTS;
    rows.truncate(MAX_POSTS as usize);
    let ids: Vec<_> = rows.iter().map(|r| r.post_id.clone()).collect();
    let mut latest = insights::latest(store, conn, workspace_id, &ids).await?;
    let posts = rows
        .into_iter()
        .map(|post| {
            let found = latest.remove(&post.post_id).unwrap_or_default();
            let (metrics, measured_at) = match found.measured {
                Some(row) => (
                    serde_json::from_str(&row.metrics).unwrap_or_default(),
                    Some(row.fetched_at),
                ),
                None => (PostMetrics::default(), None),
            };
            PostResult {
                post,
                metrics,
                measured_at,
                gone: found.gone,
            }
        })
        .collect();
    Ok(Period {
        from_ms,
        to_ms,
        posts,
        truncated,
    })
}

/// How posts are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Campaign,
    Platform,
    Account,
    /// The day of publishing in the report's time zone.
    Day,
}

/// One group's numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    /// The campaign or account id, the platform name or the day (YYYY-MM-DD).
    pub key: String,
    /// What a person reads: the campaign or account name, the platform, the day.
    pub label: String,
    /// Posts published.
    pub posts: usize,
    /// Of those, posts with numbers.
    pub measured_posts: usize,
    /// Each metric summed over the posts that have it; a metric no post has is left out.
    pub sums: BTreeMap<String, u64>,
    /// Each metric's sum divided by the number of posts that have it.
    pub averages: BTreeMap<String, f64>,
}

impl Period {
    /// Every post in one group.
    pub fn totals(&self) -> Group {
        summarize("all".into(), "All posts".into(), self.posts.iter())
    }

    /// The posts grouped by `by` (days in `tz`), in key order (days ascending, names A-Z).
    pub fn groups(&self, by: GroupBy, tz: Tz) -> Vec<Group> {
        let mut keyed: BTreeMap<(String, String), Vec<&PostResult>> = BTreeMap::new();
        for result in &self.posts {
            let p = &result.post;
            let (key, label) = match by {
                GroupBy::Campaign => (p.campaign_id.to_string(), p.campaign_name.clone()),
                GroupBy::Platform => (p.platform.to_string(), p.platform.to_string()),
                GroupBy::Account => (p.account_id.to_string(), p.account_name.clone()),
                GroupBy::Day => {
                    let day = day_of(p.published_at, tz);
                    (day.clone(), day)
                }
            };
            // Sorted by label for names (what a person scans), by key for days.
            let order = match by {
                GroupBy::Day => key.clone(),
                _ => label.to_lowercase(),
            };
            keyed.entry((order, key)).or_default().push(result);
        }
        keyed
            .into_iter()
            .map(|((_, key), posts)| {
                let label = match by {
                    GroupBy::Campaign => posts[0].post.campaign_name.clone(),
                    GroupBy::Account => posts[0].post.account_name.clone(),
                    _ => key.clone(),
                };
                summarize(key, label, posts.into_iter())
            })
            .collect()
    }

    /// The `limit` posts with the most `metric` (one of [`PostMetrics::NAMES`]); posts that
    /// lack it are left out; ties keep publishing order.
    pub fn top(&self, metric: &str, limit: usize) -> Vec<&PostResult> {
        let mut ranked: Vec<&PostResult> = self
            .posts
            .iter()
            .filter(|r| r.metrics.get(metric).is_some())
            .collect();
        ranked.sort_by_key(|r| std::cmp::Reverse(r.metrics.get(metric)));
        ranked.truncate(limit);
        ranked
    }
}

fn summarize<'a>(key: String, label: String, posts: impl Iterator<Item = &'a PostResult>) -> Group {
    let mut group = Group {
        key,
        label,
        posts: 0,
        measured_posts: 0,
        sums: BTreeMap::new(),
        averages: BTreeMap::new(),
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for result in posts {
        group.posts += 1;
        if !result.metrics.is_empty() {
            group.measured_posts += 1;
        }
        for (name, value) in result.metrics.measured() {
            let sum = group.sums.entry(name.to_owned()).or_default();
            *sum = sum.saturating_add(value);
            *counts.entry(name.to_owned()).or_default() += 1;
        }
    }
    for (name, sum) in &group.sums {
        let n = counts.get(name).copied().unwrap_or(1).max(1);
        group.averages.insert(name.clone(), *sum as f64 / n as f64);
    }
    group
}

/// The day (YYYY-MM-DD) of `ms` in `tz`.
pub fn day_of(ms: i64, tz: Tz) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .format("%Y-%m-%d")
        .to_string()
}

/// A period bound: `YYYY-MM-DD` (midnight in `tz`; an end date counts its whole day when
/// `end` is set) or an RFC 3339 time. The error says which forms are accepted.
pub fn parse_bound(text: &str, tz: Tz, end: bool) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc).timestamp_millis());
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!("{text:?} is not a date (YYYY-MM-DD) or an RFC 3339 time (2026-12-01T00:00:00Z)")
    })?;
    let day = if end {
        day.succ_opt()
            .ok_or_else(|| format!("{text:?} is out of range"))?
    } else {
        day
    };
    let midnight = day
        .and_hms_opt(0, 0, 0)
        .ok_or_else(|| format!("{text:?} is out of range"))?;
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
        .ok_or_else(|| format!("{text:?} has no midnight in {tz}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_read_dates_in_the_zone_and_rfc3339() {
        let ny: Tz = "America/New_York".parse().expect("valid");
        let from = parse_bound("2026-12-01", ny, false).expect("valid");
        assert_eq!(
            DateTime::from_timestamp_millis(from)
                .expect("valid")
                .to_rfc3339(),
            "2026-12-01T05:00:00+00:00"
        );
        let to = parse_bound("2026-12-01", ny, true).expect("valid");
        assert_eq!(to - from, 86_400_000);
        assert_eq!(
            parse_bound("2026-12-01T00:00:00Z", ny, true).expect("valid"),
            1_796_083_200_000
        );
        let err = parse_bound("yesterday", Tz::UTC, false).expect_err("not a date");
        assert!(err.contains("YYYY-MM-DD"), "{err}");
        assert_eq!(day_of(from, ny), "2026-12-01");
    }
}
