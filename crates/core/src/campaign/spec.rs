//! The validated shape of a campaign: what a TOML file (or a DB row) turns into.
//!
//! These types hold only checked values, so the scheduler and the workers never
//! re-validate: a `CampaignSpec` exists only if `parse_campaign` accepted the text, or is
//! read back (`Deserialize`) from the JSON stored when it was accepted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::schedule::MisfirePolicy;

/// A campaign definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignSpec {
    /// Slug, unique within the workspace (`[a-z0-9][a-z0-9_-]*`, at most 64 characters).
    pub name: String,
    /// Slug of the workspace that owns the campaign; every store query is scoped by it.
    pub workspace: String,
    pub description: Option<String>,
    pub schedule: ScheduleSpec,
    pub generation: GenerationSpec,
    pub caption: CaptionSpec,
    /// User variables given to the prompt and caption templates (TOML converted to JSON;
    /// TOML date-times become RFC 3339 strings).
    pub variables: BTreeMap<String, serde_json::Value>,
    /// At least one target.
    pub targets: Vec<TargetSpec>,
    /// Whether a person approves each run before it publishes (`[approval]`); absent in
    /// specs stored before approvals existed.
    #[serde(default)]
    pub approval: Option<ApprovalSpec>,
    /// The campaign's own images (`[media]`), published instead of generated ones; absent
    /// in specs stored before own media existed.
    #[serde(default)]
    pub media: Option<MediaSpec>,
}

/// `[media]`: images the campaign publishes as they are (through the same renditions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaSpec {
    /// Image files as written, relative to the campaign file's folder, in order.
    pub files: Vec<String>,
    /// Images from the workspace's asset library, after the files.
    pub assets: Vec<crate::AssetId>,
    /// The files once kept in the asset library, in the same order: filled when the
    /// campaign is saved from its file, so a run never reads the file system.
    #[serde(default)]
    pub file_assets: Vec<crate::AssetId>,
}

impl MediaSpec {
    /// How many images a run publishes.
    pub fn count(&self) -> u32 {
        (self.files.len() + self.assets.len()) as u32
    }

    /// The run's images in order, or `None` while the files are not in the library yet.
    pub fn asset_ids(&self) -> Option<Vec<crate::AssetId>> {
        (self.file_assets.len() == self.files.len()).then(|| {
            self.file_assets
                .iter()
                .chain(&self.assets)
                .cloned()
                .collect()
        })
    }
}

impl CampaignSpec {
    /// The approval settings when runs of this campaign wait for a person.
    pub fn review(&self) -> Option<&ApprovalSpec> {
        self.approval.as_ref().filter(|a| a.required)
    }

    /// Images a run publishes: its own media's, else the generated slides'.
    pub fn image_count(&self) -> u32 {
        self.media
            .as_ref()
            .map_or_else(|| self.generation.image_count(), MediaSpec::count)
    }

    /// Images generated per run: the review's candidates, or one.
    pub fn candidates(&self) -> u32 {
        self.review().map_or(1, |a| a.candidates)
    }

    /// How long before its scheduled time a run is generated (zero without a review).
    pub fn lead_time(&self) -> std::time::Duration {
        self.review().map_or_else(Default::default, |a| a.lead_time)
    }
}

/// `[approval]`: the review gate between render and publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalSpec {
    pub required: bool,
    /// Images generated per run (different seeds); the reviewer picks one.
    pub candidates: u32,
    /// Generate this long before the scheduled time, so there is time to review.
    #[serde(with = "secs")]
    pub lead_time: std::time::Duration,
    /// After this (from when the run was generated) an undecided review expires.
    #[serde(with = "secs")]
    pub expires_after: std::time::Duration,
    pub on_expiry: OnExpiry,
    /// Lowercased emails of the only people who may decide (and review links); empty means
    /// any member with the approver role or above.
    pub approvers: Vec<String>,
}

impl ApprovalSpec {
    pub const MAX_CANDIDATES: u32 = 8;
    /// The longest lead time or review window accepted (a typo such as `100000w` would
    /// otherwise overflow date arithmetic).
    pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);
    pub const DEFAULT_EXPIRES_AFTER: std::time::Duration =
        std::time::Duration::from_secs(72 * 3600);
}

