//! Pure checks of a draft against Instagram's limits; no network.

use pressroom_connector::media::{self, MediaLimits, RuleNames};
use pressroom_connector::{Capabilities, PostDraft, ValidationIssue, validation_result};

use crate::InstagramConfig;

pub fn validate(
    cfg: &InstagramConfig,
    caps: &Capabilities,
    draft: &PostDraft,
) -> Result<(), Vec<ValidationIssue>> {
    let mut issues =
        pressroom_connector::formats::check(pressroom_connector::Platform::Instagram, draft);
    let story = draft.format == pressroom_connector::PostFormat::Story;
    // Caption rules are pressroom-media's (the table campaign validation uses too), with
    // the hashtag and mention limits this connector's config sets (PLATFORMS.md 2.4).
    let mut rules = pressroom_media::CaptionRules::documented(crate::KIND);
    rules.max_hashtags = Some(cfg.max_hashtags);
    rules.max_mentions = Some(cfg.max_mentions);
    // A story carries no caption (the connector sends none).
    if let Err(found) = pressroom_media::check_caption_with(&rules, &draft.caption)
        && !story
    {
        issues.extend(
            found
                .iter()
                .map(|i| ValidationIssue::new(i.field(), i.rule.id(), i.summary())),
        );
    }
    let mut limits = MediaLimits::new("Instagram", "an Instagram image post", caps);
    limits.count = Some(pressroom_connector::formats::media_count(
        pressroom_connector::Platform::Instagram,
        draft.format,
    ));
    // Renditions of 4:5 and 1.91:1 round a little either side.
    limits.aspect_slack = 0.005;
    limits.aspect_text = Some("4:5 to 1.91:1");
    if story {
        // Stories are made for 9:16 (PLATFORMS.md §8.1b); wider images are letterboxed.
        limits.post = "an Instagram story";
        limits.aspect = Some((0.5, 1.91));
        limits.aspect_text = Some("9:16 to 1.91:1");
    }
    limits.names = RuleNames::GRAPH;
    issues.extend(media::check(&draft.media, &limits));
    validation_result(issues)
}
