//! Where to crop: a cheap saliency measure so `cover` keeps the subject, not just the centre.
//!
//! The measure, on a grid of at most 128 cells a side, is detail (mean luma gradient at full
//! resolution) plus colour distinctness (distance from the image's mean colour): subjects are
//! sharp and stand out in colour against soft or flat backgrounds, which is what generated
//! marketing images and product photos look like. A mild pull towards the centre breaks ties,
//! so a flat or uniformly busy image is cropped centrally like everyone else does.

use fast_image_resize::FilterType;
use image::RgbImage;

use crate::resize::{self, Crop};

/// Long side of the thumbnail the measure runs on.
const THUMB_LONG_SIDE: u32 = 128;

/// How strongly the window is pulled to the centre, as a share of the total energy per full
/// travel; enough to decide between near-equal windows, too little to override a real subject.
const CENTRE_PULL: f64 = 0.08;

/// Weight of colour distinctness against detail (both are in 0..255-ish luma steps).
const COLOUR_WEIGHT: f32 = 0.5;

/// Mean absolute luma gradient per `cell`x`cell` block of the full-resolution image (sampled
/// every other pixel on large images): texture and edges survive here, while a downscaled
/// thumbnail would average them away.
fn detail_energy(image: &RgbImage, cell: u32, tw: u32, th: u32) -> Vec<f32> {
    let (sw, sh) = image.dimensions();
    let stride = if sw.min(sh) >= 512 { 2 } else { 1 };
    let raw = image.as_raw();
    let row = sw as usize * 3;
    let luma = |x: u32, y: u32| {
        let i = y as usize * row + x as usize * 3;
        i32::from(raw[i]) + 2 * i32::from(raw[i + 1]) + i32::from(raw[i + 2])
    };
    let mut sum = vec![0f32; (tw * th) as usize];
    let mut count = vec![0u32; (tw * th) as usize];
    for y in (0..sh.saturating_sub(1)).step_by(stride) {
        let cy = (y / cell) * tw;
        for x in (0..sw.saturating_sub(1)).step_by(stride) {
            let l = luma(x, y);
            let g = (luma(x + 1, y) - l).abs() + (luma(x, y + 1) - l).abs();
            let c = (cy + x / cell) as usize;
            sum[c] += g as f32 / 4.0;
            count[c] += 1;
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(s, &n)| if n == 0 { 0.0 } else { s / n as f32 })
        .collect()
}

/// How far each cell's average colour is from the image's average colour (the idea of
/// frequency-tuned saliency): a red product on a blue sky stands out even when smooth.
fn colour_distinctness(image: &RgbImage, tw: u32, th: u32) -> Vec<f32> {
    let (sw, sh) = image.dimensions();
    let thumb = resize::resize(image, Crop::full(sw, sh), tw, th, FilterType::Box)
        .unwrap_or_else(|_| RgbImage::new(tw, th));
    let n = (tw * th).max(1) as f32;
    let mut mean = [0f32; 3];
    for p in thumb.pixels() {
        for c in 0..3 {
            mean[c] += f32::from(p[c]) / n;
        }
    }
    thumb
        .pixels()
        .map(|p| {
            (0..3)
                .map(|c| (f32::from(p[c]) - mean[c]).abs())
                .sum::<f32>()
                / 3.0
        })
        .collect()
}

/// Saliency of one image, computed once and reused for every preset's crop.
#[derive(Debug, Clone)]
pub struct SaliencyMap {
    width: u32,
    height: u32,
    src_width: u32,
    src_height: u32,
    energy: Vec<f32>,
}

impl SaliencyMap {
    /// Builds the map from a decoded image.
    pub fn new(image: &RgbImage) -> SaliencyMap {
        let (sw, sh) = image.dimensions();
        let cell = sw.max(sh).div_ceil(THUMB_LONG_SIDE).max(1);
        let (tw, th) = (sw.div_ceil(cell), sh.div_ceil(cell));
        let detail = detail_energy(image, cell, tw, th);
        let colour = colour_distinctness(image, tw, th);
        let energy = detail
            .iter()
            .zip(&colour)
            .map(|(d, c)| d + COLOUR_WEIGHT * c)
            .collect();
        SaliencyMap {
            width: tw,
            height: th,
            src_width: sw,
            src_height: sh,
            energy,
        }
    }

    /// The crop window of aspect `dst_w`:`dst_h` (as large as the image allows) that holds the
    /// most energy, in source pixels.
    pub fn best_crop(&self, dst_w: u32, dst_h: u32) -> Crop {
        let (cw, ch) = resize::cover_window(self.src_width, self.src_height, dst_w, dst_h);
        let (sw, sh) = (f64::from(self.src_width), f64::from(self.src_height));
        if sw - cw > 0.5 {
            let profile = self.column_profile();
            let left = best_offset(&profile, cw / sw) * sw;
            Crop {
                left: left.clamp(0.0, sw - cw),
                top: 0.0,
                width: cw,
                height: ch,
            }
        } else if sh - ch > 0.5 {
            let profile = self.row_profile();
            let top = best_offset(&profile, ch / sh) * sh;
            Crop {
                left: 0.0,
                top: top.clamp(0.0, sh - ch),
                width: cw,
                height: ch,
            }
        } else {
            Crop {
                left: 0.0,
                top: 0.0,
                width: cw.min(sw),
                height: ch.min(sh),
            }
        }
    }

    fn column_profile(&self) -> Vec<f64> {
        let mut cols = vec![0f64; self.width as usize];
        for row in self.energy.chunks_exact(self.width as usize) {
            for (c, e) in cols.iter_mut().zip(row) {
                *c += f64::from(*e);
            }
        }
        cols
    }

    fn row_profile(&self) -> Vec<f64> {
        self.energy
            .chunks_exact(self.width as usize)
            .take(self.height as usize)
            .map(|row| row.iter().map(|&e| f64::from(e)).sum())
            .collect()
    }

    /// Thumbnail height, for tests.
    #[cfg(test)]
    fn thumb_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

/// Given a 1-D energy profile and a window covering `fraction` of it, the window start (as a
/// fraction of the whole) with the most energy, pulled slightly to the centre.
fn best_offset(profile: &[f64], fraction: f64) -> f64 {
    let n = profile.len();
    if n == 0 {
        return 0.0;
    }
    let window = ((fraction * n as f64).round() as usize).clamp(1, n);
    let travel = n - window;
    if travel == 0 {
        return (1.0 - fraction).max(0.0) / 2.0;
    }
    let total: f64 = profile.iter().sum::<f64>().max(1e-9);
    let centre = travel as f64 / 2.0;
    let mut sum: f64 = profile[..window].iter().sum();
    let mut best = (f64::MIN, 0usize);
    for start in 0..=travel {
        if start > 0 {
            sum += profile[start + window - 1] - profile[start - 1];
        }
        let pull = CENTRE_PULL * total * (start as f64 - centre).abs() / travel as f64;
        let score = sum - pull;
        if score > best.0 {
            best = (score, start);
        }
    }
    // Map the thumbnail start back to a fraction of the source's free travel, so the exact
    // source window (which may differ from `window` by rounding) stays inside the image.
    let free = (1.0 - fraction).max(0.0);
    free * best.1 as f64 / travel as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_square(w: u32, h: u32, x0: u32, y0: u32, size: u32) -> RgbImage {
        let mut img = RgbImage::from_pixel(w, h, image::Rgb([128, 128, 128]));
        for y in y0..(y0 + size).min(h) {
            for x in x0..(x0 + size).min(w) {
                let v = if (x / 4 + y / 4) % 2 == 0 { 255 } else { 0 };
                img.put_pixel(x, y, image::Rgb([v, 40, 255 - v]));
            }
        }
        img
    }

    #[test]
    fn crop_follows_an_off_centre_subject() {
        // Busy square on the far right of a wide image; a centred square crop would miss it.
        let img = with_square(1200, 400, 1000, 100, 150);
        let crop = SaliencyMap::new(&img).best_crop(1080, 1080);
        assert!((crop.width - 400.0).abs() < 1e-6 && (crop.height - 400.0).abs() < 1e-6);
        assert!(
            crop.left <= 1000.0 && crop.left + crop.width >= 1150.0,
            "{crop:?}"
        );

        // And at the top of a tall image for a landscape crop.
        let img = with_square(400, 1600, 100, 50, 150);
        let crop = SaliencyMap::new(&img).best_crop(1200, 627);
        assert!(
            crop.top <= 50.0 && crop.top + crop.height >= 200.0,
            "{crop:?}"
        );
    }

    #[test]
    fn flat_image_is_cropped_in_the_centre() {
        let img = RgbImage::from_pixel(1000, 500, image::Rgb([30, 30, 30]));
        let crop = SaliencyMap::new(&img).best_crop(1, 1);
        assert!((crop.left - 250.0).abs() <= 5.0, "{crop:?}");
    }

    #[test]
    fn window_stays_inside_and_small_images_work() {
        for (w, h) in [(1, 1), (3, 900), (900, 3), (127, 129), (4000, 10)] {
            let img = with_square(w, h, 0, 0, 2);
            let map = SaliencyMap::new(&img);
            assert!(map.thumb_size().0 <= 128 && map.thumb_size().1 <= 128);
            for (dw, dh) in [(1080, 1920), (1080, 566), (1, 1)] {
                let c = map.best_crop(dw, dh);
                assert!(c.left >= 0.0 && c.top >= 0.0);
                assert!(c.left + c.width <= f64::from(w) + 1e-6, "{w}x{h} {c:?}");
                assert!(c.top + c.height <= f64::from(h) + 1e-6, "{w}x{h} {c:?}");
            }
        }
    }
}
