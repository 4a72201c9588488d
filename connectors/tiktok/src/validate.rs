//! Pure checks of a draft against TikTok's photo-post limits; no network. TikTok counts text
//! in UTF-16 code units.

use pressroom_connector::media::{self, MediaLimits};
use pressroom_connector::{Capabilities, PostDraft, ValidationIssue, validation_result};

pub fn validate(caps: &Capabilities, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
    let mut issues =
        pressroom_connector::formats::check(pressroom_connector::Platform::TikTok, draft);
    // Caption rules are pressroom-media's (the table campaign validation uses too): 4000
    // UTF-16 units for the description (PLATFORMS.md 4.4).
    let rules = pressroom_media::CaptionRules::documented("tiktok");
    if let Err(found) = pressroom_media::check_caption_with(&rules, &draft.caption) {
        issues.extend(
            found
                .iter()
                .map(|i| ValidationIssue::new(i.field(), i.rule.id(), i.summary())),
        );
    }
    // 1 to 35 photos, none over 1080p.
    let mut limits = MediaLimits::new("TikTok", "a TikTok photo post", caps);
    limits.count = Some(1..=35);
    limits.max_sides = Some((1080, 1920));
    issues.extend(media::check(&draft.media, &limits));
    validation_result(issues)
}
