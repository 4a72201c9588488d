//! Pressroom's control API (axum): how agencies, scripts and CMS systems drive the daemon.
//!
//! - [`routes::ROUTES`] is the one table of routes and their access rules; the router, the
//!   guard, the OpenAPI document and the authorization-matrix test derive from it.
//! - Every workspace route takes its workspace from the API key ([`auth::Ctx`]); an id from
//!   another workspace answers 404, exactly like an id that does not exist.
//! - Errors are RFC 9457 problem+json with codes from one table ([`errors`]).
//! - Webhooks from a CMS ([`handlers::hooks`]) are verified (Standard Webhooks), deduped by
//!   delivery id, and only ever enqueue a run: nothing is published inside a request.

mod adapters;
pub mod auth;
pub mod connect;
mod console;
pub mod errors;
mod guard;
pub mod handlers;
mod html;
mod idempotency;
pub mod media;
mod metrics;
pub mod openapi;
pub mod page;
mod ratelimit;
pub mod routes;
mod server;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use pressroom_generate::Generator;
use pressroom_store::{Queue, Store};
use tokio::net::TcpListener;

pub use auth::{Ctx, Role};
pub use errors::{ApiError, Code};
pub use ratelimit::RateLimit;
pub use routes::{Access, Method, ROUTES, RouteSpec};
pub use server::ServerLimits;

/// Size limits on what the API reads.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Any request body.
    pub body_bytes: usize,
    /// Inbound webhook bodies (smaller: they come from the internet unauthenticated until
    /// the signature is checked).
    pub hook_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 1024 * 1024,
            hook_body_bytes: 256 * 1024,
        }
    }
}

/// How long a person stays signed in unless they sign out: a working week.
pub const DEFAULT_SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Everything the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub queue: Queue,
    /// Backs `POST /v1/images/generations`; None answers 503.
    pub generator: Option<Arc<dyn Generator>>,
    /// The local models this instance serves by name (`generation.model` and
    /// `generation.models`), which the images API's `model` field picks from
    /// ([`ApiState::with_local_models`]).
    pub local_models: Arc<std::collections::BTreeMap<String, Arc<dyn Generator>>>,
    /// Pixel-step limits of `POST /v1/images/generations`, per request and per workspace per
    /// day ([`ApiState::with_image_budget`]).
    pub image_budget: Arc<pressroom_generate::Budget>,
    /// Serves `/media/{id}` signed links; None answers 404 there.
    pub media: Option<Arc<media::MediaLinks>>,
    pub limits: Limits,
    /// Where asset and rendition files live (the rows name their keys).
    pub blobs: Arc<dyn pressroom_store::BlobStore>,
    /// False once this process's worker loop has stopped; `/readyz` then answers 503.
    pub workers_alive: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Platform connect flows (from the binary); None answers 503 on the connect routes.
    pub connect: Option<Arc<dyn connect::ConnectFlows>>,
    /// Seals tokens of accounts connected through the API.
    pub tokens: Option<Arc<dyn pressroom_runtime::TokenCipher>>,
    /// Default OAuth redirect URI (`{public_base_url}/v1/oauth/callback`).
    pub oauth_redirect_uri: Option<String>,
    /// Lets webhook endpoint URLs name private and loopback addresses
    /// (`webhooks_out.allow_private_addresses`); refused by default.
    pub webhooks_allow_private: bool,
    /// Rendition presets campaigns may name: the bundled table unless the binary passes the
    /// configured one ([`ApiState::with_presets`]).
    pub presets: Arc<pressroom_media::Presets>,
    /// How long an `Idempotency-Key` record is honoured; older ones are replaced and purged
    /// ([`ApiState::with_idempotency_retention`], 24 h by default).
    pub idempotency_retention: std::time::Duration,
    pub(crate) idempotency_purge: Arc<idempotency::PurgeClock>,
    pub(crate) pending_connects: Arc<connect::pending::PendingConnects>,
    pub(crate) limiter: Arc<ratelimit::Limiter>,
    /// Per client address: requests to the routes without an API key (health, metrics,
    /// hooks, media links, the OAuth callback).
    pub(crate) ip_limiter: Arc<ratelimit::Limiter>,
    /// Per client address: failed authentications. An address out of tokens is refused
    /// before its key is even looked up.
    pub(crate) auth_failure_limiter: Arc<ratelimit::Limiter>,
    /// How the listener treats connections ([`ApiState::with_server_limits`]).
    pub server: ServerLimits,
    pub(crate) auth_cache: Arc<auth::AuthCache>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// Failed sign-ins per account (`login:<email>`): a few, then one a minute.
    pub(crate) login_limiter: Arc<ratelimit::Limiter>,
    /// How long a session lasts ([`ApiState::with_sessions`]).
    pub session_ttl: std::time::Duration,
    /// Whether cookies are marked `Secure` (the public base URL is https).
    pub secure_cookies: bool,
    /// `media.public_base_url` without its trailing slash, for the links the API hands out
    /// (review links); empty leaves them relative (`/review/...`).
    pub public_base: String,
    /// Steps of the generations in progress in this process, when it runs workers.
    pub generation_progress: Option<Arc<pressroom_runtime::progress::GenerationProgress>>,
}

