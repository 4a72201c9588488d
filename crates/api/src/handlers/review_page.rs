//! The review page behind a review link (`/review/{token}`): the link is the credential, so a
//! client without an account sees the candidates, each target's caption, and approves or
//! rejects. The form carries a CSRF token that must match a cookie set with the page
//! (`SameSite=Strict`), and the page is never cached or sent as a referrer (the URL is the
//! secret). A link stops working once revoked or expired; after the decision it shows the
//! decision and decides nothing more.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pressroom_crypto::password::token_hash;
use pressroom_runtime::reviews::{self as decide, DecideError, Decider};
use pressroom_store::entity::review;
use pressroom_store::repo::{assets, reviews};

use crate::ApiState;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::reviews::{ImageUrls, view};
use crate::handlers::{Path, RawBody};
use crate::html::{csrf_ok, field, form_fields, message_page};

const TITLE: &str = "Review link";
/// Longest reviewer name kept.
const MAX_NAME_CHARS: usize = 100;

/// The live link a token names, and its review; a refusal page otherwise.
async fn open_link(
    state: &ApiState,
    token: &str,
) -> Result<(reviews::LinkRow, review::Model), Response> {
    let forbidden = |m: &str| message_page(StatusCode::FORBIDDEN, TITLE, m);
    let link = reviews::link_by_hash(&state.store, state.store.conn(), &token_hash(token))
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .ok_or_else(|| forbidden("This review link is not valid."))?;
    if link.revoked_at.is_some() {
        return Err(forbidden("This review link was revoked."));
    }
    let now = state
        .store
        .now_ms()
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    if now >= link.expires_at {
        return Err(forbidden("This review link has expired."));
    }
    let review = reviews::get(state.store.conn(), &link.workspace_id, &link.review_id)
        .await
        .map_err(|_| forbidden("This review link is not valid."))?;
    Ok((link, review))
}

async fn render_page(
    state: &ApiState,
    token: &str,
    review: review::Model,
    message: Option<(&str, bool)>,
) -> ApiResult<Response> {
    let view = view(state, review, ImageUrls::Link(token)).await?;
    let status = match message {
        Some((_, true)) => StatusCode::CONFLICT,
        _ => StatusCode::OK,
    };
    // People read "9 Dec 2026, 11:10 UTC", not an RFC 3339 stamp.
    let deadline = chrono::DateTime::parse_from_rfc3339(&view.deadline)
        .map(|t| t.format("%-d %b %Y, %H:%M UTC").to_string())
        .unwrap_or_else(|_| view.deadline.clone());
    let decided_by = view
        .decision
        .as_ref()
        .map(|d| decided_by_text(&d.by))
        .unwrap_or_default();
    let cookie_path = format!("/review/{token}");
    crate::html::render(
        "review.html",
        status,
        &cookie_path,
        state.secure_cookies,
        |csrf| {
            minijinja::context! {
                deadline => deadline,
                decided_by => decided_by,
                review => minijinja::Value::from_serialize(&view),
                csrf => csrf,
                message => message.map(|m| m.0),
                is_error => message.is_some_and(|m| m.1),
            }
        },
    )
}

/// Who decided, in words a client reads (not the stored `user:`/`link:`/`key:` label).
pub(crate) fn decided_by_text(label: &str) -> String {
    match label.split_once(':') {
        Some(("user", email)) => email.to_owned(),
        Some(("link", rest)) => match rest.split_once(" (") {
            Some((_, name)) => format!("{}, through a review link", name.trim_end_matches(')')),
            None => "someone with a review link".to_owned(),
        },
        Some(("key", _)) => "an API client".to_owned(),
        _ => match label {
            "cli" => "an operator".to_owned(),
            "expiry" => "nobody before the deadline".to_owned(),
            _ => "Pressroom".to_owned(),
        },
    }
}

