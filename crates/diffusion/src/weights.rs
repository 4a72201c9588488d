//! Safetensors loading with name and shape checks.
//!
//! Tensors are streamed from the file one at a time (header first, then each tensor's byte
//! range) instead of reading the whole file into memory: peak memory is the model plus one
//! tensor. A true `mmap` would need `unsafe`, which the workspace forbids.
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

impl Weights {
    /// Reads every tensor of a safetensors file, casting floating tensors to `kind`.
    pub fn load(path: &Path, device: Device, kind: Kind) -> Result<Self> {
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
        let mut tensors = HashMap::new();
        let mut buf = Vec::new();
        // The digest covers the header and every tensor's bytes as they stream past, so the
        // model identity costs no extra read of multi-gigabyte files.
        let mut hasher = Sha256::new();
        hasher.update(&header);
        for (name, value) in entries {
            if name == "__metadata__" {
                continue;
            }
            let entry: HeaderEntry =
                serde_json::from_value(value).map_err(|e| bad(format!("entry `{name}`: {e}")))?;
            let src_kind = kind_of(&entry.dtype).ok_or_else(|| {
                bad(format!(
                    "tensor `{name}` has unsupported dtype {}",
                    entry.dtype
                ))
            })?;
            let [start, end] = entry.data_offsets;
            let numel: i64 = entry.shape.iter().product();
            let expected_bytes = numel as u64 * src_kind.elt_size_in_bytes() as u64;
            if end < start || end - start != expected_bytes || data_start + end > file_len {
                return Err(bad(format!("tensor `{name}` has inconsistent offsets")));
            }
            buf.resize((end - start) as usize, 0);
            file.seek(SeekFrom::Start(data_start + start))
                .and_then(|_| file.read_exact(&mut buf))
                .map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
            hasher.update(&buf);
            let t = Tensor::f_from_data_size(&buf, &entry.shape, src_kind)?;
            let t = if matches!(
                src_kind,
                Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double
            ) {
                t.to_device(device).to_kind(kind)
            } else {
                t.to_device(device)
            };
            tensors.insert(name, t);
        }
        tracing::debug!(path = %path.display(), tensors = tensors.len(), "loaded weights");
        Ok(Self {
            path: path.to_path_buf(),
            source: Source::File(tensors),
            used: RefCell::default(),
            device,
            kind,
            digest: hex::encode(hasher.finalize()),
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

    /// SHA-256 over the file's header and tensor bytes.
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
        if self.prefix.is_empty() {
            self.w.get(name, shape)
        } else {
            self.w.get(&format!("{}.{name}", self.prefix), shape)
        }
    }

    pub fn device(&self) -> Device {
        self.w.device
    }

    /// Whether `name` (relative to this prefix) exists.
    pub fn contains(&self, name: &str) -> bool {
        if self.prefix.is_empty() {
            self.w.contains(name)
        } else {
            self.w.contains(&format!("{}.{name}", self.prefix))
        }
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
