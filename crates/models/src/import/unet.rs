//! The UNet: `model.diffusion_model.*` (LDM's `openaimodel.UNetModel`) to diffusers'
//! `UNet2DConditionModel`, as diffusers' `convert_ldm_unet_checkpoint` maps it. The structure
//! (channels, resnets per block, which blocks attend and how deep) is read off the tensors.
//!
//! LDM numbers the down path `input_blocks.1..` in runs of `layers_per_block` resnets
//! (`.0`, with an attention `.1` in attending blocks) followed by a downsampler (`.0.op`);
//! the up path `output_blocks.0..` in runs of `layers_per_block + 1` with the upsampler last
//! (`.1.conv`, or `.2.conv` after an attention).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::checkpoint::Checkpoint;
use super::component::Component;
use super::schema::Schema;
use super::tensor::whole;
use crate::error::{ModelError, Result};
use crate::family::Family;

pub const PREFIX: &str = "model.diffusion_model.";

/// What the tensors tell about the UNet.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub in_channels: usize,
    pub out_channels: usize,
    pub channels: Vec<usize>,
    pub layers_per_block: usize,
    /// Transformer depth per down block; 0 where the block does not attend.
    pub depth: Vec<usize>,
    /// The same for the up blocks (diffusers builds them mirrored: checked).
    pub up_depth: Vec<usize>,
    pub mid_depth: usize,
    pub cross_attention_dim: usize,
    pub linear_projection: bool,
    /// SDXL's add-embedding input width (`label_emb.0.0`).
    pub add_embedding_in: Option<usize>,
}

fn err(ckpt: &Checkpoint, msg: String) -> ModelError {
    ModelError::Import(format!("{}: UNet ({PREFIX}*): {msg}", ckpt.file_name()))
}

/// The indices `i` of `<PREFIX><group>.<i>.` present, which must be 0..n.
fn indices(ckpt: &Checkpoint, group: &str) -> Result<usize> {
    let prefix = format!("{PREFIX}{group}.");
    let mut seen = BTreeSet::new();
    for (rest, _) in ckpt.under(&prefix) {
        let i = rest.split('.').next().and_then(|s| s.parse::<usize>().ok());
        match i {
            Some(i) => seen.insert(i),
            None => return Err(err(ckpt, format!("unexpected tensor `{prefix}{rest}`"))),
        };
    }
    let n = seen.len();
    if seen.iter().copied().ne(0..n) {
        return Err(err(ckpt, format!("{group} are not numbered 0..{n}")));
    }
    Ok(n)
}

/// Transformer blocks under `<PREFIX><block>.transformer_blocks.*`; 0 when it has no attention.
fn depth(ckpt: &Checkpoint, block: &str) -> usize {
    let prefix = format!("{PREFIX}{block}.transformer_blocks.");
    ckpt.under(&prefix)
        .filter_map(|(rest, _)| rest.split('.').next()?.parse::<usize>().ok())
        .collect::<BTreeSet<_>>()
        .len()
}

impl Layout {
    pub fn read(ckpt: &Checkpoint) -> Result<Layout> {
        let dim = |rest: &str, axis| ckpt.dim(&format!("{PREFIX}{rest}"), axis);
        let n_in = indices(ckpt, "input_blocks")?;
        let n_out = indices(ckpt, "output_blocks")?;
        // The first downsampler ends the first block.
        let lpb = (1..n_in)
            .find(|i| {
                ckpt.get(&format!("{PREFIX}input_blocks.{i}.0.op.weight"))
                    .is_some()
            })
            .map_or(n_in.saturating_sub(1), |i| i - 1);
        let step = lpb + 1;
        let blocks = n_out / step;
        if lpb == 0 || blocks == 0 || n_out % step != 0 || n_in != blocks * step {
            return Err(err(
                ckpt,
                format!(
                    "{n_in} input blocks and {n_out} output blocks do not form a UNet with \
                     {lpb} resnets per level"
                ),
            ));
        }
        let mut channels = Vec::new();
        let mut down = Vec::new();
        for b in 0..blocks {
            let i = 1 + b * step;
            channels.push(dim(&format!("input_blocks.{i}.0.out_layers.3.weight"), 0)?);
            down.push(depth(ckpt, &format!("input_blocks.{i}.1")));
        }
        let up_depth: Vec<usize> = (0..blocks)
            .map(|u| depth(ckpt, &format!("output_blocks.{}.1", u * step)))
            .collect();
        let mid_depth = depth(ckpt, "middle_block.1");
        if mid_depth == 0 {
            return Err(err(ckpt, "the middle block has no attention".into()));
        }
        let mirrored: Vec<usize> = down.iter().rev().copied().collect();
        if up_depth != mirrored {
            return Err(err(
                ckpt,
                format!(
                    "up blocks attend with depths {up_depth:?}, not the mirror of the down \
                     blocks' {down:?}"
                ),
            ));
        }
        if down.last().is_some_and(|&d| d != 0 && d != mid_depth) {
            return Err(err(
                ckpt,
                format!(
                    "the middle block's depth {mid_depth} differs from the last block's {down:?}"
                ),
            ));
        }
        let proj_in = ckpt.shape(&format!("{PREFIX}middle_block.1.proj_in.weight"))?;
        let add_embedding_in = match ckpt.get(&format!("{PREFIX}label_emb.0.0.weight")) {
            Some(_) => Some(dim("label_emb.0.0.weight", 1)?),
            None => None,
        };
        let time = dim("time_embed.0.weight", 0)?;
        if time != 4 * channels[0] {
            return Err(err(
                ckpt,
                format!(
                    "time embedding width {time} is not 4 × {} (not an SD UNet)",
                    channels[0]
                ),
            ));
        }
        Ok(Layout {
            in_channels: dim("input_blocks.0.0.weight", 1)?,
            out_channels: dim("out.2.weight", 0)?,
            channels,
            layers_per_block: lpb,
            depth: down,
            up_depth,
            mid_depth,
            cross_attention_dim: dim("middle_block.1.transformer_blocks.0.attn2.to_k.weight", 1)?,
            linear_projection: proj_in.len() == 2,
            add_embedding_in,
        })
    }

