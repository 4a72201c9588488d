//! Benchmark: pressroom-media against ImageMagick and libvips on the same job, in one run.
//!
//! For a 1024x1024 and a 2048x2048 photo-like PNG, every bundled preset is rendered by each
//! contender (scale to cover, centre crop, JPEG q90, metadata stripped), timed as the median
//! of several runs, and its decoded output compared with a float Lanczos3 reference. Results
//! go to a Markdown file (crates/media/BENCHMARKS.md). Run it through
//! `scripts/bench-media.sh`, which installs the tools and builds in release mode.

mod quality;
mod source;
mod tools;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use image::RgbImage;
use pressroom_media::{CropAnchor, Preset, RenderOptions, Source, presets, render_with};

use tools::{Tool, median_ms};

#[derive(Parser)]
#[command(about = "Benchmark pressroom-media against ImageMagick and libvips")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Markdown results file.
    #[arg(long, default_value = "crates/media/BENCHMARKS.md")]
    out: PathBuf,
    /// Timed runs per measurement (after one warm-up).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Source sizes (square).
    #[arg(long, value_delimiter = ',', default_value = "1024,2048")]
    sizes: Vec<u32>,
    /// Scratch directory for sources and outputs.
    #[arg(long, default_value = "target/bench-media")]
    work: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Render one preset with a centre crop (what the other tools do); used for per-process timing.
    One {
        #[arg(long)]
        preset: String,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
    },
}

fn centre() -> RenderOptions {
    RenderOptions {
        anchor: CropAnchor::Centre,
        ..RenderOptions::default()
    }
}

fn one(preset: &str, input: &Path, output: &Path) -> anyhow::Result<()> {
    let p = pressroom_media::preset(preset).with_context(|| format!("unknown preset {preset}"))?;
    let bytes = std::fs::read(input)?;
    let r = render_with(&bytes, p, &centre())?;
    std::fs::write(output, r.bytes)?;
    Ok(())
}

/// One contender's result for one preset.
struct Cell {
    ms: f64,
    bytes: usize,
    ssim: f64,
    psnr: f64,
}

/// Scores an output against the best-aligned reference (see `quality::references`).
fn score(path: &Path, references: &[RgbImage], ms: f64) -> anyhow::Result<Cell> {
    let bytes = std::fs::read(path)?;
    let img = image::load_from_memory(&bytes)?.into_rgb8();
    let mut best = Cell {
        ms,
        bytes: bytes.len(),
        ssim: f64::MIN,
        psnr: f64::MIN,
    };
    for reference in references {
        anyhow::ensure!(
            img.dimensions() == reference.dimensions(),
            "{} has the wrong size",
            path.display()
        );
        let ssim = quality::ssim(&img, reference);
        if ssim > best.ssim {
            best.ssim = ssim;
            best.psnr = quality::psnr(&img, reference);
        }
    }
    Ok(best)
}

struct Row<'p> {
    preset: &'p Preset,
    /// in-process, process, ImageMagick, libvips
    cells: [Cell; 4],
}

fn bench_source(
    size: u32,
    cli: &Cli,
    externals: &[Tool; 3],
    report: &mut String,
    totals: &mut [f64; 5],
) -> anyhow::Result<()> {
    let src = source::photo(size);
    let input = cli.work.join(format!("source-{size}.png"));
    src.save(&input)?;
    let input_bytes = std::fs::read(&input)?;
    eprintln!("source {size}x{size}: {} bytes PNG", input_bytes.len());

    let mut rows = Vec::new();
    for p in presets() {
        let reference = quality::references(&src, p.width, p.height);
        let ours_path = cli.work.join(format!("{size}-{}-inproc.jpg", p.name));
        let ms = median_ms(cli.runs, || {
            let start = Instant::now();
            let r = render_with(&input_bytes, p, &centre())?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            std::fs::write(&ours_path, &r.bytes)?;
            Ok(ms)
        })?;
        let inproc = score(&ours_path, &reference, ms)?;
        let mut cells = vec![inproc];
        for tool in externals {
            let slug = tool
                .name
                .split_whitespace()
                .collect::<Vec<_>>()
                .join("-")
                .replace(['(', ')'], "");
            let out = cli.work.join(format!("{size}-{}-{slug}.jpg", p.name));
            let ms = median_ms(cli.runs, || {
                tool.run(&p.name, &input, p.width, p.height, &out)
            })?;
            cells.push(score(&out, &reference, ms)?);
        }
        eprintln!(
            "  {:<20} ours {:>6.1} ms | process {:>6.1} | IM {:>6.1} | vips {:>6.1}",
            p.name, cells[0].ms, cells[1].ms, cells[2].ms, cells[3].ms
        );
        let cells: [Cell; 4] = cells
            .try_into()
            .map_err(|_| anyhow::anyhow!("four contenders"))?;
        rows.push(Row { preset: p, cells });
    }

    // Decode once, render every preset: what a render job for one asset does.
    let all_ms = median_ms(cli.runs, || {
        let start = Instant::now();
        let source = Source::decode(&input_bytes, &Default::default())?;
        for p in presets() {
            source.render(p, &centre())?;
        }
        Ok(start.elapsed().as_secs_f64() * 1000.0)
    })?;

    writeln!(
        report,
        "\n## Source {size}x{size} (PNG, {} bytes)\n",
        input_bytes.len()
    )?;
    writeln!(
        report,
        "Milliseconds (median of {} runs); SSIM (luma) / PSNR (dB, RGB) against the f64 Lanczos3 reference (best of three half-pixel alignments); output bytes.\n",
        cli.runs
    )?;
    writeln!(
        report,
        "| preset | size | ours in-process | ours as process | ImageMagick | libvips | ours/IM | ours/vips | SSIM ours / IM / vips | PSNR ours / IM / vips | KB ours / IM / vips |"
    )?;
    writeln!(
        report,
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|"
    )?;
    let mut sum = [0f64; 4];
    for row in &rows {
        let c = &row.cells;
        for (s, cell) in sum.iter_mut().zip(c) {
            *s += cell.ms;
        }
        writeln!(
            report,
            "| {} | {}x{} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.4} / {:.4} / {:.4} | {:.2} / {:.2} / {:.2} | {} / {} / {} |",
            row.preset.name,
            row.preset.width,
            row.preset.height,
            c[0].ms,
            c[1].ms,
            c[2].ms,
            c[3].ms,
            c[1].ms / c[2].ms,
            c[1].ms / c[3].ms,
            c[0].ssim,
            c[2].ssim,
            c[3].ssim,
            c[0].psnr,
            c[2].psnr,
            c[3].psnr,
            c[0].bytes / 1024,
            c[2].bytes / 1024,
            c[3].bytes / 1024,
        )?;
    }
    writeln!(
        report,
        "| **all presets** | | **{:.0}** | **{:.0}** | **{:.0}** | **{:.0}** | **{:.2}** | **{:.2}** | | | |",
        sum[0],
        sum[1],
        sum[2],
        sum[3],
        sum[1] / sum[2],
        sum[1] / sum[3]
    )?;
    writeln!(
        report,
        "\nDecode once, render all {} presets in one process (a render job's real shape): **{all_ms:.0} ms** \
         ({:.2}x ImageMagick's total, {:.2}x libvips').",
        rows.len(),
        all_ms / sum[2],
        all_ms / sum[3]
    )?;
    for (t, s) in totals.iter_mut().zip(sum.iter().chain([all_ms].iter())) {
        *t += s;
    }
    Ok(())
}

