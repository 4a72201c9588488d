//! `pressroom presets` and `pressroom render`: the binary wires these `clap::Args` in as
//! subcommands; everything they do lives here so it is tested with the crate.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::fit::{Background, Fit};
use crate::format::OutputFormat;
use crate::registry::Presets;
use crate::render::{CropAnchor, RenderOptions, Source};

/// Largest input file `render` reads; decode limits then bound the pixels.
const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// List the platform presets and their rules.
#[derive(Debug, Clone, Default, Args)]
pub struct PresetsArgs {
    /// Only presets for this platform (facebook, instagram, linkedin, tiktok, snapchat, sandbox).
    #[arg(long)]
    pub platform: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Render one image for one preset.
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// Preset name (see `pressroom presets`).
    #[arg(long)]
    pub preset: String,
    /// Source image (PNG, JPEG or WebP).
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the rendition. A .jpg/.png/.webp extension picks that format (it must be
    /// one the preset allows); any other extension lets the preset choose.
    #[arg(long)]
    pub output: PathBuf,
    /// cover (crop to fill), contain (pad), or native (input generated at the preset's aspect).
    #[arg(long, default_value = "cover")]
    pub fit: Fit,
    /// Bars for --fit contain: `blur` or a colour as `#rrggbb`.
    #[arg(long, default_value = "blur", value_parser = parse_background)]
    pub background: Background,
    /// Crop in the centre instead of following the image's detail.
    #[arg(long)]
    pub centre: bool,
}

/// Runs `pressroom presets` on the bundled table, printing to stdout (the binary uses
/// [`run_presets_with`] with the config-overridden table).
///
/// # Errors
/// Output errors, or an unknown `--platform`.
pub fn run_presets(args: &PresetsArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    run_presets_with(args, Presets::builtin(), &mut stdout.lock())
}

/// `pressroom presets` on a given (e.g. config-overridden) table.
///
/// # Errors
/// Output errors, or a `--platform` with no presets.
pub fn run_presets_with(
    args: &PresetsArgs,
    presets: &Presets,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let selected: Vec<_> = presets
        .all()
        .iter()
        .filter(|p| {
            args.platform
                .as_deref()
                .is_none_or(|want| p.platform == want)
        })
        .collect();
    if selected.is_empty() {
        bail!(
            "no presets for platform {:?}",
            args.platform.as_deref().unwrap_or_default()
        );
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &selected)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<21} {:<10} {:>9} {:<15} {:<15} {:>10} {:<10} {:>9} {:>9}",
        "PRESET",
        "PLATFORM",
        "SIZE",
        "ASPECT",
        "FORMATS",
        "MAX BYTES",
        "COLOUR",
        "GENERATE",
        "SDXL"
    )?;
    for p in selected {
        let (gw, gh) = p.generation_size();
        let (xw, xh) = p.sdxl_bucket();
        let formats: Vec<_> = p.formats.iter().map(|f| f.name()).collect();
        writeln!(
            out,
            "{:<21} {:<10} {:>9} {:<15} {:<15} {:>10} {:<10} {:>9} {:>9}",
            p.name,
            p.platform,
            format!("{}x{}", p.width, p.height),
            format!("{:.4}..{:.4}", p.aspect_range.0, p.aspect_range.1),
            formats.join(","),
            p.max_bytes,
            p.color_space.name(),
            format!("{gw}x{gh}"),
            format!("{xw}x{xh}"),
        )?;
    }
    Ok(())
}

/// Runs `pressroom render` with the bundled presets (the binary uses [`run_render_with`] with
/// the config-overridden table).
///
/// # Errors
/// Unknown preset, unreadable input, decode/render failures, unwritable output.
pub fn run_render(args: &RenderArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    run_render_with(args, Presets::builtin(), &mut stdout.lock())
}

