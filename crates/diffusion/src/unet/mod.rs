//! UNet2DConditionModel, built from `unet/config.json`: the denoiser predicting noise (or v)
//! from latents, a timestep and the text conditioning.

pub mod resnet;
pub mod transformer;

use tch::{Kind, Tensor};

use crate::config::UNetConfig;
use crate::error::{DiffusionError, Result};
use crate::nn::{Conv2d, GroupNorm, Linear};
use crate::weights::Vb;
use resnet::{Downsample, ResnetBlock, Upsample};
use transformer::{Transformer2D, TransformerSpec};

struct DownBlock {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<Transformer2D>,
    downsampler: Option<Downsample>,
}

struct UpBlock {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<Transformer2D>,
    upsampler: Option<Upsample>,
}

struct MidBlock {
    resnet0: ResnetBlock,
    attention: Option<Transformer2D>,
    resnet1: ResnetBlock,
}

/// Cross-attention keys and values for one text conditioning, one pair per transformer block
/// in forward order ([`UNet::context_kv`]).
pub struct ContextKv(Vec<(Tensor, Tensor)>);

/// SDXL's size/crop and pooled-text conditioning (`addition_embed_type = "text_time"`).
struct AddEmbedding {
    /// Width of each of the six ids' sinusoidal embedding (`add_time_proj`).
    time_dim: i64,
    linear_1: Linear,
    linear_2: Linear,
}

pub struct UNet {
    conv_in: Conv2d,
    time_1: Linear,
    time_2: Linear,
    add: Option<AddEmbedding>,
    down: Vec<DownBlock>,
    mid: Option<MidBlock>,
    up: Vec<UpBlock>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    pub config: UNetConfig,
}

fn has_cross_attn(kind: &str, vb_path: &str) -> Result<bool> {
    match kind {
        "CrossAttnDownBlock2D" | "CrossAttnUpBlock2D" => Ok(true),
        "DownBlock2D" | "UpBlock2D" => Ok(false),
        other => Err(DiffusionError::Unsupported(format!(
            "UNet block type `{other}` ({vb_path})"
        ))),
    }
}

