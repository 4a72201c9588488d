//! Cron occurrences across DST changes, in the campaign's IANA zone.
//!
//! Policy under test (see `pressroom_core::schedule` docs): a fixed-time job in a
//! spring-forward gap fires once at the first valid instant after the gap; a fixed-time
//! job in a fall-back overlap fires once, at the earlier instant; interval jobs fire at
//! every real instant that matches.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use pressroom_core::campaign::{MisfirePolicy, ScheduleSpec, Trigger};
use pressroom_core::schedule::Schedule;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
}

fn cron(expr: &str, zone: &str) -> Schedule {
    let spec = ScheduleSpec {
        trigger: Trigger::Cron { expr: expr.into() },
        timezone: Some(zone.into()),
        misfire: MisfirePolicy::Skip,
    };
    Schedule::from_spec(&spec).unwrap_or_else(|e| panic!("{expr} in {zone}: {e}"))
}

fn keys(times: &[DateTime<Utc>]) -> Vec<String> {
    times
        .iter()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect()
}

/// Fires seen by a scheduler that ticks every `step` from `from` to `to`, asking for
/// `(last tick, now]` each time — the way the scheduler crate calls us.
fn ticked(
    schedule: &Schedule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: Duration,
) -> Vec<DateTime<Utc>> {
    let mut fires = Vec::new();
    let mut last = from;
    while last < to {
        let now = (last + step).min(to);
        fires.extend(schedule.occurrences(last, now, 1000));
        last = now;
    }
    fires
}

#[test]
fn paris_spring_forward_daily_0230_fires_once_at_0300() {
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    let s = cron("30 2 * * *", "Europe/Paris");
    let got = s.occurrences(utc("2026-03-27T12:00:00Z"), utc("2026-03-30T12:00:00Z"), 10);
    assert_eq!(
        keys(&got),
        [
            "2026-03-28T01:30:00Z", // 02:30 CET
            "2026-03-29T01:00:00Z", // gap: first valid instant, 03:00 CEST
            "2026-03-30T00:30:00Z", // 02:30 CEST
        ]
    );
}

#[test]
fn new_york_spring_forward_daily_0230_fires_once_at_0300() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    let s = cron("30 2 * * *", "America/New_York");
    let got = s.occurrences(utc("2026-03-07T00:00:00Z"), utc("2026-03-10T00:00:00Z"), 10);
    assert_eq!(
        keys(&got),
        [
            "2026-03-07T07:30:00Z", // 02:30 EST
            "2026-03-08T07:00:00Z", // 03:00 EDT
            "2026-03-09T06:30:00Z", // 02:30 EDT
        ]
    );
}

#[test]
fn new_york_fall_back_daily_0130_fires_once() {
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    let s = cron("30 1 * * *", "America/New_York");
    let got = s.occurrences(utc("2026-10-31T00:00:00Z"), utc("2026-11-03T00:00:00Z"), 10);
    assert_eq!(
        keys(&got),
        [
            "2026-10-31T05:30:00Z", // 01:30 EDT
            "2026-11-01T05:30:00Z", // first 01:30 (EDT) only
            "2026-11-02T06:30:00Z", // 01:30 EST
        ]
    );
}

#[test]
fn paris_fall_back_daily_0230_fires_once() {
    // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    let s = cron("30 2 * * *", "Europe/Paris");
    let got = s.occurrences(utc("2026-10-24T00:00:00Z"), utc("2026-10-27T00:00:00Z"), 10);
    assert_eq!(
        keys(&got),
        [
            "2026-10-24T00:30:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z"
        ]
    );
}

#[test]
fn fixed_job_does_not_refire_when_asked_from_inside_the_overlap() {
    // The scheduler's last tick can fall in the second pass of the repeated hour
    // (02:10 CET = 01:10Z); the 02:30 CEST fire (00:30Z) is already behind it.
    let s = cron("30 2 * * *", "Europe/Paris");
    let got = s.occurrences(utc("2026-10-25T01:10:00Z"), utc("2026-10-26T12:00:00Z"), 10);
    assert_eq!(keys(&got), ["2026-10-26T01:30:00Z"]);
}

