//! Checks of what each target asks its platform to do beyond a captioned image: the format
//! (a story where the platform has none), texts a story cannot carry, a first comment where
//! the API takes no comments, alt text where there is no field for it or longer than the
//! platform's limit (PLATFORMS.md §8; the table is [`Platform::features`]).

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::captions::sample_run;
use super::context::template_context;
use super::issue::SpecIssue;
use super::render::render_target_texts;
use super::spec::{CampaignSpec, TargetSpec};
use crate::format::platforms_with;
use crate::{Platform, PostFormat};

/// Issues for the targets whose platform `platform_of` knows (the account's, else the
/// preset's), pointing at the offending value in `source`.
pub fn validate_target_features(
    spec: &CampaignSpec,
    source: &str,
    file: &str,
    platform_of: &dyn Fn(&TargetSpec) -> Option<Platform>,
) -> Vec<SpecIssue> {
    let doc = DeTable::parse(source).ok();
    let root = doc.as_ref().map(|d| d.get_ref());
    let context = template_context(spec, &sample_run(), &serde_json::Value::Null);
    let mut issues = Vec::new();
    for (index, target) in spec.targets.iter().enumerate() {
        let Some(platform) = platform_of(target) else {
            continue;
        };
        let mut report = |key: &str, message: String| {
            let (span, field) = target_field(root, index, key);
            issues.push(SpecIssue::at(file, source, span, field, message));
        };
        let features = platform.features();
        if !platform.supports(target.format) {
            report(
                "format",
                format!(
                    "{platform} cannot publish a {} through its API (stories: {})",
                    target.format,
                    platforms_with(|f| f.story)
                ),
            );
        }
        if let (PostFormat::Carousel, Some((min, max))) = (target.format, features.carousel) {
            let images = spec.image_count() as usize;
            if !(min..=max).contains(&images) {
                report(
                    "format",
                    format!(
                        "a {platform} carousel takes {min} to {max} images; a run makes {images} ({})",
                        if spec.media.is_some() {
                            "list as many in [media]"
                        } else {
                            "set [generation] images, or give [[generation.slides]]"
                        }
                    ),
                );
            }
        }
        if let Some(cover) = target.cover {
            let images = spec.image_count();
            if !features.cover || target.format != PostFormat::Carousel {
                report(
                    "cover",
                    format!(
                        "a cover image is chosen for carousels on {} only",
                        platforms_with(|f| f.cover)
                    ),
                );
            } else if cover >= images {
                report(
                    "cover",
                    format!(
                        "image {cover} is not in the carousel: a run makes {images} (0 to {})",
                        images.saturating_sub(1)
                    ),
                );
            }
        }
        if target.format == PostFormat::Story {
            for (key, what) in [
                ("caption", "caption"),
                ("alt_text", "alt text"),
                ("first_comment", "first comment"),
            ] {
                if own(target, key) {
                    report(
                        key,
                        format!("a story takes no {what}; remove it from this target"),
                    );
                }
            }
            continue;
        }
        if target.first_comment.is_some() && !features.comments {
            report(
                "first_comment",
                format!(
                    "{platform} takes no comments through its API (first comments: {})",
                    platforms_with(|f| f.comments)
                ),
            );
        }
        let Some(max) = features.max_alt_text_chars else {
            if target.alt_text.is_some() {
                report(
                    "alt_text",
                    format!(
                        "{platform} has no alt text field (alt text: {})",
                        platforms_with(|f| f.max_alt_text_chars.is_some())
                    ),
                );
            }
            continue;
        };
        let Ok(texts) = render_target_texts(spec, index, platform.as_str(), &context) else {
            continue;
        };
        for alt in texts.alt_texts {
            let length = alt.chars().count();
            if length > max {
                let message = format!(
                    "alt text is {length} characters with the [variables] defaults; {platform} takes at most {max}"
                );
                if target.alt_text.is_some() {
                    report("alt_text", message);
                } else {
                    let span = caption_alt_span(root);
                    issues.push(SpecIssue::at(
                        file,
                        source,
                        span,
                        "caption.alt_text",
                        format!("{message} (targets[{index}])"),
                    ));
                }
                break;
            }
        }
    }
    issues
}

