//! Platform renditions for Pressroom.
//!
//! One generated (or uploaded) image goes in; for each platform preset a file comes out that
//! the platform accepts as is: exactly the preset's size, an allowed format, within the byte
//! limit, 8-bit sRGB, no metadata. Platforms that receive an image outside their rules either
//! refuse the post or recompress and crop it themselves, badly; doing it here keeps control of
//! the crop and the quality, and turns a late publish failure into an early, explained one.
//!
//! - [`presets`] / [`preset`] / [`Presets`]: the platform presets (bundled `presets.toml`,
//!   overridable from config with [`PresetPatch`]).
//! - [`render()`] / [`render_with`] / [`render_all`] / [`Source`]: decode within
//!   [`DecodeLimits`], fit ([`Fit::Cover`] with a saliency crop, [`Fit::Contain`],
//!   [`Fit::Native`]), encode to fit the byte limit.
//! - [`check_caption`] / [`check_caption_with`]: caption rules per platform — the one table
//!   campaign validation and every connector's `validate` use (see [`caption`]).
//! - [`cli`]: the `presets` and `render` subcommands.

pub mod caption;
pub mod cli;
mod color;
mod contain;
pub mod decode;
pub mod encode;
mod error;
mod fit;
mod format;
pub mod inspect;
mod preset;
mod registry;
pub mod render;
mod resize;
mod saliency;
mod thumbnail;

pub use caption::{
    CaptionIssue, CaptionRule, CaptionRules, LengthUnit, caption_problems, check_caption,
    check_caption_with, check_title,
};
pub use decode::{DecodeLimits, Decoded, decode};
pub use error::MediaError;
pub use fit::{Background, Fit, UnknownFit};
pub use format::{OutputFormat, UnknownFormat};
pub use inspect::metadata_segments;
pub use preset::{ColorSpace, Preset};
pub use registry::{PresetPatch, Presets, preset, presets};
pub use render::{
    CropAnchor, PresetResult, RenderOptions, Rendition, Source, render, render_all, render_with,
};
pub use thumbnail::thumbnail_jpeg;
