//! AutoencoderKL: the decoder turns final latents into pixels; the encoder is loaded too so a
//! folder we write is complete for diffusers and image-to-image can use it.

use tch::Tensor;

use crate::config::VaeConfig;
use crate::error::{DiffusionError, Result};
use crate::nn::{Conv2d, GroupNorm, Linear};
use crate::unet::resnet::{Downsample, ResnetBlock, Upsample};
use crate::weights::Vb;

const EPS: f64 = 1e-6;

/// Single-head self-attention over all pixels (the VAE mid block's only attention).
struct VaeAttention {
    norm: GroupNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
}

/// Attention projection names: diffusers' current ones, and the legacy `AttentionBlock`
/// names that many SD 1.x/2.x VAE files still carry (diffusers renames them at load time).
/// Either may hold its weights as `[c, c]` or as a `[c, c, 1, 1]` 1x1 convolution.
const CURRENT_NAMES: [&str; 4] = ["to_q", "to_k", "to_v", "to_out.0"];
const LEGACY_NAMES: [&str; 4] = ["query", "key", "value", "proj_attn"];

impl VaeAttention {
    fn load(vb: &Vb, c: i64, groups: i64) -> Result<Self> {
        // Prefer the current names; fall back to the legacy ones only when the file has them
        // and not the current ones, so a missing tensor is reported under its current name.
        let legacy = !vb.contains("to_q.weight") && vb.contains("query.weight");
        let [q, k, v, out] = if legacy { LEGACY_NAMES } else { CURRENT_NAMES };
        if legacy {
            tracing::debug!("VAE attention uses legacy key names (query/key/value/proj_attn)");
        }
        Ok(Self {
            norm: GroupNorm::load(&vb.pp("group_norm"), groups, c, EPS)?,
            q: Linear::load_maybe_conv(&vb.pp(q), c, c)?,
            k: Linear::load_maybe_conv(&vb.pp(k), c, c)?,
            v: Linear::load_maybe_conv(&vb.pp(v), c, c)?,
            out: Linear::load_maybe_conv(&vb.pp(out), c, c)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let s = x.size();
        let (b, c, h, w) = (s[0], s[1], s[2], s[3]);
        let t = self.norm.forward(x).view([b, c, h * w]).transpose(1, 2);
        let a = crate::nn::attention(
            &self.q.forward(&t),
            &self.k.forward(&t),
            &self.v.forward(&t),
            1,
            false,
        );
        let o = self.out.forward(&a).transpose(1, 2).reshape([b, c, h, w]);
        o + x
    }
}

struct Mid {
    r0: ResnetBlock,
    attn: Option<VaeAttention>,
    r1: ResnetBlock,
}

impl Mid {
    fn load(vb: &Vb, c: i64, groups: i64, attn: bool) -> Result<Self> {
        Ok(Self {
            r0: ResnetBlock::load(&vb.pp("resnets.0"), c, c, None, groups, EPS)?,
            attn: if attn {
                Some(VaeAttention::load(&vb.pp("attentions.0"), c, groups)?)
            } else {
                None
            },
            r1: ResnetBlock::load(&vb.pp("resnets.1"), c, c, None, groups, EPS)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.r0.forward(x, None);
        let h = match &self.attn {
            Some(a) => a.forward(&h),
            None => h,
        };
        self.r1.forward(&h, None)
    }
}

pub struct Decoder {
    conv_in: Conv2d,
    mid: Mid,
    up: Vec<(Vec<ResnetBlock>, Option<Upsample>)>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Decoder {
    fn load(vb: &Vb, c: &VaeConfig) -> Result<Self> {
        let rev: Vec<i64> = c.block_out_channels.iter().rev().copied().collect();
        let n = rev.len();
        let g = c.norm_num_groups;
        let mut up = Vec::new();
        let mut out_c = rev[0];
        for (i, &ch) in rev.iter().enumerate() {
            let prev = out_c;
            out_c = ch;
            let b = vb.pp("up_blocks").pp(i);
            let resnets = (0..=c.layers_per_block)
                .map(|j| {
                    let rin = if j == 0 { prev } else { out_c };
                    ResnetBlock::load(&b.pp("resnets").pp(j), rin, out_c, None, g, EPS)
                })
                .collect::<Result<Vec<_>>>()?;
            let ups = if i + 1 < n {
                Some(Upsample::load(&b.pp("upsamplers.0"), out_c)?)
            } else {
                None
            };
            up.push((resnets, ups));
        }
        Ok(Self {
            conv_in: Conv2d::load3(&vb.pp("conv_in"), c.latent_channels, rev[0])?,
            mid: Mid::load(&vb.pp("mid_block"), rev[0], g, c.mid_block_add_attention)?,
            up,
            norm_out: GroupNorm::load(&vb.pp("conv_norm_out"), g, c.block_out_channels[0], EPS)?,
            conv_out: Conv2d::load3(&vb.pp("conv_out"), c.block_out_channels[0], c.out_channels)?,
        })
    }

    fn forward(&self, z: &Tensor) -> Tensor {
        let mut h = self.mid.forward(&self.conv_in.forward(z));
        for (resnets, ups) in &self.up {
            for r in resnets {
                h = r.forward(&h, None);
            }
            if let Some(u) = ups {
                h = u.forward(&h, None);
            }
        }
        self.conv_out.forward(&self.norm_out.forward(&h).silu())
    }
}

pub struct Encoder {
    conv_in: Conv2d,
    down: Vec<(Vec<ResnetBlock>, Option<Downsample>)>,
    mid: Mid,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Encoder {
    fn load(vb: &Vb, c: &VaeConfig) -> Result<Self> {
        let ch = &c.block_out_channels;
        let n = ch.len();
        let g = c.norm_num_groups;
        let mut down = Vec::new();
        let mut out_c = ch[0];
        for (i, &cc) in ch.iter().enumerate() {
            let in_c = out_c;
            out_c = cc;
            let b = vb.pp("down_blocks").pp(i);
            let resnets = (0..c.layers_per_block)
                .map(|j| {
                    let rin = if j == 0 { in_c } else { out_c };
                    ResnetBlock::load(&b.pp("resnets").pp(j), rin, out_c, None, g, EPS)
                })
                .collect::<Result<Vec<_>>>()?;
            // The VAE pads asymmetrically by hand before a padding-0 stride-2 conv.
            let ds = if i + 1 < n {
                Some(Downsample::load(&b.pp("downsamplers.0"), out_c, 0)?)
            } else {
                None
            };
            down.push((resnets, ds));
        }
        let last = ch[n - 1];
        Ok(Self {
            conv_in: Conv2d::load3(&vb.pp("conv_in"), c.in_channels, ch[0])?,
            down,
            mid: Mid::load(&vb.pp("mid_block"), last, g, c.mid_block_add_attention)?,
            norm_out: GroupNorm::load(&vb.pp("conv_norm_out"), g, last, EPS)?,
            conv_out: Conv2d::load3(&vb.pp("conv_out"), last, 2 * c.latent_channels)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = self.conv_in.forward(x);
        for (resnets, ds) in &self.down {
            for r in resnets {
                h = r.forward(&h, None);
            }
            if let Some(d) = ds {
                h = d.forward(&h.constant_pad_nd([0, 1, 0, 1]));
            }
        }
        let h = self.mid.forward(&h);
        self.conv_out.forward(&self.norm_out.forward(&h).silu())
    }
}

pub struct Vae {
    encoder: Encoder,
    decoder: Decoder,
    quant_conv: Option<Conv2d>,
    post_quant_conv: Option<Conv2d>,
    pub config: VaeConfig,
}

impl Vae {
    pub fn load(vb: &Vb, config: &VaeConfig) -> Result<Self> {
        if config.block_out_channels.is_empty() {
            return Err(DiffusionError::Unsupported("VAE without blocks".into()));
        }
        let l = config.latent_channels;
        Ok(Self {
            encoder: Encoder::load(&vb.pp("encoder"), config)?,
            decoder: Decoder::load(&vb.pp("decoder"), config)?,
            quant_conv: if config.use_quant_conv {
                Some(Conv2d::load1(&vb.pp("quant_conv"), 2 * l, 2 * l)?)
            } else {
                None
            },
            post_quant_conv: if config.use_post_quant_conv {
                Some(Conv2d::load1(&vb.pp("post_quant_conv"), l, l)?)
            } else {
                None
            },
            config: config.clone(),
        })
    }

    /// Scaled latents (as the sampler produces them) to images in `[-1, 1]`.
    pub fn decode(&self, latents: &Tensor) -> Tensor {
        let z = latents / self.config.scaling_factor;
        let z = match &self.post_quant_conv {
            Some(c) => c.forward(&z),
            None => z,
        };
        self.decoder.forward(&z)
    }

    /// Images in `[-1, 1]` to scaled latents (the posterior mean, for image-to-image).
    pub fn encode(&self, images: &Tensor) -> Tensor {
        let h = self.encoder.forward(images);
        let h = match &self.quant_conv {
            Some(c) => c.forward(&h),
            None => h,
        };
        h.chunk(2, 1)[0].shallow_clone() * self.config.scaling_factor
    }
}
