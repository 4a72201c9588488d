//! One-off posts (`POST /v1/posts`, `pressroom posts import`): a caption and images the
//! person already has, to some accounts, now or at a time. Each is a campaign of one run
//! (`post-…`, its own media, a one-shot schedule), so it goes through the very pipeline a
//! campaign does — renditions, the platforms' rules, publishing at most once, first comments —
//! and is checked by the same validation before anything is stored.
//!
//! The texts are the person's words, not templates: they reach the campaign as variables
//! (`{{ post.caption }}`), so braces in a caption are printed, never interpreted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pressroom_core::campaign::{
    CampaignSpec, CaptionSpec, GenerationSpec, MediaSpec, MisfirePolicy, ScheduleSpec, TargetSpec,
    Trigger,
};
use pressroom_core::{AssetId, PostFormat, WorkspaceId};
use pressroom_media::Presets;
use pressroom_store::entity::campaign;
use pressroom_store::{Queue, Store};

use crate::campaigns::{self, Fire, Origin, TriggerError};

/// The most targets one post names.
pub const MAX_TARGETS: usize = 50;

/// What a one-off post says, as the person wrote it.
#[derive(Debug, Clone, Default)]
pub struct OneOff {
    pub caption: String,
    /// Library images, in order (several make a carousel where the platform has one).
    pub media: Vec<AssetId>,
    /// `account` (its platform's first preset) or `account:preset`.
    pub targets: Vec<String>,
    /// None publishes now.
    pub publish_at: Option<DateTime<Utc>>,
    pub alt_text: Option<String>,
    pub first_comment: Option<String>,
}

/// Why a one-off post was refused: the field (`caption`, `media`, `targets`, `publish_at`,
/// `alt_text`, `first_comment`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn problem(field: &'static str, message: impl Into<String>) -> Problem {
    Problem {
        field,
        message: message.into(),
    }
}

/// The campaign a one-off post becomes, or every problem with it. `accounts` are the
/// workspace's (name, platform); `now` bounds `publish_at` (not in the past).
///
/// # Errors
/// Each refused field with its reason.
pub fn spec_for(
    workspace_slug: &str,
    name: &str,
    post: &OneOff,
    accounts: &[(String, String)],
    presets: &Presets,
    now: DateTime<Utc>,
) -> Result<CampaignSpec, Vec<Problem>> {
    let mut problems = Vec::new();
    if post.media.is_empty() {
        problems.push(problem("media", "at least one image is required"));
    } else if post.media.len() > GenerationSpec::MAX_IMAGES as usize {
        problems.push(problem(
            "media",
            format!(
                "{} images: a post carries at most {}",
                post.media.len(),
                GenerationSpec::MAX_IMAGES
            ),
        ));
    }
    if let Some(at) = post.publish_at
        && at < now - chrono::Duration::seconds(60)
    {
        problems.push(problem(
            "publish_at",
            format!(
                "{} is in the past (leave it empty to publish now)",
                at.to_rfc3339()
            ),
        ));
    }
    let targets = read_targets(
        &post.targets,
        post.media.len(),
        accounts,
        presets,
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut texts = serde_json::Map::new();
    texts.insert("caption".into(), post.caption.clone().into());
    let mut caption = CaptionSpec {
        template: "{{ post.caption }}".into(),
        alt_text: None,
        first_comment: None,
    };
    if let Some(alt) = post.alt_text.as_ref().filter(|t| !t.trim().is_empty()) {
        texts.insert("alt_text".into(), alt.clone().into());
        caption.alt_text = Some("{{ post.alt_text }}".into());
    }
    if let Some(comment) = post.first_comment.as_ref().filter(|t| !t.trim().is_empty()) {
        texts.insert("first_comment".into(), comment.clone().into());
        caption.first_comment = Some("{{ post.first_comment }}".into());
    }
    let trigger = match post.publish_at {
        Some(at) if at > now => Trigger::At { at },
        _ => Trigger::WebhookOnly,
    };
    let spec = CampaignSpec {
        name: name.to_owned(),
        workspace: workspace_slug.to_owned(),
        description: Some("one-off post".into()),
        schedule: ScheduleSpec {
            trigger,
            timezone: None,
            // Due while the daemon was down: published late rather than lost.
            misfire: MisfirePolicy::Once,
        },
        generation: GenerationSpec::for_own_media(),
        caption,
        variables: BTreeMap::from([("post".to_owned(), serde_json::Value::Object(texts))]),
        targets,
        approval: None,
        media: Some(MediaSpec {
            files: Vec::new(),
            assets: post.media.clone(),
            file_assets: Vec::new(),
        }),
    };
    // The platforms' rules, as for a campaign file: caption length and hashtags per
    // platform, stories, carousels, alt text.
    let known = Some(accounts.to_vec());
    let issues = campaigns::check_spec(&spec, "", "post", &known, presets);
    if issues.is_empty() {
        Ok(spec)
    } else {
        Err(issues
            .into_iter()
            .map(|i| Problem {
                field: field_of(&i.field),
                message: describe(&spec, &i.field, &i.message),
            })
            .collect())
    }
}

/// The one-off field a campaign issue is about.
fn field_of(campaign_field: &str) -> &'static str {
    if campaign_field.contains("alt_text") {
        "alt_text"
    } else if campaign_field.contains("first_comment") {
        "first_comment"
    } else if campaign_field.contains("caption") {
        "caption"
    } else if campaign_field.starts_with("media") {
        "media"
    } else {
        "targets"
    }
}

