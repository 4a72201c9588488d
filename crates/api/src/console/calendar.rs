//! The calendar: a month or a week of planned occurrences and past runs, in the viewer's time
//! zone (the campaign's own zone shown beside a time when it differs), each entry with its
//! state and a link to its run (or, before it fires, its campaign). Read from the same
//! handler as `GET /v1/calendar`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::{Extension, Json};
use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc};
use pressroom_core::{PostState, ReviewState, RunState};
use serde::{Deserialize, Serialize};

use super::page::{self, Viewer};
use crate::ApiState;
use crate::handlers::calendar::{self as api, CalendarQuery, CalendarRun};

#[derive(Deserialize)]
pub(crate) struct CalendarParams {
    /// `month` (default) or `week`.
    view: Option<String>,
    /// A day in the period shown (YYYY-MM-DD, the viewer's zone); default today.
    date: Option<String>,
}

/// One thing on a day.
#[derive(Serialize)]
struct Entry {
    time: String,
    campaign: String,
    /// The time in the campaign's zone, with the zone, when it is not the viewer's.
    zone: Option<String>,
    state: &'static str,
    label: &'static str,
    href: String,
    at: String,
}

#[derive(Serialize)]
struct Day {
    date: String,
    number: u32,
    in_period: bool,
    today: bool,
    entries: Vec<Entry>,
}

/// What a run's entry says: its review and its posts decide, then the run itself.
fn run_state(run: &CalendarRun) -> (&'static str, &'static str) {
    if run
        .review
        .as_ref()
        .is_some_and(|r| r.state == ReviewState::Pending)
    {
        return ("awaiting_review", "awaiting review");
    }
    let published = run
        .posts
        .iter()
        .filter(|p| p.state == PostState::Published)
        .count();
    let failed = run
        .posts
        .iter()
        .filter(|p| {
            matches!(
                p.state,
                PostState::Failed | PostState::NeedsReconnect | PostState::Unknown
            )
        })
        .count();
    let cancelled = run
        .posts
        .iter()
        .filter(|p| p.state == PostState::Cancelled)
        .count();
    match () {
        _ if !run.posts.is_empty() && published == run.posts.len() => ("published", "published"),
        _ if published > 0 => ("partially_published", "partially published"),
        _ if failed > 0 || run.state == RunState::Failed => ("failed", "failed"),
        _ if run.state == RunState::Missed => ("failed", "missed"),
        _ if !run.posts.is_empty() && cancelled == run.posts.len() => ("cancelled", "cancelled"),
        _ if run.posts.is_empty() && run.state == RunState::Queued => ("queued", "generating"),
        _ => ("pending", "publishing soon"),
    }
}

pub(crate) async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(params): Query<CalendarParams>,
) -> Response {
    let tz = viewer.tz;
    let now = Utc::now().with_timezone(&tz);
    let today = now.date_naive();
    let anchor = params
        .date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .unwrap_or(today);
    let week = params.view.as_deref() == Some("week");
    let monday = |d: NaiveDate| d - Days::new(u64::from(d.weekday().num_days_from_monday()));
    let (start, days, prev, next, title) = if week {
        let start = monday(anchor);
        let end = start + Days::new(6);
        (
            start,
            7u64,
            start - Days::new(7),
            start + Days::new(7),
            format!("{} – {}", start.format("%-d %b"), end.format("%-d %b %Y")),
        )
    } else {
        let first = anchor.with_day(1).unwrap_or(anchor);
        let start = monday(first);
        let next_month = (first + Days::new(32)).with_day(1).unwrap_or(first);
        let weeks = (next_month - start).num_days().div_euclid(7)
            + i64::from((next_month - start).num_days() % 7 != 0);
        let prev_month = (first - Days::new(1)).with_day(1).unwrap_or(first);
        (
            start,
            (weeks * 7) as u64,
            prev_month,
            next_month,
            first.format("%B %Y").to_string(),
        )
    };
    let end = start + Days::new(days);
    let local_midnight = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()))
    };
    let from = local_midnight(start);
    let to = local_midnight(end);
    let query = CalendarQuery {
        from: Some(from.to_rfc3339()),
        to: Some(to.to_rfc3339()),
    };
    let Json(cal) = match api::get(
        State(state),
        Extension(viewer.ctx.clone()),
        Ok(Query(query)),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return page::error_page(e),
    };
    let mut by_day: BTreeMap<NaiveDate, Vec<Entry>> = BTreeMap::new();
    let viewer_zone = tz.name();
    let place = |at: &str| {
        chrono::DateTime::parse_from_rfc3339(at)
            .ok()
            .map(|t| t.with_timezone(&tz))
    };
    for p in &cal.planned {
        let Some(local) = place(&p.at) else { continue };
        // The time in the campaign's own zone too, when it is not the viewer's.
        let zone = p
            .timezone
            .as_deref()
            .filter(|z| *z != viewer_zone)
            .map(|z| {
                let there = local.with_timezone(&page::zone(z));
                format!("{} {z}", there.format("%H:%M"))
            });
        by_day.entry(local.date_naive()).or_default().push(Entry {
            time: local.format("%H:%M").to_string(),
            campaign: p.campaign.clone(),
            zone,
            state: "scheduled",
            label: if p.approval {
                "scheduled · review first"
            } else {
                "scheduled"
            },
            href: format!("/campaigns/{}", p.campaign_id),
            at: p.at.clone(),
        });
    }
    for r in &cal.runs {
        let Some(local) = place(&r.at) else { continue };
        let (state, label) = run_state(r);
        by_day.entry(local.date_naive()).or_default().push(Entry {
            time: local.format("%H:%M").to_string(),
            campaign: r.campaign.clone(),
            zone: None,
            state,
            label,
            href: format!("/runs/{}", r.run_id),
            at: r.at.clone(),
        });
    }
    let period_month = anchor.month();
    let grid: Vec<Day> = (0..days)
        .map(|i| {
            let date = start + Days::new(i);
            let mut entries = by_day.remove(&date).unwrap_or_default();
            entries.sort_by(|a, b| a.at.cmp(&b.at));
            Day {
                date: date.format("%Y-%m-%d").to_string(),
                number: date.day(),
                in_period: week || date.month() == period_month,
                today: date == today,
                entries,
            }
        })
        .collect();
    let total: usize = grid.iter().map(|d| d.entries.len()).sum();
    viewer.render(
        "calendar.html",
        "calendar",
        minijinja::context! {
            title => title,
            week => week,
            days => page::value(&grid),
            total => total,
            truncated => cal.truncated,
            prev => prev.format("%Y-%m-%d").to_string(),
            next => next.format("%Y-%m-%d").to_string(),
            today => today.format("%Y-%m-%d").to_string(),
            anchor => anchor.format("%Y-%m-%d").to_string(),
        },
    )
}
