//! Posts and runs in the console: the filterable list of posts (state, platform, account,
//! campaign, dates) with each one's link, error and next retry, retry and cancel buttons; and
//! a run's page, generate → render → review → publish with when each step happened.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::{Extension, Json};
use chrono::NaiveDate;
use pressroom_core::{PostId, PostState, RunId};
use serde::{Deserialize, Serialize};

use super::page::{self, Viewer};
use crate::ApiState;
use crate::handlers::posts::{self as api, PostFilter};
use crate::handlers::{Path, RawBody, accounts, assets, campaigns, reviews, runs};
use crate::html::field;
use crate::page::PageQuery;
use crate::routes::Method;

#[derive(Deserialize, Default)]
pub(crate) struct ListParams {
    state: Option<String>,
    platform: Option<String>,
    account: Option<String>,
    campaign: Option<String>,
    /// YYYY-MM-DD in the viewer's zone.
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
}

/// A post row as the list shows it.
#[derive(Serialize)]
struct Row {
    #[serde(flatten)]
    post: api::PostView,
    account: String,
    next_retry_at: Option<i64>,
    attempts: Option<i32>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(params): Query<ListParams>,
) -> Response {
    let ctx = viewer.ctx.clone();
    let day_start = |text: &Option<String>, plus_days: u64| {
        non_empty(text)
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
            .and_then(|d| d.checked_add_days(chrono::Days::new(plus_days)))
            .map(|d| page::day_start(viewer.tz, d).to_rfc3339())
    };
    let filter = PostFilter {
        page: PageQuery {
            limit: Some("50".into()),
            cursor: non_empty(&params.cursor),
        },
        run_id: None,
        state: non_empty(&params.state),
        platform: non_empty(&params.platform),
        account_id: non_empty(&params.account).map(Into::into),
        campaign_id: non_empty(&params.campaign).map(Into::into),
        from: day_start(&params.from, 0),
        to: day_start(&params.to, 1),
    };
    let found = api::list(
        State(state.clone()),
        Extension(ctx.clone()),
        Ok(Query(filter)),
    )
    .await;
    let Json(found) = match found {
        Ok(found) => found,
        Err(e) => return page::error_page(e),
    };
    let all = || PageQuery {
        limit: Some("200".into()),
        cursor: None,
    };
    let account_list = accounts::list(
        State(state.clone()),
        Extension(ctx.clone()),
        Ok(Query(all())),
    )
    .await;
    let campaign_list = campaigns::list(
        State(state.clone()),
        Extension(ctx.clone()),
        Ok(Query(all())),
    )
    .await;
    let (Ok(Json(account_list)), Ok(Json(campaign_list))) = (account_list, campaign_list) else {
        return page::message(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "Posts",
            "Could not read accounts and campaigns.",
        );
    };
    let names: BTreeMap<String, String> = account_list
        .data
        .iter()
        .map(|a| (a.id.to_string(), a.name.clone()))
        .collect();
    let ws = match ctx.workspace() {
        Ok(ws) => ws.clone(),
        Err(e) => return page::error_page(e),
    };
    // A post's publish job, or its latest retry's (`publish:{id}:retry:{at}`).
    let keys: Vec<String> = found
        .data
        .iter()
        .map(|p| format!("publish:{}", p.id))
        .collect();
    let jobs: BTreeMap<String, pressroom_store::queue::JobSummary> =
        match state.queue.latest_by_key_prefixes(&ws, &keys).await {
            Ok(jobs) => jobs.into_iter().collect(),
            Err(e) => return page::error_page(e.into()),
        };
    let rows: Vec<Row> = found
        .data
        .into_iter()
        .map(|post| {
            let job = jobs.get(&format!("publish:{}", post.id));
            let waiting = job.filter(|j| j.state == pressroom_core::JobState::Available);
            Row {
                account: names
                    .get(post.account_id.as_ref())
                    .cloned()
                    .unwrap_or_else(|| post.account_id.to_string()),
                next_retry_at: waiting
                    .filter(|j| j.attempt > 0 || post.state == PostState::Failed)
                    .map(|j| j.run_at),
                attempts: job.map(|j| j.attempt),
                post,
            }
        })
        .collect();
    let mut older = params.clone_query();
    older.retain(|(k, _)| k != "cursor");
    let older = found.next_cursor.as_ref().map(|c| {
        older.push(("cursor".into(), c.clone()));
        format!(
            "/posts?{}",
            serde_urlencoded::to_string(&older).unwrap_or_default()
        )
    });
    viewer.render(
        "posts.html",
        "posts",
        minijinja::context! {
            posts => page::value(&rows),
            accounts => page::value(&account_list.data),
            campaigns => page::value(&campaign_list.data),
            states => PostState::ALL.map(|s| s.as_str()),
            platforms => pressroom_core::Platform::ALL.map(|p| p.as_str()),
            f => minijinja::context! {
                state => non_empty(&params.state), platform => non_empty(&params.platform),
                account => non_empty(&params.account), campaign => non_empty(&params.campaign),
                from => non_empty(&params.from), to => non_empty(&params.to),
            },
            filtered => params.clone_query().iter().any(|(k, _)| k != "cursor"),
            older => older,
            may_edit => viewer.may(Method::Post, "/v1/posts/{id}/retry"),
        },
    )
}

