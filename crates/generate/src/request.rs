//! What a caller asks for and what it gets back.

use serde::{Deserialize, Serialize};

pub use pressroom_core::{NoiseScheduler, UnknownScheduler};

use crate::error::GenerateError;

/// Everything that determines an image (together with the model identity).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GenerationRequest {
    pub prompt: String,
    #[serde(default)]
    pub negative_prompt: Option<String>,
    pub seed: u64,
    pub steps: u32,
    pub guidance: f32,
    pub scheduler: NoiseScheduler,
    pub width: u32,
    pub height: u32,
}

impl GenerationRequest {
    /// A request with the usual SD 1.x settings (512², 20 Euler-ancestral steps, CFG 7.5).
    pub fn new(prompt: impl Into<String>, seed: u64) -> Self {
        Self {
            prompt: prompt.into(),
            negative_prompt: None,
            seed,
            steps: 20,
            guidance: 7.5,
            scheduler: NoiseScheduler::EulerAncestral,
            width: 512,
            height: 512,
        }
    }

    /// Cheap checks every backend shares, run before any work or network call.
    pub fn validate(&self) -> Result<(), GenerateError> {
        let bad = |m: String| Err(GenerateError::InvalidRequest(m));
        if self.prompt.trim().is_empty() {
            return bad("prompt is empty".into());
        }
        // Characters, as OpenAI's limit and our API schema's maxLength count them.
        if self.prompt.chars().count() > 4000 {
            return bad("prompt is longer than 4000 characters".into());
        }
        if self.width == 0
            || self.height == 0
            || !self.width.is_multiple_of(8)
            || !self.height.is_multiple_of(8)
        {
            return bad(format!(
                "width and height must be positive multiples of 8 (got {}x{})",
                self.width, self.height
            ));
        }
        if self.width > 4096 || self.height > 4096 {
            return bad("width and height must be at most 4096".into());
        }
        if self.steps == 0 || self.steps > 1000 {
            return bad(format!(
                "steps must be between 1 and 1000 (got {})",
                self.steps
            ));
        }
        if !self.guidance.is_finite() || !(0.0..=100.0).contains(&self.guidance) {
            return bad(format!(
                "guidance must be between 0 and 100 (got {})",
                self.guidance
            ));
        }
        Ok(())
    }
}

/// One finished denoising step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub step: u32,
    pub total: u32,
}

/// Called after every step; remote backends report only completion.
pub type ProgressFn = std::sync::Arc<dyn Fn(Progress) + Send + Sync>;

/// A generated (or cached) image.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedImage {
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// True when the image came from the generation cache without running the model.
    pub cache_hit: bool,
    pub generation_key: String,
}

/// Width and height of a PNG (or other supported image) without decoding its pixels.
pub fn image_dimensions(bytes: &[u8]) -> Result<(u32, u32), GenerateError> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| GenerateError::Image(e.to_string()))?
        .into_dimensions()
        .map_err(|e| GenerateError::Image(e.to_string()))
}

/// The sizes a model was trained at, which it composes best at. A campaign that leaves the
/// size to its `fit = "native"` target asks the generator for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeSize {
    /// SD 1.x/2.x: sides near this short side (512, or 768 for the 768-v models), at the
    /// target's aspect.
    ShortSide(u32),
    /// SDXL: the trained bucket (about one megapixel) closest to the target's aspect.
    SdxlBuckets,
}
