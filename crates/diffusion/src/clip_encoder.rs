//! The transformer encoder CLIP's text and vision towers share: pre-norm layers of
//! self-attention (causal for text) and a two-layer MLP, each with a residual.

use tch::Tensor;

use crate::error::{DiffusionError, Result};
use crate::nn::{LayerNorm, Linear, attention};
use crate::weights::Vb;

#[derive(Clone, Copy)]
enum Act {
    QuickGelu,
    Gelu,
}

struct Layer {
    ln1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// The sizes of an encoder, from a transformers CLIP text or vision config.
pub(crate) struct EncoderShape<'a> {
    pub hidden: i64,
    pub intermediate: i64,
    pub layers: i64,
    pub heads: i64,
    pub eps: f64,
    pub act: &'a str,
    /// Text attends only to earlier tokens; vision patches see each other.
    pub causal: bool,
}

pub(crate) struct ClipEncoder {
    layers: Vec<Layer>,
    heads: i64,
    act: Act,
    causal: bool,
}

impl ClipEncoder {
    /// `vb` at the encoder (its children are `layers.{i}`).
    pub fn load(vb: &Vb, s: &EncoderShape) -> Result<Self> {
        let act = match s.act {
            "quick_gelu" => Act::QuickGelu,
            "gelu" => Act::Gelu,
            other => {
                return Err(DiffusionError::Unsupported(format!(
                    "CLIP hidden_act `{other}`"
                )));
            }
        };
        let h = s.hidden;
        let layers = (0..s.layers)
            .map(|i| {
                let l = vb.pp("layers").pp(i);
                let att = l.pp("self_attn");
                Ok(Layer {
                    ln1: LayerNorm::load(&l.pp("layer_norm1"), h, s.eps)?,
                    q: Linear::load(&att.pp("q_proj"), h, h, true)?,
                    k: Linear::load(&att.pp("k_proj"), h, h, true)?,
                    v: Linear::load(&att.pp("v_proj"), h, h, true)?,
                    o: Linear::load(&att.pp("out_proj"), h, h, true)?,
                    ln2: LayerNorm::load(&l.pp("layer_norm2"), h, s.eps)?,
                    fc1: Linear::load(&l.pp("mlp.fc1"), h, s.intermediate, true)?,
                    fc2: Linear::load(&l.pp("mlp.fc2"), s.intermediate, h, true)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            heads: s.heads,
            act,
            causal: s.causal,
        })
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Layer `i` applied to `x` `(batch, tokens, hidden)`.
    pub fn layer(&self, i: usize, x: &Tensor) -> Tensor {
        let l = &self.layers[i];
        let h = l.ln1.forward(x);
        let a = attention(
            &l.q.forward(&h),
            &l.k.forward(&h),
            &l.v.forward(&h),
            self.heads,
            self.causal,
        );
        let x = x + l.o.forward(&a);
        let h = l.fc1.forward(&l.ln2.forward(&x));
        let h = match self.act {
            Act::QuickGelu => &h * (&h * 1.702).sigmoid(),
            Act::Gelu => h.gelu("none"),
        };
        &x + l.fc2.forward(&h)
    }

    /// The first `n` layers applied in turn.
    pub fn run(&self, x: Tensor, n: usize) -> Tensor {
        (0..n.min(self.len())).fold(x, |x, i| self.layer(i, &x))
    }
}
