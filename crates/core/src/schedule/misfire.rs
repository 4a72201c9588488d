//! What to do with occurrences that came due while nothing was running.
//!
//! RELIABILITY.md B.3: catch-up is an explicit per-campaign policy, never a silent burst.
//! Every due occurrence gets a decision, so the scheduler can record `Missed` runs
//! under their fire key too and never reconsider them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::campaign::duration::{format_duration, parse_duration};

/// A campaign's catch-up rule for occurrences older than the scheduler's grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum MisfirePolicy {
    /// Late occurrences are recorded as missed. (`misfire = "skip"`, the default.)
    Skip,
    /// At most one late run: the most recent late occurrence fires, unless an on-time
    /// occurrence fires in the same batch (it already is the catch-up). (`"once"`)
    Once,
    /// Each late occurrence not older than `window` fires; older ones are missed.
    /// (`misfire = "each"`, `misfire_window = "6h"`)
    #[serde(rename = "each")]
    EachWithinWindow {
        #[serde(serialize_with = "human", deserialize_with = "from_human")]
        window: Duration,
    },
}

impl Default for MisfirePolicy {
    /// Skip: publishing late is a choice the campaign has to make.
    fn default() -> Self {
        Self::Skip
    }
}

fn human<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

fn from_human<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// The fate of one due occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FireDecision {
    Fire,
    Missed,
}

/// Decides every due occurrence (those `<= now`), earliest first.
///
/// An occurrence is on time when `now - occurrence <= grace` and always fires; a late
/// one is decided by `policy`. Occurrences after `now` are not due and are left out.
/// Duplicates in `occurrences` are decided once.
pub fn plan_fires(
    occurrences: &[DateTime<Utc>],
    now: DateTime<Utc>,
    grace: Duration,
    policy: &MisfirePolicy,
) -> Vec<(DateTime<Utc>, FireDecision)> {
    let mut due: Vec<DateTime<Utc>> = occurrences.iter().copied().filter(|o| *o <= now).collect();
    due.sort();
    due.dedup();
    let late_by = |o: DateTime<Utc>| (now - o).to_std().unwrap_or_default();
    let on_time = |o: DateTime<Utc>| late_by(o) <= grace;
    let any_on_time = due.iter().any(|o| on_time(*o));
    let latest_late = due.iter().rev().find(|o| !on_time(**o)).copied();

    due.iter()
        .map(|&o| {
            let decision = if on_time(o) {
                FireDecision::Fire
            } else {
                match policy {
                    MisfirePolicy::Skip => FireDecision::Missed,
                    MisfirePolicy::Once if !any_on_time && Some(o) == latest_late => {
                        FireDecision::Fire
                    }
                    MisfirePolicy::Once => FireDecision::Missed,
                    MisfirePolicy::EachWithinWindow { window } if late_by(o) <= *window => {
                        FireDecision::Fire
                    }
                    MisfirePolicy::EachWithinWindow { .. } => FireDecision::Missed,
                }
            };
            (o, decision)
        })
        .collect()
}
