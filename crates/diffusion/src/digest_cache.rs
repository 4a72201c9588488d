//! Digests of weights that no manifest vouches for (a diffusers folder put on disk by hand),
//! remembered beside them in `.pressroom-digests.json` so that only the first load reads
//! gigabytes to hash them. An entry is trusted while its file keeps its size and modification
//! time, as build tools trust a file's stat: weights replaced or edited in place get a new
//! mtime and are hashed again. A folder that cannot be written (read-only mounts) is simply
//! hashed at every load, as before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

/// The cache file, in the model folder.
pub const FILE: &str = ".pressroom-digests.json";

#[derive(Serialize, Deserialize)]
struct Entry {
    /// Relative to the model folder.
    path: String,
    size: u64,
    modified_secs: u64,
    modified_nanos: u32,
    sha256: String,
}

/// A file's size and modification time, as recorded.
fn stat(path: &Path) -> Option<(u64, u64, u32)> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((meta.len(), modified.as_secs(), modified.subsec_nanos()))
}

/// The remembered digests of `dir`'s files that are unchanged since they were hashed.
pub fn read(dir: &Path) -> HashMap<PathBuf, String> {
    let Ok(text) = std::fs::read_to_string(dir.join(FILE)) else {
        return HashMap::new();
    };
    let Ok(entries) = serde_json::from_str::<Vec<Entry>>(&text) else {
        tracing::warn!(dir = %dir.display(), "unreadable {FILE}; hashing the weights again");
        return HashMap::new();
    };
    entries
        .into_iter()
        .filter_map(|e| {
            let path = dir.join(&e.path);
            let unchanged = stat(&path) == Some((e.size, e.modified_secs, e.modified_nanos));
            unchanged.then_some((path, e.sha256))
        })
        .collect()
}

/// Remembers the digests of `hashed` files of `dir` (paths under it), with their stat now.
/// Written whole to a temporary file and renamed, so a reader never sees half of it.
pub fn remember(dir: &Path, hashed: &[(PathBuf, String)]) {
    let entries: Vec<Entry> = hashed
        .iter()
        .filter_map(|(path, sha256)| {
            let relative = path.strip_prefix(dir).ok()?.to_str()?.to_owned();
            let (size, modified_secs, modified_nanos) = stat(path)?;
            Some(Entry {
                path: relative,
                size,
                modified_secs,
                modified_nanos,
                sha256: sha256.clone(),
            })
        })
        .collect();
    let Ok(json) = serde_json::to_vec_pretty(&entries) else {
        return;
    };
    let staged = dir.join(format!("{FILE}.{}.tmp", std::process::id()));
    let written =
        std::fs::write(&staged, json).and_then(|()| std::fs::rename(&staged, dir.join(FILE)));
    match written {
        Ok(()) => {
            tracing::debug!(dir = %dir.display(), files = entries.len(), "remembered the weights' digests")
        }
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            tracing::debug!(dir = %dir.display(), error = %e, "cannot remember the weights' digests; they are hashed at every load");
        }
    }
}
