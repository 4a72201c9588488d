//! What every fake platform's server does alike: listen on `127.0.0.1:0`, serve an axum router
//! until the fake is dropped, carry the compliance kit's fault journal and controls, and hold
//! the seeded chaos dice. Routes, state and every answer a platform decides stay in each fake.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};

use super::chaos::{Chaos, ChaosCounts, ChaosRates, ChaosRoll, counts_of};
use super::faults::{self, SharedFaults};

/// A loopback port bound before the router exists, so a fake's state can know its own URL
/// (upload URLs, `paging.next`, OAuth redirects point back at it).
pub struct FakeListener {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl FakeListener {
    pub async fn bind() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        Ok(Self { listener, addr })
    }

    /// `http://127.0.0.1:{port}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `app` in the background until the returned server is dropped; `name` goes in
    /// the log line should it stop on its own.
    pub fn serve(self, app: Router, name: &'static str) -> FakeServer {
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(self.listener, app).await {
                tracing::warn!(error = %e, fake = name, "fake server stopped");
            }
        });
        FakeServer {
            addr: self.addr,
            task,
        }
    }
}

/// A running fake server; it stops when dropped.
pub struct FakeServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL parsed.
    pub fn url(&self) -> url::Url {
        match url::Url::parse(&self.base_url()) {
            Ok(u) => u,
            Err(e) => unreachable!("a loopback socket address is a URL: {e}"),
        }
    }
}

/// Puts `api`'s routes inside the fault journal (scripted faults fire, every call is recorded
/// and counted) and adds the controls `POST /__fake/inject` and `GET /__fake/requests`.
pub fn with_faults(api: Router, faults: SharedFaults) -> Router {
    let control = Router::new()
        .route("/__fake/inject", post(faults::inject_route))
        .route("/__fake/requests", get(faults::requests_route))
        .with_state(faults.clone());
    api.route_layer(from_fn_with_state(faults, faults::middleware))
        .merge(control)
}

/// The seeded chaos dice a fake keeps (`ChaosControls::set_chaos`); off until set.
#[derive(Default)]
pub struct ChaosHook(Mutex<Option<Chaos>>);

/// A failure chaos answers in the platform's own words (a lost answer is the hook's to carry
/// out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strike {
    ServerError,
    RateLimited,
}

impl ChaosHook {
    fn dice(&self) -> MutexGuard<'_, Option<Chaos>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set(&self, rates: ChaosRates) {
        *self.dice() = Chaos::new(rates);
    }

    /// Failures injected so far (zero when off).
    pub fn counts(&self) -> ChaosCounts {
        counts_of(self.dice().as_ref())
    }

    /// Draws for one call; `None` (also when off) lets it through.
    pub fn roll(&self) -> Option<ChaosRoll> {
        self.dice().as_mut().and_then(Chaos::roll)
    }

    /// A second draw with probability `p` from the same seeded stream; false when off.
    pub fn chance(&self, p: f64) -> bool {
        self.dice().as_mut().is_some_and(|c| c.chance(p))
    }

    /// One call under chaos, for a fake's middleware: through untouched, or carried out with
    /// its answer held for `hold` (past the connector's timeout), or refused with what `fail`
    /// answers for a 5xx or a throttle.
    pub async fn run(
        &self,
        hold: Duration,
        req: Request,
        next: Next,
        fail: impl FnOnce(Strike) -> Response,
    ) -> Response {
        match self.roll() {
            None => next.run(req).await,
            Some(ChaosRoll::ServerError) => fail(Strike::ServerError),
            Some(ChaosRoll::RateLimited) => fail(Strike::RateLimited),
            Some(ChaosRoll::LoseAnswer) => hold_answer(hold, req, next).await,
        }
    }
}

/// Carries the call out, then answers only after `hold`.
pub async fn hold_answer(hold: Duration, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    tokio::time::sleep(hold).await;
    resp
}
