//! Caption checks per platform, run when a campaign is validated or saved (the caption
//! template rendered with the campaign's `[variables]` defaults) and again before publishing
//! (the run's real caption), so a post that the platform would refuse fails early with the
//! platform and rule named.
//!
//! **One source of truth.** This table and [`check_caption_with`] are the only caption rules
//! in Pressroom: campaign validation calls [`check_caption`], and every connector's
//! `validate` (which the publish worker runs before any platform call) calls
//! [`check_caption_with`] with [`CaptionRules::documented`] narrowed or widened by its own
//! config (Instagram's configurable hashtag/mention limits, the Snapchat posting mode, the
//! webhook receiver's length). The connectors own *which* rules apply to an account; this
//! module owns the numbers' defaults and how text is counted. The opposite direction (rules
//! in the connectors) would need campaign validation to build connectors, which the API and
//! an offline `campaign validate` cannot do.
//!
//! Limits are from shared/PLATFORMS.md (section per platform below). Where sources disagree
//! (Instagram hashtags: 30 in Meta's docs vs 5 in newer third-party claims) the documented
//! number is the default and the rules are plain data the caller may override.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a platform counts caption length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LengthUnit {
    /// Unicode scalar values (what "characters" means in Meta's and LinkedIn's docs).
    Chars,
    /// UTF-16 code units: an emoji outside the BMP counts 2 (TikTok says so explicitly).
    Utf16,
}

impl LengthUnit {
    fn count(self, s: &str) -> usize {
        match self {
            LengthUnit::Chars => s.chars().count(),
            LengthUnit::Utf16 => s.encode_utf16().count(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            LengthUnit::Chars => "characters",
            LengthUnit::Utf16 => "UTF-16 units",
        }
    }
}

/// The caption rules of one platform. `None` means no limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionRules {
    pub platform: String,
    pub max_length: Option<usize>,
    pub length_unit: LengthUnit,
    pub max_hashtags: Option<usize>,
    pub max_mentions: Option<usize>,
    /// Limit for a separate title field (TikTok photo title, Snapchat saved-story title).
    pub max_title: Option<usize>,
}

impl CaptionRules {
    /// The documented rules for a platform id, or `None` for an unknown platform.
    pub fn for_platform(platform: &str) -> Option<CaptionRules> {
        let rules = |max_length, unit, max_hashtags, max_mentions, max_title| CaptionRules {
            platform: platform.to_owned(),
            max_length: Some(max_length),
            length_unit: unit,
            max_hashtags,
            max_mentions,
            max_title,
        };
        use LengthUnit::{Chars, Utf16};
        Some(match platform {
            // PLATFORMS.md 1.5: Postiz maxLength() = 63206.
            "facebook" => rules(63_206, Chars, None, None, None),
            // PLATFORMS.md 2.4 (Meta ig-user/media): <= 2200 chars, <= 30 #, <= 20 @.
            "instagram" => rules(2_200, Chars, Some(30), Some(20), None),
            // PLATFORMS.md 3.5: commentary <= 3000 (Postiz maxLength). The connector escapes
            // little-text reserved characters; the limit applies to what the user wrote.
            "linkedin" => rules(3_000, Chars, None, None, None),
            // PLATFORMS.md 4.4: description <= 4000 and title <= 90, in UTF-16 units.
            "tiktok" => rules(4_000, Utf16, None, None, Some(90)),
            // PLATFORMS.md 0/5: a Story (the connector's default `post_as`) has no caption
            // field, the caption is not sent, so there is no length limit; a Saved Story sends
            // it as the title (<= 45), and the connector narrows `max_length` to that.
            // Spotlight (description <= 160) rejects images, so it is not a target.
            "snapchat" => CaptionRules {
                max_length: None,
                ..rules(0, Chars, None, None, Some(45))
            },
            // Webhook receivers: the connector's default `max_caption_chars`; it applies the
            // configured value.
            "webhook" => rules(10_000, Chars, None, None, None),
            // Development platform (connectors/sandbox): generous, but finite so tests can
            // exercise a length failure.
            "sandbox" => rules(5_000, Chars, None, None, None),
            _ => return None,
        })
    }

