//! The calendar: a month or a week of planned occurrences and past runs, in the viewer's time
//! zone (the campaign's own zone shown beside a time when it differs), each entry with its
//! state and a link to its run (or, before it fires, its campaign). Read from the same
//! handler as `GET /v1/calendar`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::{Extension, Json};
use chrono::{Datelike, Days, NaiveDate, Utc};
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

/// The week (Monday first) of `d`: its first day, 7 days, the weeks before and after, a title.
fn week_of(d: NaiveDate) -> Option<(NaiveDate, u64, NaiveDate, NaiveDate, String)> {
    let start = d.checked_sub_days(Days::new(u64::from(d.weekday().num_days_from_monday())))?;
    let end = start.checked_add_days(Days::new(6))?;
    Some((
        start,
        7,
        start.checked_sub_days(Days::new(7))?,
        start.checked_add_days(Days::new(7))?,
        format!("{} – {}", start.format("%-d %b"), end.format("%-d %b %Y")),
    ))
}

/// The month of `d` as whole weeks (Monday first): the grid's first day, its length in days,
/// the first days of the months before and after, a title.
fn month_of(d: NaiveDate) -> Option<(NaiveDate, u64, NaiveDate, NaiveDate, String)> {
    let first = d.with_day(1)?;
    let start =
        first.checked_sub_days(Days::new(u64::from(first.weekday().num_days_from_monday())))?;
    let next_month = first.checked_add_months(chrono::Months::new(1))?;
    let prev_month = first.checked_sub_months(chrono::Months::new(1))?;
    let weeks = ((next_month - start).num_days() + 6) / 7;
    Some((
        start,
        (weeks * 7) as u64,
        prev_month,
        next_month,
        first.format("%B %Y").to_string(),
    ))
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
    let period = if week {
        week_of(anchor)
    } else {
        month_of(anchor)
    };
    // A date at the edge of what dates can be: today's period instead.
    let fallback = || {
        if week {
            week_of(today)
        } else {
            month_of(today)
        }
    };
    let Some((start, days, prev, next, title)) = period.or_else(fallback) else {
        return page::message(
            axum::http::StatusCode::BAD_REQUEST,
            "Calendar",
            "date: out of range",
        );
    };
    let Some(end) = start.checked_add_days(Days::new(days)) else {
        return page::message(
            axum::http::StatusCode::BAD_REQUEST,
            "Calendar",
            "date: out of range",
        );
    };
    let from = page::day_start(tz, start);
    let to = page::day_start(tz, end);
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
