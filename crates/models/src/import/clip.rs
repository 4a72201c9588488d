//! The text encoders, as diffusers' `convert_ldm_clip_checkpoint` and
//! `convert_open_clip_checkpoint` map them:
//! - OpenAI CLIP ViT-L (SD 1.x `cond_stage_model.transformer.*`, SDXL's first
//!   `conditioner.embedders.0.transformer.*`) is stored in transformers' own layout: only the
//!   prefix goes.
//! - OpenCLIP (SD 2.x `cond_stage_model.model.*`, SDXL's second
//!   `conditioner.embedders.1.model.*`) is renamed (`resblocks`, `ln_1`, `c_fc`, …), its fused
//!   `in_proj` split into q/k/v, and `text_projection` (`x @ P`) becomes a linear weight `Pᵀ`.
//!   SD 2.x conditions on the penultimate block's output, so diffusers' SD 2 encoder has 23
//!   of OpenCLIP ViT-H's 24 blocks and no projection: the last block is dropped here too.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::checkpoint::Checkpoint;
use super::component::Component;
use super::schema::{Schema, few};
use super::tensor::{Out, rows, transposed, whole};
use crate::error::{ModelError, Result};

/// Keys that are buffers, not weights (`position_ids` is `arange`; some merges even store it
/// wrong, and transformers does not save it).
const CLIP_BUFFERS: [&str; 2] = [
    "text_model.embeddings.position_ids",
    "embeddings.position_ids",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub layers: usize,
    pub positions: usize,
    /// Width of the projection (SDXL's second encoder).
    pub projection_dim: Option<usize>,
}

fn err(ckpt: &Checkpoint, prefix: &str, msg: String) -> ModelError {
    ModelError::Import(format!(
        "{}: text encoder ({prefix}*): {msg}",
        ckpt.file_name()
    ))
}

fn not_there(ckpt: &Checkpoint, prefix: &str) -> ModelError {
    err(
        ckpt,
        prefix,
        "no text encoder there; only full checkpoints (UNet, VAE and text encoders) can be \
         imported"
            .into(),
    )
}

fn layers_under(ckpt: &Checkpoint, prefix: &str) -> BTreeSet<usize> {
    ckpt.under(prefix)
        .filter_map(|(rest, _)| rest.split('.').next()?.parse::<usize>().ok())
        .collect()
}

impl Layout {
    fn schema(&self) -> Schema {
        let mut s = Schema::default();
        s.weight("text_model.embeddings.token_embedding.weight");
        s.weight("text_model.embeddings.position_embedding.weight");
        s.layer("text_model.final_layer_norm");
        for i in 0..self.layers {
            let l = format!("text_model.encoder.layers.{i}");
            for layer in [
                "layer_norm1",
                "layer_norm2",
                "self_attn.q_proj",
                "self_attn.k_proj",
                "self_attn.v_proj",
                "self_attn.out_proj",
                "mlp.fc1",
                "mlp.fc2",
            ] {
                s.layer(&format!("{l}.{layer}"));
            }
        }
        if self.projection_dim.is_some() {
            s.weight("text_projection.weight");
        }
        s
    }

    /// The published config with what the shapes say. Heads are 64 wide in every CLIP text
    /// encoder SD uses (ViT-L 768/12, ViT-H 1024/16, ViT-bigG 1280/20).
    fn config(&self, mut config: Value, dtype: &str) -> Result<Value, String> {
        if !self.hidden_size.is_multiple_of(64) {
            return Err(format!(
                "hidden size {} is not a multiple of the 64-wide attention heads",
                self.hidden_size
            ));
        }
        let c = &mut config;
        c["vocab_size"] = json!(self.vocab_size);
        c["hidden_size"] = json!(self.hidden_size);
        c["intermediate_size"] = json!(self.intermediate_size);
        c["num_hidden_layers"] = json!(self.layers);
        c["num_attention_heads"] = json!(self.hidden_size / 64);
        c["max_position_embeddings"] = json!(self.positions);
        if let Some(p) = self.projection_dim {
            c["projection_dim"] = json!(p);
        }
        c["torch_dtype"] = json!(dtype);
        Ok(config)
    }
}

