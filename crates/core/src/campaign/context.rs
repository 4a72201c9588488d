//! The variables a template sees when a run renders it.
//!
//! Layers, later wins: the campaign's `[variables]`, then the variables the trigger
//! brought (a webhook's or API call's payload), then the reserved `run` object:
//! `id`, `campaign`, `workspace`, `trigger`, `fire_key`, `fire_time` (RFC 3339 UTC,
//! also as `fired_at`), `local_time` (RFC 3339 in the campaign's zone, UTC when it has
//! none), `date` (local `YYYY-MM-DD`) and `weekday` (local, English, e.g. `Monday`); and
//! `image` (`index`, 0-based, and `count`): image 0 unless a prompt or alt text is rendered
//! for another image of the run.
//!
//! `parse_campaign` refuses a template that reads a variable `[variables]` does not
//! declare, so every variable a trigger may send needs a default there: a cron or
//! manual run then renders too.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::spec::CampaignSpec;

/// Names reserved for what the run provides; `[variables]` may not define them. `target`
/// (the post's `platform`, `account`, `preset` and `format`) is seen by the per-target
/// texts only: caption, alt text and first comment, not the prompts (one image serves every
/// target).
pub const RESERVED_VARIABLES: &[&str] = &["run", "target", "image"];

/// The context with `image` set to image `index` of `count` (0-based): each image's prompt
/// and alt text see their own, so the slides of a carousel can differ.
pub fn with_image(context: &Value, index: u32, count: u32) -> Value {
    let mut vars = context.clone();
    if let Value::Object(map) = &mut vars {
        map.insert("image".into(), json!({ "index": index, "count": count }));
    }
    vars
}

/// The `target` facts of one post.
#[derive(Debug, Clone, Copy)]
pub struct TargetFacts<'a> {
    /// The account's platform (`instagram`...), or the preset's when the account is unknown.
    pub platform: &'a str,
    pub account: &'a str,
    pub preset: &'a str,
    pub format: &'a str,
}

/// The run's context (from [`template_context`]) with `target` set, for one post's texts.
pub fn with_target(run_context: &Value, target: &TargetFacts<'_>) -> Value {
    let mut vars = run_context.clone();
    if let Value::Object(map) = &mut vars {
        map.insert(
            "target".into(),
            json!({
                "platform": target.platform,
                "account": target.account,
                "preset": target.preset,
                "format": target.format,
            }),
        );
    }
    vars
}

/// What the template context needs to know about the run.
#[derive(Debug, Clone, Copy)]
pub struct RunFacts<'a> {
    pub id: &'a str,
    /// How it fired: `cron`, `once`, `webhook`, `api`, `cli`.
    pub trigger: &'a str,
    /// The run's unique key (for cron fires, `schedule::fire_key(fire_at)`).
    pub fire_key: &'a str,
    pub fire_at: DateTime<Utc>,
}

/// Builds the template context for one run. `trigger_variables` is merged when it is a
/// JSON object (anything else is ignored); it cannot replace `run`.
pub fn template_context(
    spec: &CampaignSpec,
    run: &RunFacts<'_>,
    trigger_variables: &Value,
) -> Value {
    let mut vars: Map<String, Value> = spec
        .variables
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Value::Object(extra) = trigger_variables {
        for (k, v) in extra {
            vars.insert(k.clone(), v.clone());
        }
    }
    let tz: Tz = spec
        .schedule
        .timezone
        .as_deref()
        .and_then(|name| name.parse().ok())
        .unwrap_or(Tz::UTC);
    let local = run.fire_at.with_timezone(&tz);
    let fire_time = run.fire_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    vars.insert(
        "run".into(),
        json!({
            "id": run.id,
            "campaign": spec.name,
            "workspace": spec.workspace,
            "trigger": run.trigger,
            "fire_key": run.fire_key,
            "fire_time": fire_time,
            "fired_at": fire_time,
            "local_time": local.to_rfc3339_opts(SecondsFormat::Secs, true),
            "date": local.format("%Y-%m-%d").to_string(),
            "weekday": local.format("%A").to_string(),
        }),
    );
    vars.insert(
        "image".into(),
        json!({ "index": 0, "count": spec.image_count() }),
    );
    Value::Object(vars)
}
