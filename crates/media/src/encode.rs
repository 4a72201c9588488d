//! Encoding a finished frame into the first allowed format that fits the byte limit.
//!
//! Encoders are fed raw RGB pixels and given no metadata, so the output carries none: no EXIF,
//! no ICC (pixels are already sRGB, which every platform assumes for untagged files), no text.

use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use jpeg_encoder::{ColorType, Encoder};

use crate::error::MediaError;
use crate::format::OutputFormat;
use crate::preset::Preset;

/// An encoded frame.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub format: OutputFormat,
    /// JPEG quality used; `None` for lossless formats.
    pub quality: Option<u8>,
}

/// Encodes `frame` for `preset`: each allowed format in the preset's order (or only `only`),
/// the first that fits `preset.max_bytes` wins.
///
/// # Errors
/// [`MediaError::FormatNotAllowed`], [`MediaError::DoesNotFit`] (with the smallest size seen),
/// or [`MediaError::Encode`].
pub fn encode_for(
    frame: &RgbImage,
    preset: &Preset,
    only: Option<OutputFormat>,
) -> Result<Encoded, MediaError> {
    let formats: Vec<OutputFormat> = match only {
        Some(f) if preset.allows(f) => vec![f],
        Some(f) => {
            return Err(MediaError::FormatNotAllowed {
                preset: preset.name.clone(),
                format: f.name(),
                allowed: preset
                    .formats
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        None => preset.formats.clone(),
    };
    let mut smallest = u64::MAX;
    for format in formats {
        let attempt = match format {
            OutputFormat::Jpeg => jpeg_within(
                frame,
                preset.max_bytes,
                preset.min_quality,
                preset.max_quality,
            )?,
            OutputFormat::Png => lossless(format, png(frame)?, preset.max_bytes),
            OutputFormat::Webp => lossless(format, webp(frame)?, preset.max_bytes),
        };
        match attempt {
            Ok(done) => return Ok(done),
            Err(size) => smallest = smallest.min(size),
        }
    }
    Err(MediaError::DoesNotFit {
        preset: preset.name.clone(),
        smallest,
        limit: preset.max_bytes,
    })
}

fn lossless(format: OutputFormat, bytes: Vec<u8>, limit: u64) -> Result<Encoded, u64> {
    if bytes.len() as u64 <= limit {
        Ok(Encoded {
            bytes,
            format,
            quality: None,
        })
    } else {
        Err(bytes.len() as u64)
    }
}

/// The highest JPEG quality in `min_q..=max_q` whose file fits `limit`, found by bisection
/// (file size grows with quality, so the search needs about log2(70) = 6 encodes in the worst
/// case and one when the ceiling already fits, which is the common case for platform limits).
/// `Ok(Err(size))` reports the smallest size seen when even `min_q` does not fit.
///
/// # Errors
/// [`MediaError::Encode`] when the encoder fails.
pub fn jpeg_within(
    frame: &RgbImage,
    limit: u64,
    min_q: u8,
    max_q: u8,
) -> Result<Result<Encoded, u64>, MediaError> {
    let done = |bytes: Vec<u8>, q: u8| Encoded {
        bytes,
        format: OutputFormat::Jpeg,
        quality: Some(q),
    };
    let top = jpeg(frame, max_q)?;
    if top.len() as u64 <= limit {
        return Ok(Ok(done(top, max_q)));
    }
    let mut smallest = top.len() as u64;
    let mut best: Option<(Vec<u8>, u8)> = None;
    // Invariant: qualities > hi are known not to fit; qualities < lo are known to fit (or lo is
    // the floor).
    let (mut lo, mut hi) = (min_q.max(1), max_q.saturating_sub(1));
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        let bytes = jpeg(frame, mid)?;
        let size = bytes.len() as u64;
        smallest = smallest.min(size);
        if size <= limit {
            best = Some((bytes, mid));
            lo = mid + 1;
        } else if mid == 0 {
            break;
        } else {
            hi = mid - 1;
        }
    }
    Ok(best.map(|(b, q)| done(b, q)).ok_or(smallest))
}

/// Baseline JPEG at `quality` (4:2:0 chroma below 90, 4:4:4 from 90, like libjpeg tools),
/// optimised Huffman tables (a few % smaller for little time).
///
/// # Errors
/// [`MediaError::Encode`] for frames over 65 535 px a side (JPEG's limit) or encoder failures.
pub fn jpeg(frame: &RgbImage, quality: u8) -> Result<Vec<u8>, MediaError> {
    let err = |message: String| MediaError::Encode {
        format: "jpeg",
        message,
    };
    let (w, h) = frame.dimensions();
    let w = u16::try_from(w).map_err(|_| err(format!("width {w} over 65535")))?;
    let h = u16::try_from(h).map_err(|_| err(format!("height {h} over 65535")))?;
    let mut out = Vec::with_capacity(usize::from(w) * usize::from(h) / 3);
    let mut encoder = Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_optimized_huffman_tables(true);
    encoder
        .encode(frame.as_raw(), w, h, ColorType::Rgb)
        .map_err(|e| err(e.to_string()))?;
    Ok(out)
}

/// PNG with fast deflate and adaptive filters: we only choose PNG where a platform accepts it
/// and it fits, and platforms recompress it anyway, so encode time matters more than bytes.
///
/// # Errors
/// [`MediaError::Encode`].
pub fn png(frame: &RgbImage) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, PngFilter::Adaptive)
        .write_image(
            frame.as_raw(),
            frame.width(),
            frame.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|e| MediaError::Encode {
            format: "png",
            message: e.to_string(),
        })?;
    Ok(out)
}

