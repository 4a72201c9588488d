//! The `render` subcommand end to end through files.

use clap::Parser;
use image::ImageFormat;
use pressroom_media::Presets;
use pressroom_media::cli::{RenderArgs, run_render_with};

use crate::images;

#[derive(Parser)]
struct Cmd {
    #[command(flatten)]
    args: RenderArgs,
}

fn args(list: &[&str]) -> RenderArgs {
    let mut argv = vec!["render"];
    argv.extend(list);
    Cmd::try_parse_from(argv).expect("valid arguments").args
}

#[test]
fn renders_a_file_and_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.png");
    std::fs::write(
        &input,
        images::encode(&images::photo(640, 480, 0.5, 0.5, 9), ImageFormat::Png),
    )
    .expect("write input");
    let output = dir.path().join("out.jpg");
    let a = args(&[
        "--preset",
        "instagram-portrait",
        "--input",
        input.to_str().expect("utf8"),
        "--output",
        output.to_str().expect("utf8"),
        "--fit",
        "contain",
    ]);
    let mut out = Vec::new();
    run_render_with(&a, Presets::builtin(), &mut out).expect("renders");
    let line = String::from_utf8(out).expect("utf8");
    assert!(line.contains("1080x1350 jpeg q90"), "{line}");
    let img = image::open(&output).expect("output decodes");
    assert_eq!((img.width(), img.height()), (1080, 1350));
}

#[test]
fn bad_inputs_fail_with_clear_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.png");
    std::fs::write(&garbage, b"definitely not a png").expect("write");
    let out = dir.path().join("o.png");
    let g = garbage.to_str().expect("utf8");
    let o = out.to_str().expect("utf8");

    let err = run_render_with(
        &args(&["--preset", "nope", "--input", g, "--output", o]),
        Presets::builtin(),
        &mut Vec::new(),
    )
    .expect_err("unknown preset");
    assert!(
        err.to_string().contains("unknown preset \"nope\""),
        "{err:#}"
    );

    let err = run_render_with(
        &args(&["--preset", "sandbox", "--input", g, "--output", o]),
        Presets::builtin(),
        &mut Vec::new(),
    )
    .expect_err("garbage input");
    assert!(
        format!("{err:#}").contains("unrecognised image format"),
        "{err:#}"
    );

    let missing = dir.path().join("missing.png");
    let err = run_render_with(
        &args(&[
            "--preset",
            "sandbox",
            "--input",
            missing.to_str().expect("utf8"),
            "--output",
            o,
        ]),
        Presets::builtin(),
        &mut Vec::new(),
    )
    .expect_err("missing file");
    assert!(format!("{err:#}").contains("cannot read"), "{err:#}");

    // PNG output for an Instagram preset (JPEG only) is refused, naming the rule.
    let input = dir.path().join("in.png");
    std::fs::write(
        &input,
        images::encode(&images::photo(64, 64, 0.5, 0.5, 1), ImageFormat::Png),
    )
    .expect("write");
    let err = run_render_with(
        &args(&[
            "--preset",
            "instagram-square",
            "--input",
            input.to_str().expect("utf8"),
            "--output",
            o,
        ]),
        Presets::builtin(),
        &mut Vec::new(),
    )
    .expect_err("png not allowed");
    assert!(format!("{err:#}").contains("does not allow png"), "{err:#}");
    assert!(!out.exists());
}
