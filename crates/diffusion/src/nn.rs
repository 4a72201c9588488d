//! The few layers Stable Diffusion is built from, loaded by diffusers key with shape checks.

use tch::Tensor;

use crate::error::Result;
use crate::weights::Vb;

pub struct Linear {
    w: Tensor,
    b: Option<Tensor>,
}

impl Linear {
    pub fn load(vb: &Vb, in_dim: i64, out_dim: i64, bias: bool) -> Result<Self> {
        let w = vb.get("weight", &[out_dim, in_dim])?;
        let b = if bias {
            Some(vb.get("bias", &[out_dim])?)
        } else {
            None
        };
        Ok(Self { w, b })
    }

    /// Like [`Linear::load`], also accepting a weight stored as a 1x1 convolution.
    pub fn load_maybe_conv(vb: &Vb, in_dim: i64, out_dim: i64) -> Result<Self> {
        Ok(Self {
            w: vb.get_linear_weight("weight", out_dim, in_dim)?,
            b: Some(vb.get("bias", &[out_dim])?),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.w, self.b.as_ref())
    }
}

pub struct Conv2d {
    w: Tensor,
    b: Tensor,
    stride: i64,
    padding: i64,
}

impl Conv2d {
    pub fn load(
        vb: &Vb,
        in_c: i64,
        out_c: i64,
        kernel: i64,
        stride: i64,
        padding: i64,
    ) -> Result<Self> {
        Ok(Self {
            w: vb.get("weight", &[out_c, in_c, kernel, kernel])?,
            b: vb.get("bias", &[out_c])?,
            stride,
            padding,
        })
    }

    /// The usual 3×3, stride 1, padding 1 convolution.
    pub fn load3(vb: &Vb, in_c: i64, out_c: i64) -> Result<Self> {
        Self::load(vb, in_c, out_c, 3, 1, 1)
    }

    /// A 1×1 convolution (channel mixing).
    pub fn load1(vb: &Vb, in_c: i64, out_c: i64) -> Result<Self> {
        Self::load(vb, in_c, out_c, 1, 1, 0)
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(
            &self.w,
            Some(&self.b),
            [self.stride, self.stride],
            [self.padding, self.padding],
            [1, 1],
            1,
        )
    }
}

pub struct GroupNorm {
    w: Tensor,
    b: Tensor,
    groups: i64,
    eps: f64,
}

impl GroupNorm {
    pub fn load(vb: &Vb, groups: i64, channels: i64, eps: f64) -> Result<Self> {
        Ok(Self {
            w: vb.get("weight", &[channels])?,
            b: vb.get("bias", &[channels])?,
            groups,
            eps,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.group_norm(self.groups, Some(&self.w), Some(&self.b), self.eps, true)
    }
}

pub struct LayerNorm {
    w: Tensor,
    b: Tensor,
    dim: i64,
    eps: f64,
}

impl LayerNorm {
    pub fn load(vb: &Vb, dim: i64, eps: f64) -> Result<Self> {
        Ok(Self {
            w: vb.get("weight", &[dim])?,
            b: vb.get("bias", &[dim])?,
            dim,
            eps,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm([self.dim], Some(&self.w), Some(&self.b), self.eps, true)
    }
}

/// Multi-head attention over `(batch, tokens, heads*head_dim)` tensors through
/// `scaled_dot_product_attention`, which picks the fused kernel for the device.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, heads: i64, causal: bool) -> Tensor {
    let s = q.size();
    let (b, n, inner) = (s[0], s[1], s[2]);
    let head_dim = inner / heads;
    let split = |t: &Tensor| {
        let m = t.size()[1];
        t.view([b, m, heads, head_dim]).transpose(1, 2)
    };
    let out = Tensor::scaled_dot_product_attention(
        &split(q),
        &split(k),
        &split(v),
        None::<Tensor>,
        0.0,
        causal,
        None,
        false,
    );
    out.transpose(1, 2).reshape([b, n, inner])
}
