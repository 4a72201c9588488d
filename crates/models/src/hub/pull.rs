//! `pull`: resolve the revision to a commit, fetch `model_index.json`, choose the files, check
//! the disk, fetch what the staging folder does not already hold, then write the manifest and
//! move the folder into place. Nothing reaches `<models>/NAME` before every file is verified.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result, io};
use crate::family::Family;
use crate::manifest::{FileEntry, Manifest, Source, digest, safetensors_dtype};
use crate::store::Staging;

use super::client::{FileMeta, HubClient, RepoInfo, Subject};
use super::download::{self, OnDisk};
use super::progress::{Progress, ProgressMode};
use super::select::{self, MODEL_INDEX, Planned};
use super::{PullOptions, default_name, space, validate_repo, validate_variant};

/// Left in the staging folder: which pull its files belong to, so another repo, commit or
/// variant pulled under the same name starts from an empty folder.
const MARKER: &str = ".pressroom-pull.json";

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Marker {
    endpoint: String,
    repo: String,
    commit: String,
    variant: Option<String>,
}

/// Downloads a diffusers-layout model into the store; returns its folder.
///
/// # Errors
/// A name that exists (without `force`), the hub's refusals explained (401, gated 403, 404),
/// a repo whose components have no single safetensors file, too little disk space, a network
/// failure that outlasted the retries (the next pull resumes), a corrupted file (deleted).
pub async fn pull(options: PullOptions) -> Result<PathBuf> {
    let started = Instant::now();
    validate_repo(&options.repo)?;
    if let Some(v) = &options.variant {
        validate_variant(v)?;
    }
    let name = match &options.name {
        Some(name) => name.clone(),
        None => default_name(&options.repo)?,
    };
    let target = options.store.path(&name)?;
    if target.exists() && !options.force {
        return Err(ModelError::Exists(name));
    }
    let client = HubClient::new(&options.endpoint, options.token.clone())?;
    let (repo, revision) = (options.repo.as_str(), options.revision.as_str());
    let subject = Subject {
        repo,
        revision,
        file: None,
    };
    let info = client.revision(repo, revision).await?;
    let commit = info.sha.clone();
    if commit.is_empty() || commit.contains('/') {
        return Err(ModelError::Hub(format!(
            "{repo}@{revision}: the hub named no commit (`sha`)"
        )));
    }
    tracing::info!(repo, revision, commit = %commit, name = %name, "pulling");
    let staging = begin(&options, &client, &name, &commit)?;
    let dir = staging.dir().to_path_buf();

    let quiet = Progress::new(ProgressMode::Quiet, 0, 0);
    let index_plan = planned(&client, &info, subject, &commit, MODEL_INDEX, MODEL_INDEX).await?;
    let index_entry = match download::on_disk(&dir, &index_plan).await? {
        OnDisk::Complete(entry) => entry,
        _ => download::fetch(&client, subject, &commit, &index_plan, &dir, &quiet).await?,
    };
    let index = read_json(&dir.join(MODEL_INDEX))?;
    let components = select::components(&index)?;
    let selection = select::select(&info.siblings, &components, options.variant.as_deref())?;

    let mut files = Vec::with_capacity(selection.files.len());
    for file in &selection.files {
        files.push(complete(&client, subject, &commit, file.clone()).await?);
    }
    // Small files first: a bad config fails the pull before the gigabytes.
    files.sort_by_key(|f| (f.lfs, f.local.clone()));

    let mut entries = vec![index_entry];
    let mut todo = Vec::new();
    let (mut total, mut done) = (0u64, 0u64);
    for file in files {
        let size = file.size.unwrap_or(0);
        total += size;
        match download::on_disk(&dir, &file).await? {
            OnDisk::Complete(entry) => {
                done += size;
                entries.push(entry);
            }
            OnDisk::Partial(len) => {
                done += len;
                todo.push(file);
            }
            OnDisk::Missing => todo.push(file),
        }
    }
    space::ensure_room(&dir, total.saturating_sub(done))?;

    let progress = Progress::new(options.progress, total, done);
    for note in &selection.notes {
        progress.note(note);
    }
    for file in &todo {
        entries.push(download::fetch(&client, subject, &commit, file, &dir, &progress).await?);
    }
    progress.finish(started);

    keep_only(&dir, &entries)?;
    let manifest = manifest(&name, &dir, &client, &options, &commit, entries)?;
    let path = staging.finish(&manifest)?;
    tracing::info!(
        name = %name,
        path = %path.display(),
        digest = %manifest.digest,
        secs = started.elapsed().as_secs_f64(),
        "pulled"
    );
    Ok(path)
}

