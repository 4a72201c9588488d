//! `pressroom model import FILE.safetensors`: converts an A1111/ComfyUI/Civitai single-file
//! checkpoint (SD 1.x, SD 2.x, SDXL) into a diffusers-layout model under
//! `<data_dir>/models/NAME` (see `pressroom_models::import`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use pressroom_models::import::{self, ImportOptions, Imported, Prediction, Step};
use pressroom_models::{Family, ModelStore};

use super::model::human_size;
use crate::config::Settings;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PredictionArg {
    /// Predicts the noise (SD 1.x, SD 2.x base 512, SDXL).
    Epsilon,
    /// Predicts v (SD 2.x 768-v models and their fine-tunes).
    V,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The checkpoint file (.safetensors; pickled .ckpt files are refused).
    pub file: PathBuf,
    /// The model's name under <data_dir>/models (default: the file name, made a valid name).
    #[arg(long)]
    pub name: Option<String>,
    /// What the model predicts; weights cannot tell. Default: ComfyUI's `v_pred` marker when
    /// the file has one, else as diffusers: v for SD 2.x, epsilon for SD 1.x and SDXL.
    #[arg(long, value_enum)]
    pub prediction: Option<PredictionArg>,
    /// Replace a model of the same name (only once the new one is complete).
    #[arg(long)]
    pub force: bool,
}

pub async fn run(settings: Settings, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let store = ModelStore::under(&settings.paths.data_dir);
    let options = ImportOptions {
        name: args.name,
        prediction: args.prediction.map(|p| match p {
            PredictionArg::Epsilon => Prediction::Epsilon,
            PredictionArg::V => Prediction::V,
        }),
        force: args.force,
    };
    let file = args.file;
    eprintln!("reading {}", file.display());
    // Gigabytes of file work: off the async runtime.
    let imported = tokio::task::spawn_blocking(move || {
        import::import_with_progress(&store, &file, &options, &mut |step| {
            let line = match step {
                Step::Writing { dir, bytes } => format!("  writing {dir} ({})", human_size(bytes)),
                Step::Hashing { bytes } => {
                    format!("  hashing the checkpoint ({})", human_size(bytes))
                }
            };
            eprintln!("{line}");
        })
    })
    .await??;
    print_summary(&imported, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::Sd1 => "SD 1.x",
        Family::Sd2 => "SD 2.x",
        Family::Sdxl => "SDXL",
    }
}

fn print_summary(imported: &Imported, out: &mut impl Write) -> std::io::Result<()> {
    let m = &imported.manifest;
    let prediction = match imported.prediction {
        Prediction::Epsilon => "epsilon",
        Prediction::V => "v-prediction",
    };
    let marker = if imported.prediction_from_marker {
        " (from the file's v_pred marker)"
    } else {
        ""
    };
    writeln!(
        out,
        "detected {} checkpoint, {} weights, {prediction}{marker}",
        family_name(m.family),
        m.dtype
    )?;
    for part in &imported.parts {
        writeln!(
            out,
            "  {:<15} {:>5} tensors  {:>5}  {:>10}",
            part.dir,
            part.tensors,
            part.dtype,
            human_size(part.bytes)
        )?;
    }
    if imported.ema_ignored + imported.other_ignored > 0 {
        writeln!(
            out,
            "  left out: {} EMA tensors, {} others (noise schedule buffers, unused text layers)",
            imported.ema_ignored, imported.other_ignored
        )?;
    }
    writeln!(
        out,
        "imported as `{}` into {} ({})\n  digest {}",
        m.name,
        imported.path.display(),
        human_size(m.size_bytes),
        m.digest
    )?;
    if m.family == Family::Sd2 && imported.prediction == Prediction::V {
        writeln!(
            out,
            "  note: SD 2.x is taken to predict v, as diffusers does (the 768 models); a 512-base \
             model predicts epsilon: if its images come out as noise, re-import with \
             --prediction epsilon --force"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
        assert_eq!(human_size(1536 << 10), "1.5 MiB");
    }
}