    /// What diffusers calls `transformer_layers_per_block`: the down blocks' depths, with the
    /// value the middle block reads (the last) kept for a last block that does not attend,
    /// and 1 for the other blocks that do not.
    fn transformer_layers(&self) -> Vec<usize> {
        let last = self.depth.len() - 1;
        self.depth
            .iter()
            .enumerate()
            .map(|(b, &d)| match d {
                0 if b == last => self.mid_depth,
                0 => 1,
                d => d,
            })
            .collect()
    }

    fn schema(&self) -> Schema {
        let mut s = Schema::default();
        for layer in [
            "conv_in",
            "time_embedding.linear_1",
            "time_embedding.linear_2",
            "conv_norm_out",
            "conv_out",
        ] {
            s.layer(layer);
        }
        if self.add_embedding_in.is_some() {
            s.layer("add_embedding.linear_1");
            s.layer("add_embedding.linear_2");
        }
        let n = self.channels.len();
        for b in 0..n {
            for l in 0..self.layers_per_block {
                s.resnet(&format!("down_blocks.{b}.resnets.{l}"), true);
                if self.depth[b] > 0 {
                    s.transformer(&format!("down_blocks.{b}.attentions.{l}"), self.depth[b]);
                }
            }
            if b + 1 < n {
                s.layer(&format!("down_blocks.{b}.downsamplers.0.conv"));
            }
        }
        s.resnet("mid_block.resnets.0", true);
        s.transformer("mid_block.attentions.0", self.mid_depth);
        s.resnet("mid_block.resnets.1", true);
        for u in 0..n {
            for l in 0..=self.layers_per_block {
                s.resnet(&format!("up_blocks.{u}.resnets.{l}"), true);
                if self.up_depth[u] > 0 {
                    s.transformer(&format!("up_blocks.{u}.attentions.{l}"), self.up_depth[u]);
                }
            }
            if u + 1 < n {
                s.layer(&format!("up_blocks.{u}.upsamplers.0.conv"));
            }
        }
        s
    }

    /// diffusers' `attention_head_dim` (which is really the head count in these configs):
    /// SD 1.x has 8 heads everywhere; SD 2.x and SDXL have 64-wide heads.
    fn heads(&self, family: Family, ckpt: &Checkpoint) -> Result<Value> {
        if family == Family::Sd1 {
            return Ok(json!(8));
        }
        let mut heads = Vec::new();
        for (b, &c) in self.channels.iter().enumerate() {
            let attends = self.depth[b] > 0 || b + 1 == self.channels.len();
            if attends && c % 64 != 0 {
                return Err(err(
                    ckpt,
                    format!("{family} attention needs 64-wide heads, but a block has {c} channels"),
                ));
            }
            heads.push((c / 64).max(1));
        }
        Ok(json!(heads))
    }
}

