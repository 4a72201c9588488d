//! `model import` against the reference: each family's tiny single-file checkpoint (made and
//! proved by diffusers, see import_support) must import to a folder whose every tensor equals
//! the diffusers folder's (names, dtype, shape, bytes), whose configs agree on every field
//! that shapes the model, and which diffusers itself loads and renders like the reference.
//! Then the refusals, on real files: pickles, garbage, truncation, missing and unknown keys,
//! fp8, an existing name.
//!
//! Needs the project venv (`scripts/setup.sh`); set `PRESSROOM_PYTHON` to use another python.

use std::path::{Path, PathBuf};

use crate::import_support::{FAMILIES, Tensor, check_in_diffusers, edited, fixtures, read_tensors};
use pressroom_models::import::{ImportOptions, Imported, Prediction, import};
use pressroom_models::manifest::{digest, hash_file};
use pressroom_models::{Family, Manifest, ModelError, ModelStore, Source};
use safetensors::Dtype;
use serde_json::{Value, json};

fn new_store() -> (tempfile::TempDir, ModelStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ModelStore::under(dir.path());
    (dir, store)
}

fn options(name: &str) -> ImportOptions {
    ImportOptions {
        name: Some(name.into()),
        ..Default::default()
    }
}

fn checkpoint(family: &str) -> PathBuf {
    fixtures().join(family).join("model.safetensors")
}

fn reference(family: &str) -> PathBuf {
    fixtures().join(family).join("diffusers")
}

fn import_family(store: &ModelStore, family: &str) -> Imported {
    let prediction = (family == "sd2").then_some(Prediction::V);
    let opts = ImportOptions {
        prediction,
        ..options(family)
    };
    import(store, &checkpoint(family), &opts).expect("import")
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read json");
    serde_json::from_str(&text).expect("json")
}

/// transformers 5 saves CLIPTextModel without the `text_model.` prefix that published
/// checkpoints (and ours) use; both load the same.
fn normalized(dir: &str, name: &str) -> String {
    if dir == "text_encoder" && !name.starts_with("text_model.") {
        format!("text_model.{name}")
    } else {
        name.to_string()
    }
}

fn weights_file(dir: &str) -> &'static str {
    if dir.starts_with("text_encoder") {
        "model.safetensors"
    } else {
        "diffusion_pytorch_model.safetensors"
    }
}

fn assert_same_tensors(family: &str, ours: &Path, theirs: &Path, dir: &str) {
    let file = weights_file(dir);
    let a = read_tensors(&ours.join(dir).join(file));
    let b: std::collections::BTreeMap<String, Tensor> = read_tensors(&theirs.join(dir).join(file))
        .into_iter()
        .map(|(k, v)| (normalized(dir, &k), v))
        .collect();
    let only_ours: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_theirs: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{family}/{dir}: names differ: only ours {only_ours:?}, only diffusers' {only_theirs:?}"
    );
    for (name, t) in &a {
        let r = &b[name];
        assert_eq!(t.dtype, r.dtype, "{family}/{dir}/{name}: dtype");
        assert_eq!(t.shape, r.shape, "{family}/{dir}/{name}: shape");
        assert!(t.data == r.data, "{family}/{dir}/{name}: values differ");
    }
    assert!(!a.is_empty(), "{family}/{dir}: no tensors");
}

/// A config field as diffusers reads it (absent → its default; one value → per block).
fn field(config: &Value, key: &str, blocks: usize) -> Value {
    let v = config.get(key).cloned().unwrap_or(Value::Null);
    match (key, v) {
        ("transformer_layers_per_block", Value::Null) => json!(vec![1; blocks]),
        ("transformer_layers_per_block" | "attention_head_dim", Value::Number(n)) => {
            json!(vec![n; blocks])
        }
        ("upcast_attention" | "use_linear_projection", Value::Null) => json!(false),
        ("scaling_factor", Value::Null) => json!(0.18215),
        ("force_upcast", Value::Null) => json!(true),
        (_, v) => v,
    }
}