/// `pressroom render` with a given preset table; prints one summary line to `out`.
///
/// # Errors
/// As [`run_render`].
pub fn run_render_with(
    args: &RenderArgs,
    presets: &Presets,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let Some(preset) = presets.get(&args.preset) else {
        let names: Vec<_> = presets.all().iter().map(|p| p.name.as_str()).collect();
        bail!(
            "unknown preset {:?}; known presets: {}",
            args.preset,
            names.join(", ")
        );
    };
    let size = std::fs::metadata(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?
        .len();
    if size > MAX_INPUT_BYTES {
        bail!(
            "{} is {size} bytes, over the {MAX_INPUT_BYTES}-byte input limit",
            args.input.display()
        );
    }
    let input = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let options = RenderOptions {
        fit: args.fit,
        background: args.background,
        format: OutputFormat::from_extension(&args.output),
        anchor: if args.centre {
            CropAnchor::Centre
        } else {
            CropAnchor::Smart
        },
        ..RenderOptions::default()
    };
    let source = Source::decode(&input, &options.limits)
        .with_context(|| format!("cannot decode {}", args.input.display()))?;
    let rendition = source
        .render(preset, &options)
        .with_context(|| format!("cannot render {} for {}", args.input.display(), preset.name))?;
    write_atomically(&args.output, &rendition.bytes)?;
    let quality = rendition
        .quality
        .map(|q| format!(" q{q}"))
        .unwrap_or_default();
    writeln!(
        out,
        "{}: {}x{} {}{} {} bytes (limit {})",
        args.output.display(),
        rendition.width,
        rendition.height,
        rendition.format,
        quality,
        rendition.bytes.len(),
        preset.max_bytes
    )?;
    Ok(())
}

/// Writes through a temporary file in the same directory, synced, renamed into place and the
/// directory synced, so a crash never leaves a half-written rendition under the final name; a
/// failed write removes its temporary file.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    #[cfg(unix)]
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))?;
    Ok(())
}

/// Parses `blur` or `#rrggbb`.
fn parse_background(s: &str) -> Result<Background, String> {
    if s.eq_ignore_ascii_case("blur") {
        return Ok(Background::Blur);
    }
    let hex = s.strip_prefix('#').unwrap_or(s);
    let channel = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
    };
    match (hex.len(), channel(0), channel(2), channel(4)) {
        (6, Some(r), Some(g), Some(b)) => Ok(Background::Solid([r, g, b])),
        _ => Err(format!(
            "expected `blur` or a colour like #1a2b3c, got {s:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The output is whole under its name with nothing beside it; a write that fails leaves
    /// no temporary file behind.
    #[test]
    fn output_is_written_whole_and_a_failure_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out.jpg");
        write_atomically(&out, b"first").expect("write");
        write_atomically(&out, b"second").expect("overwrite");
        assert_eq!(std::fs::read(&out).expect("read"), b"second");
        assert_eq!(names(dir.path()), ["out.jpg"]);

        // The rename fails: a non-empty directory stands where the file should go.
        let taken = dir.path().join("taken.jpg");
        std::fs::create_dir_all(taken.join("inside")).expect("mkdir");
        assert!(write_atomically(&taken, b"bytes").is_err());
        assert_eq!(names(dir.path()), ["out.jpg", "taken.jpg"]);
    }

    #[test]
    fn backgrounds_parse() {
        assert_eq!(parse_background("blur"), Ok(Background::Blur));
        assert_eq!(
            parse_background("#ff0080"),
            Ok(Background::Solid([255, 0, 128]))
        );
        assert!(parse_background("#ff00").is_err());
        assert!(parse_background("red").is_err());
    }

    #[test]
    fn presets_table_lists_every_preset() {
        let mut out = Vec::new();
        run_presets_with(&PresetsArgs::default(), Presets::builtin(), &mut out).expect("lists");
        let text = String::from_utf8(out).expect("utf8");
        for p in Presets::builtin().all() {
            assert!(text.contains(&p.name), "{}", p.name);
        }
        assert!(
            text.contains("576x1024"),
            "story generation size shown:\n{text}"
        );
        let header = text.lines().next().unwrap_or_default();
        assert!(header.contains("COLOUR"), "{header}");
        assert!(
            text.lines().skip(1).all(|l| l.contains("sRGB 8-bit")),
            "colour space on every row:\n{text}"
        );

        let mut out = Vec::new();
        let args = PresetsArgs {
            platform: Some("tiktok".into()),
            json: true,
        };
        run_presets_with(&args, Presets::builtin(), &mut out).expect("lists");
        let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(json.as_array().map(Vec::len), Some(1));
        assert_eq!(json[0]["formats"], serde_json::json!(["jpeg", "webp"]));

        let args = PresetsArgs {
            platform: Some("myspace".into()),
            json: false,
        };
        assert!(run_presets_with(&args, Presets::builtin(), &mut Vec::new()).is_err());
    }
}
