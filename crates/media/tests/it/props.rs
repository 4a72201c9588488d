//! Property tests: for random input sizes, aspects, formats and fits, every preset's output is
//! exactly its size, in an allowed format, within its byte limit, decodable, and clean of
//! metadata.

use image::ImageFormat;
use pressroom_media::{
    Fit, MediaError, OutputFormat, PresetPatch, Presets, RenderOptions, Source, metadata_segments,
    presets, render_all,
};
use proptest::prelude::*;

use crate::images;

fn fit() -> impl Strategy<Value = Fit> {
    prop_oneof![Just(Fit::Cover), Just(Fit::Contain), Just(Fit::Native)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn every_preset_output_obeys_its_rules(
        w in 1u32..=1200,
        aspect in 0.2f32..5.0,
        jpeg_input in any::<bool>(),
        fit in fit(),
        seed in any::<u32>(),
    ) {
        let h = ((w as f32 / aspect).round() as u32).clamp(1, 1200);
        let src = images::photo(w, h, 0.3, 0.6, seed);
        let input = images::encode(&src, if jpeg_input { ImageFormat::Jpeg } else { ImageFormat::Png });
        let results = render_all(&input, presets(), &RenderOptions::fit(fit)).expect("decodes");
        prop_assert_eq!(results.len(), presets().len());
        for (preset, result) in results {
            let r = result.expect("renders");
            prop_assert_eq!((r.width, r.height), (preset.width, preset.height), "{}", preset.name);
            prop_assert!(preset.allows(r.format), "{} gave {}", preset.name, r.format);
            prop_assert!(r.bytes.len() as u64 <= preset.max_bytes, "{}", preset.name);
            prop_assert!(metadata_segments(&r.bytes, r.format).is_empty(), "{}", preset.name);
            let back = image::load_from_memory(&r.bytes).expect("output decodes");
            prop_assert_eq!((back.width(), back.height()), (preset.width, preset.height));
            prop_assert_eq!(back.color(), image::ColorType::Rgb8, "8-bit RGB, no alpha");
        }
    }

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

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), png in any::<bool>()) {
        // Real headers followed by garbage reach the decoders' inner paths.
        let mut input = if png { b"\x89PNG\r\n\x1a\n".to_vec() } else { vec![0xFF, 0xD8, 0xFF, 0xE0] };
        input.extend(bytes);
        let _ = Source::decode(&input, &Default::default());
    }
}
