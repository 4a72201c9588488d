//! Which family a checkpoint is, from its tensors (the rules diffusers'
//! `infer_diffusers_model_type` uses, plus the text encoder's layout for UNets of other
//! widths):
//! - the cross-attention width (`attn2.to_k`'s input): 768 is SD 1.x (CLIP ViT-L), 1024 is
//!   SD 2.x (OpenCLIP ViT-H), 2048 is SDXL (both encoders concatenated);
//! - an add embedding (`label_emb`) or SDXL's `conditioner.embedders` is SDXL;
//! - otherwise an OpenCLIP encoder (`cond_stage_model.model.*`) is SD 2.x and a CLIP one
//!   (`cond_stage_model.transformer.*`) is SD 1.x.
//!
//! When the width and the markers both speak they must agree. Tiny test models (narrow
//! widths) are told by the markers alone.

use super::checkpoint::Checkpoint;
use super::unet::PREFIX;
use crate::error::{ModelError, Result};
use crate::family::Family;

pub const SD1_TEXT: &str = "cond_stage_model.transformer.";
pub const SD2_TEXT: &str = "cond_stage_model.model.";
pub const XL_TEXT: &str = "conditioner.embedders.0.transformer.";
pub const XL_TEXT_2: &str = "conditioner.embedders.1.model.";
/// SDXL refiner: only an OpenCLIP bigG encoder, in the first slot.
const XL_REFINER_TEXT: &str = "conditioner.embedders.0.model.";

const TO_K: &str = "middle_block.1.transformer_blocks.0.attn2.to_k.weight";

pub fn family(ckpt: &Checkpoint) -> Result<Family> {
    let file = ckpt.file_name();
    if !ckpt.has_prefix(PREFIX) {
        return Err(ModelError::Import(format!(
            "{file}: no UNet (model.diffusion_model.*): this is not a full Stable Diffusion \
             checkpoint (a VAE, LoRA, embedding, ControlNet or a diffusers-layout file?)"
        )));
    }
    if ckpt.has_prefix(XL_REFINER_TEXT) {
        return Err(ModelError::Import(format!(
            "{file}: an SDXL refiner checkpoint; only base models (SD 1.x, 2.x, XL) can be \
             imported"
        )));
    }
    let width = ckpt.dim(&format!("{PREFIX}{TO_K}"), 1)?;
    let by_width = match width {
        768 => Some(Family::Sd1),
        1024 => Some(Family::Sd2),
        2048 => Some(Family::Sdxl),
        _ => None,
    };
    let by_marker = if ckpt.has_prefix(&format!("{PREFIX}label_emb."))
        || ckpt.has_prefix("conditioner.embedders.")
    {
        Some(Family::Sdxl)
    } else if ckpt.has_prefix(SD2_TEXT) {
        Some(Family::Sd2)
    } else if ckpt.has_prefix(SD1_TEXT) {
        Some(Family::Sd1)
    } else {
        None
    };
    match (by_width, by_marker) {
        (Some(w), Some(m)) if w != m => Err(ModelError::Import(format!(
            "{file}: the UNet's cross-attention width {width} says {w} but its text encoder \
             says {m}: not a checkpoint this importer knows"
        ))),
        (Some(f), _) | (None, Some(f)) => Ok(f),
        (None, None) => Err(ModelError::Import(format!(
            "{file}: cannot tell the family: cross-attention width {width} is none of 768 \
             (SD 1.x), 1024 (SD 2.x), 2048 (SDXL), and there is no text encoder to tell"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::Dtype;
    use safetensors::tensor::TensorView;

    /// A checkpoint holding zero tensors of the given names and shapes.
    fn file(dir: &std::path::Path, tensors: &[(&str, Vec<usize>)]) -> Checkpoint {
        let data: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, s)| vec![0u8; 2 * s.iter().product::<usize>()])
            .collect();
        let views = tensors.iter().zip(&data).map(|((name, shape), bytes)| {
            let view = TensorView::new(Dtype::F16, shape.clone(), bytes).expect("view");
            (name.to_string(), view)
        });
        let path = dir.join("c.safetensors");
        safetensors::serialize_to_file(views, None, &path).expect("write");
        Checkpoint::open(&path).expect("open")
    }

    fn to_k(width: usize) -> (&'static str, Vec<usize>) {
        (
            "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight",
            vec![8, width],
        )
    }

    #[test]
    fn real_widths_and_markers_tell_the_family() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let clip = (
            "cond_stage_model.transformer.text_model.final_layer_norm.weight",
            vec![4],
        );
        let open = ("cond_stage_model.model.ln_final.weight", vec![4]);
        let label = ("model.diffusion_model.label_emb.0.0.weight", vec![4, 4]);
        let xl = ("conditioner.embedders.1.model.ln_final.weight", vec![4]);
        assert_eq!(
            family(&file(d, &[to_k(768), clip.clone()])).expect("sd1"),
            Family::Sd1
        );
        assert_eq!(
            family(&file(d, &[to_k(768)])).expect("sd1 by width"),
            Family::Sd1
        );
        assert_eq!(
            family(&file(d, &[to_k(1024), open.clone()])).expect("sd2"),
            Family::Sd2
        );
        assert_eq!(
            family(&file(d, &[to_k(2048), label])).expect("xl"),
            Family::Sdxl
        );
        assert_eq!(
            family(&file(d, &[to_k(2048)])).expect("xl by width"),
            Family::Sdxl
        );
        // Narrow test models: the markers decide.
        assert_eq!(
            family(&file(d, &[to_k(64), open.clone()])).expect("tiny"),
            Family::Sd2
        );
        assert_eq!(
            family(&file(d, &[to_k(96), xl])).expect("tiny xl"),
            Family::Sdxl
        );
        assert_eq!(
            family(&file(d, &[to_k(32), clip])).expect("tiny sd1"),
            Family::Sd1
        );

        let msg = |c: Checkpoint| family(&c).expect_err("refused").to_string();
        let m = msg(file(d, &[to_k(768), open]));
        assert!(m.contains("768") && m.contains("sd2"), "{m}");
        let m = msg(file(d, &[to_k(64)]));
        assert!(m.contains("cannot tell the family"), "{m}");
        let m = msg(file(
            d,
            &[("first_stage_model.decoder.conv_out.weight", vec![3, 4])],
        ));
        assert!(m.contains("no UNet"), "{m}");
        let m = msg(file(
            d,
            &[
                to_k(1280),
                ("conditioner.embedders.0.model.ln_final.weight", vec![4]),
            ],
        ));
        assert!(m.contains("refiner"), "{m}");
    }
}
