//! Pure checks of a draft against LinkedIn's limits; no network.

use pressroom_connector::media::{self, MediaLimits};
use pressroom_connector::{Capabilities, PostDraft, ValidationIssue, validation_result};

/// LinkedIn refuses images with this many pixels or more (Images API).
const MAX_PIXELS: u64 = 36_152_320;

pub fn validate(caps: &Capabilities, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
    let mut issues =
        pressroom_connector::formats::check(pressroom_connector::Platform::LinkedIn, draft);
    // Caption rules are pressroom-media's (the table campaign validation uses too): 3000
    // characters of commentary (PLATFORMS.md 3.5).
    let rules = pressroom_media::CaptionRules::documented("linkedin");
    if let Err(found) = pressroom_media::check_caption_with(&rules, &draft.caption) {
        issues.extend(
            found
                .iter()
                .map(|i| ValidationIssue::new(i.field(), i.rule.id(), i.summary())),
        );
    }
    let mut limits = MediaLimits::new("LinkedIn", "a LinkedIn image post", caps);
    limits.count = Some(pressroom_connector::formats::media_count(
        pressroom_connector::Platform::LinkedIn,
        draft.format,
    ));
    limits.max_pixels = Some(MAX_PIXELS);
    issues.extend(media::check(&draft.media, &limits));
    validation_result(issues)
}
