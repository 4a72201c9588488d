//! Colour management: pixels leave this crate in sRGB whatever profile they arrived with.
//!
//! Phones shoot Display P3 and designers export Adobe RGB; stripping the ICC profile without
//! converting would make those colours dull on every platform. The conversion uses `moxcms`.

use image::RgbImage;
use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

/// Converts `image` in place from the colour space described by `icc` to sRGB.
///
/// Returns whether a conversion ran. Profiles that are unreadable, not RGB (grey, CMYK: the
/// decoder already produced RGB from those) or that `moxcms` cannot transform leave the pixels as
/// they are, with a warning: a damaged profile should not fail a publish.
pub fn to_srgb(image: &mut RgbImage, icc: &[u8]) -> bool {
    let source = match ColorProfile::new_from_slice(icc) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = ?e, "Ignoring unreadable ICC profile.");
            return false;
        }
    };
    if source.color_space != DataColorSpace::Rgb {
        return false;
    }
    let srgb = ColorProfile::new_srgb();
    let transform = match source.create_transform_8bit(
        Layout::Rgb,
        &srgb,
        Layout::Rgb,
        TransformOptions::default(),
    ) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = ?e, "Ignoring ICC profile that cannot be converted to sRGB.");
            return false;
        }
    };
    let mut out = vec![0u8; image.as_raw().len()];
    if let Err(e) = transform.transform(image.as_raw(), &mut out) {
        tracing::warn!(error = ?e, "ICC conversion failed; keeping original pixels.");
        return false;
    }
    let (w, h) = image.dimensions();
    match RgbImage::from_raw(w, h, out) {
        Some(converted) => {
            *image = converted;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_p3_red_becomes_out_of_gamut_clipped_srgb_red() {
        let p3 = ColorProfile::new_display_p3();
        let icc = p3.encode().expect("encode P3 profile");
        let mut img = RgbImage::from_pixel(2, 2, image::Rgb([200, 30, 30]));
        assert!(to_srgb(&mut img, &icc));
        let px = img.get_pixel(0, 0).0;
        // P3 red is more saturated than sRGB red can be: red rises, green/blue fall.
        assert!(px[0] > 200 && px[1] < 30, "{px:?}");
    }

    #[test]
    fn srgb_profile_is_near_identity_and_garbage_is_ignored() {
        let icc = ColorProfile::new_srgb()
            .encode()
            .expect("encode sRGB profile");
        let mut img = RgbImage::from_pixel(2, 2, image::Rgb([120, 60, 200]));
        assert!(to_srgb(&mut img, &icc));
        let px = img.get_pixel(1, 1).0;
        for (a, b) in px.iter().zip([120u8, 60, 200]) {
            assert!(a.abs_diff(b) <= 1, "{px:?}");
        }
        assert!(!to_srgb(&mut img, b"not a profile"));
    }
}
