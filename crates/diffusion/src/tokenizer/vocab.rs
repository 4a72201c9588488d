//! The CLIP pipeline for folders with only `vocab.json` + `merges.txt` (SD 1.5, SD 2.x, SDXL
//! repos), as transformers 5's `CLIPTokenizer` assembles it: NFC, whitespace runs to one space,
//! lower-case; split on CLIP's pattern; byte-level symbols; BPE with a `</w>` word suffix.
//!
//! transformers 4's Python tokenizer (no longer shipped) differed without `ftfy`: it dropped
//! control and format characters (zero-width joiners, soft hyphens) and put spaces around CJK
//! ideographs. diffusers now loads these folders with the pipeline below.

use std::path::Path;

use tokenizers::SplitDelimiterBehavior;
use tokenizers::Tokenizer;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::replace::ReplacePattern;
use tokenizers::normalizers::{Lowercase, NFC, Replace, Sequence as NormSeq};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSeq;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};

use crate::error::{DiffusionError, Result};

/// CLIP's split pattern (the special tokens first, so that lower-cased ones stay whole).
const CLIP_PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// The unknown token of CLIPTokenizer (never produced: every byte has a symbol).
const UNK: &str = "<|endoftext|>";

fn err(what: &Path, e: impl std::fmt::Display) -> DiffusionError {
    DiffusionError::Tokenizer(format!("{}: {e}", what.display()))
}

/// Builds the tokenizer from `vocab` and `merges`; special tokens are added by the caller.
pub(crate) fn build(vocab: &Path, merges: &Path) -> Result<Tokenizer> {
    let bpe = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy())
        .end_of_word_suffix("</w>".into())
        .unk_token(UNK.into())
        .build()
        .map_err(|e| err(vocab.parent().unwrap_or(vocab), e))?;
    let mut t = Tokenizer::new(bpe);
    let whitespace = Replace::new(ReplacePattern::Regex(r"\s+".into()), " ")
        .map_err(|e| DiffusionError::Tokenizer(e.to_string()))?;
    t.with_normalizer(Some(NormSeq::new(vec![
        NFC.into(),
        whitespace.into(),
        Lowercase.into(),
    ])));
    let split = Split::new(
        SplitPattern::Regex(CLIP_PATTERN.into()),
        SplitDelimiterBehavior::Removed,
        true,
    )
    .map_err(|e| DiffusionError::Tokenizer(e.to_string()))?;
    t.with_pre_tokenizer(Some(PreSeq::new(vec![
        split.into(),
        ByteLevel::new(false, true, true).into(),
    ])));
    t.with_decoder(Some(ByteLevelDecoder::new(true, true, true)));
    Ok(t)
}
