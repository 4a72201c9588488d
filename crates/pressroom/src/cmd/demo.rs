//! `pressroom demo`: one campaign occurrence end to end on embedded defaults — SQLite in a
//! data directory, the tiny model when none is configured, the sandbox connector — then a
//! summary and the path of the preview page.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use pressroom_core::{JobKind, PostState};
use pressroom_runtime::campaigns::{Fire, trigger};
use pressroom_runtime::run_workers;
use pressroom_store::repo::{posts, runs};
use tokio_util::sync::CancellationToken;

use crate::app;
use crate::config::Settings;

const DEMO_CAMPAIGN: &str = include_str!("../../../../templates/campaigns/spring-launch.toml");

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Data directory (database, model, assets, outbox). Default: ./pressroom-data
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A campaign file to run instead of the built-in spring-launch sample.
    #[arg(long)]
    campaign: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
}

pub async fn run(mut settings: Settings, args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = args.data_dir {
        settings.paths.data_dir = dir;
    }
    let (path, source) = match &args.campaign {
        Some(p) => (
            p.clone(),
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        ),
        None => (
            PathBuf::from("templates/campaigns/spring-launch.toml"),
            DEMO_CAMPAIGN.to_string(),
        ),
    };
    println!(
        "Pressroom demo — data directory {}",
        settings.paths.data_dir.display()
    );
    let opened = app::open_store(&settings, true).await?;
    let store = &opened.store;

    let presets = settings.presets()?;
    let spec = app::check_campaign(&path, &source, None, &presets)
        .await
        .map_err(|issues| {
            let list: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
            anyhow::anyhow!("{} is invalid:\n  {}", path.display(), list.join("\n  "))
        })?;
    // The demo publishes to sandbox accounts named by the campaign's targets.
    for target in &spec.targets {
        app::ensure_sandbox_account(store, &spec.workspace, &target.account).await?;
    }
    let campaign = app::save_campaign(
        store,
        app::blobs(&settings)?.as_ref(),
        &path,
        &source,
        &presets,
    )
    .await?;
    let fire_key = format!("demo:{}", uuid::Uuid::now_v7());
    let fire = Fire {
        trigger: "cli",
        fire_key: &fire_key,
        variables: &serde_json::json!({}),
    };
    let run_id = trigger(store, &opened.queue, &campaign, fire).await?.run_id;
    println!(
        "campaign {:?}: run {run_id} queued ({} targets)",
        spec.name,
        spec.targets.len()
    );

    let pipeline = Arc::new(app::pipeline(&settings, &opened, &JobKind::ALL, true).await?);
    let shutdown = CancellationToken::new();
    let workers = tokio::spawn(run_workers(
        pipeline,
        app::worker_config(&settings),
        shutdown.clone(),
    ));

    let started = Instant::now();
    let ws = campaign.workspace_id.clone();
    let mut last_line = String::new();
    let outcome = loop {
        let run = runs::get(store.conn(), &ws, &run_id).await?;
        let list = posts::list(store, &ws, Some(&run_id), 1000).await?;
        let settled = list
            .iter()
            .filter(|p| p.state != PostState::Pending && p.state != PostState::Publishing)
            .count();
        let line = format!(
            "  run {}: {} of {} posts settled",
            run.state,
            settled,
            spec.targets.len()
        );
        if line != last_line {
            println!("{line}");
            last_line = line;
        }
        if run.state == pressroom_core::RunState::Failed {
            break Err(anyhow::anyhow!(
                "the run failed: {}",
                run.error.unwrap_or_default()
            ));
        }
        if settled == spec.targets.len() && !list.is_empty() {
            break Ok(list);
        }
        if started.elapsed() > Duration::from_secs(args.timeout_secs) {
            break Err(anyhow::anyhow!(
                "gave up after {}s; see `pressroom jobs list`",
                args.timeout_secs
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    shutdown.cancel();
    let _ = workers.await;
    let list = outcome?;

    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                p.platform.to_string(),
                p.preset.clone(),
                p.state.to_string(),
                p.remote_id.clone().unwrap_or_default(),
                p.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    super::print_table(
        &["PLATFORM", "PRESET", "STATE", "REMOTE ID", "ERROR"],
        &rows,
    );
    let published = list
        .iter()
        .filter(|p| p.state == PostState::Published)
        .count();
    let preview = std::path::absolute(settings.outbox_dir().join("index.html"))
        .unwrap_or_else(|_| settings.outbox_dir().join("index.html"));
    println!(
        "\n{published} of {} posts published in {:.1}s.",
        list.len(),
        started.elapsed().as_secs_f32()
    );
    println!("Preview: {}", preview.display());
    Ok(if published == list.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
