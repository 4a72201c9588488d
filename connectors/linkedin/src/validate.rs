//! Pure checks of a draft against LinkedIn's limits; no network.

use pressroom_connector::{Capabilities, PostDraft, ValidationIssue};

/// LinkedIn refuses images with more pixels than this (Images API).
const MAX_PIXELS: u64 = 36_152_320;

pub fn validate(caps: &Capabilities, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
    let mut issues = Vec::new();
    let mut issue = |field: &str, rule: &str, message: String| {
        issues.push(ValidationIssue {
            field: field.into(),
            rule: rule.into(),
            message,
        });
    };
    // Caption rules are pressroom-media's (the table campaign validation uses too): 3000
    // characters of commentary (PLATFORMS.md 3.5).
    let rules = pressroom_media::CaptionRules::documented("linkedin");
    if let Err(found) = pressroom_media::check_caption_with(&rules, &draft.caption) {
        for i in &found {
            issue(i.field(), i.rule.id(), i.summary());
        }
    }
    if draft.media.len() != 1 {
        issue(
            "media",
            "count",
            format!(
                "a LinkedIn image post takes exactly one image, got {}",
                draft.media.len()
            ),
        );
    }
    for (i, m) in draft.media.iter().enumerate() {
        let field = format!("media[{i}]");
        if !caps.media_types.contains(&m.mime.as_str()) {
            issue(
                &field,
                "media_type",
                format!("LinkedIn accepts JPEG, PNG or GIF, not {}", m.mime),
            );
        }
        if m.bytes > caps.max_media_bytes {
            issue(
                &field,
                "max_bytes",
                format!(
                    "{} bytes is over the {} byte limit",
                    m.bytes, caps.max_media_bytes
                ),
            );
        }
        if u64::from(m.width) * u64::from(m.height) >= MAX_PIXELS {
            issue(
                &field,
                "max_pixels",
                format!(
                    "{}x{} is over LinkedIn's 36,152,320 pixels",
                    m.width, m.height
                ),
            );
        }
        if m.height == 0 || m.width == 0 {
            issue(&field, "dimensions", "image has no size".into());
        } else {
            let ratio = m.width as f32 / m.height as f32;
            let (lo, hi) = caps.aspect_range;
            if ratio < lo || ratio > hi {
                issue(
                    &field,
                    "aspect",
                    format!("aspect ratio {ratio:.2} outside {lo}..{hi}"),
                );
            }
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(issues)
    }
}