fn assert_hourly(got: &[DateTime<Utc>]) {
    for pair in got.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::hours(1), "{:?}", keys(got));
    }
}

#[test]
fn hourly_job_fires_each_real_hour_on_fall_back_day() {
    let tz: Tz = "America/New_York".parse().expect("zone");
    let s = cron("0 * * * *", "America/New_York");
    // The local day 2026-11-01 lasts 25 hours.
    let start = tz
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("midnight")
        .with_timezone(&Utc);
    let end = tz
        .with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .expect("midnight")
        .with_timezone(&Utc);
    let got = s.occurrences(
        start - Duration::seconds(1),
        end - Duration::seconds(1),
        100,
    );
    assert_eq!(got.len(), 25, "{:?}", keys(&got));
    assert_hourly(&got);
    assert!(got.contains(&utc("2026-11-01T05:00:00Z")), "01:00 EDT");
    assert!(got.contains(&utc("2026-11-01T06:00:00Z")), "01:00 EST");
}

#[test]
fn hourly_job_fires_each_real_hour_on_spring_forward_day() {
    let tz: Tz = "Europe/Paris".parse().expect("zone");
    let s = cron("0 * * * *", "Europe/Paris");
    // The local day 2026-03-29 lasts 23 hours; 02:00 does not exist and is not invented.
    let start = tz
        .with_ymd_and_hms(2026, 3, 29, 0, 0, 0)
        .single()
        .expect("midnight")
        .with_timezone(&Utc);
    let end = tz
        .with_ymd_and_hms(2026, 3, 30, 0, 0, 0)
        .single()
        .expect("midnight")
        .with_timezone(&Utc);
    let got = s.occurrences(
        start - Duration::seconds(1),
        end - Duration::seconds(1),
        100,
    );
    assert_eq!(got.len(), 23, "{:?}", keys(&got));
    assert_hourly(&got);
}

#[test]
fn quarter_hourly_job_stays_ordered_through_the_overlap() {
    let s = cron("*/15 * * * *", "Europe/Paris");
    let got = s.occurrences(
        utc("2026-10-24T23:00:00Z"),
        utc("2026-10-25T03:00:00Z"),
        100,
    );
    assert_eq!(got.len(), 16);
    for pair in got.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::minutes(15), "{:?}", keys(&got));
    }
}

#[test]
fn minute_ticks_see_every_fire_exactly_once_across_dst_days() {
    for (expr, zone, from, to) in [
        (
            "30 2 * * *",
            "Europe/Paris",
            "2026-03-28T00:00:00Z",
            "2026-03-31T00:00:00Z",
        ),
        (
            "30 2 * * *",
            "Europe/Paris",
            "2026-10-24T00:00:00Z",
            "2026-10-27T00:00:00Z",
        ),
        (
            "30 1 * * *",
            "America/New_York",
            "2026-10-31T00:00:00Z",
            "2026-11-03T00:00:00Z",
        ),
        (
            "0 * * * *",
            "America/New_York",
            "2026-11-01T00:00:00Z",
            "2026-11-02T12:00:00Z",
        ),
        (
            "*/20 * * * *",
            "America/New_York",
            "2026-03-08T04:00:00Z",
            "2026-03-08T10:00:00Z",
        ),
    ] {
        let s = cron(expr, zone);
        let (from, to) = (utc(from), utc(to));
        let bulk = s.occurrences(from, to, 10_000);
        let ticks = ticked(&s, from, to, Duration::minutes(1));
        assert_eq!(keys(&ticks), keys(&bulk), "{expr} in {zone}");
        // Ticks that are not aligned to minutes, and long ones, agree too.
        let odd = ticked(&s, from, to, Duration::seconds(97));
        assert_eq!(keys(&odd), keys(&bulk), "{expr} in {zone} with 97 s ticks");
        let long = ticked(&s, from, to, Duration::hours(5));
        assert_eq!(keys(&long), keys(&bulk), "{expr} in {zone} with 5 h ticks");
    }
}

