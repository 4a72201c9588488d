//! The renderer: one source image in, one file per preset out.

use std::sync::OnceLock;

use fast_image_resize::FilterType;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::contain::contain;
use crate::decode::{DecodeLimits, decode};
use crate::encode::encode_for;
use crate::error::MediaError;
use crate::fit::{Background, Fit};
use crate::format::OutputFormat;
use crate::preset::Preset;
use crate::resize::{self, Crop};
use crate::saliency::SaliencyMap;

/// Where `cover` puts its crop window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CropAnchor {
    /// The window with the most detail (see `saliency`).
    #[default]
    Smart,
    /// Always the centre (what `convert -gravity center` and `vipsthumbnail -c` do).
    Centre,
}

/// Everything `render` can be told beyond the preset and fit. Serialisable so a render job can
/// carry it; every field has a default.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenderOptions {
    pub fit: Fit,
    /// Bars for `contain`.
    pub background: Background,
    /// Force one of the preset's formats instead of the first that fits.
    pub format: Option<OutputFormat>,
    /// Crop placement for `cover`.
    pub anchor: CropAnchor,
    /// Limits for decoding the input.
    pub limits: DecodeLimits,
}

impl RenderOptions {
    /// Defaults with this fit.
    pub fn fit(fit: Fit) -> RenderOptions {
        RenderOptions {
            fit,
            ..RenderOptions::default()
        }
    }
}

/// A finished rendition: exactly the preset's size, an allowed format, within its byte limit,
/// 8-bit sRGB, no metadata.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendition {
    pub bytes: Vec<u8>,
    pub format: OutputFormat,
    pub width: u32,
    pub height: u32,
    /// JPEG quality chosen by the byte-limit search; `None` for lossless formats.
    pub quality: Option<u8>,
}

impl std::fmt::Debug for Rendition {
    /// Sizes, not megabytes of bytes, so logs and test failures stay readable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendition")
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("quality", &self.quality)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Decodes `input` (with default limits) and renders it for `preset`.
///
/// # Errors
/// Any [`MediaError`] from decoding, resizing or encoding.
pub fn render(input: &[u8], preset: &Preset, fit: Fit) -> Result<Rendition, MediaError> {
    render_with(input, preset, &RenderOptions::fit(fit))
}

/// [`render`] with every option.
///
/// # Errors
/// Any [`MediaError`] from decoding, resizing or encoding.
pub fn render_with(
    input: &[u8],
    preset: &Preset,
    options: &RenderOptions,
) -> Result<Rendition, MediaError> {
    let source = Source::decode(input, &options.limits)?;
    source.render(preset, options)
}

/// One preset's outcome in [`render_all`].
pub type PresetResult<'p> = (&'p Preset, Result<Rendition, MediaError>);

/// Decodes once and renders every preset: what a render job for one asset does. Each preset
/// gets its own result so one failure does not hide the others.
///
/// # Errors
/// The outer error is a decode failure (nothing can be rendered).
pub fn render_all<'p>(
    input: &[u8],
    presets: impl IntoIterator<Item = &'p Preset>,
    options: &RenderOptions,
) -> Result<Vec<PresetResult<'p>>, MediaError> {
    let source = Source::decode(input, &options.limits)?;
    Ok(presets
        .into_iter()
        .map(|p| (p, source.render(p, options)))
        .collect())
}

/// A decoded source image with its saliency map, reusable across presets.
/// The saliency map is built on first use: centre crops and native fits never pay for it.
#[derive(Clone)]
pub struct Source {
    image: RgbImage,
    saliency: OnceLock<SaliencyMap>,
}

impl Source {
    /// Decodes untrusted bytes within `limits`.
    ///
    /// # Errors
    /// Decode errors (see [`decode`]).
    pub fn decode(input: &[u8], limits: &DecodeLimits) -> Result<Source, MediaError> {
        Ok(Source::from_image(decode(input, limits)?.image))
    }

