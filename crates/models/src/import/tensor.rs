//! One tensor of an output file, described by where its bytes are in the checkpoint. Every
//! conversion the LDM → diffusers mapping needs is a rename, a reshape (the VAE attention's
//! 1×1 convolutions become linear weights), a run of rows (OpenCLIP's fused q/k/v split in
//! three) or a transpose (OpenCLIP's text projection), so nothing is copied until written.

use safetensors::Dtype;
use safetensors::tensor::TensorInfo;

use super::checkpoint::{Checkpoint, element_size};
use crate::error::{ModelError, Result};

#[derive(Clone, Debug)]
pub struct Out {
    /// The diffusers name.
    pub name: String,
    /// The checkpoint tensor it comes from (for messages).
    pub from: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Data,
}

#[derive(Clone, Copy, Debug)]
pub enum Data {
    /// `len` bytes from file offset `start`, written as they are.
    Bytes { start: u64, len: u64 },
    /// A `rows × cols` matrix at `start`, written transposed.
    Transposed {
        start: u64,
        rows: usize,
        cols: usize,
    },
}

impl Out {
    pub fn byte_len(&self) -> u64 {
        match self.data {
            Data::Bytes { len, .. } => len,
            Data::Transposed { rows, cols, .. } => {
                (rows * cols * element_size(self.dtype).unwrap_or(0)) as u64
            }
        }
    }
}

fn byte_len(info: &TensorInfo) -> u64 {
    (info.data_offsets.1 - info.data_offsets.0) as u64
}

fn source<'a>(ckpt: &'a Checkpoint, key: &str) -> Result<&'a TensorInfo> {
    ckpt.get(key).ok_or_else(|| {
        ModelError::Import(format!("{}: tensor `{key}` is missing", ckpt.file_name()))
    })
}

/// The tensor as stored, under a new name.
pub fn whole(ckpt: &Checkpoint, key: &str, name: String) -> Result<Out> {
    let info = source(ckpt, key)?;
    Ok(Out {
        name,
        from: key.to_string(),
        dtype: info.dtype,
        shape: info.shape.clone(),
        data: Data::Bytes {
            start: ckpt.offset(info),
            len: byte_len(info),
        },
    })
}

/// The tensor under a new name and shape (same elements, same order).
pub fn reshaped(ckpt: &Checkpoint, key: &str, name: String, shape: Vec<usize>) -> Result<Out> {
    let mut out = whole(ckpt, key, name)?;
    if shape.iter().product::<usize>() != out.shape.iter().product::<usize>() {
        return Err(ModelError::Import(format!(
            "{}: `{key}` has shape {:?}, which cannot be viewed as {shape:?}",
            ckpt.file_name(),
            out.shape
        )));
    }
    out.shape = shape;
    Ok(out)
}

/// Part `index` of `parts` equal runs of rows (the first dimension).
pub fn rows(ckpt: &Checkpoint, key: &str, name: String, index: usize, parts: usize) -> Result<Out> {
    let mut out = whole(ckpt, key, name)?;
    let first = out.shape.first().copied().unwrap_or(0);
    if first == 0 || first % parts != 0 {
        return Err(ModelError::Import(format!(
            "{}: `{key}` has shape {:?}; its first dimension must split in {parts}",
            ckpt.file_name(),
            out.shape
        )));
    }
    let Data::Bytes { start, len } = out.data else {
        return Err(ModelError::Import(format!("`{key}`: cannot split")));
    };
    let part = len / parts as u64;
    out.data = Data::Bytes {
        start: start + part * index as u64,
        len: part,
    };
    out.shape[0] = first / parts;
    Ok(out)
}

/// A 2-D tensor transposed.
pub fn transposed(ckpt: &Checkpoint, key: &str, name: String) -> Result<Out> {
    let mut out = whole(ckpt, key, name)?;
    let [r, c] = out.shape[..] else {
        return Err(ModelError::Import(format!(
            "{}: `{key}` has shape {:?}, expected a matrix",
            ckpt.file_name(),
            out.shape
        )));
    };
    let Data::Bytes { start, .. } = out.data else {
        return Err(ModelError::Import(format!("`{key}`: cannot transpose")));
    };
    out.data = Data::Transposed {
        start,
        rows: r,
        cols: c,
    };
    out.shape = vec![c, r];
    Ok(out)
}