    /// [`CaptionRules::for_platform`], or for a platform without documented rules only the
    /// checks every API needs (no control characters). For connectors, which always have a
    /// rule set to start from.
    pub fn documented(platform: &str) -> CaptionRules {
        CaptionRules::for_platform(platform).unwrap_or_else(|| CaptionRules {
            platform: platform.to_owned(),
            max_length: None,
            length_unit: LengthUnit::Chars,
            max_hashtags: None,
            max_mentions: None,
            max_title: None,
        })
    }
}

/// Which rule a caption broke.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptionRule {
    /// No rules are known for the platform id.
    UnknownPlatform,
    /// Caption longer than the platform allows.
    MaxLength {
        limit: usize,
        actual: usize,
        unit: LengthUnit,
    },
    /// Title longer than the platform allows.
    MaxTitle {
        limit: usize,
        actual: usize,
        unit: LengthUnit,
    },
    /// More `#hashtags` than allowed.
    MaxHashtags { limit: usize, actual: usize },
    /// More `@mentions` than allowed.
    MaxMentions { limit: usize, actual: usize },
    /// A control character (NUL, escape, ...) that APIs reject or mangle; tab and newlines are
    /// fine. `index` is the character position.
    ControlCharacter { index: usize, code: u32 },
}

impl CaptionRule {
    /// A stable machine id for the rule (for API error codes and logs).
    pub fn id(&self) -> &'static str {
        match self {
            CaptionRule::UnknownPlatform => "unknown_platform",
            CaptionRule::MaxLength { .. } => "max_length",
            CaptionRule::MaxTitle { .. } => "max_title",
            CaptionRule::MaxHashtags { .. } => "max_hashtags",
            CaptionRule::MaxMentions { .. } => "max_mentions",
            CaptionRule::ControlCharacter { .. } => "control_character",
        }
    }
}

/// One broken rule, with the platform it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionIssue {
    pub platform: String,
    pub rule: CaptionRule,
}

impl CaptionIssue {
    /// The draft field the rule is about: `caption` or `title`.
    pub fn field(&self) -> &'static str {
        match self.rule {
            CaptionRule::MaxTitle { .. } => "title",
            _ => "caption",
        }
    }

    /// What is wrong, without the platform or the rule id, e.g. "caption has 31 hashtags,
    /// limit is 30".
    pub fn detail(&self) -> String {
        match &self.rule {
            CaptionRule::UnknownPlatform => "no caption rules for this platform".to_owned(),
            CaptionRule::MaxLength {
                limit,
                actual,
                unit,
            } => format!("caption is {actual} {}, limit is {limit}", unit.name()),
            CaptionRule::MaxTitle {
                limit,
                actual,
                unit,
            } => format!("title is {actual} {}, limit is {limit}", unit.name()),
            CaptionRule::MaxHashtags { limit, actual } => {
                format!("caption has {actual} hashtags, limit is {limit}")
            }
            CaptionRule::MaxMentions { limit, actual } => {
                format!("caption has {actual} @mentions, limit is {limit}")
            }
            CaptionRule::ControlCharacter { index, code } => {
                format!("control character U+{code:04X} at position {index}")
            }
        }
    }

    /// "platform: detail", for messages that carry the rule id separately (a connector's
    /// `ValidationIssue`).
    pub fn summary(&self) -> String {
        format!("{}: {}", self.platform, self.detail())
    }
}

impl fmt::Display for CaptionIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            CaptionRule::UnknownPlatform => write!(f, "{}", self.summary()),
            _ => write!(f, "{} (rule {})", self.summary(), self.rule.id()),
        }
    }
}

impl std::error::Error for CaptionIssue {}

/// Checks `caption` against the documented rules of `platform`.
///
/// # Errors
/// Every broken rule, each naming the platform and the rule.
pub fn check_caption(platform: &str, caption: &str) -> Result<(), Vec<CaptionIssue>> {
    match CaptionRules::for_platform(platform) {
        Some(rules) => check_caption_with(&rules, caption),
        None => Err(vec![CaptionIssue {
            platform: platform.to_owned(),
            rule: CaptionRule::UnknownPlatform,
        }]),
    }
}