impl ListParams {
    fn clone_query(&self) -> Vec<(String, String)> {
        [
            ("state", &self.state),
            ("platform", &self.platform),
            ("account", &self.account),
            ("campaign", &self.campaign),
            ("from", &self.from),
            ("to", &self.to),
            ("cursor", &self.cursor),
        ]
        .into_iter()
        .filter_map(|(k, v)| non_empty(v).map(|v| (k.to_owned(), v)))
        .collect()
    }
}

/// Retry or cancel a post, through the API's handlers.
pub(crate) async fn act(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path((id, action)): Path<(PostId, String)>,
    RawBody(body): RawBody,
) -> Response {
    let fields = match viewer.form(&body) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let back = field(&fields, "back").unwrap_or("/posts").to_owned();
    let ctx = Extension(viewer.ctx.clone());
    let outcome = match action.as_str() {
        "retry" => {
            if let Err(refused) = viewer.require(Method::Post, "/v1/posts/{id}/retry") {
                return *refused;
            }
            api::retry(State(state), ctx, Path(id))
                .await
                .map(|_| "Retrying: a new attempt is queued.")
        }
        "cancel" => {
            if let Err(refused) = viewer.require(Method::Post, "/v1/posts/{id}/cancel") {
                return *refused;
            }
            api::cancel(State(state), ctx, Path(id))
                .await
                .map(|_| "Cancelled: it will not be published.")
        }
        _ => return page::done(&back, false, "action: retry or cancel"),
    };
    match outcome {
        Ok(text) => page::done(&back, true, text),
        Err(e) => page::failed(&back, e),
    }
}

/// One step of a run, for its page.
#[derive(Serialize)]
struct Step {
    name: &'static str,
    /// done, waiting, failed or skipped.
    state: &'static str,
    at: Option<i64>,
    /// Milliseconds since the step before.
    took_ms: Option<i64>,
    detail: String,
}

