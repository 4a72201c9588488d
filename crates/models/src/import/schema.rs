//! The tensor names a diffusers component of a given structure must have, built from the
//! structure read off the checkpoint, independently of the key mapping: a checkpoint that is
//! incomplete, or has keys the mapping put somewhere the model has no such weight, is refused
//! with the names, instead of making a folder the engine would reject later.

use std::collections::BTreeSet;

use super::tensor::Out;
use crate::error::{ModelError, Result};

/// Required names, and the optional ones (a resnet's `conv_shortcut` exists exactly when its
/// channels change; the checkpoint says).
#[derive(Default, Debug)]
pub struct Schema {
    required: BTreeSet<String>,
    optional: BTreeSet<String>,
}

impl Schema {
    /// `weight` and `bias` of a layer.
    pub fn layer(&mut self, prefix: &str) {
        self.required.insert(format!("{prefix}.weight"));
        self.required.insert(format!("{prefix}.bias"));
    }

    pub fn weight(&mut self, name: &str) {
        self.required.insert(name.to_string());
    }

    /// A ResnetBlock2D (`time` when it takes the time embedding: the UNet's do).
    pub fn resnet(&mut self, prefix: &str, time: bool) {
        for layer in ["norm1", "conv1", "norm2", "conv2"] {
            self.layer(&format!("{prefix}.{layer}"));
        }
        if time {
            self.layer(&format!("{prefix}.time_emb_proj"));
        }
        for param in ["weight", "bias"] {
            self.optional
                .insert(format!("{prefix}.conv_shortcut.{param}"));
        }
    }

    /// A Transformer2DModel of `depth` blocks (the UNet's attentions).
    pub fn transformer(&mut self, prefix: &str, depth: usize) {
        for layer in ["norm", "proj_in", "proj_out"] {
            self.layer(&format!("{prefix}.{layer}"));
        }
        for k in 0..depth {
            let b = format!("{prefix}.transformer_blocks.{k}");
            for layer in ["norm1", "norm2", "norm3", "ff.net.0.proj", "ff.net.2"] {
                self.layer(&format!("{b}.{layer}"));
            }
            for attn in ["attn1", "attn2"] {
                for p in ["to_q", "to_k", "to_v"] {
                    self.weight(&format!("{b}.{attn}.{p}.weight"));
                }
                self.layer(&format!("{b}.{attn}.to_out.0"));
            }
        }
    }

    /// The VAE's single-head attention.
    pub fn vae_attention(&mut self, prefix: &str) {
        for layer in ["group_norm", "to_q", "to_k", "to_v", "to_out.0"] {
            self.layer(&format!("{prefix}.{layer}"));
        }
    }

    /// Checks a component's tensors against the schema: all required ones there, nothing
    /// unknown, no name twice. `what` names the component and its checkpoint prefix.
    pub fn check(&self, what: &str, file: &str, tensors: &[Out]) -> Result<()> {
        let mut seen = BTreeSet::new();
        let mut unexpected = Vec::new();
        for t in tensors {
            if !seen.insert(t.name.as_str()) {
                return Err(ModelError::Import(format!(
                    "{file}: two tensors map to {what} `{}` (the second is `{}`)",
                    t.name, t.from
                )));
            }
            if !self.required.contains(&t.name) && !self.optional.contains(&t.name) {
                unexpected.push(t.from.as_str());
            }
        }
        let missing: Vec<&str> = self
            .required
            .iter()
            .map(String::as_str)
            .filter(|n| !seen.contains(n))
            .collect();
        if !missing.is_empty() {
            return Err(ModelError::Import(format!(
                "{file}: the {what} is incomplete: {} tensor(s) missing, e.g. {} (a damaged \
                 file, or a checkpoint of another architecture)",
                missing.len(),
                few(&missing)
            )));
        }
        if !unexpected.is_empty() {
            return Err(ModelError::Import(format!(
                "{file}: the {what} has {} tensor(s) that do not belong to its structure: {}",
                unexpected.len(),
                few(&unexpected)
            )));
        }
        Ok(())
    }
}

/// The first few names, for messages.
pub fn few(names: &[&str]) -> String {
    const SHOWN: usize = 5;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}
