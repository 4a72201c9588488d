//! Properties of cron occurrences over arbitrary expressions, zones and windows:
//! no panics, results sorted, unique, inside the window, and the same whether asked in
//! one call or in consecutive slices (what a ticking scheduler does).

use chrono::{DateTime, Duration, TimeZone, Utc};
use pressroom_core::campaign::{MisfirePolicy, ScheduleSpec, Trigger};
use pressroom_core::schedule::{Schedule, parse_cron};
use proptest::prelude::*;

const ZONES: &[&str] = &[
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe", // 30-minute DST shift
    "Asia/Kolkata",
    "UTC",
];

fn field(max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        (0..max).prop_map(|n| n.to_string()),
        (1..max.max(2)).prop_map(|n| format!("*/{n}")),
        (0..max, 0..max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (0..max, 0..max).prop_map(|(a, b)| format!("{a},{b}")),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    (
        prop::option::of(field(60)),
        field(60),
        field(24),
        prop_oneof![Just("*".to_owned()), (1u32..29).prop_map(|d| d.to_string())],
        prop_oneof![Just("*".to_owned()), (1u32..13).prop_map(|m| m.to_string())],
        prop_oneof![Just("*".to_owned()), (0u32..7).prop_map(|d| d.to_string())],
    )
        .prop_map(|(sec, min, hour, dom, month, dow)| match sec {
            Some(sec) => format!("{sec} {min} {hour} {dom} {month} {dow}"),
            None => format!("{min} {hour} {dom} {month} {dow}"),
        })
}

/// Windows around the 2026 DST changes of the zones above, and ordinary days.
fn start() -> impl Strategy<Value = DateTime<Utc>> {
    let anchors = [
        Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0),
        Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0),
        Utc.with_ymd_and_hms(2026, 4, 4, 6, 0, 0),
        Utc.with_ymd_and_hms(2026, 10, 24, 12, 0, 0),
        Utc.with_ymd_and_hms(2026, 10, 31, 12, 0, 0),
        Utc.with_ymd_and_hms(2026, 6, 15, 0, 0, 0),
    ]
    .map(|a| a.single().unwrap_or_default());
    (prop::sample::select(anchors.to_vec()), 0i64..86_400)
        .prop_map(|(anchor, s)| anchor + Duration::seconds(s))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn occurrences_are_sorted_unique_in_window_and_slice_consistent(
        expr in expression(),
        zone in prop::sample::select(ZONES.to_vec()),
        from in start(),
        hours in 1i64..40,
        cut in 0.0f64..1.0,
    ) {
        prop_assume!(parse_cron(&expr).is_ok());
        let schedule = Schedule::from_spec(&ScheduleSpec {
            trigger: Trigger::Cron { expr: expr.clone() },
            timezone: Some(zone.to_owned()),
            misfire: MisfirePolicy::Skip,
        }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let to = from + Duration::hours(hours);
        let all = schedule.occurrences(from, to, 200);
        for pair in all.windows(2) {
            prop_assert!(pair[0] < pair[1], "{expr} in {zone}: not strictly increasing");
        }
        prop_assert!(all.iter().all(|t| *t > from && *t <= to));
        if all.len() < 200 {
            // Two consecutive slices see exactly what one call sees.
            let mid = from + Duration::seconds(((to - from).num_seconds() as f64 * cut) as i64);
            let mut sliced = schedule.occurrences(from, mid, 200);
            sliced.extend(schedule.occurrences(mid, to, 200));
            prop_assert_eq!(&sliced, &all, "{} in {} split at {}", expr, zone, mid);
        }
    }
}
