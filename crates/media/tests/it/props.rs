//! Property tests: for random input sizes, aspects, formats, fits, presets and metadata, the
//! output is exactly the preset's size, in an allowed format, within its byte limit,
//! decodable, 8-bit RGB, and clean of metadata — although every input carries some (EXIF with
//! an orientation, XMP, ICC profiles, a comment; PNG text chunks, iCCP and eXIf), spliced in
//! by hand so the "no metadata" check has something to catch.
//!
//! Each case renders one randomly chosen preset from an input of up to 800 px a side: in a
//! debug build (this crate at opt-level 0, the resampler at 1) a 1080x1920 frame costs about a
//! second, so rendering all presets per case would allow only two cases in the ~20 s budget.
//! 24 cases (about 20 s) meet each preset about twice, each time with another input, fit and
//! metadata. `PROPTEST_CASES=500` runs a longer soak.

use image::ImageFormat;
use pressroom_media::{
    Fit, MediaError, OutputFormat, Preset, PresetPatch, Presets, RenderOptions, Source,
    metadata_segments, presets,
};
use proptest::prelude::*;

use crate::images::{self, Icc};

fn fit() -> impl Strategy<Value = Fit> {
    prop_oneof![Just(Fit::Cover), Just(Fit::Contain), Just(Fit::Native)]
}

fn preset() -> impl Strategy<Value = Preset> {
    proptest::sample::select(presets().to_vec())
}

fn icc() -> impl Strategy<Value = Icc> {
    prop_oneof![Just(Icc::None), Just(Icc::Srgb), Just(Icc::DisplayP3)]
}

/// EXIF orientations a phone writes: upright, upside down, and the two quarter turns (which
/// swap width and height when applied).
fn orientation() -> impl Strategy<Value = u16> {
    prop_oneof![Just(1u16), Just(3), Just(6), Just(8)]
}

/// `default` cases, or `PROPTEST_CASES` when set (a longer soak: `PROPTEST_CASES=500`).
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(24))]

    #[test]
    fn every_preset_output_obeys_its_rules(
        w in 1u32..=800,
        aspect in 0.2f32..5.0,
        jpeg_input in any::<bool>(),
        orientation in orientation(),
        icc in icc(),
        fit in fit(),
        preset in preset(),
        seed in any::<u32>(),
    ) {
        let h = ((w as f32 / aspect).round() as u32).clamp(1, 800);
        let src = images::photo(w, h, 0.3, 0.6, seed);
        let (input, format) = if jpeg_input {
            let plain = images::encode(&src, ImageFormat::Jpeg);
            (images::with_jpeg_metadata(&plain, orientation, icc), OutputFormat::Jpeg)
        } else {
            let plain = images::encode(&src, ImageFormat::Png);
            (images::with_png_metadata(&plain, icc), OutputFormat::Png)
        };
        let carried = metadata_segments(&input, format);
        prop_assert!(carried.len() >= 3, "the input must carry metadata: {:?}", carried);
        let decoded = Source::decode(&input, &Default::default()).expect("input with metadata decodes");
        let turned = jpeg_input && matches!(orientation, 6 | 8);
        prop_assert_eq!(
            decoded.image().dimensions(),
            if turned { (h, w) } else { (w, h) },
            "EXIF orientation is read (and applied) before being dropped"
        );

        let r = decoded.render(&preset, &RenderOptions::fit(fit)).expect("renders");
        prop_assert_eq!((r.width, r.height), (preset.width, preset.height), "{}", preset.name);
        prop_assert!(preset.allows(r.format), "{} gave {}", preset.name, r.format);
        prop_assert!(r.bytes.len() as u64 <= preset.max_bytes, "{}", preset.name);
        let left = metadata_segments(&r.bytes, r.format);
        prop_assert!(left.is_empty(), "{} kept {:?} of {:?}", preset.name, left, carried);
        let back = image::load_from_memory(&r.bytes).expect("output decodes");
        prop_assert_eq!((back.width(), back.height()), (preset.width, preset.height));
        prop_assert_eq!(back.color(), image::ColorType::Rgb8, "8-bit RGB, no alpha");
    }

}

proptest! {
    // Each case runs the JPEG quality search to its end: a few encodes of a 1080x1080 frame.
    #![proptest_config(cases(8))]

    #[test]
    fn tight_byte_limits_are_met_or_refused(limit in 20_000u64..400_000, seed in any::<u32>()) {
        let table = Presets::builtin()
            .with_overrides(&[PresetPatch {
                name: "instagram-square".into(),
                max_bytes: Some(limit),
                ..PresetPatch::default()
            }])
            .expect("valid override");
        let preset = table.get("instagram-square").expect("bundled");
        let source = Source::from_image(images::photo(900, 700, 0.5, 0.5, seed));
        match source.render(preset, &RenderOptions::default()) {
            Ok(r) => {
                prop_assert!(r.bytes.len() as u64 <= limit);
                prop_assert_eq!(r.format, OutputFormat::Jpeg);
                let q = r.quality.expect("jpeg quality");
                prop_assert!(q >= preset.min_quality && q <= preset.max_quality);
            }
            Err(MediaError::DoesNotFit { smallest, limit: l, .. }) => {
                prop_assert_eq!(l, limit);
                prop_assert!(smallest > limit);
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

}

proptest! {
    // Cheap (4 KiB inputs that fail fast): many cases.
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), png in any::<bool>()) {
        // Real headers followed by garbage reach the decoders' inner paths.
        let mut input = if png { b"\x89PNG\r\n\x1a\n".to_vec() } else { vec![0xFF, 0xD8, 0xFF, 0xE0] };
        input.extend(bytes);
        let _ = Source::decode(&input, &Default::default());
    }
}
