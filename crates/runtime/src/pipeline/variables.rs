//! The variables a run's templates see, built by core's `template_context` from the stored
//! run: the campaign's `[variables]`, then the trigger's (which win), then `run`; and each
//! target's texts, which see `target` too.

use chrono::DateTime;
use pressroom_core::campaign::{
    CampaignSpec, RunFacts, TargetTexts, render_target_texts, template_context,
};
use pressroom_store::entity::run;

pub(crate) fn for_run(spec: &CampaignSpec, run: &run::Model) -> serde_json::Value {
    let trigger_vars: serde_json::Value =
        serde_json::from_str(&run.variables).unwrap_or(serde_json::Value::Null);
    let facts = RunFacts {
        id: &run.id,
        trigger: &run.trigger,
        fire_key: &run.fire_key,
        fire_at: DateTime::from_timestamp_millis(run.fire_at).unwrap_or_default(),
    };
    template_context(spec, &facts, &trigger_vars)
}

/// Target `index`'s caption, alt text and first comment (core's renderer, the one previews
/// and campaign validation use), or every template problem in one line.
pub(crate) fn target_texts(
    spec: &CampaignSpec,
    index: usize,
    platform: &str,
    run_context: &serde_json::Value,
) -> Result<TargetTexts, String> {
    render_target_texts(spec, index, platform, run_context).map_err(|problems| {
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}