/// What happens to a run whose review expired undecided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExpiry {
    /// Nothing is published; the posts are cancelled.
    Discard,
    /// The first candidate is published with the captions as generated.
    Publish,
}

impl OnExpiry {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Discard => "discard",
            Self::Publish => "publish",
        }
    }
}

/// Durations stored as whole seconds.
mod secs {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
        u64::deserialize(d).map(std::time::Duration::from_secs)
    }
}

/// When a campaign fires, and what to do with fires missed while the daemon was down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub trigger: Trigger,
    /// IANA zone the cron expression (or a local `at`) is read in. Always set for
    /// `Trigger::Cron`; kept for the others when given, so templates can show local time.
    pub timezone: Option<String>,
    pub misfire: MisfirePolicy,
}

/// What makes a campaign fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Trigger {
    /// Cron expression with 5 fields (minute first) or 6 (second first), checked by croner.
    Cron { expr: String },
    /// A single fire at this instant (a local `at` has already been resolved in its zone).
    At { at: DateTime<Utc> },
    /// Fires only when the API or a webhook asks.
    WebhookOnly,
}

/// Image generation settings. The prompts are MiniJinja templates (syntax-checked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationSpec {
    /// One of [`BACKENDS`].
    pub backend: String,
    /// `None` means the backend's configured default model (the tiny model for `local`).
    pub model: Option<String>,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub steps: u32,
    pub guidance: f32,
    pub scheduler: NoiseScheduler,
    pub width: u32,
    pub height: u32,
    pub seed: Seed,
    /// Images per run (each its own seed; the prompt sees `image.index` and
    /// `image.count`); absent in specs stored before carousels: one.
    #[serde(default = "one")]
    pub images: u32,
    /// One prompt template per image (`[[generation.slides]]`), instead of `prompt` for all.
    #[serde(default)]
    pub slides: Vec<String>,
    /// Neither `width` nor `height` was given: a local model generates at its native size for
    /// the aspect of the first `fit = "native"` target (SDXL's trained bucket, SD 1/2 at their
    /// trained short side); without such a target, `width`×`height` (the defaults) as before.
    /// Absent in specs stored before it: false, their size as it was.
    #[serde(default)]
    pub size_from_targets: bool,
}

fn one() -> u32 {
    1
}

impl GenerationSpec {
    /// How many images a run makes: the slides, else `images`.
    pub fn image_count(&self) -> u32 {
        if self.slides.is_empty() {
            self.images.max(1)
        } else {
            self.slides.len() as u32
        }
    }

    /// The settings of a campaign that publishes its own media: nothing is generated (no
    /// backend, no prompt).
    pub fn for_own_media() -> Self {
        Self {
            backend: String::new(),
            model: None,
            prompt: String::new(),
            negative_prompt: None,
            steps: Self::DEFAULT_STEPS,
            guidance: Self::DEFAULT_GUIDANCE,
            scheduler: NoiseScheduler::Ddim,
            width: Self::DEFAULT_SIZE,
            height: Self::DEFAULT_SIZE,
            seed: Seed::Random,
            images: 1,
            slides: Vec::new(),
            size_from_targets: false,
        }
    }

    /// The prompt template of image `index`.
    pub fn prompt_of(&self, index: usize) -> &str {
        self.slides.get(index).map_or(&self.prompt, String::as_str)
    }
}

/// Generation backends known at compile time.
pub const BACKENDS: &[&str] = &["local", "openai", "stability"];

/// Defaults chosen for the local engine: small, fast, valid for SD 1.x/2.x.
impl GenerationSpec {
    pub const DEFAULT_BACKEND: &'static str = "local";
    pub const DEFAULT_STEPS: u32 = 25;
    pub const DEFAULT_GUIDANCE: f32 = 7.5;
    pub const DEFAULT_SIZE: u32 = 512;
    /// Steps above this are almost certainly a typo and would pin a GPU for minutes.
    pub const MAX_STEPS: u32 = 150;
    pub const MAX_GUIDANCE: f32 = 50.0;
    pub const MIN_SIZE: u32 = 64;
    pub const MAX_SIZE: u32 = 4096;
    /// The local engine's most pixels per image (its VAE decode's memory; remote backends
    /// have their own sizes).
    pub const MAX_LOCAL_PIXELS: u64 = 1536 * 1536;
    /// A carousel's most images (Instagram's 10; TikTok takes more, but a run of 35 images
    /// would pin the engine for long).
    pub const MAX_IMAGES: u32 = 10;
}

