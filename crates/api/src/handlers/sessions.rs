//! People signing in and out: `POST /v1/sessions` (email and password → a session cookie and
//! a CSRF cookie), `POST /v1/invitations/accept` (an invitation's token and a new password →
//! the same), `DELETE /v1/sessions/current`, `DELETE /v1/sessions` (everywhere), and
//! `GET /v1/me`. Failed sign-ins are throttled per account and per address; an unknown email
//! costs the same time as a wrong password and answers the same 401.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::header::SET_COOKIE;
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pressroom_core::WorkspaceId;
use pressroom_crypto::password;
use pressroom_store::repo::people;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::{CSRF_COOKIE, Ctx, SESSION_COOKIE};
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::{RawBody, json_body};

/// `POST /v1/sessions`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    #[schema(max_length = 320)]
    email: String,
    #[schema(format = Password, max_length = 1024)]
    password: String,
}

/// A signed-in person.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: String,
}

/// One of a person's workspaces and their role there.
#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    pub workspace_id: WorkspaceId,
    /// Name it in `X-Pressroom-Workspace` when you belong to several.
    pub workspace: String,
    #[schema(value_type = crate::auth::Role)]
    pub role: String,
}

/// `GET /v1/me`, and what a sign-in answers.
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: UserView,
    pub memberships: Vec<MembershipView>,
    /// The session's end (milliseconds since the Unix epoch).
    pub expires_at: i64,
    /// Send it back as `X-CSRF-Token` on requests that change anything (also in the
    /// `pressroom_csrf` cookie); only a sign-in answers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub csrf_token: Option<String>,
}

async fn me_of(state: &ApiState, user_id: &str, expires_at: i64) -> ApiResult<Me> {
    let user = people::user(&state.store, user_id).await?;
    let memberships = people::memberships(&state.store, user_id)
        .await?
        .into_iter()
        .map(|m| MembershipView {
            workspace_id: m.workspace_id,
            workspace: m.workspace_slug,
            role: m.role,
        })
        .collect();
    Ok(Me {
        user: UserView {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
        },
        memberships,
        expires_at,
        csrf_token: None,
    })
}

/// Signs a person in.
pub async fn create(
    State(state): State<ApiState>,
    extensions: Extensions,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let input: SignIn = json_body(&body)?;
    let user = check_password(&state, &extensions, &input.email, input.password).await?;
    let (me, cookies) = new_session(&state, &user.id).await?;
    let mut resp = (StatusCode::CREATED, Json(me)).into_response();
    for c in cookies {
        resp.headers_mut().append(SET_COOKIE, c);
    }
    Ok(resp)
}

/// The person whose email and password these are (the API's and the console's sign-in):
/// throttled per account and per address, the same 401 and the same time for an unknown
/// email as for a wrong password.
pub(crate) async fn check_password(
    state: &ApiState,
    extensions: &Extensions,
    email: &str,
    password: String,
) -> ApiResult<people::UserRow> {
    let email = people::normalize_email(email);
    if email.is_empty() || email.len() > 320 {
        return Err(ApiError::invalid("email: 1 to 320 characters"));
    }
    let account_key = format!("login:{email}");
    // An account or an address that used up its failed sign-ins waits, right or wrong.
    state
        .login_limiter
        .peek(&account_key)
        .map_err(rate_limited)?;
    let ip = unthrottled_address(state, extensions)?;
    let user = people::user_by_email(&state.store, &email).await?;
    let stored = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_owned());
    let presented = SecretString::from(password);
    let matches =
        tokio::task::spawn_blocking(move || password::verify_password(&presented, &stored))
            .await
            .map_err(ApiError::internal)?;
    match user {
        Some(u) if matches && u.password_hash.is_some() => Ok(u),
        _ => {
            let _ = state.login_limiter.check(&account_key);
            if let Some(ip) = &ip {
                let _ = state.auth_failure_limiter.check(ip);
            }
            Err(ApiError::new(
                Code::Unauthenticated,
                "email or password is wrong",
            ))
        }
    }
}

/// `POST /v1/invitations/accept`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptInvitation {
    /// The last part of the invitation link.
    #[schema(max_length = 100)]
    token: String,
    /// The password to sign in with from now on (at least 10 characters).
    #[schema(format = Password, min_length = 10, max_length = 1024)]
    password: String,
}

/// Accepts an invitation: sets the person's password (once per invitation, before it
/// expires) and signs them in.
pub async fn accept_invitation(
    State(state): State<ApiState>,
    extensions: Extensions,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let input: AcceptInvitation = json_body(&body)?;
    let ip = unthrottled_address(&state, &extensions)?;
    let user_id = accept(
        &state,
        ip.as_deref(),
        input.token.trim(),
        SecretString::from(input.password),
    )
    .await?;
    let (me, cookies) = new_session(&state, &user_id).await?;
    let mut resp = (StatusCode::CREATED, Json(me)).into_response();
    for c in cookies {
        resp.headers_mut().append(SET_COOKIE, c);
    }
    Ok(resp)
}

