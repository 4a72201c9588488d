//! Resampling through `fast_image_resize` (SIMD convolution), never by hand.
//!
//! Resizing happens in sRGB space with Lanczos3, as ImageMagick and libvips do by default, so
//! our output is comparable to theirs and needs no linearisation pass.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::error::MediaError;

/// A crop rectangle in source pixels (fractional: the resampler handles sub-pixel edges).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

impl Crop {
    /// The whole image.
    pub fn full(width: u32, height: u32) -> Crop {
        Crop {
            left: 0.0,
            top: 0.0,
            width: f64::from(width),
            height: f64::from(height),
        }
    }
}

/// Resizes the `crop` region of `src` to exactly `width`x`height` with `filter`.
///
/// # Errors
/// [`MediaError::Resize`] when the sizes are empty or the crop lies outside the image.
pub fn resize(
    src: &RgbImage,
    crop: Crop,
    width: u32,
    height: u32,
    filter: FilterType,
) -> Result<RgbImage, MediaError> {
    let err = |e: &dyn std::fmt::Display| MediaError::Resize(e.to_string());
    if width == 0 || height == 0 {
        return Err(MediaError::Resize(format!("empty target {width}x{height}")));
    }
    let view = ImageRef::new(src.width(), src.height(), src.as_raw(), PixelType::U8x3)
        .map_err(|e| err(&e))?;
    let mut dst = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(filter))
        .crop(crop.left, crop.top, crop.width, crop.height);
    Resizer::new()
        .resize(&view, &mut dst, &options)
        .map_err(|e| err(&e))?;
    RgbImage::from_raw(width, height, dst.into_vec())
        .ok_or_else(|| MediaError::Resize("resampler returned a short buffer".into()))
}

/// The largest window with the aspect `dst_w`:`dst_h` that fits in `src_w`x`src_h`, as
/// (width, height) in source pixels.
pub fn cover_window(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> (f64, f64) {
    let (sw, sh) = (f64::from(src_w), f64::from(src_h));
    let target = f64::from(dst_w) / f64::from(dst_h.max(1));
    if sw / sh > target {
        (sh * target, sh)
    } else {
        (sw, sw / target)
    }
}

/// The size of `src` scaled to fit inside `dst` keeping its aspect (at least 1x1).
pub fn contain_size(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> (u32, u32) {
    let scale = (f64::from(dst_w) / f64::from(src_w.max(1)))
        .min(f64::from(dst_h) / f64::from(src_h.max(1)));
    let w = (f64::from(src_w) * scale)
        .round()
        .clamp(1.0, f64::from(dst_w)) as u32;
    let h = (f64::from(src_h) * scale)
        .round()
        .clamp(1.0, f64::from(dst_h)) as u32;
    (w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_keep_the_target_aspect() {
        let (w, h) = cover_window(2000, 1000, 1080, 1350);
        assert!((w / h - 0.8).abs() < 1e-9 && (h - 1000.0).abs() < 1e-9);
        let (w, h) = cover_window(1000, 3000, 1080, 566);
        assert!((w - 1000.0).abs() < 1e-9 && (w / h - 1080.0 / 566.0).abs() < 1e-9);
        assert_eq!(contain_size(2000, 1000, 1080, 1080), (1080, 540));
        assert_eq!(contain_size(1, 5000, 1080, 1080), (1, 1080));
    }

    #[test]
    fn resize_makes_exact_size_and_keeps_flat_colour() {
        let src = RgbImage::from_pixel(300, 200, image::Rgb([10, 200, 30]));
        let out =
            resize(&src, Crop::full(300, 200), 97, 131, FilterType::Lanczos3).expect("resize");
        assert_eq!(out.dimensions(), (97, 131));
        assert!(out.pixels().all(|p| p.0 == [10, 200, 30]));
    }

    #[test]
    fn crop_selects_the_region() {
        let mut src = RgbImage::from_pixel(200, 100, image::Rgb([0, 0, 0]));
        for y in 0..100 {
            for x in 100..200 {
                src.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let crop = Crop {
            left: 120.0,
            top: 0.0,
            width: 80.0,
            height: 100.0,
        };
        let out = resize(&src, crop, 40, 50, FilterType::Lanczos3).expect("resize");
        assert!(out.pixels().all(|p| p.0 == [255, 255, 255]));
    }
}