/// A campaign issue in the words of a one-off post: which target, when it is about one.
fn describe(spec: &CampaignSpec, campaign_field: &str, message: &str) -> String {
    // Caption checks name the target at the end ("… — for targets[0], with the [variables]
    // defaults"): a campaign's words, not a post's.
    let (message, named) = match message.split_once(" — for targets[") {
        Some((text, rest)) => (text, rest.split(']').next()),
        None => (message, None),
    };
    let target = campaign_field
        .strip_prefix("targets[")
        .and_then(|rest| rest.split(']').next())
        .or(named)
        .and_then(|i| i.parse::<usize>().ok())
        .and_then(|i| spec.targets.get(i));
    match target {
        Some(t) => format!("{}:{}: {message}", t.account, t.preset),
        None => message.to_owned(),
    }
}

fn read_targets(
    written: &[String],
    images: usize,
    accounts: &[(String, String)],
    presets: &Presets,
    problems: &mut Vec<Problem>,
) -> Vec<TargetSpec> {
    if written.is_empty() {
        problems.push(problem(
            "targets",
            "at least one target is required (`account` or `account:preset`)",
        ));
    }
    if written.len() > MAX_TARGETS {
        problems.push(problem(
            "targets",
            format!(
                "{} targets: a post goes to at most {MAX_TARGETS}",
                written.len()
            ),
        ));
        return Vec::new();
    }
    let mut targets: Vec<TargetSpec> = Vec::new();
    for entry in written {
        let entry = entry.trim();
        let (account, preset) = match entry.split_once(':') {
            Some((a, p)) => (a.trim(), Some(p.trim())),
            None => (entry, None),
        };
        let Some((_, platform)) = accounts.iter().find(|(name, _)| name == account) else {
            problems.push(problem(
                "targets",
                format!("`{entry}`: no account named `{account}` in this workspace"),
            ));
            continue;
        };
        let preset = match preset {
            Some(p) => match presets.get(p) {
                Some(found) if &found.platform == platform => p.to_owned(),
                Some(found) => {
                    problems.push(problem(
                        "targets",
                        format!(
                            "`{entry}`: preset `{p}` is for {}, the account is on {platform}",
                            found.platform
                        ),
                    ));
                    continue;
                }
                None => {
                    problems.push(problem(
                        "targets",
                        format!("`{entry}`: unknown preset `{p}`"),
                    ));
                    continue;
                }
            },
            None => match presets.all().iter().find(|p| &p.platform == platform) {
                Some(first) => first.name.clone(),
                None => {
                    problems.push(problem(
                        "targets",
                        format!("`{entry}`: {platform} has no preset to choose; write `{account}:PRESET`"),
                    ));
                    continue;
                }
            },
        };
        let mut format = PostFormat::default_for_preset(&preset);
        if format == PostFormat::Single && images > 1 {
            format = PostFormat::Carousel;
        }
        if format == PostFormat::Story && images > 1 {
            problems.push(problem(
                "targets",
                format!("`{entry}`: a story ({preset}) carries one image and this post has {images}; post one image, or name a feed preset"),
            ));
            continue;
        }
        let target = TargetSpec {
            account: account.to_owned(),
            preset,
            fit: None,
            format,
            caption: None,
            alt_text: None,
            first_comment: None,
            cover: None,
        };
        if targets.iter().any(|t| t.same_destination(&target)) {
            problems.push(problem("targets", format!("`{entry}` is listed twice")));
            continue;
        }
        targets.push(target);
    }
    targets
}

/// A one-off post stored: its campaign, and its run when it publishes now.
#[derive(Debug, Clone)]
pub struct Created {
    pub campaign: campaign::Model,
    /// Set when the post publishes now (a later one gets its run at `publish_at`).
    pub run_id: Option<pressroom_core::RunId>,
    /// The post was stored before (the same import again): found, left as it was.
    pub existing: bool,
}