fn finish(
    ckpt: &Checkpoint,
    prefix: &str,
    dir: &'static str,
    layout: Layout,
    tensors: Vec<Out>,
    claimed: Vec<String>,
    published: Value,
) -> Result<(Component, Layout)> {
    layout.schema().check(
        &format!("text encoder ({prefix}*)"),
        &ckpt.file_name(),
        &tensors,
    )?;
    let dtype = tensors
        .iter()
        .find(|t| t.name == "text_model.embeddings.token_embedding.weight")
        .map_or("float32", |t| torch_dtype(t.dtype));
    let config = layout
        .config(published, dtype)
        .map_err(|m| err(ckpt, prefix, m))?;
    Ok((
        Component::new(dir, "model.safetensors", config, tensors, claimed),
        layout,
    ))
}

fn torch_dtype(dtype: safetensors::Dtype) -> &'static str {
    match dtype {
        safetensors::Dtype::F16 => "float16",
        safetensors::Dtype::BF16 => "bfloat16",
        safetensors::Dtype::F64 => "float64",
        _ => "float32",
    }
}

/// OpenAI CLIP in transformers' layout under `prefix` (with or without `text_model.`).
pub fn clip(
    ckpt: &Checkpoint,
    prefix: &str,
    dir: &'static str,
    published: Value,
) -> Result<(Component, Layout)> {
    if !ckpt.has_prefix(prefix) {
        return Err(not_there(ckpt, prefix));
    }
    let mut tensors = Vec::new();
    let mut unknown = Vec::new();
    let mut claimed = Vec::new();
    for (rest, _) in ckpt.under(prefix) {
        let key = format!("{prefix}{rest}");
        claimed.push(key.clone());
        if CLIP_BUFFERS.contains(&rest) {
            continue;
        }
        let name = if rest.starts_with("text_model.") {
            rest.to_string()
        } else if ["embeddings.", "encoder.", "final_layer_norm."]
            .iter()
            .any(|p| rest.starts_with(p))
        {
            format!("text_model.{rest}")
        } else {
            unknown.push(key);
            continue;
        };
        tensors.push(whole(ckpt, &key, name)?);
    }
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(String::as_str).collect();
        return Err(err(
            ckpt,
            prefix,
            format!("{} unknown tensor(s): {}", names.len(), few(&names)),
        ));
    }
    let dim = |name: &str, axis: usize| -> Result<usize> {
        let t = tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| err(ckpt, prefix, format!("`{name}` is missing")))?;
        ckpt.dim(&t.from, axis)
    };
    let layers = tensors
        .iter()
        .filter_map(|t| {
            let rest = t.name.strip_prefix("text_model.encoder.layers.")?;
            rest.split('.').next()?.parse::<usize>().ok()
        })
        .collect::<BTreeSet<_>>()
        .len();
    let layout = Layout {
        vocab_size: dim("text_model.embeddings.token_embedding.weight", 0)?,
        hidden_size: dim("text_model.embeddings.token_embedding.weight", 1)?,
        intermediate_size: dim("text_model.encoder.layers.0.mlp.fc1.weight", 0)?,
        layers,
        positions: dim("text_model.embeddings.position_embedding.weight", 0)?,
        projection_dim: None,
    };
    finish(ckpt, prefix, dir, layout, tensors, claimed, published)
}

/// How an OpenCLIP encoder is imported.
#[derive(Clone, Copy, Debug)]
pub enum OpenClip {
    /// SD 2.x: without the last block and the projection.
    Penultimate,
    /// SDXL's second encoder: every block, and the projection.
    WithProjection,
}

