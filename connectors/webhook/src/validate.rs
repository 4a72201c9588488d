//! Pure checks of a draft against the receiver's configured limits; no network.

use pressroom_connector::media::{self, MediaLimits};
use pressroom_connector::{Capabilities, PostDraft, ValidationIssue, validation_result};

pub fn validate(caps: &Capabilities, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
    let mut issues =
        pressroom_connector::formats::check(pressroom_connector::Platform::Webhook, draft);
    // Caption rules are pressroom-media's (the table campaign validation uses too), with
    // the length this receiver's config sets.
    let mut rules = pressroom_media::CaptionRules::documented("webhook");
    rules.max_length = Some(caps.max_caption_chars);
    if let Err(found) = pressroom_media::check_caption_with(&rules, &draft.caption) {
        issues.extend(
            found
                .iter()
                .map(|i| ValidationIssue::new(i.field(), i.rule.id(), i.summary())),
        );
    }
    // Any number of images of any shape: the receiver decides what it makes of them.
    let mut limits = MediaLimits::new("the webhook receiver", "a webhook post", caps);
    limits.count = None;
    limits.aspect = None;
    issues.extend(media::check(&draft.media, &limits));
    validation_result(issues)
}
