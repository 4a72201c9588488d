//! Golden tests on generated images: the output is compared with an independent reference
//! (the `image` crate's own Lanczos3 resize of the expected region), and the crop, pad,
//! orientation and colour rules are checked on pixels.

use image::{ImageFormat, RgbImage, imageops};
use pressroom_media::{
    Background, CropAnchor, Fit, OutputFormat, RenderOptions, Source, decode, metadata_segments,
    preset, render,
};

use crate::images::{self, mean, psnr};

fn decoded(bytes: &[u8]) -> RgbImage {
    image::load_from_memory(bytes)
        .expect("output decodes")
        .into_rgb8()
}

fn subject_pixels(img: &RgbImage) -> usize {
    img.pixels().filter(|p| p[0] > 110 && p[2] < 80).count()
}

#[test]
fn cover_matches_a_reference_resize_of_the_centre_window() {
    let src = images::photo(2000, 1000, 0.5, 0.5, 1);
    let p = preset("instagram-square").expect("bundled");
    let options = RenderOptions {
        anchor: CropAnchor::Centre,
        ..RenderOptions::default()
    };
    let r = Source::from_image(src.clone())
        .render(p, &options)
        .expect("renders");
    assert_eq!((r.format, r.quality), (OutputFormat::Jpeg, Some(90)));
    let window = imageops::crop_imm(&src, 500, 0, 1000, 1000).to_image();
    let reference = imageops::resize(&window, 1080, 1080, imageops::FilterType::Lanczos3);
    let db = psnr(&decoded(&r.bytes), &reference);
    assert!(db > 34.0, "PSNR {db:.1} dB");
}

#[test]
fn smart_cover_keeps_an_off_centre_subject() {
    let src = images::photo(1600, 800, 0.88, 0.5, 2);
    let p = preset("instagram-square").expect("bundled");
    let source = Source::from_image(src);
    let smart = decoded(
        &source
            .render(p, &RenderOptions::default())
            .expect("renders")
            .bytes,
    );
    let centre_opts = RenderOptions {
        anchor: CropAnchor::Centre,
        ..RenderOptions::default()
    };
    let centre = decoded(&source.render(p, &centre_opts).expect("renders").bytes);
    let (s, c) = (subject_pixels(&smart), subject_pixels(&centre));
    // The disc (radius 144 px -> ~195 px at output scale) is fully inside the smart crop.
    assert!(s > 90_000, "smart crop shows {s} subject pixels");
    assert!(c < s / 10, "centre crop shows {c}, smart {s}");
}

#[test]
fn contain_keeps_the_whole_image_between_blurred_bars() {
    let src = images::photo(1000, 500, 0.5, 0.5, 3);
    let p = preset("instagram-story").expect("bundled");
    let r = render(&images::encode(&src, ImageFormat::Png), p, Fit::Contain).expect("renders");
    let out = decoded(&r.bytes);
    assert_eq!(out.dimensions(), (1080, 1920));
    let band = imageops::crop_imm(&out, 0, 690, 1080, 540).to_image();
    let reference = imageops::resize(&src, 1080, 540, imageops::FilterType::Lanczos3);
    let db = psnr(&band, &reference);
    assert!(db > 32.0, "image band PSNR {db:.1} dB");
    // Top bar continues the sky (blue-ish, darker), bottom bar the hills (green-ish).
    let top = mean(&out, 0, 0, 1080, 300);
    let bottom = mean(&out, 0, 1620, 1080, 300);
    assert!(top[2] > top[0] && top[2] > 100.0, "top bar {top:?}");
    assert!(bottom[1] > bottom[2], "bottom bar {bottom:?}");
}

