//! Transformer2DModel and BasicTransformerBlock: the UNet's self- and cross-attention.

use tch::{Kind, Tensor};

use crate::error::Result;
use crate::nn::{Conv2d, GroupNorm, LayerNorm, Linear, attention};
use crate::weights::Vb;

/// diffusers `Attention` as used in the UNet: q/k/v without bias, `to_out.0` with bias.
pub struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    heads: i64,
    /// `upcast_attention` (SD 2.1): attend in fp32 when the model runs in half precision,
    /// where q·kᵀ can overflow and turn whole images black.
    upcast: bool,
}

impl Attention {
    pub fn load(
        vb: &Vb,
        query_dim: i64,
        context_dim: i64,
        heads: i64,
        head_dim: i64,
        upcast: bool,
    ) -> Result<Self> {
        let inner = heads * head_dim;
        Ok(Self {
            to_q: Linear::load(&vb.pp("to_q"), query_dim, inner, false)?,
            to_k: Linear::load(&vb.pp("to_k"), context_dim, inner, false)?,
            to_v: Linear::load(&vb.pp("to_v"), context_dim, inner, false)?,
            to_out: Linear::load(&vb.pp("to_out.0"), inner, query_dim, true)?,
            heads,
            upcast,
        })
    }

    pub fn forward(&self, x: &Tensor, context: Option<&Tensor>) -> Tensor {
        let ctx = context.unwrap_or(x);
        let (k, v) = self.context_kv(ctx);
        self.forward_kv(x, &k, &v)
    }

    /// Keys and values of `ctx`: for cross-attention they depend only on the prompt, so a
    /// generation computes them once instead of at every step.
    pub fn context_kv(&self, ctx: &Tensor) -> (Tensor, Tensor) {
        (self.to_k.forward(ctx), self.to_v.forward(ctx))
    }

    /// Attention of `x` over precomputed keys and values (see [`Attention::context_kv`]).
    pub fn forward_kv(&self, x: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
        let q = self.to_q.forward(x);
        let kind = q.kind();
        let a = if self.upcast && kind != Kind::Float {
            let f = |t: &Tensor| t.to_kind(Kind::Float);
            attention(&f(&q), &f(k), &f(v), self.heads, false).to_kind(kind)
        } else {
            attention(&q, k, v, self.heads, false)
        };
        self.to_out.forward(&a)
    }
}

struct Block {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff_in: Linear,
    ff_out: Linear,
}

impl Block {
    fn load(
        vb: &Vb,
        dim: i64,
        ctx_dim: i64,
        heads: i64,
        head_dim: i64,
        upcast: bool,
    ) -> Result<Self> {
        let ff_inner = 4 * dim;
        Ok(Self {
            norm1: LayerNorm::load(&vb.pp("norm1"), dim, 1e-5)?,
            attn1: Attention::load(&vb.pp("attn1"), dim, dim, heads, head_dim, upcast)?,
            norm2: LayerNorm::load(&vb.pp("norm2"), dim, 1e-5)?,
            attn2: Attention::load(&vb.pp("attn2"), dim, ctx_dim, heads, head_dim, upcast)?,
            norm3: LayerNorm::load(&vb.pp("norm3"), dim, 1e-5)?,
            // GEGLU: one projection to twice the width, split into value and gate.
            ff_in: Linear::load(&vb.pp("ff.net.0.proj"), dim, 2 * ff_inner, true)?,
            ff_out: Linear::load(&vb.pp("ff.net.2"), ff_inner, dim, true)?,
        })
    }

    /// `kv`: this block's cross-attention keys and values ([`Attention::context_kv`]).
    fn forward(&self, x: &Tensor, kv: &(Tensor, Tensor)) -> Tensor {
        let x = self.attn1.forward(&self.norm1.forward(x), None) + x;
        let x = self.attn2.forward_kv(&self.norm2.forward(&x), &kv.0, &kv.1) + x;
        let h = self.ff_in.forward(&self.norm3.forward(&x));
        let parts = h.chunk(2, -1);
        let h = &parts[0] * parts[1].gelu("none");
        self.ff_out.forward(&h) + x
    }
}