/// OpenCLIP's layout under `prefix` (`…model.`).
pub fn open_clip(
    ckpt: &Checkpoint,
    prefix: &str,
    dir: &'static str,
    mode: OpenClip,
    published: Value,
) -> Result<(Component, Layout)> {
    if !ckpt.has_prefix(prefix) {
        return Err(not_there(ckpt, prefix));
    }
    let blocks = layers_under(ckpt, &format!("{prefix}transformer.resblocks."));
    let n = blocks.len();
    if blocks.iter().copied().ne(0..n) || n < 2 {
        return Err(err(
            ckpt,
            prefix,
            format!("transformer.resblocks are {blocks:?}, expected 0..n"),
        ));
    }
    let keep = match mode {
        OpenClip::Penultimate => n - 1,
        OpenClip::WithProjection => n,
    };
    let mut tensors = Vec::new();
    let mut unknown = Vec::new();
    let mut claimed = Vec::new();
    let mut projection_dim = None;
    for (rest, info) in ckpt.under(prefix) {
        let key = format!("{prefix}{rest}");
        claimed.push(key.clone());
        let simple = match rest {
            "token_embedding.weight" => Some("text_model.embeddings.token_embedding.weight"),
            "positional_embedding" => Some("text_model.embeddings.position_embedding.weight"),
            "ln_final.weight" => Some("text_model.final_layer_norm.weight"),
            "ln_final.bias" => Some("text_model.final_layer_norm.bias"),
            _ => None,
        };
        if let Some(name) = simple {
            tensors.push(whole(ckpt, &key, name.to_string())?);
            continue;
        }
        match rest {
            // CLIP's contrastive temperature and causal mask buffer: not used for encoding.
            "logit_scale" | "attn_mask" => continue,
            "text_projection" => {
                if let OpenClip::WithProjection = mode {
                    projection_dim = info.shape.get(1).copied();
                    tensors.push(transposed(ckpt, &key, "text_projection.weight".into())?);
                }
                continue;
            }
            _ => {}
        }
        let Some((i, sub)) = rest
            .strip_prefix("transformer.resblocks.")
            .and_then(|r| r.split_once('.'))
            .and_then(|(i, sub)| Some((i.parse::<usize>().ok()?, sub)))
        else {
            unknown.push(key);
            continue;
        };
        if i >= keep {
            continue;
        }
        let layer = format!("text_model.encoder.layers.{i}");
        if let Some(param) = sub.strip_prefix("attn.in_proj_") {
            for (index, p) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
                let name = format!("{layer}.self_attn.{p}.{param}");
                tensors.push(rows(ckpt, &key, name, index, 3)?);
            }
            continue;
        }
        const PARTS: [(&str, &str); 5] = [
            ("ln_1.", "layer_norm1."),
            ("ln_2.", "layer_norm2."),
            ("attn.out_proj.", "self_attn.out_proj."),
            ("mlp.c_fc.", "mlp.fc1."),
            ("mlp.c_proj.", "mlp.fc2."),
        ];
        match PARTS
            .iter()
            .find_map(|(theirs, ours)| sub.strip_prefix(theirs).map(|p| format!("{ours}{p}")))
        {
            Some(part) => tensors.push(whole(ckpt, &key, format!("{layer}.{part}"))?),
            None => unknown.push(key),
        }
    }
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(String::as_str).collect();
        return Err(err(
            ckpt,
            prefix,
            format!("{} unknown tensor(s): {}", names.len(), few(&names)),
        ));
    }
    if let OpenClip::WithProjection = mode
        && projection_dim.is_none()
    {
        return Err(err(ckpt, prefix, "`text_projection` is missing".into()));
    }
    let dim = |rest: &str, axis| ckpt.dim(&format!("{prefix}{rest}"), axis);
    let layout = Layout {
        vocab_size: dim("token_embedding.weight", 0)?,
        hidden_size: dim("token_embedding.weight", 1)?,
        intermediate_size: dim("transformer.resblocks.0.mlp.c_fc.weight", 0)?,
        layers: keep,
        positions: dim("positional_embedding", 0)?,
        projection_dim,
    };
    finish(ckpt, prefix, dir, layout, tensors, claimed, published)
}
