//! Schedules: when a campaign fires, computed as pure functions of time.
//!
//! The scheduler crate asks "which occurrences lie in (last tick, now]?" with the
//! database clock, inserts one run per [`fire_key`], and lets [`plan_fires`] apply the
//! campaign's misfire policy. Nothing here reads a clock, so every rule — DST included —
//! is tested with fixed instants.
//!
//! DST policy, in the campaign's IANA zone (the same rules croner applies):
//! - A *fixed-time* job (one second, one minute, one hour, e.g. `30 2 * * *`) whose
//!   local time does not exist on a spring-forward day fires once, at the first valid
//!   instant after the gap (02:30 in Europe/Paris on 2026-03-29 fires at 03:00 CEST).
//! - On a fall-back day a fixed-time job fires once, at the first (earlier) of the
//!   two instants that show that local time.
//! - An *interval* job (any wildcard, range, list or step in second/minute/hour, e.g.
//!   `0 * * * *`) fires at every real instant whose local time matches: the local
//!   times inside a gap do not exist and are skipped, the repeated hour of an overlap
//!   fires twice — an hourly job fires once per real hour.

mod cron;
mod misfire;
mod parse;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use thiserror::Error;

use crate::campaign::{ScheduleSpec, Trigger};

pub use misfire::{FireDecision, MisfirePolicy, plan_fires};
pub use parse::{parse_at, parse_cron, parse_timezone};

/// A campaign's schedule, ready to compute occurrences.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Boxed: a parsed pattern is ~300 bytes and most schedules are small.
    Cron {
        expr: Box<croner::Cron>,
        tz: Tz,
    },
    Once {
        at: DateTime<Utc>,
    },
    WebhookOnly,
}

/// Why a schedule could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ScheduleError {
    #[error("invalid cron expression {expr:?}: {reason}")]
    InvalidCron { expr: String, reason: String },
    #[error("unknown time zone {0:?} (expected an IANA name such as \"Europe/Paris\")")]
    UnknownTimeZone(String),
    #[error("a cron schedule needs a `timezone` (an IANA name such as \"Europe/Paris\")")]
    MissingTimeZone,
    #[error(
        "invalid date-time {0:?}: expected RFC 3339 (\"2026-04-01T09:00:00+02:00\") or a local \"2026-04-01T09:00:00\" with `timezone`"
    )]
    InvalidDateTime(String),
    #[error("local time {local} does not exist in {tz} (skipped by a DST change)")]
    NonexistentLocalTime { local: String, tz: String },
    #[error("local time {local} happens twice in {tz} (DST change); give an explicit offset")]
    AmbiguousLocalTime { local: String, tz: String },
}

impl Schedule {
    /// Builds the runtime schedule from a validated spec.
    ///
    /// # Errors
    /// Only if the spec was built by hand with a bad cron or zone; a spec from
    /// `parse_campaign` always succeeds.
    pub fn from_spec(spec: &ScheduleSpec) -> Result<Self, ScheduleError> {
        match &spec.trigger {
            Trigger::Cron { expr } => {
                let zone = spec
                    .timezone
                    .as_deref()
                    .ok_or(ScheduleError::MissingTimeZone)?;
                Ok(Self::Cron {
                    expr: Box::new(parse_cron(expr)?),
                    tz: parse_timezone(zone)?,
                })
            }
            Trigger::At { at } => Ok(Self::Once { at: *at }),
            Trigger::WebhookOnly => Ok(Self::WebhookOnly),
        }
    }

    /// Occurrences in `(after_exclusive, until_inclusive]`, earliest first, at most `limit`.
    ///
    /// The half-open window lets the scheduler pass its last tick as `after_exclusive`
    /// and the database's `now()` as `until_inclusive` without seeing a fire twice or
    /// losing one at the boundary. Results are whole seconds in UTC.
    pub fn occurrences(
        &self,
        after_exclusive: DateTime<Utc>,
        until_inclusive: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        if limit == 0 || until_inclusive <= after_exclusive {
            return Vec::new();
        }
        match self {
            Self::Cron { expr, tz } => {
                cron::occurrences(expr, *tz, after_exclusive, until_inclusive, limit)
            }
            Self::Once { at } if *at > after_exclusive && *at <= until_inclusive => vec![*at],
            Self::Once { .. } | Self::WebhookOnly => Vec::new(),
        }
    }

    /// The first occurrence strictly after `after` (for "next run" displays), looking
    /// at most about a year ahead.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let horizon = after + chrono::Duration::days(400);
        self.occurrences(after, horizon, 1).into_iter().next()
    }
}

/// A short description for logs and `runs list`: ``cron `0 9 * * MON-FRI` in Europe/Paris``,
/// `once at 2026-04-01T14:00:00Z`, `webhook only`.
impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cron { expr, tz } => write!(f, "cron `{}` in {}", expr.as_str(), tz.name()),
            Self::Once { at } => write!(f, "once at {}", fire_key(*at)),
            Self::WebhookOnly => f.write_str("webhook only"),
        }
    }
}

/// The stable key of a fire: its instant in UTC, whole seconds, RFC 3339
/// (`2026-03-29T07:00:00Z`). `UNIQUE(campaign_id, fire_key)` makes each occurrence fire
/// once, so the key must not depend on the instance, its zone or sub-second timing.
pub fn fire_key(at: DateTime<Utc>) -> String {
    let whole = Utc.timestamp_opt(at.timestamp(), 0).single().unwrap_or(at);
    whole.to_rfc3339_opts(SecondsFormat::Secs, true)
}
