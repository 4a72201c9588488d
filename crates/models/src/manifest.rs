//! `pressroom-model.json`, written last into every pulled or imported model folder: what the
//! model is and where it came from, and its digest, computed once there so that loading a
//! model and keying the generation cache never hash gigabytes again.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ModelError, Result, io};
use crate::family::Family;

/// The manifest's file name inside a model folder.
pub const MANIFEST_FILE: &str = "pressroom-model.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub family: Family,
    /// The UNet weights' dtype as stored: "F32", "F16" or "BF16".
    pub dtype: String,
    /// Bytes of all files together.
    pub size_bytes: u64,
    pub source: Source,
    /// `sha256:` of the sorted file list (see [`digest`]): equal digests, equal weights.
    pub digest: String,
    /// RFC 3339.
    pub created_at: String,
    pub files: Vec<FileEntry>,
}

/// Where the weights came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Pulled from a Hugging Face-compatible hub.
    Hub {
        endpoint: String,
        repo: String,
        /// What was asked for (a branch, tag or commit).
        revision: String,
        /// The commit the hub resolved it to (`X-Repo-Commit`).
        commit: String,
    },
    /// Imported from a single-file checkpoint.
    File {
        /// The file's name as given (not the full path: it may be anywhere).
        file_name: String,
        /// sha256 of the checkpoint file.
        sha256: String,
    },
}

impl Source {
    /// One line for `model list`.
    pub fn describe(&self) -> String {
        match self {
            Source::Hub {
                repo,
                revision,
                commit,
                ..
            } => {
                let short = commit.get(..12).unwrap_or(commit);
                format!("hub:{repo}@{revision} ({short})")
            }
            Source::File { file_name, .. } => format!("file:{file_name}"),
        }
    }
}

/// One file of a model folder, relative to it with `/` separators.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// The model digest: sha256 over `"<sha256>  <path>\n"` lines sorted by path (the format of
/// `sha256sum`), so it depends on every byte and on nothing else (not on order or dates).
pub fn digest(files: &[FileEntry]) -> String {
    let mut sorted: Vec<&FileEntry> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut h = Sha256::new();
    for f in sorted {
        h.update(f.sha256.as_bytes());
        h.update(b"  ");
        h.update(f.path.as_bytes());
        h.update(b"\n");
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// sha256 and size of a file, read in 1 MiB blocks.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(h.finalize()), size))
}

/// The dtype of the tensors in a safetensors file, read from its header alone: the one most
/// of its bytes are stored in.
pub fn safetensors_dtype(path: &Path) -> Result<String> {
    let invalid = |reason: String| ModelError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(io(path))?;
    let n = u64::from_le_bytes(len);
    if n > 100 << 20 {
        return Err(invalid(format!("safetensors header of {n} bytes")));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(io(path))?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| invalid(format!("safetensors header is not JSON: {e}")))?;
    let mut bytes_by_dtype: std::collections::BTreeMap<String, u64> = Default::default();
    for (key, value) in &header {
        if key == "__metadata__" {
            continue;
        }
        let dtype = value.get("dtype").and_then(|v| v.as_str()).unwrap_or("?");
        let span = value
            .get("data_offsets")
            .and_then(|v| v.as_array())
            .and_then(|a| a.get(1)?.as_u64()?.checked_sub(a.first()?.as_u64()?))
            .unwrap_or(0);
        *bytes_by_dtype.entry(dtype.to_string()).or_default() += span;
    }
    bytes_by_dtype
        .into_iter()
        .max_by_key(|(_, bytes)| *bytes)
        .map(|(dtype, _)| dtype)
        .ok_or_else(|| invalid("no tensors".into()))
}

impl Manifest {
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        serde_json::from_str(&text).map_err(|e| ModelError::Invalid {
            path,
            reason: format!("not a model manifest: {e}"),
        })
    }

    /// Writes the manifest into `dir` (through a temporary file and a rename).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).map_err(|e| ModelError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, sha: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            size: 1,
            sha256: sha.into(),
        }
    }

    #[test]
    fn digest_ignores_order_and_sees_every_hash_and_path() {
        let a = digest(&[entry("unet/x", "aa"), entry("vae/y", "bb")]);
        assert_eq!(a, digest(&[entry("vae/y", "bb"), entry("unet/x", "aa")]));
        assert_ne!(a, digest(&[entry("unet/x", "aa"), entry("vae/y", "bc")]));
        assert_ne!(a, digest(&[entry("unet/x", "aa"), entry("vae/z", "bb")]));
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
    }
}
