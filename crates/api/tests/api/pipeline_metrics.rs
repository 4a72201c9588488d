//! `/metrics` shows what the pipeline did: the real worker loop runs two runs of one campaign
//! (the second reuses the first's image) through a sandbox that rate-limits one commit and
//! expires the token on another, then the scrape must show generation time, cache hits and
//! misses, publish latency per platform, the rate-limit wait and the token refresh.
//!
//! The recorder is process-wide (tests run concurrently in this binary), so series are
//! checked for presence and a lower bound, never an exact count.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connector_sandbox::{FailureKind, Phase, SandboxConfig, SandboxConnector, ScriptedFailure};
use pressroom_connector::{Credentials, Registry};
use pressroom_core::{JobKind, RetryPolicy};
use pressroom_generate::Generator;
use pressroom_scheduler::{NewAccount, Pipeline, WorkerConfig, run_workers, save_account};
use pressroom_store::entity::post;
use pressroom_store::repo::{campaigns, workspaces};
use pressroom_store::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio_util::sync::CancellationToken;

use crate::harness::{FakeGenerator, RingCipher, TestApp, campaign_toml};

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
    let ws = workspaces::ensure(&app.store, "pm", "pm").await?;
    let cipher = Arc::new(RingCipher(pressroom_crypto::Keyring::generate()));
    let now = app.store.now_ms().await?;
    // A refresh token, so an expired access token is refreshed rather than fatal.
    let tx = app.store.begin().await?;
    save_account(
        &app.store,
        &tx,
        cipher.as_ref(),
        &ws.id,
        now,
        &NewAccount {
            platform: "sandbox",
            name: "sandbox",
            external_id: "sb-1",
            credentials: &Credentials {
                access_token: secrecy::SecretString::from("access".to_string()),
                refresh_token: Some(secrecy::SecretString::from("refresh".to_string())),
                expires_at: None,
                extra: serde_json::json!({}),
            },
        },
        "test",
        "account.connected",
    )
    .await?;
    tx.commit().await?;
    // A fixed seed: the second run asks for the identical image.
    let source = campaign_toml("pm", "metered").replace("steps = 4", "steps = 4\nseed = 7");
    let spec = pressroom_core::campaign::parse_campaign(&source, "t")
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let campaign = campaigns::upsert(
        app.store.conn(),
        now,
        campaigns::CampaignInput {
            workspace_id: &ws.id,
            name: "metered",
            source: &source,
            source_file: None,
            spec: serde_json::to_value(&spec)?,
        },
    )
    .await?;

    let dir = tempfile::tempdir()?;
    let mut sandbox = SandboxConfig::new(dir.path().join("outbox"));
    sandbox.failures = vec![
        failure(FailureKind::RateLimited),
        failure(FailureKind::AuthExpired),
    ];
    let generators: BTreeMap<String, Arc<dyn Generator>> = BTreeMap::from([(
        "local".to_string(),
        Arc::new(FakeGenerator) as Arc<dyn Generator>,
    )]);
    let pipeline = Pipeline::new(
        app.store.clone(),
        generators,
        Registry::new().with(SandboxConnector::new(sandbox)?),
        Arc::new(pressroom_media::Presets::builtin().clone()),
        dir.path().to_path_buf(),
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(50),
            cap: Duration::from_millis(200),
        },
        cipher,
    );
    let stop = CancellationToken::new();
    let config = WorkerConfig {
        kinds: vec![JobKind::Generate, JobKind::Render, JobKind::Publish],
        poll: Duration::from_millis(25),
        ..WorkerConfig::default()
    };
    let workers = tokio::spawn(run_workers(Arc::new(pipeline), config, stop.clone()));
    let _stop_on_failure = stop.clone().drop_guard();

    // One run, published, then a second: its image comes from the asset table.
    for key in ["m-1", "m-2"] {
        pressroom_scheduler::trigger_now(
            &app.store,
            &app.queue,
            &campaign,
            "api",
            key,
            &serde_json::json!({}),
        )
        .await?;
        let want = if key == "m-1" { 1 } else { 2 };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let published = post::Entity::find()
                .filter(post::Column::WorkspaceId.eq(ws.id.as_str()))
                .filter(post::Column::State.eq("published"))
                .all(app.store.conn())
                .await?
                .len();
            if published >= want {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{published} of {want} posts published in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), workers).await;

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
