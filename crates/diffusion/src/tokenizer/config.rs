//! The special tokens of a tokenizer folder, read from `tokenizer_config.json` and
//! `special_tokens_map.json` the way transformers 5's `CLIPTokenizer.from_pretrained` reads them.
//!
//! They matter for the ids, not only for BOS/EOS/padding: every special token is matched in
//! the prompt text before BPE (so with SD 2.x's pad token `!`, each `!` becomes its own token),
//! and one marked `"normalized": true` is matched after lower-casing (SD 1.5's config marks
//! `<|startoftext|>` so, which makes `<|StartOfText|>` in a prompt the BOS id too).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tokenizers::AddedToken;

use crate::error::{DiffusionError, Result};

/// CLIPTokenizer's defaults when no config names them (unk and pad default to EOS).
const DEFAULT_BOS: &str = "<|startoftext|>";
const DEFAULT_EOS: &str = "<|endoftext|>";

/// transformers' `SPECIAL_TOKENS_ATTRIBUTES`, in its order (a later one wins a tie).
const NAMED: [&str; 7] = [
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
];

/// What the configs say about special tokens.
#[derive(Debug)]
pub(crate) struct SpecialTokens {
    pub bos: String,
    pub eos: String,
    pub pad: String,
    /// `model_max_length` from tokenizer_config.json, when it is a usable number.
    pub model_max_length: Option<usize>,
    /// `added_tokens_decoder` entries; they override a token's flags even over tokenizer.json.
    pub decoder: Vec<AddedToken>,
    /// The named and extra special tokens, in transformers' order; they are only added when
    /// their text is not already an added token (of tokenizer.json or `decoder`).
    pub named: Vec<AddedToken>,
}

impl SpecialTokens {
    /// Reads the configs in `dir`; both files are optional, but a present one must be valid.
    pub fn read(dir: &Path) -> Result<Self> {
        let config_path = dir.join("tokenizer_config.json");
        let config = read_object(&config_path)?;
        let map_path = dir.join("special_tokens_map.json");

        // With `added_tokens_decoder`, transformers ignores special_tokens_map.json; without
        // it (configs written before transformers 4.34), the map overrides the config.
        let mut decoder = Vec::new();
        let mut named_values: Map<String, Value> = config.clone();
        let mut named_source: Vec<(String, PathBuf)> = Vec::new();
        if let Some(entries) = config.get("added_tokens_decoder") {
            decoder = read_decoder(entries, &config_path)?;
        } else {
            for (key, value) in read_object(&map_path)? {
                named_source.push((key.clone(), map_path.clone()));
                named_values.insert(key, value);
            }
        }
        let source = |key: &str| -> &Path {
            named_source
                .iter()
                .find(|(k, _)| k == key)
                .map_or(config_path.as_path(), |(_, p)| p.as_path())
        };

        // CLIPTokenizer's own defaults fill the gaps (plain strings).
        for (key, default) in [
            ("bos_token", DEFAULT_BOS),
            ("eos_token", DEFAULT_EOS),
            ("unk_token", DEFAULT_EOS),
            ("pad_token", DEFAULT_EOS),
        ] {
            if named_values.get(key).is_none_or(Value::is_null) {
                named_values.insert(key.to_string(), Value::String(default.to_string()));
            }
        }
        let mut named = Vec::new();
        let mut names: Vec<(String, String)> = Vec::new();
        for key in NAMED {
            let Some(value) = named_values.get(key).filter(|v| !v.is_null()) else {
                continue;
            };
            let from_map = source(key) == map_path;
            let token = parse_token(value, from_map)
                .map_err(|m| config_err(source(key), &format!("`{key}`: {m}")))?;
            names.push((key.to_string(), token.content.clone()));
            named.push(token);
        }
        for key in ["extra_special_tokens", "additional_special_tokens"] {
            if let Some(Value::Array(list)) = named_values.get(key) {
                for value in list {
                    let from_map = source(key) == map_path;
                    let token = parse_token(value, from_map)
                        .map_err(|m| config_err(source(key), &format!("`{key}`: {m}")))?;
                    named.push(token);
                }
            }
        }
        let name = |key: &str, default: &str| {
            names
                .iter()
                .find(|(k, _)| k == key)
                .map_or_else(|| default.to_string(), |(_, v)| v.clone())
        };
        let model_max_length = config
            .get("model_max_length")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok());
        Ok(Self {
            bos: name("bos_token", DEFAULT_BOS),
            eos: name("eos_token", DEFAULT_EOS),
            pad: name("pad_token", DEFAULT_EOS),
            model_max_length,
            decoder,
            named,
        })
    }

    /// The tokens transformers registers on top of `existing` (the added tokens a
    /// tokenizer.json already has), one per text: where transformers adds a text twice, the
    /// later flags are the ones its tokenizer matches with, so they are the ones kept here.
    pub fn to_add(&self, existing: &[String]) -> Vec<AddedToken> {
        let taken: Vec<&str> = existing
            .iter()
            .map(String::as_str)
            .chain(self.decoder.iter().map(|t| t.content.as_str()))
            .collect();
        let mut out: Vec<AddedToken> = Vec::new();
        let named = self
            .named
            .iter()
            .filter(|t| !taken.contains(&t.content.as_str()));
        for token in self.decoder.iter().chain(named) {
            if token.content.is_empty() {
                continue;
            }
            match out.iter_mut().find(|t| t.content == token.content) {
                Some(t) => *t = token.clone(),
                None => out.push(token.clone()),
            }
        }
        out
    }
}

