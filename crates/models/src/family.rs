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
        let config = component_config(dir, "unet")?;
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

/// The short side, in pixels, a diffusers-layout SD 1.x/2.x model was trained at: the UNet's
/// `sample_size` (latent pixels) times the VAE's downscale (2 per block after the first), as
/// diffusers' pipelines compute their default size: 512 for SD 1.5, 768 for SD 2.x 768-v.
pub fn trained_short_side(dir: &Path) -> Result<u32> {
    let sample = component_config(dir, "unet")?
        .get("sample_size")
        .and_then(|v| v.as_u64())
        .unwrap_or(64);
    let blocks = component_config(dir, "vae")?
        .get("block_out_channels")
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(4);
    let scale = 1u64 << blocks.saturating_sub(1).min(6);
    Ok(u32::try_from(sample.saturating_mul(scale)).unwrap_or(u32::MAX))
}

/// A component's `config.json` in a diffusers-layout folder (`unet`, `vae`, ...).
fn component_config(dir: &Path, component: &str) -> Result<serde_json::Value> {
    let path = dir.join(component).join("config.json");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Invalid {
        path: path.clone(),
        reason: format!("not JSON: {e}"),
    })
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::{Family, trained_short_side};

    fn folder(unet: &str, vae: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (part, config) in [("unet", unet), ("vae", vae)] {
            std::fs::create_dir_all(dir.path().join(part)).expect("a component folder");
            std::fs::write(dir.path().join(part).join("config.json"), config).expect("a config");
        }
        dir
    }

    #[test]
    fn the_trained_size_follows_the_unet_sample_and_the_vae_depth() {
        let vae4 = r#"{"block_out_channels": [128, 256, 512, 512]}"#;
        let sd15 = folder(r#"{"sample_size": 64, "cross_attention_dim": 768}"#, vae4);
        assert_eq!(Family::of_folder(sd15.path()).ok(), Some(Family::Sd1));
        assert_eq!(trained_short_side(sd15.path()).ok(), Some(512));
        let sd2v = folder(
            r#"{"sample_size": 96, "cross_attention_dim": 1024, "use_linear_projection": true}"#,
            vae4,
        );
        assert_eq!(Family::of_folder(sd2v.path()).ok(), Some(Family::Sd2));
        assert_eq!(trained_short_side(sd2v.path()).ok(), Some(768));
        let tiny = folder(
            r#"{"sample_size": 32}"#,
            r#"{"block_out_channels": [32, 64]}"#,
        );
        assert_eq!(trained_short_side(tiny.path()).ok(), Some(64));
        let xl = folder(
            r#"{"addition_embed_type": "text_time", "sample_size": 128}"#,
            vae4,
        );
        assert_eq!(Family::of_folder(xl.path()).ok(), Some(Family::Sdxl));
        assert!(trained_short_side(&xl.path().join("missing")).is_err());
    }
}
