//! Meta's usage headers. Each value is a percentage of a limit; when any passes the configured
//! threshold we stop calling for that page until Meta's estimate (or a fallback) has passed,
//! instead of running into code 4/32/80001 and hurting the app's standing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// What one response's usage headers say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Highest percentage among call_count / total_cputime / total_time in any header.
    pub max_percent: u32,
    /// Largest `estimated_time_to_regain_access` (sent in minutes), if any is non-zero.
    pub regain_after: Option<Duration>,
}

fn percent_fields(obj: &Value, usage: &mut Usage) {
    for f in [
        "call_count",
        "total_cputime",
        "total_time",
        "acc_id_util_pct",
    ] {
        if let Some(p) = obj.get(f).and_then(Value::as_f64) {
            usage.max_percent = usage.max_percent.max(p.clamp(0.0, 10_000.0) as u32);
        }
    }
    if let Some(m) = obj
        .get("estimated_time_to_regain_access")
        .and_then(Value::as_u64)
        .filter(|m| *m > 0)
    {
        let d = Duration::from_secs(m.saturating_mul(60));
        usage.regain_after = Some(usage.regain_after.map_or(d, |o| o.max(d)));
    }
}

impl Usage {
    /// Reads `X-App-Usage`, `X-Page-Usage` and `X-Business-Use-Case-Usage`; malformed values are
    /// ignored (they are hints, never a reason to fail a call).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut usage = Usage::default();
        for name in ["x-app-usage", "x-page-usage"] {
            if let Some(v) = headers
                .get(name)
                .and_then(|v| serde_json::from_slice::<Value>(v.as_bytes()).ok())
            {
                percent_fields(&v, &mut usage);
            }
        }
        if let Some(Value::Object(by_id)) = headers
            .get("x-business-use-case-usage")
            .and_then(|v| serde_json::from_slice::<Value>(v.as_bytes()).ok())
        {
            for entries in by_id.values() {
                for e in entries.as_array().into_iter().flatten() {
                    percent_fields(e, &mut usage);
                }
            }
        }
        usage
    }
}

/// Per-key (page id) "do not call before" times, kept in memory: losing them on restart only
/// costs one more call that reads fresh headers.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    until: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Throttle {
    /// Records a successful response's usage: over `threshold` parks the key, under clears it.
    pub(crate) fn note(
        &self,
        key: &str,
        usage: &Usage,
        threshold: u32,
        fallback: Duration,
        now: DateTime<Utc>,
    ) {
        let Ok(mut map) = self.until.lock() else {
            return;
        };
        if usage.max_percent >= threshold {
            let wait = usage.regain_after.unwrap_or(fallback);
            let until =
                now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
            tracing::info!(
                page = key,
                percent = usage.max_percent,
                wait_s = wait.as_secs(),
                "facebook usage over threshold; deferring calls"
            );
            map.insert(key.to_owned(), until);
        } else {
            map.remove(key);
        }
    }

    /// How long calls for `key` must still wait.
    pub(crate) fn wait(&self, key: &str, now: DateTime<Utc>) -> Option<Duration> {
        let map = self.until.lock().ok()?;
        let until = map.get(key)?;
        (*until - now).to_std().ok().filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reads_all_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count":16,"total_cputime":15,"total_time":12}"#),
        );
        assert_eq!(
            Usage::from_headers(&h),
            Usage {
                max_percent: 16,
                regain_after: None
            }
        );
        h.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"123":[{"type":"pages","call_count":95,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":3}]}"#,
            ),
        );
        assert_eq!(
            Usage::from_headers(&h),
            Usage {
                max_percent: 95,
                regain_after: Some(Duration::from_secs(180))
            }
        );
        h.insert("x-app-usage", HeaderValue::from_static("garbage"));
        assert_eq!(Usage::from_headers(&h).max_percent, 95);
        assert_eq!(Usage::from_headers(&HeaderMap::new()), Usage::default());
    }

    #[test]
    fn throttle_parks_and_clears() {
        let t = Throttle::default();
        let now = Utc::now();
        let hot = Usage {
            max_percent: 91,
            regain_after: None,
        };
        t.note("p", &hot, 90, Duration::from_secs(600), now);
        assert_eq!(t.wait("p", now), Some(Duration::from_secs(600)));
        assert_eq!(t.wait("other", now), None);
        assert_eq!(t.wait("p", now + chrono::Duration::seconds(601)), None);
        t.note(
            "p",
            &Usage {
                max_percent: 10,
                regain_after: None,
            },
            90,
            Duration::from_secs(600),
            now,
        );
        assert_eq!(t.wait("p", now), None);
    }
}
