//! Random failures in Snap's words (issue #20), on every Public Profile call (the token
//! endpoint is left alone): a 500 with Snap's `request_status: "ERROR"` envelope, which
//! creates nothing; a 429 without rate headers (Snap documents none); and lost answers, where
//! the call is carried out (a story post creates the story) and its answer is held past the
//! connector's timeout. Snap documents no error codes; the codes here are the fake's own.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pressroom_connector::testkit::Strike;
use serde_json::json;

use super::Shared;

fn envelope(sh: &Shared, code: &str, message: &str) -> serde_json::Value {
    json!({
        "request_status": "ERROR", "request_id": format!("req-chaos-{}", sh.state().next_id()),
        "debug_message": message, "display_message": message, "error_code": code,
    })
}

pub async fn middleware(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let hold = sh.state().opts.lost_answer_hold;
    sh.chaos
        .run(hold, req, next, |strike| match strike {
            Strike::ServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(envelope(&sh, "E5000", "Internal server error")),
            )
                .into_response(),
            Strike::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                Json(envelope(&sh, "E4290", "Too many requests")),
            )
                .into_response(),
        })
        .await
}