/// The rules `caption` breaks on `platform`, as messages naming the platform and the rule,
/// for campaign validation. A platform without documented rules (one a config-added preset
/// names) gives none here: its connector still checks at publish.
pub fn caption_problems(platform: &str, caption: &str) -> Vec<String> {
    match CaptionRules::for_platform(platform) {
        Some(rules) => check_caption_with(&rules, caption)
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect(),
        None => Vec::new(),
    }
}

/// Checks `caption` against explicit (e.g. config-overridden) rules.
///
/// # Errors
/// Every broken rule.
pub fn check_caption_with(rules: &CaptionRules, caption: &str) -> Result<(), Vec<CaptionIssue>> {
    let mut issues = Vec::new();
    let mut push = |rule| {
        issues.push(CaptionIssue {
            platform: rules.platform.clone(),
            rule,
        })
    };
    if let Some(limit) = rules.max_length {
        let actual = rules.length_unit.count(caption);
        if actual > limit {
            push(CaptionRule::MaxLength {
                limit,
                actual,
                unit: rules.length_unit,
            });
        }
    }
    if let Some(limit) = rules.max_hashtags {
        let actual = count_tags(caption, '#');
        if actual > limit {
            push(CaptionRule::MaxHashtags { limit, actual });
        }
    }
    if let Some(limit) = rules.max_mentions {
        let actual = count_tags(caption, '@');
        if actual > limit {
            push(CaptionRule::MaxMentions { limit, actual });
        }
    }
    if let Some((index, c)) = caption
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        push(CaptionRule::ControlCharacter {
            index,
            code: u32::from(c),
        });
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(issues)
    }
}

/// Checks a separate title (TikTok photo title, Snapchat saved-story title).
///
/// # Errors
/// Unknown platform or a title over the platform's limit.
pub fn check_title(platform: &str, title: &str) -> Result<(), Vec<CaptionIssue>> {
    let Some(rules) = CaptionRules::for_platform(platform) else {
        return Err(vec![CaptionIssue {
            platform: platform.to_owned(),
            rule: CaptionRule::UnknownPlatform,
        }]);
    };
    match rules.max_title {
        Some(limit) if rules.length_unit.count(title) > limit => Err(vec![CaptionIssue {
            platform: platform.to_owned(),
            rule: CaptionRule::MaxTitle {
                limit,
                actual: rules.length_unit.count(title),
                unit: rules.length_unit,
            },
        }]),
        _ => Ok(()),
    }
}