#[test]
fn contain_with_solid_background() {
    let src = images::photo(500, 500, 0.5, 0.5, 4);
    let p = preset("linkedin-landscape").expect("bundled");
    let options = RenderOptions {
        fit: Fit::Contain,
        background: Background::Solid([255, 255, 255]),
        format: Some(OutputFormat::Png),
        ..RenderOptions::default()
    };
    let r = Source::from_image(src)
        .render(p, &options)
        .expect("renders");
    assert_eq!(r.format, OutputFormat::Png);
    let out = decoded(&r.bytes);
    assert_eq!(mean(&out, 0, 0, 250, 627), [255.0; 3]);
    assert_eq!(mean(&out, 1200 - 250, 0, 250, 627), [255.0; 3]);
}

#[test]
fn native_generation_size_needs_no_crop() {
    let p = preset("instagram-portrait").expect("bundled");
    let (w, h) = p.generation_size();
    assert_eq!((w, h), (512, 640));
    let src = images::photo(w, h, 0.5, 0.4, 5);
    let r = Source::from_image(src.clone())
        .render(p, &RenderOptions::fit(Fit::Native))
        .expect("renders");
    let reference = imageops::resize(&src, 1080, 1350, imageops::FilterType::Lanczos3);
    let db = psnr(&decoded(&r.bytes), &reference);
    assert!(db > 32.0, "PSNR {db:.1} dB");
}

/// A JPEG with EXIF orientation 6 (rotate 90° clockwise to display) and an embedded
/// Display P3 profile: red on the left, blue on the right as stored.
fn rotated_p3_jpeg() -> Vec<u8> {
    let stored = RgbImage::from_fn(200, 100, |x, _| {
        if x < 100 {
            image::Rgb([200, 30, 30])
        } else {
            image::Rgb([30, 30, 200])
        }
    });
    let mut exif = b"II*\0\x08\0\0\0".to_vec();
    exif.extend([1, 0]); // one IFD entry
    exif.extend([0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]); // Orientation = 6
    exif.extend([0, 0, 0, 0]);
    let icc = moxcms::ColorProfile::new_display_p3()
        .encode()
        .expect("P3 profile");
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 95);
    enc.add_exif_metadata(&exif).expect("exif");
    enc.add_icc_profile(&icc).expect("icc");
    enc.encode(stored.as_raw(), 200, 100, jpeg_encoder::ColorType::Rgb)
        .expect("encode");
    out
}

#[test]
fn orientation_is_applied_and_profile_converted_then_stripped() {
    let input = rotated_p3_jpeg();
    assert_eq!(
        metadata_segments(&input, OutputFormat::Jpeg),
        vec!["APP1", "APP2"]
    );
    let d = decode(&input, &Default::default()).expect("decodes");
    assert_eq!(d.image.dimensions(), (100, 200), "rotated upright");
    assert!(d.converted_profile);
    // Rotated clockwise: the stored left (red) is now on top.
    let top = d.image.get_pixel(50, 20).0;
    let bottom = d.image.get_pixel(50, 180).0;
    assert!(
        top[0] > 200 && top[2] < 60,
        "top {top:?} (P3 red is redder than sRGB 200)"
    );
    assert!(bottom[2] > 200, "bottom {bottom:?}");

    let p = preset("sandbox").expect("bundled");
    let r = render(&input, p, Fit::Contain).expect("renders");
    assert!(metadata_segments(&r.bytes, r.format).is_empty());
}

#[test]
fn webp_where_allowed_and_refused_elsewhere() {
    let source = Source::from_image(images::photo(400, 700, 0.5, 0.5, 6));
    let webp = RenderOptions {
        format: Some(OutputFormat::Webp),
        ..RenderOptions::default()
    };
    let r = source
        .render(preset("tiktok-photo").expect("bundled"), &webp)
        .expect("tiktok takes webp");
    assert_eq!(r.format, OutputFormat::Webp);
    assert_eq!(decoded(&r.bytes).dimensions(), (1080, 1920));
    let err = source
        .render(preset("instagram-story").expect("bundled"), &webp)
        .expect_err("instagram is JPEG only");
    assert!(err.to_string().contains("does not allow webp"), "{err}");
}