pub use crate::format::PostFormat;
pub use crate::sampler::NoiseScheduler;

/// Seed for generation: fixed for reproducible output, or drawn per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seed {
    Fixed(u64),
    Random,
}

/// `[caption]`: the post text and the texts that go with it, MiniJinja templates
/// (syntax-checked). A target may override each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptionSpec {
    pub template: String,
    /// Alt text for the image, sent where the platform takes it (absent in older specs).
    #[serde(default)]
    pub alt_text: Option<String>,
    /// Posted as a comment on the published post, where the platform allows comments.
    #[serde(default)]
    pub first_comment: Option<String>,
}

/// One destination: an account, the rendition preset for it, and how the post goes out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredTarget")]
pub struct TargetSpec {
    pub account: String,
    pub preset: String,
    /// How the image is fitted to the preset; `None` means the preset's default.
    pub fit: Option<Fit>,
    /// A feed post, a story or a carousel (see [`PostFormat::default_for_preset`]).
    pub format: PostFormat,
    /// This target's caption template, instead of `[caption] template`.
    #[serde(default)]
    pub caption: Option<String>,
    /// This target's alt text template, instead of `[caption] alt_text`.
    #[serde(default)]
    pub alt_text: Option<String>,
    /// This target's first comment template, instead of `[caption] first_comment`.
    #[serde(default)]
    pub first_comment: Option<String>,
    /// A carousel's cover image (0-based), where the platform takes one (TikTok).
    #[serde(default)]
    pub cover: Option<u32>,
}

/// A target as stored; a spec stored before formats existed has no `format`, and its story
/// presets become stories when read, as a freshly parsed file's do.
#[derive(Deserialize)]
struct StoredTarget {
    account: String,
    preset: String,
    fit: Option<Fit>,
    #[serde(default)]
    format: Option<PostFormat>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    alt_text: Option<String>,
    #[serde(default)]
    first_comment: Option<String>,
    #[serde(default)]
    cover: Option<u32>,
}

impl From<StoredTarget> for TargetSpec {
    fn from(t: StoredTarget) -> Self {
        Self {
            format: t
                .format
                .unwrap_or_else(|| PostFormat::default_for_preset(&t.preset)),
            account: t.account,
            preset: t.preset,
            fit: t.fit,
            caption: t.caption,
            alt_text: t.alt_text,
            first_comment: t.first_comment,
            cover: t.cover,
        }
    }
}

impl TargetSpec {
    /// Account and preset: what tells two targets' posts apart (a run's posts and a
    /// review's caption edits are keyed by them, so a second target with the same two would
    /// be no second post).
    pub fn same_destination(&self, other: &TargetSpec) -> bool {
        self.account == other.account && self.preset == other.preset
    }

    /// The caption template this target renders.
    pub fn caption_template<'a>(&'a self, caption: &'a CaptionSpec) -> &'a str {
        self.caption.as_deref().unwrap_or(&caption.template)
    }

    /// The alt text template, if any; stories take none (validation refuses one given on a
    /// story target, and the campaign's is not used for them).
    pub fn alt_text_template<'a>(&'a self, caption: &'a CaptionSpec) -> Option<&'a str> {
        if self.format == PostFormat::Story {
            return None;
        }
        self.alt_text.as_deref().or(caption.alt_text.as_deref())
    }

    /// The first comment template, if any; stories take no comments (as for alt text).
    pub fn first_comment_template<'a>(&'a self, caption: &'a CaptionSpec) -> Option<&'a str> {
        if self.format == PostFormat::Story {
            return None;
        }
        self.first_comment
            .as_deref()
            .or(caption.first_comment.as_deref())
    }
}

/// How an image is fitted into a preset's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Fill the frame, cropping what overflows.
    Cover,
    /// Fit inside the frame, padding the rest.
    Contain,
    /// Keep the generated size (only valid if the preset accepts it).
    Native,
}

impl Fit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cover => "cover",
            Self::Contain => "contain",
            Self::Native => "native",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Cover, Self::Contain, Self::Native]
            .into_iter()
            .find(|f| f.as_str() == name)
    }
}
