//! Random failures as a receiver behind a load balancer produces them (issue #20), on the
//! delivery and status endpoints (the token endpoint is left alone): a 503 "Service
//! Unavailable" page that stored nothing; a 429 with `Retry-After: 1`; and lost answers, where
//! the delivery is stored and its answer is held past the connector's timeout.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pressroom_connector::testkit::Strike;

use super::Shared;

pub(super) async fn middleware(
    State(sh): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let hold = sh.state().opts.lost_answer_hold;
    sh.chaos
        .run(hold, req, next, |strike| match strike {
            Strike::ServerError => {
                (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
            }
            Strike::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                [("Retry-After", "1")],
                "Too Many Requests",
            )
                .into_response(),
        })
        .await
}