impl UNet {
    pub fn load(vb: &Vb, config: &UNetConfig) -> Result<Self> {
        let c = config;
        let n = c.block_out_channels.len();
        let ch = &c.block_out_channels;
        let heads = c.heads();
        let tlayers = c.transformer_layers_per_block.per_block(n);
        let temb = ch[0] * 4;
        let (groups, eps) = (c.norm_num_groups, c.norm_eps);
        let spec = |channels: i64, i: usize| TransformerSpec {
            channels,
            heads: heads[i],
            layers: tlayers[i],
            context_dim: c.cross_attention_dim,
            groups,
            linear_projection: c.use_linear_projection,
            upcast_attention: c.upcast_attention,
        };

        let mut down = Vec::new();
        let mut out_c = ch[0];
        for (i, &block_c) in ch.iter().enumerate() {
            let in_c = out_c;
            out_c = block_c;
            let vbb = vb.pp("down_blocks").pp(i);
            let cross = has_cross_attn(&c.down_block_types[i], "down_blocks")?;
            let mut resnets = Vec::new();
            let mut attentions = Vec::new();
            for j in 0..c.layers_per_block {
                let rin = if j == 0 { in_c } else { out_c };
                resnets.push(ResnetBlock::load(
                    &vbb.pp("resnets").pp(j),
                    rin,
                    out_c,
                    Some(temb),
                    groups,
                    eps,
                )?);
                if cross {
                    attentions.push(Transformer2D::load(
                        &vbb.pp("attentions").pp(j),
                        &spec(out_c, i),
                    )?);
                }
            }
            let downsampler = if i + 1 < n {
                Some(Downsample::load(
                    &vbb.pp("downsamplers.0"),
                    out_c,
                    c.downsample_padding,
                )?)
            } else {
                None
            };
            down.push(DownBlock {
                resnets,
                attentions,
                downsampler,
            });
        }

        let last = ch[n - 1];
        let mid = match c.mid_block_type.as_deref() {
            None | Some("UNetMidBlock2DCrossAttn") => {
                let m = vb.pp("mid_block");
                Some(MidBlock {
                    resnet0: ResnetBlock::load(
                        &m.pp("resnets.0"),
                        last,
                        last,
                        Some(temb),
                        groups,
                        eps,
                    )?,
                    attention: Some(Transformer2D::load(
                        &m.pp("attentions.0"),
                        &spec(last, n - 1),
                    )?),
                    resnet1: ResnetBlock::load(
                        &m.pp("resnets.1"),
                        last,
                        last,
                        Some(temb),
                        groups,
                        eps,
                    )?,
                })
            }
            Some("UNetMidBlock2D") => {
                let m = vb.pp("mid_block");
                Some(MidBlock {
                    resnet0: ResnetBlock::load(
                        &m.pp("resnets.0"),
                        last,
                        last,
                        Some(temb),
                        groups,
                        eps,
                    )?,
                    attention: None,
                    resnet1: ResnetBlock::load(
                        &m.pp("resnets.1"),
                        last,
                        last,
                        Some(temb),
                        groups,
                        eps,
                    )?,
                })
            }
            Some(other) => {
                return Err(DiffusionError::Unsupported(format!(
                    "mid block type `{other}`"
                )));
            }
        };

        let rev: Vec<i64> = ch.iter().rev().copied().collect();
        let mut up = Vec::new();
        let mut out_c = rev[0];
        for (i, &block_c) in rev.iter().enumerate() {
            let prev_out = out_c;
            out_c = block_c;
            let in_c = rev[(i + 1).min(n - 1)];
            let vbb = vb.pp("up_blocks").pp(i);
            let cross = has_cross_attn(&c.up_block_types[i], "up_blocks")?;
            let mut resnets = Vec::new();
            let mut attentions = Vec::new();
            for j in 0..=c.layers_per_block {
                let skip = if j == c.layers_per_block { in_c } else { out_c };
                let rin = if j == 0 { prev_out } else { out_c };
                resnets.push(ResnetBlock::load(
                    &vbb.pp("resnets").pp(j),
                    rin + skip,
                    out_c,
                    Some(temb),
                    groups,
                    eps,
                )?);
                if cross {
                    attentions.push(Transformer2D::load(
                        &vbb.pp("attentions").pp(j),
                        &spec(out_c, n - 1 - i),
                    )?);
                }
            }
            let upsampler = if i + 1 < n {
                Some(Upsample::load(&vbb.pp("upsamplers.0"), out_c)?)
            } else {
                None
            };
            up.push(UpBlock {
                resnets,
                attentions,
                upsampler,
            });
        }

        let add = match (
            c.addition_embed_type.as_deref(),
            c.addition_time_embed_dim,
            c.projection_class_embeddings_input_dim,
        ) {
            (Some("text_time"), Some(time_dim), Some(input)) => Some(AddEmbedding {
                time_dim,
                linear_1: Linear::load(&vb.pp("add_embedding.linear_1"), input, temb, true)?,
                linear_2: Linear::load(&vb.pp("add_embedding.linear_2"), temb, temb, true)?,
            }),
            _ => None,
        };
        Ok(Self {
            conv_in: Conv2d::load3(&vb.pp("conv_in"), c.in_channels, ch[0])?,
            add,
            time_1: Linear::load(&vb.pp("time_embedding.linear_1"), ch[0], temb, true)?,
            time_2: Linear::load(&vb.pp("time_embedding.linear_2"), temb, temb, true)?,
            down,
            mid,
            up,
            norm_out: GroupNorm::load(&vb.pp("conv_norm_out"), groups, ch[0], eps)?,
            conv_out: Conv2d::load3(&vb.pp("conv_out"), ch[0], c.out_channels)?,
            config: c.clone(),
        })
    }

    /// Sinusoidal embedding of (possibly fractional) timesteps, as diffusers'
    /// `get_timestep_embedding`, computed in fp32.
    fn timestep_embedding(&self, t: &Tensor) -> Tensor {
        self.sinusoidal(t, self.config.block_out_channels[0])
    }

    /// Whether this UNet takes SDXL's added conditioning ([`UNet::added_embedding`]).
    pub fn needs_added_conditioning(&self) -> bool {
        self.add.is_some()
    }

    /// SDXL's added conditioning for a batch: `pooled` `(b, pooled_dim)` text embeddings and
    /// `time_ids` `(b, 6)` (original height and width, crop top and left, target height and
    /// width). It does not depend on the timestep, so a generation computes it once and
    /// passes it to every [`UNet::forward_added`]. `None` for UNets without it.
    pub fn added_embedding(&self, pooled: &Tensor, time_ids: &Tensor) -> Option<Tensor> {
        let add = self.add.as_ref()?;
        let b = time_ids.size()[0];
        let ids = self
            .sinusoidal(&time_ids.flatten(0, -1), add.time_dim)
            .reshape([b, -1]);
        let input = Tensor::cat(&[pooled.to_kind(Kind::Float), ids], -1).to_kind(pooled.kind());
        Some(add.linear_2.forward(&add.linear_1.forward(&input).silu()))
    }

