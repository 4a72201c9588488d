//! Photo-like benchmark sources made on the spot (no image files in the repo, no downloads):
//! fractal value noise for texture at every scale, a sky/ground split, and a few textured
//! shapes. Smooth-only images would flatter PNG decoding and JPEG size.

use image::RgbImage;

fn hash(x: i32, y: i32, seed: u32) -> f32 {
    let mut h = (x as u32).wrapping_mul(0x27d4_eb2d) ^ (y as u32).wrapping_mul(0x1656_67b1) ^ seed;
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297a_2d39);
    h ^= h >> 15;
    (h & 0xFFFF) as f32 / 65535.0
}

fn value_noise(x: f32, y: f32, seed: u32) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
    let (ix, iy) = (x0 as i32, y0 as i32);
    let a = hash(ix, iy, seed);
    let b = hash(ix + 1, iy, seed);
    let c = hash(ix, iy + 1, seed);
    let d = hash(ix + 1, iy + 1, seed);
    let top = a + (b - a) * sx;
    let bottom = c + (d - c) * sx;
    top + (bottom - top) * sy
}

fn fractal(x: f32, y: f32, seed: u32) -> f32 {
    let (mut sum, mut amp, mut freq) = (0.0, 0.5, 1.0);
    for octave in 0..6 {
        sum += amp * value_noise(x * freq, y * freq, seed.wrapping_add(octave));
        amp *= 0.5;
        freq *= 2.0;
    }
    sum
}

/// A `size`x`size` photo-like image. Features scale with the image, so the 1024 and 2048
/// sources show the same scene at two resolutions.
pub fn photo(size: u32) -> RgbImage {
    let s = size as f32;
    RgbImage::from_fn(size, size, |x, y| {
        let (u, v) = (x as f32 / s, y as f32 / s);
        let n = fractal(u * 8.0, v * 8.0, 1);
        let fine = value_noise(x as f32 / 1.7, y as f32 / 1.7, 9) - 0.5;
        let horizon = 0.55 + 0.08 * (u * 7.0).sin() + 0.05 * (n - 0.5);
        let mut rgb = if v < horizon {
            [
                110.0 + 70.0 * v + 40.0 * n,
                150.0 + 50.0 * v + 30.0 * n,
                235.0 - 30.0 * v,
            ]
        } else {
            let g = fractal(u * 30.0, v * 30.0, 5);
            [50.0 + 90.0 * g, 95.0 + 80.0 * g, 35.0 + 40.0 * g]
        };
        for (cx, cy, r, base) in [
            (0.30, 0.62, 0.12, [200.0, 40.0, 40.0]),
            (0.72, 0.40, 0.08, [240.0, 200.0, 60.0]),
            (0.55, 0.80, 0.06, [30.0, 30.0, 160.0]),
        ] {
            let (dx, dy) = (u - cx, v - cy);
            if dx * dx + dy * dy < r * r {
                let t = fractal(u * 60.0, v * 60.0, 3);
                rgb = base.map(|c: f32| c * (0.6 + 0.6 * t));
            }
        }
        image::Rgb(rgb.map(|c| (c + 18.0 * fine).clamp(0.0, 255.0) as u8))
    })
}
