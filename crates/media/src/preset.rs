//! One platform preset: the frame a rendition must fill and the rules its file must meet.

use serde::{Deserialize, Serialize};

use crate::error::MediaError;
use crate::format::OutputFormat;

/// The largest side a preset may ask for; JPEG's own limit is 65 535 and no platform wants more
/// than a few thousand pixels.
pub const MAX_PRESET_SIDE: u32 = 8192;

/// SDXL's trained resolutions (width × height), square to 2.4:1 either way.
pub const SDXL_BUCKETS: [(u32, u32); 9] = [
    (1024, 1024),
    (1152, 896),
    (896, 1152),
    (1216, 832),
    (832, 1216),
    (1344, 768),
    (768, 1344),
    (1536, 640),
    (640, 1536),
];

/// Relative tolerance when checking a size against an aspect range: 1080x566 is "1.91:1" to the
/// platforms although 1080/566 = 1.908.
pub const ASPECT_TOLERANCE: f32 = 0.01;

/// Colour space of the output pixels. Only sRGB exists because every platform converts
/// anything else to sRGB itself, and does it worse than we can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorSpace {
    #[default]
    Srgb,
}

impl ColorSpace {
    /// Human name with the bit depth every rendition has, for `pressroom presets`.
    pub fn name(self) -> &'static str {
        match self {
            ColorSpace::Srgb => "sRGB 8-bit",
        }
    }
}

/// A platform preset. Loaded from the bundled `presets.toml` or from config overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Stable id, e.g. `instagram-portrait`.
    pub name: String,
    /// Platform id as used across the product: facebook, instagram, linkedin, tiktok, snapchat,
    /// sandbox.
    pub platform: String,
    /// Output width in pixels (exact).
    pub width: u32,
    /// Output height in pixels (exact).
    pub height: u32,
    /// Width/height ratios the platform accepts for this kind of post, inclusive.
    pub aspect_range: (f32, f32),
    /// Accepted encodings, in order of preference: the first one that fits the byte limit wins.
    pub formats: Vec<OutputFormat>,
    /// Largest file the platform accepts, in bytes.
    pub max_bytes: u64,
    /// Output colour space (always sRGB, 8 bits per channel).
    #[serde(default)]
    pub color_space: ColorSpace,
    /// JPEG quality ceiling: the search never goes above it (beyond ~90 files grow fast for
    /// no visible gain, and every platform recompresses anyway).
    #[serde(default = "default_max_quality")]
    pub max_quality: u8,
    /// JPEG quality floor: below it the rendition fails rather than ship mush.
    #[serde(default = "default_min_quality")]
    pub min_quality: u8,
    /// Where the numbers come from (PLATFORMS.md section, platform doc), for humans.
    #[serde(default)]
    pub source: String,
}

fn default_max_quality() -> u8 {
    90
}

fn default_min_quality() -> u8 {
    30
}

impl Preset {
    /// Width / height of the output frame.
    pub fn aspect(&self) -> f32 {
        self.width as f32 / self.height.max(1) as f32
    }

    /// Whether an image of `width`x`height` has an aspect this preset's platform accepts.
    pub fn accepts_aspect(&self, width: u32, height: u32) -> bool {
        if width == 0 || height == 0 {
            return false;
        }
        let a = width as f32 / height as f32;
        let (lo, hi) = self.aspect_range;
        a >= lo * (1.0 - ASPECT_TOLERANCE) && a <= hi * (1.0 + ASPECT_TOLERANCE)
    }

    /// Whether the preset allows `format`.
    pub fn allows(&self, format: OutputFormat) -> bool {
        self.formats.contains(&format)
    }

    /// The size to ask the image generator for so the output needs no crop (`Fit::Native`):
    /// both sides multiples of 64 (what latent diffusion models need), short side near 512.
    pub fn generation_size(&self) -> (u32, u32) {
        self.generation_size_for(512)
    }

    /// The SDXL training bucket (about one megapixel, both sides multiples of 64) closest to
    /// the preset's aspect: SDXL composes best at the sizes it was trained on, so a model of
    /// that family generates at this size rather than at [`Preset::generation_size_for`].
    pub fn sdxl_bucket(&self) -> (u32, u32) {
        let aspect = f64::from(self.width.max(1)) / f64::from(self.height.max(1));
        let off = |&(w, h): &(u32, u32)| (f64::from(w) / f64::from(h) / aspect).ln().abs();
        SDXL_BUCKETS
            .iter()
            .copied()
            .min_by(|a, b| off(a).total_cmp(&off(b)))
            .unwrap_or((1024, 1024))
    }

    /// Like [`Preset::generation_size`] for another short side (e.g. 768 or 1024 for SDXL).
    /// Tries the short side one step of 64 either way and keeps the pair closest to the
    /// preset's aspect, so 9:16 gives 576x1024 rather than a 512x896 that must be cropped.
    pub fn generation_size_for(&self, short_side: u32) -> (u32, u32) {
        let base = round64(short_side.clamp(64, MAX_PRESET_SIDE));
        let portrait = self.height > self.width;
        let (short, long) = if portrait {
            (self.width.max(1), self.height.max(1))
        } else {
            (self.height.max(1), self.width.max(1))
        };
        let ratio = long as f64 / short as f64;
        let mut best = (base, round64((base as f64 * ratio) as u32));
        let mut best_err = f64::MAX;
        for s in [base, base.saturating_sub(64).max(64), base + 64] {
            let l = round64((s as f64 * ratio).round() as u32).max(s);
            let err = ((l as f64 / s as f64) / ratio - 1.0).abs();
            // Prefer the requested short side unless another is clearly closer in aspect.
            if err + 1e-3 < best_err || (s == base && err <= best_err + 1e-3) {
                best = (s, l);
                best_err = err;
            }
        }
        if portrait { best } else { (best.1, best.0) }
    }

