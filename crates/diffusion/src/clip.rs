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
    heads: i64,
    act: Act,
    pub config: ClipConfig,
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
        Ok(Self {
            token_embedding,
            position_embedding,
            layers,
            final_ln,
            heads: c.num_attention_heads,
            act,
            config: c.clone(),
        })
    }

    /// `ids`: `(batch, seq)` int64 token ids. Returns `(batch, seq, hidden)`.
    pub fn forward(&self, ids: &Tensor) -> Tensor {
        let seq = ids.size()[1];
        let pos = Tensor::arange(seq, (Kind::Int64, ids.device()));
        let mut x = Tensor::embedding(&self.token_embedding, ids, -1, false, false)
            + Tensor::embedding(&self.position_embedding, &pos, -1, false, false).unsqueeze(0);
        for l in &self.layers {
            let r = &x;
            let h = l.ln1.forward(r);
            let a = attention(
                &l.q.forward(&h),
                &l.k.forward(&h),
                &l.v.forward(&h),
                self.heads,
                true,
            );
            x = r + l.o.forward(&a);
            let h = l.fc1.forward(&l.ln2.forward(&x));
            let h = match self.act {
                Act::QuickGelu => &h * (&h * 1.702).sigmoid(),
                Act::Gelu => h.gelu("none"),
            };
            x = &x + l.fc2.forward(&h);
        }
        self.final_ln.forward(&x)
    }
}
