//! `pressroom model list`: the models under `<data_dir>/models`.

use std::io::Write;
use std::process::ExitCode;

use pressroom_models::ModelStore;

use crate::config::Settings;

#[derive(clap::Args)]
pub struct ListArgs {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn list(settings: Settings, args: ListArgs) -> anyhow::Result<ExitCode> {
    let store = ModelStore::under(&settings.paths.data_dir);
    let models = store.list()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for m in &models {
            let line = serde_json::json!({
                "name": m.name,
                "path": m.path,
                "family": m.family.map(|f| f.as_str()),
                "dtype": m.manifest.as_ref().map(|x| &x.dtype),
                "size_bytes": m.manifest.as_ref().map(|x| x.size_bytes),
                "source": m.manifest.as_ref().map(|x| &x.source),
                "digest": m.manifest.as_ref().map(|x| &x.digest),
            });
            writeln!(out, "{line}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if models.is_empty() {
        writeln!(
            out,
            "No models in {} (pressroom model pull REPO, or pressroom model import FILE.safetensors)",
            store.root().display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<24} {:<6} {:<5} {:>9}  {:<40} DIGEST",
        "NAME", "FAMILY", "DTYPE", "SIZE", "SOURCE"
    )?;
    for m in &models {
        let family = m.family.map_or("?", |f| f.as_str());
        let (dtype, size, source, digest) = match &m.manifest {
            Some(x) => (
                x.dtype.as_str(),
                human_size(x.size_bytes),
                x.source.describe(),
                x.digest.get(..19).unwrap_or(&x.digest).to_string(),
            ),
            None => ("?", "?".into(), "local folder".into(), "-".into()),
        };
        writeln!(
            out,
            "{:<24} {:<6} {:<5} {:>9}  {:<40} {}",
            m.name, family, dtype, size, source, digest
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// 1.9 GiB, 312.0 MiB, 4.0 KiB.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
