//! ResnetBlock2D and the down/up samplers, shared by the UNet and the VAE.

use tch::Tensor;

use crate::error::Result;
use crate::nn::{Conv2d, GroupNorm, Linear};
use crate::weights::Vb;

pub struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Option<Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

impl ResnetBlock {
    /// `temb`: the time-embedding width, `None` in the VAE (no `time_emb_proj`).
    pub fn load(
        vb: &Vb,
        in_c: i64,
        out_c: i64,
        temb: Option<i64>,
        groups: i64,
        eps: f64,
    ) -> Result<Self> {
        Ok(Self {
            norm1: GroupNorm::load(&vb.pp("norm1"), groups, in_c, eps)?,
            conv1: Conv2d::load3(&vb.pp("conv1"), in_c, out_c)?,
            time_emb_proj: match temb {
                Some(t) => Some(Linear::load(&vb.pp("time_emb_proj"), t, out_c, true)?),
                None => None,
            },
            norm2: GroupNorm::load(&vb.pp("norm2"), groups, out_c, eps)?,
            conv2: Conv2d::load3(&vb.pp("conv2"), out_c, out_c)?,
            shortcut: if in_c != out_c {
                Some(Conv2d::load1(&vb.pp("conv_shortcut"), in_c, out_c)?)
            } else {
                None
            },
        })
    }

    pub fn forward(&self, x: &Tensor, temb: Option<&Tensor>) -> Tensor {
        let mut h = self.conv1.forward(&self.norm1.forward(x).silu());
        if let (Some(p), Some(t)) = (&self.time_emb_proj, temb) {
            h += p.forward(&t.silu()).unsqueeze(-1).unsqueeze(-1);
        }
        let h = self.conv2.forward(&self.norm2.forward(&h).silu());
        match &self.shortcut {
            Some(s) => s.forward(x) + h,
            None => x + h,
        }
    }
}

/// Stride-2 3×3 convolution (`downsamplers.0.conv`).
pub struct Downsample {
    conv: Conv2d,
}

impl Downsample {
    pub fn load(vb: &Vb, c: i64, padding: i64) -> Result<Self> {
        Ok(Self {
            conv: Conv2d::load(&vb.pp("conv"), c, c, 3, 2, padding)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.conv.forward(x)
    }
}

/// Nearest-neighbour ×2 (or to an explicit size, when the skip connection is odd-sized)
/// followed by a 3×3 convolution (`upsamplers.0.conv`).
pub struct Upsample {
    conv: Conv2d,
}

impl Upsample {
    pub fn load(vb: &Vb, c: i64) -> Result<Self> {
        Ok(Self {
            conv: Conv2d::load3(&vb.pp("conv"), c, c)?,
        })
    }

    pub fn forward(&self, x: &Tensor, size: Option<(i64, i64)>) -> Tensor {
        let s = x.size();
        let (h, w) = size.unwrap_or((s[2] * 2, s[3] * 2));
        let up = if size.is_none() {
            x.upsample_nearest2d([h, w], Some(2.0), Some(2.0))
        } else {
            x.upsample_nearest2d([h, w], None, None)
        };
        self.conv.forward(&up)
    }
}
