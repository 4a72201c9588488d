//! What tensor shapes cannot tell, from each family's published diffusers configuration
//! (shipped in the binary from `crates/models/assets/configs/<family>/`):
//! - SD 1.x: runwayml/stable-diffusion-v1-5 (8 heads per block, CLIP ViT-L with quick_gelu,
//!   PNDM schedule, VAE scaling 0.18215, 512²).
//! - SD 2.x: stabilityai/stable-diffusion-2-1 (64-wide heads, `upcast_attention`, OpenCLIP
//!   ViT-H with gelu, DDIM schedule, 768²).
//! - SDXL: stabilityai/stable-diffusion-xl-base-1.0 (64-wide heads, `text_time` add
//!   embedding, a second encoder OpenCLIP bigG with projection, Euler schedule, VAE scaling
//!   0.13025 with `force_upcast`, 1024²).
//!
//! The files are the published ones, except that the tokenizer configs drop the
//! `name_or_path`/`special_tokens_map_file` bookkeeping and name the pad token in
//! tokenizer_config.json as well as special_tokens_map.json (SD 2.1 publishes
//! `<|endoftext|>` in one and `!` in the other; transformers lets the map win, so `!`).
//! The CLIP vocabulary is the real one (49,408 tokens; `scripts/models/clip_vocab.py`).

use serde_json::{Value, json};

use super::Prediction;
use crate::error::{ModelError, Result};
use crate::family::Family;

pub const VOCAB: &str = include_str!("../../assets/clip/vocab.json");
pub const MERGES: &str = include_str!("../../assets/clip/merges.txt");

/// One family's published files, as text.
pub struct Published {
    pub family: Family,
    pub model_index: &'static str,
    pub unet: &'static str,
    pub vae: &'static str,
    pub text_encoder: &'static str,
    pub text_encoder_2: Option<&'static str>,
    pub scheduler: &'static str,
    /// `tokenizer_config.json`, `special_tokens_map.json`.
    pub tokenizer: [&'static str; 2],
    pub tokenizer_2: Option<[&'static str; 2]>,
}

macro_rules! asset {
    ($family:literal, $($path:tt)+) => {
        include_str!(concat!("../../assets/configs/", $family, "/", $($path)+))
    };
}

macro_rules! tokenizer {
    ($family:literal, $dir:literal) => {
        [
            asset!($family, $dir, "/tokenizer_config.json"),
            asset!($family, $dir, "/special_tokens_map.json"),
        ]
    };
}

pub fn published(family: Family) -> Published {
    match family {
        Family::Sd1 => Published {
            family,
            model_index: asset!("sd1", "model_index.json"),
            unet: asset!("sd1", "unet/config.json"),
            vae: asset!("sd1", "vae/config.json"),
            text_encoder: asset!("sd1", "text_encoder/config.json"),
            text_encoder_2: None,
            scheduler: asset!("sd1", "scheduler/scheduler_config.json"),
            tokenizer: tokenizer!("sd1", "tokenizer"),
            tokenizer_2: None,
        },
        Family::Sd2 => Published {
            family,
            model_index: asset!("sd2", "model_index.json"),
            unet: asset!("sd2", "unet/config.json"),
            vae: asset!("sd2", "vae/config.json"),
            text_encoder: asset!("sd2", "text_encoder/config.json"),
            text_encoder_2: None,
            scheduler: asset!("sd2", "scheduler/scheduler_config.json"),
            tokenizer: tokenizer!("sd2", "tokenizer"),
            tokenizer_2: None,
        },
        Family::Sdxl => Published {
            family,
            model_index: asset!("sdxl", "model_index.json"),
            unet: asset!("sdxl", "unet/config.json"),
            vae: asset!("sdxl", "vae/config.json"),
            text_encoder: asset!("sdxl", "text_encoder/config.json"),
            text_encoder_2: Some(asset!("sdxl", "text_encoder_2/config.json")),
            scheduler: asset!("sdxl", "scheduler/scheduler_config.json"),
            tokenizer: tokenizer!("sdxl", "tokenizer"),
            tokenizer_2: Some(tokenizer!("sdxl", "tokenizer_2")),
        },
    }
}

impl Published {
    /// One of the bundled JSON files, parsed.
    pub fn parse(&self, text: &str, what: &str) -> Result<Value> {
        serde_json::from_str(text).map_err(|e| {
            ModelError::Import(format!(
                "the bundled {} {what} is not valid JSON: {e}",
                self.family
            ))
        })
    }

    /// model_index.json: the published one, without the safety checker and feature
    /// extractor a single-file checkpoint does not carry.
    pub fn model_index(&self) -> Result<Value> {
        let mut index = self.parse(self.model_index, "model_index.json")?;
        if let Some(map) = index.as_object_mut() {
            for key in ["safety_checker", "feature_extractor"] {
                if map.contains_key(key) {
                    map.insert(key.into(), json!([null, null]));
                }
            }
            if self.family != Family::Sdxl {
                map.insert("requires_safety_checker".into(), json!(false));
            }
        }
        Ok(index)
    }

    /// scheduler_config.json with the prediction type asked for (weights cannot tell).
    pub fn scheduler(&self, prediction: Prediction) -> Result<Value> {
        let mut config = self.parse(self.scheduler, "scheduler_config.json")?;
        let value = match prediction {
            Prediction::Epsilon => "epsilon",
            Prediction::V => "v_prediction",
        };
        if let Some(map) = config.as_object_mut()
            && (map.contains_key("prediction_type") || prediction == Prediction::V)
        {
            map.insert("prediction_type".into(), json!(value));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_files_parse_and_say_what_the_families_publish() {
        for family in [Family::Sd1, Family::Sd2, Family::Sdxl] {
            let p = published(family);
            for (text, what) in [
                (p.unet, "unet"),
                (p.vae, "vae"),
                (p.text_encoder, "text_encoder"),
                (p.tokenizer[0], "tokenizer_config"),
                (p.tokenizer[1], "special_tokens_map"),
            ] {
                p.parse(text, what).expect("bundled JSON");
            }
            let index = p.model_index().expect("model index");
            assert_ne!(
                index["safety_checker"],
                json!(["stable_diffusion", "StableDiffusionSafetyChecker"])
            );
            let eps = p.scheduler(Prediction::Epsilon).expect("scheduler");
            assert_ne!(eps["prediction_type"], json!("v_prediction"), "{family}");
            let v = p.scheduler(Prediction::V).expect("scheduler");
            assert_eq!(v["prediction_type"], json!("v_prediction"), "{family}");
        }
        let sd2 = published(Family::Sd2);
        let unet = sd2.parse(sd2.unet, "unet").expect("json");
        assert_eq!(unet["upcast_attention"], json!(true));
        let pad = sd2.parse(sd2.tokenizer[0], "tok").expect("json");
        assert_eq!(pad["pad_token"], json!("!"));
        let xl = published(Family::Sdxl);
        let vae = xl.parse(xl.vae, "vae").expect("json");
        assert_eq!(vae["scaling_factor"], json!(0.13025));
    }

    #[test]
    fn vocabulary_is_the_real_clip_one() {
        let vocab: serde_json::Map<String, Value> = serde_json::from_str(VOCAB).expect("vocab");
        assert_eq!(vocab.len(), 49_408);
        assert_eq!(vocab["<|endoftext|>"], json!(49_407));
        assert!(MERGES.starts_with("#version"));
    }
}