pub(crate) async fn run(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<RunId>,
) -> Response {
    let ctx = Extension(viewer.ctx.clone());
    let Json(run) = match runs::get_one(State(state.clone()), ctx.clone(), Path(id.clone())).await {
        Ok(r) => r,
        Err(e) => return page::error_page(e),
    };
    let only_run = PostFilter {
        page: PageQuery {
            limit: Some("200".into()),
            cursor: None,
        },
        run_id: Some(id.clone()),
        ..Default::default()
    };
    let posts = match api::list(State(state.clone()), ctx.clone(), Ok(Query(only_run))).await {
        Ok(Json(p)) => p.data,
        Err(e) => return page::error_page(e),
    };
    let images = assets::AssetFilter {
        page: PageQuery {
            limit: Some("50".into()),
            cursor: None,
        },
        run_id: Some(id.clone()),
    };
    let images = match assets::list(State(state.clone()), ctx.clone(), Ok(Query(images))).await {
        Ok(Json(a)) => a.data,
        Err(e) => return page::error_page(e),
    };
    let ws = match viewer.workspace() {
        Ok(ws) => ws,
        Err(refused) => return *refused,
    };
    let review = match pressroom_store::repo::reviews::by_run(state.store.conn(), &ws, &id).await {
        Ok(r) => r,
        Err(e) => return page::error_page(e.into()),
    };
    let review_view = match review {
        Some(r) => match reviews::view(&state, r, reviews::ImageUrls::Console).await {
            Ok(v) => Some(v),
            Err(e) => return page::error_page(e),
        },
        None => None,
    };
    let campaign = campaigns::get_one(
        State(state.clone()),
        ctx.clone(),
        Path(run.campaign_id.clone()),
    )
    .await
    .map(|Json(c)| c.name)
    .unwrap_or_else(|_| run.campaign_id.to_string());

    // The steps, from the rows' own times.
    let generated_at = images
        .iter()
        .find(|a| Some(&a.id) == run.asset_id.as_ref())
        .map(|a| a.created_at);
    let rendered_at = posts.iter().map(|p| p.created_at).min();
    let steps_done = state
        .generation_progress
        .as_ref()
        .and_then(|p| p.of(&run.id));
    let failed = run.state == pressroom_core::RunState::Failed;
    let mut steps = vec![Step {
        name: "Triggered",
        state: "done",
        at: Some(run.created_at),
        took_ms: None,
        detail: format!("by {}", run.trigger),
    }];
    steps.push(Step {
        name: "Generate",
        state: match (generated_at, failed) {
            (Some(_), _) => "done",
            (None, true) => "failed",
            (None, false) => "waiting",
        },
        at: generated_at,
        took_ms: generated_at.map(|t| t - run.created_at),
        detail: match &review_view {
            Some(r) if !r.candidates.is_empty() => format!("{} candidates", r.candidates.len()),
            Some(r) if !r.flagged.is_empty() => format!(
                "{} images withheld by the safety checker; nothing to approve",
                r.flagged.len()
            ),
            _ if generated_at.is_some() => "1 image".to_owned(),
            _ => match (&run.error, steps_done) {
                (Some(error), _) => error.clone(),
                (None, Some((step, total))) => format!("generating: step {step} of {total}"),
                (None, None) => "generating…".to_owned(),
            },
        },
    });
    steps.push(Step {
        name: "Render",
        state: if rendered_at.is_some() {
            "done"
        } else if failed {
            "skipped"
        } else {
            "waiting"
        },
        at: rendered_at,
        took_ms: rendered_at.zip(generated_at).map(|(r, g)| r - g),
        detail: match posts.len() {
            1 => "1 target".to_owned(),
            n => format!("{n} targets"),
        },
    });
    if let Some(r) = &review_view {
        let decided_at = r.decision.as_ref().map(|d| d.at);
        steps.push(Step {
            name: "Review",
            state: match r.state {
                pressroom_core::ReviewState::Pending => "waiting",
                pressroom_core::ReviewState::Approved => "done",
                _ => "failed",
            },
            at: decided_at,
            took_ms: None,
            detail: match &r.decision {
                Some(d) => format!(
                    "{} by {}",
                    r.state,
                    crate::handlers::review_page::decided_by_text(&d.by)
                ),
                None => "waiting for a decision".to_owned(),
            },
        });
    }
    let published: Vec<_> = posts
        .iter()
        .filter(|p| p.state == PostState::Published)
        .collect();
    let last_published = published.iter().map(|p| p.updated_at).max();
    let settled = |s: PostState| {
        matches!(
            s,
            PostState::Published
                | PostState::Failed
                | PostState::NeedsReconnect
                | PostState::Cancelled
                | PostState::Unknown
        )
    };
    let ended = failed
        || run.state == pressroom_core::RunState::Missed
        || review_view.as_ref().is_some_and(|r| {
            matches!(
                r.state,
                pressroom_core::ReviewState::Rejected | pressroom_core::ReviewState::Expired
            )
        });
    let publish_state = if !posts.is_empty() && published.len() == posts.len() {
        "done"
    } else if posts.iter().any(|p| {
        matches!(
            p.state,
            PostState::Failed | PostState::NeedsReconnect | PostState::Unknown
        )
    }) {
        "failed"
    } else if (!posts.is_empty() && posts.iter().all(|p| settled(p.state)))
        || (posts.is_empty() && ended)
    {
        "skipped"
    } else {
        "waiting"
    };
    steps.push(Step {
        name: "Publish",
        state: publish_state,
        at: last_published,
        took_ms: None,
        detail: format!("{} of {} published", published.len(), posts.len()),
    });
    let in_progress = steps.iter().any(|s| s.state == "waiting");
    viewer.render(
        "run.html",
        "posts",
        minijinja::context! {
            run => page::value(&run),
            campaign => campaign,
            steps => page::value(&steps),
            posts => page::value(&posts),
            images => page::value(&images),
            review => review_view.as_ref().map(page::value),
            in_progress => in_progress,
            may_edit => viewer.may(Method::Post, "/v1/posts/{id}/retry"),
        },
    )
}