/// The staging folder for `name`, emptied first when it holds another pull's files.
fn begin(options: &PullOptions, client: &HubClient, name: &str, commit: &str) -> Result<Staging> {
    let marker = Marker {
        endpoint: client.endpoint().to_string(),
        repo: options.repo.clone(),
        commit: commit.to_string(),
        variant: options.variant.clone(),
    };
    let mut staging = options.store.begin(name, options.force)?;
    let path = staging.dir().join(MARKER);
    let previous: Option<Marker> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let empty = std::fs::read_dir(staging.dir())
        .map(|mut d| d.next().is_none())
        .unwrap_or(true);
    if previous.as_ref() != Some(&marker) && !empty {
        tracing::info!(
            dir = %staging.dir().display(),
            "the unfinished pull there was of another repo, commit or variant: starting over"
        );
        staging.discard()?;
        staging = options.store.begin(name, options.force)?;
    }
    let text = serde_json::to_vec_pretty(&marker)
        .map_err(|e| ModelError::Hub(format!("writing {MARKER}: {e}")))?;
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(staging)
}

/// The plan for one repo file, with its size and hashes.
async fn planned(
    client: &HubClient,
    info: &RepoInfo,
    subject: Subject<'_>,
    commit: &str,
    remote: &str,
    local: &str,
) -> Result<Planned> {
    let sibling = info
        .siblings
        .iter()
        .find(|s| s.rfilename == remote)
        .ok_or_else(|| {
            ModelError::Hub(format!(
                "{}@{} has no {remote}: not a diffusers-layout model (for a single-file checkpoint use `pressroom model import`)",
                subject.repo, subject.revision
            ))
        })?;
    complete(client, subject, commit, Planned::of(sibling, local)).await
}

/// Fills in a file's size and hashes from `HEAD` when the file list lacks them (a hub that
/// ignores `blobs=true`).
async fn complete(
    client: &HubClient,
    subject: Subject<'_>,
    commit: &str,
    mut file: Planned,
) -> Result<Planned> {
    let missing = file.size.is_none() || (file.lfs && file.sha256.is_none());
    if !missing {
        return Ok(file);
    }
    let FileMeta {
        size,
        linked_etag,
        etag,
    } = client
        .head(
            Subject {
                file: Some(&file.remote),
                ..subject
            },
            commit,
        )
        .await?;
    file.size = file.size.or(size);
    match linked_etag {
        Some(sha) if download::is_hex(&sha, 64) => {
            file.sha256 = Some(sha.to_ascii_lowercase());
            file.lfs = true;
        }
        _ => {
            if !file.lfs && file.blob_id.is_none() {
                file.blob_id = etag.filter(|e| download::is_hex(e, 40));
            }
        }
    }
    Ok(file)
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Invalid {
        path: path.to_path_buf(),
        reason: format!("not JSON: {e}"),
    })
}

/// Removes from the staging folder whatever is not one of `entries` (a previous attempt's
/// other choices, the marker): the folder that goes into place holds the model and nothing
/// else.
fn keep_only(dir: &Path, entries: &[FileEntry]) -> Result<()> {
    let keep: std::collections::HashSet<PathBuf> =
        entries.iter().map(|e| dir.join(&e.path)).collect();
    fn walk(dir: &Path, keep: &std::collections::HashSet<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.is_dir() {
                walk(&path, keep)?;
                if std::fs::read_dir(&path)
                    .map_err(io(&path))?
                    .next()
                    .is_none()
                {
                    std::fs::remove_dir(&path).map_err(io(&path))?;
                }
            } else if !keep.contains(&path) {
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }
    walk(dir, &keep)
}

fn manifest(
    name: &str,
    dir: &Path,
    client: &HubClient,
    options: &PullOptions,
    commit: &str,
    mut files: Vec<FileEntry>,
) -> Result<Manifest> {
    files.sort();
    let family = Family::of_folder(dir)?;
    let unet = files
        .iter()
        .find(|f| f.path.starts_with("unet/") && f.path.ends_with(".safetensors"))
        .ok_or_else(|| ModelError::Hub("the pulled model has no unet weights".into()))?;
    let dtype = safetensors_dtype(&dir.join(&unet.path))?;
    Ok(Manifest {
        name: name.to_string(),
        family,
        dtype,
        size_bytes: files.iter().map(|f| f.size).sum(),
        source: Source::Hub {
            endpoint: client.endpoint().to_string(),
            repo: options.repo.clone(),
            revision: options.revision.clone(),
            commit: commit.to_string(),
        },
        digest: digest(&files),
        created_at: chrono::Utc::now().to_rfc3339(),
        files,
    })
}
