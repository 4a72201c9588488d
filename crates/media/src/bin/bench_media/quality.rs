//! Output quality against a high-quality reference: the centre window resampled with a plain
//! f64 Lanczos3 written here (sharing no code with any contender), compared by SSIM on luma
//! and PSNR on RGB.

use image::RgbImage;

/// Reference frames for a cover-fit with a centre crop: exact centre, and half an output pixel
/// either way along the cropped axis. Tools round "the centre" differently (ImageMagick and
/// libvips cut whole pixels after scaling; pressroom crops the fractional source window), so
/// each output is scored against the alignment that suits it best: the score measures
/// resampling and encoding, not a centring convention.
pub fn references(src: &RgbImage, w: u32, h: u32) -> Vec<RgbImage> {
    let (sw, sh) = (f64::from(src.width()), f64::from(src.height()));
    let target = f64::from(w) / f64::from(h);
    let (cw, ch) = if sw / sh > target {
        (sh * target, sh)
    } else {
        (sw, sw / target)
    };
    let (left, top) = ((sw - cw) / 2.0, (sh - ch) / 2.0);
    let half_x = 0.5 * cw / f64::from(w);
    let half_y = 0.5 * ch / f64::from(h);
    let shifts: [(f64, f64); 3] = if sw - cw > 0.5 {
        [(0.0, 0.0), (-half_x, 0.0), (half_x, 0.0)]
    } else {
        [(0.0, 0.0), (0.0, -half_y), (0.0, half_y)]
    };
    shifts
        .iter()
        .map(|(dx, dy)| lanczos3(src, left + dx, top + dy, cw, ch, w, h))
        .collect()
}

fn lanczos_kernel(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        return 1.0;
    }
    if x.abs() >= 3.0 {
        return 0.0;
    }
    let px = std::f64::consts::PI * x;
    3.0 * px.sin() * (px / 3.0).sin() / (px * px)
}

/// Weights of one output sample along one axis: (first source index, normalised weights).
fn taps(start: f64, scale: f64, out: u32, len: u32) -> Vec<(usize, Vec<f64>)> {
    let support = 3.0 * scale.max(1.0);
    (0..out)
        .map(|i| {
            let centre = start + (f64::from(i) + 0.5) * scale;
            let lo = ((centre - support).floor() as i64).max(0);
            let hi = ((centre + support).ceil() as i64).min(i64::from(len));
            let mut ws: Vec<f64> = (lo..hi)
                .map(|j| lanczos_kernel((j as f64 + 0.5 - centre) / scale.max(1.0)))
                .collect();
            let sum: f64 = ws.iter().sum();
            if sum.abs() > 1e-12 {
                ws.iter_mut().for_each(|v| *v /= sum);
            }
            (lo as usize, ws)
        })
        .collect()
}

/// Plain separable Lanczos3 in f64 over a fractional source window, written here so the
/// reference shares no code with any contender.
fn lanczos3(src: &RgbImage, left: f64, top: f64, cw: f64, ch: f64, w: u32, h: u32) -> RgbImage {
    let (sw, sh) = src.dimensions();
    let xs = taps(left, cw / f64::from(w), w, sw);
    let ys = taps(top, ch / f64::from(h), h, sh);
    let raw = src.as_raw();
    let mut mid = vec![0f64; sh as usize * w as usize * 3];
    for y in 0..sh as usize {
        for (x, (lo, ws)) in xs.iter().enumerate() {
            for c in 0..3 {
                let acc: f64 = ws
                    .iter()
                    .enumerate()
                    .map(|(k, wt)| wt * f64::from(raw[(y * sw as usize + lo + k) * 3 + c]))
                    .sum();
                mid[(y * w as usize + x) * 3 + c] = acc;
            }
        }
    }
    RgbImage::from_fn(w, h, |x, y| {
        let (lo, ws) = &ys[y as usize];
        let px = [0, 1, 2].map(|c| {
            let acc: f64 = ws
                .iter()
                .enumerate()
                .map(|(k, wt)| wt * mid[((lo + k) * w as usize + x as usize) * 3 + c])
                .sum();
            acc.round().clamp(0.0, 255.0) as u8
        });
        image::Rgb(px)
    })
}

/// PSNR over all RGB samples, in dB.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    let n = a.as_raw().len().max(1) as f64;
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / n;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0f64.powi(2) / mse).log10()
    }
}

fn luma(img: &RgbImage) -> Vec<f32> {
    img.pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect()
}

/// Separable Gaussian blur (sigma 1.5, 11 taps, edges clamped): the SSIM window.
fn gauss(src: &[f32], w: usize, h: usize) -> Vec<f32> {
    let k: Vec<f32> = (-5i32..=5)
        .map(|i| (-(i * i) as f32 / (2.0 * 1.5 * 1.5)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    let k: Vec<f32> = k.iter().map(|v| v / sum).collect();
    let mut tmp = vec![0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (j, kv) in k.iter().enumerate() {
                let xx = (x as i64 + j as i64 - 5).clamp(0, w as i64 - 1) as usize;
                acc += kv * src[y * w + xx];
            }
            tmp[y * w + x] = acc;
        }
    }
    let mut out = vec![0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (j, kv) in k.iter().enumerate() {
                let yy = (y as i64 + j as i64 - 5).clamp(0, h as i64 - 1) as usize;
                acc += kv * tmp[yy * w + x];
            }
            out[y * w + x] = acc;
        }
    }
    out
}

/// Mean SSIM (Wang et al. 2004, Gaussian window) on BT.601 luma.
pub fn ssim(a: &RgbImage, b: &RgbImage) -> f64 {
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (x, y) = (luma(a), luma(b));
    let xx: Vec<f32> = x.iter().map(|v| v * v).collect();
    let yy: Vec<f32> = y.iter().map(|v| v * v).collect();
    let xy: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
    let (mx, my) = (gauss(&x, w, h), gauss(&y, w, h));
    let (sxx, syy, sxy) = (gauss(&xx, w, h), gauss(&yy, w, h), gauss(&xy, w, h));
    let (c1, c2) = ((0.01f32 * 255.0).powi(2), (0.03f32 * 255.0).powi(2));
    let mut total = 0f64;
    for i in 0..w * h {
        let (mx, my) = (mx[i], my[i]);
        let vx = sxx[i] - mx * mx;
        let vy = syy[i] - my * my;
        let cov = sxy[i] - mx * my;
        let s =
            ((2.0 * mx * my + c1) * (2.0 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
        total += f64::from(s);
    }
    total / (w * h).max(1) as f64
}
