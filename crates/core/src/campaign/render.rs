//! A run's texts: the prompt, negative prompt and caption templates rendered with the run's
//! variables ([`super::template_context`]). One function for the generate step and for
//! previews, so a preview shows exactly what a run would render.

use serde::Serialize;

use super::spec::CampaignSpec;
use crate::template::{self, TemplateError};

/// The rendered texts of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedTexts {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub caption: String,
}

/// A template that did not render, with the campaign field it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// `generation.prompt`, `generation.negative_prompt` or `caption.template`.
    pub field: &'static str,
    pub error: TemplateError,
}

impl std::fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.error)
    }
}

/// Renders every template, collecting each failure rather than stopping at the first.
///
/// # Errors
/// One [`TemplateProblem`] per template that failed.
pub fn render_texts(
    spec: &CampaignSpec,
    vars: &serde_json::Value,
) -> Result<RenderedTexts, Vec<TemplateProblem>> {
    let mut problems = Vec::new();
    let mut one = |field: &'static str, text: &str| {
        template::render(text, vars)
            .map_err(|error| problems.push(TemplateProblem { field, error }))
            .ok()
    };
    let prompt = one("generation.prompt", &spec.generation.prompt);
    let negative_prompt = spec
        .generation
        .negative_prompt
        .as_deref()
        .map(|t| one("generation.negative_prompt", t));
    let caption = one("caption.template", &spec.caption.template);
    match (prompt, negative_prompt, caption) {
        (Some(prompt), None, Some(caption)) if problems.is_empty() => Ok(RenderedTexts {
            prompt,
            negative_prompt: None,
            caption,
        }),
        (Some(prompt), Some(Some(negative)), Some(caption)) => Ok(RenderedTexts {
            prompt,
            negative_prompt: Some(negative),
            caption,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::parse_campaign;

    const SOURCE: &str = r#"
name = "t"
workspace = "w"
[schedule]
webhook = true
[generation]
prompt = "a {{ product }}"
negative_prompt = "no {{ product }} blur"
[caption]
template = "Buy {{ product }}"
[variables]
product = "mug"
[[targets]]
account = "a"
preset = "instagram-square"
"#;

    #[test]
    fn renders_every_text_and_collects_every_failure() {
        let spec = parse_campaign(SOURCE, "t.toml").expect("parses");
        let texts = render_texts(&spec, &serde_json::json!({ "product": "tote" })).expect("ok");
        assert_eq!(texts.prompt, "a tote");
        assert_eq!(texts.negative_prompt.as_deref(), Some("no tote blur"));
        assert_eq!(texts.caption, "Buy tote");
        let problems = render_texts(&spec, &serde_json::json!({})).expect_err("undefined");
        let fields: Vec<&str> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "generation.prompt",
                "generation.negative_prompt",
                "caption.template"
            ]
        );
    }
}