/// Sets the password of an invitation's user and uses the invitation (once); answers the user.
/// A wrong token counts against the client address. The JSON route and the invitation page
/// share it.
pub(crate) async fn accept(
    state: &ApiState,
    ip: Option<&str>,
    token: &str,
    password: SecretString,
) -> ApiResult<String> {
    let hash = hash_new_password(password).await?;
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    let token_hash = password::token_hash(token);
    let Some(user_id) = people::use_invitation(&state.store, &tx, now, &token_hash).await? else {
        drop(tx);
        if let Some(ip) = ip {
            let _ = state.auth_failure_limiter.check(ip);
        }
        return Err(ApiError::new(
            Code::Unauthenticated,
            "token: this invitation is unknown, used or expired; ask for a new one",
        ));
    };
    people::set_password(&state.store, &tx, now, &user_id, &hash).await?;
    tx.commit().await?;
    Ok(user_id)
}

/// The argon2id hash of a new password, off the executor: a too short or too long one is a
/// 400 naming `password`; a hashing failure is ours (500).
async fn hash_new_password(secret: SecretString) -> ApiResult<String> {
    let hashed = tokio::task::spawn_blocking(move || password::hash_password(&secret))
        .await
        .map_err(ApiError::internal)?;
    hashed.map_err(|e| match e {
        password::PasswordError::TooShort | password::PasswordError::TooLong => {
            ApiError::invalid(e.to_string())
        }
        password::PasswordError::Hash(_) => ApiError::internal(e),
    })
}

/// A new session for `user_id`: the person (with the CSRF token) and the two cookies to set.
pub(crate) async fn new_session(
    state: &ApiState,
    user_id: &str,
) -> ApiResult<(Me, [HeaderValue; 2])> {
    let now = state.store.now_ms().await?;
    let expires_at = now.saturating_add(state.session_ttl.as_millis() as i64);
    let (token, token_hash) = password::new_token();
    people::insert_session(&state.store, now, user_id, &token_hash, expires_at).await?;
    let csrf = pressroom_crypto::random_token();
    let mut me = me_of(state, user_id, expires_at).await?;
    me.csrf_token = Some(csrf.clone());
    let max_age = state.session_ttl.as_secs();
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let session_cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        token.expose_secret()
    );
    let csrf_cookie =
        format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Lax; Max-Age={max_age}{secure}");
    let header = |c: String| HeaderValue::from_str(&c).map_err(ApiError::internal);
    Ok((me, [header(session_cookie)?, header(csrf_cookie)?]))
}

/// The signed-in person, their workspaces and roles.
pub async fn me(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Json<Me>> {
    let person = ctx
        .person
        .as_ref()
        .ok_or_else(|| ApiError::forbidden("only a signed-in person has a /v1/me"))?;
    let now = state.store.now_ms().await?;
    let session = people::session(&state.store, now, &person.session_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(Json(
        me_of(&state, &person.user_id, session.expires_at).await?,
    ))
}

/// Signs this browser out.
pub async fn delete_current(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Response> {
    let person = ctx
        .person
        .as_ref()
        .ok_or_else(|| ApiError::forbidden("only a signed-in person can sign out"))?;
    let now = state.store.now_ms().await?;
    people::revoke_session(&state.store, now, &person.session_id).await?;
    state.auth_cache.clear();
    Ok(signed_out(&state))
}

/// Signs the person out everywhere (every session of theirs).
pub async fn delete_all(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Response> {
    let person = ctx
        .person
        .as_ref()
        .ok_or_else(|| ApiError::forbidden("only a signed-in person can sign out"))?;
    let now = state.store.now_ms().await?;
    people::revoke_all_sessions(&state.store, state.store.conn(), now, &person.user_id).await?;
    state.auth_cache.clear();
    Ok(signed_out(&state))
}

/// 204 that also clears both cookies in the browser.
pub(crate) fn signed_out(state: &ApiState) -> Response {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let mut headers = HeaderMap::new();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        if let Ok(v) =
            HeaderValue::from_str(&format!("{name}=; Path=/; SameSite=Lax; Max-Age=0{secure}"))
        {
            headers.append(SET_COOKIE, v);
        }
    }
    resp.headers_mut().extend(headers);
    resp
}

/// The caller's address (for counting its failures), or a 429 when it used up its failed
/// authentications (bad keys, wrong passwords, unknown invitations: one budget).
pub(crate) fn unthrottled_address(
    state: &ApiState,
    extensions: &Extensions,
) -> ApiResult<Option<String>> {
    let ip = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| crate::ratelimit::ip_key(c.0.ip()));
    if let Some(ip) = &ip {
        state.auth_failure_limiter.peek(ip).map_err(rate_limited)?;
    }
    Ok(ip)
}

/// 429 with the wait until another sign-in may be tried.
fn rate_limited(wait: std::time::Duration) -> ApiError {
    let mut e = ApiError::new(
        Code::RateLimited,
        "too many failed sign-ins; see Retry-After",
    );
    e.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
    e
}
