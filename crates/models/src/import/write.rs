//! Writing the folder's files, hashing each while it is written (the manifest needs every
//! file's sha256; reading gigabytes back would double the work). A weights file is streamed
//! tensor by tensor from the checkpoint: one tensor in memory at most, and only for a
//! transpose.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use safetensors::tensor::{Metadata, TensorInfo};
use sha2::{Digest, Sha256};

use super::checkpoint::element_size;
use super::tensor::{Data, Out};
use crate::error::{ModelError, Result, io};

/// A written file's hash and size.
#[derive(Debug, Clone)]
pub struct Written {
    pub sha256: String,
    pub size: u64,
}

/// Counts and hashes what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A small file (a config) written whole.
pub fn small_file(path: &Path, bytes: &[u8]) -> Result<Written> {
    std::fs::write(path, bytes).map_err(io(path))?;
    Ok(Written {
        sha256: hex::encode(Sha256::digest(bytes)),
        size: bytes.len() as u64,
    })
}

/// A JSON file, pretty-printed like diffusers writes them.
pub fn json_file(path: &Path, value: &serde_json::Value) -> Result<Written> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| ModelError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    text.push('\n');
    small_file(path, text.as_bytes())
}

/// The safetensors header for `tensors` in the order they will be written.
fn header(tensors: &[&Out], path: &Path) -> Result<Vec<u8>> {
    let mut infos = Vec::with_capacity(tensors.len());
    let mut offset = 0usize;
    for t in tensors {
        let n = t.byte_len() as usize;
        infos.push((
            t.name.clone(),
            TensorInfo {
                dtype: t.dtype,
                shape: t.shape.clone(),
                data_offsets: (offset, offset + n),
            },
        ));
        offset += n;
    }
    let format = HashMap::from([("format".to_string(), "pt".to_string())]);
    let invalid = |reason: String| ModelError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    // Checks each tensor's byte count against its shape and dtype.
    let metadata = Metadata::new(Some(format), infos)
        .map_err(|e| invalid(format!("inconsistent tensor layout: {e:?}")))?;
    let mut bytes = serde_json::to_vec(&metadata).map_err(|e| invalid(e.to_string()))?;
    // The format's 8-byte alignment of the data section, padded with spaces.
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    Ok(bytes)
}

/// Writes `tensors` (read from `source`, the checkpoint) as a safetensors file. Tensors are
/// ordered by descending element size, then name, as the safetensors library does, so every
/// tensor's data stays aligned to its element size.
pub fn tensors_file(source: &Path, tensors: &[Out], path: &Path) -> Result<Written> {
    let mut order: Vec<&Out> = tensors.iter().collect();
    order.sort_by(|a, b| b.dtype.cmp(&a.dtype).then_with(|| a.name.cmp(&b.name)));
    let header = header(&order, path)?;
    let mut src = File::open(source).map_err(io(source))?;
    let file = File::create(path).map_err(io(path))?;
    let mut out = Hashing {
        inner: BufWriter::with_capacity(1 << 20, file),
        hash: Sha256::new(),
        size: 0,
    };
    out.write_all(&(header.len() as u64).to_le_bytes())
        .map_err(io(path))?;
    out.write_all(&header).map_err(io(path))?;
    for t in order {
        match t.data {
            Data::Bytes { start, len } => {
                src.seek(SeekFrom::Start(start)).map_err(io(source))?;
                let copied =
                    std::io::copy(&mut (&mut src).take(len), &mut out).map_err(io(path))?;
                if copied != len {
                    return Err(ModelError::Invalid {
                        path: source.to_path_buf(),
                        reason: format!(
                            "ended while reading `{}` (the file changed during the import?)",
                            t.from
                        ),
                    });
                }
            }
            Data::Transposed { start, rows, cols } => {
                let size = element_size(t.dtype).ok_or_else(|| {
                    ModelError::Import(format!("`{}`: cannot transpose {}", t.from, t.dtype))
                })?;
                let mut data = vec![0u8; rows * cols * size];
                src.seek(SeekFrom::Start(start)).map_err(io(source))?;
                src.read_exact(&mut data).map_err(io(source))?;
                let mut transposed = vec![0u8; data.len()];
                for r in 0..rows {
                    for c in 0..cols {
                        let from = (r * cols + c) * size;
                        let to = (c * rows + r) * size;
                        transposed[to..to + size].copy_from_slice(&data[from..from + size]);
                    }
                }
                out.write_all(&transposed).map_err(io(path))?;
            }
        }
    }
    out.flush().map_err(io(path))?;
    let Hashing { inner, hash, size } = out;
    let file = inner.into_inner().map_err(|e| io(path)(e.into_error()))?;
    // On disk before the folder is renamed into place.
    file.sync_all().map_err(io(path))?;
    Ok(Written {
        sha256: hex::encode(hash.finalize()),
        size,
    })
}
