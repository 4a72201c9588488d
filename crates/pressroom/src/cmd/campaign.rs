//! `pressroom campaign validate|load|trigger|list`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pressroom_runtime::campaigns::{Fire, trigger};
use pressroom_store::repo::campaigns;

use crate::app;
use crate::config::Settings;

#[derive(clap::Subcommand)]
pub enum CampaignCmd {
    /// Check campaign files; prints every problem as file:line:column: field: message.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Skip checking target accounts against the database.
        #[arg(long)]
        offline: bool,
    },
    /// Validate and store campaign files (nothing is written if a file has a problem).
    Load {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Fire a campaign now.
    Trigger {
        name: String,
        #[arg(long)]
        workspace: String,
        /// A template variable for this run, as KEY=VALUE (repeatable).
        #[arg(long = "var", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        /// Dedupe key: triggering twice with the same key fires once.
        #[arg(long)]
        key: Option<String>,
    },
    /// List a workspace's campaigns.
    List {
        #[arg(long)]
        workspace: String,
    },
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

pub async fn run(settings: Settings, cmd: CampaignCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CampaignCmd::Validate { files, offline } => {
            let store = if offline {
                None
            } else {
                Some(app::open_store(&settings, false).await?)
            };
            let presets = settings.presets()?;
            let mut failed = false;
            for path in &files {
                let source = match std::fs::read_to_string(path) {
                    Ok(s) => s,
                    Err(e) => {
                        println!("{}: cannot read: {e}", path.display());
                        failed = true;
                        continue;
                    }
                };
                let store = store.as_ref().map(|o| &o.store);
                match app::check_campaign(path, &source, store, &presets).await {
                    Ok(spec) => println!("{}: ok ({} targets)", path.display(), spec.targets.len()),
                    Err(issues) => {
                        failed = true;
                        for issue in issues {
                            println!("{issue}");
                        }
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        CampaignCmd::Load { files } => {
            let opened = app::open_store(&settings, false).await?;
            let presets = settings.presets()?;
            // Every file is checked before any is saved, so one bad file in a batch leaves
            // the stored campaigns exactly as they were.
            let mut sources = Vec::with_capacity(files.len());
            let mut failed = false;
            for path in &files {
                let source = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                if let Err(issues) =
                    app::check_campaign(path, &source, Some(&opened.store), &presets).await
                {
                    failed = true;
                    for issue in issues {
                        eprintln!("{issue}");
                    }
                }
                sources.push(source);
            }
            if failed {
                eprintln!("nothing was saved: fix the problems above and load again");
                return Ok(ExitCode::FAILURE);
            }
            let blobs = app::blobs(&settings)?;
            for (path, source) in files.iter().zip(&sources) {
                let row = app::save_campaign(&opened.store, blobs.as_ref(), path, source, &presets)
                    .await?;
                println!(
                    "{}: saved as campaign {} ({})",
                    path.display(),
                    row.name,
                    row.id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Trigger {
            name,
            workspace,
            vars,
            key,
        } => {
            let opened = app::open_store(&settings, false).await?;
            let ws = super::workspace_id(&opened.store, &workspace).await?;
            let row = campaigns::by_name(&opened.store, &ws, &name)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("no campaign {name:?} in workspace {workspace:?}")
                })?;
            let variables: serde_json::Map<String, serde_json::Value> = vars
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            let key = key.unwrap_or_else(|| format!("cli:{}", uuid::Uuid::now_v7()));
            let fire = Fire {
                trigger: "cli",
                fire_key: &key,
                variables: &serde_json::Value::Object(variables),
            };
            let triggered = trigger(&opened.store, &opened.queue, &row, fire).await?;
            if triggered.created {
                println!("{}", triggered.run_id);
            } else {
                println!(
                    "already fired with key {key:?} (run {}); nothing new queued",
                    triggered.run_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::List { workspace } => {
            let opened = app::open_store(&settings, false).await?;
            let ws = super::workspace_id(&opened.store, &workspace).await?;
            let rows: Vec<Vec<String>> = campaigns::list(&opened.store, &ws)
                .await?
                .into_iter()
                .map(|c| {
                    vec![
                        c.name,
                        c.id.into_string(),
                        if c.enabled == 1 {
                            "enabled".into()
                        } else {
                            "paused".into()
                        },
                        c.source_file.unwrap_or_default(),
                    ]
                })
                .collect();
            super::print_table(&["NAME", "ID", "STATE", "FILE"], &rows);
            Ok(ExitCode::SUCCESS)
        }
    }
}
