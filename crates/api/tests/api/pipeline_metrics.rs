//! `/metrics` shows what the pipeline did: the real worker loop runs two runs of one campaign
//! (the second reuses the first's image) through a sandbox that rate-limits one commit and
//! expires the token on another, then the scrape must show generation time, cache hits and
//! misses, publish latency per platform, the rate-limit wait and the token refresh.
//!
//! The recorder is process-wide (tests run concurrently in this binary), so series are
//! checked for presence and a lower bound, never an exact count.

use std::sync::Arc;

use connector_sandbox::{FailureKind, Phase, SandboxConfig, ScriptedFailure};

use crate::harness::{FakeGenerator, TestApp};
use crate::pipeline_fixture::{SandboxWorld, sandbox_world, wait_published, with_workers};

/// The value of one series (`name{labels}`) in a scrape, if present.
pub fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

fn failure(kind: FailureKind) -> ScriptedFailure {
    ScriptedFailure {
        phase: Phase::Commit,
        kind,
        times: 1,
        retry_after_secs: 0,
    }
}

pub async fn pipeline_metrics_reach_the_scrape(app: TestApp) -> anyhow::Result<()> {
    // A fixed seed: the second run asks for the identical image.
    let SandboxWorld {
        workspace_id: ws,
        cipher,
        campaign,
    } = sandbox_world(&app, "pm", "metered").await?;

    let dir = tempfile::tempdir()?;
    let mut sandbox = SandboxConfig::new(dir.path().join("outbox"));
    sandbox.failures = vec![
        failure(FailureKind::RateLimited),
        failure(FailureKind::AuthExpired),
    ];
    // One run, published, then a second: its image comes from the asset table.
    with_workers(&app, &cipher, Arc::new(FakeGenerator), sandbox, || async {
        for key in ["m-1", "m-2"] {
            app.fire(&campaign, key).await?;
            wait_published(&app, &ws, if key == "m-1" { 1 } else { 2 }).await?;
        }
        Ok(())
    })
    .await?;

    let scrape = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    for (series, at_least) in [
        ("pressroom_generation_seconds_count{backend=\"local\"}", 1.0),
        (
            "pressroom_generation_cache_total{layer=\"assets\",result=\"miss\"}",
            1.0,
        ),
        (
            "pressroom_generation_cache_total{layer=\"assets\",result=\"hit\"}",
            1.0,
        ),
        (
            "pressroom_generation_cache_total{layer=\"generator\",result=\"miss\"}",
            1.0,
        ),
        (
            "pressroom_publish_seconds_count{platform=\"sandbox\",step=\"prepare\",outcome=\"ok\"}",
            2.0,
        ),
        (
            "pressroom_publish_seconds_count{platform=\"sandbox\",step=\"commit\",outcome=\"ok\"}",
            2.0,
        ),
        (
            "pressroom_publish_seconds_count{platform=\"sandbox\",step=\"commit\",outcome=\"rate_limited\"}",
            1.0,
        ),
        (
            "pressroom_publish_seconds_count{platform=\"sandbox\",step=\"commit\",outcome=\"auth_expired\"}",
            1.0,
        ),
        (
            "pressroom_rate_limit_waits_total{platform=\"sandbox\"}",
            1.0,
        ),
        (
            "pressroom_rate_limit_wait_seconds_count{platform=\"sandbox\"}",
            1.0,
        ),
        (
            "pressroom_token_refreshes_total{platform=\"sandbox\",result=\"ok\"}",
            1.0,
        ),
        // Scraped from the database, not counted in-process.
        ("pressroom_jobs{kind=\"publish\",state=\"completed\"}", 2.0),
    ] {
        let got = value(&scrape, series);
        anyhow::ensure!(
            got.is_some_and(|v| v >= at_least),
            "{series}: {got:?}, want >= {at_least}\n{scrape}"
        );
    }
    for help in [
        "# TYPE pressroom_publish_seconds histogram",
        "# HELP pressroom_token_refreshes_total",
        "# TYPE pressroom_jobs gauge",
    ] {
        anyhow::ensure!(scrape.contains(help), "{help} missing");
    }
    Ok(())
}

on_both_backends!(pipeline_metrics_reach_the_scrape);
