//! Test images made by the tests themselves: photo-like content (smooth gradients, shapes,
//! fine texture and noise) so resizing and JPEG behave as on real pictures.

use image::{DynamicImage, ImageFormat, RgbImage};

/// A deterministic photo-like image: sky gradient, "hills", a textured disc as the subject at
/// (`cx`, `cy`) (fractions of the size), and a little noise.
pub fn photo(w: u32, h: u32, cx: f32, cy: f32, seed: u32) -> RgbImage {
    let mut rng = seed.wrapping_mul(2_654_435_761).max(1);
    let (fw, fh) = (w as f32, h as f32);
    let r = 0.18 * fw.min(fh);
    RgbImage::from_fn(w, h, |x, y| {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let noise = (rng % 9) as f32 - 4.0;
        let (xf, yf) = (x as f32, y as f32);
        let hill = fh * (0.65 + 0.08 * (xf / fw * 6.0).sin());
        let mut px = if yf < hill {
            let t = yf / fh;
            [90.0 + 80.0 * t, 140.0 + 60.0 * t, 230.0 - 40.0 * t]
        } else {
            let t = (yf - hill) / fh;
            [60.0 + 40.0 * t, 120.0 - 30.0 * t, 50.0]
        };
        let (dx, dy) = (xf - cx * fw, yf - cy * fh);
        if dx * dx + dy * dy < r * r {
            let stripes = ((xf / 3.0).sin() * (yf / 5.0).cos() * 100.0).abs();
            px = [220.0 - stripes, 60.0 + stripes, 40.0];
        }
        image::Rgb(px.map(|v| (v + noise).clamp(0.0, 255.0) as u8))
    })
}

/// Encodes `img` as PNG or JPEG (q95) bytes.
pub fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut out, format)
        .expect("encode test image");
    out.into_inner()
}

/// Peak signal-to-noise ratio between two same-size RGB images, in dB.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mse: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Mean colour of a rectangle.
pub fn mean(img: &RgbImage, x0: u32, y0: u32, w: u32, h: u32) -> [f64; 3] {
    let mut sum = [0f64; 3];
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let p = img.get_pixel(x, y).0;
            for c in 0..3 {
                sum[c] += f64::from(p[c]);
            }
        }
    }
    sum.map(|s| s / f64::from(w * h))
}
