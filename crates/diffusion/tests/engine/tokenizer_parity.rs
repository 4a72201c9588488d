//! Tokenizer parity on the real CLIP vocabulary (49,408 tokens,
//! `crates/models/assets/clip`): `scripts/diffusion/tokenizer_reference.py` writes golden ids
//! from transformers' `CLIPTokenizer` for prompts with curly quotes, accents, CJK, emoji, HTML
//! entities, control characters, special tokens and truncation, for each tokenizer folder style
//! real models ship; we load the same folders and compare every id and every truncation.
//!
//! End to end, `make_reference.py --variants sd1-clip` renders the hard prompts with diffusers
//! on a tiny model whose text encoder embeds the whole vocabulary, and we render them too.
//!
//! Needs the project venv (`scripts/setup.sh`); set `PRESSROOM_PYTHON` to use another python.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use pressroom_diffusion::tokenizer::{ClipTokenizer, Truncation};
use pressroom_diffusion::{BatchParams, DeviceChoice, NoiseScheduler, Prompt, StableDiffusion};
use serde_json::Value;
use tch::{Kind, Tensor};

use crate::reference::run_script;

fn golden_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| run_script::<&str>("diffusion/tokenizer_reference.py", &[]))
        .path()
}

fn golden() -> Value {
    let text = std::fs::read_to_string(golden_dir().join("golden.json")).expect("read golden.json");
    serde_json::from_str(&text).expect("parse golden.json")
}

fn ids_of(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("id list")
        .iter()
        .map(|x| x.as_i64().expect("integer id"))
        .collect()
}

#[test]
fn ids_equal_transformers_on_the_real_clip_vocabulary() {
    let g = golden();
    let cases = g["cases"].as_array().expect("cases");
    let sets = g["sets"].as_array().expect("sets");
    assert!(cases.len() >= 50, "golden has only {} cases", cases.len());
    assert!(sets.len() >= 8, "golden has only {} tokenizers", sets.len());
    let max_len = g["max_length"].as_u64().expect("max_length") as usize;

    let mut failures = String::new();
    let mut compared = 0;
    let mut truncated = 0;
    for set in sets {
        let name = set["name"].as_str().expect("set name");
        let folder = golden_dir().join(set["folder"].as_str().expect("folder"));
        let tok = ClipTokenizer::load(&folder, 77).expect("load tokenizer folder");
        assert_eq!(tok.max_len(), max_len, "{name}: max length");
        let results = set["results"].as_array().expect("results");
        assert_eq!(results.len(), cases.len(), "{name}: one result per case");
        for (case, want) in cases.iter().zip(results) {
            let case_name = case["name"].as_str().expect("case name");
            let prompt = case["prompt"].as_str().expect("prompt");
            let want_ids = ids_of(&want["ids"]);
            let untruncated = ids_of(&want["untruncated"]);
            let want_trunc = want["removed_text"].as_str().map(|text| Truncation {
                dropped_tokens: untruncated.len() - max_len,
                dropped_text: text.to_string(),
            });
            let got = tok.encode_detailed(prompt).expect("encode");
            compared += 1;
            if got.ids != want_ids {
                let _ = writeln!(
                    failures,
                    "{name} / {case_name}: prompt {prompt:?}\n  transformers: {want_ids:?}\n  ours:         {:?}",
                    got.ids
                );
            }
            if got.truncated != want_trunc {
                let _ = writeln!(
                    failures,
                    "{name} / {case_name}: prompt {prompt:?}\n  transformers truncated: {want_trunc:?}\n  ours truncated:         {:?}",
                    got.truncated
                );
            }
            truncated += usize::from(want_trunc.is_some());
            // The plain entry point gives the same ids.
            assert_eq!(
                tok.encode(prompt).expect("encode"),
                got.ids,
                "{name}/{case_name}"
            );
        }
    }
    eprintln!(
        "compared {compared} encodings ({truncated} truncated) against transformers {}",
        g["transformers"]
    );
    assert!(truncated > 0, "no golden case was truncated");
    assert!(
        failures.is_empty(),
        "token ids differ from transformers {}:\n{failures}",
        g["transformers"]
    );
}

#[test]
fn golden_distinguishes_the_tokenizer_behaviours_we_reproduce() {
    // Guards against a golden file that could not catch a mistake: the pad token, the pad
    // token `!` matched as a special token, and a normalized special token must all show.
    let g = golden();
    let cases = g["cases"].as_array().expect("cases");
    let index = |n: &str| {
        cases
            .iter()
            .position(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("case {n} missing"))
    };
    let set = |n: &str| {
        g["sets"]
            .as_array()
            .expect("sets")
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("set {n} missing"))
            .clone()
    };
    let ids = |s: &Value, case: usize| ids_of(&s["results"][case]["ids"]);
    let plain = set("from_pretrained-bare");
    let sd1 = set("from_pretrained-sd1");
    let sd2 = set("from_pretrained-sd2");
    let ascii = index("ascii");
    assert_eq!(
        ids(&plain, ascii)[76],
        49407,
        "SD 1 pads with <|endoftext|>"
    );
    assert_eq!(ids(&sd2, ascii)[76], 0, "SD 2 pads with !");
    let bang = index("punctuation");
    assert_ne!(
        ids(&plain, bang)[..20],
        ids(&sd2, bang)[..20],
        "with pad `!` each ! is its own token"
    );
    let upper = index("specials-uppercase");
    assert_ne!(ids(&plain, upper), ids(&sd1, upper));
    assert!(ids(&sd1, upper).contains(&49406));
}