fn assert_configs_agree(family: &str, ours: &Path, theirs: &Path) {
    let fields: &[(&str, &[&str])] = &[
        (
            "unet/config.json",
            &[
                "in_channels",
                "out_channels",
                "block_out_channels",
                "layers_per_block",
                "down_block_types",
                "up_block_types",
                "cross_attention_dim",
                "attention_head_dim",
                "num_attention_heads",
                "use_linear_projection",
                "upcast_attention",
                "transformer_layers_per_block",
                "addition_embed_type",
                "addition_time_embed_dim",
                "projection_class_embeddings_input_dim",
                "norm_num_groups",
                "norm_eps",
                "flip_sin_to_cos",
                "freq_shift",
                "sample_size",
            ],
        ),
        (
            "vae/config.json",
            &[
                "in_channels",
                "out_channels",
                "latent_channels",
                "block_out_channels",
                "layers_per_block",
                "norm_num_groups",
                "scaling_factor",
                "force_upcast",
                "sample_size",
            ],
        ),
        (
            "text_encoder/config.json",
            &[
                "vocab_size",
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
                "max_position_embeddings",
                "hidden_act",
                "layer_norm_eps",
            ],
        ),
        (
            "text_encoder_2/config.json",
            &[
                "vocab_size",
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
                "max_position_embeddings",
                "hidden_act",
                "layer_norm_eps",
                "projection_dim",
            ],
        ),
    ];
    for (file, keys) in fields {
        let (a, b) = (ours.join(file), theirs.join(file));
        if !b.exists() {
            assert!(!a.exists(), "{family}: {file} should not be there");
            continue;
        }
        let (a, b) = (json(&a), json(&b));
        let blocks = b["block_out_channels"].as_array().map_or(0, Vec::len);
        for key in *keys {
            assert_eq!(
                field(&a, key, blocks),
                field(&b, key, blocks),
                "{family}: {file} `{key}`"
            );
        }
    }
    // The reference folder carries the published scheduler config too.
    let sched = "scheduler/scheduler_config.json";
    assert_eq!(
        json(&ours.join(sched)),
        json(&theirs.join(sched)),
        "{family}: {sched}"
    );
    let index = "model_index.json";
    assert_eq!(
        json(&ours.join(index))["_class_name"],
        json(&theirs.join(index))["_class_name"],
        "{family}: pipeline class"
    );
    for tok in ["tokenizer", "tokenizer_2"] {
        let theirs = theirs.join(tok).join("tokenizer_config.json");
        if theirs.exists() {
            let pad = |p: &Path| json(p)["pad_token"].clone();
            assert_eq!(
                pad(&ours.join(tok).join("tokenizer_config.json")),
                pad(&theirs),
                "{family}: {tok} pad token"
            );
        }
    }
}

fn assert_manifest(imported: &Imported, family: Family, dtype: &str, ckpt: &Path) {
    let m = Manifest::read(&imported.path).expect("manifest");
    assert_eq!(m, imported.manifest);
    assert_eq!(m.family, family);
    assert_eq!(m.dtype, dtype);
    let (sha, _) = hash_file(ckpt).expect("hash");
    assert_eq!(
        m.source,
        Source::File {
            file_name: "model.safetensors".into(),
            sha256: sha
        }
    );
    assert_eq!(m.digest, digest(&m.files));
    let mut total = 0;
    for f in &m.files {
        let (sha, size) = hash_file(&imported.path.join(&f.path)).expect("hash file");
        assert_eq!(
            (sha.as_str(), size),
            (f.sha256.as_str(), f.size),
            "{}",
            f.path
        );
        total += size;
    }
    assert_eq!(m.size_bytes, total);
    // Every file of the folder (but the manifest) is listed.
    let mut on_disk = Vec::new();
    for dir in std::fs::read_dir(&imported.path).expect("read dir") {
        let dir = dir.expect("entry").path();
        if dir.is_dir() {
            for f in std::fs::read_dir(&dir).expect("read dir") {
                on_disk.push(f.expect("entry").path());
            }
        } else if !dir.ends_with("pressroom-model.json") {
            on_disk.push(dir);
        }
    }
    assert_eq!(on_disk.len(), m.files.len(), "{:?}", m.files);
}