/// Whether the target sets `key` itself (inline or as a file).
fn own(target: &TargetSpec, key: &str) -> bool {
    match key {
        "caption" => target.caption.is_some(),
        "alt_text" => target.alt_text.is_some(),
        "first_comment" => target.first_comment.is_some(),
        _ => false,
    }
}

/// The span and field name of target `index`'s `key` (or `key_file`), else of the target.
fn target_field(root: Option<&DeTable<'_>>, index: usize, key: &str) -> (Range<usize>, String) {
    let target = root
        .and_then(|r| r.get("targets"))
        .and_then(|v| v.get_ref().as_array())
        .and_then(|a| a.get(index));
    let table = target.and_then(|t| t.get_ref().as_table());
    for name in [key.to_owned(), format!("{key}_file")] {
        if let Some(value) = table.and_then(|t| t.get(name.as_str())) {
            return (value.span(), format!("targets[{index}].{name}"));
        }
    }
    (
        target.map(|t| t.span()).unwrap_or(0..0),
        format!("targets[{index}].{key}"),
    )
}

fn caption_alt_span(root: Option<&DeTable<'_>>) -> Range<usize> {
    let caption = root.and_then(|r| r.get("caption"));
    let table = caption.and_then(|c| match c.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => None,
    });
    ["alt_text", "alt_text_file"]
        .into_iter()
        .find_map(|k| table.and_then(|t| t.get(k)).map(|v| v.span()))
        .or_else(|| caption.map(|c| c.span()))
        .unwrap_or(0..0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::parse_campaign;

    const SOURCE: &str = r#"name = "c"
workspace = "w"

[schedule]
webhook = true

[generation]
prompt = "a tote"

[caption]
template = "Totes"
alt_text = "A {{ colour }} tote bag on a table"
first_comment = "Shop: example.com #totes"

[variables]
colour = "red"

[[targets]]
account = "ig"
preset = "instagram-story"
format = "story"

[[targets]]
account = "li"
preset = "linkedin-landscape"
format = "story"

[[targets]]
account = "tt"
preset = "tiktok-portrait"
first_comment = "nope"
alt_text = "no field"

[[targets]]
account = "fb"
preset = "facebook-square"
alt_text = "{% for i in range(300) %}{{ colour }} x{% endfor %}"

[[targets]]
account = "ig"
preset = "instagram-square"
format = "story"
caption = "no"
"#;

    fn platform(target: &TargetSpec) -> Option<Platform> {
        match target.account.as_str() {
            "ig" => Some(Platform::Instagram),
            "li" => Some(Platform::LinkedIn),
            "tt" => Some(Platform::TikTok),
            "fb" => Some(Platform::Facebook),
            _ => None,
        }
    }

    #[test]
    fn each_target_asks_only_what_its_platform_does() {
        let spec = parse_campaign(SOURCE, "c.toml").expect("parses");
        let issues = validate_target_features(&spec, SOURCE, "c.toml", &platform);
        let found: Vec<(&str, usize)> = issues.iter().map(|i| (i.field.as_str(), i.line)).collect();
        assert_eq!(
            found,
            [
                ("targets[1].format", 26),
                ("targets[2].first_comment", 31),
                ("targets[2].alt_text", 32),
                ("targets[3].alt_text", 37),
                ("targets[4].caption", 43),
            ],
            "{issues:#?}"
        );
        assert!(issues[0].message.contains("facebook, instagram, snapchat"));
        assert!(
            issues[3].message.contains("1500 characters")
                && issues[3].message.contains("at most 1000"),
            "{}",
            issues[3]
        );
        assert!(issues[4].message.contains("a story takes no caption"));
    }

    const CAROUSEL: &str = r#"name = "c"
workspace = "w"

[schedule]
webhook = true

[generation]
prompt = "a tote, view {{ image.index }}"
images = 3

[caption]
template = "Totes"

[[targets]]
account = "ig"
preset = "instagram-square"
format = "carousel"

[[targets]]
account = "sc"
preset = "snapchat-story"
format = "carousel"
"#;

    #[test]
    fn a_carousel_needs_a_platform_that_has_one_and_enough_images() {
        let spec = parse_campaign(CAROUSEL, "c.toml").expect("parses");
        assert_eq!(spec.generation.image_count(), 3);
        let platform = |t: &TargetSpec| match t.account.as_str() {
            "ig" => Some(Platform::Instagram),
            _ => Some(Platform::Snapchat),
        };
        let issues = validate_target_features(&spec, CAROUSEL, "c.toml", &platform);
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["targets[1].format"], "{issues:#?}");
        // One image is no Instagram carousel.
        let one = CAROUSEL.replace("images = 3", "images = 1");
        let spec = parse_campaign(&one, "c.toml").expect("parses");
        let issues = validate_target_features(&spec, &one, "c.toml", &platform);
        assert!(
            issues[0]
                .message
                .contains("takes 2 to 10 images; a run makes 1"),
            "{issues:#?}"
        );
    }

    #[test]
    fn a_cover_is_one_of_the_images_of_a_tiktok_carousel() {
        let source = format!(
            "{CAROUSEL}\n[[targets]]\naccount = \"tt\"\npreset = \"tiktok-photo\"\nformat = \"carousel\"\ncover = 3\n"
        )
        .replace("format = \"carousel\"\n\n[[targets]]\naccount = \"sc\"", "format = \"carousel\"\ncover = 1\n\n[[targets]]\naccount = \"sc\"");
        let spec = parse_campaign(&source, "c.toml").expect("parses");
        let platform = |t: &TargetSpec| match t.account.as_str() {
            "ig" => Some(Platform::Instagram),
            "tt" => Some(Platform::TikTok),
            _ => Some(Platform::Snapchat),
        };
        let issues = validate_target_features(&spec, &source, "c.toml", &platform);
        let found: Vec<(&str, &str)> = issues
            .iter()
            .map(|i| (i.field.as_str(), i.message.as_str()))
            .collect();
        assert!(
            found.contains(&(
                "targets[0].cover",
                "a cover image is chosen for carousels on tiktok only"
            )) && found.contains(&(
                "targets[2].cover",
                "image 3 is not in the carousel: a run makes 3 (0 to 2)"
            )),
            "{issues:#?}"
        );
        let fine = source.replace("cover = 3", "cover = 2");
        let spec = parse_campaign(&fine, "c.toml").expect("parses");
        assert_eq!(spec.targets[2].cover, Some(2));
        let issues = validate_target_features(&spec, &fine, "c.toml", &platform);
        assert!(
            issues.iter().all(|i| i.field != "targets[2].cover"),
            "{issues:#?}"
        );
    }

    #[test]
    fn slides_give_each_image_its_prompt_and_exclude_images_and_approval() {
        let slides = CAROUSEL.replace(
            "prompt = \"a tote, view {{ image.index }}\"\nimages = 3",
            "[[generation.slides]]\nprompt = \"the front\"\n\n[[generation.slides]]\nprompt = \"the back\"",
        );
        let spec = parse_campaign(&slides, "c.toml").expect("parses");
        assert_eq!(spec.generation.image_count(), 2);
        assert_eq!(spec.generation.prompt_of(1), "the back");
        assert_eq!(spec.generation.prompt, "the front");
        let both = CAROUSEL.replace(
            "images = 3",
            "images = 3\n\n[[generation.slides]]\nprompt = \"x\"",
        );
        let issues = parse_campaign(&both, "c.toml").expect_err("both");
        assert!(
            issues.iter().any(|i| i.field == "generation.images"),
            "{issues:#?}"
        );
        let reviewed = format!("{CAROUSEL}\n[approval]\nrequired = true\n");
        let issues = parse_campaign(&reviewed, "c.toml").expect_err("approval");
        assert!(issues.iter().any(|i| i.field == "approval"), "{issues:#?}");
        let too_many = CAROUSEL.replace("images = 3", "images = 11");
        assert!(parse_campaign(&too_many, "c.toml").is_err());
    }
}
