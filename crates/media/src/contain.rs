//! `contain`: the whole image inside the frame, the bars filled with a blurred extension of
//! the image itself (or a solid colour).

use fast_image_resize::FilterType;
use image::{RgbImage, imageops};

use crate::error::MediaError;
use crate::fit::Background;
use crate::resize::{self, Crop};

/// The background is built at 1/BLUR_SHRINK of the frame and scaled up: shrinking averages
/// away detail and the smooth upscale does the rest, so a "large radius blur" costs almost
/// nothing instead of a full-resolution Gaussian.
const BLUR_SHRINK: u32 = 24;

/// Darkens the blurred bars (x/256) so the real image stands out from its own extension.
const BAR_DIM: u16 = 200;

/// Renders `src` into a `width`x`height` frame without cropping any of it. `blur_window` gives
/// the cover window the blurred bars are made from (asked only for `Background::Blur`).
///
/// # Errors
/// [`MediaError::Resize`] only for impossible sizes.
pub fn contain(
    src: &RgbImage,
    blur_window: impl FnOnce() -> Crop,
    width: u32,
    height: u32,
    background: Background,
) -> Result<RgbImage, MediaError> {
    let (sw, sh) = src.dimensions();
    let (iw, ih) = resize::contain_size(sw, sh, width, height);
    let inner = resize::resize(src, Crop::full(sw, sh), iw, ih, FilterType::Lanczos3)?;
    if (iw, ih) == (width, height) {
        return Ok(inner);
    }
    let mut frame = match background {
        Background::Solid(rgb) => RgbImage::from_pixel(width, height, image::Rgb(rgb)),
        Background::Blur => blurred_extension(src, blur_window(), width, height)?,
    };
    let x = i64::from((width - iw) / 2);
    let y = i64::from((height - ih) / 2);
    imageops::replace(&mut frame, &inner, x, y);
    Ok(frame)
}

fn blurred_extension(
    src: &RgbImage,
    crop: Crop,
    width: u32,
    height: u32,
) -> Result<RgbImage, MediaError> {
    let small_w = (width / BLUR_SHRINK).max(1);
    let small_h = (height / BLUR_SHRINK).max(1);
    let small = resize::resize(src, crop, small_w, small_h, FilterType::Box)?;
    let mut small = imageops::blur(&small, 1.5);
    for v in small.iter_mut() {
        *v = ((u16::from(*v) * BAR_DIM) >> 8) as u8;
    }
    resize::resize(
        &small,
        Crop::full(small_w, small_h),
        width,
        height,
        FilterType::CatmullRom,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saliency::SaliencyMap;

    #[test]
    fn wide_image_in_tall_frame_is_kept_whole_with_blurred_bars() {
        let src = RgbImage::from_pixel(400, 200, image::Rgb([200, 40, 40]));
        let map = SaliencyMap::new(&src);
        let out =
            contain(&src, || map.best_crop(300, 600), 300, 600, Background::Blur).expect("contain");
        assert_eq!(out.dimensions(), (300, 600));
        // Image band (150 px tall) in the middle keeps its colour exactly.
        assert_eq!(out.get_pixel(150, 300).0, [200, 40, 40]);
        // Bars continue the image's colour, dimmed: reddish, darker than the image.
        let bar = out.get_pixel(150, 20).0;
        assert!(bar[0] > bar[1] && bar[0] < 200 && bar[0] > 100, "{bar:?}");
    }

    #[test]
    fn solid_background() {
        let src = RgbImage::from_pixel(100, 100, image::Rgb([0, 0, 0]));
        let map = SaliencyMap::new(&src);
        let out = contain(
            &src,
            || map.best_crop(200, 100),
            200,
            100,
            Background::Solid([255, 255, 0]),
        )
        .expect("contain");
        assert_eq!(out.get_pixel(5, 50).0, [255, 255, 0]);
        assert_eq!(out.get_pixel(100, 50).0, [0, 0, 0]);
    }
}
