//! The one error type of this crate: every failure names what was wrong with the input or the
//! preset, so a render job can be marked failed with a reason a person can act on.

use thiserror::Error;

/// Why decoding, rendering, encoding or preset loading failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The bytes are not an image in a format we decode (PNG, JPEG, WebP).
    #[error("unrecognised image format (expected PNG, JPEG or WebP)")]
    UnknownFormat,
    /// The image declares dimensions beyond the decode limits (a decompression bomb, or just huge).
    #[error("image is {width}x{height}, over the decode limit of {max_width}x{max_height}")]
    TooLarge {
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
    },
    /// Decoding would allocate more than the allowed number of bytes.
    #[error("decoding needs {needed} bytes, over the allocation limit of {limit} bytes")]
    AllocLimit { needed: u64, limit: u64 },
    /// The image has a zero dimension.
    #[error("image has no pixels ({width}x{height})")]
    Empty { width: u32, height: u32 },
    /// The file is corrupt or truncated; `0` is the decoder's own message.
    #[error("cannot decode image: {0}")]
    Decode(String),
    /// The embedded ICC profile could not be converted to sRGB.
    #[error("cannot convert embedded colour profile to sRGB: {0}")]
    ColorProfile(String),
    /// The resampler refused the job (should not happen for sizes that passed validation).
    #[error("resize failed: {0}")]
    Resize(String),
    /// An encoder failed.
    #[error("cannot encode {format}: {message}")]
    Encode {
        format: &'static str,
        message: String,
    },
    /// No allowed format and quality fits the preset's byte limit.
    #[error(
        "preset {preset}: smallest encoding is {smallest} bytes, over the limit of {limit} bytes"
    )]
    DoesNotFit {
        preset: String,
        smallest: u64,
        limit: u64,
    },
    /// A requested output format is not one the preset allows.
    #[error("preset {preset} does not allow {format} output (allowed: {allowed})")]
    FormatNotAllowed {
        preset: String,
        format: &'static str,
        allowed: String,
    },
    /// A preset definition (bundled or from config) is inconsistent.
    #[error("invalid preset {name}: {reason}")]
    InvalidPreset { name: String, reason: String },
    /// The preset table itself could not be parsed.
    #[error("cannot parse preset table: {0}")]
    PresetTable(String),
}
