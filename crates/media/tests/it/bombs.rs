//! Hostile inputs: decompression bombs, truncated and corrupt files give clear errors, quickly,
//! without panicking or allocating the claimed size.

use std::time::{Duration, Instant};

use image::ImageFormat;
use pressroom_media::{DecodeLimits, MediaError, decode, preset, render};

use crate::images;

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend(data);
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
}

/// A PNG whose header claims `w`x`h` RGB pixels, with a tiny (valid zlib, mostly empty) IDAT:
/// the classic decompression-bomb shape.
fn claimed_png(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

fn quick<T>(f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    out
}

#[test]
fn huge_dimensions_are_refused_before_allocation() {
    let bomb = claimed_png(100_000, 100_000);
    let err = quick(|| decode(&bomb, &DecodeLimits::default())).expect_err("bomb");
    assert!(
        matches!(err, MediaError::TooLarge { width: 100_000, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("100000x100000"), "{err}");
}

#[test]
fn allocation_limit_applies_under_the_dimension_limit() {
    // 15000x15000 RGB is within 16384 px a side but needs ~1.3 GB: over the 512 MiB default.
    let bomb = claimed_png(15_000, 15_000);
    let err = quick(|| decode(&bomb, &DecodeLimits::default())).expect_err("bomb");
    assert!(matches!(err, MediaError::AllocLimit { .. }), "{err}");
}

#[test]
fn claimed_but_missing_pixels_are_a_decode_error() {
    // Small enough to pass the limits, but the IDAT holds no data.
    let png = claimed_png(64, 64);
    let err = quick(|| decode(&png, &DecodeLimits::default())).expect_err("no pixel data");
    assert!(matches!(err, MediaError::Decode(_)), "{err}");
}

#[test]
fn truncated_files_are_clear_errors() {
    let src = images::photo(300, 200, 0.5, 0.5, 7);
    for format in [ImageFormat::Png, ImageFormat::Jpeg] {
        let full = images::encode(&src, format);
        for cut in [full.len() / 2, full.len() / 10, 40] {
            let result = quick(|| decode(&full[..cut], &DecodeLimits::default()));
            let Err(err) = result else {
                panic!("{format:?} cut at {cut} of {} decoded", full.len());
            };
            assert!(
                matches!(err, MediaError::Decode(_) | MediaError::UnknownFormat),
                "{format:?} cut at {cut}: {err}"
            );
        }
    }
}

#[test]
fn non_images_are_refused_by_render() {
    let p = preset("instagram-square").expect("bundled");
    let err = render(b"<html>not an image</html>", p, Default::default()).expect_err("text");
    assert!(matches!(err, MediaError::UnknownFormat));
}
