//! Copying every blob the database refers to from one store to another (`pressroom storage
//! migrate --to URL`: a data directory into a bucket, or back). Each copy is read back from
//! the target and compared, size and SHA-256, with what the source held. A blob the target
//! already holds with the source's size is skipped, so a run that stopped half-way (or one
//! repeated after a failure) picks up where it was; the source is never changed.

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde::Serialize;

use super::{BlobError, BlobStore, sha256_hex};
use crate::{Result, Store};

/// What happened to one key.
#[derive(Debug)]
pub enum Outcome {
    /// Copied and verified.
    Copied { bytes: u64 },
    /// The target already held it, with the same size.
    Present { bytes: u64 },
    /// A row names it but neither store has it (erased or lost before the migration).
    Missing,
    /// Not copied, or the copy read back wrong; a later run tries again.
    Failed(BlobError),
}

/// One key's result, as it is reached.
#[derive(Debug)]
pub struct Progress<'a> {
    /// 1-based, in the order results arrive.
    pub done: usize,
    pub total: usize,
    pub key: &'a str,
    pub outcome: &'a Outcome,
}

/// The whole run's counts.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub total: usize,
    pub copied: usize,
    pub present: usize,
    pub missing: usize,
    pub failed: usize,
    pub bytes_copied: u64,
}

impl Summary {
    /// True when every blob a row names is in the target.
    pub fn complete(&self) -> bool {
        self.failed == 0
    }
}

/// Writes, reads back and deletes a small blob in `to`: a target that cannot be written (a
/// missing bucket, refused credentials) is reported once, before any copy.
pub async fn check_writable(to: &dyn BlobStore) -> Result<(), BlobError> {
    let key = format!("pressroom-write-check/{}", pressroom_core::new_id());
    to.put(&key, b"pressroom").await?;
    let back = to.get(&key).await;
    to.delete(&key).await?;
    match back? {
        b if b == b"pressroom" => Ok(()),
        b => Err(BlobError::Corrupt {
            key,
            reason: format!("wrote 9 bytes, read back {}", b.len()),
        }),
    }
}

/// Copies every key a row refers to ([`crate::repo::blob_keys::all`]) from `from` to `to`,
/// `parallel` at a time, calling `progress` for each.
pub async fn copy_referenced(
    store: &Store,
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    parallel: usize,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Summary> {
    let keys = crate::repo::blob_keys::all(store.conn()).await?;
    let mut summary = Summary {
        total: keys.len(),
        ..Summary::default()
    };
    // Boxed and collected first: a closure over the keys kept inside the stream makes the
    // caller's future not provably `Send` (rustc's higher-ranked lifetime limits).
    let jobs: Vec<BoxFuture<'_, (&str, Outcome)>> = keys
        .iter()
        .map(|key| keyed(from, to, key).boxed())
        .collect();
    let mut results = futures::stream::iter(jobs).buffer_unordered(parallel.max(1));
    let mut done = 0;
    while let Some((key, outcome)) = results.next().await {
        done += 1;
        match &outcome {
            Outcome::Copied { bytes } => {
                summary.copied += 1;
                summary.bytes_copied += bytes;
            }
            Outcome::Present { .. } => summary.present += 1,
            Outcome::Missing => summary.missing += 1,
            Outcome::Failed(_) => summary.failed += 1,
        }
        progress(Progress {
            done,
            total: summary.total,
            key,
            outcome: &outcome,
        });
    }
    Ok(summary)
}

async fn keyed<'a>(
    from: &'a dyn BlobStore,
    to: &'a dyn BlobStore,
    key: &'a str,
) -> (&'a str, Outcome) {
    (key, copy_one(from, to, key).await)
}

/// Copies one key unless the target has it; verifies the copy by reading it back.
pub async fn copy_one(from: &dyn BlobStore, to: &dyn BlobStore, key: &str) -> Outcome {
    let source_size = match from.size(key).await {
        Ok(size) => size,
        Err(BlobError::Missing(_)) => {
            // A run before this one may have copied it and the source lost it since.
            return match to.size(key).await {
                Ok(bytes) => Outcome::Present { bytes },
                Err(BlobError::Missing(_)) => Outcome::Missing,
                Err(e) => Outcome::Failed(e),
            };
        }
        Err(e) => return Outcome::Failed(e),
    };
    match to.size(key).await {
        Ok(bytes) if bytes == source_size => return Outcome::Present { bytes },
        // Absent, or a different size (a copy cut short by a store that is not atomic):
        // copied again.
        Ok(_) | Err(BlobError::Missing(_)) => {}
        Err(e) => return Outcome::Failed(e),
    }
    let bytes = match from.get(key).await {
        Ok(bytes) => bytes,
        Err(e) => return Outcome::Failed(e),
    };
    let sha256 = sha256_hex(&bytes);
    if let Err(e) = to.put(key, &bytes).await {
        return Outcome::Failed(e);
    }
    let back = match to.get(key).await {
        Ok(back) => back,
        Err(e) => return Outcome::Failed(e),
    };
    if back.len() != bytes.len() || sha256_hex(&back) != sha256 {
        return Outcome::Failed(BlobError::Corrupt {
            key: key.to_string(),
            reason: format!(
                "the copy read back ({} bytes, SHA-256 {}) is not the source ({} bytes, SHA-256 {sha256})",
                back.len(),
                sha256_hex(&back),
                bytes.len()
            ),
        });
    }
    Outcome::Copied {
        bytes: bytes.len() as u64,
    }
}
