//! The CLIP text encoder (transformers `CLIPTextModel`): token ids to the conditioning
//! `last_hidden_state` the UNet cross-attends to.

use tch::{Kind, Tensor};

use crate::config::ClipConfig;
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

pub struct ClipTextModel {
    token_embedding: Tensor,
    position_embedding: Tensor,
    layers: Vec<Layer>,
    final_ln: LayerNorm,
    /// `CLIPTextModelWithProjection` (SDXL's second encoder): pooled output → `text_embeds`.
    projection: Option<Linear>,
    heads: i64,
    act: Act,
    pub config: ClipConfig,
}

/// What SDXL takes from each text encoder.
pub struct XlTextOutput {
    /// `hidden_states[-(skip + 2)]`: a hidden state before the last layer, not layer-normed.
    pub hidden: Tensor,
    /// The projected pooled output (`text_embeds`), for an encoder with a projection.
    pub pooled: Option<Tensor>,
}

impl ClipTextModel {
    pub fn load(vb: &Vb, config: &ClipConfig) -> Result<Self> {
        let c = config;
        let act = match c.hidden_act.as_str() {
            "quick_gelu" => Act::QuickGelu,
            "gelu" => Act::Gelu,
            other => {
                return Err(DiffusionError::Unsupported(format!(
                    "text encoder hidden_act `{other}`"
                )));
            }
        };
        // Hub checkpoints prefix every key with `text_model.`; transformers 5 saves
        // CLIPTextModel without it. Accept both.
        let tm = if vb.contains("embeddings.token_embedding.weight")
            && !vb.contains("text_model.embeddings.token_embedding.weight")
        {
            vb.clone()
        } else {
            vb.pp("text_model")
        };
        let emb = tm.pp("embeddings");
        let h = c.hidden_size;
        let token_embedding = emb
            .pp("token_embedding")
            .get("weight", &[c.vocab_size, h])?;
        let position_embedding = emb
            .pp("position_embedding")
            .get("weight", &[c.max_position_embeddings, h])?;
        let mut layers = Vec::new();
        for i in 0..c.num_hidden_layers {
            let l = tm.pp("encoder.layers").pp(i);
            let att = l.pp("self_attn");
            layers.push(Layer {
                ln1: LayerNorm::load(&l.pp("layer_norm1"), h, c.layer_norm_eps)?,
                q: Linear::load(&att.pp("q_proj"), h, h, true)?,
                k: Linear::load(&att.pp("k_proj"), h, h, true)?,
                v: Linear::load(&att.pp("v_proj"), h, h, true)?,
                o: Linear::load(&att.pp("out_proj"), h, h, true)?,
                ln2: LayerNorm::load(&l.pp("layer_norm2"), h, c.layer_norm_eps)?,
                fc1: Linear::load(&l.pp("mlp.fc1"), h, c.intermediate_size, true)?,
                fc2: Linear::load(&l.pp("mlp.fc2"), c.intermediate_size, h, true)?,
            });
        }
        let final_ln = LayerNorm::load(&tm.pp("final_layer_norm"), h, c.layer_norm_eps)?;
        let projection = match c.projection_dim.filter(|_| c.with_projection()) {
            Some(dim) => Some(Linear::load(&vb.pp("text_projection"), h, dim, false)?),
            None => None,
        };
        Ok(Self {
            token_embedding,
            position_embedding,
            layers,
            final_ln,
            projection,
            heads: c.num_attention_heads,
            act,
            config: c.clone(),
        })
    }

    /// `ids`: `(batch, seq)` int64 token ids. Returns `(batch, seq, hidden)`.
    pub fn forward(&self, ids: &Tensor) -> Tensor {
        self.forward_skip(ids, 0)
    }

    /// [`Self::forward`] with diffusers' `clip_skip`: the output of the layer `skip` layers
    /// before the last (`hidden_states[-(skip + 1)]`), then the final layer norm. (A1111's
    /// "clip skip 2" is `skip = 1` here.) `skip` is capped to leave at least one layer.
    pub fn forward_skip(&self, ids: &Tensor, skip: usize) -> Tensor {
        let used = self.layers.len().saturating_sub(skip).max(1);
        let mut x = self.embed(ids);
        for l in &self.layers[..used] {
            x = self.layer(l, &x);
        }
        self.final_ln.forward(&x)
    }

    /// SDXL's use of an encoder: the hidden state `skip + 1` layers before the output (the
    /// penultimate one for `skip = 0`), without the final layer norm, and with a projection,
    /// the pooled `text_embeds`: the final-normed state at each sequence's end-of-text token
    /// (the highest id, as transformers finds it for CLIP's vocabulary) through it.
    pub fn forward_xl(&self, ids: &Tensor, skip: usize) -> XlTextOutput {
        let n = self.layers.len();
        let keep = n.saturating_sub(skip + 1).max(1);
        let mut x = self.embed(ids);
        let mut hidden = None;
        for (i, l) in self.layers.iter().enumerate() {
            x = self.layer(l, &x);
            if i + 1 == keep {
                hidden = Some(x.shallow_clone());
                if self.projection.is_none() {
                    break;
                }
            }
        }
        let pooled = self.projection.as_ref().map(|p| {
            let last = self.final_ln.forward(&x);
            let eos = self.eos_positions(ids);
            let b = ids.size()[0];
            let rows = Tensor::arange(b, (Kind::Int64, ids.device()));
            p.forward(&last.index(&[Some(rows), Some(eos)]))
        });
        XlTextOutput {
            hidden: hidden.unwrap_or(x),
            pooled,
        }
    }

    /// Where each sequence's end-of-text token is: transformers takes the highest id when
    /// the config's `eos_token_id` is the legacy 2, else the first `eos_token_id`.
    fn eos_positions(&self, ids: &Tensor) -> Tensor {
        match self.config.eos_token_id {
            Some(eos) if eos != 2 => ids.eq(eos).to_kind(Kind::Int).argmax(-1, false),
            _ => ids.argmax(-1, false),
        }
    }

    fn embed(&self, ids: &Tensor) -> Tensor {
        let seq = ids.size()[1];
        let pos = Tensor::arange(seq, (Kind::Int64, ids.device()));
        Tensor::embedding(&self.token_embedding, ids, -1, false, false)
            + Tensor::embedding(&self.position_embedding, &pos, -1, false, false).unsqueeze(0)
    }

    /// One encoder layer: causal self-attention and the MLP, each pre-normed, with residuals.
    fn layer(&self, l: &Layer, x: &Tensor) -> Tensor {
        let h = l.ln1.forward(x);
        let a = attention(
            &l.q.forward(&h),
            &l.k.forward(&h),
            &l.v.forward(&h),
            self.heads,
            true,
        );
        let x = x + l.o.forward(&a);
        let h = l.fc1.forward(&l.ln2.forward(&x));
        let h = match self.act {
            Act::QuickGelu => &h * (&h * 1.702).sigmoid(),
            Act::Gelu => h.gelu("none"),
        };
        &x + l.fc2.forward(&h)
    }
}
