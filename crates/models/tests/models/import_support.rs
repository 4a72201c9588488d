//! What the import tests share: the fixtures `scripts/models/make_single_file.py` makes (tiny
//! SD1/SD2/SDXL pipelines in the diffusers layout and the same weights as single-file
//! checkpoints, proved by diffusers' `from_single_file`), and reading/rewriting safetensors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

pub const FAMILIES: [&str; 3] = ["sd1", "sd2", "sdxl"];

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project venv's python (torch, diffusers, transformers), or `PRESSROOM_PYTHON`.
pub fn python() -> PathBuf {
    let py = std::env::var_os("PRESSROOM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        py.exists(),
        "the import tests need the project venv with torch + diffusers at {} (run \
         scripts/setup.sh, or set PRESSROOM_PYTHON)",
        py.display()
    );
    py
}

fn script() -> PathBuf {
    repo().join("scripts/models/make_single_file.py")
}

/// Runs the script once per test binary: OUT/<family>/{diffusers/, model.safetensors}.
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(python())
            .arg(script())
            .arg(dir.path())
            .output()
            .expect("run make_single_file.py");
        assert!(
            out.status.success(),
            "make_single_file.py failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

/// Loads an imported folder with diffusers and compares it with the reference folder:
/// tensors, model configs, tokenizer ids and a rendered image.
pub fn check_in_diffusers(family: &str, imported: &Path) {
    let out = Command::new(python())
        .arg(script())
        .arg(fixtures())
        .arg("--check-import")
        .arg(family)
        .arg(imported)
        .output()
        .expect("run make_single_file.py --check-import");
    assert!(
        out.status.success(),
        "{family}: diffusers disagrees with the imported folder:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Tensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

pub fn read_tensors(path: &Path) -> BTreeMap<String, Tensor> {
    let bytes = std::fs::read(path).expect("read safetensors");
    let st = SafeTensors::deserialize(&bytes).expect("a valid safetensors file");
    st.tensors()
        .into_iter()
        .map(|(name, t)| {
            (
                name,
                Tensor {
                    dtype: t.dtype(),
                    shape: t.shape().to_vec(),
                    data: t.data().to_vec(),
                },
            )
        })
        .collect()
}

pub fn write_tensors(path: &Path, tensors: &BTreeMap<String, Tensor>) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, t)| {
            let view = TensorView::new(t.dtype, t.shape.clone(), &t.data).expect("view");
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).expect("write safetensors");
}

/// A copy of a family's checkpoint changed by `edit`, at `dir/name`.
pub fn edited(
    family: &str,
    dir: &Path,
    name: &str,
    edit: impl FnOnce(&mut BTreeMap<String, Tensor>),
) -> PathBuf {
    let mut tensors = read_tensors(&fixtures().join(family).join("model.safetensors"));
    edit(&mut tensors);
    let path = dir.join(name);
    write_tensors(&path, &tensors);
    path
}
