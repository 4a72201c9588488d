//! The variables a run's templates see, built by core's `template_context` from the stored
//! run: the campaign's `[variables]`, then the trigger's (which win), then `run`.

use chrono::DateTime;
use pressroom_core::campaign::{CampaignSpec, RunFacts, template_context};
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
