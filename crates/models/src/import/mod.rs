//! Importing an A1111/ComfyUI/Civitai single-file checkpoint (SD 1.x, SD 2.x, SDXL) into a
//! diffusers-layout model folder the engine loads as is.
//!
//! The checkpoint's header is read and every tensor accounted for before anything is
//! written: the family is told by the shapes ([`detect`]), each component's keys are mapped
//! as diffusers' `loaders/single_file_utils.py` maps them ([`unet`], [`vae`], [`clip`]), the
//! structure the shapes tell goes into the family's published configs ([`configs`]), and a
//! key that belongs nowhere, a missing one, a pickle or fp8 weights stop the import with
//! their names. Then each file is streamed into a staging folder (tensors keep their stored
//! dtype), the manifest is written and the folder renamed into place.

mod checkpoint;
mod clip;
mod component;
mod configs;
mod detect;
mod schema;
mod tensor;
mod unet;
mod vae;
mod write;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use safetensors::Dtype;

use self::checkpoint::{Checkpoint, element_size};
use self::clip::OpenClip;
use self::component::Component;
use self::configs::Published;
use self::schema::few;
use crate::error::{ModelError, Result, io};
use crate::family::Family;
use crate::manifest::{self, FileEntry, Manifest, Source};
use crate::store::ModelStore;

/// What the model predicts; weights cannot tell (SD 2.x 768-v models predict v).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Prediction {
    #[default]
    Epsilon,
    V,
}

#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The model's name; default: the file's stem, made a valid name.
    pub name: Option<String>,
    /// None: ComfyUI's `v_pred` marker when the checkpoint has one, else as diffusers'
    /// `from_single_file`: v for SD 2.x (it configures every 1024-wide UNet as SD 2.1-768-v),
    /// epsilon for SD 1.x and SDXL.
    pub prediction: Option<Prediction>,
    /// Replace a model of the same name.
    pub force: bool,
}

/// One folder of the imported model.
#[derive(Clone, Debug)]
pub struct Part {
    pub dir: &'static str,
    pub dtype: String,
    pub tensors: usize,
    pub bytes: u64,
}

#[derive(Debug)]
pub struct Imported {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub prediction: Prediction,
    /// Whether the prediction came from the checkpoint's `v_pred` marker.
    pub prediction_from_marker: bool,
    pub parts: Vec<Part>,
    /// EMA tensors left out.
    pub ema_ignored: usize,
    /// Other tensors left out (noise schedule buffers, SD 2's unused last text block, …).
    pub other_ignored: usize,
}

/// Progress of an import, for a CLI to show.
#[derive(Clone, Copy, Debug)]
pub enum Step<'a> {
    /// The checkpoint is being hashed (for the manifest).
    Hashing { bytes: u64 },
    /// A component's weights are being written.
    Writing { dir: &'a str, bytes: u64 },
}

/// LDM training buffers stored next to the weights (the noise schedule) and model markers.
const BUFFERS: [&str; 16] = [
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
    "logvar",
    "lvlb_weights",
    "v_pred",
    "ztsnr",
];

/// What a checkpoint becomes, before anything is written.
struct Plan {
    family: Family,
    published: Published,
    components: Vec<Component>,
    prediction: Prediction,
    prediction_from_marker: bool,
    ema_ignored: usize,
    other_ignored: usize,
}

/// Imports `file` into `store`; returns where the model went and what it is.
pub fn import(store: &ModelStore, file: &Path, options: &ImportOptions) -> Result<Imported> {
    import_with_progress(store, file, options, &mut |_| {})
}

