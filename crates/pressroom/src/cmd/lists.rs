//! `pressroom runs|posts|jobs …`: what happened, for people and scripts (`--json`).

use std::process::ExitCode;

use pressroom_core::JobState;
use pressroom_store::repo::{campaigns, posts, runs};

use crate::app;
use crate::config::Settings;

#[derive(clap::Subcommand)]
pub enum RunsCmd {
    List {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        campaign: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum PostsCmd {
    /// Import one-off posts from a CSV file (RFC 4180) whose header row names the columns
    /// publish_at, targets, caption, media, alt_text, first_comment (targets and media
    /// required). publish_at: RFC 3339, or local time with --timezone, empty for now;
    /// targets: account or account:preset, several separated by ';'; media: image files
    /// relative to the CSV file, several separated by ';'. The whole file is checked first:
    /// one bad row imports nothing and is reported as FILE:LINE: column: message.
    Import {
        file: std::path::PathBuf,
        #[arg(long)]
        workspace: String,
        /// IANA zone that local publish_at times are read in (e.g. Europe/Paris).
        #[arg(long)]
        timezone: Option<String>,
    },
    List {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        run: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum JobsCmd {
    List {
        /// available, running, completed or dead
        #[arg(long, default_value = "dead")]
        state: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Give a dead job a fresh set of attempts.
    Retry { id: String },
}

pub async fn runs(settings: Settings, cmd: RunsCmd) -> anyhow::Result<ExitCode> {
    let RunsCmd::List {
        workspace,
        campaign,
        limit,
        json,
    } = cmd;
    let opened = app::open_store(&settings, false).await?;
    let ws = super::workspace_id(&opened.store, &workspace).await?;
    let campaign_id = match campaign {
        Some(name) => Some(
            campaigns::by_name(&opened.store, &ws, &name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("--campaign: no campaign {name:?}"))?
                .id,
        ),
        None => None,
    };
    let list = runs::list(&opened.store, &ws, campaign_id.as_ref(), limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        let rows: Vec<Vec<String>> = list
            .into_iter()
            .map(|r| {
                vec![
                    r.id.into_string(),
                    r.state.to_string(),
                    r.trigger,
                    r.fire_key,
                    super::fmt_ms(r.fire_at),
                    r.error.unwrap_or_default(),
                ]
            })
            .collect();
        super::print_table(
            &[
                "RUN",
                "STATE",
                "TRIGGER",
                "FIRE KEY",
                "FIRED (UTC)",
                "ERROR",
            ],
            &rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn posts(settings: Settings, cmd: PostsCmd) -> anyhow::Result<ExitCode> {
    let (workspace, run, limit, json) = match cmd {
        PostsCmd::Import {
            file,
            workspace,
            timezone,
        } => return super::import::run(settings, file, workspace, timezone).await,
        PostsCmd::List {
            workspace,
            run,
            limit,
            json,
        } => (workspace, run, limit, json),
    };
    let opened = app::open_store(&settings, false).await?;
    let ws = super::workspace_id(&opened.store, &workspace).await?;
    let run = run.map(pressroom_core::RunId::from);
    let list = posts::list(&opened.store, &ws, run.as_ref(), limit).await?;
    if json {
        // The per-image lists are stored as JSON text; scripts get them as arrays.
        let mut out = Vec::with_capacity(list.len());
        for post in &list {
            let mut value = serde_json::to_value(post)?;
            value["alt_texts"] = serde_json::json!(post.alt_texts());
            value["rendition_ids"] = serde_json::json!(post.rendition_ids());
            out.push(value);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let rows: Vec<Vec<String>> = list
            .into_iter()
            .map(|p| {
                let result = match (&p.remote_id, &p.error) {
                    (Some(id), _) => format!("{id} {}", p.url.unwrap_or_default()),
                    (None, Some(e)) => e.clone(),
                    (None, None) => String::new(),
                };
                vec![
                    p.id.into_string(),
                    p.platform.to_string(),
                    p.preset,
                    p.state.to_string(),
                    result,
                ]
            })
            .collect();
        super::print_table(&["POST", "PLATFORM", "PRESET", "STATE", "RESULT"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn jobs(settings: Settings, cmd: JobsCmd) -> anyhow::Result<ExitCode> {
    let opened = app::open_store(&settings, false).await?;
    match cmd {
        JobsCmd::List { state, limit } => {
            let state = JobState::parse(&state).ok_or_else(|| {
                anyhow::anyhow!("--state: {state:?} is not available, running, completed or dead")
            })?;
            let rows: Vec<Vec<String>> = opened
                .queue
                .list(state, None, limit)
                .await?
                .into_iter()
                .map(|j| {
                    vec![
                        j.id,
                        j.kind,
                        j.state.to_string(),
                        format!("{}/{}", j.attempt, j.max_attempts),
                        j.last_error.unwrap_or_default(),
                    ]
                })
                .collect();
            super::print_table(&["JOB", "KIND", "STATE", "ATTEMPTS", "LAST ERROR"], &rows);
        }
        JobsCmd::Retry { id } => {
            opened.queue.retry_dead(None, &id).await?;
            println!("job {id} will run again");
        }
    }
    Ok(ExitCode::SUCCESS)
}
