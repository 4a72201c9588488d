//! `pressroom assets add`: puts images of your own in a workspace's asset library (what
//! `POST /v1/assets` does), for `[media] assets` and one-off posts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::app;
use crate::config::Settings;

#[derive(clap::Subcommand)]
pub enum AssetsCmd {
    /// Add image files (PNG, JPEG, WebP) to the library: decoded within limits, turned
    /// upright, metadata (EXIF, GPS) stripped. Prints each file's asset id.
    Add {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        workspace: String,
    },
}

pub async fn run(settings: Settings, cmd: AssetsCmd) -> anyhow::Result<ExitCode> {
    let AssetsCmd::Add { files, workspace } = cmd;
    let opened = app::open_store(&settings, false).await?;
    let ws = super::workspace_id(&opened.store, &workspace).await?;
    let blobs = app::blobs(&settings)?;
    let mut failed = false;
    for path in &files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match pressroom_runtime::uploads::keep_upload(
            &opened.store,
            blobs.as_ref(),
            &ws,
            bytes,
            &name,
        )
        .await
        {
            Ok(kept) => println!(
                "{}\t{}\t{}x{}{}",
                path.display(),
                kept.asset_id,
                kept.width,
                kept.height,
                if kept.reused {
                    "\t(already in the library)"
                } else {
                    ""
                }
            ),
            Err(
                refused @ (pressroom_runtime::uploads::UploadError::Image(_)
                | pressroom_runtime::uploads::UploadError::TooLarge(_)),
            ) => {
                eprintln!("{}: {refused}", path.display());
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
