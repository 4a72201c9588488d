//! Operations (admins): the system's health from the same figures `/metrics` exports — the
//! job queue by kind and state, generation times and cache hits, token refreshes and rate-limit
//! waits, API requests by status — refreshed live, and the workspace's dead jobs with a retry
//! button.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use pressroom_core::JobState;
use serde::Serialize;

use super::page::{self, Viewer};
use crate::ApiState;
use crate::handlers::{Path, RawBody};
use crate::routes::Method;

/// One exported sample: the metric, its labels in words, its value.
#[derive(Serialize)]
struct Sample {
    labels: String,
    value: String,
}

/// One metric family: its help text and samples (histograms as count and mean).
#[derive(Serialize, Default)]
struct Family {
    name: String,
    help: String,
    samples: Vec<Sample>,
}

/// Reads the Prometheus text exposition into families, histogram buckets left out (their
/// `_sum` and `_count` become a mean).
fn families(text: &str) -> Vec<Family> {
    let mut help: BTreeMap<String, String> = BTreeMap::new();
    let mut values: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some((name, h)) = rest.split_once(' ') {
                help.insert(name.to_owned(), h.to_owned());
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        if name.ends_with("_bucket") {
            continue;
        }
        let labels = labels
            .split(',')
            .filter(|l| !l.is_empty() && !l.starts_with("quantile"))
            .map(|l| l.replace('"', "").replace('=', ": "))
            .collect::<Vec<_>>()
            .join(", ");
        values
            .entry(name.to_owned())
            .or_default()
            .insert(labels, value);
    }
    let mut out = Vec::new();
    for (name, samples) in &values {
        if let Some(base) = name.strip_suffix("_sum") {
            let counts = values.get(&format!("{base}_count"));
            let samples = samples
                .iter()
                .map(|(labels, sum)| {
                    let n = counts.and_then(|c| c.get(labels)).copied().unwrap_or(0.0);
                    let mean = if n > 0.0 { sum / n } else { 0.0 };
                    Sample {
                        labels: labels.clone(),
                        value: format!("{n} × mean {mean:.3} s"),
                    }
                })
                .collect();
            out.push(Family {
                name: base.to_owned(),
                help: help.get(base).cloned().unwrap_or_default(),
                samples,
            });
        } else if name.ends_with("_count") && values.contains_key(&name.replace("_count", "_sum")) {
            continue;
        } else {
            out.push(Family {
                name: name.clone(),
                help: help.get(name).cloned().unwrap_or_default(),
                samples: samples
                    .iter()
                    .map(|(labels, v)| Sample {
                        labels: labels.clone(),
                        value: format!("{v}"),
                    })
                    .collect(),
            });
        }
    }
    out
}

pub(crate) async fn page(State(state): State<ApiState>, viewer: Viewer) -> Response {
    if let Err(refused) = viewer.require(Method::Get, "/v1/audit") {
        return *refused;
    }
    let ws = match viewer.workspace() {
        Ok(ws) => ws,
        Err(refused) => return *refused,
    };
    let jobs = match state.metrics.job_counts(&state.queue).await {
        Ok(j) => j,
        Err(e) => return page::error_page(e.into()),
    };
    let exported = families(&state.metrics.render(&jobs));
    let mut queue: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (kind, state_name, n) in jobs.iter() {
        queue
            .entry(kind.clone())
            .or_default()
            .insert(state_name.clone(), *n);
    }
    let dead = match state.queue.list(JobState::Dead, Some(&ws), 50).await {
        Ok(d) => d,
        Err(e) => return page::error_page(e.into()),
    };
    let dead: Vec<_> = dead
        .into_iter()
        .map(|j| minijinja::context! { id => j.id, kind => j.kind, attempt => j.attempt, max_attempts => j.max_attempts, error => j.last_error, at => j.run_at })
        .collect();
    viewer.render(
        "operations.html",
        "operations",
        minijinja::context! {
            queue => queue,
            job_states => JobState::ALL.map(|s| s.as_str()),
            dead => dead,
            families => page::value(&exported),
            workers => state.workers_alive.as_ref().map(|a| a.load(std::sync::atomic::Ordering::SeqCst)),
            // The local engine's model, device and precision, as its images record them.
            engine => state.generator.as_ref().map(|g| g.identity()),
        },
    )
}

/// Puts a dead job of the workspace back in the queue.
pub(crate) async fn retry_job(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    if let Err(refused) = viewer.action_form(&body, Method::Get, "/v1/audit") {
        return *refused;
    }
    let ws = match viewer.workspace() {
        Ok(ws) => ws,
        Err(refused) => return *refused,
    };
    match state.queue.retry_dead(Some(&ws), &id).await {
        Ok(()) => page::done("/operations", true, "The job is back in the queue."),
        Err(e) => page::failed("/operations", e.into()),
    }
}
