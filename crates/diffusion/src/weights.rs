//! Safetensors loading with name and shape checks.
//!
//! The file is memory-mapped through libtorch (`Tensor::from_file` with `shared = false`: a
//! private, copy-on-write `mmap` of a file opened read-only), and each tensor is a typed view
//! of its byte range. On CPU in the file's precision the weights are never copied: the model
//! runs straight from the page cache. Other devices or precisions copy each tensor once, from
//! the mapping. Where the mapping is unavailable (a path that is not UTF-8), tensors are read
//! one at a time instead.
//!
//! Module constructors ask for each tensor by its diffusers key together with the shape the
//! config implies, so a wrong folder fails at load time with the tensor's name and both shapes.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use crate::error::{DiffusionError, Result, io_err};

#[derive(serde::Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<i64>,
    data_offsets: [u64; 2],
}

/// Where tensors come from: a real file, or (for writing tiny random models) a recorder that
/// invents them with the requested shape.
enum Source {
    File(HashMap<String, Tensor>),
    Random(RefCell<BTreeMap<String, Tensor>>),
}

/// The tensors of one component (unet, vae, text encoder), converted to one device and kind.
pub struct Weights {
    path: PathBuf,
    source: Source,
    used: RefCell<HashSet<String>>,
    device: Device,
    kind: Kind,
    digest: String,
}

fn kind_of(dtype: &str) -> Option<Kind> {
    Some(match dtype {
        "F32" => Kind::Float,
        "F16" => Kind::Half,
        "BF16" => Kind::BFloat16,
        "F64" => Kind::Double,
        "I64" => Kind::Int64,
        "I32" => Kind::Int,
        "I16" => Kind::Int16,
        "I8" => Kind::Int8,
        "U8" => Kind::Uint8,
        "BOOL" => Kind::Bool,
        _ => return None,
    })
}

/// One tensor's place in the file, checked against the file's length.
struct Entry {
    name: String,
    kind: Kind,
    shape: Vec<i64>,
    /// Absolute byte range in the file.
    start: u64,
    len: u64,
}

/// Reads and checks the header: every tensor's dtype, shape and byte range.
fn read_header(path: &Path) -> Result<Vec<Entry>> {
    let bad = |message: String| DiffusionError::Safetensors {
        path: path.to_path_buf(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(|e| io_err(path, "weights", e))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|e| bad(format!("header: {e}")))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > 100 * 1024 * 1024 {
        return Err(bad(format!("header length {header_len} is implausible")));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| bad(format!("header: {e}")))?;
    let entries: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header json: {e}")))?;
    let data_start = 8 + header_len;
    let file_len = file
        .metadata()
        .map_err(|e| io_err(path, "weights", e))?
        .len();
    let mut out = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        if name == "__metadata__" {
            continue;
        }
        let entry: HeaderEntry =
            serde_json::from_value(value).map_err(|e| bad(format!("entry `{name}`: {e}")))?;
        let kind = kind_of(&entry.dtype).ok_or_else(|| {
            bad(format!(
                "tensor `{name}` has unsupported dtype {}",
                entry.dtype
            ))
        })?;
        let [start, end] = entry.data_offsets;
        let numel = entry
            .shape
            .iter()
            .try_fold(
                1i64,
                |acc, &d| if d < 0 { None } else { acc.checked_mul(d) },
            )
            .ok_or_else(|| bad(format!("tensor `{name}` has an invalid shape")))?;
        let expected_bytes = numel as u64 * kind.elt_size_in_bytes() as u64;
        if end < start || end - start != expected_bytes || data_start + end > file_len {
            return Err(bad(format!("tensor `{name}` has inconsistent offsets")));
        }
        out.push(Entry {
            name,
            kind,
            shape: entry.shape,
            start: data_start + start,
            len: end - start,
        });
    }
    Ok(out)
}

