//! One file's transfer: into `<path>.incomplete`, resumed with `Range` after a broken
//! connection (in this pull, and in the next one), hashed while it is written, and renamed to
//! its name only once it matches what the hub says it is.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{ModelError, Result, io};
use crate::manifest::{FileEntry, hash_file};

use super::client::{GetError, HubClient, Subject, net_error, normalize_etag};
use super::progress::Progress;
use super::select::Planned;
use super::space::write_error;

/// Tries per file within one pull; each retry resumes where the last one stopped.
const ATTEMPTS: u32 = 4;

/// What the staging folder already holds of a file.
pub(crate) enum OnDisk {
    /// Complete and verified.
    Complete(FileEntry),
    /// `<path>.incomplete` with this many bytes.
    Partial(u64),
    Missing,
}

pub(crate) fn incomplete_path(dir: &Path, local: &str) -> PathBuf {
    dir.join(format!("{local}.incomplete"))
}

/// Looks at what a previous attempt left for `file`. A complete file that does not match the
/// hub (another commit, another variant) is removed.
pub(crate) async fn on_disk(dir: &Path, file: &Planned) -> Result<OnDisk> {
    let path = dir.join(&file.local);
    if path.is_file() {
        let (p, f) = (path.clone(), file.clone());
        let checked = blocking(&file.local, move || {
            let (sha256, size) = hash_file(&p)?;
            let blob = match &f.blob_id {
                Some(_) => Some(git_blob_sha1(&p)?),
                None => None,
            };
            Ok(mismatch(&f, &sha256, size, blob.as_deref()).map_or(
                Ok(FileEntry {
                    path: f.local.clone(),
                    size,
                    sha256,
                }),
                Err,
            ))
        })
        .await?;
        match checked {
            Ok(entry) => return Ok(OnDisk::Complete(entry)),
            Err(why) => {
                tracing::info!(file = %file.local, "{why}; downloading it again");
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
        }
    }
    let partial = incomplete_path(dir, &file.local);
    match std::fs::metadata(&partial) {
        Ok(m) if file.size.is_some_and(|size| m.len() > size) => {
            std::fs::remove_file(&partial).map_err(io(&partial))?;
            Ok(OnDisk::Missing)
        }
        Ok(m) => Ok(OnDisk::Partial(m.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OnDisk::Missing),
        Err(e) => Err(io(&partial)(e)),
    }
}

/// How a file differs from what the hub says it is, if it does.
fn mismatch(file: &Planned, sha256: &str, size: u64, blob: Option<&str>) -> Option<String> {
    if let Some(want) = file.size
        && want != size
    {
        return Some(format!("expected {want} bytes, got {size}"));
    }
    if let Some(want) = &file.sha256
        && want != sha256
    {
        return Some(format!("expected sha256 {want}, got {sha256}"));
    }
    if let (Some(want), Some(got)) = (&file.blob_id, blob)
        && want != got
    {
        return Some(format!("expected git blob {want}, got {got}"));
    }
    None
}

/// The id git gives a file's content: sha1 of `blob <size>\0<bytes>` (the hub's `ETag` and
/// `blobId` for files not stored with LFS, which are small).
pub(crate) fn git_blob_sha1(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io(path))?;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(&bytes);
    Ok(hex::encode(h.finalize()))
}

async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ModelError::Hub(format!("reading {what}: {e}")))?
}

/// The sha256 of the partial file's bytes so far.
struct Hashed {
    hasher: Sha256,
    bytes: u64,
}

/// One file being fetched.
struct Transfer<'a> {
    client: &'a HubClient,
    url: String,
    subject: Subject<'a>,
    file: &'a Planned,
    partial: PathBuf,
    progress: &'a Progress,
    /// Bytes that came over the network in this pull.
    fetched: u64,
    /// The last answer's `ETag` (a small file's git blob id).
    etag: Option<String>,
    hashed: Option<Hashed>,
}

/// Why an attempt stopped: worth resuming, or not.
enum Failure {
    Broken(ModelError),
    Fatal(ModelError),
}

