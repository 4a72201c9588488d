//! `pressroom posts import FILE.csv --workspace W`: one one-off post per row
//! (`pressroom_runtime::import` reads the file, `pressroom_runtime::oneoff` checks and stores
//! each post). The whole file — columns, dates, accounts, presets, images, each platform's
//! rules — is checked before anything is stored; a bad row is reported as
//! `FILE:LINE: column: message` and nothing is imported. Importing the same file again
//! finds the posts it made instead of making more (each post is named after the file's
//! digest and its line).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use pressroom_core::AssetId;
use pressroom_runtime::import::{Row, RowProblem, read_posts};
use pressroom_runtime::oneoff::{self, OneOff};
use pressroom_store::repo::workspaces;

use crate::app;
use crate::config::Settings;

/// A posts CSV larger than this is refused before it is read.
const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;

pub async fn run(
    settings: Settings,
    file: PathBuf,
    workspace: String,
    timezone: Option<String>,
) -> anyhow::Result<ExitCode> {
    let label = file.display().to_string();
    let size = std::fs::metadata(&file)
        .with_context(|| format!("reading {label}"))?
        .len();
    anyhow::ensure!(
        size <= MAX_FILE_BYTES,
        "{label}: {size} bytes, over the limit of {MAX_FILE_BYTES}: split the file"
    );
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("reading {label} (it must be UTF-8 text)"))?;
    let tz = timezone
        .as_deref()
        .map(pressroom_core::schedule::parse_timezone)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--timezone: {e}"))?;
    let rows = match read_posts(&text, tz) {
        Ok(rows) => rows,
        Err(problems) => return Ok(refuse(&label, &problems)),
    };

    let opened = app::open_store(&settings, false).await?;
    let store = &opened.store;
    let ws = workspaces::by_slug(store, &workspace)
        .await?
        .ok_or_else(|| anyhow::anyhow!("--workspace: no workspace {workspace:?}"))?;
    let accounts = pressroom_runtime::campaigns::known_accounts(store, &ws.id).await?;
    let presets = settings.presets()?;
    let folder = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let digest = pressroom_runtime::images::sha256_hex(text.as_bytes());
    let now = chrono::Utc::now();

    let spec_of = |row: &Row, media: Vec<AssetId>| {
        oneoff::spec_for(
            &ws.slug,
            &name_of(&digest, row.line),
            &one_off(row, media),
            &accounts,
            &presets,
            now,
        )
    };

    // Every row checked, every image decoded, before anything is stored.
    let mut problems = Vec::new();
    let mut images: BTreeMap<PathBuf, Result<Vec<u8>, String>> = BTreeMap::new();
    for row in &rows {
        for written in &row.media {
            let path = folder.join(written);
            let checked = images.entry(path.clone()).or_insert_with(|| {
                let bytes = std::fs::read(&path).map_err(|e| format!("cannot read: {e}"))?;
                pressroom_runtime::uploads::check_image(&bytes)?;
                Ok(bytes)
            });
            if let Err(reason) = checked {
                problems.push(RowProblem {
                    line: row.line,
                    column: "media".into(),
                    message: format!("`{written}`: {reason}"),
                });
            }
        }
        // The images' count is what the rules need; their ids come once they are kept.
        let placeholders = row.media.iter().map(|_| AssetId::new()).collect();
        if let Err(refused) = spec_of(row, placeholders) {
            problems.extend(refused.into_iter().map(|p| RowProblem {
                line: row.line,
                column: p.field.into(),
                message: p.message,
            }));
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Ok(refuse(&label, &problems));
    }

    let blobs = app::blobs(&settings);
    let mut kept: BTreeMap<PathBuf, AssetId> = BTreeMap::new();
    for (path, bytes) in images {
        let bytes = bytes.map_err(anyhow::Error::msg)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let upload =
            pressroom_runtime::uploads::keep_upload(store, blobs.as_ref(), &ws.id, bytes, &name)
                .await
                .with_context(|| format!("keeping {}", path.display()))?;
        kept.insert(path, upload.asset_id);
    }
    let (mut now_count, mut later_count) = (0usize, 0usize);
    for (done, row) in rows.iter().enumerate() {
        let media = row
            .media
            .iter()
            .filter_map(|written| kept.get(&folder.join(written)).cloned())
            .collect();
        let spec = spec_of(row, media).map_err(|p| {
            let list: Vec<String> = p.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{label}:{}: {}", row.line, list.join("; "))
        })?;
        let created = oneoff::create(store, &opened.queue, &ws.id, &spec, "cli")
            .await
            .with_context(|| format!("{label}:{}: storing the post", row.line))?;
        if created.run_id.is_some() {
            now_count += 1;
        } else {
            later_count += 1;
        }
        if (done + 1) % 50 == 0 {
            eprintln!("{label}: {} of {} posts stored", done + 1, rows.len());
        }
    }
    println!(
        "{label}: imported {} posts ({now_count} to publish now, {later_count} scheduled)",
        rows.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn one_off(row: &Row, media: Vec<AssetId>) -> OneOff {
    OneOff {
        caption: row.caption.clone(),
        media,
        targets: row.targets.clone(),
        publish_at: row.publish_at,
        alt_text: row.alt_text.clone(),
        first_comment: row.first_comment.clone(),
    }
}

/// The post's campaign name: the same file imported again names the same posts.
fn name_of(digest: &str, line: u64) -> String {
    format!("post-{}-{line}", &digest[..16])
}

fn refuse(label: &str, problems: &[RowProblem]) -> ExitCode {
    for p in problems {
        eprintln!("{}", p.display(label));
    }
    eprintln!(
        "{label}: nothing was imported ({} problem{}): fix the rows above and import again",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    ExitCode::FAILURE
}