/// Lossless WebP (the `image` crate has no lossy WebP encoder).
///
/// # Errors
/// [`MediaError::Encode`].
pub fn webp(frame: &RgbImage) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(
            frame.as_raw(),
            frame.width(),
            frame.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|e| MediaError::Encode {
            format: "webp",
            message: e.to_string(),
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::metadata_segments;

    fn noisy(w: u32, h: u32) -> RgbImage {
        let mut seed = 0x2545_F491_u32;
        RgbImage::from_fn(w, h, |x, y| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let n = (seed % 64) as u8;
            image::Rgb([(x % 256) as u8 / 2 + n, (y % 256) as u8 / 2 + n, n * 2])
        })
    }

    #[test]
    fn jpeg_search_takes_the_highest_quality_that_fits() {
        let frame = noisy(256, 256);
        let at = |q| jpeg(&frame, q).expect("encode").len() as u64;
        let limit = (at(50) + at(51)) / 2;
        let got = jpeg_within(&frame, limit, 10, 90)
            .expect("encoder works")
            .expect("fits at some quality");
        let q = got.quality.expect("jpeg has quality");
        assert!(got.bytes.len() as u64 <= limit);
        assert!(at(q + 1) > limit, "q{q} fits but q{} also fits", q + 1);
        assert!(metadata_segments(&got.bytes, OutputFormat::Jpeg).is_empty());
    }

    #[test]
    fn jpeg_ceiling_used_when_it_fits_and_floor_reports_smallest() {
        let frame = noisy(64, 64);
        let got = jpeg_within(&frame, 1 << 30, 30, 88)
            .expect("encode")
            .expect("fits");
        assert_eq!(got.quality, Some(88));
        let smallest = jpeg_within(&frame, 10, 30, 88).expect("encode");
        assert_eq!(
            smallest.err(),
            Some(jpeg(&frame, 30).expect("encode").len() as u64)
        );
    }

    #[test]
    fn lossless_outputs_decode_to_the_same_pixels_and_carry_no_metadata() {
        let frame = noisy(33, 17);
        for (format, bytes) in [
            (OutputFormat::Png, png(&frame).expect("png")),
            (OutputFormat::Webp, webp(&frame).expect("webp")),
        ] {
            let back = image::load_from_memory(&bytes)
                .expect("decodes")
                .into_rgb8();
            assert_eq!(back, frame, "{format}");
            assert!(metadata_segments(&bytes, format).is_empty(), "{format}");
        }
    }
}
