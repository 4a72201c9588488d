//! Random failures as a receiver behind a load balancer produces them (issue #20), on the
//! delivery and status endpoints (the token endpoint is left alone): a 503 "Service
//! Unavailable" page that stored nothing; a 429 with `Retry-After: 1`; and lost answers, where
//! the delivery is stored and its answer is held past the connector's timeout.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pressroom_connector::testkit::{Chaos, ChaosCounts, ChaosRates, ChaosRoll, counts_of};

use super::Shared;

impl Shared {
    fn chaos(&self) -> std::sync::MutexGuard<'_, Option<Chaos>> {
        self.chaos.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn set_chaos(&self, rates: ChaosRates) {
        *self.chaos() = Chaos::new(rates);
    }

    pub(super) fn chaos_injected(&self) -> ChaosCounts {
        counts_of(self.chaos().as_ref())
    }
}

pub(super) async fn middleware(
    State(sh): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let roll = sh.chaos().as_mut().and_then(Chaos::roll);
    match roll {
        None => next.run(req).await,
        Some(ChaosRoll::ServerError) => {
            (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
        }
        Some(ChaosRoll::RateLimited) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("Retry-After", "1")],
            "Too Many Requests",
        )
            .into_response(),
        Some(ChaosRoll::LoseAnswer) => {
            let resp = next.run(req).await;
            let hold = sh.state().opts.lost_answer_hold;
            tokio::time::sleep(hold).await;
            resp
        }
    }
}
