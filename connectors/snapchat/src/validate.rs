//! Pure checks: one 9:16 JPEG/PNG image ≤ 20 MB; Saved Story titles ≤ 45 characters.

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
    // Caption rules are pressroom-media's (the table campaign validation uses too). A Story
    // sends no caption (no length limit, `caps.max_caption_chars` is unbounded); a Saved Story
    // sends it as the title, so the title limit (45, PLATFORMS.md 5.5) applies to it.
    let mut rules = pressroom_media::CaptionRules::documented("snapchat");
    if caps.max_caption_chars != usize::MAX {
        rules.max_length = Some(caps.max_caption_chars);
    }
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
                "a Snapchat Story takes exactly one image, got {}",
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
                format!("Snapchat takes JPEG or PNG, not {}", m.mime),
            );
        }
        if m.bytes > caps.max_media_bytes {
            issue(
                &field,
                "max_bytes",
                format!("{} bytes is over Snapchat's 20 MB", m.bytes),
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
                    format!(
                        "Snapchat Stories are 9:16 (1080x1920); {}x{} is {r:.3}",
                        m.width, m.height
                    ),
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
