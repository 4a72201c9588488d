//! A small synthetic diffusers-layout model as a hub repo holds it: tiny JSON configs, small
//! safetensors weights (F32, and F16 variants), and the files a pull must skip (pickled
//! weights, root-level checkpoints, EMA copies, Flax and ONNX exports, an unlisted component).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pressroom_models::ModelStore;
use pressroom_models::hub::fake::FakeHub;
use pressroom_models::hub::{ProgressMode, PullOptions};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde_json::json;

pub const REPO: &str = "pressroom/Tiny-SD";
pub const UNET: &str = "unet/diffusion_pytorch_model.safetensors";
pub const UNET_FP16: &str = "unet/diffusion_pytorch_model.fp16.safetensors";
pub const VAE: &str = "vae/diffusion_pytorch_model.safetensors";
pub const TEXT_ENCODER_FP16: &str = "text_encoder/model.fp16.safetensors";
pub const TEXT_ENCODER: &str = "text_encoder/model.safetensors";

/// The files a pull of the model (without `--variant`) must leave in the model folder.
pub const PULLED: [&str; 13] = [
    "model_index.json",
    "pressroom-model.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "tokenizer/merges.txt",
    "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
];

/// Deterministic bytes that differ everywhere (so a cut or a flipped byte shows).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

/// A safetensors file of one tensor of `shape`.
fn weights(dtype: Dtype, shape: &[usize], seed: u64) -> anyhow::Result<Vec<u8>> {
    let width = match dtype {
        Dtype::F16 | Dtype::BF16 => 2,
        _ => 4,
    };
    let data = noise(shape.iter().product::<usize>() * width, seed);
    let view = TensorView::new(dtype, shape.to_vec(), &data)?;
    Ok(safetensors::tensor::serialize(
        [("conv_in.weight", view)],
        None,
    )?)
}

fn put(dir: &Path, rel: &str, bytes: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)?;
    Ok(())
}

fn put_json(dir: &Path, rel: &str, value: serde_json::Value) -> anyhow::Result<()> {
    put(dir, rel, serde_json::to_vec_pretty(&value)?)
}

/// Writes the repo's files into `dir`.
pub fn write_model(dir: &Path) -> anyhow::Result<()> {
    put_json(
        dir,
        "model_index.json",
        json!({
            "_class_name": "StableDiffusionPipeline",
            "_diffusers_version": "0.30.0",
            "feature_extractor": [null, null],
            "requires_safety_checker": false,
            "safety_checker": [null, null],
            "scheduler": ["diffusers", "PNDMScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"]
        }),
    )?;
    put_json(
        dir,
        "unet/config.json",
        json!({"_class_name": "UNet2DConditionModel", "cross_attention_dim": 768, "sample_size": 8}),
    )?;
    // 256 KiB: large enough to be cut in the middle.
    put(dir, UNET, weights(Dtype::F32, &[64, 1024], 1)?)?;
    put(dir, UNET_FP16, weights(Dtype::F16, &[64, 1024], 2)?)?;
    put(
        dir,
        "unet/diffusion_pytorch_model.non_ema.safetensors",
        weights(Dtype::F32, &[8, 8], 3)?,
    )?;
    put(dir, "unet/diffusion_pytorch_model.bin", noise(4096, 4))?;
    put_json(
        dir,
        "vae/config.json",
        json!({"_class_name": "AutoencoderKL", "scaling_factor": 0.18215}),
    )?;
    put(dir, VAE, weights(Dtype::F32, &[16, 256], 5)?)?;
    put_json(
        dir,
        "text_encoder/config.json",
        json!({"architectures": ["CLIPTextModel"], "hidden_size": 32}),
    )?;
    // Only the fp16 variant: a pull without --variant falls back to it.
    put(dir, TEXT_ENCODER_FP16, weights(Dtype::F16, &[32, 64], 6)?)?;
    put(dir, "text_encoder/pytorch_model.bin", noise(2048, 7))?;
    put(dir, "text_encoder/flax_model.msgpack", noise(2048, 8))?;
    put_json(
        dir,
        "tokenizer/vocab.json",
        json!({"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2}),
    )?;
    put(dir, "tokenizer/merges.txt", "#version: 0.2\na b\n")?;
    put_json(
        dir,
        "tokenizer/tokenizer_config.json",
        json!({"model_max_length": 77}),
    )?;
    put_json(
        dir,
        "tokenizer/special_tokens_map.json",
        json!({"pad_token": "<|endoftext|>"}),
    )?;
    put_json(
        dir,
        "scheduler/scheduler_config.json",
        json!({"_class_name": "PNDMScheduler", "num_train_timesteps": 1000}),
    )?;
    // Listed as [null, null]: not part of this pipeline.
    put_json(dir, "safety_checker/config.json", json!({}))?;
    put(
        dir,
        "safety_checker/model.safetensors",
        weights(Dtype::F32, &[4, 4], 9)?,
    )?;
    // Root-level single-file checkpoints and other formats.
    put(dir, "v1-5-pruned-emaonly.ckpt", noise(8192, 10))?;
    put(
        dir,
        "v1-5-pruned.safetensors",
        weights(Dtype::F32, &[16, 16], 11)?,
    )?;
    put(dir, "onnx/unet/model.onnx", noise(1024, 12))?;
    put(dir, "README.md", "# tiny\n")?;
    put(
        dir,
        ".gitattributes",
        "*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    )?;
    Ok(())
}

/// A fake hub serving the model as [`REPO`], and an empty store.
pub struct Setup {
    pub hub: FakeHub,
    pub source: tempfile::TempDir,
    /// Holds the store (deleted on drop).
    pub _data: tempfile::TempDir,
    pub store: ModelStore,
    pub commit: String,
}

impl Setup {
    pub async fn new() -> anyhow::Result<Setup> {
        let hub = FakeHub::start().await?;
        let source = tempfile::tempdir()?;
        write_model(source.path())?;
        let commit = hub.add_repo(REPO, source.path())?;
        let data = tempfile::tempdir()?;
        let store = ModelStore::under(data.path());
        Ok(Setup {
            hub,
            source,
            _data: data,
            store,
            commit,
        })
    }

    /// Options for pulling [`REPO`] at `main` under its default name, without a token.
    pub fn options(&self) -> PullOptions {
        PullOptions {
            repo: REPO.into(),
            revision: "main".into(),
            name: None,
            variant: None,
            force: false,
            endpoint: self.hub.endpoint().to_string(),
            token: None,
            store: self.store.clone(),
            progress: ProgressMode::Quiet,
        }
    }

    pub fn source_bytes(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.source.path().join(rel)).expect("a source file")
    }

    /// Where the staging folder of `name` is.
    pub fn staging(&self, name: &str) -> PathBuf {
        self.store.root().join(".partial").join(name)
    }
}

/// Every file under `dir`, relative, with `/`.
pub fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("readable dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}