/// [`import`], reporting progress.
pub fn import_with_progress(
    store: &ModelStore,
    file: &Path,
    options: &ImportOptions,
    progress: &mut dyn FnMut(Step<'_>),
) -> Result<Imported> {
    let ckpt = Checkpoint::open(file)?;
    let plan = plan(&ckpt, options)?;
    let name = match &options.name {
        Some(n) => n.clone(),
        None => default_name(file)?,
    };
    let staging = store.begin(&name, options.force)?;
    // Leftovers of an interrupted attempt must not end up in the manifest.
    let dir = staging.dir().to_path_buf();
    std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let written = write_folder(&ckpt, &plan, &dir, progress).and_then(|files| {
        progress(Step::Hashing { bytes: ckpt.size });
        let (sha256, _) = manifest::hash_file(&ckpt.path)?;
        Ok((files, sha256))
    });
    let (files, sha256) = match written {
        Ok(w) => w,
        Err(e) => {
            if let Err(cleanup) = staging.discard() {
                tracing::warn!(error = %cleanup, "could not remove the partial import");
            }
            return Err(e);
        }
    };
    let unet = plan.components.iter().find(|c| c.dir == "unet");
    let manifest = Manifest {
        name: name.clone(),
        family: plan.family,
        dtype: unet
            .and_then(Component::dtype)
            .map_or_else(|| "F32".to_string(), |d| d.to_string()),
        size_bytes: files.iter().map(|f| f.size).sum(),
        source: Source::File {
            file_name: ckpt.file_name(),
            sha256,
        },
        digest: manifest::digest(&files),
        created_at: chrono::Utc::now().to_rfc3339(),
        files,
    };
    let path = staging.finish(&manifest)?;
    tracing::info!(model = %name, family = %plan.family, path = %path.display(), "imported");
    Ok(Imported {
        path,
        manifest,
        prediction: plan.prediction,
        prediction_from_marker: plan.prediction_from_marker,
        parts: plan
            .components
            .iter()
            .map(|c| Part {
                dir: c.dir,
                dtype: c.dtype().map_or_else(String::new, |d| d.to_string()),
                tensors: c.tensors.len(),
                bytes: c.bytes(),
            })
            .collect(),
        ema_ignored: plan.ema_ignored,
        other_ignored: plan.other_ignored,
    })
}

/// A model name from a file name: its stem lower-cased, runs of other characters made `-`.
pub fn default_name(file: &Path) -> Result<String> {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = String::new();
    for c in stem.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c) {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let mut name = name
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    name.truncate(64);
    let name = name.trim_end_matches(['-', '.', '_']).to_string();
    if name.is_empty() {
        return Err(ModelError::InvalidName {
            name: stem,
            reason: "the file name has no usable characters; choose a name with --name",
        });
    }
    ModelStore::validate_name(&name)?;
    Ok(name)
}

fn plan(ckpt: &Checkpoint, options: &ImportOptions) -> Result<Plan> {
    let family = detect::family(ckpt)?;
    let published = configs::published(family);
    let p = &published;
    let mut components = Vec::new();
    let mut text_widths = Vec::new();
    let mut pooled = None;
    match family {
        Family::Sd1 => {
            let te = p.parse(p.text_encoder, "text_encoder config")?;
            let (c, l) = clip::clip(ckpt, detect::SD1_TEXT, "text_encoder", te)?;
            text_widths.push(l.hidden_size);
            components.push(c);
        }
        Family::Sd2 => {
            let te = p.parse(p.text_encoder, "text_encoder config")?;
            let (c, l) = clip::open_clip(
                ckpt,
                detect::SD2_TEXT,
                "text_encoder",
                OpenClip::Penultimate,
                te,
            )?;
            text_widths.push(l.hidden_size);
            components.push(c);
        }
        Family::Sdxl => {
            let te = p.parse(p.text_encoder, "text_encoder config")?;
            let (c, l) = clip::clip(ckpt, detect::XL_TEXT, "text_encoder", te)?;
            text_widths.push(l.hidden_size);
            components.push(c);
            let te2 = p.parse(p.text_encoder_2.unwrap_or("{}"), "text_encoder_2 config")?;
            let (c, l) = clip::open_clip(
                ckpt,
                detect::XL_TEXT_2,
                "text_encoder_2",
                OpenClip::WithProjection,
                te2,
            )?;
            text_widths.push(l.hidden_size);
            pooled = l.projection_dim;
            components.push(c);
        }
    }
    let (unet, unet_layout) = unet::convert(ckpt, family, p.parse(p.unet, "unet config")?, pooled)?;
    let (vae, vae_layout) = vae::convert(ckpt, p.parse(p.vae, "vae config")?)?;
    let file = ckpt.file_name();
    let text_width: usize = text_widths.iter().sum();
    if unet_layout.cross_attention_dim != text_width {
        return Err(ModelError::Import(format!(
            "{file}: the UNet attends to {}-wide text but the text encoder(s) give {text_width}",
            unet_layout.cross_attention_dim
        )));
    }
    if unet_layout.in_channels != vae_layout.latent_channels {
        return Err(ModelError::Import(format!(
            "{file}: the UNet works on {} latent channels but the VAE makes {}",
            unet_layout.in_channels, vae_layout.latent_channels
        )));
    }
    components.insert(0, unet);
    components.insert(1, vae);
    check_dtypes(&file, &components)?;

    // Every tensor must be used or deliberately left out.
    let claimed: BTreeSet<&str> = components
        .iter()
        .flat_map(|c| c.claimed.iter().map(String::as_str))
        .collect();
    let mut ema_ignored = 0;
    let mut other_ignored = 0;
    let mut unknown = Vec::new();
    for key in ckpt.tensors.keys() {
        if key.starts_with("model_ema.") {
            ema_ignored += 1;
        } else if BUFFERS.contains(&key.as_str()) {
            other_ignored += 1;
        } else if !claimed.contains(key.as_str()) {
            unknown.push(key.as_str());
        }
    }
    if !unknown.is_empty() {
        return Err(ModelError::Import(format!(
            "{file}: {} tensor(s) that belong to no part of an SD {family} pipeline: {} \
             (ControlNet, LoRA, refiner and other add-on weights cannot be imported)",
            unknown.len(),
            few(&unknown)
        )));
    }
    other_ignored += components.iter().map(Component::skipped).sum::<usize>();
    let (prediction, prediction_from_marker) = match options.prediction {
        Some(p) => (p, false),
        None if ckpt.get("v_pred").is_some() => (Prediction::V, true),
        None if family == Family::Sd2 => (Prediction::V, false),
        None => (Prediction::Epsilon, false),
    };
    Ok(Plan {
        family,
        published,
        components,
        prediction,
        prediction_from_marker,
        ema_ignored,
        other_ignored,
    })
}

/// Weights must be fp16, bf16, fp32 or fp64: the engine computes in those.
fn check_dtypes(file: &str, components: &[Component]) -> Result<()> {
    let odd: Vec<(&str, Dtype)> = components
        .iter()
        .flat_map(|c| &c.tensors)
        .filter(|t| element_size(t.dtype).is_none())
        .map(|t| (t.from.as_str(), t.dtype))
        .collect();
    let Some(&(_, dtype)) = odd.first() else {
        return Ok(());
    };
    let names: Vec<&str> = odd.iter().map(|(n, _)| *n).collect();
    let fp8 = matches!(dtype, Dtype::F8_E4M3 | Dtype::F8_E5M2 | Dtype::F8_E8M0);
    Err(ModelError::Import(if fp8 {
        format!(
            "{file}: {} weights are stored in fp8 ({dtype}), e.g. {}: fp8 checkpoints are not \
             supported (the engine computes in fp16/fp32); import the fp16 or fp32 release of \
             this model",
            names.len(),
            few(&names)
        )
    } else {
        format!(
            "{file}: {} weights are stored as {dtype}, e.g. {}: only fp16, bf16 and fp32 \
             weights can be imported",
            names.len(),
            few(&names)
        )
    }))
}

fn write_folder(
    ckpt: &Checkpoint,
    plan: &Plan,
    dir: &Path,
    progress: &mut dyn FnMut(Step<'_>),
) -> Result<Vec<FileEntry>> {
    let mut files = Vec::new();
    let mut add = |rel: String, w: write::Written| {
        files.push(FileEntry {
            path: rel,
            size: w.size,
            sha256: w.sha256,
        })
    };
    let subdir = |name: &str| -> Result<PathBuf> {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).map_err(io(&d))?;
        Ok(d)
    };
    let p = &plan.published;
    add(
        "model_index.json".into(),
        write::json_file(&dir.join("model_index.json"), &p.model_index()?)?,
    );
    let sched = subdir("scheduler")?;
    add(
        "scheduler/scheduler_config.json".into(),
        write::json_file(
            &sched.join("scheduler_config.json"),
            &p.scheduler(plan.prediction)?,
        )?,
    );
    let tokenizers = [
        Some(("tokenizer", p.tokenizer)),
        p.tokenizer_2.map(|t| ("tokenizer_2", t)),
    ];
    for (name, [config, special]) in tokenizers.into_iter().flatten() {
        let d = subdir(name)?;
        for (file, text) in [
            ("vocab.json", configs::VOCAB),
            ("merges.txt", configs::MERGES),
            ("tokenizer_config.json", config),
            ("special_tokens_map.json", special),
        ] {
            add(
                format!("{name}/{file}"),
                write::small_file(&d.join(file), text.as_bytes())?,
            );
        }
    }
    for c in &plan.components {
        let d = subdir(c.dir)?;
        add(
            format!("{}/config.json", c.dir),
            write::json_file(&d.join("config.json"), &c.config)?,
        );
        progress(Step::Writing {
            dir: c.dir,
            bytes: c.bytes(),
        });
        add(
            format!("{}/{}", c.dir, c.weights),
            write::tensors_file(&ckpt.path, &c.tensors, &d.join(c.weights))?,
        );
    }
    files.sort();
    Ok(files)
}
