//! Which of a repo's files a pull fetches: `model_index.json`, and for each component it lists
//! the component's JSON configs, tokenizer text files and exactly one safetensors weights file,
//! saved under the plain name so the engine needs no variant logic. Pickled weights (`.bin`,
//! `.ckpt`, `.pt`), ONNX, Flax, root-level single-file checkpoints and EMA copies are never
//! fetched.

use std::collections::BTreeMap;

use crate::error::{ModelError, Result};

use super::client::Sibling;

/// The file every diffusers pipeline folder starts with.
pub(crate) const MODEL_INDEX: &str = "model_index.json";

/// Weight file stems, in order of preference: diffusers models, then transformers models.
const STEMS: [&str; 2] = ["diffusion_pytorch_model", "model"];

/// One file to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Planned {
    /// Its path in the repo.
    pub remote: String,
    /// Its path in the model folder (the plain name for a variant's weights).
    pub local: String,
    pub size: Option<u64>,
    /// LFS files: the sha256 the hub stores them under.
    pub sha256: Option<String>,
    /// Small (git) files: the sha1 of their git blob.
    pub blob_id: Option<String>,
    /// Stored with LFS (and so fetched from the CDN the hub redirects to).
    pub lfs: bool,
}

impl Planned {
    pub fn of(sibling: &Sibling, local: &str) -> Self {
        let lfs = sibling.lfs.as_ref();
        Planned {
            remote: sibling.rfilename.clone(),
            local: local.to_string(),
            size: lfs.map(|l| l.size).or(sibling.size),
            sha256: lfs.map(|l| l.sha256.to_ascii_lowercase()),
            blob_id: if lfs.is_some() {
                None
            } else {
                sibling.blob_id.clone()
            },
            lfs: lfs.is_some() || is_weights(&sibling.rfilename),
        }
    }
}

/// The files to fetch, and what a user should know about the choice.
#[derive(Debug)]
pub(crate) struct Selection {
    pub files: Vec<Planned>,
    pub notes: Vec<String>,
}

/// The component folders `model_index.json` names: keys whose value is `[library, class]`
/// (`[null, null]` is an absent optional component, e.g. a removed safety checker).
pub(crate) fn components(index: &serde_json::Value) -> Result<Vec<String>> {
    let bad = |reason: String| ModelError::Hub(format!("{MODEL_INDEX}: {reason}"));
    let object = index
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let mut out = Vec::new();
    for (key, value) in object {
        if key.starts_with('_') {
            continue;
        }
        let Some(pair) = value.as_array() else {
            continue;
        };
        if pair.len() != 2 || pair.iter().any(|v| !v.is_string()) {
            continue;
        }
        let folder_name =
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !folder_name {
            return Err(bad(format!("component `{key}` is not a folder name")));
        }
        out.push(key.clone());
    }
    if !out.iter().any(|c| c == "unet") {
        let class = object
            .get("_class_name")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown");
        return Err(bad(format!(
            "a {class} pipeline without a unet: the engine runs Stable Diffusion 1.x, 2.x and XL pipelines"
        )));
    }
    Ok(out)
}

