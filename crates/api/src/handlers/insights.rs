//! Insights (PLATFORMS.md §9): a post's metric series, fetching it now, sums per campaign,
//! platform, account or day, the best posts by one metric, and the client report (HTML).
//! Everything reads the stored series (`runtime::insights`); only `…/metrics/fetch` reaches a
//! platform, through a durable job.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono_tz::Tz;
use pressroom_connector::PostMetrics;
use pressroom_core::{AccountId, CampaignId, Platform, PostId, PostState};
use pressroom_runtime::insights::{self, Group, GroupBy, Period, PostResult};
use pressroom_store::repo::insights::Outcome;
use pressroom_store::repo::{audit, insights as series_repo, posts, workspaces};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::Path;
use crate::handlers::workspaces::query;

/// Default period: the last 30 days.
const DEFAULT_DAYS: i64 = 30;
/// Longest period one call reads.
const MAX_DAYS: i64 = 366;
const DAY_MS: i64 = 86_400_000;

/// One fetch that measured numbers.
#[derive(Serialize, ToSchema)]
pub struct MetricsPoint {
    /// When the numbers were fetched (RFC 3339).
    #[schema(format = DateTime)]
    pub fetched_at: String,
    /// The normalised metrics the platform reported: views, reach, likes, comments, shares,
    /// saves, clicks; one it does not report is left out (never 0).
    pub metrics: BTreeMap<String, u64>,
}

/// A post's numbers over time.
#[derive(Serialize, ToSchema)]
pub struct PostMetricsView {
    pub post_id: PostId,
    pub platform: Platform,
    /// Oldest first.
    pub series: Vec<MetricsPoint>,
    /// The newest fetch did not find the post on the platform: deleted there, or no longer
    /// visible to the account's token (its earlier numbers stay).
    pub gone: bool,
    /// Why the newest fetch had no numbers, when it had none ("not enough viewers", "no data
    /// yet", a missing permission).
    #[schema(required)]
    pub pending: Option<String>,
}

/// `GET /v1/posts/{id}/metrics`
pub async fn series(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<PostId>,
) -> ApiResult<Json<PostMetricsView>> {
    let ws = ctx.workspace()?;
    let post = posts::get(state.store.conn(), ws, &id).await?;
    let rows = series_repo::series(state.store.conn(), ws, &id).await?;
    let last = rows.last();
    let gone = last.is_some_and(|r| r.outcome == Outcome::Gone.as_str());
    let pending = last
        .filter(|r| r.outcome == Outcome::NotYet.as_str())
        .and_then(|r| r.note.clone());
    let series = rows
        .iter()
        .filter(|r| r.outcome == Outcome::Measured.as_str())
        .map(|r| MetricsPoint {
            fetched_at: rfc3339(r.fetched_at),
            metrics: serde_json::from_str::<PostMetrics>(&r.metrics)
                .map(|m| named(&m))
                .unwrap_or_default(),
        })
        .collect();
    Ok(Json(PostMetricsView {
        post_id: post.id,
        platform: post.platform,
        series,
        gone,
        pending,
    }))
}

/// What `POST /v1/posts/{id}/metrics/fetch` did.
#[derive(Serialize, ToSchema)]
pub struct FetchRequested {
    pub post_id: PostId,
    /// False when the same request was already queued.
    pub enqueued: bool,
}

/// `POST /v1/posts/{id}/metrics/fetch`: a durable fetch now, run by the publishing workers.
pub async fn fetch(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<PostId>,
) -> ApiResult<(StatusCode, Json<FetchRequested>)> {
    let ws = ctx.workspace()?;
    let post = posts::get(state.store.conn(), ws, &id).await?;
    if post.state != PostState::Published {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "post is {}; only published posts have numbers to fetch",
                post.state
            ),
        ));
    }
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    let enqueued =
        pressroom_runtime::pipeline::insights::request_fetch(&state.queue, &tx, ws, &id, now)
            .await?;
    audit::record(
        &tx,
        now,
        ws,
        &ctx.actor(),
        "post.metrics_requested",
        &id,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(FetchRequested {
            post_id: id,
            enqueued,
        }),
    ))
}

/// A period and its time zone (`GET /v1/reports`).
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// First day (YYYY-MM-DD in `tz`) or instant (RFC 3339); default 30 days before `to`.
    pub(crate) from: Option<String>,
    /// Last day, included (YYYY-MM-DD in `tz`) or end instant (RFC 3339, excluded); default now.
    pub(crate) to: Option<String>,
    /// IANA time zone of the dates and of `group_by=day` (default UTC).
    pub(crate) tz: Option<String>,
}