fn config_err(path: &Path, message: &str) -> DiffusionError {
    DiffusionError::Config {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// A JSON object from `path`, or an empty one when the file does not exist.
fn read_object(path: &Path) -> Result<Map<String, Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => {
            return Err(DiffusionError::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(config_err(path, "expected a JSON object")),
        Err(e) => Err(config_err(path, &format!("not valid JSON: {e}"))),
    }
}

/// `added_tokens_decoder`: `{"49406": {"content": ..., "normalized": ..., ...}}`, by id.
fn read_decoder(entries: &Value, path: &Path) -> Result<Vec<AddedToken>> {
    let Value::Object(entries) = entries else {
        return Err(config_err(path, "`added_tokens_decoder` must be an object"));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (id, value) in entries {
        let _: u64 = id.parse().map_err(|_| {
            config_err(
                path,
                &format!("`added_tokens_decoder` key `{id}` is not a token id"),
            )
        })?;
        let Value::Object(o) = value else {
            return Err(config_err(
                path,
                &format!("`added_tokens_decoder.{id}` must be an object"),
            ));
        };
        let content = o.get("content").and_then(Value::as_str).ok_or_else(|| {
            config_err(
                path,
                &format!("`added_tokens_decoder.{id}` has no string `content`"),
            )
        })?;
        let special = flag(o, "special").unwrap_or(false);
        out.push(
            AddedToken::from(content, special)
                .normalized(flag(o, "normalized").unwrap_or(!special))
                .lstrip(flag(o, "lstrip").unwrap_or(false))
                .rstrip(flag(o, "rstrip").unwrap_or(false))
                .single_word(flag(o, "single_word").unwrap_or(false)),
        );
    }
    Ok(out)
}

fn flag(o: &Map<String, Value>, key: &str) -> Option<bool> {
    o.get(key).and_then(Value::as_bool)
}

/// A named special token: a plain string (special, matched on the raw text) or an
/// `AddedToken` object. transformers builds map entries with `special=True` and config entries
/// with their own flags, so an object without `normalized` differs between the two files.
fn parse_token(value: &Value, from_map: bool) -> std::result::Result<AddedToken, String> {
    match value {
        Value::String(s) => Ok(AddedToken::from(s.as_str(), true).normalized(false)),
        Value::Object(o) => {
            let content = o
                .get("content")
                .and_then(Value::as_str)
                .ok_or("an object special token needs a string `content`")?;
            let special = from_map || flag(o, "special").unwrap_or(false);
            Ok(AddedToken::from(content, true)
                .normalized(flag(o, "normalized").unwrap_or(!special))
                .lstrip(flag(o, "lstrip").unwrap_or(false))
                .rstrip(flag(o, "rstrip").unwrap_or(false))
                .single_word(flag(o, "single_word").unwrap_or(false)))
        }
        other => Err(format!("expected a string or an object, found {other}")),
    }
}
