//! `GET /v1/calendar?from=&to=`: what is planned and what happened in a window, for the
//! console's calendar. Planned: every enabled campaign's upcoming occurrences computed from its
//! schedule in its zone (with when it generates, given a lead time, and when its review would
//! expire). Happened: the runs whose time falls in the window, each with its review and posts.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use pressroom_core::schedule::Schedule;
use pressroom_core::{
    CampaignId, Platform, PostId, PostState, ReviewId, ReviewState, RunId, RunState,
};
use pressroom_runtime::campaigns::stored_spec;
use pressroom_store::repo::{campaigns, posts, reviews, runs};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::reviews::rfc3339 as ms;
use crate::handlers::workspaces::query;

/// The widest window one call may ask for.
const MAX_DAYS: i64 = 92;
/// At most this many entries of each kind per answer (`truncated` says so).
const MAX_ENTRIES: usize = 1000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// Start of the window (RFC 3339; default: now).
    #[param(value_type = Option<String>, format = DateTime)]
    pub(crate) from: Option<String>,
    /// End of the window (RFC 3339; default: 30 days after `from`), at most 92 days after
    /// `from`.
    #[param(value_type = Option<String>, format = DateTime)]
    pub(crate) to: Option<String>,
}

/// An occurrence a campaign's schedule will fire.
#[derive(Serialize, ToSchema)]
pub struct Planned {
    pub campaign_id: CampaignId,
    pub campaign: String,
    /// The IANA zone the campaign's schedule is read in (null for a one-shot date given with
    /// an offset).
    #[schema(required)]
    pub timezone: Option<String>,
    /// When it publishes (RFC 3339).
    pub at: String,
    /// When it is generated: `at` less the campaign's lead time.
    pub generate_at: String,
    /// When its review expires undecided, if the campaign needs approval.
    #[schema(required)]
    pub review_deadline: Option<String>,
    pub approval: bool,
}

/// A post of a run, in the calendar.
#[derive(Serialize, ToSchema)]
pub struct CalendarPost {
    pub id: PostId,
    pub platform: Platform,
    pub preset: String,
    pub state: PostState,
    #[schema(required)]
    pub url: Option<String>,
}

/// A run's review, in the calendar.
#[derive(Serialize, ToSchema)]
pub struct CalendarReview {
    pub id: ReviewId,
    pub state: ReviewState,
    pub deadline: String,
}

/// A run in the window.
#[derive(Serialize, ToSchema)]
pub struct CalendarRun {
    pub run_id: RunId,
    pub campaign_id: CampaignId,
    pub campaign: String,
    /// Its time: the scheduled time, or when it was triggered (RFC 3339).
    pub at: String,
    pub state: RunState,
    #[schema(required)]
    pub review: Option<CalendarReview>,
    pub posts: Vec<CalendarPost>,
}

/// `GET /v1/calendar`.
#[derive(Serialize, ToSchema)]
pub struct Calendar {
    pub from: String,
    pub to: String,
    /// Upcoming occurrences, earliest first.
    pub planned: Vec<Planned>,
    /// Runs in the window, earliest first.
    pub runs: Vec<CalendarRun>,
    /// True when a list was cut at 1000 entries: ask for a narrower window.
    pub truncated: bool,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    ms(t.timestamp_millis())
}

fn instant(field: &str, text: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ApiError::invalid(format!("{field}: not an RFC 3339 date-time ({e})")))
}

