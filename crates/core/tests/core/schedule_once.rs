//! One-shot and webhook-only schedules, date-time parsing, fire keys and bad inputs.

use chrono::{DateTime, Duration, Utc};
use pressroom_core::campaign::{MisfirePolicy, ScheduleSpec, Trigger};
use pressroom_core::schedule::{
    Schedule, ScheduleError, fire_key, parse_at, parse_cron, parse_timezone,
};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
}

#[test]
fn one_shot_fires_once_inside_its_window() {
    let at = utc("2026-04-01T14:00:00Z");
    let s = Schedule::from_spec(&ScheduleSpec {
        trigger: Trigger::At { at },
        timezone: None,
        misfire: MisfirePolicy::Skip,
    })
    .expect("valid");
    assert_eq!(s.occurrences(at - Duration::hours(1), at, 10), vec![at]);
    assert_eq!(
        s.occurrences(at, at + Duration::hours(1), 10),
        Vec::<DateTime<Utc>>::new()
    );
    assert_eq!(
        s.occurrences(at - Duration::hours(2), at - Duration::hours(1), 10),
        Vec::<DateTime<Utc>>::new()
    );
    assert_eq!(s.next_after(at - Duration::days(3)), Some(at));
    assert_eq!(s.next_after(at), None);
}

#[test]
fn webhook_only_never_fires_by_time() {
    let s = Schedule::from_spec(&ScheduleSpec {
        trigger: Trigger::WebhookOnly,
        timezone: None,
        misfire: MisfirePolicy::Skip,
    })
    .expect("valid");
    assert_eq!(
        s.occurrences(utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"), 10),
        Vec::<DateTime<Utc>>::new()
    );
}

#[test]
fn local_date_times_resolve_in_their_zone() {
    let paris = parse_timezone("Europe/Paris").ok();
    assert_eq!(
        parse_at("2026-07-14T10:00:00", paris),
        Ok(utc("2026-07-14T08:00:00Z"))
    );
    assert_eq!(
        parse_at("2026-01-14 10:00", paris),
        Ok(utc("2026-01-14T09:00:00Z"))
    );
    // An explicit offset wins over the zone, and needs none.
    assert_eq!(
        parse_at("2026-07-14T10:00:00-04:00", None),
        Ok(utc("2026-07-14T14:00:00Z"))
    );
    assert_eq!(
        parse_at("2026-07-14T10:00:00.750Z", None),
        Ok(utc("2026-07-14T10:00:00Z"))
    );
}

#[test]
fn local_date_times_that_dst_makes_impossible_are_refused() {
    let paris = parse_timezone("Europe/Paris").ok();
    assert!(matches!(
        parse_at("2026-03-29T02:30:00", paris),
        Err(ScheduleError::NonexistentLocalTime { .. })
    ));
    assert!(matches!(
        parse_at("2026-10-25T02:30:00", paris),
        Err(ScheduleError::AmbiguousLocalTime { .. })
    ));
    assert_eq!(
        parse_at("2026-07-14T10:00:00", None),
        Err(ScheduleError::MissingTimeZone)
    );
    assert!(matches!(
        parse_at("next tuesday", paris),
        Err(ScheduleError::InvalidDateTime(_))
    ));
}

#[test]
fn fire_keys_are_utc_whole_seconds() {
    assert_eq!(
        fire_key(utc("2026-03-29T09:00:00+02:00")),
        "2026-03-29T07:00:00Z"
    );
    assert_eq!(
        fire_key(utc("2026-03-29T07:00:00.999Z")),
        "2026-03-29T07:00:00Z"
    );
}

#[test]
fn bad_cron_expressions_are_refused_with_a_reason() {
    for bad in [
        "",
        "* * *",
        "0 0 1 1 * 2027 x",
        "61 * * * *",
        "0 25 * * *",
        "0 9 * * FUNDAY",
        "0 0 30 2 *",
    ] {
        match parse_cron(bad) {
            Err(ScheduleError::InvalidCron { expr, reason }) => {
                assert_eq!(expr, bad);
                assert!(!reason.is_empty());
            }
            other => panic!("{bad:?} should be refused, got {other:?}"),
        }
    }
    assert!(parse_cron("@daily").is_ok());
    assert!(parse_cron("0 9 * * MON-FRI").is_ok());
}

#[test]
fn unknown_zones_and_missing_zones_are_refused() {
    assert_eq!(
        parse_timezone("Mars/Olympus_Mons"),
        Err(ScheduleError::UnknownTimeZone("Mars/Olympus_Mons".into()))
    );
    assert!(parse_timezone("UTC").is_ok());
    let err = Schedule::from_spec(&ScheduleSpec {
        trigger: Trigger::Cron {
            expr: "0 9 * * *".into(),
        },
        timezone: None,
        misfire: MisfirePolicy::Skip,
    });
    assert!(matches!(err, Err(ScheduleError::MissingTimeZone)));
}

#[test]
fn schedules_describe_themselves() {
    let cron = Schedule::from_spec(&ScheduleSpec {
        trigger: Trigger::Cron {
            expr: "0 9 * * MON-FRI".into(),
        },
        timezone: Some("Europe/Paris".into()),
        misfire: MisfirePolicy::Skip,
    })
    .expect("valid");
    assert!(cron.to_string().starts_with("cron `"), "{cron}");
    assert!(cron.to_string().ends_with("` in Europe/Paris"), "{cron}");
    let once = Schedule::Once {
        at: utc("2026-04-01T14:00:00Z"),
    };
    assert_eq!(once.to_string(), "once at 2026-04-01T14:00:00Z");
    assert_eq!(Schedule::WebhookOnly.to_string(), "webhook only");
}
