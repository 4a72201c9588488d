//! The image safety check of Stable Diffusion releases (diffusers'
//! `StableDiffusionSafetyChecker`): a CLIP vision tower embeds the decoded image, and its
//! cosine similarity to 17 concept embeddings (and 3 "special care" ones, which lower every
//! threshold when matched) against per-concept thresholds flags it. Loaded from the model
//! folder's `safety_checker/` and `feature_extractor/` when both are present.

use std::path::Path;

use serde::Deserialize;
use tch::{Device, Kind, Tensor};

use crate::clip_encoder::{ClipEncoder, EncoderShape};
use crate::config::read_json;
use crate::error::{DiffusionError, Result};
use crate::image::RgbImage;
use crate::nn::{LayerNorm, Linear};
use crate::weights::Weights;

#[derive(Deserialize)]
struct CheckerConfig {
    vision_config: VisionConfig,
    #[serde(default = "d_768")]
    projection_dim: i64,
}

fn d_768() -> i64 {
    768
}
fn d_quick_gelu() -> String {
    "quick_gelu".into()
}
fn d_eps() -> f64 {
    1e-5
}

#[derive(Deserialize)]
struct VisionConfig {
    hidden_size: i64,
    intermediate_size: i64,
    num_hidden_layers: i64,
    num_attention_heads: i64,
    image_size: i64,
    patch_size: i64,
    #[serde(default = "d_quick_gelu")]
    hidden_act: String,
    #[serde(default = "d_eps")]
    layer_norm_eps: f64,
}

/// `feature_extractor/preprocessor_config.json` (transformers `CLIPImageProcessor`).
#[derive(Deserialize)]
struct Preprocessor {
    #[serde(default)]
    size: Option<serde_json::Value>,
    #[serde(default)]
    crop_size: Option<serde_json::Value>,
    #[serde(default = "clip_mean")]
    image_mean: [f64; 3],
    #[serde(default = "clip_std")]
    image_std: [f64; 3],
}

fn clip_mean() -> [f64; 3] {
    [0.48145466, 0.4578275, 0.40821073]
}
fn clip_std() -> [f64; 3] {
    [0.26862954, 0.26130258, 0.27577711]
}

/// A size in a preprocessor config: a number, or `{"shortest_edge": n}` / `{"height": n, ..}`.
fn size_of(v: Option<&serde_json::Value>, default: u32) -> u32 {
    let n = match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::Object(o)) => o
            .get("shortest_edge")
            .or_else(|| o.get("height"))
            .and_then(serde_json::Value::as_u64),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0 && n <= 4096)
        .unwrap_or(default)
}

/// What the check found in one image.
#[derive(Clone, Debug, PartialEq)]
pub struct SafetyVerdict {
    /// Indices of the concepts whose score passed their threshold.
    pub concepts: Vec<usize>,
    /// Indices of the "special care" concepts that matched.
    pub special: Vec<usize>,
    /// Each concept's score (similarity − threshold, rounded to 3 decimals as diffusers).
    pub concept_scores: Vec<f64>,
}

impl SafetyVerdict {
    pub fn flagged(&self) -> bool {
        !self.concepts.is_empty()
    }

    /// The reason shown to people when an image is withheld.
    pub fn reason(&self) -> String {
        let list = |v: &[usize]| {
            v.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "the image safety checker flagged the generated image (concepts {}{})",
            list(&self.concepts),
            if self.special.is_empty() {
                String::new()
            } else {
                format!("; special care {}", list(&self.special))
            }
        )
    }
}

pub struct SafetyChecker {
    patch_embedding: Tensor,
    class_embedding: Tensor,
    position_embedding: Tensor,
    pre_ln: LayerNorm,
    encoder: ClipEncoder,
    post_ln: LayerNorm,
    projection: Linear,
    concepts: Tensor,
    concept_thresholds: Vec<f64>,
    special: Tensor,
    special_thresholds: Vec<f64>,
    patch: i64,
    resize_to: u32,
    crop: u32,
    mean: [f64; 3],
    std: [f64; 3],
    device: Device,
    /// sha256 of the checker's weights: part of the model identity, so images kept before
    /// the check existed (or with another checker) are not served as checked.
    digest: String,
}

impl SafetyChecker {
    /// Whether a model folder ships a checker (`safety_checker/config.json`).
    pub fn present_in(model_dir: &Path) -> bool {
        model_dir
            .join("safety_checker")
            .join("config.json")
            .is_file()
    }

