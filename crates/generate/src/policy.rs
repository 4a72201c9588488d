//! Prompt policy: a configurable block list checked before any model runs or any request
//! leaves the machine.

use serde::{Deserialize, Serialize};

use crate::error::GenerateError;
use crate::generator::Generator;
use crate::request::{GeneratedImage, GenerationRequest, ProgressFn};

/// One blocked term and the reason users see when a prompt contains it. In configuration
/// either a plain string (default reason) or `{ term = "…", reason = "…" }`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(from = "TermRepr")]
pub struct BlockedTerm {
    pub term: String,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TermRepr {
    Plain(String),
    Full(FullTerm),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullTerm {
    term: String,
    #[serde(default = "default_reason")]
    reason: String,
}

impl From<TermRepr> for BlockedTerm {
    fn from(r: TermRepr) -> Self {
        match r {
            TermRepr::Plain(term) => Self {
                term,
                reason: default_reason(),
            },
            TermRepr::Full(FullTerm { term, reason }) => Self { term, reason },
        }
    }
}

fn default_reason() -> String {
    "blocked by the workspace's prompt policy".into()
}

/// Case-insensitive whole-word matching of blocked terms (a term may be several words).
///
/// The prompt is always checked. The negative prompt is checked only where the backend
/// treats it as prompt text ([`Generator::negative_prompt_is_prompt_text`], i.e. OpenAI,
/// which appends it as "Avoid: …" — a way to smuggle a blocked term into the prompt).
/// Where it is a true negative prompt (local diffusion, Stability) a blocked term there
/// steers the image away from that content, which is what the block list wants, so
/// `negative_prompt = "gore"` stays allowed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PromptPolicy {
    #[serde(default)]
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

    pub fn is_empty(&self) -> bool {
        self.blocked.is_empty()
    }

    /// Err with the first blocked term the prompt contains.
    pub fn check(&self, prompt: &str) -> Result<(), GenerateError> {
        self.check_field("prompt", prompt)
    }

    /// The prompt, and the negative prompt when `negative_is_prompt_text` (see the type's
    /// documentation for why only then).
    pub fn check_request(
        &self,
        req: &GenerationRequest,
        negative_is_prompt_text: bool,
    ) -> Result<(), GenerateError> {
        self.check_field("prompt", &req.prompt)?;
        match &req.negative_prompt {
            Some(n) if negative_is_prompt_text => self.check_field("negative prompt", n),
            _ => Ok(()),
        }
    }

    fn check_field(&self, field: &'static str, text: &str) -> Result<(), GenerateError> {
        let w = words(text);
        for b in &self.blocked {
            let t = words(&b.term);
            if t.is_empty() {
                continue;
            }
            if w.windows(t.len()).any(|win| win == t.as_slice()) {
                return Err(GenerateError::PromptBlocked {
                    field,
                    term: b.term.clone(),
                    reason: b.reason.clone(),
                });
            }
        }
        Ok(())
    }
}

/// A generator that applies a [`PromptPolicy`] before delegating (and so before the cache,
/// when it wraps one: a blocked prompt is never served, even from an earlier image).
pub struct PolicyGenerator<G> {
    inner: G,
    policy: PromptPolicy,
}

impl<G> PolicyGenerator<G> {
    pub fn new(inner: G, policy: PromptPolicy) -> Self {
        Self { inner, policy }
    }

    pub fn inner(&self) -> &G {
        &self.inner
    }
}

#[async_trait::async_trait]
impl<G: Generator> Generator for PolicyGenerator<G> {
    fn identity(&self) -> String {
        self.inner.identity()
    }

    fn negative_prompt_is_prompt_text(&self) -> bool {
        self.inner.negative_prompt_is_prompt_text()
    }

    fn native_size(&self) -> Option<crate::NativeSize> {
        self.inner.native_size()
    }

    fn admit(&self, req: &GenerationRequest) -> Result<(), GenerateError> {
        self.policy
            .check_request(req, self.inner.negative_prompt_is_prompt_text())?;
        self.inner.admit(req)
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        self.admit(&req)?;
        self.inner.generate(req, progress).await
    }

    async fn generate_for(
        &self,
        tenant: &str,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        self.admit(&req)?;
        self.inner.generate_for(tenant, req, progress).await
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
            Err(GenerateError::PromptBlocked {
                field,
                term,
                reason,
            }) => {
                assert_eq!(field, "prompt");
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

    #[test]
    fn negative_prompt_is_checked_only_where_it_is_prompt_text() {
        let p = PromptPolicy::from_terms(["gore"]);
        let mut req = GenerationRequest::new("a quiet harbour", 1);
        req.negative_prompt = Some("gore, blur".into());
        assert!(p.check_request(&req, false).is_ok());
        let err = p
            .check_request(&req, true)
            .expect_err("folded into the prompt");
        assert!(
            matches!(
                &err,
                GenerateError::PromptBlocked {
                    field: "negative prompt",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().starts_with("negative prompt blocked"),
            "{err}"
        );
    }

    #[test]
    fn terms_deserialize_as_strings_or_tables() {
        let p: PromptPolicy = serde_json::from_value(serde_json::json!({
            "blocked": ["gore", { "term": "brand x", "reason": "competitor" }, { "term": "y" }]
        }))
        .expect("policy");
        assert_eq!(p.blocked().len(), 3);
        assert_eq!(p.blocked()[0].reason, default_reason());
        assert_eq!(p.blocked()[1].reason, "competitor");
        assert_eq!(p.blocked()[2].reason, default_reason());
        let typo = serde_json::from_value::<PromptPolicy>(serde_json::json!({ "block": [] }));
        assert!(typo.is_err());
        let empty: PromptPolicy = serde_json::from_value(serde_json::json!({})).expect("empty");
        assert!(empty.is_empty());
    }
}
