//! The CLIP text encoder (transformers `CLIPTextModel`): token ids to the conditioning
//! `last_hidden_state` the UNet cross-attends to.

use tch::{Kind, Tensor};

use crate::clip_encoder::{ClipEncoder, EncoderShape};
use crate::config::ClipConfig;
use crate::error::Result;
use crate::nn::{LayerNorm, Linear};
use crate::weights::Vb;

pub struct ClipTextModel {
    token_embedding: Tensor,
    position_embedding: Tensor,
    encoder: ClipEncoder,
    final_ln: LayerNorm,
    /// `CLIPTextModelWithProjection` (SDXL's second encoder): pooled output → `text_embeds`.
    projection: Option<Linear>,
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
        let encoder = ClipEncoder::load(
            &tm.pp("encoder"),
            &EncoderShape {
                hidden: h,
                intermediate: c.intermediate_size,
                layers: c.num_hidden_layers,
                heads: c.num_attention_heads,
                eps: c.layer_norm_eps,
                act: &c.hidden_act,
                causal: true,
            },
        )?;
        let final_ln = LayerNorm::load(&tm.pp("final_layer_norm"), h, c.layer_norm_eps)?;
        let projection = match c.projection_dim.filter(|_| c.with_projection()) {
            Some(dim) => Some(Linear::load(&vb.pp("text_projection"), h, dim, false)?),
            None => None,
        };
        Ok(Self {
            token_embedding,
            position_embedding,
            encoder,
            final_ln,
            projection,
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
        let used = self.encoder.len().saturating_sub(skip).max(1);
        self.final_ln
            .forward(&self.encoder.run(self.embed(ids), used))
    }

    /// SDXL's use of an encoder: the hidden state `skip + 1` layers before the output (the
    /// penultimate one for `skip = 0`), without the final layer norm, and with a projection,
    /// the pooled `text_embeds`: the final-normed state at each sequence's end-of-text token
    /// (the highest id, as transformers finds it for CLIP's vocabulary) through it.
    pub fn forward_xl(&self, ids: &Tensor, skip: usize) -> XlTextOutput {
        let n = self.encoder.len();
        let keep = n.saturating_sub(skip + 1).max(1);
        let mut x = self.embed(ids);
        let mut hidden = None;
        for i in 0..n {
            x = self.encoder.layer(i, &x);
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
}
