//! The VAE: `first_stage_model.*` (LDM's AutoencoderKL) to diffusers' `AutoencoderKL`, as
//! diffusers' `convert_ldm_vae_checkpoint` maps it: the decoder's `up.{i}` run in reverse
//! order (`up_blocks.{n-1-i}`), `nin_shortcut` is `conv_shortcut`, and the mid attention's
//! q/k/v/proj_out, stored as 1×1 convolutions, become linear weights (the same bytes).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::checkpoint::Checkpoint;
use super::component::Component;
use super::schema::{Schema, few};
use super::tensor::{Out, reshaped, whole};
use crate::error::{ModelError, Result};

/// Where LDM checkpoints keep the VAE (diffusers' `LDM_VAE_KEYS`).
const PREFIXES: [&str; 2] = ["first_stage_model.", "vae."];

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub in_channels: usize,
    pub out_channels: usize,
    pub latent_channels: usize,
    pub channels: Vec<usize>,
    pub layers_per_block: usize,
}

/// Distinct `i` of `<prefix><group>.<i>.`.
fn count(ckpt: &Checkpoint, prefix: &str) -> usize {
    ckpt.under(prefix)
        .filter_map(|(rest, _)| rest.split('.').next()?.parse::<usize>().ok())
        .collect::<BTreeSet<_>>()
        .len()
}

fn resnet_part(sub: &str) -> String {
    match sub.strip_prefix("nin_shortcut.") {
        Some(p) => format!("conv_shortcut.{p}"),
        None => sub.to_string(),
    }
}

/// The diffusers name of a VAE tensor (prefix removed), and whether it is one of the
/// attention's convolution weights to flatten.
pub fn map_key(rest: &str, levels: usize) -> Option<(String, bool)> {
    let (half, tail) = rest.split_once('.')?;
    if !matches!(half, "encoder" | "decoder") {
        return match rest {
            "quant_conv.weight"
            | "quant_conv.bias"
            | "post_quant_conv.weight"
            | "post_quant_conv.bias" => Some((rest.to_string(), false)),
            _ => None,
        };
    }
    let name = |s: String| Some((format!("{half}.{s}"), false));
    if let Some(p) = tail.strip_prefix("norm_out.") {
        return name(format!("conv_norm_out.{p}"));
    }
    if tail.starts_with("conv_in.") || tail.starts_with("conv_out.") {
        return name(tail.to_string());
    }
    if let Some(mid) = tail.strip_prefix("mid.") {
        if let Some(p) = mid.strip_prefix("block_1.") {
            return name(format!("mid_block.resnets.0.{p}"));
        }
        if let Some(p) = mid.strip_prefix("block_2.") {
            return name(format!("mid_block.resnets.1.{p}"));
        }
        let (part, param) = mid.strip_prefix("attn_1.")?.split_once('.')?;
        let ours = match part {
            "norm" => "group_norm",
            "q" => "to_q",
            "k" => "to_k",
            "v" => "to_v",
            "proj_out" => "to_out.0",
            _ => return None,
        };
        let flatten = part != "norm" && param == "weight";
        return Some((
            format!("{half}.mid_block.attentions.0.{ours}.{param}"),
            flatten,
        ));
    }
    let (dir, ours, sampler) = match half {
        "encoder" => ("down.", "down_blocks", "downsample.conv."),
        _ => ("up.", "up_blocks", "upsample.conv."),
    };
    let (i, sub) = tail.strip_prefix(dir)?.split_once('.')?;
    let i: usize = i.parse().ok()?;
    let b = if half == "decoder" {
        levels.checked_sub(i + 1)?
    } else {
        i
    };
    if let Some(p) = sub.strip_prefix(sampler) {
        let which = if half == "encoder" {
            "downsamplers"
        } else {
            "upsamplers"
        };
        return name(format!("{ours}.{b}.{which}.0.conv.{p}"));
    }
    let (j, part) = sub.strip_prefix("block.")?.split_once('.')?;
    let j: usize = j.parse().ok()?;
    name(format!("{ours}.{b}.resnets.{j}.{}", resnet_part(part)))
}

impl Layout {
    fn read(ckpt: &Checkpoint, prefix: &str) -> Result<Layout> {
        let dim = |rest: &str, axis| ckpt.dim(&format!("{prefix}{rest}"), axis);
        let levels = count(ckpt, &format!("{prefix}encoder.down."));
        let up = count(ckpt, &format!("{prefix}decoder.up."));
        if levels == 0 || levels != up {
            return Err(ModelError::Import(format!(
                "{}: VAE ({prefix}*): {levels} encoder levels but {up} decoder levels",
                ckpt.file_name()
            )));
        }
        let mut channels = Vec::new();
        for i in 0..levels {
            channels.push(dim(&format!("encoder.down.{i}.block.0.conv1.weight"), 0)?);
        }
        Ok(Layout {
            in_channels: dim("encoder.conv_in.weight", 1)?,
            out_channels: dim("decoder.conv_out.weight", 0)?,
            latent_channels: dim("decoder.conv_in.weight", 1)?,
            channels,
            layers_per_block: count(ckpt, &format!("{prefix}encoder.down.0.block.")),
        })
    }