    /// Wraps pixels that are already 8-bit sRGB (e.g. straight from the generator).
    pub fn from_image(image: RgbImage) -> Source {
        Source {
            image,
            saliency: OnceLock::new(),
        }
    }

    fn saliency(&self) -> &SaliencyMap {
        self.saliency.get_or_init(|| SaliencyMap::new(&self.image))
    }

    /// The decoded pixels.
    pub fn image(&self) -> &RgbImage {
        &self.image
    }

    /// The frame (pixels before encoding) for `preset`.
    ///
    /// # Errors
    /// [`MediaError::Resize`] for impossible sizes.
    pub fn frame(&self, preset: &Preset, options: &RenderOptions) -> Result<RgbImage, MediaError> {
        let (w, h) = (preset.width, preset.height);
        let (sw, sh) = self.image.dimensions();
        match options.fit {
            Fit::Contain => contain(
                &self.image,
                || self.saliency().best_crop(w, h),
                w,
                h,
                options.background,
            ),
            Fit::Cover | Fit::Native => {
                let crop = match (options.fit, options.anchor) {
                    // Generated at the preset's aspect: the window is (almost) the whole image,
                    // so centring the sliver that remains is right. Far-off inputs fall through
                    // to the smart crop rather than being cut blindly.
                    (Fit::Native, _) if nearly_same_aspect(sw, sh, w, h) => {
                        centre_crop(sw, sh, w, h)
                    }
                    (_, CropAnchor::Centre) => centre_crop(sw, sh, w, h),
                    _ => self.saliency().best_crop(w, h),
                };
                resize::resize(&self.image, crop, w, h, FilterType::Lanczos3)
            }
        }
    }

    /// Renders for `preset`: frame, then the first allowed format that fits the byte limit.
    ///
    /// # Errors
    /// [`MediaError::Resize`], [`MediaError::Encode`], [`MediaError::DoesNotFit`] or
    /// [`MediaError::FormatNotAllowed`].
    pub fn render(
        &self,
        preset: &Preset,
        options: &RenderOptions,
    ) -> Result<Rendition, MediaError> {
        let frame = self.frame(preset, options)?;
        let encoded = encode_for(&frame, preset, options.format)?;
        tracing::debug!(
            preset = %preset.name,
            format = %encoded.format,
            quality = ?encoded.quality,
            bytes = encoded.bytes.len(),
            "Rendered preset."
        );
        Ok(Rendition {
            bytes: encoded.bytes,
            format: encoded.format,
            width: frame.width(),
            height: frame.height(),
            quality: encoded.quality,
        })
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("dimensions", &self.image.dimensions())
            .finish_non_exhaustive()
    }
}

fn nearly_same_aspect(sw: u32, sh: u32, w: u32, h: u32) -> bool {
    let a = f64::from(sw) / f64::from(sh.max(1));
    let b = f64::from(w) / f64::from(h.max(1));
    (a / b - 1.0).abs() <= 0.03
}

fn centre_crop(sw: u32, sh: u32, w: u32, h: u32) -> Crop {
    let (cw, ch) = resize::cover_window(sw, sh, w, h);
    Crop {
        left: (f64::from(sw) - cw) / 2.0,
        top: (f64::from(sh) - ch) / 2.0,
        width: cw,
        height: ch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_through_json_with_defaults() {
        let options: RenderOptions =
            serde_json::from_str(r#"{"fit":"contain","background":{"solid":[1,2,3]}}"#)
                .expect("valid options");
        assert_eq!(options.fit, Fit::Contain);
        assert_eq!(options.background, Background::Solid([1, 2, 3]));
        assert_eq!(options.anchor, CropAnchor::Smart);
        assert_eq!(options.limits, DecodeLimits::default());
        let back: RenderOptions =
            serde_json::from_str(&serde_json::to_string(&options).expect("serialises"))
                .expect("parses");
        assert_eq!(back, options);
        assert!(serde_json::from_str::<RenderOptions>(r#"{"fitt":"cover"}"#).is_err());
    }
}