/// A resnet's parts, LDM name → diffusers name.
fn resnet_part(sub: &str) -> Option<String> {
    const PARTS: [(&str, &str); 6] = [
        ("in_layers.0.", "norm1."),
        ("in_layers.2.", "conv1."),
        ("emb_layers.1.", "time_emb_proj."),
        ("out_layers.0.", "norm2."),
        ("out_layers.3.", "conv2."),
        ("skip_connection.", "conv_shortcut."),
    ];
    PARTS
        .iter()
        .find_map(|(ldm, ours)| sub.strip_prefix(ldm).map(|rest| format!("{ours}{rest}")))
}

/// The diffusers name of a UNet tensor (without the prefix); None if it has none.
pub fn map_key(rest: &str, lpb: usize) -> Option<String> {
    const TOP: [(&str, &str); 7] = [
        ("time_embed.0.", "time_embedding.linear_1."),
        ("time_embed.2.", "time_embedding.linear_2."),
        ("label_emb.0.0.", "add_embedding.linear_1."),
        ("label_emb.0.2.", "add_embedding.linear_2."),
        ("input_blocks.0.0.", "conv_in."),
        ("out.0.", "conv_norm_out."),
        ("out.2.", "conv_out."),
    ];
    if let Some(name) = TOP
        .iter()
        .find_map(|(ldm, ours)| rest.strip_prefix(ldm).map(|p| format!("{ours}{p}")))
    {
        return Some(name);
    }
    let mut parts = rest.splitn(4, '.');
    let (group, index, slot, sub) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let step = lpb + 1;
    match group {
        "input_blocks" => {
            let i = index.parse::<usize>().ok()?.checked_sub(1)?;
            let (b, l) = (i / step, i % step);
            match slot {
                "0" if l == lpb => sub
                    .strip_prefix("op.")
                    .map(|p| format!("down_blocks.{b}.downsamplers.0.conv.{p}")),
                "0" => resnet_part(sub).map(|p| format!("down_blocks.{b}.resnets.{l}.{p}")),
                "1" if l < lpb => Some(format!("down_blocks.{b}.attentions.{l}.{sub}")),
                _ => None,
            }
        }
        "middle_block" => {
            match (index, slot) {
                ("0", _) => resnet_part(&format!("{slot}.{sub}"))
                    .map(|p| format!("mid_block.resnets.0.{p}")),
                ("1", _) => Some(format!("mid_block.attentions.0.{slot}.{sub}")),
                ("2", _) => resnet_part(&format!("{slot}.{sub}"))
                    .map(|p| format!("mid_block.resnets.1.{p}")),
                _ => None,
            }
        }
        "output_blocks" => {
            let i = index.parse::<usize>().ok()?;
            let (b, l) = (i / step, i % step);
            let upsampler = || {
                sub.strip_prefix("conv.")
                    .filter(|_| l == lpb)
                    .map(|p| format!("up_blocks.{b}.upsamplers.0.conv.{p}"))
            };
            match slot {
                "0" => resnet_part(sub).map(|p| format!("up_blocks.{b}.resnets.{l}.{p}")),
                "1" if sub.starts_with("conv.") => upsampler(),
                "1" => Some(format!("up_blocks.{b}.attentions.{l}.{sub}")),
                "2" => upsampler(),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Maps the UNet's tensors and writes its config from the family's published one.
pub fn convert(
    ckpt: &Checkpoint,
    family: Family,
    published: Value,
    text_projection_dim: Option<usize>,
) -> Result<(Component, Layout)> {
    let layout = Layout::read(ckpt)?;
    if layout.in_channels != layout.out_channels {
        return Err(err(
            ckpt,
            format!(
                "it takes {} input channels and predicts {}: an inpainting, instruct-pix2pix or \
                 upscaler model; only text-to-image checkpoints can be imported",
                layout.in_channels, layout.out_channels
            ),
        ));
    }
    let mut tensors = Vec::new();
    let mut unknown = Vec::new();
    let mut claimed = Vec::new();
    for (rest, _) in ckpt.under(PREFIX) {
        let key = format!("{PREFIX}{rest}");
        match map_key(rest, layout.layers_per_block) {
            Some(name) => tensors.push(whole(ckpt, &key, name)?),
            None => unknown.push(key.clone()),
        }
        claimed.push(key);
    }
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(String::as_str).collect();
        return Err(err(
            ckpt,
            format!(
                "{} tensor(s) with no place in a UNet: {}",
                names.len(),
                super::schema::few(&names)
            ),
        ));
    }
    layout
        .schema()
        .check(&format!("UNet ({PREFIX}*)"), &ckpt.file_name(), &tensors)?;
    let config = config(&layout, family, published, text_projection_dim, ckpt)?;
    Ok((
        Component::new(
            "unet",
            "diffusion_pytorch_model.safetensors",
            config,
            tensors,
            claimed,
        ),
        layout,
    ))
}

fn block_types(layout: &Layout) -> (Vec<&'static str>, Vec<&'static str>) {
    let down = layout
        .depth
        .iter()
        .map(|&d| {
            if d > 0 {
                "CrossAttnDownBlock2D"
            } else {
                "DownBlock2D"
            }
        })
        .collect();
    let up = layout
        .up_depth
        .iter()
        .map(|&d| {
            if d > 0 {
                "CrossAttnUpBlock2D"
            } else {
                "UpBlock2D"
            }
        })
        .collect();
    (down, up)
}

fn config(
    layout: &Layout,
    family: Family,
    mut config: Value,
    text_projection_dim: Option<usize>,
    ckpt: &Checkpoint,
) -> Result<Value> {
    let (down, up) = block_types(layout);
    let layers = layout.transformer_layers();
    let c = &mut config;
    c["in_channels"] = json!(layout.in_channels);
    c["out_channels"] = json!(layout.out_channels);
    c["block_out_channels"] = json!(layout.channels);
    c["layers_per_block"] = json!(layout.layers_per_block);
    c["down_block_types"] = json!(down);
    c["up_block_types"] = json!(up);
    c["cross_attention_dim"] = json!(layout.cross_attention_dim);
    c["attention_head_dim"] = layout.heads(family, ckpt)?;
    c["use_linear_projection"] = json!(layout.linear_projection);
    if family == Family::Sdxl || layers.iter().any(|&d| d != 1) {
        c["transformer_layers_per_block"] = json!(layers);
    }
    if family == Family::Sdxl {
        let add_in = layout
            .add_embedding_in
            .ok_or_else(|| err(ckpt, "SDXL without `label_emb` (add embedding)".into()))?;
        let pooled = text_projection_dim.unwrap_or(0);
        // The add embedding reads the pooled text projection and six time ids of
        // `addition_time_embed_dim` each (1280 + 6 × 256 = 2816 in SDXL).
        if add_in <= pooled || !(add_in - pooled).is_multiple_of(6) {
            return Err(err(
                ckpt,
                format!(
                    "add embedding input {add_in} is not the pooled width {pooled} plus six \
                     time ids"
                ),
            ));
        }
        c["projection_class_embeddings_input_dim"] = json!(add_in);
        c["addition_time_embed_dim"] = json!((add_in - pooled) / 6);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_like_diffusers() {
        let cases = [
            ("time_embed.0.weight", "time_embedding.linear_1.weight"),
            ("input_blocks.0.0.bias", "conv_in.bias"),
            (
                "input_blocks.1.0.in_layers.0.weight",
                "down_blocks.0.resnets.0.norm1.weight",
            ),
            (
                "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight",
                "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight",
            ),
            (
                "input_blocks.3.0.op.weight",
                "down_blocks.0.downsamplers.0.conv.weight",
            ),
            (
                "input_blocks.4.0.skip_connection.bias",
                "down_blocks.1.resnets.0.conv_shortcut.bias",
            ),
            (
                "middle_block.0.emb_layers.1.weight",
                "mid_block.resnets.0.time_emb_proj.weight",
            ),
            (
                "middle_block.1.proj_out.bias",
                "mid_block.attentions.0.proj_out.bias",
            ),
            (
                "middle_block.2.out_layers.3.weight",
                "mid_block.resnets.1.conv2.weight",
            ),
            (
                "output_blocks.2.1.conv.weight",
                "up_blocks.0.upsamplers.0.conv.weight",
            ),
            (
                "output_blocks.5.2.conv.bias",
                "up_blocks.1.upsamplers.0.conv.bias",
            ),
            (
                "output_blocks.5.1.norm.weight",
                "up_blocks.1.attentions.2.norm.weight",
            ),
            (
                "output_blocks.11.0.out_layers.0.bias",
                "up_blocks.3.resnets.2.norm2.bias",
            ),
            ("label_emb.0.2.weight", "add_embedding.linear_2.weight"),
            ("out.2.weight", "conv_out.weight"),
        ];
        for (ldm, ours) in cases {
            assert_eq!(map_key(ldm, 2).as_deref(), Some(ours), "{ldm}");
        }
        for bad in [
            "input_blocks.1.0.op.weight",
            "input_blocks.3.0.in_layers.0.weight",
            "input_blocks.3.1.norm.weight",
            "output_blocks.1.1.conv.weight",
            "middle_block.3.in_layers.0.weight",
            "input_blocks.1.0.foo.weight",
            "something.else",
        ] {
            assert_eq!(map_key(bad, 2), None, "{bad}");
        }
    }
}
