//! Writes a tiny random-weight Stable Diffusion (SD 1.x layout) from pure Rust, for demos and
//! tests on machines without real weights. Its images are structured noise: the weights are
//! random, only the architecture and the file layout are real.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use crate::clip::ClipTextModel;
use crate::config::{ClipConfig, UNetConfig, VaeConfig};
use crate::error::{DiffusionError, Result, io_err};
use crate::tokenizer::{BOS, EOS};
use crate::unet::UNet;
use crate::vae::Vae;
use crate::weights::{Weights, write_safetensors};

/// A few BPE merges so ordinary words tokenize to fewer pieces than letters.
const MERGES: &[(&str, &str)] = &[
    ("t", "h"),
    ("th", "e</w>"),
    ("a", "n"),
    ("i", "n"),
    ("e", "r"),
    ("o", "n"),
    ("r", "e"),
    ("a", "t"),
    ("e", "n"),
    ("o", "r"),
];

/// GPT-2/CLIP byte-to-printable-character table, in vocabulary order.
pub(crate) fn bytes_to_unicode() -> Vec<char> {
    let mut bs: Vec<u32> = (u32::from('!')..=u32::from('~'))
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    cs.into_iter().filter_map(char::from_u32).collect()
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| DiffusionError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    std::fs::write(path, text).map_err(|e| io_err(path, "output", e))
}

fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| io_err(path, "output directory", e))
}

fn parse<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T> {
    serde_json::from_value(v.clone()).map_err(|e| DiffusionError::Config {
        path: "tiny model".into(),
        message: e.to_string(),
    })
}

/// Writes the tokenizer files; returns (vocab size, bos id, eos id).
fn write_tokenizer(dir: &Path) -> Result<(i64, i64, i64)> {
    mkdir(dir)?;
    let chars = bytes_to_unicode();
    let mut vocab: BTreeMap<String, i64> = BTreeMap::new();
    let mut next = 0i64;
    let mut add = |tok: String, vocab: &mut BTreeMap<String, i64>| {
        vocab.insert(tok, next);
        next += 1;
    };
    for c in &chars {
        add(c.to_string(), &mut vocab);
    }
    for c in &chars {
        add(format!("{c}</w>"), &mut vocab);
    }
    for (a, b) in MERGES {
        add(format!("{a}{b}"), &mut vocab);
    }
    add(BOS.to_string(), &mut vocab);
    add(EOS.to_string(), &mut vocab);
    let (bos, eos) = (vocab[BOS], vocab[EOS]);
    write_json(&dir.join("vocab.json"), &json!(vocab))?;
    let mut merges = String::from("#version: 0.2\n");
    for (a, b) in MERGES {
        merges.push_str(&format!("{a} {b}\n"));
    }
    std::fs::write(dir.join("merges.txt"), merges)
        .map_err(|e| io_err(&dir.join("merges.txt"), "output", e))?;
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": 77,
            "bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS,
            "do_lower_case": true
        }),
    )?;
    write_json(
        &dir.join("special_tokens_map.json"),
        &json!({ "bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS }),
    )?;
    Ok((next, bos, eos))
}

/// Writes a tiny SD 1.x-style model (UNet channels 32/64, 4-level VAE with 16–32 channels,
/// 2-layer CLIP of width 32) in the diffusers layout under `dir`, with weights drawn from
/// `seed`. A 256×256 generation takes well under a second per step on a laptop CPU.
/// The images it makes are noise-like: use it for demos and tests, not for pictures.
pub fn init_tiny_model(dir: &Path, seed: u64) -> Result<()> {
    mkdir(dir)?;
    let _rng = crate::pipeline::RNG_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tch::manual_seed(seed as i64);
    let _g = tch::no_grad_guard();

    let (vocab_size, bos, eos) = write_tokenizer(&dir.join("tokenizer"))?;

    let clip = json!({
        "architectures": ["CLIPTextModel"], "model_type": "clip_text_model",
        "vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 77,
        "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": 32,
        "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": eos,
        "attention_dropout": 0.0, "dropout": 0.0, "initializer_factor": 1.0,
        "initializer_range": 0.02, "torch_dtype": "float32"
    });
    let clip_cfg: ClipConfig = parse(&clip)?;
    let te = dir.join("text_encoder");
    mkdir(&te)?;
    write_json(&te.join("config.json"), &clip)?;
    let w = Weights::random("text_encoder");
    ClipTextModel::load(&w.root(), &clip_cfg)?;
    write_safetensors(&te.join("model.safetensors"), &w.recorded())?;

    let unet = json!({
        "_class_name": "UNet2DConditionModel",
        "sample_size": 32, "in_channels": 4, "out_channels": 4,
        "block_out_channels": [32, 64], "layers_per_block": 1,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "cross_attention_dim": 32, "attention_head_dim": 4, "norm_num_groups": 16,
        "norm_eps": 1e-5, "flip_sin_to_cos": true, "freq_shift": 0, "act_fn": "silu",
        "use_linear_projection": false, "center_input_sample": false,
        "downsample_padding": 1
    });
    let unet_cfg: UNetConfig = parse(&unet)?;
    let ud = dir.join("unet");
    mkdir(&ud)?;
    write_json(&ud.join("config.json"), &unet)?;
    let w = Weights::random("unet");
    UNet::load(&w.root(), &unet_cfg)?;
    write_safetensors(
        &ud.join("diffusion_pytorch_model.safetensors"),
        &w.recorded(),
    )?;

    let vae = json!({
        "_class_name": "AutoencoderKL",
        "in_channels": 3, "out_channels": 3, "latent_channels": 4,
        "block_out_channels": [16, 16, 32, 32], "layers_per_block": 1,
        "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
        "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
        "norm_num_groups": 8, "act_fn": "silu", "sample_size": 256,
        "scaling_factor": 0.18215, "force_upcast": true
    });
    let vae_cfg: VaeConfig = parse(&vae)?;
    let vd = dir.join("vae");
    mkdir(&vd)?;
    write_json(&vd.join("config.json"), &vae)?;
    let w = Weights::random("vae");
    Vae::load(&w.root(), &vae_cfg)?;
    write_safetensors(
        &vd.join("diffusion_pytorch_model.safetensors"),
        &w.recorded(),
    )?;

    let sd = dir.join("scheduler");
    mkdir(&sd)?;
    write_json(
        &sd.join("scheduler_config.json"),
        &json!({
            "_class_name": "DDIMScheduler", "num_train_timesteps": 1000,
            "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
            "prediction_type": "epsilon", "timestep_spacing": "leading", "steps_offset": 1,
            "set_alpha_to_one": false, "clip_sample": false
        }),
    )?;
    write_json(
        &dir.join("model_index.json"),
        &json!({
            "_class_name": "StableDiffusionPipeline",
            "feature_extractor": [null, null],
            "image_encoder": [null, null],
            "requires_safety_checker": false,
            "safety_checker": [null, null],
            "scheduler": ["diffusers", "DDIMScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"]
        }),
    )?;
    write_json(
        &dir.join("README.json"),
        &json!({
            "note": "tiny random-weight model written by pressroom; produces noise-like images",
            "seed": seed
        }),
    )?;
    tracing::info!(dir = %dir.display(), seed, "wrote tiny random model");
    Ok(())
}
