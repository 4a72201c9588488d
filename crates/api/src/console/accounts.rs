//! Accounts in the console: each connected account with its token health (when the token
//! expires, whether it needs a reconnect), connect and reconnect through the platform's OAuth
//! consent in this browser, and disconnect. The same handlers as `/v1/accounts`.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pressroom_core::AccountId;
use serde::Serialize;

use super::page::{self, Viewer};
use crate::ApiState;
use crate::handlers::{Path, RawBody, accounts as api, connect};
use crate::html::field;
use crate::page::PageQuery;
use crate::routes::Method;

/// An account row with its health in words.
#[derive(Serialize)]
struct Row {
    #[serde(flatten)]
    account: api::AccountView,
    /// ok, expiring, expired or needs_reconnect.
    health: &'static str,
    health_text: String,
}

/// Tokens closer than this to their end are shown as expiring.
const EXPIRING_MS: i64 = 7 * 24 * 3600 * 1000;

pub(crate) async fn page(State(state): State<ApiState>, viewer: Viewer) -> Response {
    let q = PageQuery {
        limit: Some("200".into()),
        cursor: None,
    };
    let Json(found) = match api::list(
        State(state.clone()),
        Extension(viewer.ctx.clone()),
        Ok(Query(q)),
    )
    .await
    {
        Ok(found) => found,
        Err(e) => return page::error_page(e),
    };
    let now = match state.store.now_ms().await {
        Ok(now) => now,
        Err(e) => return page::error_page(e.into()),
    };
    let rows: Vec<Row> = found
        .data
        .into_iter()
        .map(|a| {
            let (health, text) = match (a.state, a.expires_at) {
                (pressroom_core::AccountState::Disconnected, _) => (
                    "needs_reconnect",
                    a.state_reason
                        .clone()
                        .unwrap_or_else(|| "disconnected: reconnect it".into()),
                ),
                (_, Some(t)) if t <= now => ("expired", "its token has expired: reconnect".into()),
                (_, Some(t)) if t - now < EXPIRING_MS => {
                    ("expiring", "its token expires soon".into())
                }
                _ => ("ok", "publishing".into()),
            };
            Row {
                account: a,
                health,
                health_text: text,
            }
        })
        .collect();
    let platforms = state
        .connect
        .as_ref()
        .map(|f| f.platforms())
        .unwrap_or_default();
    viewer.render(
        "accounts.html",
        "accounts",
        minijinja::context! {
            accounts => page::value(&rows),
            platforms => platforms,
            connect_ready => state.tokens.is_some() && state.oauth_redirect_uri.is_some(),
            may_manage => viewer.may(Method::Post, "/v1/accounts/connect"),
        },
    )
}

/// Starts a connect (the API's handler, which also sets this browser's connect cookie) and
/// sends the browser on to the platform's consent screen.
pub(crate) async fn connect(
    State(state): State<ApiState>,
    viewer: Viewer,
    RawBody(body): RawBody,
) -> Response {
    let fields = match viewer.action_form(&body, Method::Post, "/v1/accounts/connect") {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let mut request =
        serde_json::json!({ "platform": field(&fields, "platform").unwrap_or_default() });
    if let Some(name) = field(&fields, "name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        request["name"] = name.into();
    }
    let started = connect::start(
        State(state),
        Extension(viewer.ctx.clone()),
        RawBody(Bytes::from(request.to_string())),
    )
    .await;
    let resp = match started {
        Ok(resp) => resp,
        Err(e) => return page::failed("/accounts", e),
    };
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let Some(url) = answer["authorize_url"].as_str().map(str::to_owned) else {
        return page::done("/accounts", false, "The platform gave no consent address.");
    };
    // A page that moves on to the consent screen: the Content Security Policy keeps forms to
    // this site, so the browser follows a link (and a refresh), not the form's redirect.
    let mut resp = viewer.render(
        "connect.html",
        "accounts",
        minijinja::context! { url => url, platform => field(&fields, "platform") },
    );
    for c in parts.headers.get_all(axum::http::header::SET_COOKIE) {
        resp.headers_mut()
            .append(axum::http::header::SET_COOKIE, c.clone());
    }
    resp.into_response()
}

pub(crate) async fn disconnect(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<AccountId>,
    RawBody(body): RawBody,
) -> Response {
    if let Err(refused) = viewer.action_form(&body, Method::Post, "/v1/accounts/{id}/disconnect") {
        return *refused;
    }
    match api::disconnect(State(state), Extension(viewer.ctx.clone()), Path(id)).await {
        Ok(Json(a)) => page::done(
            "/accounts",
            true,
            &format!("Disconnected {}: its posts wait for a reconnect.", a.name),
        ),
        Err(e) => page::failed("/accounts", e),
    }
}
