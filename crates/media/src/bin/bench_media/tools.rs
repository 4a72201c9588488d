//! The contenders, each doing the same job from the same PNG: fill the preset's frame (scale to
//! cover, centre crop), Lanczos-class resampling, JPEG quality 90, metadata stripped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

/// One external or per-process contender.
#[derive(Debug, Clone)]
pub struct Tool {
    pub name: &'static str,
    pub version: String,
    program: PathBuf,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ImageMagick,
    Vips,
    /// This benchmark binary re-invoked with `one`: pressroom-media as a command, so process
    /// start and file I/O are counted exactly as for the other tools.
    OursProcess,
}

impl Tool {
    /// The real ImageMagick (`magick` for v7, else `/usr/bin/convert`; the `convert` first on
    /// PATH on this machine may be a stand-in that only prints PNGs).
    pub fn imagemagick() -> anyhow::Result<Tool> {
        for candidate in [
            "/usr/bin/magick",
            "/usr/local/bin/magick",
            "/usr/bin/convert",
        ] {
            let program = PathBuf::from(candidate);
            if let Some(version) = version_line(&program, "-version")
                && version.contains("ImageMagick")
            {
                return Ok(Tool {
                    name: "ImageMagick",
                    version,
                    program,
                    kind: Kind::ImageMagick,
                });
            }
        }
        bail!("ImageMagick not found (apt-get install imagemagick)")
    }

    /// libvips' `vipsthumbnail`.
    pub fn vips() -> anyhow::Result<Tool> {
        let program = PathBuf::from("vipsthumbnail");
        let version = version_line(Path::new("vips"), "--version")
            .context("libvips not found (apt-get install libvips-tools)")?;
        Ok(Tool {
            name: "libvips",
            version,
            program,
            kind: Kind::Vips,
        })
    }

    /// This binary's `one` subcommand.
    pub fn ours_process() -> anyhow::Result<Tool> {
        Ok(Tool {
            name: "pressroom (process)",
            version: format!("pressroom-media {}", env!("CARGO_PKG_VERSION")),
            program: std::env::current_exe()?,
            kind: Kind::OursProcess,
        })
    }

    fn command(&self, preset: &str, input: &Path, w: u32, h: u32, output: &Path) -> Command {
        let mut cmd = Command::new(&self.program);
        match self.kind {
            Kind::ImageMagick => {
                let size = format!("{w}x{h}");
                cmd.arg(input)
                    .args(["-resize", &format!("{size}^"), "-gravity", "center"])
                    .args(["-extent", &size, "-strip", "-quality", "90"])
                    .arg(output);
            }
            Kind::Vips => {
                cmd.arg(input)
                    .args(["--size", &format!("{w}x{h}"), "--smartcrop", "centre", "-o"])
                    .arg(format!("{}[Q=90,strip]", output.display()));
            }
            Kind::OursProcess => {
                cmd.args(["one", "--preset", preset, "--input"])
                    .arg(input)
                    .arg("--output")
                    .arg(output);
            }
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        cmd
    }

    /// Runs once; returns wall time in milliseconds.
    pub fn run(
        &self,
        preset: &str,
        input: &Path,
        w: u32,
        h: u32,
        output: &Path,
    ) -> anyhow::Result<f64> {
        let mut cmd = self.command(preset, input, w, h, output);
        let start = Instant::now();
        let out = cmd
            .output()
            .with_context(|| format!("cannot start {}", self.name))?;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        if !out.status.success() {
            bail!(
                "{} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(ms)
    }
}

fn version_line(program: &Path, flag: &str) -> Option<String> {
    let out = Command::new(program).arg(flag).output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines().next().map(|l| l.trim().to_owned())
}

/// Median of `runs` timings after one warm-up run.
pub fn median_ms(runs: usize, mut f: impl FnMut() -> anyhow::Result<f64>) -> anyhow::Result<f64> {
    f()?;
    let mut times = (0..runs.max(1))
        .map(|_| f())
        .collect::<anyhow::Result<Vec<f64>>>()?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
