//! The checkpoint file: its safetensors header read and checked before anything is written
//! (a pickle, a truncated download or a fp8 file is refused here), then tensors read one at a
//! time by offset, so a multi-GB checkpoint is never held in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use safetensors::Dtype;
use safetensors::tensor::{Metadata, TensorInfo};

use crate::error::{ModelError, Result, io};

/// Extensions of PyTorch's pickle-based formats.
const PICKLE_EXTENSIONS: &[&str] = &["ckpt", "pt", "pth", "bin", "pkl", "pickle"];

/// The largest header accepted (the format's own limit).
const MAX_HEADER: u64 = 100 << 20;

#[derive(Debug)]
pub struct Checkpoint {
    pub path: PathBuf,
    /// Where the data section starts in the file.
    data_start: u64,
    pub tensors: BTreeMap<String, TensorInfo>,
    /// Bytes of the whole file.
    pub size: u64,
}

fn pickle_refused(path: &Path) -> ModelError {
    ModelError::Invalid {
        path: path.to_path_buf(),
        reason: "a pickled PyTorch checkpoint (.ckpt/.pt/.bin) is not imported: loading a pickle \
                 runs code stored in the file. Convert it to .safetensors first with a tool you \
                 trust (or download the .safetensors version the author publishes)"
            .into(),
    }
}

impl Checkpoint {
    /// Opens and checks a `.safetensors` checkpoint: a JSON header whose tensors exactly fill
    /// the rest of the file.
    pub fn open(path: &Path) -> Result<Self> {
        let invalid = |reason: String| ModelError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if ext
            .as_deref()
            .is_some_and(|e| PICKLE_EXTENSIONS.contains(&e))
        {
            return Err(pickle_refused(path));
        }
        let mut f = File::open(path).map_err(io(path))?;
        let size = f.metadata().map_err(io(path))?.len();
        if size < 8 {
            return Err(invalid(format!(
                "not a safetensors file: only {size} bytes long"
            )));
        }
        let mut head = [0u8; 9];
        f.read_exact(&mut head[..8]).map_err(io(path))?;
        let n = u64::from_le_bytes([
            head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7],
        ]);
        let plausible = (2..=MAX_HEADER).contains(&n) && 8 + n <= size;
        if plausible {
            f.read_exact(&mut head[8..]).map_err(io(path))?;
        }
        // Safetensors first: its 8-byte header length may well start with 0x80 (headers are
        // padded to multiples of 8). Only a file that is not one is checked for a zip archive
        // (PyTorch >= 1.6) or a bare pickle (0x80 then protocol 2-5).
        if !plausible || head[8] != b'{' {
            if head.starts_with(b"PK\x03\x04") || (head[0] == 0x80 && (2..=5).contains(&head[1])) {
                return Err(pickle_refused(path));
            }
            if !plausible {
                return Err(invalid(format!(
                    "not a safetensors file: its first 8 bytes announce a {n}-byte header in a \
                     {size}-byte file"
                )));
            }
            return Err(invalid(
                "not a safetensors file: the header is not a JSON object".into(),
            ));
        }
        let mut header = vec![0u8; n as usize];
        header[0] = b'{';
        f.read_exact(&mut header[1..]).map_err(io(path))?;
        let metadata: Metadata = serde_json::from_slice(&header)
            .map_err(|e| invalid(format!("not a safetensors file: bad header: {e}")))?;
        let data_start = 8 + n;
        let data_len = metadata.data_len() as u64;
        if data_start + data_len > size {
            return Err(invalid(format!(
                "truncated: the header lists {data_len} bytes of tensors but the file holds {} \
                 (an interrupted download?)",
                size - data_start
            )));
        }
        if data_start + data_len < size {
            return Err(invalid(format!(
                "not a valid safetensors file: {} bytes follow the last tensor",
                size - data_start - data_len
            )));
        }
        let tensors = metadata
            .tensors()
            .into_iter()
            .map(|(name, info)| (name, info.clone()))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            data_start,
            tensors,
            size,
        })
    }

    /// The file name as given (for messages and the manifest).
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }

    pub fn get(&self, key: &str) -> Option<&TensorInfo> {
        self.tensors.get(key)
    }

    /// Whether any tensor name starts with `prefix`.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.tensors
            .range(prefix.to_string()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix))
    }

    /// The tensors under `prefix`, with the prefix removed.
    pub fn under<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a TensorInfo)> + 'a {
        self.tensors
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(move |(k, v)| (&k[prefix.len()..], v))
    }

    /// The shape of a tensor that must be there.
    pub fn shape(&self, key: &str) -> Result<&[usize]> {
        self.get(key).map(|t| t.shape.as_slice()).ok_or_else(|| {
            ModelError::Import(format!("{}: tensor `{key}` is missing", self.file_name()))
        })
    }

    /// Dimension `axis` of a tensor that must be there.
    pub fn dim(&self, key: &str, axis: usize) -> Result<usize> {
        let shape = self.shape(key)?;
        shape.get(axis).copied().ok_or_else(|| {
            ModelError::Import(format!(
                "{}: tensor `{key}` has shape {shape:?}, expected at least {} dimensions",
                self.file_name(),
                axis + 1
            ))
        })
    }

    /// Absolute file offset of a tensor's first byte.
    pub fn offset(&self, info: &TensorInfo) -> u64 {
        self.data_start + info.data_offsets.0 as u64
    }
}

/// Bytes per element, for the dtypes a weight may have.
pub fn element_size(dtype: Dtype) -> Option<usize> {
    match dtype {
        Dtype::F16 | Dtype::BF16 => Some(2),
        Dtype::F32 => Some(4),
        Dtype::F64 => Some(8),
        _ => None,
    }
}
