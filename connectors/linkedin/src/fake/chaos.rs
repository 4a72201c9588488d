//! Random failures (`ChaosControls::set_chaos`) the way LinkedIn fails, on every API call but
//! the OAuth endpoints: a 5xx (LinkedIn's JSON 500 or a gateway's plain 503; on the create,
//! sometimes after the post was made, PLATFORMS.md §3.3), a 429 naming no daily window, or a
//! lost answer (the call is carried out, its answer held past the connector's timeout).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pressroom_connector::testkit::{ChaosRoll, hold_answer};
use serde_json::json;

use super::{Shared, THROTTLE_MESSAGE, throttle_body};

pub async fn middleware(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/oauth/") {
        return next.run(req).await;
    }
    let roll = sh.chaos.roll();
    let is_create = req.method() == Method::POST && req.uri().path() == "/rest/posts";
    match roll {
        None => next.run(req).await,
        Some(ChaosRoll::RateLimited) => (
            StatusCode::TOO_MANY_REQUESTS,
            Json(throttle_body(THROTTLE_MESSAGE)),
        )
            .into_response(),
        Some(ChaosRoll::ServerError) => {
            let p = sh.state().opts.server_error_creates;
            let created_anyway = is_create && sh.chaos.chance(p);
            if created_anyway {
                drop(next.run(req).await);
            }
            let gateway = sh.chaos.chance(0.5);
            if gateway {
                (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
            } else {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"status": 500, "message": "Internal Server Error"})),
                )
                    .into_response()
            }
        }
        Some(ChaosRoll::LoseAnswer) => {
            let hold = sh.state().opts.lost_answer_hold;
            hold_answer(hold, req, next).await
        }
    }
}