/// Fetches `file` into `dir` (resuming a partial file), verifies it and renames it into place.
pub(crate) async fn fetch(
    client: &HubClient,
    subject: Subject<'_>,
    commit: &str,
    file: &Planned,
    dir: &Path,
    progress: &Progress,
) -> Result<FileEntry> {
    let final_path = dir.join(&file.local);
    if let Some(parent) = final_path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut t = Transfer {
        client,
        url: client.file_url(subject.repo, commit, &file.remote),
        subject: Subject {
            file: Some(&file.remote),
            ..subject
        },
        file,
        partial: incomplete_path(dir, &file.local),
        progress,
        fetched: 0,
        etag: None,
        hashed: None,
    };
    progress.file_started(&file.local);
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        match t.attempt().await {
            Ok(()) => break,
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Broken(e)) if attempt < ATTEMPTS => {
                let kept = t.hashed.as_ref().map_or(0, |h| h.bytes);
                tracing::warn!(
                    file = %file.remote,
                    bytes_kept = kept,
                    "{e}; resuming (try {} of {ATTEMPTS})",
                    attempt + 1
                );
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                attempt += 1;
            }
            Err(Failure::Broken(e)) => {
                return Err(ModelError::Hub(format!(
                    "{e} while downloading {} ({ATTEMPTS} tries); run the pull again: it resumes where it stopped",
                    file.remote
                )));
            }
        }
    }
    let entry = t.verify().await?;
    // On disk before it counts as done: the manifest will vouch for these bytes.
    std::fs::File::open(&t.partial)
        .and_then(|f| f.sync_all())
        .map_err(io(&t.partial))?;
    std::fs::rename(&t.partial, &final_path).map_err(io(&final_path))?;
    progress.file_done(&file.local, entry.size, t.fetched, started.elapsed());
    Ok(entry)
}