    /// Checks that the preset is internally consistent (used on bundled and overridden presets).
    ///
    /// # Errors
    /// [`MediaError::InvalidPreset`] naming the first broken rule.
    pub fn validate(&self) -> Result<(), MediaError> {
        let bad = |reason: String| MediaError::InvalidPreset {
            name: self.name.clone(),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(bad("empty name".into()));
        }
        if self.platform.trim().is_empty() || self.platform != self.platform.to_lowercase() {
            return Err(bad(format!(
                "platform {:?} must be lowercase",
                self.platform
            )));
        }
        if self.width == 0
            || self.height == 0
            || self.width > MAX_PRESET_SIDE
            || self.height > MAX_PRESET_SIDE
        {
            return Err(bad(format!(
                "size {}x{} outside 1..={MAX_PRESET_SIDE}",
                self.width, self.height
            )));
        }
        let (lo, hi) = self.aspect_range;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
            return Err(bad(format!("aspect range ({lo}, {hi}) is not a range")));
        }
        if !self.accepts_aspect(self.width, self.height) {
            return Err(bad(format!(
                "size {}x{} (aspect {:.3}) outside its own aspect range ({lo}, {hi})",
                self.width,
                self.height,
                self.aspect()
            )));
        }
        if self.formats.is_empty() {
            return Err(bad("no output formats".into()));
        }
        if self.max_bytes < 1024 {
            return Err(bad(format!("max_bytes {} is too small", self.max_bytes)));
        }
        if !(1..=100).contains(&self.min_quality)
            || !(1..=100).contains(&self.max_quality)
            || self.min_quality > self.max_quality
        {
            return Err(bad(format!(
                "quality range {}..={} must lie in 1..=100",
                self.min_quality, self.max_quality
            )));
        }
        Ok(())
    }
}

fn round64(v: u32) -> u32 {
    (((v + 32) / 64) * 64).max(64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(w: u32, h: u32) -> Preset {
        Preset {
            name: "t".into(),
            platform: "sandbox".into(),
            width: w,
            height: h,
            aspect_range: (0.1, 10.0),
            formats: vec![OutputFormat::Jpeg],
            max_bytes: 1 << 20,
            color_space: ColorSpace::Srgb,
            max_quality: 90,
            min_quality: 30,
            source: String::new(),
        }
    }

    #[test]
    fn sdxl_buckets_follow_the_aspect() {
        assert_eq!(preset(1080, 1080).sdxl_bucket(), (1024, 1024));
        assert_eq!(preset(1080, 1350).sdxl_bucket(), (896, 1152));
        assert_eq!(preset(1080, 1920).sdxl_bucket(), (768, 1344));
        assert_eq!(preset(1920, 1080).sdxl_bucket(), (1344, 768));
        assert_eq!(preset(1200, 627).sdxl_bucket(), (1344, 768));
        assert_eq!(preset(1500, 500).sdxl_bucket(), (1536, 640));
    }

    #[test]
    fn generation_sizes_are_multiples_of_64_near_the_aspect() {
        assert_eq!(preset(1080, 1080).generation_size(), (512, 512));
        assert_eq!(preset(1080, 1350).generation_size(), (512, 640));
        assert_eq!(preset(1080, 1920).generation_size(), (576, 1024));
        let (w, h) = preset(1080, 566).generation_size();
        assert_eq!((w % 64, h % 64), (0, 0));
        assert!(((w as f32 / h as f32) / (1080.0 / 566.0) - 1.0).abs() < 0.03);
        assert_eq!(preset(1080, 1080).generation_size_for(1024), (1024, 1024));
    }

    #[test]
    fn every_bundled_preset_has_a_close_generation_size() {
        for p in crate::presets() {
            let (w, h) = p.generation_size();
            assert_eq!((w % 64, h % 64), (0, 0), "{}", p.name);
            assert!((448..=640).contains(&w.min(h)), "{}: {w}x{h}", p.name);
            let err = (w as f32 / h as f32) / p.aspect() - 1.0;
            assert!(err.abs() < 0.03, "{}: {w}x{h} is {err:+.3} off", p.name);
        }
    }

    #[test]
    fn validate_rejects_inconsistent_presets() {
        assert!(preset(1080, 1080).validate().is_ok());
        let mut p = preset(1080, 1080);
        p.aspect_range = (1.5, 2.0);
        assert!(p.validate().is_err());
        let mut p = preset(0, 10);
        p.aspect_range = (0.0, 1.0);
        assert!(p.validate().is_err());
        let mut p = preset(100, 100);
        p.formats.clear();
        assert!(p.validate().is_err());
        let mut p = preset(100, 100);
        p.min_quality = 95;
        assert!(p.validate().is_err());
    }

    #[test]
    fn aspect_tolerance_admits_rounded_sizes() {
        let mut p = preset(1080, 566);
        p.aspect_range = (0.8, 1.91);
        assert!(p.accepts_aspect(1080, 566));
        assert!(p.accepts_aspect(1080, 1350));
        assert!(!p.accepts_aspect(1080, 1920));
        assert!(!p.accepts_aspect(0, 5));
    }
}
