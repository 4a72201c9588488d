//! One folder of the diffusers pipeline being made: its config and the tensors of its weights
//! file, with the checkpoint keys it accounts for.

use safetensors::Dtype;
use serde_json::Value;

use super::tensor::Out;

#[derive(Debug)]
pub struct Component {
    /// The folder: `unet`, `vae`, `text_encoder`, `text_encoder_2`.
    pub dir: &'static str,
    /// The weights file in it.
    pub weights: &'static str,
    pub config: Value,
    pub tensors: Vec<Out>,
    /// Every checkpoint key this component used or deliberately left out.
    pub claimed: Vec<String>,
}

impl Component {
    pub fn new(
        dir: &'static str,
        weights: &'static str,
        config: Value,
        tensors: Vec<Out>,
        claimed: Vec<String>,
    ) -> Self {
        Self {
            dir,
            weights,
            config,
            tensors,
            claimed,
        }
    }

    /// Bytes of the weights written.
    pub fn bytes(&self) -> u64 {
        self.tensors.iter().map(Out::byte_len).sum()
    }

    /// Checkpoint keys it accounts for but does not write (SD 2's last text block and
    /// projection, CLIP's position ids, …).
    pub fn skipped(&self) -> usize {
        let used: std::collections::BTreeSet<&str> =
            self.tensors.iter().map(|t| t.from.as_str()).collect();
        self.claimed.len().saturating_sub(used.len())
    }

    /// The dtype most of its bytes are stored in.
    pub fn dtype(&self) -> Option<Dtype> {
        let mut by: Vec<(Dtype, u64)> = Vec::new();
        for t in &self.tensors {
            match by.iter_mut().find(|(d, _)| *d == t.dtype) {
                Some((_, n)) => *n += t.byte_len(),
                None => by.push((t.dtype, t.byte_len())),
            }
        }
        by.into_iter().max_by_key(|(_, n)| *n).map(|(d, _)| d)
    }
}