/// Picks each component's files from the repo's file list; `variant` (`fp16`) is preferred
/// for weights when given. Every component that cannot be served is named in one error.
pub(crate) fn select(
    siblings: &[Sibling],
    components: &[String],
    variant: Option<&str>,
) -> Result<Selection> {
    let mut by_folder: BTreeMap<&str, Vec<(&str, &Sibling)>> = BTreeMap::new();
    for s in siblings {
        if let Some((folder, file)) = s.rfilename.split_once('/') {
            // One level only: nested folders are other formats (e.g. onnx/unet/...).
            if !file.contains('/') {
                by_folder.entry(folder).or_default().push((file, s));
            }
        }
    }
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    for component in components {
        let Some(entries) = by_folder.get(component.as_str()) else {
            problems.push(format!(
                "{component}: listed in {MODEL_INDEX} but the repo has no {component}/ folder"
            ));
            continue;
        };
        for (file, s) in entries {
            if is_config(file) {
                files.push(Planned::of(s, &s.rfilename));
            }
        }
        match weights(component, entries, variant) {
            Ok(None) => {}
            Ok(Some(chosen)) => {
                files.push(Planned::of(
                    chosen.sibling,
                    &format!("{component}/{}", chosen.local),
                ));
                notes.extend(chosen.note);
            }
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        return Err(ModelError::Hub(format!(
            "this repo cannot be pulled as it is: {}",
            problems.join("; ")
        )));
    }
    files.sort_by(|a, b| a.local.cmp(&b.local));
    Ok(Selection { files, notes })
}

/// `*.json` configs (not shard indexes, `*.safetensors.index[.fp16].json`) and tokenizer
/// `*.txt` files.
fn is_config(file: &str) -> bool {
    (file.ends_with(".json") && !file.contains(".index.")) || file.ends_with(".txt")
}

fn is_weights(path: &str) -> bool {
    path.ends_with(".safetensors")
}

/// The weights file chosen for a component.
struct Chosen<'a> {
    sibling: &'a Sibling,
    /// Its name in the model folder.
    local: String,
    /// What the user should know (a fallback).
    note: Option<String>,
}

/// A component's weights, `None` for a component without weights (scheduler, tokenizer,
/// feature extractor), or why it cannot be used.
fn weights<'a>(
    component: &str,
    entries: &[(&str, &'a Sibling)],
    variant: Option<&str>,
) -> Result<Option<Chosen<'a>>, String> {
    // (stem, variant) -> sibling, for `stem.safetensors` and `stem.variant.safetensors`.
    let mut found: BTreeMap<(&str, Option<&str>), &Sibling> = BTreeMap::new();
    for (file, s) in entries {
        let Some(base) = file.strip_suffix(".safetensors") else {
            continue;
        };
        let (stem, var) = match base.split_once('.') {
            Some((stem, var)) => (stem, Some(var)),
            None => (base, None),
        };
        if STEMS.contains(&stem) && !var.is_some_and(|v| v.contains("ema") || v.contains('.')) {
            found.insert((stem, var), *s);
        }
    }
    let pick = |wanted: Option<&str>| {
        STEMS
            .iter()
            .find_map(|stem| found.get(&(*stem, wanted)).map(|s| (*stem, *s)))
    };
    let plain = pick(None);
    let chosen = match variant {
        Some(v) => pick(Some(v)).map(|(stem, s)| (stem, s, None)).or_else(|| {
            plain.map(|(stem, s)| {
                let note = format!(
                    "{component}: no {v} weights in the repo; using the full-precision {}",
                    s.rfilename
                );
                (stem, s, Some(note))
            })
        }),
        None => plain.map(|(stem, s)| (stem, s, None)).or_else(|| {
            pick(Some("fp16")).map(|(stem, s)| {
                let note = format!(
                    "{component}: no full-precision safetensors weights in the repo; using the fp16 variant {}",
                    s.rfilename
                );
                (stem, s, Some(note))
            })
        }),
    };
    if let Some((stem, sibling, note)) = chosen {
        return Ok(Some(Chosen {
            sibling,
            local: format!("{stem}.safetensors"),
            note,
        }));
    }
    // No usable file: say why, or accept a component that has no weights at all.
    let names: Vec<&str> = entries.iter().map(|(f, _)| *f).collect();
    if let Some(index) = names.iter().find(|f| f.contains(".safetensors.index.")) {
        return Err(format!(
            "{component}: its weights are sharded ({index}); the engine loads one safetensors file per component (merge the shards into one file, or use a repo that has them unsharded)"
        ));
    }
    let other_variants: Vec<&&str> = names
        .iter()
        .filter(|f| f.ends_with(".safetensors"))
        .collect();
    if let (Some(v), false) = (variant, other_variants.is_empty()) {
        return Err(format!(
            "{component}: no {v} or plain weights, only {}",
            join(&other_variants)
        ));
    }
    if !other_variants.is_empty() {
        return Err(format!(
            "{component}: no plain or fp16 safetensors weights, only {} (try --variant NAME)",
            join(&other_variants)
        ));
    }
    let pickled: Vec<&&str> = names
        .iter()
        .filter(|f| {
            [".bin", ".ckpt", ".pt", ".pth"]
                .iter()
                .any(|e| f.ends_with(e))
        })
        .collect();
    if !pickled.is_empty() {
        return Err(format!(
            "{component}: only PyTorch pickle weights ({}); the engine loads safetensors only (look for a revision with safetensors, e.g. the hub's conversion pull request refs/pr/N)",
            join(&pickled)
        ));
    }
    if names.contains(&"config.json") {
        return Err(format!(
            "{component}: a model config but no weights file in the repo"
        ));
    }
    Ok(None)
}