impl ApiState {
    /// Seals and opens webhook signing secrets with the token keyring: a deployment without
    /// one refuses to store them rather than store them in the clear.
    pub(crate) fn row_sealer(&self) -> errors::ApiResult<pressroom_runtime::RowSealer<'_>> {
        self.tokens
            .as_deref()
            .map(pressroom_runtime::RowSealer)
            .ok_or_else(|| {
                errors::ApiError::internal(
                    "no token keyring is configured: webhook secrets cannot be sealed",
                )
            })
    }

    pub fn new(store: Store, queue: Queue) -> Self {
        Self {
            store,
            queue,
            generator: None,
            local_models: Arc::default(),
            image_budget: Arc::default(),
            media: None,
            limits: Limits::default(),
            blobs: Arc::new(pressroom_store::LocalBlobs::new(".")),
            workers_alive: None,
            connect: None,
            tokens: None,
            oauth_redirect_uri: None,
            webhooks_allow_private: false,
            presets: Arc::new(pressroom_media::Presets::builtin().clone()),
            idempotency_retention: idempotency::DEFAULT_RETENTION,
            idempotency_purge: Arc::default(),
            pending_connects: Arc::default(),
            limiter: Arc::new(ratelimit::Limiter::new(RateLimit::default())),
            ip_limiter: Arc::new(ratelimit::Limiter::new(RateLimit::PER_IP)),
            auth_failure_limiter: Arc::new(ratelimit::Limiter::new(RateLimit::AUTH_FAILURES)),
            server: ServerLimits::default(),
            auth_cache: Arc::default(),
            metrics: Arc::default(),
            login_limiter: Arc::new(ratelimit::Limiter::new(RateLimit::SIGN_IN_FAILURES)),
            session_ttl: DEFAULT_SESSION_TTL,
            secure_cookies: false,
            public_base: String::new(),
            generation_progress: None,
        }
    }

    /// Reads the steps of the generations this process's workers run (the console's run
    /// page shows them).
    pub fn with_generation_progress(
        mut self,
        progress: Arc<pressroom_runtime::progress::GenerationProgress>,
    ) -> Self {
        self.generation_progress = Some(progress);
        self
    }

    /// Sets the public base URL the links the API hands out start with.
    pub fn with_public_base(mut self, url: &str) -> Self {
        self.public_base = url.trim_end_matches('/').to_string();
        self
    }

    /// Sets how long a session lasts and whether its cookies are `Secure` (the daemon passes
    /// `true` when `media.public_base_url` is https).
    pub fn with_sessions(mut self, ttl: std::time::Duration, secure_cookies: bool) -> Self {
        self.session_ttl = ttl;
        self.secure_cookies = secure_cookies;
        self
    }

    /// Sets how long `Idempotency-Key` records are honoured before they are purged.
    pub fn with_idempotency_retention(mut self, retention: std::time::Duration) -> Self {
        self.idempotency_retention = retention;
        self
    }

    /// Replaces the default image budget (see [`pressroom_generate::BudgetConfig`]).
    pub fn with_image_budget(mut self, config: pressroom_generate::BudgetConfig) -> Self {
        self.image_budget = Arc::new(pressroom_generate::Budget::new(config));
        self
    }

    pub fn with_generator(mut self, generator: Arc<dyn Generator>) -> Self {
        self.generator = Some(generator);
        self
    }

    /// The local models by name; the images API's `model` naming one of them uses it.
    pub fn with_local_models(
        mut self,
        models: std::collections::BTreeMap<String, Arc<dyn Generator>>,
    ) -> Self {
        self.local_models = Arc::new(models);
        self
    }

    pub fn with_media_links(mut self, links: Arc<media::MediaLinks>) -> Self {
        self.media = Some(links);
        self
    }

    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limiter = Arc::new(ratelimit::Limiter::new(limit));
        self
    }

    /// Per-address limit on the routes that take no API key.
    pub fn with_ip_rate_limit(mut self, limit: RateLimit) -> Self {
        self.ip_limiter = Arc::new(ratelimit::Limiter::new(limit));
        self
    }

    /// Per-address limit on failed authentications.
    pub fn with_auth_failure_limit(mut self, limit: RateLimit) -> Self {
        self.auth_failure_limiter = Arc::new(ratelimit::Limiter::new(limit));
        self
    }

    /// Header-read timeout and connection cap of [`serve`].
    pub fn with_server_limits(mut self, limits: ServerLimits) -> Self {
        self.server = limits;
        self
    }

    /// How long `/metrics` reuses the job counts it read (a `GROUP BY` over the jobs table).
    pub fn with_metrics_cache(mut self, ttl: std::time::Duration) -> Self {
        self.metrics = Arc::new(metrics::Metrics::with_job_counts_ttl(ttl));
        self
    }

    /// Database lookups made to authenticate so far (cache misses): a flood of bad keys
    /// should not move it.
    pub fn auth_lookups(&self) -> u64 {
        self.auth_cache
            .lookups
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keeps asset and rendition files under `dir` ([`pressroom_store::LocalBlobs`]).
    pub fn with_data_dir(self, dir: std::path::PathBuf) -> Self {
        self.with_blobs(Arc::new(pressroom_store::LocalBlobs::new(dir)))
    }

    pub fn with_blobs(mut self, blobs: Arc<dyn pressroom_store::BlobStore>) -> Self {
        self.blobs = blobs;
        self
    }

    pub fn with_workers_alive(mut self, alive: Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.workers_alive = Some(alive);
        self
    }

    /// Enables `POST /v1/accounts/connect` and the OAuth callback.
    pub fn with_connect(
        mut self,
        flows: Arc<dyn connect::ConnectFlows>,
        tokens: Arc<dyn pressroom_runtime::TokenCipher>,
        redirect_uri: Option<String>,
    ) -> Self {
        self.connect = Some(flows);
        self.tokens = Some(tokens);
        self.oauth_redirect_uri = redirect_uri;
        self
    }

    /// The preset table campaign validation checks targets against (config overrides).
    pub fn with_presets(mut self, presets: Arc<pressroom_media::Presets>) -> Self {
        self.presets = presets;
        self
    }

    /// Allows webhook endpoints on private and loopback addresses (tests, internal receivers).
    pub fn with_webhooks_allow_private(mut self, allow: bool) -> Self {
        self.webhooks_allow_private = allow;
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// The API's router. No CORS layer: browsers on other origins are refused by default.
pub fn router(state: ApiState) -> Router {
    let limit = state.limits.body_bytes;
    routes::build(state).layer(DefaultBodyLimit::max(limit))
}

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting and lets
/// requests in progress finish. Connections are capped and must send their headers in time
/// ([`ServerLimits`]); each request carries its peer address for the per-address limits.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "api: listening");
    }
    let limits = state.server;
    server::serve(listener, router(state), limits, shutdown).await
}
