//! The invitation page (`/invite/{token}`), the link `pressroom users add` prints and mails: a
//! person sets their password there (typed twice, CSRF-protected form) and the browser is
//! signed in, as `POST /v1/invitations/accept` does for API clients. An unknown, used or
//! expired invitation opens nothing.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pressroom_crypto::password::token_hash;
use pressroom_store::repo::people;
use secrecy::SecretString;

use crate::ApiState;
use crate::errors::{ApiError, Code};
use crate::handlers::sessions::{accept, new_session, unthrottled_address};
use crate::handlers::{Path, RawBody};
use crate::html::{csrf_ok, field, form_fields, message_page};

const TITLE: &str = "Invitation";
const INVALID: &str = "This invitation is unknown, already used or expired. Ask for a new one.";

/// The invited person's email, or the refusal page.
async fn invited(state: &ApiState, token: &str) -> Result<String, Response> {
    let now = state
        .store
        .now_ms()
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    people::invitation_email(&state.store, now, &token_hash(token))
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .ok_or_else(|| message_page(StatusCode::FORBIDDEN, TITLE, INVALID))
}

fn form(
    state: &ApiState,
    token: &str,
    email: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    crate::html::render(
        "invite.html",
        status,
        &format!("/invite/{token}"),
        state.secure_cookies,
        |csrf| {
            minijinja::context! { email => email, csrf => csrf, message => message, done => false }
        },
    )
    .unwrap_or_else(IntoResponse::into_response)
}

pub async fn page(State(state): State<ApiState>, Path(token): Path<String>) -> Response {
    match invited(&state, &token).await {
        Ok(email) => form(&state, &token, &email, None, StatusCode::OK),
        Err(refused) => refused,
    }
}

pub async fn submit(
    State(state): State<ApiState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    extensions: Extensions,
    RawBody(body): RawBody,
) -> Response {
    let ip = match unthrottled_address(&state, &extensions) {
        Ok(ip) => ip,
        Err(e) => return e.into_response(),
    };
    let email = match invited(&state, &token).await {
        Ok(email) => email,
        Err(refused) => {
            if let Some(ip) = &ip {
                let _ = state.auth_failure_limiter.check(ip);
            }
            return refused;
        }
    };
    let fields = match form_fields(&body) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    if !csrf_ok(&headers, field(&fields, "csrf")) {
        return message_page(
            StatusCode::FORBIDDEN,
            TITLE,
            "This form has expired or came from another site. Open the invitation link again.",
        );
    }
    let password = field(&fields, "password").unwrap_or_default();
    if field(&fields, "confirm") != Some(password) {
        return form(
            &state,
            &token,
            &email,
            Some("The two passwords differ."),
            StatusCode::BAD_REQUEST,
        );
    }
    let user_id = match accept(
        &state,
        ip.as_deref(),
        &token,
        SecretString::from(password.to_owned()),
    )
    .await
    {
        Ok(user_id) => user_id,
        Err(e) if e.code == Code::InvalidRequest => {
            return form(
                &state,
                &token,
                &email,
                Some(&e.detail),
                StatusCode::BAD_REQUEST,
            );
        }
        Err(e) if e.code == Code::Unauthenticated => {
            return message_page(StatusCode::FORBIDDEN, TITLE, INVALID);
        }
        Err(e) => return e.into_response(),
    };
    let (_, cookies) = match new_session(&state, &user_id).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let path = format!("/invite/{token}");
    let mut resp = crate::html::render(
        "invite.html",
        StatusCode::OK,
        &path,
        state.secure_cookies,
        |csrf| {
            minijinja::context! { email => email, csrf => csrf, done => true }
        },
    )
    .unwrap_or_else(IntoResponse::into_response);
    for c in cookies {
        resp.headers_mut().append(SET_COOKIE, c);
    }
    resp
}