fn join(files: &[&&str]) -> String {
    files.iter().map(|f| **f).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::client::LfsInfo;
    use super::*;

    fn sib(path: &str) -> Sibling {
        let lfs = [".safetensors", ".bin", ".ckpt", ".msgpack", ".onnx"]
            .iter()
            .any(|e| path.ends_with(e))
            .then(|| LfsInfo {
                sha256: format!("{:0>64}", path.len()),
                size: 100,
            });
        Sibling {
            rfilename: path.into(),
            size: Some(100),
            blob_id: None,
            lfs,
        }
    }

    /// A repo laid out like runwayml/stable-diffusion-v1-5 (with what it carries besides).
    fn sd15() -> Vec<Sibling> {
        [
            ".gitattributes",
            "README.md",
            "model_index.json",
            "v1-5-pruned-emaonly.ckpt",
            "v1-5-pruned.safetensors",
            "feature_extractor/preprocessor_config.json",
            "safety_checker/config.json",
            "safety_checker/model.safetensors",
            "safety_checker/model.fp16.safetensors",
            "safety_checker/pytorch_model.bin",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "text_encoder/model.fp16.safetensors",
            "text_encoder/flax_model.msgpack",
            "tokenizer/merges.txt",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "tokenizer/vocab.json",
            "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors",
            "unet/diffusion_pytorch_model.fp16.safetensors",
            "unet/diffusion_pytorch_model.non_ema.safetensors",
            "unet/diffusion_pytorch_model.bin",
            "vae/config.json",
            "vae/diffusion_pytorch_model.safetensors",
            "vae/diffusion_pytorch_model.fp16.safetensors",
            "onnx/unet/model.onnx",
        ]
        .into_iter()
        .map(sib)
        .collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn pairs(selection: &Selection) -> Vec<(String, String)> {
        selection
            .files
            .iter()
            .map(|p| (p.remote.clone(), p.local.clone()))
            .collect()
    }

    const SD15_COMPONENTS: [&str; 7] = [
        "feature_extractor",
        "safety_checker",
        "scheduler",
        "text_encoder",
        "tokenizer",
        "unet",
        "vae",
    ];

    #[test]
    fn components_are_the_listed_library_class_pairs() {
        let index = serde_json::json!({
            "_class_name": "StableDiffusionPipeline",
            "_diffusers_version": "0.6.0",
            "feature_extractor": ["transformers", "CLIPImageProcessor"],
            "safety_checker": [null, null],
            "requires_safety_checker": false,
            "scheduler": ["diffusers", "PNDMScheduler"],
            "unet": ["diffusers", "UNet2DConditionModel"],
        });
        assert_eq!(
            components(&index).expect("valid"),
            names(&["feature_extractor", "scheduler", "unet"])
        );
        let escape = serde_json::json!({"unet": ["a", "b"], "../x": ["a", "b"]});
        assert!(components(&escape).is_err(), "a component is a folder name");
        let sd3 = serde_json::json!({"_class_name": "StableDiffusion3Pipeline", "transformer": ["diffusers", "SD3Transformer2DModel"]});
        let err = components(&sd3).expect_err("no unet").to_string();
        assert!(err.contains("StableDiffusion3Pipeline"), "{err}");
    }

    #[test]
    fn full_precision_by_default_and_never_the_extras() {
        let s = select(&sd15(), &names(&SD15_COMPONENTS), None).expect("selects");
        let expected = [
            "feature_extractor/preprocessor_config.json",
            "safety_checker/config.json",
            "safety_checker/model.safetensors",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "tokenizer/merges.txt",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "tokenizer/vocab.json",
            "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors",
            "vae/config.json",
            "vae/diffusion_pytorch_model.safetensors",
        ];
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|p| (p.to_string(), p.to_string()))
            .collect();
        assert_eq!(pairs(&s), want);
        assert!(s.notes.is_empty(), "{:?}", s.notes);
        let unet = &s.files[11];
        assert!(unet.lfs && unet.sha256.is_some() && unet.blob_id.is_none());
    }

    #[test]
    fn a_variant_is_preferred_and_saved_under_the_plain_name() {
        let mut repo = sd15();
        repo.retain(|s| s.rfilename != "vae/diffusion_pytorch_model.fp16.safetensors");
        let s = select(&repo, &names(&SD15_COMPONENTS), Some("fp16")).expect("selects");
        let p = pairs(&s);
        assert!(p.contains(&(
            "unet/diffusion_pytorch_model.fp16.safetensors".into(),
            "unet/diffusion_pytorch_model.safetensors".into()
        )));
        assert!(p.contains(&(
            "text_encoder/model.fp16.safetensors".into(),
            "text_encoder/model.safetensors".into()
        )));
        // The VAE has no fp16 file: the full-precision one, said so.
        assert!(p.contains(&(
            "vae/diffusion_pytorch_model.safetensors".into(),
            "vae/diffusion_pytorch_model.safetensors".into()
        )));
        assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
        assert!(
            s.notes[0].starts_with("vae: no fp16 weights"),
            "{:?}",
            s.notes
        );
        assert_eq!(
            p.iter()
                .filter(|(_, l)| l.ends_with(".safetensors"))
                .count(),
            4,
            "one weights file per component"
        );
    }

    #[test]
    fn without_full_precision_the_fp16_variant_is_used_and_said_so() {
        let mut repo = sd15();
        repo.retain(|s| s.rfilename != "unet/diffusion_pytorch_model.safetensors");
        let s = select(&repo, &names(&["unet"]), None).expect("selects");
        assert!(pairs(&s).contains(&(
            "unet/diffusion_pytorch_model.fp16.safetensors".into(),
            "unet/diffusion_pytorch_model.safetensors".into()
        )));
        assert!(
            s.notes[0].contains("using the fp16 variant"),
            "{:?}",
            s.notes
        );
    }

    #[test]
    fn unusable_components_are_named_with_the_reason() {
        let repo: Vec<Sibling> = [
            "unet/config.json",
            "unet/diffusion_pytorch_model.bin",
            "vae/config.json",
            "vae/diffusion_pytorch_model.safetensors.index.json",
            "vae/diffusion_pytorch_model-00001-of-00002.safetensors",
            "vae/diffusion_pytorch_model-00002-of-00002.safetensors",
            "text_encoder/config.json",
            "text_encoder/model.bf16.safetensors",
            "tokenizer/vocab.json",
            "scheduler/scheduler_config.json",
        ]
        .into_iter()
        .map(sib)
        .collect();
        let err = select(
            &repo,
            &names(&[
                "unet",
                "vae",
                "text_encoder",
                "tokenizer",
                "scheduler",
                "safety_checker",
            ]),
            None,
        )
        .expect_err("unusable")
        .to_string();
        for needle in [
            "unet: only PyTorch pickle weights (diffusion_pytorch_model.bin)",
            "vae: its weights are sharded (diffusion_pytorch_model.safetensors.index.json)",
            "text_encoder: no plain or fp16 safetensors weights, only model.bf16.safetensors",
            "safety_checker: listed in model_index.json but the repo has no safety_checker/ folder",
        ] {
            assert!(err.contains(needle), "{needle}\n{err}");
        }
        assert!(
            !err.contains("tokenizer") && !err.contains("scheduler"),
            "{err}"
        );
        // The bf16 file is usable when asked for.
        let s = select(&repo, &names(&["text_encoder"]), Some("bf16")).expect("bf16");
        assert_eq!(s.files.len(), 2);
    }
}
