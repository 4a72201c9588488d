//! Small previews of our own images, for pages and reports that embed them.

use crate::{DecodeLimits, MediaError, decode, encode, resize};

/// Renditions and assets are ours, but a report must not be taken down by one huge file.
const THUMBNAIL_LIMITS: DecodeLimits = DecodeLimits {
    max_width: 12_000,
    max_height: 12_000,
    max_alloc: 400 * 1024 * 1024,
};

/// A JPEG of `input` scaled to fit within `max_side` pixels on its longer side (never up).
///
/// # Errors
/// What decoding, resizing or encoding answers.
pub fn thumbnail_jpeg(input: &[u8], max_side: u32) -> Result<Vec<u8>, MediaError> {
    let decoded = decode(input, &THUMBNAIL_LIMITS)?;
    let (w, h) = decoded.image.dimensions();
    let side = max_side.max(1);
    let (tw, th) = if w.max(h) <= side {
        (w, h)
    } else {
        resize::contain_size(w, h, side, side)
    };
    let small = resize::resize(
        &decoded.image,
        resize::Crop::full(w, h),
        tw.max(1),
        th.max(1),
        fast_image_resize::FilterType::Lanczos3,
    )?;
    encode::jpeg(&small, 82)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thumbnail_fits_the_box_and_keeps_the_aspect() {
        let image = image::RgbImage::from_pixel(400, 200, image::Rgb([200, 30, 30]));
        let png = encode::png(&image).expect("valid");
        let jpeg = thumbnail_jpeg(&png, 100).expect("valid");
        let back = image::load_from_memory(&jpeg).expect("valid");
        assert_eq!((back.width(), back.height()), (100, 50));
        let same = thumbnail_jpeg(&png, 1000).expect("valid");
        let back = image::load_from_memory(&same).expect("valid");
        assert_eq!((back.width(), back.height()), (400, 200));
        assert!(thumbnail_jpeg(b"not an image", 100).is_err());
    }
}