/// The one-off post of this name, when it was stored before (deleted or not), with its run.
///
/// # Errors
/// A store error.
pub async fn find(
    store: &Store,
    workspace_id: &WorkspaceId,
    name: &str,
) -> Result<Option<Created>, pressroom_store::StoreError> {
    let Some(row) =
        pressroom_store::repo::campaigns::by_name_any(store, workspace_id, name).await?
    else {
        return Ok(None);
    };
    let fire_key = format!("post:{}", row.id);
    let run =
        pressroom_store::repo::runs::by_fire_key(store.conn(), workspace_id, &row.id, &fire_key)
            .await?;
    Ok(Some(Created {
        campaign: row,
        run_id: run.map(|r| r.id),
        existing: true,
    }))
}

/// Stores a checked one-off post and, when it is not for later, fires it. A post of the same
/// name stored before (the same CSV imported again) is answered as it is — never saved
/// again, fired again or brought back from deletion.
///
/// # Errors
/// As [`campaigns::save`] and [`campaigns::trigger`].
pub async fn create(
    store: &Store,
    queue: &Queue,
    workspace_id: &WorkspaceId,
    spec: &CampaignSpec,
    actor: &str,
) -> Result<Created, TriggerError> {
    if let Some(found) = find(store, workspace_id, &spec.name).await? {
        return Ok(found);
    }
    let origin = Origin {
        actor,
        source_file: None,
        detail: serde_json::json!({ "name": spec.name, "one_off": true }),
    };
    let source = "# a one-off post: its spec is stored as JSON\n";
    let row = campaigns::save(store, workspace_id, spec, source, origin).await?;
    let run_id = match spec.schedule.trigger {
        Trigger::At { .. } => None,
        _ => {
            let fire_key = format!("post:{}", row.id);
            let fire = Fire {
                trigger: "post",
                fire_key: &fire_key,
                variables: &serde_json::json!({}),
            };
            Some(campaigns::trigger(store, queue, &row, fire).await?.run_id)
        }
    };
    Ok(Created {
        campaign: row,
        run_id,
        existing: false,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use pressroom_core::{AssetId, PostFormat};

    use super::{OneOff, spec_for};

    fn accounts() -> Vec<(String, String)> {
        [
            ("ig", "instagram"),
            ("sc", "snapchat"),
            ("tt", "tiktok"),
            ("li", "linkedin"),
        ]
        .iter()
        .map(|(a, p)| ((*a).to_owned(), (*p).to_owned()))
        .collect()
    }

    fn post(images: usize, targets: &[&str]) -> OneOff {
        OneOff {
            caption: "Hello {{ there }}".into(),
            media: (0..images).map(|_| AssetId::new()).collect(),
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            ..OneOff::default()
        }
    }

    #[test]
    fn targets_take_their_platform_default_and_several_images_make_a_carousel() {
        let presets = pressroom_media::Presets::builtin();
        let spec = spec_for(
            "w",
            "post-1",
            &post(3, &["ig", "li:linkedin-square", "tt"]),
            &accounts(),
            presets,
            Utc::now(),
        )
        .expect("valid");
        let made: Vec<(&str, &str, PostFormat)> = spec
            .targets
            .iter()
            .map(|t| (t.account.as_str(), t.preset.as_str(), t.format))
            .collect();
        assert_eq!(
            made,
            [
                ("ig", "instagram-square", PostFormat::Carousel),
                ("li", "linkedin-square", PostFormat::Carousel),
                ("tt", "tiktok-photo", PostFormat::Carousel),
            ]
        );
        // The text is a variable's value, never a template.
        assert_eq!(spec.caption.template, "{{ post.caption }}");
        assert_eq!(spec.variables["post"]["caption"], "Hello {{ there }}");
        assert_eq!(spec.image_count(), 3);
    }

    #[test]
    fn what_a_platform_cannot_take_is_refused_naming_the_field() {
        let presets = pressroom_media::Presets::builtin();
        let refused = |p: &OneOff| {
            spec_for("w", "post-1", p, &accounts(), presets, Utc::now())
                .err()
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        };
        // Snapchat's preset is a story: one image.
        assert!(
            refused(&post(2, &["sc"]))
                .contains("targets: `sc`: a story (snapchat-story) carries one image")
        );
        assert!(refused(&post(1, &["ig", "ig"])).contains("targets: `ig` is listed twice"));
        assert!(refused(&post(0, &["ig"])).contains("media: at least one image"));
        assert!(refused(&post(11, &["ig"])).contains("media: 11 images"));
        let many: Vec<String> = (0..51).map(|i| format!("a{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(refused(&post(1, &many)).contains("51 targets"));
        let mut late = post(1, &["ig"]);
        late.publish_at = Some(Utc::now() - Duration::minutes(5));
        assert!(refused(&late).contains("publish_at: "));
        // An Instagram caption over 2200 characters: the platform's own rule, by target.
        let mut long = post(1, &["ig"]);
        long.caption = "x".repeat(2300);
        assert!(
            refused(&long).contains("caption: ig:instagram-square: "),
            "{}",
            refused(&long)
        );
    }
}