fn check_family(family: &str, expected: Family, dtype: &str) {
    let (_dir, store) = new_store();
    let imported = import_family(&store, family);
    assert_eq!(imported.path, store.path(family).expect("path"));
    let ours = &imported.path;
    let theirs = reference(family);
    let mut dirs = vec!["unet", "vae", "text_encoder"];
    if expected == Family::Sdxl {
        dirs.push("text_encoder_2");
    }
    for dir in &dirs {
        assert_same_tensors(family, ours, &theirs, dir);
    }
    assert_configs_agree(family, ours, &theirs);
    assert_manifest(&imported, expected, dtype, &checkpoint(family));
    assert_eq!(Family::of_folder(ours).expect("family of folder"), expected);
    assert!(
        !store.root().join(".partial").join(family).exists(),
        "the staging folder is gone"
    );
    check_in_diffusers(family, ours);
}

#[test]
fn sd1_imports_to_the_diffusers_folder_and_ignores_ema() {
    check_family("sd1", Family::Sd1, "F32");
    let (_dir, store) = new_store();
    let imported = import_family(&store, "sd1");
    // The fixture carries a full EMA copy (other values): left out, as diffusers does.
    assert!(imported.ema_ignored > 100, "{}", imported.ema_ignored);
    assert_eq!(imported.prediction, Prediction::Epsilon);
}

#[test]
fn sd2_imports_to_the_diffusers_folder_without_the_last_openclip_block() {
    check_family("sd2", Family::Sd2, "F32");
    let (_dir, store) = new_store();
    let imported = import_family(&store, "sd2");
    let te = json(&imported.path.join("text_encoder/config.json"));
    assert_eq!(te["num_hidden_layers"], json!(23));
    assert_eq!(te["hidden_act"], json!("gelu"));
    let sched = json(&imported.path.join("scheduler/scheduler_config.json"));
    assert_eq!(sched["prediction_type"], json!("v_prediction"));
    // Without --prediction: v, as diffusers' from_single_file configures SD 2.x; epsilon when
    // asked for (512-base models).
    let (_dir2, store2) = new_store();
    let default = import(&store2, &checkpoint("sd2"), &options("default")).expect("import");
    let sched = json(&default.path.join("scheduler/scheduler_config.json"));
    assert_eq!(sched["prediction_type"], json!("v_prediction"));
    let eps = ImportOptions {
        prediction: Some(Prediction::Epsilon),
        ..options("eps")
    };
    let eps = import(&store2, &checkpoint("sd2"), &eps).expect("import");
    let sched = json(&eps.path.join("scheduler/scheduler_config.json"));
    assert_eq!(sched["prediction_type"], json!("epsilon"));
}

#[test]
fn sdxl_imports_to_the_diffusers_folder_in_fp16() {
    check_family("sdxl", Family::Sdxl, "F16");
}

#[test]
fn the_v_pred_marker_of_comfyui_sets_v_prediction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = edited("sd1", dir.path(), "vpred.safetensors", |t| {
        t.insert(
            "v_pred".into(),
            Tensor {
                dtype: Dtype::F32,
                shape: vec![],
                data: vec![0; 4],
            },
        );
    });
    let (_d, store) = new_store();
    let imported = import(&store, &file, &ImportOptions::default()).expect("import");
    assert_eq!(imported.manifest.name, "vpred");
    assert!(imported.prediction_from_marker);
    let sched = json(&imported.path.join("scheduler/scheduler_config.json"));
    assert_eq!(sched["prediction_type"], json!("v_prediction"));
}

