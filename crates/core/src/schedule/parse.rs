//! Turning campaign text (cron expression, zone name, date-time) into typed values.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use super::ScheduleError;

/// Parses a cron expression of 5 fields (`min hour dom month dow`) or 6 (`sec min hour
/// dom month dow`); `@daily`-style nicknames are accepted. Day-of-month and
/// day-of-week combine with OR, as in Vixie cron.
///
/// # Errors
/// [`ScheduleError::InvalidCron`] with croner's reason, or when the expression can
/// never fire (e.g. `0 0 30 2 *`).
pub fn parse_cron(expr: &str) -> Result<Cron, ScheduleError> {
    let invalid = |reason: String| ScheduleError::InvalidCron {
        expr: expr.to_owned(),
        reason,
    };
    let trimmed = expr.trim();
    let fields = trimmed.split_whitespace().count();
    if !trimmed.starts_with('@') && !(5..=6).contains(&fields) {
        return Err(invalid(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first), found {fields}"
        )));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(trimmed)
        .map_err(|e| invalid(e.to_string()))?;
    // A pattern such as "0 0 30 2 *" parses but never matches; catch it now rather
    // than at the first tick. Searching in UTC keeps the check independent of zones.
    let reference = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single();
    if let Some(reference) = reference
        && cron.find_next_occurrence(&reference, false).is_err()
    {
        return Err(invalid("the expression never matches a real date".into()));
    }
    Ok(cron)
}

/// Parses an IANA zone name such as `Europe/Paris` (`UTC` is accepted).
///
/// # Errors
/// [`ScheduleError::UnknownTimeZone`].
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>()
        .map_err(|_| ScheduleError::UnknownTimeZone(name.to_owned()))
}

/// Parses a one-shot date-time: RFC 3339 with an offset (`2026-04-01T09:00:00+02:00`,
/// `…Z`), or a local date-time (`2026-04-01T09:00:00`, `2026-04-01 09:00`) read in `tz`.
/// Sub-seconds are dropped so that the instant and its fire key agree.
///
/// # Errors
/// [`ScheduleError::InvalidDateTime`]; a local time needs a zone
/// ([`ScheduleError::MissingTimeZone`]) and must exist exactly once in it.
pub fn parse_at(text: &str, tz: Option<Tz>) -> Result<DateTime<Utc>, ScheduleError> {
    let text = text.trim();
    let instant = if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        with_offset.with_timezone(&Utc)
    } else {
        let naive = [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .ok_or_else(|| ScheduleError::InvalidDateTime(text.to_owned()))?;
        let tz = tz.ok_or(ScheduleError::MissingTimeZone)?;
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(dt) => dt.with_timezone(&Utc),
            LocalResult::None => {
                return Err(ScheduleError::NonexistentLocalTime {
                    local: naive.to_string(),
                    tz: tz.name().to_owned(),
                });
            }
            LocalResult::Ambiguous(_, _) => {
                return Err(ScheduleError::AmbiguousLocalTime {
                    local: naive.to_string(),
                    tz: tz.name().to_owned(),
                });
            }
        }
    };
    Utc.timestamp_opt(instant.timestamp(), 0)
        .single()
        .ok_or_else(|| ScheduleError::InvalidDateTime(text.to_owned()))
}
