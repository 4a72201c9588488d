//! The CLIP tokenizer: lower-cased byte-level BPE with a `</w>` end-of-word suffix, BOS/EOS,
//! truncated and padded to the model's 77 positions.
//!
//! `tokenizer.json` is loaded as is; folders with only `vocab.json` + `merges.txt` get the
//! same pipeline assembled here (the one transformers' `CLIPTokenizerFast` builds).

use std::path::Path;

use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Lowercase, NFC, Replace, Sequence as NormSeq};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSeq;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{SplitDelimiterBehavior, Tokenizer};

use crate::error::{DiffusionError, Result};

/// The split pattern of CLIP's pre-tokenizer.
const CLIP_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";
pub const BOS: &str = "<|startoftext|>";
pub const EOS: &str = "<|endoftext|>";

pub struct ClipTokenizer {
    inner: Tokenizer,
    bos: i64,
    eos: i64,
    pad: i64,
    max_len: usize,
}

fn tok_err(e: impl std::fmt::Display) -> DiffusionError {
    DiffusionError::Tokenizer(e.to_string())
}

/// A special token in tokenizer_config.json is a string or `{"content": ...}`.
fn special(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

impl ClipTokenizer {
    /// Loads `dir` (a diffusers `tokenizer/` folder). `max_positions` is the text encoder's
    /// `max_position_embeddings`, the hard upper bound on the sequence length.
    pub fn load(dir: &Path, max_positions: usize) -> Result<Self> {
        let json = dir.join("tokenizer.json");
        let inner = if json.exists() {
            Tokenizer::from_file(&json).map_err(tok_err)?
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
            build_from_vocab(&vocab, &merges)?
        };
        let cfg: serde_json::Value = std::fs::read_to_string(dir.join("tokenizer_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null);
        let map: serde_json::Value = std::fs::read_to_string(dir.join("special_tokens_map.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null);
        let lookup = |key: &str, default: &str| {
            special(cfg.get(key))
                .or_else(|| special(map.get(key)))
                .unwrap_or_else(|| default.to_string())
        };
        let id = |tok: &str| -> Result<i64> {
            inner
                .token_to_id(tok)
                .map(i64::from)
                .ok_or_else(|| tok_err(format!("token `{tok}` is not in the vocabulary")))
        };
        let bos = id(&lookup("bos_token", BOS))?;
        let eos = id(&lookup("eos_token", EOS))?;
        let pad = id(&lookup("pad_token", EOS))?;
        let configured = cfg
            .get("model_max_length")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(77) as usize;
        let max_len = configured.min(max_positions).max(2);
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

    /// Token ids of `text`: BOS, at most `max_len - 2` tokens, EOS, then padding.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        let enc = self.inner.encode(text, false).map_err(tok_err)?;
        let mut ids = Vec::with_capacity(self.max_len);
        ids.push(self.bos);
        ids.extend(
            enc.get_ids()
                .iter()
                .take(self.max_len - 2)
                .map(|&i| i64::from(i)),
        );
        ids.push(self.eos);
        ids.resize(self.max_len, self.pad);
        Ok(ids)
    }
}

fn build_from_vocab(vocab: &Path, merges: &Path) -> Result<Tokenizer> {
    let bpe = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy())
        .end_of_word_suffix("</w>".into())
        .unk_token(EOS.into())
        .build()
        .map_err(tok_err)?;
    let mut t = Tokenizer::new(bpe);
    let norm = NormSeq::new(vec![
        NFC.into(),
        Replace::new(
            tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s+".into()),
            " ",
        )
        .map_err(tok_err)?
        .into(),
        Lowercase.into(),
    ]);
    t.with_normalizer(Some(norm));
    let pre = PreSeq::new(vec![
        Split::new(
            SplitPattern::Regex(CLIP_PATTERN.into()),
            SplitDelimiterBehavior::Removed,
            true,
        )
        .map_err(tok_err)?
        .into(),
        ByteLevel::new(false, true, false).into(),
    ]);
    t.with_pre_tokenizer(Some(pre));
    Ok(t)
}
