//! Prometheus text exposition. Everything counted in-process (HTTP requests here, the
//! pipeline's publish latency, generation time, cache hits, token refreshes and rate-limit
//! waits in `pressroom_runtime::metrics`) goes through the `metrics` facade into one
//! process-wide `metrics-exporter-prometheus` recorder; job counts are read from the queue
//! instead, so they are right across instances sharing a database, and kept for a few seconds
//! so scrapes (or a flood of them) do not each run a `GROUP BY` over the jobs table.

use std::fmt::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use pressroom_store::{Queue, StoreError};

const HTTP_REQUESTS: &str = "pressroom_http_requests_total";
const HTTP_SECONDS: &str = "pressroom_http_request_seconds";

/// Histogram buckets for every `*_seconds` metric: from a fast API read to a slow CPU
/// generation.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, 900.0,
];

/// How often histogram samples are folded into buckets when nobody scrapes (bounds memory).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide recorder, installed by the first caller (a global recorder can be set
/// once per process; every `ApiState` in it shares this one). None when another recorder was
/// installed first: `/metrics` then shows the job counts only.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let builder = match PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
    {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: bad bucket configuration; using summaries");
            PrometheusBuilder::new()
        }
    };
    let handle = match builder.install_recorder() {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: a recorder is already installed; /metrics shows job counts only");
            return None;
        }
    };
    describe_counter!(HTTP_REQUESTS, "HTTP requests by route and status.");
    describe_histogram!(
        HTTP_SECONDS,
        Unit::Seconds,
        "Time spent answering, by route and status."
    );
    pressroom_runtime::metrics::describe();
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics: no upkeep thread; histograms drain at scrape time only");
    }
    Some(handle)
}

/// How long job counts are reused by default.
pub(crate) const JOB_COUNTS_TTL: Duration = Duration::from_secs(5);

/// Job counts by (kind, state).
pub(crate) type JobCounts = Arc<Vec<(String, String, i64)>>;

/// The API's view of the metrics: records requests, renders the exposition.
#[derive(Debug)]
pub(crate) struct Metrics {
    handle: Option<&'static PrometheusHandle>,
    ttl: Duration,
    /// The last job counts read and when. Held across the read, so concurrent scrapes wait
    /// for one query instead of each running their own.
    job_counts: tokio::sync::Mutex<Option<(Instant, JobCounts)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::with_job_counts_ttl(JOB_COUNTS_TTL)
    }
}

impl Metrics {
    pub fn with_job_counts_ttl(ttl: Duration) -> Self {
        Self {
            handle: handle(),
            ttl,
            job_counts: tokio::sync::Mutex::new(None),
        }
    }

    /// The job counts, read from the queue at most once per TTL.
    pub async fn job_counts(&self, queue: &Queue) -> Result<JobCounts, StoreError> {
        let mut cached = self.job_counts.lock().await;
        if let Some((at, counts)) = cached.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(counts.clone());
        }
        let counts = Arc::new(queue.counts().await?);
        *cached = Some((Instant::now(), counts.clone()));
        Ok(counts)
    }

    pub fn record_request(
        &self,
        method: &'static str,
        route: &'static str,
        status: u16,
        took: Duration,
    ) {
        let status = status.to_string();
        counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status.clone())
            .increment(1);
        histogram!(HTTP_SECONDS, "method" => method, "route" => route, "status" => status)
            .record(took.as_secs_f64());
    }

    /// Renders the text format: the job gauges, then everything the recorder holds.
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
        if let Some(handle) = self.handle {
            out.push('\n');
            out.push_str(&handle.render());
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_pipeline_metrics_render_through_one_recorder() {
        let m = Metrics::default();
        assert!(m.handle.is_some(), "the first install succeeds");
        m.record_request("GET", "/unit-test", 200, Duration::from_millis(3));
        counter!(pressroom_runtime::metrics::TOKEN_REFRESHES, "platform" => "unit", "result" => "ok")
            .increment(1);
        let text = m.render(&[("generate".into(), "available".into(), 2)]);
        assert!(text.contains("pressroom_jobs{kind=\"generate\",state=\"available\"} 2"));
        assert!(text.contains(
            "pressroom_http_requests_total{method=\"GET\",route=\"/unit-test\",status=\"200\"} 1"
        ));
        assert!(text.contains("pressroom_http_request_seconds_bucket{method=\"GET\",route=\"/unit-test\",status=\"200\",le=\"0.005\"} 1"), "{text}");
        assert!(
            text.contains("pressroom_token_refreshes_total{platform=\"unit\",result=\"ok\"} 1")
        );
        // A second state shares the recorder rather than failing to install its own.
        assert!(Metrics::default().handle.is_some());
    }
}