    fn sinusoidal(&self, t: &Tensor, dim: i64) -> Tensor {
        let half = dim / 2;
        let shift = self.config.freq_shift as f64;
        let exponent = Tensor::arange(half, (Kind::Float, t.device())) * (-(10000f64.ln()))
            / (half as f64 - shift);
        let emb = t.to_kind(Kind::Float).unsqueeze(1) * exponent.exp().unsqueeze(0);
        let (sin, cos) = (emb.sin(), emb.cos());
        if self.config.flip_sin_to_cos {
            Tensor::cat(&[cos, sin], -1)
        } else {
            Tensor::cat(&[sin, cos], -1)
        }
    }

    /// Every transformer, in the order [`UNet::forward_kv`] runs them.
    fn transformers(&self) -> impl Iterator<Item = &Transformer2D> {
        let down = self.down.iter().flat_map(|b| b.attentions.iter());
        let mid = self.mid.iter().filter_map(|m| m.attention.as_ref());
        let up = self.up.iter().flat_map(|b| b.attentions.iter());
        down.chain(mid).chain(up)
    }

    /// The cross-attention keys and values of the text conditioning `ctx` for every
    /// transformer block. They are the same at every denoising step, so a generation computes
    /// them once (two fewer matmuls per block and step) and passes them to
    /// [`UNet::forward_kv`]; the numbers are exactly those [`UNet::forward`] computes.
    pub fn context_kv(&self, ctx: &Tensor) -> ContextKv {
        let mut kv = Vec::new();
        for a in self.transformers() {
            a.context_kv(ctx, &mut kv);
        }
        ContextKv(kv)
    }

    /// `x`: `(b, in_channels, h, w)` latents; `t`: `(b,)` timesteps (float);
    /// `ctx`: `(b, tokens, cross_attention_dim)`.
    pub fn forward(&self, x: &Tensor, t: &Tensor, ctx: &Tensor) -> Tensor {
        self.forward_kv(x, t, &self.context_kv(ctx))
    }

    /// [`UNet::forward`] with the conditioning's keys and values from [`UNet::context_kv`].
    pub fn forward_kv(&self, x: &Tensor, t: &Tensor, kv: &ContextKv) -> Tensor {
        self.forward_added(x, t, kv, None)
    }

    /// [`UNet::forward_kv`] with SDXL's added conditioning ([`UNet::added_embedding`]),
    /// summed into the time embedding.
    pub fn forward_added(
        &self,
        x: &Tensor,
        t: &Tensor,
        kv: &ContextKv,
        added: Option<&Tensor>,
    ) -> Tensor {
        let mut kv = kv.0.as_slice();
        // Each transformer takes the next `depth` pairs.
        let mut attend = |a: &Transformer2D, h: &Tensor| {
            let all: &[(Tensor, Tensor)] = kv;
            let (mine, rest) = all.split_at(a.depth().min(all.len()));
            kv = rest;
            a.forward_kv(h, mine)
        };
        let kind = x.kind();
        let temb = self.timestep_embedding(t).to_kind(kind);
        let temb = self.time_2.forward(&self.time_1.forward(&temb).silu());
        let temb = match added {
            Some(a) => temb + a.to_kind(kind),
            None => temb,
        };
        let temb = Some(&temb);

        let mut h = self.conv_in.forward(x);
        let mut skips = vec![h.shallow_clone()];
        for blk in &self.down {
            for (j, r) in blk.resnets.iter().enumerate() {
                h = r.forward(&h, temb);
                if let Some(a) = blk.attentions.get(j) {
                    h = attend(a, &h);
                }
                skips.push(h.shallow_clone());
            }
            if let Some(d) = &blk.downsampler {
                h = d.forward(&h);
                skips.push(h.shallow_clone());
            }
        }
        if let Some(m) = &self.mid {
            h = m.resnet0.forward(&h, temb);
            if let Some(a) = &m.attention {
                h = attend(a, &h);
            }
            h = m.resnet1.forward(&h, temb);
        }
        for blk in &self.up {
            for (j, r) in blk.resnets.iter().enumerate() {
                let skip = skips.pop().unwrap_or_else(|| h.shallow_clone());
                h = r.forward(&Tensor::cat(&[&h, &skip], 1), temb);
                if let Some(a) = blk.attentions.get(j) {
                    h = attend(a, &h);
                }
            }
            if let Some(u) = &blk.upsampler {
                // The next skip tells the size to grow to (odd sizes round down going down).
                let size = skips.last().map(|s| {
                    let s = s.size();
                    (s[2], s[3])
                });
                let hs = h.size();
                let size = size.filter(|&(a, b)| a != hs[2] * 2 || b != hs[3] * 2);
                h = u.forward(&h, size);
            }
        }
        self.conv_out.forward(&self.norm_out.forward(&h).silu())
    }
}
