//! Prometheus text exposition: HTTP requests counted by the guard, and job counts read from
//! the queue at scrape time (so they are right across instances sharing a database).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// (method, route, status)
type RequestKey = (&'static str, &'static str, u16);

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Request key → (count, total seconds).
    requests: Mutex<BTreeMap<RequestKey, (u64, f64)>>,
}

impl Metrics {
    pub fn record_request(
        &self,
        method: &'static str,
        route: &'static str,
        status: u16,
        took: Duration,
    ) {
        let mut map = self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = map.entry((method, route, status)).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 += took.as_secs_f64();
    }

    /// Renders the text format.
    pub fn render(&self, jobs: &[(String, String, i64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP pressroom_jobs Jobs in the queue by kind and state.\n");
        out.push_str("# TYPE pressroom_jobs gauge\n");
        for (kind, state, n) in jobs {
            let _ = writeln!(
                out,
                "pressroom_jobs{{kind=\"{}\",state=\"{}\"}} {n}",
                escape(kind),
                escape(state)
            );
        }
        out.push_str("# HELP pressroom_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE pressroom_http_requests_total counter\n");
        let map = self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for ((method, route, status), (count, _)) in map.iter() {
            let _ = writeln!(
                out,
                "pressroom_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape(route)
            );
        }
        out.push_str("# HELP pressroom_http_request_seconds_sum Time spent answering, by route.\n");
        out.push_str("# TYPE pressroom_http_request_seconds_sum counter\n");
        for ((method, route, status), (_, secs)) in map.iter() {
            let _ = writeln!(
                out,
                "pressroom_http_request_seconds_sum{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {secs:.6}",
                escape(route)
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
