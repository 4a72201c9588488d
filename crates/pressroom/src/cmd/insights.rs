//! `pressroom insights fetch` (a workspace's published posts' numbers, fetched from the
//! platforms now, batched per account) and `pressroom report` (the period's client report, one
//! self-contained HTML file).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono_tz::Tz;
use pressroom_core::{JobKind, PostId};
use pressroom_store::repo::{posts, workspaces};

use crate::app;
use crate::config::Settings;

#[derive(clap::Subcommand)]
pub enum InsightsCmd {
    /// Fetch the numbers (views, reach, likes, comments, shares, saves, clicks) of the
    /// workspace's posts published in the last `--days` days, or of one post, now.
    Fetch {
        #[arg(long)]
        workspace: String,
        /// Only this post.
        #[arg(long)]
        post: Option<PostId>,
        /// Posts published in this many days back (default 90).
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
}

#[derive(clap::Args)]
pub struct ReportArgs {
    #[arg(long)]
    workspace: String,
    /// First day (YYYY-MM-DD in --timezone) or instant (RFC 3339).
    #[arg(long)]
    from: String,
    /// Last day, included (YYYY-MM-DD) or end instant (RFC 3339, excluded).
    #[arg(long)]
    to: String,
    /// Where to write the HTML page.
    #[arg(long)]
    output: PathBuf,
    /// IANA zone of the dates (default UTC).
    #[arg(long)]
    timezone: Option<String>,
}

/// Longest period one report covers.
const MAX_DAYS: i64 = 366;
const DAY_MS: i64 = 86_400_000;

pub async fn fetch(settings: Settings, cmd: InsightsCmd) -> anyhow::Result<ExitCode> {
    let InsightsCmd::Fetch {
        workspace,
        post,
        days,
    } = cmd;
    anyhow::ensure!(
        (1..=MAX_DAYS).contains(&days),
        "--days: must be between 1 and {MAX_DAYS} (got {days})"
    );
    let opened = app::open_store(&settings, false).await?;
    let ws = super::workspace_id(&opened.store, &workspace).await?;
    let pipeline = app::pipeline(&settings, &opened, &[JobKind::Insights], false).await?;
    let chosen = match post {
        Some(id) => vec![posts::get(opened.store.conn(), &ws, &id).await?],
        None => {
            let now = opened.store.now_ms().await?;
            pressroom_store::repo::insights::published_posts(
                opened.store.conn(),
                &ws,
                now - days * DAY_MS,
                now + 1,
            )
            .await?
        }
    };
    let fetched = pipeline
        .fetch_insights(&ws, &chosen)
        .await
        .map_err(|e| anyhow::anyhow!("fetching metrics: {e}"))?;
    println!(
        "{} posts: {} measured, {} without numbers yet, {} deleted on the platform",
        chosen.len(),
        fetched.measured,
        fetched.not_yet,
        fetched.gone
    );
    if let Some(why) = &fetched.unavailable {
        eprintln!("insights unavailable: {why}");
    }
    if let Some(why) = &fetched.skipped {
        eprintln!("not fetched: {why}");
    }
    for failure in &fetched.failed {
        eprintln!("failed: {failure}");
    }
    Ok(
        if fetched.unavailable.is_some() || !fetched.failed.is_empty() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}

pub async fn report(settings: Settings, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let tz: Tz = match args.timezone.as_deref() {
        None => Tz::UTC,
        Some(name) => pressroom_core::schedule::parse_timezone(name)
            .map_err(|e| anyhow::anyhow!("--timezone: {e}"))?,
    };
    let from = pressroom_runtime::insights::parse_bound(&args.from, tz, false)
        .map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let to = pressroom_runtime::insights::parse_bound(&args.to, tz, true)
        .map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    anyhow::ensure!(from < to, "--from: must be before --to");
    anyhow::ensure!(
        to - from <= MAX_DAYS * DAY_MS,
        "--to: a report covers at most {MAX_DAYS} days"
    );
    let opened = app::open_store(&settings, false).await?;
    let ws = workspaces::by_slug(&opened.store, &args.workspace)
        .await?
        .ok_or_else(|| anyhow::anyhow!("--workspace: no workspace {:?}", args.workspace))?;
    let period = pressroom_runtime::insights::load(&opened.store, &ws.id, from, to).await?;
    let heading = pressroom_runtime::insights::ReportHeading {
        workspace: &ws.name,
        tz,
        generated_at: chrono::Utc::now(),
    };
    let blobs = app::blobs(&settings)?;
    let html = pressroom_runtime::insights::render_report(&period, heading, blobs.as_ref()).await?;
    std::fs::write(&args.output, html)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "{}: {} posts from {} to {}",
        args.output.display(),
        period.posts.len(),
        args.from,
        args.to
    );
    Ok(ExitCode::SUCCESS)
}
