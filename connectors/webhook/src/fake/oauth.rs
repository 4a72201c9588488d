//! `POST /oauth/token` (RFC 6749 §6, form `grant_type=refresh_token&refresh_token=…`): a new
//! bearer token for a live refresh token (which does not rotate, so the answer omits it);
//! `invalid_grant` (400) for an unknown or revoked one.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde_json::json;

use super::Shared;

pub(super) async fn token(
    State(sh): State<Arc<Shared>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if field("grant_type") != "refresh_token" {
        let body = json!({ "error": "unsupported_grant_type" });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let mut st = sh.state();
    let Some(false) = st.refresh.get(field("refresh_token")).copied() else {
        let body = json!({ "error": "invalid_grant", "error_description": "refresh token revoked or unknown" });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    };
    st.seq += 1;
    let access = format!("wh-tok-{}-renewed", st.seq);
    st.tokens.insert(access.clone(), true);
    Json(json!({ "access_token": access, "token_type": "Bearer", "expires_in": 3600 }))
        .into_response()
}
