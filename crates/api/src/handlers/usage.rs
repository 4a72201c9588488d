//! `GET /v1/usage?days=N`: images generated and posts published per day (UTC) in the key's
//! workspace, for billing a client or watching a quota. Days with nothing are listed as zeros
//! so a chart needs no gap filling.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use pressroom_store::repo::{assets, posts};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::workspaces::query;

const DAY_MS: i64 = 86_400_000;
const MAX_DAYS: i64 = 366;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// How many days back, today included (default 30).
    #[param(minimum = 1, maximum = 366)]
    pub(crate) days: Option<i64>,
}

#[derive(Serialize, Debug, Default, Clone, PartialEq, Eq, ToSchema)]
pub struct DayUsage {
    /// `YYYY-MM-DD`, UTC.
    #[schema(format = Date)]
    pub day: String,
    pub images_generated: u64,
    pub posts_published: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Usage {
    pub data: Vec<DayUsage>,
}

fn day_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

pub async fn get(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<UsageQuery>, QueryRejection>,
) -> ApiResult<Json<Usage>> {
    let q = query(q)?;
    let days = q.days.unwrap_or(30);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid(format!(
            "days: must be between 1 and {MAX_DAYS} (got {days})"
        )));
    }
    let ws = ctx.workspace()?;
    let now = state.store.now_ms().await?;
    let first_day = (now / DAY_MS - (days - 1)) * DAY_MS;
    let mut by_day: BTreeMap<String, DayUsage> = (0..days)
        .map(|i| {
            let day = day_of(first_day + i * DAY_MS);
            (
                day.clone(),
                DayUsage {
                    day,
                    ..Default::default()
                },
            )
        })
        .collect();
    let images = assets::created_since(&state.store, ws, first_day).await?;
    for t in images {
        if let Some(d) = by_day.get_mut(&day_of(t)) {
            d.images_generated += 1;
        }
    }
    let published = posts::published_since(&state.store, ws, first_day).await?;
    for t in published {
        if let Some(d) = by_day.get_mut(&day_of(t)) {
            d.posts_published += 1;
        }
    }
    Ok(Json(Usage {
        data: by_day.into_values().collect(),
    }))
}