    /// Loads the checker of a model folder, or `None` when it has no `safety_checker/` (most
    /// community models and every SDXL release ship none).
    pub fn load_from(model_dir: &Path, device: Device) -> Result<Option<Self>> {
        let dir = model_dir.join("safety_checker");
        let pre = model_dir
            .join("feature_extractor")
            .join("preprocessor_config.json");
        if !Self::present_in(model_dir) {
            return Ok(None);
        }
        let config: CheckerConfig = read_json(&dir.join("config.json"))?;
        let pre: Preprocessor = if pre.is_file() {
            read_json(&pre)?
        } else {
            return Err(DiffusionError::MissingFile {
                path: pre,
                what: "the safety checker's image preprocessing".into(),
            });
        };
        let weights_path = ["model.safetensors", "model.fp16.safetensors"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| DiffusionError::MissingFile {
                path: dir.join("model.safetensors"),
                what: "safety checker weights (.safetensors)".into(),
            })?;
        // Always fp32: it is small, and its thresholds sit close to the scores.
        let w = Weights::load(&weights_path, device, Kind::Float)?;
        let root = w.root();
        // Hub checkpoints nest the tower as `vision_model.vision_model.*`; transformers 5
        // saves `vision_model.*`. Accept both.
        let vm = if root.contains("vision_model.vision_model.pre_layrnorm.weight") {
            root.pp("vision_model.vision_model")
        } else {
            root.pp("vision_model")
        };
        let v = &config.vision_config;
        if v.patch_size <= 0 || v.image_size <= 0 || v.image_size % v.patch_size != 0 {
            return Err(DiffusionError::Config {
                path: dir.join("config.json"),
                message: format!(
                    "vision_config: image_size {} must be a positive multiple of patch_size {}",
                    v.image_size, v.patch_size
                ),
            });
        }
        let h = v.hidden_size;
        let grid = v.image_size / v.patch_size;
        let emb = vm.pp("embeddings");
        let checker = Self {
            patch_embedding: emb
                .pp("patch_embedding")
                .get("weight", &[h, 3, v.patch_size, v.patch_size])?,
            class_embedding: emb.get("class_embedding", &[h])?,
            position_embedding: emb
                .pp("position_embedding")
                .get("weight", &[grid * grid + 1, h])?,
            pre_ln: LayerNorm::load(&vm.pp("pre_layrnorm"), h, v.layer_norm_eps)?,
            encoder: ClipEncoder::load(
                &vm.pp("encoder"),
                &EncoderShape {
                    hidden: h,
                    intermediate: v.intermediate_size,
                    layers: v.num_hidden_layers,
                    heads: v.num_attention_heads,
                    eps: v.layer_norm_eps,
                    act: &v.hidden_act,
                    causal: false,
                },
            )?,
            post_ln: LayerNorm::load(&vm.pp("post_layernorm"), h, v.layer_norm_eps)?,
            projection: Linear::load(
                &root.pp("visual_projection"),
                h,
                config.projection_dim,
                false,
            )?,
            concepts: root.get("concept_embeds", &[17, config.projection_dim])?,
            concept_thresholds: thresholds(&root.get("concept_embeds_weights", &[17])?)?,
            special: root.get("special_care_embeds", &[3, config.projection_dim])?,
            special_thresholds: thresholds(&root.get("special_care_embeds_weights", &[3])?)?,
            patch: v.patch_size,
            resize_to: size_of(pre.size.as_ref(), v.image_size as u32),
            crop: size_of(pre.crop_size.as_ref(), v.image_size as u32),
            mean: pre.image_mean,
            std: pre.image_std,
            device,
            digest: w.digest().to_string(),
        };
        if checker.resize_to < checker.crop {
            return Err(DiffusionError::Config {
                path: model_dir
                    .join("feature_extractor")
                    .join("preprocessor_config.json"),
                message: format!(
                    "size {} is smaller than crop_size {}: the centre crop would not fit",
                    checker.resize_to, checker.crop
                ),
            });
        }
        if i64::from(checker.crop) != v.image_size {
            return Err(DiffusionError::Config {
                path: dir.join("config.json"),
                message: format!(
                    "the feature extractor crops to {} but the vision tower takes {}",
                    checker.crop, v.image_size
                ),
            });
        }
        w.warn_unused(&["vision_model.vision_model.embeddings.position_ids"]);
        Ok(Some(checker))
    }

    /// sha256 of the checker's weights.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// `CLIPImageProcessor`: shortest side resized to the configured size (bicubic), centre
    /// crop, scaled to [0, 1] and normalised with CLIP's mean and standard deviation.
    pub fn preprocess(&self, img: &RgbImage) -> Result<Tensor> {
        let buf = image::RgbImage::from_raw(img.width, img.height, img.data.clone())
            .ok_or_else(|| DiffusionError::Image("pixel buffer has the wrong length".into()))?;
        let (w, h) = (img.width.max(1), img.height.max(1));
        let s = self.resize_to;
        // transformers truncates the long side: int(size * long / short).
        let (nw, nh) = if w <= h {
            (s, (u64::from(s) * u64::from(h) / u64::from(w)) as u32)
        } else {
            ((u64::from(s) * u64::from(w) / u64::from(h)) as u32, s)
        };
        let resized =
            image::imageops::resize(&buf, nw, nh, image::imageops::FilterType::CatmullRom);
        let c = self.crop;
        let (top, left) = (nh.saturating_sub(c) / 2, nw.saturating_sub(c) / 2);
        let cropped = image::imageops::crop_imm(&resized, left, top, c, c).to_image();
        let pixels = Tensor::from_slice(cropped.as_raw())
            .view([i64::from(c), i64::from(c), 3])
            .permute([2, 0, 1])
            .to_kind(Kind::Float)
            / 255.0;
        let mean = Tensor::from_slice(&self.mean.map(|m| m as f32)).view([3, 1, 1]);
        let std = Tensor::from_slice(&self.std.map(|m| m as f32)).view([3, 1, 1]);
        Ok(((pixels - mean) / std).unsqueeze(0))
    }

