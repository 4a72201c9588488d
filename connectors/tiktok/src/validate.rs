//! Pure checks of a draft against TikTok's photo-post limits; no network. TikTok counts text
//! in UTF-16 code units.

use pressroom_connector::{Capabilities, PostDraft, ValidationIssue};

pub fn validate(caps: &Capabilities, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
    let mut issues = Vec::new();
    let mut issue = |field: &str, rule: &str, message: String| {
        issues.push(ValidationIssue {
            field: field.into(),
            rule: rule.into(),
            message,
        });
    };
    // Caption rules are pressroom-media's (the table campaign validation uses too): 4000
    // UTF-16 units for the description (PLATFORMS.md 4.4).
    let rules = pressroom_media::CaptionRules::documented("tiktok");
    if let Err(found) = pressroom_media::check_caption_with(&rules, &draft.caption) {
        for i in &found {
            issue(i.field(), i.rule.id(), i.summary());
        }
    }
    if draft.media.is_empty() || draft.media.len() > 35 {
        issue(
            "media",
            "count",
            format!(
                "a TikTok photo post takes 1 to 35 images, got {}",
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
                format!("TikTok photo posts take JPEG or WebP, not {}", m.mime),
            );
        }
        if m.bytes > caps.max_media_bytes {
            issue(
                &field,
                "max_bytes",
                format!("{} bytes is over TikTok's 20 MB", m.bytes),
            );
        }
        if m.width.min(m.height) > 1080 || m.width.max(m.height) > 1920 {
            issue(
                &field,
                "max_resolution",
                format!("{}x{} is over TikTok's 1080p", m.width, m.height),
            );
        }
        if m.width == 0 || m.height == 0 {
            issue(&field, "dimensions", "image has no size".into());
        } else {
            let r = m.width as f32 / m.height as f32;
            let (lo, hi) = caps.aspect_range;
            if r < lo || r > hi {
                issue(
                    &field,
                    "aspect",
                    format!("aspect ratio {r:.2} outside {lo}..{hi}"),
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
