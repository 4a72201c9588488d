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
use pressroom_connector::testkit::{Chaos, ChaosCounts, ChaosRates, ChaosRoll, counts_of};
use serde_json::json;

use super::Shared;

impl Shared {
    fn chaos(&self) -> std::sync::MutexGuard<'_, Option<Chaos>> {
        self.chaos.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_chaos(&self, rates: ChaosRates) {
        *self.chaos() = Chaos::new(rates);
    }

    pub fn chaos_injected(&self) -> ChaosCounts {
        counts_of(self.chaos().as_ref())
    }
}

pub async fn middleware(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let roll = sh.chaos().as_mut().and_then(Chaos::roll);
    let log_id = || format!("20261125CHAOS{:08X}", sh.state().next_id());
    match roll {
        None => next.run(req).await,
        Some(ChaosRoll::ServerError) => {
            let body = json!({ "data": {}, "error": {
                "code": "internal_error",
                "message": "Something went wrong. Please try again later.",
                "log_id": log_id() } });
            (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
        }
        Some(ChaosRoll::RateLimited) => {
            let body = json!({ "data": {}, "error": {
                "code": "rate_limit_exceeded",
                "message": "API rate limit was exceeded, please retry later.",
                "log_id": log_id() } });
            (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
        }
        Some(ChaosRoll::LoseAnswer) => {
            let resp = next.run(req).await;
            let hold = sh.state().opts.lost_answer_hold;
            tokio::time::sleep(hold).await;
            resp
        }
    }
}