#[test]
fn six_field_cron_has_seconds() {
    let s = cron("*/20 * * * * *", "UTC");
    let got = s.occurrences(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T00:01:00Z"), 10);
    assert_eq!(
        keys(&got),
        [
            "2026-01-01T00:00:20Z",
            "2026-01-01T00:00:40Z",
            "2026-01-01T00:01:00Z"
        ]
    );
    let s = cron("30 0 9 * * *", "Europe/Paris");
    let got = s.occurrences(utc("2026-07-01T00:00:00Z"), utc("2026-07-02T00:00:00Z"), 10);
    assert_eq!(keys(&got), ["2026-07-01T07:00:30Z"]);
}

#[test]
fn window_is_half_open_and_limit_is_respected() {
    let s = cron("0 9 * * *", "UTC");
    let nine = utc("2026-05-01T09:00:00Z");
    assert_eq!(
        s.occurrences(nine, nine + Duration::hours(1), 10),
        Vec::<DateTime<Utc>>::new()
    );
    assert_eq!(
        s.occurrences(nine - Duration::hours(1), nine, 10),
        vec![nine]
    );
    let got = s.occurrences(nine - Duration::seconds(1), nine + Duration::days(30), 3);
    assert_eq!(
        keys(&got),
        [
            "2026-05-01T09:00:00Z",
            "2026-05-02T09:00:00Z",
            "2026-05-03T09:00:00Z"
        ]
    );
    assert_eq!(
        s.occurrences(nine, nine - Duration::hours(1), 10),
        Vec::<DateTime<Utc>>::new()
    );
    assert_eq!(
        s.occurrences(nine - Duration::hours(1), nine, 0),
        Vec::<DateTime<Utc>>::new()
    );
    assert_eq!(s.next_after(nine), Some(utc("2026-05-02T09:00:00Z")));
}

#[test]
fn weekday_names_and_zone_offsets_apply() {
    // 2026-03-30 is a Monday; 09:00 CEST = 07:00Z.
    let s = cron("0 9 * * MON-FRI", "Europe/Paris");
    let got = s.occurrences(utc("2026-03-28T00:00:00Z"), utc("2026-04-04T00:00:00Z"), 10);
    assert_eq!(
        keys(&got),
        [
            "2026-03-30T07:00:00Z",
            "2026-03-31T07:00:00Z",
            "2026-04-01T07:00:00Z",
            "2026-04-02T07:00:00Z",
            "2026-04-03T07:00:00Z",
        ]
    );
}

#[test]
fn sub_second_window_edges_do_not_lose_or_invent_fires() {
    let s = cron("0 9 * * *", "Europe/Paris");
    let nine = utc("2026-05-01T07:00:00Z");
    let got = s.occurrences(
        utc("2026-05-01T06:59:59.500Z"),
        utc("2026-05-01T07:00:00.200Z"),
        10,
    );
    assert_eq!(got, vec![nine]);
    let got = s.occurrences(
        utc("2026-05-01T07:00:00.200Z"),
        utc("2026-05-02T07:00:00.000Z"),
        10,
    );
    assert_eq!(keys(&got), ["2026-05-02T07:00:00Z"]);
    let every_second = cron("* * * * * *", "UTC");
    let got = every_second.occurrences(
        utc("2026-05-01T07:00:00.500Z"),
        utc("2026-05-01T07:00:03.500Z"),
        10,
    );
    assert_eq!(
        keys(&got),
        [
            "2026-05-01T07:00:01Z",
            "2026-05-01T07:00:02Z",
            "2026-05-01T07:00:03Z"
        ]
    );
}

#[test]
fn every_second_schedules_stay_cheap_and_exact_across_dst() {
    let s = cron("* * * * * *", "Europe/Paris");
    // The second after 01:59:59 UTC+1 is 03:00:00 UTC+2 on the gap day.
    let got = s.occurrences(utc("2026-03-29T00:59:58Z"), utc("2026-03-29T01:00:01Z"), 10);
    assert_eq!(
        keys(&got),
        [
            "2026-03-29T00:59:59Z",
            "2026-03-29T01:00:00Z",
            "2026-03-29T01:00:01Z"
        ]
    );
    // A day of seconds, asked for the first five only.
    let got = s.occurrences(utc("2026-10-25T00:00:00Z"), utc("2026-10-26T00:00:00Z"), 5);
    assert_eq!(got.len(), 5);
    assert_eq!(keys(&got)[0], "2026-10-25T00:00:01Z");
}