/// Collects the warnings logged while a closure runs.
#[derive(Default, Clone)]
struct Warnings(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut line = String::new();
            event.record(&mut Fields(&mut line));
            self.0.lock().expect("warnings lock").push(line);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_truncated_prompt_is_logged_with_what_was_dropped() {
    let g = golden();
    let cases = g["cases"].as_array().expect("cases");
    let tok = ClipTokenizer::load(&golden_dir().join("sd1"), 77).expect("load");
    let find = |n: &str| {
        let i = cases
            .iter()
            .position(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("case {n} missing"));
        let prompt = cases[i]["prompt"].as_str().expect("prompt").to_string();
        let removed = g["sets"][0]["results"][i]["removed_text"].clone();
        (prompt, removed)
    };
    let warnings = Warnings::default();
    let (long, removed) = find("long-200-words");
    let (short, _) = find("exactly-75-tokens");
    tracing::subscriber::with_default(warnings.clone(), || {
        tok.encode(&short).expect("encode 75");
        tok.encode(&long).expect("encode long");
    });
    let logged = warnings.0.lock().expect("warnings lock").clone();
    assert_eq!(
        logged.len(),
        1,
        "one warning, for the long prompt only: {logged:?}"
    );
    let removed = removed.as_str().expect("long prompt was truncated");
    let want_dropped = tok.encode_detailed(&long).expect("encode");
    let dropped = want_dropped.truncated.expect("truncated").dropped_tokens;
    assert!(
        logged[0].contains(&format!("dropped_tokens={dropped} ")),
        "{}",
        logged[0]
    );
    assert!(logged[0].contains(removed), "{}", logged[0]);
}

// ---- end to end: a tiny model on the real vocabulary, against diffusers ----

fn image_diff(ours: &[u8], theirs: &Tensor) -> i32 {
    let theirs = Vec::<u8>::try_from(&theirs.flatten(0, -1)).expect("u8");
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(&theirs)
        .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
        .max()
        .unwrap_or(0)
}

#[test]
fn tiny_model_on_the_real_vocabulary_renders_hard_prompts_like_diffusers() {
    let dir = run_script("diffusion/make_reference.py", &["--variants", "sd1-clip"]);
    let root = dir.path().join("sd1-clip");
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("prompts.json")).expect("read prompts.json"),
    )
    .expect("parse prompts.json");
    let r: HashMap<String, Tensor> = Tensor::read_safetensors(root.join("reference.safetensors"))
        .expect("reference tensors")
        .into_iter()
        .collect();
    let model = root.join("model");
    assert!(
        !model.join("tokenizer/tokenizer.json").exists()
            && model.join("tokenizer/vocab.json").exists(),
        "the model's tokenizer folder must be vocab.json + merges.txt only"
    );
    let sd = StableDiffusion::load(&model, DeviceChoice::cpu()).expect("load");
    let _g = tch::no_grad_guard();
    let prompts = meta["prompts"].as_array().expect("prompts");
    assert!(prompts.len() >= 4);
    let steps = meta["steps"].as_u64().expect("steps") as u32;
    let size = meta["size"].as_u64().expect("size") as u32;
    let mut failures = Vec::new();
    for (i, p) in prompts.iter().enumerate() {
        let prompt = p["prompt"].as_str().expect("prompt");
        let negative = p["negative"].as_str();
        let want = Vec::<i64>::try_from(&r[&format!("ids_{i}")].flatten(0, -1)).expect("ids");
        let got = sd.tokenizer.encode(prompt).expect("encode");
        assert_eq!(got, want, "prompt {i} {prompt:?}: token ids");
        let images = sd
            .generate(
                &BatchParams {
                    steps,
                    scheduler: NoiseScheduler::Ddim,
                    width: size,
                    height: size,
                },
                &[Prompt {
                    prompt: prompt.into(),
                    negative_prompt: negative.map(str::to_string),
                    seed: meta["seed"].as_u64().expect("seed"),
                    guidance: meta["guidance"].as_f64().expect("guidance") as f32,
                }],
                &mut |_, _| {},
            )
            .expect("generate");
        let theirs = &r[&format!("image_{i}")];
        let d = image_diff(&images[0].data, theirs);
        eprintln!("sd1-clip prompt {i}: max pixel difference {d}/255");
        if d > 2 {
            failures.push(format!("prompt {i} {prompt:?}: {d}/255"));
        }
    }
    // Different prompts must give visibly different references, or the comparison above
    // could not tell a wrong tokenization from a right one.
    for i in 0..prompts.len() {
        for j in i + 1..prompts.len() {
            let a = r[&format!("image_{i}")].to_kind(Kind::Int);
            let b = r[&format!("image_{j}")].to_kind(Kind::Int);
            let d = (a - b).abs().max().int64_value(&[]);
            assert!(d > 8, "references {i} and {j} differ by only {d}/255");
        }
    }
    assert!(
        failures.is_empty(),
        "images differ from diffusers: {failures:?}"
    );
}
