//! Cron occurrences in an IANA zone, exact across DST changes.
//!
//! croner matches local wall-clock times; its own iterator can return the instants of a
//! fall-back overlap out of order. So matching is done on a zone-free clock (croner
//! over `Utc`, used as "naive local time"), and each local match is then mapped to real
//! instants with the rules in the module docs of `schedule`; results are sorted and
//! deduplicated before they leave this file.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::{Cron, JobType};

/// More than any zone's DST shift (at most 2 h): local times this far outside the
/// window cannot map inside it.
const SLACK_HOURS: i64 = 3;

/// How far local matches must be looked at beyond a window edge at `t`: the full slack
/// near a DST change, nothing otherwise (so a 6-field cron does not scan hours of
/// seconds on ordinary days).
fn slack_at(tz: Tz, t: DateTime<Utc>) -> Duration {
    let slack = Duration::hours(SLACK_HOURS);
    let offset = |at: DateTime<Utc>| tz.offset_from_utc_datetime(&at.naive_utc()).fix();
    let here = offset(t);
    if offset(t - slack) == here && offset(t + slack) == here {
        Duration::zero()
    } else {
        slack
    }
}

pub(super) fn occurrences(
    cron: &Cron,
    tz: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    let fixed_time = cron.determine_job_type() == JobType::FixedTime;
    // Whole seconds: croner steps from the cursor and would keep its fraction.
    let after_floor = Utc
        .timestamp_opt(after.timestamp(), 0)
        .single()
        .unwrap_or(after);
    let start = after_floor.with_timezone(&tz).naive_local() - slack_at(tz, after_floor);
    let mut stop = until.with_timezone(&tz).naive_local() + slack_at(tz, until);
    let mut cursor = Utc.from_utc_datetime(&start);
    let mut found = BTreeSet::new();
    while let Ok(next) = cron.find_next_occurrence(&cursor, false) {
        let local = next.naive_utc();
        if local > stop {
            break;
        }
        for instant in instants_of(tz, local, fixed_time) {
            if instant > after && instant <= until {
                found.insert(instant);
            }
        }
        // Later local times map to later instants once past the slack, so with
        // `limit` results in hand only a slack's worth more can still matter.
        if found.len() >= limit {
            stop = stop.min(local + Duration::hours(SLACK_HOURS));
        }
        cursor = next;
    }
    found.into_iter().take(limit).collect()
}

/// The real instants at which the local time `local` fires.
fn instants_of(tz: Tz, local: NaiveDateTime, fixed_time: bool) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(dt) => vec![dt.with_timezone(&Utc)],
        LocalResult::Ambiguous(first, second) => {
            if fixed_time {
                vec![first.with_timezone(&Utc)]
            } else {
                vec![first.with_timezone(&Utc), second.with_timezone(&Utc)]
            }
        }
        LocalResult::None if fixed_time => first_after_gap(tz, local).into_iter().collect(),
        LocalResult::None => Vec::new(),
    }
}

/// First existing instant after the DST gap that swallowed `local`. Zone transitions
/// fall on whole minutes, so stepping by minutes is exact.
fn first_after_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let mut probe = local.with_second(0)?.with_nanosecond(0)?;
    for _ in 0..(SLACK_HOURS * 60) {
        probe += Duration::minutes(1);
        if let Some(dt) = tz.from_local_datetime(&probe).earliest() {
            return Some(dt.with_timezone(&Utc));
        }
    }
    None
}
