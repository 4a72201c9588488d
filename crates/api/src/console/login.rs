//! Signing in and out of the console, and choosing a workspace. The sign-in form is the API's
//! sign-in (same throttles, same answer for an unknown email as for a wrong password), with a
//! CSRF token of its own page; a successful one sets the same session cookies as
//! `POST /v1/sessions` and goes on to the page the person asked for.

use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use pressroom_store::repo::people;
use serde::Deserialize;

use super::page::{self, Viewer, local_path};
use crate::ApiState;
use crate::auth::{self, WORKSPACE_COOKIE};
use crate::errors::Code;
use crate::handlers::RawBody;
use crate::handlers::sessions::{check_password, new_session, signed_out};
use crate::html::{csrf_ok, field};

/// `/`: the calendar when signed in, else the sign-in page.
pub(crate) async fn root(headers: HeaderMap) -> Response {
    if auth::cookie(&headers, auth::SESSION_COOKIE).is_some() {
        Redirect::to("/calendar").into_response()
    } else {
        Redirect::to("/login").into_response()
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

pub(crate) async fn page(State(state): State<ApiState>, Query(q): Query<LoginQuery>) -> Response {
    let next = local_path(q.next.as_deref().unwrap_or("/calendar")).to_owned();
    form(&state, StatusCode::OK, &next, "", None)
}

fn form(
    state: &ApiState,
    status: StatusCode,
    next: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    page::render_with_csrf(
        "login.html",
        status,
        "/login",
        state.secure_cookies,
        |csrf| {
            minijinja::context! { csrf => csrf, next => next, email => email, error => error }
        },
    )
}

pub(crate) async fn submit(
    State(state): State<ApiState>,
    extensions: Extensions,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let fields = match page::form(&body) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let next = local_path(field(&fields, "next").unwrap_or("/calendar")).to_owned();
    let email = field(&fields, "email")
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !csrf_ok(&headers, field(&fields, "csrf")) {
        return form(
            &state,
            StatusCode::FORBIDDEN,
            &next,
            &email,
            Some("The sign-in form expired. Please sign in again."),
        );
    }
    let password = field(&fields, "password").unwrap_or_default().to_owned();
    if email.is_empty() || password.is_empty() {
        return form(
            &state,
            StatusCode::BAD_REQUEST,
            &next,
            &email,
            Some("Enter your email and your password."),
        );
    }
    let user = match check_password(&state, &extensions, &email, password).await {
        Ok(user) => user,
        Err(e)
            if matches!(
                e.code,
                Code::Unauthenticated | Code::RateLimited | Code::InvalidRequest
            ) =>
        {
            let status = e.code.status();
            let text = if e.code == Code::Unauthenticated {
                "The email or the password is wrong.".to_owned()
            } else {
                format!("{}.", e.detail)
            };
            return form(&state, status, &next, &email, Some(&text));
        }
        Err(e) => return page::error_page(e),
    };
    let cookies = match new_session(&state, &user.id).await {
        Ok((_, cookies)) => cookies,
        Err(e) => return page::error_page(e),
    };
    let mut resp = Redirect::to(&next).into_response();
    for c in cookies {
        resp.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    // Another person's workspace choice on this browser is not theirs.
    page::set_cookie(
        &mut resp,
        &format!("{WORKSPACE_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax"),
    );
    resp
}

/// Signs this browser out and goes back to the sign-in page.
pub(crate) async fn logout(
    State(state): State<ApiState>,
    viewer: Viewer,
    RawBody(body): RawBody,
) -> Response {
    if let Err(refused) = viewer.form(&body) {
        return *refused;
    }
    if let Some(person) = &viewer.ctx.person {
        let revoked = async {
            let now = state.store.now_ms().await?;
            people::revoke_session(&state.store, now, &person.session_id).await
        }
        .await;
        if let Err(e) = revoked {
            return page::error_page(e.into());
        }
        state.auth_cache.clear();
    }
    let mut resp = Redirect::to("/login").into_response();
    let cleared = signed_out(&state);
    for c in cleared.headers().get_all(axum::http::header::SET_COOKIE) {
        resp.headers_mut()
            .append(axum::http::header::SET_COOKIE, c.clone());
    }
    page::set_cookie(
        &mut resp,
        &format!("{WORKSPACE_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax"),
    );
    resp
}

/// The workspace switcher: remembers the chosen workspace (one of the person's) in a cookie.
pub(crate) async fn switch_workspace(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let fields = match viewer.form(&body) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let chosen = field(&fields, "workspace").unwrap_or_default();
    if !viewer.workspaces.iter().any(|w| w == chosen) {
        return page::done(
            "/calendar",
            false,
            "workspace: you are not a member of that one",
        );
    }
    // Back to the page the switch was made on (a path of ours), in the other workspace.
    let back = headers
        .get(axum::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").map(|i| &r[i + 3..]))
        .and_then(|r| r.find('/').map(|i| r[i..].to_owned()))
        .filter(|p| {
            !p.starts_with("/reviews/") && !p.starts_with("/runs/") && !p.starts_with("/campaigns/")
        })
        .unwrap_or_else(|| "/calendar".to_owned());
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let mut resp = page::done(&back, true, &format!("Now in {chosen}."));
    page::set_cookie(
        &mut resp,
        &format!("{WORKSPACE_COOKIE}={chosen}; Path=/; Max-Age=31536000; SameSite=Lax{secure}"),
    );
    resp
}
