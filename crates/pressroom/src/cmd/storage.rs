//! `pressroom storage migrate --to URL`: copies every image and rendition the database refers
//! to from the configured blob store (`[storage] url`, the data directory by default) into
//! another one, typically an S3 bucket before several instances share it
//! (`pressroom_store::blobs::migrate`). Each copy is read back and compared; what the target
//! already holds is skipped, so the command can be stopped and run again; the source is left
//! as it is.

use std::process::ExitCode;

use pressroom_store::blobs::migrate::{self, Outcome};

use crate::app;
use crate::config::Settings;

#[derive(clap::Subcommand)]
pub enum StorageCmd {
    /// Copy every blob the database refers to into another store (verified, resumable; the
    /// source is kept). The target is reached with [storage]'s endpoint, region and
    /// credentials (or the AWS environment variables).
    Migrate {
        /// Where to: s3://BUCKET[/PREFIX], file://PATH or a directory.
        #[arg(long)]
        to: String,
        /// Copies in flight at once.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
    },
}

pub async fn run(settings: Settings, cmd: StorageCmd) -> anyhow::Result<ExitCode> {
    let StorageCmd::Migrate { to, parallel } = cmd;
    let from_location = settings.blob_location()?;
    let to_location = settings
        .blob_location_at(&to)
        .map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    if to_location == from_location {
        anyhow::bail!(
            "--to: {} is the configured store already ([storage] url); name another one",
            to_location.to_url()
        );
    }
    let from = app::blobs(&settings)?;
    let target = app::blobs_at(&settings, &to_location)?;
    migrate::check_writable(target.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("--to {}: cannot write there: {e}", to_location.to_url()))?;
    let opened = app::open_store(&settings, false).await?;
    println!(
        "copying the blobs the database refers to from {} to {}",
        from_location.to_url(),
        to_location.to_url()
    );
    let summary = migrate::copy_referenced(
        &opened.store,
        from.as_ref(),
        target.as_ref(),
        parallel,
        |p| match p.outcome {
            Outcome::Copied { bytes } => {
                println!("[{}/{}] copied {} ({bytes} bytes)", p.done, p.total, p.key)
            }
            Outcome::Present { .. } => {
                println!("[{}/{}] present {}", p.done, p.total, p.key)
            }
            Outcome::Missing => eprintln!(
                "[{}/{}] missing {}: a row refers to it but neither store has it",
                p.done, p.total, p.key
            ),
            Outcome::Failed(e) => eprintln!("[{}/{}] FAILED {}: {e}", p.done, p.total, p.key),
        },
    )
    .await?;
    println!(
        "{} blobs: {} copied ({} bytes), {} already there, {} missing, {} failed",
        summary.total,
        summary.copied,
        summary.bytes_copied,
        summary.present,
        summary.missing,
        summary.failed
    );
    if !summary.complete() {
        eprintln!(
            "some blobs were not copied (see above); run the same command again to retry them"
        );
        return Ok(ExitCode::FAILURE);
    }
    let url = to_location.to_url();
    println!(
        "done. Point every instance at it: set [storage] url = {url:?} in the configuration \
         (or PRESSROOM__STORAGE__URL={url}) and restart; {} is left as it was",
        from_location.to_url()
    );
    Ok(ExitCode::SUCCESS)
}