/// `GET /v1/insights`: a period, and how to group its posts.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// First day (YYYY-MM-DD in `tz`) or instant (RFC 3339); default 30 days before `to`.
    pub(crate) from: Option<String>,
    /// Last day, included (YYYY-MM-DD in `tz`) or end instant (RFC 3339, excluded); default now.
    pub(crate) to: Option<String>,
    /// IANA time zone of the dates and of `group_by=day` (default UTC).
    pub(crate) tz: Option<String>,
    /// `campaign` (default), `platform`, `account` or `day`.
    #[param(value_type = Option<InsightsGroupBy>)]
    pub(crate) group_by: Option<String>,
}

/// `GET /v1/insights/top`: a period, the metric to rank by and how many posts.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopQuery {
    /// First day (YYYY-MM-DD in `tz`) or instant (RFC 3339); default 30 days before `to`.
    pub(crate) from: Option<String>,
    /// Last day, included (YYYY-MM-DD in `tz`) or end instant (RFC 3339, excluded); default now.
    pub(crate) to: Option<String>,
    /// IANA time zone of the dates (default UTC).
    pub(crate) tz: Option<String>,
    /// The metric to rank by (default views).
    #[param(value_type = Option<MetricName>)]
    pub(crate) metric: Option<String>,
    /// How many posts (1 to 100, default 10).
    #[param(minimum = 1, maximum = 100)]
    pub(crate) limit: Option<usize>,
}

/// How `GET /v1/insights` groups posts.
#[derive(ToSchema)]
#[schema(as = InsightsGroupBy)]
#[allow(dead_code)]
pub enum InsightsGroupBy {
    #[schema(rename = "campaign")]
    Campaign,
    #[schema(rename = "platform")]
    Platform,
    #[schema(rename = "account")]
    Account,
    #[schema(rename = "day")]
    Day,
}

/// A normalised metric name.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum MetricName {
    #[schema(rename = "views")]
    Views,
    #[schema(rename = "reach")]
    Reach,
    #[schema(rename = "likes")]
    Likes,
    #[schema(rename = "comments")]
    Comments,
    #[schema(rename = "shares")]
    Shares,
    #[schema(rename = "saves")]
    Saves,
    #[schema(rename = "clicks")]
    Clicks,
}

struct Bounds {
    from_ms: i64,
    to_ms: i64,
    tz: Tz,
}

/// The `from`, `to` and `tz` of a query.
struct PeriodParams<'a> {
    from: Option<&'a str>,
    to: Option<&'a str>,
    tz: Option<&'a str>,
}

fn bounds(q: PeriodParams<'_>, now_ms: i64) -> ApiResult<Bounds> {
    let tz: Tz = match q.tz {
        None | Some("") => Tz::UTC,
        Some(name) => name.parse().map_err(|_| {
            ApiError::invalid(format!(
                "tz: {name:?} is not an IANA time zone (e.g. Europe/Paris)"
            ))
        })?,
    };
    let to_ms = match q.to {
        Some(t) => {
            insights::parse_bound(t, tz, true).map_err(|e| ApiError::invalid(format!("to: {e}")))?
        }
        None => now_ms,
    };
    let from_ms = match q.from {
        Some(f) => insights::parse_bound(f, tz, false)
            .map_err(|e| ApiError::invalid(format!("from: {e}")))?,
        None => to_ms - DEFAULT_DAYS * DAY_MS,
    };
    if from_ms >= to_ms {
        return Err(ApiError::invalid("from: must be before to"));
    }
    if to_ms - from_ms > MAX_DAYS * DAY_MS {
        return Err(ApiError::invalid(format!(
            "to: the period may span at most {MAX_DAYS} days"
        )));
    }
    Ok(Bounds { from_ms, to_ms, tz })
}

async fn period(state: &ApiState, ctx: &Ctx, q: PeriodParams<'_>) -> ApiResult<(Period, Tz)> {
    let ws = ctx.workspace()?;
    let now = state.store.now_ms().await?;
    let b = bounds(q, now)?;
    Ok((
        insights::load(&state.store, ws, b.from_ms, b.to_ms).await?,
        b.tz,
    ))
}

/// One group's numbers.
#[derive(Serialize, ToSchema)]
pub struct GroupView {
    /// The campaign or account id, the platform, or the day (YYYY-MM-DD).
    pub key: String,
    /// The campaign or account name, the platform, or the day.
    pub label: String,
    pub posts: usize,
    /// Posts with numbers.
    pub measured_posts: usize,
    /// Each metric summed over the posts that report it.
    pub sums: BTreeMap<String, u64>,
    /// Each metric's sum per post that reports it.
    pub averages: BTreeMap<String, f64>,
}

impl From<Group> for GroupView {
    fn from(g: Group) -> Self {
        Self {
            key: g.key,
            label: g.label,
            posts: g.posts,
            measured_posts: g.measured_posts,
            sums: g.sums,
            averages: g.averages,
        }
    }
}

