//! A run's texts: the prompt, negative prompt and caption templates rendered with the run's
//! variables ([`super::template_context`]). One function for the generate step and for
//! previews, so a preview shows exactly what a run would render.

use serde::Serialize;

use super::context::{TargetFacts, with_image, with_target};
use super::spec::CampaignSpec;
use crate::template::{self, TemplateError};
use crate::{Platform, PostFormat};

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
    /// `generation.prompt`, `generation.negative_prompt`, `caption.template`, or a
    /// target's own (`targets[1].caption`, `caption.alt_text`...).
    pub field: String,
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
            .map_err(|error| {
                problems.push(TemplateProblem {
                    field: field.to_owned(),
                    error,
                })
            })
            .ok()
    };
    let prompt = one("generation.prompt", &spec.generation.prompt);
    let negative_prompt = spec
        .generation
        .negative_prompt
        .as_deref()
        .map(|t| one("generation.negative_prompt", t));
    // The run's own caption (what run listings show): the campaign's template for its first
    // target, whose platform is not known here; each post renders its own.
    let caption_vars = neutral_target(spec, vars);
    let caption = template::render(&spec.caption.template, &caption_vars)
        .map_err(|error| {
            problems.push(TemplateProblem {
                field: "caption.template".to_owned(),
                error,
            })
        })
        .ok();
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

/// The context with `target` set to the first target's facts, the platform left empty: for
/// rendering the campaign's caption where no one post is meant (a run's caption, samples).
pub(crate) fn neutral_target(spec: &CampaignSpec, vars: &serde_json::Value) -> serde_json::Value {
    match spec.targets.first() {
        Some(t) => with_target(
            vars,
            &TargetFacts {
                platform: "",
                account: &t.account,
                preset: &t.preset,
                format: t.format.as_str(),
            },
        ),
        None => vars.clone(),
    }
}

/// The texts of one target's post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetTexts {
    pub caption: String,
    /// One per image the post carries (all of a carousel's, else the first), each rendered
    /// with its `image`; empty without an alt text template.
    pub alt_texts: Vec<String>,
    /// `None` also where the platform takes no comments (a campaign-wide first comment
    /// applies where it can; one written on such a target is refused at validation).
    pub first_comment: Option<String>,
}

/// Renders target `index`'s caption, alt text and first comment with the run's context
/// plus `target` (its platform is `platform`: the account's, else the preset's).
///
/// # Errors
/// One [`TemplateProblem`] per template that failed, named by the field it came from.
pub fn render_target_texts(
    spec: &CampaignSpec,
    index: usize,
    platform: &str,
    run_context: &serde_json::Value,
) -> Result<TargetTexts, Vec<TemplateProblem>> {
    let Some(target) = spec.targets.get(index) else {
        return Err(vec![TemplateProblem {
            field: format!("targets[{index}]"),
            error: TemplateError::Render {
                line: 1,
                message: format!("the campaign has no target {index}"),
            },
        }]);
    };
    let vars = with_target(
        run_context,
        &TargetFacts {
            platform,
            account: &target.account,
            preset: &target.preset,
            format: target.format.as_str(),
        },
    );
    let mut problems = Vec::new();
    let mut one = |own: bool, key: &str, campaign_field: &str, text: &str| {
        template::render(text, &vars)
            .map_err(|error| {
                let field = if own {
                    format!("targets[{index}].{key}")
                } else {
                    campaign_field.to_owned()
                };
                problems.push(TemplateProblem { field, error });
            })
            .ok()
    };
    let caption = one(
        target.caption.is_some(),
        "caption",
        "caption.template",
        target.caption_template(&spec.caption),
    );
    let takes_comments = Platform::parse(platform).is_none_or(|p| p.features().comments);
    let first_comment = target
        .first_comment_template(&spec.caption)
        .filter(|_| takes_comments && target.format != PostFormat::Story)
        .map(|t| {
            one(
                target.first_comment.is_some(),
                "first_comment",
                "caption.first_comment",
                t,
            )
        });
    let count = spec.image_count();
    let images = if target.format == PostFormat::Carousel {
        count
    } else {
        1
    };
    let mut alt_texts = Vec::new();
    // The campaign's alt text goes where the platform takes it (one written on a target
    // whose platform has no field for it is refused at validation).
    let takes_alt_text =
        Platform::parse(platform).is_none_or(|p| p.features().max_alt_text_chars.is_some());
    if let Some(template) = target
        .alt_text_template(&spec.caption)
        .filter(|_| takes_alt_text)
    {
        for slide in 0..images {
            let vars = with_image(&vars, slide, count);
            match template::render(template, &vars) {
                Ok(text) => alt_texts.push(text),
                Err(error) => {
                    let field = if target.alt_text.is_some() {
                        format!("targets[{index}].alt_text")
                    } else {
                        "caption.alt_text".to_owned()
                    };
                    problems.push(TemplateProblem { field, error });
                    break;
                }
            }
        }
    }
    match caption {
        Some(caption) if problems.is_empty() => Ok(TargetTexts {
            caption,
            alt_texts,
            first_comment: first_comment.flatten().filter(|c| !c.trim().is_empty()),
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
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "generation.prompt",
                "generation.negative_prompt",
                "caption.template"
            ]
        );
    }
    const TARGETED: &str = r#"
name = "t"
workspace = "w"
[schedule]
webhook = true
[generation]
prompt = "a {{ product }}"
[caption]
template = "Buy {{ product }} on {{ target.platform }}"
alt_text = "A {{ product }}, {{ target.format }}"
first_comment = "More at example.com"
[variables]
product = "mug"
[[targets]]
account = "ig"
preset = "instagram-square"
[[targets]]
account = "tt"
preset = "tiktok-portrait"
caption = "{{ product }} #fyp"
[[targets]]
account = "ig"
preset = "instagram-story"
format = "story"
"#;

    #[test]
    fn each_target_renders_its_own_texts_with_target() {
        let spec = parse_campaign(TARGETED, "t.toml").expect("parses");
        let vars = serde_json::json!({ "product": "tote" });
        // The run's own caption renders too (the first target's, platform unknown).
        let run = render_texts(&spec, &vars).expect("run texts");
        assert_eq!(run.caption, "Buy tote on ");
        let ig = render_target_texts(&spec, 0, "instagram", &vars).expect("ig");
        assert_eq!(ig.caption, "Buy tote on instagram");
        assert_eq!(ig.alt_texts, ["A tote, single"]);
        assert_eq!(ig.first_comment.as_deref(), Some("More at example.com"));
        // Its own caption; TikTok takes no comments, so the campaign's first comment skips it.
        let tt = render_target_texts(&spec, 1, "tiktok", &vars).expect("tt");
        assert_eq!(tt.caption, "tote #fyp");
        assert_eq!(tt.first_comment, None);
        // A story carries neither alt text nor a comment.
        let story = render_target_texts(&spec, 2, "instagram", &vars).expect("story");
        assert!(story.alt_texts.is_empty() && story.first_comment.is_none());
        let failed = render_target_texts(&spec, 1, "tiktok", &serde_json::json!({}))
            .expect_err("undefined product");
        assert_eq!(failed[0].field, "targets[1].caption");
    }

    #[test]
    fn the_prompt_cannot_read_target() {
        let source = TARGETED.replace(
            "prompt = \"a {{ product }}\"",
            "prompt = \"a {{ target.platform }}\"",
        );
        let issues = parse_campaign(&source, "t.toml").expect_err("refused");
        assert!(
            issues.iter().any(|i| i.field == "generation.prompt"
                && i.message.contains("`target` is not known here")),
            "{issues:?}"
        );
    }
}
