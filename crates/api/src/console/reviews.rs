//! Reviews in the console: the queue of runs awaiting a decision (and the latest decided), and
//! the review page — the same view and form as the public review-link page, with the
//! navigation, deciding as the signed-in person (named approvers only, when the campaign names
//! them: the runtime checks).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pressroom_core::ReviewId;
use pressroom_runtime::reviews::DecideError;
use pressroom_store::repo::{assets, reviews as repo};
use serde::Deserialize;

use super::page::{self, Viewer};
use crate::ApiState;
use crate::handlers::review_page::{decide_with_form, decided_by_text, decided_message};
use crate::handlers::reviews::{self as api, ImageUrls, ReviewFilter, decider, view};
use crate::handlers::{Path, RawBody};
use crate::html::field;
use crate::page::PageQuery;
use crate::routes::Method;

#[derive(Deserialize)]
pub(crate) struct ListParams {
    state: Option<String>,
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(params): Query<ListParams>,
) -> Response {
    let wanted = params
        .state
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "pending".into());
    let filter = ReviewFilter {
        page: PageQuery {
            limit: Some("100".into()),
            cursor: None,
        },
        state: Some(wanted.clone()).filter(|s| s != "all"),
    };
    let Json(found) = match api::list(
        State(state),
        Extension(viewer.ctx.clone()),
        Ok(Query(filter)),
    )
    .await
    {
        Ok(found) => found,
        Err(e) => return page::error_page(e),
    };
    viewer.render(
        "reviews.html",
        "reviews",
        minijinja::context! {
            reviews => page::value(&found.data),
            wanted => wanted,
            states => ["pending", "approved", "rejected", "expired", "all"],
        },
    )
}

async fn show(
    state: &ApiState,
    viewer: &Viewer,
    row: pressroom_store::entity::review::Model,
    message: Option<(&str, bool)>,
) -> Response {
    let view = match view(state, row, ImageUrls::Console).await {
        Ok(v) => v,
        Err(e) => return page::error_page(e),
    };
    let decided_by = view
        .decision
        .as_ref()
        .map(|d| decided_by_text(&d.by))
        .unwrap_or_default();
    let status = if message.is_some_and(|m| m.1) {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    let deadline = chrono::DateTime::parse_from_rfc3339(&view.deadline)
        .map(|t| {
            t.with_timezone(&viewer.tz)
                .format("%a %-d %b %Y, %H:%M")
                .to_string()
                + " "
                + viewer.tz.name()
        })
        .unwrap_or_else(|_| view.deadline.clone());
    let may_decide = viewer.may(Method::Post, "/v1/reviews/{id}/approve");
    let may_share = viewer.may(Method::Post, "/v1/runs/{id}/review-links");
    viewer.render_status(
        "review.html",
        status,
        "reviews",
        minijinja::context! {
            review => page::value(&view),
            deadline => deadline,
            decided_by => decided_by,
            csrf => viewer.csrf,
            message => message.map(|m| m.0),
            is_error => message.is_some_and(|m| m.1),
            may_decide => may_decide,
            may_share => may_share,
        },
    )
}

pub(crate) async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<ReviewId>,
) -> Response {
    let ws = match viewer.workspace() {
        Ok(ws) => ws,
        Err(refused) => return *refused,
    };
    match repo::get(state.store.conn(), &ws, &id).await {
        Ok(row) => show(&state, &viewer, row, None).await,
        Err(e) => page::error_page(e.into()),
    }
}

/// The review form: approve (a candidate, caption edits), reject (a reason), regenerate; or
/// `share`, which mints a review link for someone without an account (shown once).
pub(crate) async fn decide(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<ReviewId>,
    RawBody(body): RawBody,
) -> Response {
    let fields = match viewer.form(&body) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let ws = match viewer.workspace() {
        Ok(ws) => ws,
        Err(refused) => return *refused,
    };
    let row = match repo::get(state.store.conn(), &ws, &id).await {
        Ok(row) => row,
        Err(e) => return page::error_page(e.into()),
    };
    if field(&fields, "action") == Some("share") {
        return share(&state, &viewer, row).await;
    }
    if let Err(refused) = viewer.require(Method::Post, "/v1/reviews/{id}/approve") {
        return *refused;
    }
    let outcome = match decide_with_form(&state, &ws, &row, &decider(&viewer.ctx), &fields).await {
        Ok(outcome) => outcome,
        Err(refused) => return show(&state, &viewer, row, Some((&refused, true))).await,
    };
    match outcome {
        Ok(decided) => {
            let text = decided_message_for_team(&decided);
            show(&state, &viewer, decided, Some((text, false))).await
        }
        Err(DecideError::Store(e)) => page::error_page(e.into()),
        Err(e) => {
            let current = repo::get(state.store.conn(), &ws, &id).await.unwrap_or(row);
            show(&state, &viewer, current, Some((&e.to_string(), true))).await
        }
    }
}

fn decided_message_for_team(decided: &pressroom_store::entity::review::Model) -> &'static str {
    match decided.state {
        pressroom_core::ReviewState::Approved => {
            "Approved: the posts go out at their scheduled time."
        }
        _ => decided_message(decided),
    }
}

/// Mints a review link through the API's handler and shows it once.
async fn share(
    state: &ApiState,
    viewer: &Viewer,
    row: pressroom_store::entity::review::Model,
) -> Response {
    if let Err(refused) = viewer.require(Method::Post, "/v1/runs/{id}/review-links") {
        return *refused;
    }
    let run_id = row.run_id.clone();
    let created = api::create_link(
        State(state.clone()),
        Extension(viewer.ctx.clone()),
        Path(run_id),
        RawBody(axum::body::Bytes::from_static(b"{}")),
    )
    .await;
    match created {
        Ok((_, Json(link))) => {
            let text = format!("Review link (shown once, copy it now): {}", link.url);
            show(state, viewer, row, Some((&text, false))).await
        }
        Err(e) => show(state, viewer, row, Some((&e.detail, true))).await,
    }
}

/// A target's rendition of a run, for the review page (signed-in; the workspace's own only).
pub(crate) async fn rendition(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let ws = match viewer.workspace() {
        Ok(ws) => ws,
        Err(refused) => return *refused,
    };
    let id = pressroom_core::RenditionId::from(id);
    let cut = match assets::get_rendition(state.store.conn(), &ws, &id).await {
        Ok(cut) => cut,
        Err(e) => return page::error_page(e.into()),
    };
    match state.blobs.get(&cut.path).await {
        Ok(bytes) => {
            crate::handlers::assets::image_response(bytes, &cut.path, "private, max-age=300")
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
