//! Random failures in TikTok's own words (issue #20), on every Content Posting call (the OAuth
//! endpoints are left alone): a 500 `internal_error` envelope, which TikTok documents as
//! "retry" and which creates nothing; a 429 `rate_limit_exceeded` without `Retry-After`; and
//! lost answers, where the call is carried out (an init creates the publish, which
//! `status/fetch` and the post list then find) and its answer is held past the connector's
//! timeout.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pressroom_connector::testkit::Strike;
use serde_json::json;

use super::Shared;

pub async fn middleware(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let hold = sh.state().opts.lost_answer_hold;
    sh.chaos
        .run(hold, req, next, |strike| {
            let (status, code, message) = match strike {
                Strike::ServerError => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "Something went wrong. Please try again later.",
                ),
                Strike::RateLimited => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_exceeded",
                    "API rate limit was exceeded, please retry later.",
                ),
            };
            let log_id = format!("20261125CHAOS{:08X}", sh.state().next_id());
            let body = json!({ "data": {}, "error": {
                "code": code, "message": message, "log_id": log_id } });
            (status, Json(body)).into_response()
        })
        .await
}
