//! Reading `[schedule]`: exactly one trigger, its zone, and the misfire policy.

use chrono_tz::Tz;
use toml::de::DeValue;

use super::duration::parse_duration;
use super::reader::{Reader, Sink};
use super::spec::{MisfirePolicy, ScheduleSpec, Trigger};
use crate::schedule::{ScheduleError, parse_at, parse_cron, parse_timezone};

const TRIGGERS: &str = "one of `cron`, `at` or `webhook = true`";

pub(crate) fn read_schedule(
    mut table: Reader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Option<ScheduleSpec> {
    let mut ok = true;

    let timezone = table.get("timezone").and_then(|i| {
        let name = i.string(sink)?;
        match parse_timezone(name.get_ref()) {
            Ok(tz) => Some((name.into_inner(), tz)),
            Err(e) => {
                sink.push(name.span(), &i.path, e.to_string());
                None
            }
        }
    });
    // A zone that was given but is wrong must not also produce "missing timezone".
    let timezone_given = table.has("timezone");
    ok &= !timezone_given || timezone.is_some();
    let tz: Option<Tz> = timezone.as_ref().map(|(_, tz)| *tz);

    let mut triggers = Vec::new();
    if let Some(item) = table.get("cron") {
        let span = item.span();
        match item.string(sink) {
            Some(expr) => match parse_cron(expr.get_ref()) {
                Ok(_) => {
                    if !timezone_given {
                        sink.push(
                            table.span(),
                            &table.child_path("timezone"),
                            ScheduleError::MissingTimeZone.to_string(),
                        );
                        ok = false;
                    }
                    triggers.push((
                        "cron",
                        span,
                        Some(Trigger::Cron {
                            expr: expr.into_inner(),
                        }),
                    ));
                }
                Err(e) => {
                    sink.push(span.clone(), &item.path, e.to_string());
                    triggers.push(("cron", span, None));
                }
            },
            None => triggers.push(("cron", span, None)),
        }
    }
    if let Some(item) = table.get("at") {
        let span = item.span();
        let text = match item.value.get_ref() {
            DeValue::Datetime(d) => Some(d.to_string()),
            _ => item.string(sink).map(|s| s.into_inner()),
        };
        let trigger = text.and_then(|text| match parse_at(&text, tz) {
            Ok(at) => Some(Trigger::At { at }),
            // An unknown zone is already reported on `timezone`.
            Err(ScheduleError::MissingTimeZone) if timezone_given => None,
            Err(e) => {
                sink.push(span.clone(), &item.path, e.to_string());
                None
            }
        });
        triggers.push(("at", span, trigger));
    }
    if let Some(item) = table.get("webhook") {
        let span = item.span();
        match item.boolean(sink) {
            Some(flag) if *flag.get_ref() => {
                triggers.push(("webhook", span, Some(Trigger::WebhookOnly)))
            }
            Some(_) => {}
            None => triggers.push(("webhook", span, None)),
        }
    }

    let trigger = match triggers.as_slice() {
        [] => {
            sink.push(
                table.span(),
                &table.child_path("cron"),
                format!("{TRIGGERS} is required"),
            );
            None
        }
        [(_, _, trigger)] => trigger.clone(),
        [_, (key, second, _), ..] => {
            sink.push(
                second.clone(),
                &table.child_path(key),
                format!("give only {TRIGGERS}"),
            );
            None
        }
    };

    let misfire = read_misfire(&mut table, sink);
    table.finish(sink);
    match (trigger, misfire) {
        (Some(trigger), Some(misfire)) if ok => Some(ScheduleSpec {
            trigger,
            timezone: timezone.map(|(name, _)| name),
            misfire,
        }),
        _ => None,
    }
}

fn read_misfire(table: &mut Reader<'_, '_>, sink: &mut Sink<'_>) -> Option<MisfirePolicy> {
    let policy = match table.get("misfire") {
        None => Some("skip".to_owned()),
        Some(item) => item.string(sink).map(|s| s.into_inner()),
    };
    let window_item = table.get("misfire_window");
    let window = match &window_item {
        None => None,
        Some(item) => {
            let text = item.string(sink)?;
            match parse_duration(text.get_ref()) {
                Ok(d) => Some(d),
                Err(e) => {
                    sink.push(text.span(), &item.path, e);
                    return None;
                }
            }
        }
    };
    let policy_span = table
        .get("misfire")
        .map_or_else(|| table.span(), |i| i.span());
    match (policy?.as_str(), window) {
        ("skip", None) => Some(MisfirePolicy::Skip),
        ("once", None) => Some(MisfirePolicy::Once),
        ("each", Some(window)) => Some(MisfirePolicy::EachWithinWindow { window }),
        ("each", None) => {
            sink.push(
                policy_span,
                &table.child_path("misfire_window"),
                "misfire = \"each\" needs `misfire_window`, e.g. \"6h\"",
            );
            None
        }
        ("skip" | "once", Some(_)) => {
            let span = window_item.map_or_else(|| table.span(), |i| i.span());
            sink.push(
                span,
                &table.child_path("misfire_window"),
                "`misfire_window` only applies to misfire = \"each\"",
            );
            None
        }
        (other, _) => {
            sink.push(
                policy_span,
                &table.child_path("misfire"),
                format!("unknown misfire policy `{other}`, expected `skip`, `once` or `each`"),
            );
            None
        }
    }
}
