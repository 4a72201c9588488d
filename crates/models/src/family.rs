//! Which Stable Diffusion family a model belongs to. It decides what the engine builds (one
//! text encoder or two, the add-embedding) and the defaults shapes cannot tell.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result, io};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// SD 1.x: CLIP ViT-L text encoder (768), epsilon prediction.
    Sd1,
    /// SD 2.x: OpenCLIP ViT-H text encoder (1024), linear projections; 768 models predict v.
    Sd2,
    /// SDXL (and SDXL-Turbo): two text encoders (2048 together), size/crop conditioning.
    Sdxl,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Sd1 => "sd1",
            Family::Sd2 => "sd2",
            Family::Sdxl => "sdxl",
        }
    }

    /// The family of a diffusers-layout folder, read from `unet/config.json`: SDXL has
    /// `addition_embed_type = "text_time"`; otherwise the cross-attention width tells SD 1.x
    /// (768, and the tiny test models' narrower widths) from SD 2.x (1024).
    pub fn of_folder(dir: &Path) -> Result<Family> {
        let path = dir.join("unet").join("config.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let config: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ModelError::Invalid {
                path: path.clone(),
                reason: format!("not JSON: {e}"),
            })?;
        if config.get("addition_embed_type").and_then(|v| v.as_str()) == Some("text_time") {
            return Ok(Family::Sdxl);
        }
        let width = config
            .get("cross_attention_dim")
            .and_then(|v| v.as_u64())
            .unwrap_or(768);
        let linear = config
            .get("use_linear_projection")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        Ok(if width == 1024 || (width != 768 && linear) {
            Family::Sd2
        } else {
            Family::Sd1
        })
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