fn import_error(file: &Path) -> String {
    let (_d, store) = new_store();
    let err = import(&store, file, &options("x")).expect_err("must be refused");
    assert!(
        !store.root().join("x").exists() && !store.root().join(".partial/x").exists(),
        "a refused import leaves nothing"
    );
    err.to_string()
}

#[test]
fn pickled_checkpoints_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ckpt = dir.path().join("model.ckpt");
    std::fs::copy(checkpoint("sd1"), &ckpt).expect("copy");
    let msg = import_error(&ckpt);
    assert!(msg.contains("pickle") && msg.contains("runs code"), "{msg}");
    // A torch.save zip renamed .safetensors is caught by its content.
    let zip = dir.path().join("renamed.safetensors");
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend(std::iter::repeat_n(0u8, 200));
    std::fs::write(&zip, bytes).expect("write");
    let msg = import_error(&zip);
    assert!(msg.contains("pickle"), "{msg}");
}

/// A safetensors header is padded to a multiple of 8, so its little-endian length often
/// starts with 0x80, a pickle's first byte: such a file must import, a real pickle not.
#[test]
fn a_header_length_starting_with_0x80_is_not_taken_for_a_pickle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(checkpoint("sd1")).expect("read");
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[..8]);
    let n = u64::from_le_bytes(len) as usize;
    let padded = (n..).find(|m| m % 256 == 128).expect("a length");
    let mut out = (padded as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&bytes[8..8 + n]);
    out.extend(std::iter::repeat_n(b' ', padded - n));
    out.extend_from_slice(&bytes[8 + n..]);
    assert_eq!(out[0], 0x80);
    let file = dir.path().join("padded.safetensors");
    std::fs::write(&file, out).expect("write");
    let store = ModelStore::under(dir.path());
    let imported = import(&store, &file, &ImportOptions::default()).expect("imports");
    assert_eq!(imported.manifest.family, Family::Sd1);

    let pickle = dir.path().join("pickle.safetensors");
    let mut bytes = vec![0x80, 0x02];
    bytes.extend(std::iter::repeat_n(0u8, 200));
    std::fs::write(&pickle, bytes).expect("write");
    let msg = import_error(&pickle);
    assert!(msg.contains("pickle"), "{msg}");
}

#[test]
fn garbage_and_truncated_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a checkpoint, just some text\n").expect("write");
    let msg = import_error(&garbage);
    assert!(msg.contains("not a safetensors file"), "{msg}");

    let bytes = std::fs::read(checkpoint("sd1")).expect("read");
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let msg = import_error(&cut);
    assert!(msg.contains("truncated"), "{msg}");

    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").expect("write");
    let msg = import_error(&empty);
    assert!(msg.contains("not a safetensors file"), "{msg}");
}

#[test]
fn missing_tensors_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = edited("sd1", dir.path(), "holes.safetensors", |t| {
        t.remove("model.diffusion_model.input_blocks.1.0.in_layers.2.bias");
        t.remove("model.diffusion_model.output_blocks.3.1.transformer_blocks.0.attn2.to_k.weight");
    });
    let msg = import_error(&file);
    assert!(
        msg.contains("UNet")
            && msg.contains("2 tensor(s) missing")
            && msg.contains("down_blocks.0.resnets.0.conv1.bias")
            && msg.contains("up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"),
        "{msg}"
    );

    let file = edited("sd2", dir.path(), "novae.safetensors", |t| {
        t.retain(|k, _| !k.starts_with("first_stage_model."));
    });
    let msg = import_error(&file);
    assert!(msg.contains("no VAE (first_stage_model.*)"), "{msg}");

    let file = edited("sdxl", dir.path(), "nolayer.safetensors", |t| {
        t.remove("conditioner.embedders.1.model.transformer.resblocks.1.attn.in_proj_weight");
    });
    let msg = import_error(&file);
    assert!(
        msg.contains("conditioner.embedders.1.model.")
            && msg.contains("text_model.encoder.layers.1.self_attn.q_proj.weight"),
        "{msg}"
    );

    let file = edited("sd1", dir.path(), "unet-only.safetensors", |t| {
        t.retain(|k, _| k.starts_with("model.diffusion_model."));
    });
    let msg = import_error(&file);
    assert!(msg.contains("no text encoder"), "{msg}");
}

