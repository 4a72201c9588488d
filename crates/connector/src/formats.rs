//! The checks every connector's `validate` shares for what goes beyond a captioned image:
//! the post's format and each image's alt text, against the platform's documented features
//! ([`Platform::features`], PLATFORMS.md §8).

use pressroom_core::{Platform, PostFormat};

use crate::{PostDraft, ValidationIssue};

/// How many images a post of `format` takes on `platform`: one, or the platform's carousel
/// range (PLATFORMS.md §8.0).
pub fn media_count(platform: Platform, format: PostFormat) -> std::ops::RangeInclusive<usize> {
    match (format, platform.features().carousel) {
        (PostFormat::Carousel, Some((min, max))) => min..=max,
        _ => 1..=1,
    }
}

/// Issues for a draft whose format the platform cannot publish, or whose alt text the
/// platform has no field for (or is too long for).
pub fn check(platform: Platform, draft: &PostDraft) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    let features = platform.features();
    if !platform.supports(draft.format) {
        issues.push(ValidationIssue::new(
            "format",
            "format_supported",
            format!(
                "{platform} cannot publish a {} through its API",
                draft.format
            ),
        ));
    }
    for (index, alt) in draft
        .media
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.alt_text.as_deref().map(|a| (i, a)))
    {
        let field = format!("media[{index}].alt_text");
        match features.max_alt_text_chars {
            _ if draft.format == PostFormat::Story => issues.push(ValidationIssue::new(
                field,
                "alt_text_supported",
                "a story takes no alt text".into(),
            )),
            None => issues.push(ValidationIssue::new(
                field,
                "alt_text_supported",
                format!("{platform} has no alt text field"),
            )),
            Some(max) if alt.chars().count() > max => issues.push(ValidationIssue::new(
                field,
                "alt_text_length",
                format!(
                    "alt text is {} characters; {platform} takes at most {max}",
                    alt.chars().count()
                ),
            )),
            Some(_) => {}
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MediaRef;

    fn draft(format: PostFormat, alt: Option<String>) -> PostDraft {
        PostDraft {
            cover: 0,
            caption: "c".into(),
            media: vec![MediaRef {
                path: "x.jpg".into(),
                mime: "image/jpeg".into(),
                width: 1080,
                height: 1080,
                bytes: 10,
                sha256: String::new(),
                public_url: None,
                alt_text: alt,
            }],
            format,
        }
    }

    #[test]
    fn formats_and_alt_text_follow_the_platform() {
        assert!(check(Platform::Instagram, &draft(PostFormat::Story, None)).is_empty());
        let rules = |p, d| check(p, &d).into_iter().map(|i| i.rule).collect::<Vec<_>>();
        assert_eq!(
            rules(Platform::LinkedIn, draft(PostFormat::Story, None)),
            ["format_supported"]
        );
        assert_eq!(
            rules(
                Platform::TikTok,
                draft(PostFormat::Single, Some("a".into()))
            ),
            ["alt_text_supported"]
        );
        assert_eq!(
            rules(
                Platform::Instagram,
                draft(PostFormat::Single, Some("é".repeat(1001)))
            ),
            ["alt_text_length"]
        );
        assert!(
            check(
                Platform::Instagram,
                &draft(PostFormat::Single, Some("é".repeat(1000)))
            )
            .is_empty()
        );
        assert_eq!(
            rules(
                Platform::Instagram,
                draft(PostFormat::Story, Some("a".into()))
            ),
            ["alt_text_supported"]
        );
    }
}