pub async fn page(State(state): State<ApiState>, Path(token): Path<String>) -> Response {
    let (_, review) = match open_link(&state, &token).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    render_page(&state, &token, review, None)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn decide_form(
    State(state): State<ApiState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let (link, review) = match open_link(&state, &token).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let fields = match form_fields(&body) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let field = |name: &str| field(&fields, name);
    if !csrf_ok(&headers, field("csrf")) {
        return message_page(
            StatusCode::FORBIDDEN,
            TITLE,
            "This form has expired or came from another site. Reload the review page and decide again.",
        );
    }
    // Kept in the audit trail and shown to others: printable characters only.
    let name = field("name")
        .map(|n| n.chars().filter(|c| !c.is_control()).collect::<String>())
        .map(|n| n.trim().chars().take(MAX_NAME_CHARS).collect::<String>())
        .filter(|n| !n.is_empty());
    let decider = Decider::Link {
        id: link.id.clone(),
        name,
    };
    let outcome =
        match decide_with_form(&state, &link.workspace_id, &review, &decider, &fields).await {
            Ok(outcome) => outcome,
            Err(refused) => return message_page(StatusCode::BAD_REQUEST, TITLE, &refused),
        };
    let ws = &link.workspace_id;
    match outcome {
        Ok(decided) => {
            let message = decided_message(&decided);
            render_page(&state, &token, decided, Some((message, false)))
                .await
                .unwrap_or_else(IntoResponse::into_response)
        }
        Err(DecideError::Store(e)) => ApiError::from(e).into_response(),
        Err(
            e @ (DecideError::Decided(_)
            | DecideError::NotReady
            | DecideError::AllFlagged
            | DecideError::Stale { .. }),
        ) => {
            let current = reviews::get(state.store.conn(), ws, &review.id).await;
            match current {
                Ok(current) => render_page(&state, &token, current, Some((&e.to_string(), true)))
                    .await
                    .unwrap_or_else(IntoResponse::into_response),
                Err(e) => ApiError::from(e).into_response(),
            }
        }
        Err(e) => message_page(StatusCode::BAD_REQUEST, TITLE, &e.to_string()),
    }
}

/// A candidate's image, for the review page.
pub async fn candidate(
    State(state): State<ApiState>,
    Path((token, index)): Path<(String, usize)>,
) -> Response {
    let (link, review) = match open_link(&state, &token).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let found = async {
        let list = reviews::candidates(&review)?;
        let Some(asset_id) = list.get(index) else {
            return Ok(None);
        };
        let asset = assets::get(state.store.conn(), &link.workspace_id, asset_id).await?;
        Ok::<_, pressroom_store::StoreError>(Some(asset))
    }
    .await;
    let asset = match found {
        Ok(Some(asset)) => asset,
        Ok(None) => {
            return message_page(StatusCode::NOT_FOUND, TITLE, "There is no such candidate.");
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Ok(bytes) = state.blobs.get(&asset.path).await else {
        return message_page(
            StatusCode::NOT_FOUND,
            TITLE,
            "This image is no longer stored.",
        );
    };
    let mut resp = crate::handlers::assets::image_response(bytes, &asset.path, "private, no-store");
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// One of the run's renditions (a target's cut at its real aspect), for the review page.
pub async fn rendition(
    State(state): State<ApiState>,
    Path((token, rendition_id)): Path<(String, String)>,
) -> Response {
    let (link, review) = match open_link(&state, &token).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let id = pressroom_core::RenditionId::from(rendition_id);
    // Only a cut of this review's run: the link opens nothing else.
    let cut = match assets::get_rendition(state.store.conn(), &link.workspace_id, &id).await {
        Ok(cut) if cut.run_id == review.run_id => cut,
        Ok(_) | Err(pressroom_store::StoreError::NotFound { .. }) => {
            return message_page(StatusCode::NOT_FOUND, TITLE, "There is no such image.");
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Ok(bytes) = state.blobs.get(&cut.path).await else {
        return message_page(
            StatusCode::NOT_FOUND,
            TITLE,
            "This image is no longer stored.",
        );
    };
    let mut resp = crate::handlers::assets::image_response(bytes, &cut.path, "private, no-store");
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// Carries out a review form (`action` approve | reject | regenerate, `candidate`,
/// `caption:KEY`, `reason`, `round`) for `decider`: the public review page's and the console's.
/// Only captions the reviewer changed count as edits. `Err` is a malformed form, in words.
pub(crate) async fn decide_with_form(
    state: &ApiState,
    ws: &pressroom_core::WorkspaceId,
    review: &review::Model,
    decider: &Decider,
    fields: &[(String, String)],
) -> Result<Result<review::Model, DecideError>, String> {
    let field = |name: &str| field(fields, name);
    let reason = field("reason").unwrap_or_default().trim().to_owned();
    // The round of candidates the page showed: a decision about replaced ones is refused.
    let seen_round = field("round").and_then(|r| r.parse::<i32>().ok());
    match field("action") {
        Some("approve") => {
            let candidate = field("candidate")
                .unwrap_or("0")
                .parse::<u32>()
                .map_err(|_| "candidate: not a number.".to_owned())?;
            let current = match view(state, review.clone(), ImageUrls::Api).await {
                Ok(v) => v,
                Err(e) => return Err(e.detail),
            };
            let captions: BTreeMap<String, String> = fields
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("caption:").map(|key| (key, v)))
                .filter(|(key, v)| {
                    current
                        .targets
                        .iter()
                        .find(|t| t.key == *key)
                        .is_none_or(|t| t.caption != v.replace("\r\n", "\n"))
                })
                .map(|(key, v)| (key.to_owned(), v.replace("\r\n", "\n")))
                .collect();
            Ok(decide::approve(
                &state.store,
                &state.queue,
                ws,
                &review.id,
                decider,
                candidate,
                captions,
                seen_round,
            )
            .await)
        }
        Some(action @ ("reject" | "regenerate")) => Ok(decide::reject(
            &state.store,
            &state.queue,
            ws,
            &review.id,
            decider,
            &reason,
            action == "regenerate",
            seen_round,
        )
        .await),
        _ => Err("action: approve, reject or regenerate.".to_owned()),
    }
}

/// What a reviewer reads after deciding.
pub(crate) fn decided_message(decided: &review::Model) -> &'static str {
    match decided.state {
        pressroom_core::ReviewState::Pending => "New images are on their way.",
        pressroom_core::ReviewState::Approved => "Thank you: it will be published as approved.",
        _ => "Thank you: nothing of it will be published.",
    }
}
