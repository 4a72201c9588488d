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

/// Embedded colour profile for [`with_jpeg_metadata`] / [`with_png_metadata`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icc {
    None,
    Srgb,
    DisplayP3,
}

impl Icc {
    fn bytes(self) -> Option<Vec<u8>> {
        let profile = match self {
            Icc::None => return None,
            Icc::Srgb => moxcms::ColorProfile::new_srgb(),
            Icc::DisplayP3 => moxcms::ColorProfile::new_display_p3(),
        };
        Some(profile.encode().expect("encode ICC profile"))
    }
}

/// A little-endian TIFF/EXIF block: Orientation (SHORT), Make and Software (ASCII, stored
/// after the IFD), as cameras write them.
fn exif_block(orientation: u16) -> Vec<u8> {
    let make = b"PressroomCam\0";
    let software = b"proptest v1\0";
    // Header (8) + entry count (2) + 3 entries (36) + next-IFD offset (4) = 50.
    let data_start: u32 = 50;
    let mut b = b"II*\0\x08\0\0\0".to_vec();
    b.extend(3u16.to_le_bytes());
    let mut entry = |tag: u16, kind: u16, count: u32, value: u32| {
        b.extend(tag.to_le_bytes());
        b.extend(kind.to_le_bytes());
        b.extend(count.to_le_bytes());
        b.extend(value.to_le_bytes());
    };
    entry(0x010F, 2, make.len() as u32, data_start); // Make
    entry(0x0112, 3, 1, u32::from(orientation)); // Orientation (SHORT, left-justified)
    entry(
        0x0131,
        2,
        software.len() as u32,
        data_start + make.len() as u32,
    ); // Software
    b.extend(0u32.to_le_bytes());
    b.extend(make);
    b.extend(software);
    b
}

/// A JPEG marker segment: FF `marker`, big-endian length (itself + payload), payload.
fn jpeg_segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + 2).expect("segment fits 64 KiB");
    let mut s = vec![0xFF, marker];
    s.extend(len.to_be_bytes());
    s.extend(payload);
    s
}

/// `jpeg` with metadata spliced in by hand after SOI: an EXIF APP1 (orientation `orientation`,
/// camera make, software), an XMP APP1, an ICC_PROFILE APP2 when `icc` says so, and a COM
/// comment — what a phone or an editor leaves in a photo.
pub fn with_jpeg_metadata(jpeg: &[u8], orientation: u16, icc: Icc) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "not a JPEG");
    let mut out = jpeg[..2].to_vec();
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend(exif_block(orientation));
    out.extend(jpeg_segment(0xE1, &exif));
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend(
        br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>someone</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"#,
    );
    out.extend(jpeg_segment(0xE1, &xmp));
    if let Some(profile) = icc.bytes() {
        // ICC_PROFILE\0, chunk 1 of 1.
        let mut app2 = b"ICC_PROFILE\0\x01\x01".to_vec();
        app2.extend(profile);
        out.extend(jpeg_segment(0xE2, &app2));
    }
    out.extend(jpeg_segment(
        0xFE,
        b"shot on a test, GPS 48.8584 N 2.2945 E",
    ));
    out.extend(&jpeg[2..]);
    out
}

/// CRC-32 (ISO-HDLC, as PNG uses), bit by bit: tests only, a few KiB.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        crc ^= u32::from(*byte);
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

/// A zlib stream holding `data` in stored (uncompressed) deflate blocks, so the test needs
/// no compressor. Valid for any decoder.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65_535).collect()
    };
    let last = blocks.len() - 1;
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i == last));
        let len = block.len() as u16;
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(*block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend(((b << 16) | a).to_be_bytes());
    out
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend(kind);
    c.extend(data);
    c.extend(crc32(&[kind, data]).to_be_bytes());
    c
}

/// `png` with metadata chunks spliced in by hand after IHDR: `iCCP` (when `icc` says so,
/// before any IDAT as the spec requires), `tEXt` (author, comment), `zTXt`, `iTXt` and an
/// `eXIf` block.
pub fn with_png_metadata(png: &[u8], icc: Icc) -> Vec<u8> {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let ihdr_end = 8 + 12 + 13; // signature, IHDR (length, type, 13 data bytes, CRC)
    assert_eq!(&png[12..16], b"IHDR");
    let mut out = png[..ihdr_end].to_vec();
    if let Some(profile) = icc.bytes() {
        let mut data = b"test profile\0\0".to_vec(); // name, NUL, method 0 (deflate)
        data.extend(zlib_stored(&profile));
        out.extend(png_chunk(b"iCCP", &data));
    }
    out.extend(png_chunk(b"tEXt", b"Author\0Someone Private"));
    out.extend(png_chunk(b"tEXt", b"Comment\0made on 2024-01-01 at home"));
    let mut ztxt = b"Description\0\0".to_vec();
    ztxt.extend(zlib_stored(b"a compressed description"));
    out.extend(png_chunk(b"zTXt", &ztxt));
    out.extend(png_chunk(b"iTXt", b"Title\0\0\0en\0Title\0a private title"));
    out.extend(png_chunk(b"eXIf", &exif_block(1)));
    out.extend(&png[ihdr_end..]);
    out
}