    fn schema(&self) -> Schema {
        let mut s = Schema::default();
        let n = self.channels.len();
        for layer in ["quant_conv", "post_quant_conv"] {
            s.layer(layer);
        }
        for half in ["encoder", "decoder"] {
            for layer in ["conv_in", "conv_norm_out", "conv_out"] {
                s.layer(&format!("{half}.{layer}"));
            }
            s.resnet(&format!("{half}.mid_block.resnets.0"), false);
            s.resnet(&format!("{half}.mid_block.resnets.1"), false);
            s.vae_attention(&format!("{half}.mid_block.attentions.0"));
        }
        for i in 0..n {
            for j in 0..self.layers_per_block {
                s.resnet(&format!("encoder.down_blocks.{i}.resnets.{j}"), false);
            }
            for j in 0..=self.layers_per_block {
                s.resnet(&format!("decoder.up_blocks.{i}.resnets.{j}"), false);
            }
            if i + 1 < n {
                s.layer(&format!("encoder.down_blocks.{i}.downsamplers.0.conv"));
                s.layer(&format!("decoder.up_blocks.{i}.upsamplers.0.conv"));
            }
        }
        s
    }
}

/// Maps the VAE's tensors and writes its config from the family's published one.
pub fn convert(ckpt: &Checkpoint, mut config: Value) -> Result<(Component, Layout)> {
    let Some(prefix) = PREFIXES.into_iter().find(|p| ckpt.has_prefix(p)) else {
        return Err(ModelError::Import(format!(
            "{}: no VAE (first_stage_model.*) in the checkpoint; only full checkpoints \
             (UNet, VAE and text encoder) can be imported",
            ckpt.file_name()
        )));
    };
    let layout = Layout::read(ckpt, prefix)?;
    let levels = layout.channels.len();
    let mut tensors: Vec<Out> = Vec::new();
    let mut unknown = Vec::new();
    let mut claimed = Vec::new();
    for (rest, info) in ckpt.under(prefix) {
        let key = format!("{prefix}{rest}");
        match map_key(rest, levels) {
            Some((name, true)) => {
                // [out, in, 1, 1] (or [out, in, 1]) → [out, in].
                let shape = info
                    .shape
                    .get(..2)
                    .map(<[usize]>::to_vec)
                    .unwrap_or_default();
                tensors.push(reshaped(ckpt, &key, name, shape)?);
            }
            Some((name, false)) => tensors.push(whole(ckpt, &key, name)?),
            None => unknown.push(key.clone()),
        }
        claimed.push(key);
    }
    let what = format!("VAE ({prefix}*)");
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(String::as_str).collect();
        return Err(ModelError::Import(format!(
            "{}: {} tensor(s) with no place in the {what}: {}",
            ckpt.file_name(),
            names.len(),
            few(&names)
        )));
    }
    layout.schema().check(&what, &ckpt.file_name(), &tensors)?;
    let c = &mut config;
    let n = layout.channels.len();
    c["in_channels"] = json!(layout.in_channels);
    c["out_channels"] = json!(layout.out_channels);
    c["latent_channels"] = json!(layout.latent_channels);
    c["block_out_channels"] = json!(layout.channels);
    c["layers_per_block"] = json!(layout.layers_per_block);
    c["down_block_types"] = json!(vec!["DownEncoderBlock2D"; n]);
    c["up_block_types"] = json!(vec!["UpDecoderBlock2D"; n]);
    Ok((
        Component::new(
            "vae",
            "diffusion_pytorch_model.safetensors",
            config,
            tensors,
            claimed,
        ),
        layout,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_like_diffusers() {
        let cases = [
            (
                "encoder.norm_out.weight",
                "encoder.conv_norm_out.weight",
                false,
            ),
            ("decoder.conv_in.bias", "decoder.conv_in.bias", false),
            ("quant_conv.weight", "quant_conv.weight", false),
            (
                "encoder.down.1.block.0.nin_shortcut.weight",
                "encoder.down_blocks.1.resnets.0.conv_shortcut.weight",
                false,
            ),
            (
                "encoder.down.0.downsample.conv.bias",
                "encoder.down_blocks.0.downsamplers.0.conv.bias",
                false,
            ),
            (
                "decoder.up.3.block.2.conv1.weight",
                "decoder.up_blocks.0.resnets.2.conv1.weight",
                false,
            ),
            (
                "decoder.up.1.upsample.conv.weight",
                "decoder.up_blocks.2.upsamplers.0.conv.weight",
                false,
            ),
            (
                "decoder.mid.block_2.norm1.bias",
                "decoder.mid_block.resnets.1.norm1.bias",
                false,
            ),
            (
                "encoder.mid.attn_1.proj_out.weight",
                "encoder.mid_block.attentions.0.to_out.0.weight",
                true,
            ),
            (
                "encoder.mid.attn_1.q.bias",
                "encoder.mid_block.attentions.0.to_q.bias",
                false,
            ),
            (
                "decoder.mid.attn_1.norm.weight",
                "decoder.mid_block.attentions.0.group_norm.weight",
                false,
            ),
        ];
        for (ldm, ours, flat) in cases {
            assert_eq!(map_key(ldm, 4), Some((ours.to_string(), flat)), "{ldm}");
        }
        for bad in [
            "decoder.up.4.block.0.conv1.weight",
            "encoder.mid.attn_1.x.weight",
            "z",
        ] {
            assert_eq!(map_key(bad, 4), None, "{bad}");
        }
    }
}