#[test]
fn unknown_tensors_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = || Tensor {
        dtype: Dtype::F32,
        shape: vec![2],
        data: vec![0; 8],
    };
    let file = edited("sd1", dir.path(), "controlnet.safetensors", |t| {
        t.insert("control_model.zero_convs.0.0.weight".into(), extra());
        t.insert("lora_unet_down_blocks_0.alpha".into(), extra());
    });
    let msg = import_error(&file);
    assert!(
        msg.contains("2 tensor(s)")
            && msg.contains("control_model.zero_convs.0.0.weight")
            && msg.contains("lora_unet_down_blocks_0.alpha"),
        "{msg}"
    );
    let file = edited("sd1", dir.path(), "odd-unet.safetensors", |t| {
        t.insert(
            "model.diffusion_model.input_blocks.1.1.extra.weight".into(),
            extra(),
        );
    });
    let msg = import_error(&file);
    assert!(
        msg.contains("model.diffusion_model.input_blocks.1.1.extra.weight"),
        "{msg}"
    );
}

#[test]
fn fp8_weights_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = "model.diffusion_model.out.2.bias";
    let file = edited("sd1", dir.path(), "fp8.safetensors", |t| {
        let bias = t.get_mut(key).expect("bias");
        bias.dtype = Dtype::F8_E4M3;
        bias.data.truncate(bias.shape.iter().product());
    });
    let msg = import_error(&file);
    assert!(msg.contains("fp8") && msg.contains(key), "{msg}");
}

#[test]
fn an_existing_name_is_replaced_only_with_force() {
    let (_d, store) = new_store();
    let first = import(&store, &checkpoint("sd1"), &options("mine")).expect("import");
    let err = import(&store, &checkpoint("sd2"), &options("mine")).expect_err("exists");
    assert!(
        matches!(err, ModelError::Exists(ref n) if n == "mine"),
        "{err}"
    );
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(
        Manifest::read(&first.path).expect("manifest").family,
        Family::Sd1
    );
    let forced = ImportOptions {
        force: true,
        ..options("mine")
    };
    let second = import(&store, &checkpoint("sd2"), &forced).expect("forced import");
    assert_eq!(second.path, first.path);
    let m = Manifest::read(&second.path).expect("manifest");
    assert_eq!(m.family, Family::Sd2);
    assert_ne!(m.digest, first.manifest.digest);
    assert_eq!(store.list().expect("list").len(), 1);
}

#[test]
fn default_names_come_from_the_file_name() {
    use pressroom_models::import::default_name;
    let cases = [
        ("v1-5-pruned-emaonly.safetensors", "v1-5-pruned-emaonly"),
        (
            "Juggernaut XL v9 (RunDiffusion).safetensors",
            "juggernaut-xl-v9-rundiffusion",
        ),
        ("/some/dir/__My_Model__.safetensors", "my_model"),
    ];
    for (file, name) in cases {
        assert_eq!(default_name(Path::new(file)).expect(file), name);
    }
    assert!(default_name(Path::new("(((.safetensors")).is_err());
}

#[test]
fn every_family_is_told_from_its_tensors() {
    for family in FAMILIES {
        let (_d, store) = new_store();
        let imported = import(&store, &checkpoint(family), &options(family)).expect("import");
        assert_eq!(imported.manifest.family.as_str(), family);
        let te_dirs: Vec<&str> = imported
            .parts
            .iter()
            .map(|p| p.dir)
            .filter(|d| d.starts_with("text_encoder"))
            .collect();
        assert_eq!(
            te_dirs.len(),
            if family == "sdxl" { 2 } else { 1 },
            "{family}"
        );
    }
}