impl Transfer<'_> {
    /// The partial file's length, with its bytes hashed (read back once when a previous pull
    /// or a truncation left the hash behind).
    async fn resume_point(&mut self) -> Result<u64> {
        let len = match std::fs::metadata(&self.partial) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io(&self.partial)(e)),
        };
        if self.hashed.as_ref().is_none_or(|h| h.bytes != len) {
            let path = self.partial.clone();
            let hasher = blocking(&self.file.local, move || {
                let mut hasher = Sha256::new();
                if len > 0 {
                    let mut f = std::fs::File::open(&path).map_err(io(&path))?;
                    std::io::copy(&mut f, &mut hasher).map_err(io(&path))?;
                }
                Ok(hasher)
            })
            .await?;
            self.hashed = Some(Hashed { hasher, bytes: len });
        }
        Ok(len)
    }

    /// Empties the partial file (and takes its bytes back from the progress bar).
    fn start_over(&mut self, had: u64) -> Result<()> {
        match std::fs::remove_file(&self.partial) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&self.partial)(e)),
        }
        self.progress.rewind(had);
        self.hashed = Some(Hashed {
            hasher: Sha256::new(),
            bytes: 0,
        });
        Ok(())
    }

    /// One request, resuming from the partial file's end when there is one.
    async fn attempt(&mut self) -> Result<(), Failure> {
        let offset = self.resume_point().await.map_err(Failure::Fatal)?;
        if self.file.size.is_some_and(|size| offset == size) {
            if offset == 0 {
                // An empty file: nothing to fetch, but the partial file must exist.
                tokio::fs::File::create(&self.partial)
                    .await
                    .map_err(|e| Failure::Fatal(write_error(&self.partial, e)))?;
            }
            return Ok(());
        }
        let response = self
            .client
            .get(&self.url, offset, self.subject)
            .await
            .map_err(|e| match e {
                GetError::Retry(e) => Failure::Broken(e),
                GetError::Final(e) => Failure::Fatal(e),
            })?;
        let status = response.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            // The partial file is not a prefix of this file: start over.
            self.start_over(offset).map_err(Failure::Fatal)?;
            return Err(Failure::Broken(ModelError::Hub(format!(
                "{}: the hub refused to resume at byte {offset}",
                self.file.remote
            ))));
        }
        let resumed = status == StatusCode::PARTIAL_CONTENT
            && content_range_start(response.headers()) == Some(offset);
        if status == StatusCode::PARTIAL_CONTENT && !resumed {
            // A range we did not ask for is no file's beginning: ask again for all of it.
            self.start_over(offset).map_err(Failure::Fatal)?;
            return Err(Failure::Broken(ModelError::Hub(format!(
                "{}: the hub answered a different range than byte {offset} onwards",
                self.file.remote
            ))));
        }
        if offset > 0 && !resumed {
            // A 200 is the whole file again.
            tracing::debug!(file = %self.file.remote, "the server sent the whole file: starting over");
            self.start_over(offset).map_err(Failure::Fatal)?;
        }
        // Never more than the file's size: a misbehaving server cannot fill the disk.
        let mut room = self
            .file
            .size
            .map(|size| size.saturating_sub(if resumed { offset } else { 0 }));
        self.etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(normalize_etag);
        let mut out = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.partial)
            .await
            .map_err(|e| Failure::Fatal(write_error(&self.partial, e)))?;
        let mut stream = response.bytes_stream();
        let result = loop {
            match stream.next().await {
                None => break Ok(()),
                Some(Ok(chunk)) => {
                    if let Some(left) = &mut room {
                        if chunk.len() as u64 > *left {
                            break Err(Failure::Fatal(ModelError::Hub(format!(
                                "{}: the server sent more than the file's {} bytes",
                                self.file.remote,
                                self.file.size.unwrap_or(0)
                            ))));
                        }
                        *left -= chunk.len() as u64;
                    }
                    if let Err(e) = out.write_all(&chunk).await {
                        break Err(Failure::Fatal(write_error(&self.partial, e)));
                    }
                    if let Some(h) = &mut self.hashed {
                        h.hasher.update(&chunk);
                        h.bytes += chunk.len() as u64;
                    }
                    self.fetched += chunk.len() as u64;
                    self.progress.advance(chunk.len() as u64);
                }
                Some(Err(e)) => break Err(Failure::Broken(net_error(&self.url, &e))),
            }
        };
        // What arrived stays on disk for the next try, whatever happened.
        let flushed = out
            .flush()
            .await
            .map_err(|e| Failure::Fatal(write_error(&self.partial, e)));
        result.and(flushed)
    }

    /// Compares the finished file with the hub's sha256 (LFS) or git blob id (small files,
    /// from the file list or the answer's `ETag`); a mismatch deletes it.
    async fn verify(&mut self) -> Result<FileEntry> {
        let len = self.resume_point().await?;
        let sha256 = match self.hashed.take() {
            Some(h) => hex::encode(h.hasher.finalize()),
            None => {
                return Err(ModelError::Hub(format!(
                    "{}: nothing hashed",
                    self.file.remote
                )));
            }
        };
        let mut expected = self.file.clone();
        if expected.blob_id.is_none() && !expected.lfs {
            // A small file's ETag is its git blob id (a CDN's ETag is something else).
            expected.blob_id = self.etag.clone().filter(|e| is_hex(e, 40));
        }
        let blob = match expected.blob_id {
            Some(_) => Some(git_blob_sha1(&self.partial)?),
            None => None,
        };
        if let Some(why) = mismatch(&expected, &sha256, len, blob.as_deref()) {
            std::fs::remove_file(&self.partial).map_err(io(&self.partial))?;
            return Err(ModelError::Hub(format!(
                "corrupted download of {}: {why}; the file was deleted, run the pull again",
                self.file.remote
            )));
        }
        if self.file.lfs && self.file.sha256.is_none() {
            tracing::warn!(
                file = %self.file.remote,
                "the hub gave no sha256 for this file: checked by size only"
            );
        }
        Ok(FileEntry {
            path: self.file.local.clone(),
            size: len,
            sha256,
        })
    }
}

/// The first byte of a `Content-Range: bytes N-M/T` answer.
fn content_range_start(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let value = headers.get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

pub(crate) fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, "hello\n").expect("write");
        assert_eq!(
            git_blob_sha1(&path).expect("hash"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }

    #[test]
    fn content_range_gives_the_first_byte() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::CONTENT_RANGE,
            "bytes 100-199/200".parse().expect("header"),
        );
        assert_eq!(content_range_start(&h), Some(100));
        h.insert(
            reqwest::header::CONTENT_RANGE,
            "bytes */200".parse().expect("header"),
        );
        assert_eq!(content_range_start(&h), None);
    }
}
