//! `POST /v1/accounts/connect` and `GET /v1/oauth/callback` (see [`crate::connect`]).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pressroom_runtime::{NewAccount, TokenCipher, save_account};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::connect::pending::{ConnectStart, PendingConnect, Refusal};
use crate::connect::{CONNECT_TTL, ConnectFlows, cookie};
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::{RawBody, json_body};

/// `POST /v1/accounts/connect`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectRequest {
    platform: String,
    /// Where the platform sends the browser back; default: this API's
    /// `{public_base_url}/v1/oauth/callback`. Must be registered with the platform app.
    redirect_uri: Option<String>,
    /// Stored account name (one account) or prefix (several); default PLATFORM-ID.
    name: Option<String>,
}

pub async fn start(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let input: ConnectRequest = json_body(&body)?;
    let ws = ctx.workspace()?;
    let (Some(flows), Some(_)) = (state.connect.as_ref(), state.tokens.as_ref()) else {
        return Err(ApiError::new(
            Code::Unavailable,
            "account connect is not configured on this instance",
        ));
    };
    if !flows.platforms().contains(&input.platform.as_str()) {
        return Err(ApiError::invalid(format!(
            "platform: {:?} cannot be connected here (one of: {})",
            input.platform,
            flows.platforms().join(", ")
        )));
    }
    let redirect_uri = input
        .redirect_uri
        .clone()
        .or_else(|| state.oauth_redirect_uri.clone())
        .ok_or_else(|| {
            ApiError::invalid("redirect_uri: required when media.public_base_url is not configured")
        })?;
    if !(redirect_uri.starts_with("https://") || redirect_uri.starts_with("http://")) {
        return Err(ApiError::invalid("redirect_uri: must be an http(s) URL"));
    }
    let pending = flows
        .authorize(&input.platform, &redirect_uri)
        .map_err(|e| ApiError::invalid(format!("platform: {e:#}")))?;
    // The callback only accepts the browser this response reaches (see connect::cookie).
    let browser_token = pressroom_crypto::random_token();
    let set_cookie = cookie::set(&pending.state, &browser_token, &redirect_uri)
        .ok_or_else(|| ApiError::invalid("redirect_uri: its path cannot scope a cookie"))?;
    state.pending_connects.insert(
        pending.state.clone(),
        ConnectStart {
            workspace_id: ws.clone(),
            platform: input.platform,
            redirect_uri: redirect_uri.clone(),
            name: input.name,
            actor: ctx.actor(),
            pkce_verifier: pending.pkce_verifier,
            browser_token,
        },
    );
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, set_cookie)],
        Json(json!({
            "authorize_url": pending.url.as_str(),
            "state": pending.state,
            "redirect_uri": redirect_uri,
            "expires_in": CONNECT_TTL.as_secs(),
        })),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The one-time state of the connect this API started.
    #[param(required)]
    state: Option<String>,
    /// The authorization code the platform granted.
    code: Option<String>,
    /// The platform's error when consent was refused.
    error: Option<String>,
    /// The platform's words for that error.
    error_description: Option<String>,
}

/// The browser's return from the consent screen. Authorized by `state`, which only the
/// connect that started it knows, together with the cookie that start set on its browser;
/// used once, and the cookie is removed with it.
pub async fn callback(
    State(state): State<ApiState>,
    headers: HeaderMap,
    q: Result<Query<CallbackQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = crate::handlers::workspaces::query(q)?;
    // A malformed request is the caller's to fix whatever this instance is configured with.
    let key = q
        .state
        .clone()
        .ok_or_else(|| ApiError::invalid("state: missing"))?;
    let (Some(flows), Some(cipher)) = (state.connect.as_ref(), state.tokens.as_ref()) else {
        return Err(ApiError::new(
            Code::Unavailable,
            "account connect is not configured on this instance",
        ));
    };
    let pending = state
        .pending_connects
        .take(&key, cookie::presented(&headers, &key).as_deref())
        .map_err(|refusal| match refusal {
            Refusal::Unknown => {
                ApiError::invalid("state: unknown, used or expired; start the connect again")
            }
            Refusal::OtherBrowser => ApiError::new(
                Code::ConnectOtherBrowser,
                "this browser did not start the connect (its connect cookie is missing or \
                 different): open the authorize URL in the browser that called \
                 POST /v1/accounts/connect, or start the connect again from this browser",
            ),
        })?;
    let clear = cookie::clear(&key, &pending.redirect_uri);
    let platform = pending.platform.clone();
    let finished = finish(&state, flows.as_ref(), cipher.as_ref(), q, pending).await;
    // A person's browser (the console's connect button) goes back to the accounts page with
    // the outcome; an API client gets the JSON.
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let mut response = match (finished, browser) {
        (Ok(Json(done)), true) => {
            let n = done["connected"].as_array().map_or(0, Vec::len);
            crate::console::page::done(
                "/accounts",
                true,
                &format!(
                    "Connected {n} {platform} account{}.",
                    if n == 1 { "" } else { "s" }
                ),
            )
        }
        (Err(e), true) => crate::console::page::failed("/accounts", e),
        (finished, false) => finished.into_response(),
    };
    if let Some(clear) = clear {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    Ok(response)
}

/// The rest of a callback whose connect was taken: the code exchange and the stored accounts.
async fn finish(
    state: &ApiState,
    flows: &dyn ConnectFlows,
    cipher: &dyn TokenCipher,
    q: CallbackQuery,
    pending: PendingConnect,
) -> ApiResult<Json<Value>> {
    if let Some(error) = q.error {
        return Err(ApiError::invalid(format!(
            "the platform refused the authorization: {error} {}",
            q.error_description.unwrap_or_default()
        )));
    }
    let code = q
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::invalid("code: missing"))?;
    let granted = flows
        .finish(
            &pending.platform,
            &pending.redirect_uri,
            &code,
            pending.pkce_verifier.as_ref(),
        )
        .await
        .map_err(|e| {
            tracing::warn!(platform = %pending.platform, error = %format!("{e:#}"), "oauth callback: code exchange failed");
            ApiError::new(Code::Unavailable, format!("{}: the code exchange failed: {e:#}", pending.platform))
        })?;
    if granted.is_empty() {
        return Err(ApiError::invalid(format!(
            "{}: the consent granted no account we can publish to",
            pending.platform
        )));
    }
    let ws = &pending.workspace_id;
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    let mut stored = Vec::new();
    for g in &granted {
        // The connect flow was found by this name when it started, so it is a platform.
        let platform = pressroom_core::Platform::parse(&pending.platform).ok_or_else(|| {
            ApiError::invalid(format!("platform: unknown platform {:?}", pending.platform))
        })?;
        let name = match (&pending.name, granted.len()) {
            (Some(n), 1) => n.clone(),
            (Some(n), _) => format!("{n}-{}", g.external_id),
            (None, _) => format!("{}-{}", pending.platform, g.external_id),
        };
        let new = NewAccount {
            platform,
            name: &name,
            external_id: &g.external_id,
            credentials: &g.credentials,
        };
        let id = save_account(
            &state.store,
            &tx,
            cipher,
            ws,
            now,
            &new,
            &pending.actor,
            "account.connected",
        )
        .await
        .map_err(ApiError::internal)?;
        stored.push(json!({
            "id": id,
            "name": name,
            "platform": pending.platform,
            "external_id": g.external_id,
            "display_name": g.display,
        }));
    }
    tx.commit().await?;
    Ok(Json(json!({ "connected": stored })))
}