/// SHA-256 of the whole file, read sequentially (this also warms the page cache the
/// mapping then serves from).
fn file_digest(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| io_err(path, "weights", e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| io_err(path, "weights", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The file as one private, read-only-backed `uint8` mapping, or `None` when libtorch cannot
/// map it (the caller then reads tensor by tensor).
fn map_file(path: &Path) -> Option<Tensor> {
    let name = path.to_str()?;
    let len = std::fs::metadata(path).ok()?.len();
    let len = i64::try_from(len).ok()?;
    match Tensor::f_from_file(name, false, len, (Kind::Uint8, Device::Cpu)) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot memory-map weights; reading them instead");
            None
        }
    }
}

/// A typed view of one tensor's bytes in the mapping (a copy only if its offset is not
/// aligned to the element size, which `view(dtype)` requires).
fn view_in_map(all: &Tensor, e: &Entry) -> Result<Tensor> {
    if e.len == 0 {
        return Ok(Tensor::f_zeros(e.shape.as_slice(), (e.kind, Device::Cpu))?);
    }
    let bytes = all.f_narrow(0, e.start as i64, e.len as i64)?;
    let elt = e.kind.elt_size_in_bytes() as u64;
    let bytes = if e.start.is_multiple_of(elt) {
        bytes
    } else {
        let mut owned = Tensor::f_empty([e.len as i64], (Kind::Uint8, Device::Cpu))?;
        owned.f_copy_(&bytes)?;
        owned
    };
    Ok(bytes.f_view_dtype(e.kind)?.f_reshape(e.shape.as_slice())?)
}

/// Where tensor bytes come from while loading.
enum Reader {
    Mapped(Tensor),
    Streamed(std::fs::File, Vec<u8>),
}

/// One tensor read from the file into memory of its own.
fn read_tensor(
    file: &mut std::fs::File,
    path: &Path,
    e: &Entry,
    buf: &mut Vec<u8>,
) -> Result<Tensor> {
    buf.resize(e.len as usize, 0);
    file.seek(SeekFrom::Start(e.start))
        .and_then(|_| file.read_exact(buf))
        .map_err(|err| DiffusionError::Safetensors {
            path: path.to_path_buf(),
            message: format!("tensor `{}`: {err}", e.name),
        })?;
    Ok(Tensor::f_from_data_size(buf, &e.shape, e.kind)?)
}

impl Weights {
    /// Loads every tensor of a safetensors file (memory-mapped), casting floating tensors
    /// to `kind` on `device`.
    pub fn load(path: &Path, device: Device, kind: Kind) -> Result<Self> {
        Self::load_with(path, device, kind, true)
    }

    /// `mapped = false` reads tensor by tensor (the fallback path; kept callable so the two
    /// paths can be compared).
    #[doc(hidden)]
    pub fn load_with(path: &Path, device: Device, kind: Kind, mapped: bool) -> Result<Self> {
        Self::load_known(path, device, kind, mapped, None)
    }

    /// [`Weights::load`] of a file whose sha256 is already known (from the manifest a model
    /// pull or import wrote), so a multi-GB file is not hashed again on every start.
    pub fn load_known(
        path: &Path,
        device: Device,
        kind: Kind,
        mapped: bool,
        sha256: Option<String>,
    ) -> Result<Self> {
        let entries = read_header(path)?;
        let digest = match sha256 {
            Some(d) => d,
            None => file_digest(path)?,
        };
        let mut reader = match mapped.then(|| map_file(path)).flatten() {
            Some(all) => Reader::Mapped(all),
            None => Reader::Streamed(
                std::fs::File::open(path).map_err(|e| io_err(path, "weights", e))?,
                Vec::new(),
            ),
        };
        let mut tensors = HashMap::with_capacity(entries.len());
        for e in &entries {
            let t = match &mut reader {
                Reader::Mapped(all) => view_in_map(all, e)?,
                Reader::Streamed(file, buf) => read_tensor(file, path, e, buf)?,
            };
            let t = if matches!(
                e.kind,
                Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double
            ) {
                t.to_device(device).to_kind(kind)
            } else {
                t.to_device(device)
            };
            tensors.insert(e.name.clone(), t);
        }
        tracing::debug!(path = %path.display(), tensors = tensors.len(), mapped = matches!(reader, Reader::Mapped(_)), "loaded weights");
        Ok(Self {
            path: path.to_path_buf(),
            source: Source::File(tensors),
            used: RefCell::default(),
            device,
            kind,
            digest,
        })
    }

    /// A recorder: every requested tensor is created with random values of the requested
    /// shape. Used by [`crate::init_tiny_model`] so that the written files match exactly what
    /// the loaders ask for.
    pub(crate) fn random(name: &str) -> Self {
        Self {
            path: PathBuf::from(name),
            source: Source::Random(RefCell::default()),
            used: RefCell::default(),
            device: Device::Cpu,
            kind: Kind::Float,
            digest: String::new(),
        }
    }

    /// SHA-256 of the weights file.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The tensors a recorder invented, by name.
    pub(crate) fn recorded(&self) -> Vec<(String, Tensor)> {
        match &self.source {
            Source::Random(map) => map
                .borrow()
                .iter()
                .map(|(k, v)| (k.clone(), v.shallow_clone()))
                .collect(),
            Source::File(_) => Vec::new(),
        }
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tensor called `name`, which must have exactly `shape`.
    pub fn get(&self, name: &str, shape: &[i64]) -> Result<Tensor> {
        self.used.borrow_mut().insert(name.to_string());
        match &self.source {
            Source::File(map) => {
                let t = map.get(name).ok_or_else(|| DiffusionError::MissingTensor {
                    path: self.path.clone(),
                    name: name.to_string(),
                })?;
                if t.size() != shape {
                    return Err(DiffusionError::ShapeMismatch {
                        path: self.path.clone(),
                        name: name.to_string(),
                        expected: shape.to_vec(),
                        found: t.size(),
                    });
                }
                Ok(t.shallow_clone())
            }
            Source::Random(map) => {
                let t = random_init(name, shape);
                map.borrow_mut().insert(name.to_string(), t.shallow_clone());
                Ok(t)
            }
        }
    }

    /// A linear layer's `[out, in]` weight that may be stored as an `[out, in, 1, 1]` 1x1
    /// convolution, as the attention projections of VAE files converted from the original
    /// LDM checkpoints are (diffusers squeezes them at load time the same way).
    pub fn get_linear_weight(&self, name: &str, out_dim: i64, in_dim: i64) -> Result<Tensor> {
        if let Source::File(map) = &self.source
            && let Some(t) = map.get(name)
            && t.size() == [out_dim, in_dim, 1, 1]
        {
            self.used.borrow_mut().insert(name.to_string());
            return Ok(t.reshape([out_dim, in_dim]));
        }
        self.get(name, &[out_dim, in_dim])
    }

    /// Whether the file has a tensor called `name` (recorders claim to have everything).
    pub fn contains(&self, name: &str) -> bool {
        match &self.source {
            Source::File(map) => map.contains_key(name),
            Source::Random(_) => true,
        }
    }

    /// Names present in the file that no module asked for, excluding the given prefixes.
    pub fn unused(&self, ignore_prefixes: &[&str]) -> Vec<String> {
        let used = self.used.borrow();
        match &self.source {
            Source::File(map) => {
                let mut v: Vec<String> = map
                    .keys()
                    .filter(|k| !used.contains(*k))
                    .filter(|k| !ignore_prefixes.iter().any(|p| k.starts_with(p)))
                    .cloned()
                    .collect();
                v.sort();
                v
            }
            Source::Random(_) => Vec::new(),
        }
    }

    /// Logs keys nobody used: usually harmless (buffers), occasionally a sign of a
    /// variant architecture we do not support yet.
    pub fn warn_unused(&self, ignore_prefixes: &[&str]) {
        let unused = self.unused(ignore_prefixes);
        if !unused.is_empty() {
            tracing::warn!(
                path = %self.path.display(),
                count = unused.len(),
                first = %unused[0],
                "tensors in the weights file were not used by the model"
            );
        }
    }

    /// A view rooted at `prefix` (diffusers keys are dotted module paths).
    pub fn root(&self) -> Vb<'_> {
        Vb {
            w: self,
            prefix: String::new(),
        }
    }
}

/// Random initial values for tiny models: norm scales 1, biases small, matrices scaled by
/// fan-in so activations stay finite through many layers.
fn random_init(name: &str, shape: &[i64]) -> Tensor {
    let opts = (Kind::Float, Device::Cpu);
    if shape.len() == 1 {
        if name.ends_with("bias") {
            return Tensor::randn(shape, opts) * 0.02;
        }
        return Tensor::ones(shape, opts) + Tensor::randn(shape, opts) * 0.02;
    }
    let fan_in: i64 = shape[1..].iter().product::<i64>().max(1);
    Tensor::randn(shape, opts) * (1.0 / (fan_in as f64).sqrt())
}

/// A prefix into [`Weights`]: `vb.pp("down_blocks").pp(0).get("conv.weight", ..)`.
#[derive(Clone)]
pub struct Vb<'a> {
    w: &'a Weights,
    prefix: String,
}