/// `GET /v1/insights`
#[derive(Serialize, ToSchema)]
pub struct InsightsView {
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    pub group_by: String,
    pub totals: GroupView,
    pub groups: Vec<GroupView>,
    /// The period had more posts than one answer counts; choose a shorter one.
    pub truncated: bool,
}

pub async fn summary(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<SummaryQuery>, QueryRejection>,
) -> ApiResult<Json<InsightsView>> {
    let q = query(q)?;
    let group_by = match q.group_by.as_deref().unwrap_or("campaign") {
        "campaign" => GroupBy::Campaign,
        "platform" => GroupBy::Platform,
        "account" => GroupBy::Account,
        "day" => GroupBy::Day,
        other => {
            return Err(ApiError::invalid(format!(
                "group_by: {other:?} is not campaign, platform, account or day"
            )));
        }
    };
    let params = PeriodParams {
        from: q.from.as_deref(),
        to: q.to.as_deref(),
        tz: q.tz.as_deref(),
    };
    let (period, tz) = period(&state, &ctx, params).await?;
    Ok(Json(InsightsView {
        from: rfc3339(period.from_ms),
        to: rfc3339(period.to_ms),
        group_by: q.group_by.unwrap_or_else(|| "campaign".into()),
        totals: period.totals().into(),
        groups: period
            .groups(group_by, tz)
            .into_iter()
            .map(Into::into)
            .collect(),
        truncated: period.truncated,
    }))
}

/// A post ranked by one metric, with what made it.
#[derive(Serialize, ToSchema)]
pub struct TopPost {
    pub post_id: PostId,
    pub platform: Platform,
    pub account_id: AccountId,
    pub account: String,
    pub campaign_id: CampaignId,
    pub campaign: String,
    pub caption: String,
    #[schema(format = DateTime)]
    pub published_at: String,
    #[schema(required)]
    pub url: Option<String>,
    /// The run's prompt (none for a campaign of its own photos).
    #[schema(required)]
    pub prompt: Option<String>,
    /// The generator's seed, when the image was generated.
    #[schema(required)]
    pub seed: Option<serde_json::Value>,
    /// The image: `GET /v1/assets/{asset_id}/image`.
    #[schema(required)]
    pub asset_id: Option<pressroom_core::AssetId>,
    pub metrics: BTreeMap<String, u64>,
}

/// `GET /v1/insights/top`
#[derive(Serialize, ToSchema)]
pub struct TopPosts {
    pub metric: String,
    pub data: Vec<TopPost>,
}

pub async fn top(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<TopQuery>, QueryRejection>,
) -> ApiResult<Json<TopPosts>> {
    let q = query(q)?;
    let metric = q.metric.clone().unwrap_or_else(|| "views".into());
    if !PostMetrics::NAMES.contains(&metric.as_str()) {
        return Err(ApiError::invalid(format!(
            "metric: {metric:?} is not one of {}",
            PostMetrics::NAMES.join(", ")
        )));
    }
    let limit = q.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit: must be between 1 and 100 (got {limit})"
        )));
    }
    let params = PeriodParams {
        from: q.from.as_deref(),
        to: q.to.as_deref(),
        tz: q.tz.as_deref(),
    };
    let (period, _) = period(&state, &ctx, params).await?;
    let data = period
        .top(&metric, limit)
        .into_iter()
        .map(top_post)
        .collect();
    Ok(Json(TopPosts { metric, data }))
}

fn top_post(r: &PostResult) -> TopPost {
    let p = &r.post;
    TopPost {
        post_id: p.post_id.clone(),
        platform: p.platform,
        account_id: p.account_id.clone(),
        account: p.account_name.clone(),
        campaign_id: p.campaign_id.clone(),
        campaign: p.campaign_name.clone(),
        caption: p.caption.clone(),
        published_at: rfc3339(p.published_at),
        url: p.url.clone(),
        prompt: p.prompt.clone(),
        seed: r.seed(),
        asset_id: p.asset_id.clone(),
        metrics: named(&r.metrics),
    }
}

/// `GET /v1/reports`: the self-contained HTML report of the period.
pub async fn report(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<PeriodQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let params = PeriodParams {
        from: q.from.as_deref(),
        to: q.to.as_deref(),
        tz: q.tz.as_deref(),
    };
    let (period, tz) = period(&state, &ctx, params).await?;
    let ws = ctx.workspace()?;
    let name = workspaces::get(&state.store, ws)
        .await?
        .map(|w| w.name)
        .unwrap_or_else(|| ws.to_string());
    let heading = insights::ReportHeading {
        workspace: &name,
        tz,
        generated_at: chrono::Utc::now(),
    };
    let html = insights::render_report(&period, heading, state.blobs.as_ref())
        .await
        .map_err(|e| ApiError::new(Code::Internal, e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}

fn named(m: &PostMetrics) -> BTreeMap<String, u64> {
    m.measured().map(|(n, v)| (n.to_owned(), v)).collect()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
