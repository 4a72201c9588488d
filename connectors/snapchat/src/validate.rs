//! Pure checks: one 9:16 JPEG/PNG image ≤ 20 MB; Saved Story titles ≤ 45 characters.

use pressroom_connector::media::{self, MediaLimits};
use pressroom_connector::{Capabilities, PostDraft, ValidationIssue, validation_result};

pub fn validate(caps: &Capabilities, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
    let mut issues =
        pressroom_connector::formats::check(pressroom_connector::Platform::Snapchat, draft);
    // Caption rules are pressroom-media's (the table campaign validation uses too). A Story
    // sends no caption (no length limit, `caps.max_caption_chars` is unbounded); a Saved Story
    // sends it as the title, so the title limit (45, PLATFORMS.md 5.5) applies to it.
    let mut rules = pressroom_media::CaptionRules::documented("snapchat");
    if caps.max_caption_chars != usize::MAX {
        rules.max_length = Some(caps.max_caption_chars);
    }
    if let Err(found) = pressroom_media::check_caption_with(&rules, &draft.caption) {
        issues.extend(
            found
                .iter()
                .map(|i| ValidationIssue::new(i.field(), i.rule.id(), i.summary())),
        );
    }
    let mut limits = MediaLimits::new("Snapchat", "a Snapchat Story", caps);
    limits.aspect_text = Some("9:16 (1080x1920)");
    issues.extend(media::check(&draft.media, &limits));
    validation_result(issues)
}
