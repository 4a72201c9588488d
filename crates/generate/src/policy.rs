//! Prompt policy: a configurable block list checked before any model runs or any request
//! leaves the machine.

use serde::{Deserialize, Serialize};

use crate::error::GenerateError;
use crate::generator::Generator;
use crate::request::{GeneratedImage, GenerationRequest, ProgressFn};

/// One blocked term and the reason users see when a prompt contains it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BlockedTerm {
    pub term: String,
    #[serde(default = "default_reason")]
    pub reason: String,
}

fn default_reason() -> String {
    "blocked by the workspace's prompt policy".into()
}

/// Case-insensitive whole-word matching of blocked terms (a term may be several words).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PromptPolicy {
    blocked: Vec<BlockedTerm>,
}

/// Lower-cased words of `text`, so "Gore," matches "gore" but "gorey" does not.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl PromptPolicy {
    pub fn new(blocked: Vec<BlockedTerm>) -> Self {
        Self { blocked }
    }

    /// Terms with the default reason.
    pub fn from_terms<I: IntoIterator<Item = S>, S: Into<String>>(terms: I) -> Self {
        Self::new(
            terms
                .into_iter()
                .map(|t| BlockedTerm {
                    term: t.into(),
                    reason: default_reason(),
                })
                .collect(),
        )
    }

    pub fn blocked(&self) -> &[BlockedTerm] {
        &self.blocked
    }

    /// Err with the first blocked term the prompt contains.
    pub fn check(&self, prompt: &str) -> Result<(), GenerateError> {
        let w = words(prompt);
        for b in &self.blocked {
            let t = words(&b.term);
            if t.is_empty() {
                continue;
            }
            if w.windows(t.len()).any(|win| win == t.as_slice()) {
                return Err(GenerateError::PromptBlocked {
                    term: b.term.clone(),
                    reason: b.reason.clone(),
                });
            }
        }
        Ok(())
    }
}

/// A generator that applies a [`PromptPolicy`] to the prompt before delegating.
pub struct PolicyGenerator<G> {
    inner: G,
    policy: PromptPolicy,
}

impl<G> PolicyGenerator<G> {
    pub fn new(inner: G, policy: PromptPolicy) -> Self {
        Self { inner, policy }
    }
}

#[async_trait::async_trait]
impl<G: Generator> Generator for PolicyGenerator<G> {
    fn identity(&self) -> String {
        self.inner.identity()
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        self.policy.check(&req.prompt)?;
        self.inner.generate(req, progress).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_whole_words_case_insensitively_with_reason() {
        let p = PromptPolicy::new(vec![
            BlockedTerm {
                term: "gore".into(),
                reason: "violent content".into(),
            },
            BlockedTerm {
                term: "brand x".into(),
                reason: "competitor".into(),
            },
        ]);
        assert!(p.check("a sunny beach").is_ok());
        assert!(p.check("gorgeous gorey sunset").is_ok());
        match p.check("Lots of GORE, please") {
            Err(GenerateError::PromptBlocked { term, reason }) => {
                assert_eq!(term, "gore");
                assert_eq!(reason, "violent content");
            }
            other => panic!("expected a block, got {other:?}"),
        }
        let err = p
            .check("a billboard for Brand   X")
            .expect_err("multi-word term");
        assert!(err.to_string().contains("competitor"), "{err}");
    }
}
