//! Campaign definitions: TOML text in, a validated [`CampaignSpec`] (or every problem,
//! with file, line, column and field) out. No I/O: callers pass the text and file name.

mod approval_section;
mod captions;
mod context;
pub mod duration;
mod formats_check;
mod generation_section;
mod issue;
mod media_section;
pub use media_section::check_media_path;
mod parse;
mod reader;
mod references;
mod render;
mod schedule_section;
mod spec;
mod targets_section;
mod template_check;
mod variables_section;

pub use captions::{sample_caption, validate_captions};
pub use context::{
    RESERVED_VARIABLES, RunFacts, TargetFacts, template_context, with_image, with_target,
};
pub use formats_check::validate_target_features;
pub use issue::{SpecIssue, line_column};
pub use parse::{parse_campaign, parse_campaign_with};
pub use reader::TemplateFiles;
pub use references::{
    ValidationContext, validate_media_assets, validate_media_files, validate_references,
};
pub use render::{RenderedTexts, TargetTexts, TemplateProblem, render_target_texts, render_texts};
pub use spec::{
    ApprovalSpec, BACKENDS, CampaignSpec, CaptionSpec, Fit, GenerationSpec, MediaSpec,
    MisfirePolicy, NoiseScheduler, OnExpiry, ScheduleSpec, Seed, TargetSpec, Trigger,
};
