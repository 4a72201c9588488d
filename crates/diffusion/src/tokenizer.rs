//! The CLIP tokenizer: lower-cased byte-level BPE with a `</w>` end-of-word suffix, BOS/EOS,
//! truncated and padded to the model's 77 positions, giving the ids diffusers gives.
//!
//! `tokenizer.json` is loaded as is; folders with only `vocab.json` + `merges.txt` get the
//! pipeline transformers' `CLIPTokenizer` assembles ([`vocab`]). Either way the special tokens
//! of the folder's configs are registered as transformers registers them ([`config`]).
//!
//! Prompts longer than `max_len - 2` tokens are cut as diffusers cuts them (BOS, the first 75
//! tokens, EOS); the dropped part is logged, as diffusers logs it.

mod config;
mod vocab;

use std::path::Path;

use tokenizers::Tokenizer;

use crate::error::{DiffusionError, Result};

pub const BOS: &str = "<|startoftext|>";
pub const EOS: &str = "<|endoftext|>";

pub struct ClipTokenizer {
    inner: Tokenizer,
    bos: i64,
    eos: i64,
    pad: i64,
    max_len: usize,
}

/// What truncation cut from a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// How many tokens were dropped.
    pub dropped_tokens: usize,
    /// The dropped tokens decoded to text, as diffusers' warning shows them.
    pub dropped_text: String,
}

/// The ids of one prompt and what truncation cut from it, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// BOS, at most `max_len - 2` tokens, EOS, then padding: exactly `max_len` ids.
    pub ids: Vec<i64>,
    pub truncated: Option<Truncation>,
}

fn tok_err(e: impl std::fmt::Display) -> DiffusionError {
    DiffusionError::Tokenizer(e.to_string())
}

fn not_in_vocab(dir: &Path, token: &str) -> DiffusionError {
    tok_err(format!(
        "{}: special token `{token}` named by the tokenizer configs is not in the vocabulary",
        dir.display()
    ))
}

/// Loads tokenizer.json with the configs' special tokens registered on top, as transformers
/// does. Their flags are written into its `added_tokens` list before loading, because the
/// `tokenizers` crate keeps the first flags it saw for a text and transformers the last.
fn load_json(path: &Path, specials: &config::SpecialTokens) -> Result<Tokenizer> {
    let bad = |e: &dyn std::fmt::Display| DiffusionError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let text = std::fs::read_to_string(path).map_err(|e| DiffusionError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut t: Tokenizer = text.parse().map_err(|e| bad(&e))?;
    let existing: Vec<String> = t
        .get_added_tokens_decoder()
        .into_values()
        .map(|t| t.content)
        .collect();
    let to_add = specials.to_add(&existing);
    let current = t.get_added_tokens_decoder();
    let mut changed = false;
    let mut doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e))?;
    let list = doc
        .as_object_mut()
        .ok_or_else(|| bad(&"expected a JSON object"))?
        .entry("added_tokens")
        .or_insert_with(|| serde_json::json!([]))
        .as_array_mut()
        .ok_or_else(|| bad(&"`added_tokens` must be a list"))?;
    for token in to_add {
        let id = t
            .token_to_id(&token.content)
            .ok_or_else(|| not_in_vocab(path.parent().unwrap_or(path), &token.content))?;
        if current.get(&id) == Some(&token) {
            continue;
        }
        changed = true;
        let entry = serde_json::json!({
            "id": id,
            "content": token.content,
            "single_word": token.single_word,
            "lstrip": token.lstrip,
            "rstrip": token.rstrip,
            "normalized": token.normalized,
            "special": token.special,
        });
        match list.iter_mut().find(|e| e["content"] == entry["content"]) {
            Some(e) => *e = entry,
            None => list.push(entry),
        }
    }
    if changed {
        t = doc.to_string().parse().map_err(|e| bad(&e))?;
    }
    // We truncate and pad ourselves: truncation here would hide what was cut.
    t.with_truncation(None).map_err(tok_err)?;
    t.with_padding(None);
    Ok(t)
}

impl ClipTokenizer {
    /// Loads `dir` (a diffusers `tokenizer/` folder). `max_positions` is the text encoder's
    /// `max_position_embeddings`, the hard upper bound on the sequence length.
    pub fn load(dir: &Path, max_positions: usize) -> Result<Self> {
        let specials = config::SpecialTokens::read(dir)?;
        let json = dir.join("tokenizer.json");
        let inner = if json.exists() {
            load_json(&json, &specials)?
        } else {
            let vocab = dir.join("vocab.json");
            let merges = dir.join("merges.txt");
            for p in [&vocab, &merges] {
                if !p.exists() {
                    return Err(DiffusionError::MissingFile {
                        path: p.clone(),
                        what: "tokenizer (need tokenizer.json or vocab.json + merges.txt)".into(),
                    });
                }
            }
            let mut t = vocab::build(&vocab, &merges)?;
            let to_add = specials.to_add(&[]);
            for token in &to_add {
                if t.token_to_id(&token.content).is_none() {
                    return Err(not_in_vocab(dir, &token.content));
                }
            }
            t.add_tokens(&to_add);
            t
        };

        let id = |tok: &str| -> Result<i64> {
            inner
                .token_to_id(tok)
                .map(i64::from)
                .ok_or_else(|| not_in_vocab(dir, tok))
        };
        let bos = id(&specials.bos)?;
        let eos = id(&specials.eos)?;
        let pad = id(&specials.pad)?;
        let max_len = specials
            .model_max_length
            .unwrap_or(77)
            .min(max_positions)
            .max(2);
        Ok(Self {
            inner,
            bos,
            eos,
            pad,
            max_len,
        })
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Token ids of `text`: BOS, at most `max_len - 2` tokens, EOS, then padding. Logs a
    /// warning naming the dropped part when the prompt is too long.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        let enc = self.encode_detailed(text)?;
        if let Some(t) = &enc.truncated {
            tracing::warn!(
                dropped_tokens = t.dropped_tokens,
                max_tokens = self.max_len,
                dropped_text = %t.dropped_text,
                "prompt truncated: CLIP can only handle sequences up to {} tokens; dropped {} tokens: {:?}",
                self.max_len,
                t.dropped_tokens,
                t.dropped_text,
            );
        }
        Ok(enc.ids)
    }

    /// Like [`encode`](Self::encode), also returning what truncation dropped; logs nothing.
    pub fn encode_detailed(&self, text: &str) -> Result<Encoding> {
        let enc = self.inner.encode(text, false).map_err(tok_err)?;
        let tokens = enc.get_ids();
        let keep = self.max_len - 2;
        let mut ids = Vec::with_capacity(self.max_len);
        ids.push(self.bos);
        ids.extend(tokens.iter().take(keep).map(|&i| i64::from(i)));
        ids.push(self.eos);
        ids.resize(self.max_len, self.pad);
        let truncated = match tokens.get(keep..) {
            Some(dropped) if !dropped.is_empty() => Some(Truncation {
                dropped_tokens: dropped.len(),
                dropped_text: self.decode(dropped)?,
            }),
            _ => None,
        };
        Ok(Encoding { ids, truncated })
    }

    /// Text of `ids` as transformers' CLIP decode gives it: `</w>` becomes a space.
    fn decode(&self, ids: &[u32]) -> Result<String> {
        let text = self.inner.decode(ids, false).map_err(tok_err)?;
        Ok(text.replace("</w>", " ").trim().to_string())
    }
}
