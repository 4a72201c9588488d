//! Decoding untrusted input into 8-bit sRGB RGB pixels, within limits.
//!
//! Inputs come from generators, uploads and remote URLs, so nothing about them is trusted: the
//! header's dimensions are checked against [`DecodeLimits`] before any pixel buffer exists, the
//! decoder itself runs with the `image` crate's allocation limit, and every decoder failure
//! (truncation, corruption) becomes a [`MediaError`], never a panic.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::color;
use crate::error::MediaError;

/// Limits applied while decoding outside input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeLimits {
    /// Largest accepted width in pixels.
    pub max_width: u32,
    /// Largest accepted height in pixels.
    pub max_height: u32,
    /// Largest pixel buffer the decoder may allocate, in bytes.
    pub max_alloc: u64,
}

impl Default for DecodeLimits {
    /// 16384 px a side and 512 MiB: above any camera or generator output (a 100 MP RGB photo is
    /// 300 MB), below what takes a 24 GB worker down when a few renders run at once.
    fn default() -> Self {
        DecodeLimits {
            max_width: 16_384,
            max_height: 16_384,
            max_alloc: 512 * 1024 * 1024,
        }
    }
}

/// A decoded image ready for resizing, plus facts about the source.
#[derive(Clone)]
pub struct Decoded {
    /// Upright (EXIF orientation applied), sRGB, 8 bits per channel, alpha flattened on white.
    pub image: RgbImage,
    /// The source container format.
    pub format: ImageFormat,
    /// Whether an embedded ICC profile was converted to sRGB.
    pub converted_profile: bool,
}

impl std::fmt::Debug for Decoded {
    /// Dimensions, not pixels, so test failures and logs stay readable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded")
            .field("dimensions", &self.image.dimensions())
            .field("format", &self.format)
            .field("converted_profile", &self.converted_profile)
            .finish()
    }
}

/// Decodes PNG, JPEG or WebP bytes within `limits`.
///
/// # Errors
/// [`MediaError::UnknownFormat`], [`MediaError::TooLarge`], [`MediaError::AllocLimit`],
/// [`MediaError::Empty`] or [`MediaError::Decode`].
pub fn decode(input: &[u8], limits: &DecodeLimits) -> Result<Decoded, MediaError> {
    let format = image::guess_format(input).map_err(|_| MediaError::UnknownFormat)?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP
    ) {
        return Err(MediaError::UnknownFormat);
    }
    if format == ImageFormat::Jpeg {
        check_jpeg_complete(input)?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(input), format);
    // Dimensions are checked by us (for a precise error); `image` enforces the allocation cap
    // inside the decoder as well, for buffers we do not see.
    let mut image_limits = Limits::default();
    image_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(image_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| map_image_error(e, limits))?;

    let (width, height) = decoder.dimensions();
    check_dimensions(
        width,
        height,
        decoder.color_type().bytes_per_pixel(),
        limits,
    )?;

    // Metadata we act on before it is dropped: orientation (or the picture ends up sideways)
    // and the colour profile (or P3 colours come out dull). A broken tag is ignored, not fatal.
    let orientation = decoder.orientation().ok();
    let icc = decoder.icc_profile().ok().flatten();

    let dynamic = DynamicImage::from_decoder(decoder).map_err(|e| map_image_error(e, limits))?;
    let mut dynamic = dynamic;
    if let Some(o) = orientation {
        dynamic.apply_orientation(o);
    }
    let mut image = to_rgb8_on_white(dynamic);
    let converted_profile = match icc {
        Some(profile) => color::to_srgb(&mut image, &profile),
        None => false,
    };
    Ok(Decoded {
        image,
        format,
        converted_profile,
    })
}

/// Rejects sizes over the limits before any pixel memory is allocated.
fn check_dimensions(
    width: u32,
    height: u32,
    bytes_per_pixel: u8,
    limits: &DecodeLimits,
) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::Empty { width, height });
    }
    if width > limits.max_width || height > limits.max_height {
        return Err(MediaError::TooLarge {
            width,
            height,
            max_width: limits.max_width,
            max_height: limits.max_height,
        });
    }
    // The decoded buffer plus the RGB copy made for resizing.
    let needed = u64::from(width) * u64::from(height) * (u64::from(bytes_per_pixel) + 3);
    if needed > limits.max_alloc {
        return Err(MediaError::AllocLimit {
            needed,
            limit: limits.max_alloc,
        });
    }
    Ok(())
}

