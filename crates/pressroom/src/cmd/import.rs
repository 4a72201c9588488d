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
use pressroom_runtime::uploads::read_image_file;
use pressroom_store::repo::{campaigns, workspaces};

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
    let folder = match file.parent() {
        Some(f) if !f.as_os_str().is_empty() => f.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let digest = pressroom_runtime::images::sha256_hex(text.as_bytes());
    let now = chrono::DateTime::from_timestamp_millis(store.now_ms().await?)
        .unwrap_or_else(chrono::Utc::now);

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

    // Rows of this very file stored by an earlier import are left as they are.
    let mut waiting: Vec<&Row> = Vec::with_capacity(rows.len());
    for row in &rows {
        if campaigns::by_name_any(store, &ws.id, &name_of(&digest, row.line))
            .await?
            .is_none()
        {
            waiting.push(row);
        }
    }
    let already = rows.len() - waiting.len();

    // Every row checked, every image decoded, before anything is stored (the images are
    // read again to be kept: a file of many large photos is never all in memory).
    let mut problems = Vec::new();
    let mut images: BTreeMap<&str, Result<(), String>> = BTreeMap::new();
    for row in &waiting {
        for written in &row.media {
            let checked = images.entry(written.as_str()).or_insert_with(|| {
                let bytes = read_image_file(&folder, written)?;
                pressroom_runtime::uploads::check_image(&bytes).map(|_| ())
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

    let blobs = app::blobs(&settings)?;
    let mut kept: BTreeMap<&str, AssetId> = BTreeMap::new();
    for written in images.keys() {
        let bytes = read_image_file(&folder, written)
            .map_err(|reason| anyhow::anyhow!("{label}: `{written}`: {reason}"))?;
        let name = Path::new(written)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let upload =
            pressroom_runtime::uploads::keep_upload(store, blobs.as_ref(), &ws.id, bytes, &name)
                .await
                .with_context(|| format!("{label}: keeping `{written}`"))?;
        kept.insert(written, upload.asset_id);
    }
    let (mut now_count, mut later_count) = (0usize, 0usize);
    for (done, row) in waiting.iter().enumerate() {
        let media = row
            .media
            .iter()
            .filter_map(|written| kept.get(written.as_str()).cloned())
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
            eprintln!("{label}: {} of {} posts stored", done + 1, waiting.len());
        }
    }
    println!(
        "{label}: imported {} posts ({now_count} to publish now, {later_count} scheduled; {already} imported before)",
        waiting.len()
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