pub async fn get(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<CalendarQuery>, QueryRejection>,
) -> ApiResult<Json<Calendar>> {
    let q = query(q)?;
    let ws = ctx.workspace()?;
    let now = DateTime::from_timestamp_millis(state.store.now_ms().await?).unwrap_or_default();
    let from = match q.from.as_deref() {
        Some(text) => instant("from", text)?,
        None => now,
    };
    let to = match q.to.as_deref() {
        Some(text) => instant("to", text)?,
        None => from + chrono::Duration::days(30),
    };
    if to <= from {
        return Err(ApiError::invalid("to: must be after from"));
    }
    if to - from > chrono::Duration::days(MAX_DAYS) {
        return Err(ApiError::invalid(format!(
            "to: at most {MAX_DAYS} days after from"
        )));
    }
    let mut truncated = false;
    let mut names: BTreeMap<CampaignId, String> = BTreeMap::new();
    let mut planned = Vec::new();
    for row in campaigns::list(&state.store, ws).await? {
        names.insert(row.id.clone(), row.name.clone());
        if row.enabled == 0 {
            continue;
        }
        let Ok(spec) = stored_spec(&row) else {
            continue;
        };
        let Ok(schedule) = Schedule::from_spec(&spec.schedule) else {
            continue;
        };
        // Occurrences up to the schedule's cursor have fired already: they are runs.
        let fired_through =
            DateTime::from_timestamp_millis(row.schedule_checked_at).unwrap_or(from);
        let after = (from - chrono::Duration::seconds(1)).max(fired_through);
        let lead = chrono::Duration::from_std(spec.lead_time()).unwrap_or_default();
        let review = spec.review();
        for at in schedule.occurrences(after, to, MAX_ENTRIES + 1) {
            let generate_at = at.checked_sub_signed(lead).unwrap_or(at);
            let deadline = review
                .and_then(|a| chrono::Duration::from_std(a.expires_after).ok())
                .and_then(|d| generate_at.checked_add_signed(d))
                .map(rfc3339);
            planned.push(Planned {
                campaign_id: row.id.clone(),
                campaign: row.name.clone(),
                timezone: spec.schedule.timezone.clone(),
                at: rfc3339(at),
                generate_at: rfc3339(generate_at),
                review_deadline: deadline,
                approval: review.is_some(),
            });
        }
    }
    planned.sort_by(|a, b| a.at.cmp(&b.at).then(a.campaign.cmp(&b.campaign)));
    if planned.len() > MAX_ENTRIES {
        planned.truncate(MAX_ENTRIES);
        truncated = true;
    }

    let conn = state.store.conn();
    let mut rows = runs::fired_between(
        conn,
        ws,
        from.timestamp_millis(),
        to.timestamp_millis(),
        MAX_ENTRIES as u64 + 1,
    )
    .await?;
    if rows.len() > MAX_ENTRIES {
        rows.truncate(MAX_ENTRIES);
        truncated = true;
    }
    let ids: Vec<RunId> = rows.iter().map(|r| r.id.clone()).collect();
    let mut posts_by_run: BTreeMap<RunId, Vec<CalendarPost>> = BTreeMap::new();
    for p in posts::of_runs(conn, ws, &ids).await? {
        posts_by_run
            .entry(p.run_id.clone())
            .or_default()
            .push(CalendarPost {
                id: p.id,
                platform: p.platform,
                preset: p.preset,
                state: p.state,
                url: p.url,
            });
    }
    let mut reviews_by_run: BTreeMap<RunId, CalendarReview> = reviews::of_runs(conn, ws, &ids)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.run_id.clone(),
                CalendarReview {
                    id: r.id,
                    state: r.state,
                    deadline: ms(r.deadline_at),
                },
            )
        })
        .collect();
    let runs = rows
        .into_iter()
        .map(|r| CalendarRun {
            campaign: names.get(&r.campaign_id).cloned().unwrap_or_default(),
            review: reviews_by_run.remove(&r.id),
            posts: posts_by_run.remove(&r.id).unwrap_or_default(),
            at: ms(r.fire_at),
            run_id: r.id,
            campaign_id: r.campaign_id,
            state: r.state,
        })
        .collect();
    Ok(Json(Calendar {
        from: rfc3339(from),
        to: rfc3339(to),
        planned,
        runs,
        truncated,
    }))
}
