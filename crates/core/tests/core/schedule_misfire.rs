//! Misfire policies after a simulated 3-hour downtime.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use pressroom_core::campaign::{MisfirePolicy, ScheduleSpec, Trigger};
use pressroom_core::schedule::{FireDecision, FireDecision::*, Schedule, plan_fires};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
}

const GRACE: StdDuration = StdDuration::from_secs(5 * 60);

/// An hourly campaign; the daemon's last tick was 08:59:30, it comes back at `now`.
fn after_downtime(now: &str, policy: MisfirePolicy) -> Vec<(String, FireDecision)> {
    let schedule = Schedule::from_spec(&ScheduleSpec {
        trigger: Trigger::Cron {
            expr: "0 * * * *".into(),
        },
        timezone: Some("Europe/Paris".into()),
        misfire: policy,
    })
    .expect("valid");
    let now = utc(now);
    let due = schedule.occurrences(utc("2026-06-01T08:59:30Z"), now, 100);
    plan_fires(&due, now, GRACE, &policy)
        .into_iter()
        .map(|(at, d)| (at.format("%H:%M").to_string(), d))
        .collect()
}

fn expect(pairs: &[(&str, FireDecision)]) -> Vec<(String, FireDecision)> {
    pairs.iter().map(|(t, d)| ((*t).to_owned(), *d)).collect()
}

#[test]
fn skip_marks_every_late_fire_missed() {
    // Back at 12:10: 09:00, 10:00, 11:00 and 12:00 are all later than the 5 min grace.
    let got = after_downtime("2026-06-01T12:10:00Z", MisfirePolicy::Skip);
    assert_eq!(
        got,
        expect(&[
            ("09:00", Missed),
            ("10:00", Missed),
            ("11:00", Missed),
            ("12:00", Missed)
        ])
    );
}

#[test]
fn once_fires_only_the_latest_late_occurrence() {
    let got = after_downtime("2026-06-01T12:10:00Z", MisfirePolicy::Once);
    assert_eq!(
        got,
        expect(&[
            ("09:00", Missed),
            ("10:00", Missed),
            ("11:00", Missed),
            ("12:00", Fire)
        ])
    );
}

#[test]
fn once_adds_no_late_run_when_an_on_time_fire_is_due() {
    // Back at 12:02: 12:00 is within grace and fires on time; it is the catch-up.
    let got = after_downtime("2026-06-01T12:02:00Z", MisfirePolicy::Once);
    assert_eq!(
        got,
        expect(&[
            ("09:00", Missed),
            ("10:00", Missed),
            ("11:00", Missed),
            ("12:00", Fire)
        ])
    );
    let skip = after_downtime("2026-06-01T12:02:00Z", MisfirePolicy::Skip);
    assert_eq!(
        skip.last(),
        Some(&("12:00".to_owned(), Fire)),
        "on time fires under any policy"
    );
}

#[test]
fn each_fires_late_occurrences_within_the_window() {
    let window = StdDuration::from_secs(90 * 60);
    let got = after_downtime(
        "2026-06-01T12:10:00Z",
        MisfirePolicy::EachWithinWindow { window },
    );
    // 11:00 is 70 min late, 12:00 10 min: fire. 10:00 (130 min) and 09:00: missed.
    assert_eq!(
        got,
        expect(&[
            ("09:00", Missed),
            ("10:00", Missed),
            ("11:00", Fire),
            ("12:00", Fire)
        ])
    );
}

#[test]
fn window_and_grace_boundaries_are_inclusive() {
    let at = utc("2026-06-01T09:00:00Z");
    let window = StdDuration::from_secs(3600);
    let policy = MisfirePolicy::EachWithinWindow { window };
    assert_eq!(
        plan_fires(&[at], utc("2026-06-01T10:00:00Z"), GRACE, &policy),
        vec![(at, Fire)]
    );
    assert_eq!(
        plan_fires(&[at], utc("2026-06-01T10:00:01Z"), GRACE, &policy),
        vec![(at, Missed)]
    );
    let skip = MisfirePolicy::Skip;
    assert_eq!(
        plan_fires(&[at], utc("2026-06-01T09:05:00Z"), GRACE, &skip),
        vec![(at, Fire)]
    );
    assert_eq!(
        plan_fires(&[at], utc("2026-06-01T09:05:01Z"), GRACE, &skip),
        vec![(at, Missed)]
    );
}

#[test]
fn future_and_duplicate_occurrences_are_not_planned_twice() {
    let a = utc("2026-06-01T09:00:00Z");
    let b = utc("2026-06-01T10:00:00Z");
    let future = utc("2026-06-01T11:00:00Z");
    let got = plan_fires(
        &[b, a, future, a],
        utc("2026-06-01T10:01:00Z"),
        GRACE,
        &MisfirePolicy::Once,
    );
    assert_eq!(got, vec![(a, Missed), (b, Fire)]);
    assert_eq!(plan_fires(&[], b, GRACE, &MisfirePolicy::Once), vec![]);
}