enum Proj {
    Conv(Conv2d),
    Linear(Linear),
}

/// Transformer2DModel over a feature map: group norm, projection in (1×1 conv in SD 1.x,
/// linear in SD 2.x), transformer blocks, projection out, residual.
pub struct Transformer2D {
    norm: GroupNorm,
    proj_in: Proj,
    blocks: Vec<Block>,
    proj_out: Proj,
}

pub struct TransformerSpec {
    pub channels: i64,
    pub heads: i64,
    pub layers: i64,
    pub context_dim: i64,
    pub groups: i64,
    pub linear_projection: bool,
    pub upcast_attention: bool,
}

impl Transformer2D {
    pub fn load(vb: &Vb, s: &TransformerSpec) -> Result<Self> {
        let head_dim = s.channels / s.heads;
        let inner = s.heads * head_dim;
        let (proj_in, proj_out) = if s.linear_projection {
            (
                Proj::Linear(Linear::load(&vb.pp("proj_in"), s.channels, inner, true)?),
                Proj::Linear(Linear::load(&vb.pp("proj_out"), inner, s.channels, true)?),
            )
        } else {
            (
                Proj::Conv(Conv2d::load1(&vb.pp("proj_in"), s.channels, inner)?),
                Proj::Conv(Conv2d::load1(&vb.pp("proj_out"), inner, s.channels)?),
            )
        };
        let blocks = (0..s.layers)
            .map(|k| {
                Block::load(
                    &vb.pp("transformer_blocks").pp(k),
                    inner,
                    s.context_dim,
                    s.heads,
                    head_dim,
                    s.upcast_attention,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            norm: GroupNorm::load(&vb.pp("norm"), s.groups, s.channels, 1e-6)?,
            proj_in,
            blocks,
            proj_out,
        })
    }

    /// Number of transformer blocks (each takes one cross-attention K/V pair).
    pub fn depth(&self) -> usize {
        self.blocks.len()
    }

    /// Appends each block's cross-attention keys and values for `ctx`, in block order.
    pub fn context_kv(&self, ctx: &Tensor, out: &mut Vec<(Tensor, Tensor)>) {
        out.extend(self.blocks.iter().map(|b| b.attn2.context_kv(ctx)));
    }

    pub fn forward(&self, x: &Tensor, ctx: &Tensor) -> Tensor {
        let mut kv = Vec::new();
        self.context_kv(ctx, &mut kv);
        self.forward_kv(x, &kv)
    }

    /// Like [`Transformer2D::forward`] with the cross-attention keys and values precomputed
    /// ([`Transformer2D::context_kv`]); `kv` has one pair per block.
    pub fn forward_kv(&self, x: &Tensor, kv: &[(Tensor, Tensor)]) -> Tensor {
        let sz = x.size();
        let (b, h, w) = (sz[0], sz[2], sz[3]);
        let mut t = self.norm.forward(x);
        let to_tokens = |t: &Tensor| {
            let c = t.size()[1];
            t.permute([0, 2, 3, 1]).reshape([b, h * w, c])
        };
        t = match &self.proj_in {
            Proj::Conv(c) => to_tokens(&c.forward(&t)),
            Proj::Linear(l) => l.forward(&to_tokens(&t)),
        };
        for (blk, kv) in self.blocks.iter().zip(kv) {
            t = blk.forward(&t, kv);
        }
        let to_map = |t: &Tensor| {
            let c = t.size()[2];
            t.reshape([b, h, w, c]).permute([0, 3, 1, 2]).contiguous()
        };
        let out = match &self.proj_out {
            Proj::Conv(c) => c.forward(&to_map(&t)),
            Proj::Linear(l) => to_map(&l.forward(&t)),
        };
        out + x
    }
}