    /// The projected CLIP image embedding of preprocessed pixels `(b, 3, s, s)`.
    pub fn image_embeds(&self, pixels: &Tensor) -> Tensor {
        let _g = tch::no_grad_guard();
        let x = pixels.to_device(self.device).to_kind(Kind::Float);
        let patches = x.conv2d(
            &self.patch_embedding,
            None::<Tensor>,
            [self.patch, self.patch],
            [0, 0],
            [1, 1],
            1,
        );
        let b = patches.size()[0];
        let hidden = patches.size()[1];
        let tokens = patches.flatten(2, -1).transpose(1, 2);
        let cls = self
            .class_embedding
            .view([1, 1, hidden])
            .expand([b, 1, hidden], false);
        let x = Tensor::cat(&[cls, tokens], 1) + self.position_embedding.unsqueeze(0);
        let x = self.pre_ln.forward(&x);
        let x = self.encoder.run(x, self.encoder.len());
        let pooled = self.post_ln.forward(&x.select(1, 0));
        self.projection.forward(&pooled)
    }

    /// Checks images as diffusers' `StableDiffusionSafetyChecker.forward` does.
    pub fn check(&self, images: &[RgbImage]) -> Result<Vec<SafetyVerdict>> {
        let _g = tch::no_grad_guard();
        images
            .iter()
            .map(|img| {
                let embeds = self.image_embeds(&self.preprocess(img)?);
                let special = cosine(&embeds, &self.special)?;
                let concepts = cosine(&embeds, &self.concepts)?;
                Ok(verdict(
                    &special,
                    &self.special_thresholds,
                    &concepts,
                    &self.concept_thresholds,
                ))
            })
            .collect()
    }
}

fn thresholds(t: &Tensor) -> Result<Vec<f64>> {
    Ok(
        Vec::<f32>::try_from(&t.to_kind(Kind::Float).to_device(Device::Cpu))?
            .into_iter()
            .map(f64::from)
            .collect(),
    )
}

/// Cosine similarities of one embedding `(1, d)` to each row of `bank` `(k, d)`.
fn cosine(embeds: &Tensor, bank: &Tensor) -> Result<Vec<f32>> {
    let norm = |t: &Tensor| t / t.norm_scalaropt_dim(2, [-1], true);
    let sim = norm(embeds).matmul(&norm(bank).transpose(0, 1));
    Ok(Vec::<f32>::try_from(
        &sim.flatten(0, -1)
            .to_kind(Kind::Float)
            .to_device(Device::Cpu),
    )?)
}

/// diffusers' scoring: special-care scores first (a match adds 0.01 to every later score),
/// then concept scores; each score is rounded to 3 decimals and counts when above 0.
fn verdict(
    special_sim: &[f32],
    special_thr: &[f64],
    concept_sim: &[f32],
    concept_thr: &[f64],
) -> SafetyVerdict {
    let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
    let mut adjustment = 0.0;
    let mut special = Vec::new();
    for (i, (&sim, &thr)) in special_sim.iter().zip(special_thr).enumerate() {
        if round3(f64::from(sim) - thr + adjustment) > 0.0 {
            special.push(i);
            adjustment = 0.01;
        }
    }
    let mut concepts = Vec::new();
    let mut concept_scores = Vec::new();
    for (i, (&sim, &thr)) in concept_sim.iter().zip(concept_thr).enumerate() {
        let score = round3(f64::from(sim) - thr + adjustment);
        concept_scores.push(score);
        if score > 0.0 {
            concepts.push(i);
        }
    }
    SafetyVerdict {
        concepts,
        special,
        concept_scores,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_special_care_match_lowers_every_concept_threshold_by_a_hundredth() {
        let v = verdict(&[0.3], &[0.5], &[0.495], &[0.5]);
        assert!(!v.flagged(), "no special match: 0.495 < 0.5");
        let v = verdict(&[0.6], &[0.5], &[0.495], &[0.5]);
        assert_eq!(v.special, vec![0]);
        assert_eq!(v.concepts, vec![0], "0.495 + 0.01 > 0.5");
        assert!(
            v.reason().contains("concepts 0; special care 0"),
            "{}",
            v.reason()
        );
    }
}
