//! One module per command family.

pub mod accounts;
pub mod assets;
pub mod campaign;
pub mod connect;
pub mod demo;
pub mod import;
pub mod insights;
pub mod keyring;
pub mod keys;
pub mod lists;
pub mod model;
pub mod model_import;
pub mod model_pull;
pub mod reviews;
pub mod serve;
pub mod storage;
pub mod users;

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::config::Settings;

/// Logs go to stderr; RUST_LOG overrides the configured level.
pub fn init_logging(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{},sqlx=warn,sea_orm=warn,tokio_cron_scheduler=warn",
            settings.log.level
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if settings.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn migrate(settings: Settings) -> anyhow::Result<ExitCode> {
    let opened = crate::app::open_store(&settings, false).await?;
    println!(
        "database is up to date ({} pending)",
        opened.store.pending_migrations().await?
    );
    Ok(ExitCode::SUCCESS)
}

/// Resolves a workspace slug to its id, with a clear error.
pub async fn workspace_id(
    store: &pressroom_store::Store,
    slug: &str,
) -> anyhow::Result<pressroom_core::WorkspaceId> {
    pressroom_store::repo::workspaces::by_slug(store, slug)
        .await?
        .map(|w| w.id)
        .ok_or_else(|| anyhow::anyhow!("--workspace: no workspace {slug:?}"))
}

/// Prints rows as aligned columns.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count().min(60));
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let c: String = c.chars().take(60).collect();
                format!("{c:<w$}", w = widths[i])
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(headers.iter().map(|h| h.to_string()).collect()));
    for row in rows {
        println!("{}", line(row.clone()));
    }
}

/// Epoch milliseconds as a readable UTC time.
pub fn fmt_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}