/// The 1-minute load average (Linux), to show how busy the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Cmd::One {
        preset,
        input,
        output,
    }) = &cli.command
    {
        return one(preset, input, output);
    }
    std::fs::create_dir_all(&cli.work)?;
    let externals = [Tool::ours_process()?, Tool::imagemagick()?, Tool::vips()?];
    let load_before = load_average();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);

    let mut report = String::new();
    writeln!(report, "# pressroom-media benchmark\n")?;
    writeln!(
        report,
        "Generated by `scripts/bench-media.sh` (release build of `bench-media`); do not edit by hand.\n"
    )?;
    writeln!(
        report,
        "Job, identical for every contender: read a PNG, scale to cover the preset's frame, crop the centre, \
        Lanczos3-class resampling in sRGB, encode JPEG quality 90 (4:4:4 chroma at q90 for all three), strip metadata, write the file.\n"
    )?;
    writeln!(
        report,
        "- Machine: {cores} CPU cores; all tools with their default threading (ImageMagick OpenMP, libvips thread pool); \
        pressroom renders one preset on one thread."
    )?;
    for t in &externals {
        writeln!(report, "- {}: {}", t.name, t.version)?;
    }
    writeln!(
        report,
        "- ImageMagick: `convert IN -resize WxH^ -gravity center -extent WxH -strip -quality 90 OUT.jpg`"
    )?;
    writeln!(
        report,
        "- libvips: `vipsthumbnail IN --size WxH --smartcrop centre -o OUT.jpg[Q=90,strip]`"
    )?;
    writeln!(
        report,
        "- pressroom as process: `bench-media one --preset NAME --input IN --output OUT` (same library call as in-process; \
        process start and file I/O counted like the others). The ratio columns use this one."
    )?;
    writeln!(
        report,
        "- Quality reference: a plain f64 Lanczos3 (in the bench, sharing no code with any contender) of the exact \
        centre window; each output is scored against the best of three alignments (exact, and half an output pixel \
        either way), because the tools round the centre differently and that is not what is measured."
    )?;

    let mut totals = [0f64; 5];
    for &size in &cli.sizes {
        bench_source(size, &cli, &externals, &mut report, &mut totals)?;
    }
    writeln!(report, "\n## Summary (all sources, all presets)\n")?;
    writeln!(
        report,
        "| contender | total ms | vs ImageMagick | vs libvips |"
    )?;
    writeln!(report, "|---|---:|---:|---:|")?;
    for (name, t) in [
        ("pressroom, one process per preset", totals[1]),
        ("pressroom in-process, decode per preset", totals[0]),
        (
            "pressroom in-process, decode once for all presets",
            totals[4],
        ),
        ("ImageMagick", totals[2]),
        ("libvips", totals[3]),
    ] {
        writeln!(
            report,
            "| {name} | {t:.0} | {:.2} | {:.2} |",
            t / totals[2],
            t / totals[3]
        )?;
    }
    writeln!(
        report,
        "\nLoad average (1 min) before / after the run: {load_before} / {}. The machine may be shared; \
         every contender is measured interleaved, preset by preset, so load affects all alike.",
        load_average()
    )?;
    let (vs_im, vs_vips) = (totals[1] / totals[2], totals[1] / totals[3]);
    writeln!(
        report,
        "\nGoals (one process per preset, like for like): at most 0.5x ImageMagick — **{}** ({vs_im:.2}x); \
         no slower than libvips — **{}** ({vs_vips:.2}x).",
        if vs_im <= 0.5 { "met" } else { "not met" },
        if vs_vips <= 1.0 { "met" } else { "not met" },
    )?;
    std::fs::write(&cli.out, &report)
        .with_context(|| format!("cannot write {}", cli.out.display()))?;
    eprintln!("wrote {}", cli.out.display());
    print!("{report}");
    Ok(())
}