impl<'a> Vb<'a> {
    pub fn pp(&self, part: impl std::fmt::Display) -> Vb<'a> {
        let prefix = if self.prefix.is_empty() {
            part.to_string()
        } else {
            format!("{}.{part}", self.prefix)
        };
        Vb { w: self.w, prefix }
    }

    pub fn get(&self, name: &str, shape: &[i64]) -> Result<Tensor> {
        self.w.get(&self.full_name(name), shape)
    }

    /// See [`Weights::get_linear_weight`].
    pub fn get_linear_weight(&self, name: &str, out_dim: i64, in_dim: i64) -> Result<Tensor> {
        self.w
            .get_linear_weight(&self.full_name(name), out_dim, in_dim)
    }

    fn full_name(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn device(&self) -> Device {
        self.w.device
    }

    /// Whether `name` (relative to this prefix) exists.
    pub fn contains(&self, name: &str) -> bool {
        self.w.contains(&self.full_name(name))
    }

    pub fn kind(&self) -> Kind {
        self.w.kind
    }
}

/// Writes tensors (converted to float32) as a safetensors file with `{"format": "pt"}`
/// metadata, which transformers insists on.
pub fn write_safetensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let mut sorted: Vec<&(String, Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({ "format": "pt" }));
    let mut data: Vec<u8> = Vec::new();
    for (name, t) in sorted {
        let t = t.to_kind(Kind::Float).to_device(Device::Cpu).contiguous();
        let values = Vec::<f32>::try_from(&t.flatten(0, -1))?;
        let start = data.len();
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": "F32", "shape": t.size(), "data_offsets": [start, data.len()] }),
        );
    }
    let mut head = serde_json::to_vec(&serde_json::Value::Object(header)).map_err(|e| {
        DiffusionError::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    })?;
    while head.len() % 8 != 0 {
        head.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + head.len() + data.len());
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&data);
    std::fs::write(path, out).map_err(|e| io_err(path, "weights", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file written by hand: a 3-byte `U8` tensor first puts the `F32` and
    /// `F16` tensors after it at offsets that are not multiples of their element size.
    fn misaligned_file(path: &Path) {
        let a: [u8; 3] = [1, 2, 3];
        let b: [f32; 4] = [0.5, -1.25, 3.0, 1e-3];
        let c: [u16; 2] = [0x3c00, 0xc000]; // 1.0, -2.0 in fp16
        let mut data = a.to_vec();
        let b_start = data.len();
        for v in b {
            data.extend_from_slice(&v.to_le_bytes());
        }
        let c_start = data.len();
        for v in c {
            data.extend_from_slice(&v.to_le_bytes());
        }
        let header = serde_json::json!({
            "a": { "dtype": "U8", "shape": [3], "data_offsets": [0, 3] },
            "b": { "dtype": "F32", "shape": [2, 2], "data_offsets": [b_start, c_start] },
            "c": { "dtype": "F16", "shape": [2], "data_offsets": [c_start, data.len()] },
        });
        let head = serde_json::to_vec(&header).expect("json");
        let mut out = (head.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&head);
        out.extend_from_slice(&data);
        std::fs::write(path, out).expect("write");
    }

    #[test]
    fn mapped_and_streamed_loads_agree_even_when_misaligned_and_read_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.safetensors");
        misaligned_file(&path);
        let mut perms = std::fs::metadata(&path).expect("meta").permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&path, perms).expect("chmod");

        let mapped = Weights::load_with(&path, Device::Cpu, Kind::Float, true).expect("mapped");
        let streamed =
            Weights::load_with(&path, Device::Cpu, Kind::Float, false).expect("streamed");
        assert_eq!(mapped.digest(), streamed.digest());
        let b = mapped.get("b", &[2, 2]).expect("b");
        assert_eq!(
            Vec::<f32>::try_from(b.flatten(0, -1)).expect("vec"),
            vec![0.5, -1.25, 3.0, 1e-3]
        );
        for (name, shape) in [("a", vec![3]), ("b", vec![2, 2]), ("c", vec![2])] {
            let x = mapped.get(name, &shape).expect("mapped tensor");
            let y = streamed.get(name, &shape).expect("streamed tensor");
            assert_eq!(x.kind(), y.kind(), "{name}");
            assert!(x.equal(&y), "{name}");
        }
        let c = mapped.get("c", &[2]).expect("c");
        assert_eq!(c.kind(), Kind::Float, "fp16 is cast to the run precision");
        assert_eq!(Vec::<f32>::try_from(c).expect("vec"), vec![1.0, -2.0]);
    }

    #[test]
    fn offsets_past_the_end_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.safetensors");
        misaligned_file(&path);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() - 2]).expect("truncate");
        let err = Weights::load(&path, Device::Cpu, Kind::Float)
            .err()
            .expect("truncated");
        assert!(err.to_string().contains("inconsistent offsets"), "{err}");
    }
}