/// Refuses a JPEG without an end-of-image marker after its first scan. The JPEG decoder fills
/// missing data with grey instead of failing, so a half-uploaded file would otherwise be
/// published with its bottom half grey. Inside entropy-coded data 0xFF is always followed by
/// 0x00 or a restart marker, so FF D9 after the scan starts can only be the real end; data
/// appended after it (motion photos) is allowed.
fn check_jpeg_complete(b: &[u8]) -> Result<(), MediaError> {
    let truncated = || MediaError::Decode("truncated JPEG: no end-of-image marker".into());
    let mut i = 2;
    // Walk header segments (by their lengths, so EXIF thumbnails are skipped) to the first SOS.
    loop {
        let (Some(&ff), Some(&marker)) = (b.get(i), b.get(i + 1)) else {
            return Err(truncated());
        };
        if ff != 0xFF {
            return Err(MediaError::Decode("corrupt JPEG header".into()));
        }
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if marker == 0xDA {
            break;
        }
        let len = match (b.get(i + 2), b.get(i + 3)) {
            (Some(&hi), Some(&lo)) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err(truncated()),
        };
        i += 2 + len;
    }
    if b[i..].windows(2).any(|w| w == [0xFF, 0xD9]) {
        Ok(())
    } else {
        Err(truncated())
    }
}

fn map_image_error(e: image::ImageError, limits: &DecodeLimits) -> MediaError {
    match e {
        image::ImageError::Limits(_) => MediaError::AllocLimit {
            needed: 0,
            limit: limits.max_alloc,
        },
        other => MediaError::Decode(other.to_string()),
    }
}

/// Converts any pixel type to 8-bit RGB; transparent areas become white (what a viewer shows
/// for a transparent PNG on a light theme, and what JPEG cannot express anyway).
fn to_rgb8_on_white(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = Vec::with_capacity(w as usize * h as usize * 3);
    for px in rgba.as_raw().chunks_exact(4) {
        let a = u16::from(px[3]);
        for &c in &px[..3] {
            // c*a + 255*(255-a), rounded, divided by 255.
            let v = (u16::from(c) * a + 255 * (255 - a) + 127) / 255;
            out.push(v as u8);
        }
    }
    // Length is exactly w*h*3 by construction, so this cannot fail; fall back to white anyway.
    RgbImage::from_raw(w, h, out)
        .unwrap_or_else(|| RgbImage::from_pixel(w, h, image::Rgb([255; 3])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(img: &DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png)
            .expect("encode png");
        out.into_inner()
    }

    #[test]
    fn decodes_png_and_flattens_alpha_on_white() {
        let mut rgba = image::RgbaImage::from_pixel(4, 3, image::Rgba([0, 0, 0, 0]));
        rgba.put_pixel(0, 0, image::Rgba([255, 0, 0, 255]));
        let bytes = png_bytes(&DynamicImage::ImageRgba8(rgba));
        let d = decode(&bytes, &DecodeLimits::default()).expect("decodes");
        assert_eq!(d.image.dimensions(), (4, 3));
        assert_eq!(d.image.get_pixel(0, 0).0, [255, 0, 0]);
        assert_eq!(d.image.get_pixel(1, 1).0, [255, 255, 255]);
        assert_eq!(d.format, ImageFormat::Png);
    }

    #[test]
    fn sixteen_bit_input_becomes_eight_bit() {
        let img = image::ImageBuffer::<image::Rgb<u16>, _>::from_pixel(
            5,
            5,
            image::Rgb([65535, 0, 32768]),
        );
        let bytes = png_bytes(&DynamicImage::ImageRgb16(img));
        let d = decode(&bytes, &DecodeLimits::default()).expect("decodes");
        assert_eq!(d.image.get_pixel(2, 2).0, [255, 0, 128]);
    }

    #[test]
    fn dimension_limits_apply_before_decoding() {
        let bytes = png_bytes(&DynamicImage::new_rgb8(300, 200));
        let limits = DecodeLimits {
            max_width: 256,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            decode(&bytes, &limits),
            Err(MediaError::TooLarge {
                width: 300,
                height: 200,
                ..
            })
        ));
        let limits = DecodeLimits {
            max_alloc: 1000,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            decode(&bytes, &limits),
            Err(MediaError::AllocLimit { .. })
        ));
    }

    #[test]
    fn garbage_and_unknown_formats_are_errors() {
        assert!(matches!(
            decode(b"hello world", &DecodeLimits::default()),
            Err(MediaError::UnknownFormat)
        ));
        assert!(matches!(
            decode(&[], &DecodeLimits::default()),
            Err(MediaError::UnknownFormat)
        ));
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        assert!(matches!(
            decode(gif, &DecodeLimits::default()),
            Err(MediaError::UnknownFormat)
        ));
    }
}
