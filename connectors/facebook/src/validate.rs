//! Pure checks of a draft against Facebook's limits; no network.

use pressroom_connector::media::{self, MediaLimits, RuleNames};
use pressroom_connector::{Capabilities, PostDraft, ValidationIssue, validation_result};

pub fn validate(caps: &Capabilities, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
    let mut issues =
        pressroom_connector::formats::check(pressroom_connector::Platform::Facebook, draft);
    // Caption rules are pressroom-media's (the table campaign validation uses too); a story
    // carries no caption.
    let rules = pressroom_media::CaptionRules::documented(crate::KIND);
    if let Err(found) = pressroom_media::check_caption_with(&rules, &draft.caption)
        && draft.format != pressroom_connector::PostFormat::Story
    {
        issues.extend(
            found
                .iter()
                .map(|i| ValidationIssue::new(i.field(), i.rule.id(), i.summary())),
        );
    }
    // Format and bytes only: Facebook takes any aspect ratio it can show.
    let mut limits = MediaLimits::new("Facebook", "a Facebook photo post", caps);
    limits.count = Some(pressroom_connector::formats::media_count(
        pressroom_connector::Platform::Facebook,
        draft.format,
    ));
    limits.aspect = None;
    limits.names = RuleNames::GRAPH;
    issues.extend(media::check(&draft.media, &limits));
    validation_result(issues)
}