/// Counts `#tag` or `@name` tokens the way the platforms link them: the sigil must not follow
/// a word character (so `a@b.com` and `C#` are not tags) and must be followed by one.
pub fn count_tags(text: &str, sigil: char) -> usize {
    let mut count = 0;
    let mut prev: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let after_word = prev.is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '&');
        if c == sigil
            && !after_word
            && chars
                .peek()
                .is_some_and(|n| n.is_alphanumeric() || *n == '_')
        {
            count += 1;
        }
        prev = Some(c);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_broken(platform: &str, caption: &str) -> Vec<&'static str> {
        match check_caption(platform, caption) {
            Ok(()) => vec![],
            Err(issues) => {
                assert!(issues.iter().all(|i| i.platform == platform));
                issues.iter().map(|i| i.rule.id()).collect()
            }
        }
    }

    #[test]
    fn instagram_length_hashtags_mentions() {
        assert!(check_caption("instagram", "New drop! #spring @acme").is_ok());
        assert_eq!(
            rules_broken("instagram", &"a".repeat(2200)),
            Vec::<&str>::new()
        );
        assert_eq!(
            rules_broken("instagram", &"a".repeat(2201)),
            vec!["max_length"]
        );
        let tags: String = (0..31).map(|i| format!("#t{i} ")).collect();
        assert_eq!(rules_broken("instagram", &tags), vec!["max_hashtags"]);
        let tags: String = (0..30).map(|i| format!("#t{i} ")).collect();
        assert!(check_caption("instagram", &tags).is_ok());
        let mentions: String = (0..21).map(|i| format!("@user{i} ")).collect();
        assert_eq!(rules_broken("instagram", &mentions), vec!["max_mentions"]);
    }

    #[test]
    fn error_names_platform_and_rule() {
        let issues = check_caption("instagram", &"x".repeat(2300)).expect_err("too long");
        let msg = issues[0].to_string();
        assert!(
            msg.starts_with("instagram:") && msg.contains("max_length"),
            "{msg}"
        );
        assert!(msg.contains("2300") && msg.contains("2200"), "{msg}");
        let issues = check_caption("myspace", "hi").expect_err("unknown");
        assert_eq!(issues[0].rule, CaptionRule::UnknownPlatform);
        assert!(issues[0].to_string().contains("myspace"));
    }

    #[test]
    fn tiktok_counts_utf16_units() {
        // 2000 emoji = 2000 chars but 4000 UTF-16 units: at the limit; one more breaks it.
        let emoji = "😀".repeat(2000);
        assert!(check_caption("tiktok", &emoji).is_ok());
        assert_eq!(
            rules_broken("tiktok", &format!("{emoji}a")),
            vec!["max_length"]
        );
        assert!(check_title("tiktok", &"t".repeat(90)).is_ok());
        let issues = check_title("tiktok", &"t".repeat(91)).expect_err("long title");
        assert_eq!(issues[0].rule.id(), "max_title");
    }

    #[test]
    fn other_platform_limits() {
        assert_eq!(
            rules_broken("linkedin", &"a".repeat(3001)),
            vec!["max_length"]
        );
        assert!(check_caption("linkedin", &"a".repeat(3000)).is_ok());
        assert_eq!(
            rules_broken("facebook", &"a".repeat(63_207)),
            vec!["max_length"]
        );
        // Snapchat Stories send no caption; Saved Story titles are checked by the connector.
        assert!(check_caption("snapchat", &"a".repeat(161)).is_ok());
        assert!(check_title("snapchat", &"a".repeat(46)).is_err());
        assert!(check_caption("sandbox", &"#a ".repeat(1000)).is_ok());
        assert_eq!(
            rules_broken("sandbox", &"a".repeat(5001)),
            vec!["max_length"]
        );
        assert_eq!(
            rules_broken("webhook", &"a".repeat(10_001)),
            vec!["max_length"]
        );
    }

    #[test]
    fn control_characters_are_rejected_but_newlines_are_fine() {
        assert!(check_caption("facebook", "line one\nline two\r\n\ttabbed").is_ok());
        assert_eq!(
            rules_broken("facebook", "bad\u{0}nul"),
            vec!["control_character"]
        );
    }

    #[test]
    fn tag_counting_ignores_emails_and_bare_sigils() {
        assert_eq!(count_tags("mail me at a@b.com or @real_user", '@'), 1);
        assert_eq!(count_tags("C# and F# are # not tags, #this is", '#'), 1);
        assert_eq!(count_tags("#a#b (#c) #über", '#'), 3);
        assert_eq!(count_tags("&#39; entity", '#'), 0);
    }

    #[test]
    fn problems_for_validation_skip_unknown_platforms() {
        assert!(caption_problems("instagram", "fine").is_empty());
        assert_eq!(
            caption_problems("instagram", &"x".repeat(2201)),
            vec!["instagram: caption is 2201 characters, limit is 2200 (rule max_length)"]
        );
        assert!(caption_problems("mastodon", &"x".repeat(100_000)).is_empty());
    }

    #[test]
    fn issue_parts_for_connectors() {
        let issues = check_caption("instagram", &"#a ".repeat(31)).expect_err("too many");
        let i = &issues[0];
        assert_eq!((i.field(), i.rule.id()), ("caption", "max_hashtags"));
        assert_eq!(
            i.summary(),
            "instagram: caption has 31 hashtags, limit is 30"
        );
        assert_eq!(
            i.to_string(),
            "instagram: caption has 31 hashtags, limit is 30 (rule max_hashtags)"
        );
        let issues = check_title("tiktok", &"t".repeat(91)).expect_err("long title");
        assert_eq!(issues[0].field(), "title");
        let unknown = CaptionRules::documented("myspace");
        assert!(check_caption_with(&unknown, &"a".repeat(100_000)).is_ok());
        assert!(check_caption_with(&unknown, "a\u{1b}b").is_err());
    }

    #[test]
    fn rules_are_overridable_data() {
        let mut rules = CaptionRules::for_platform("instagram").expect("known");
        rules.max_hashtags = Some(5);
        let six = "#a #b #c #d #e #f";
        assert!(check_caption("instagram", six).is_ok());
        assert!(check_caption_with(&rules, six).is_err());
    }
}
