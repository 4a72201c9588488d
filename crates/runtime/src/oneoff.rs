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
    let target = campaign_field
        .strip_prefix("targets[")
        .and_then(|rest| rest.split(']').next())
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
}

/// Stores a checked one-off post and, when it is not for later, fires it. `fire_key` makes a
/// repeated request (or import) find the run it made instead of making another.
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
    })
}
