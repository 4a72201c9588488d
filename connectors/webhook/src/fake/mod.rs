//! A fake receiver for the webhook connector on 127.0.0.1:0: it verifies the Standard Webhooks
//! signature and timestamp like a careful receiver, checks the optional bearer token, decodes
//! inline media and checks its sha256, dedupes on `webhook-id` (a repeated delivery gets the
//! first receipt and creates nothing), answers `{"id","url"}`, and serves the optional status
//! endpoint. It records deliveries, counts posts, and takes scripted faults.
//!
//! Bearer tokens expire the OAuth 2.0 way: an expired token gets 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750) and `POST /oauth/token`
//! (`grant_type=refresh_token`, RFC 6749 §6) issues a new one. The status endpoint shows a
//! delivery only after `ReceiverOptions::listing_lag` (a receiver that queues before it
//! stores); under chaos (`chaos.rs`) calls fail at random.

mod chaos;
mod controls;
mod faults;
mod oauth;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pressroom_connector::testkit::{ChaosHook, FakeListener, FakeServer, with_faults};
use pressroom_crypto::webhook::{
    DEFAULT_TOLERANCE, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookSecret,
};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

pub use faults::{Fault, FaultAction, RecordedRequest};

use crate::WebhookConfig;

/// A post the receiver created.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub webhook_id: String,
    pub id: String,
    pub account: String,
    pub caption: String,
    pub media: Vec<Value>,
    /// How many times this webhook-id arrived (dedupe hits included).
    pub deliveries: u32,
    pub received_at: chrono::DateTime<chrono::Utc>,
}

/// Knobs for the receiver's behaviour.
#[derive(Clone, Debug)]
pub struct ReceiverOptions {
    /// How long after a delivery the status endpoint starts to show it.
    pub listing_lag: chrono::Duration,
    /// How long chaos holds a lost answer: past the kit connector's 1 s request timeout.
    pub lost_answer_hold: std::time::Duration,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        Self {
            listing_lag: chrono::Duration::zero(),
            lost_answer_hold: std::time::Duration::from_millis(2500),
        }
    }
}

struct State {
    opts: ReceiverOptions,
    posts: Vec<Delivery>,
    tokens: HashMap<String, bool>,
    expired: HashSet<String>,
    /// refresh token → revoked
    refresh: HashMap<String, bool>,
    seq: u64,
}

struct Shared {
    state: Mutex<State>,
    secret: WebhookSecret,
    faults: faults::SharedFaults,
    base: String,
    /// Random failures (`ChaosControls::set_chaos`); off until set.
    chaos: ChaosHook,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running receiver; stops when dropped.
pub struct FakeReceiver {
    shared: Arc<Shared>,
    media: pressroom_connector::testkit::media::ImageServer,
    server: FakeServer,
}

impl FakeReceiver {
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(ReceiverOptions::default()).await
    }

    pub async fn start_with(opts: ReceiverOptions) -> std::io::Result<Self> {
        let listener = FakeListener::bind().await?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                opts,
                posts: Vec::new(),
                tokens: HashMap::new(),
                expired: HashSet::new(),
                refresh: HashMap::new(),
                seq: 0,
            }),
            secret: WebhookSecret::generate(),
            faults: Default::default(),
            base: listener.base_url(),
            chaos: ChaosHook::default(),
        });
        let f = shared.faults.clone();
        // Chaos never touches the token endpoint (the kit's contract).
        let hooks = Router::new()
            .route("/hooks/pressroom", post(receive))
            .route("/hooks/status", get(status))
            .route_layer(from_fn_with_state(shared.clone(), chaos::middleware));
        let app = Router::new()
            .route("/oauth/token", post(oauth::token))
            .merge(hooks)
            .with_state(shared.clone());
        let app = with_faults(app, f);
        let server = listener.serve(app, "webhook receiver");
        let media = pressroom_connector::testkit::media::ImageServer::start().await?;
        Ok(Self {
            shared,
            media,
            server,
        })
    }

    pub fn base_url(&self) -> Url {
        self.server.url()
    }

    /// A connector config delivering here, with the shared secret and the status endpoint.
    pub fn config(&self) -> WebhookConfig {
        let base = self.base_url();
        let mut cfg = WebhookConfig::new(
            base.join("/hooks/pressroom").expect("joins"),
            self.shared.secret.export(),
        );
        cfg.status_url = Some(base.join("/hooks/status").expect("joins"));
        cfg.token_url = Some(base.join("/oauth/token").expect("joins"));
        cfg.timeout_secs = 5;
        // Covers this receiver's lag, so an early 404 is never taken as absent.
        let lag = self.shared.state().opts.listing_lag;
        cfg.listing_lag_secs = u64::try_from(lag.num_seconds()).unwrap_or(0) + 1;
        cfg
    }

    pub fn media(&self) -> &pressroom_connector::testkit::media::ImageServer {
        &self.media
    }

    /// A bearer token the receiver accepts for `account`.
    pub fn token(&self, account: &str) -> String {
        let mut st = self.shared.state();
        st.seq += 1;
        let t = format!("wh-tok-{}-{account}", st.seq);
        st.tokens.insert(t.clone(), true);
        t
    }

    /// A bearer token and the refresh token that renews it at `/oauth/token`.
    pub fn grant(&self, account: &str) -> (String, String) {
        let access = self.token(account);
        let mut st = self.shared.state();
        let refresh = format!("wh-rt-{}-{account}", st.seq);
        st.refresh.insert(refresh.clone(), false);
        (access, refresh)
    }

    pub fn expire_token(&self, token: &str) {
        self.shared.state().expired.insert(token.into());
    }

    /// Every bearer token issued so far expires.
    pub fn expire_all_tokens(&self) {
        let mut st = self.shared.state();
        let all: Vec<String> = st.tokens.keys().cloned().collect();
        st.expired.extend(all);
    }

    pub fn revoke_refresh_token(&self, refresh: &str) {
        if let Some(r) = self.shared.state().refresh.get_mut(refresh) {
            *r = true;
        }
    }

    pub fn inject(&self, fault: Fault) {
        faults::lock(&self.shared.faults).inject(fault);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        faults::lock(&self.shared.faults).requests()
    }

    pub fn calls(&self, endpoint: &str) -> u32 {
        faults::lock(&self.shared.faults).calls(endpoint)
    }

    /// Posts created (one per distinct webhook-id).
    pub fn posts(&self) -> Vec<Delivery> {
        self.shared.state().posts.clone()
    }
}

fn refuse(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// RFC 6750 §3.1: an unknown or expired bearer token.
fn invalid_token() -> Response {
    let mut resp = refuse(StatusCode::UNAUTHORIZED, "token expired or unknown");
    resp.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static(
            r#"Bearer realm="hooks", error="invalid_token", error_description="The access token expired""#,
        ),
    );
    resp
}

/// A bearer token, when sent, must be known and unexpired.
fn token_refused(st: &State, headers: &HeaderMap) -> bool {
    header(headers, "authorization")
        .strip_prefix("Bearer ")
        .is_some_and(|t| !st.tokens.contains_key(t) || st.expired.contains(t))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn receive(AxState(sh): AxState<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let id = header(&headers, HEADER_ID).to_owned();
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = sh.secret.verify(
        &id,
        header(&headers, HEADER_TIMESTAMP),
        header(&headers, HEADER_SIGNATURE),
        &body,
        now,
        DEFAULT_TOLERANCE,
    ) {
        return refuse(StatusCode::UNAUTHORIZED, &e.to_string());
    }
    let mut st = sh.state();
    if token_refused(&st, &headers) {
        return invalid_token();
    }
    if let Some(p) = st.posts.iter_mut().find(|p| p.webhook_id == id) {
        p.deliveries += 1;
        let receipt = json!({ "id": p.id, "url": format!("{}/posts/{}", sh.base, p.id) });
        return Json(receipt).into_response();
    }
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    let caption = doc
        .get("caption")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let account = doc
        .pointer("/account/external_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let media: Vec<Value> = doc
        .get("media")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if media.is_empty() {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "media is required");
    }
    for m in &media {
        match (
            m.get("url").and_then(Value::as_str),
            m.get("data_base64").and_then(Value::as_str),
        ) {
            (Some(_), _) => {}
            (None, Some(b64)) => {
                let Ok(bytes) = STANDARD.decode(b64) else {
                    return refuse(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "data_base64 is not base64",
                    );
                };
                let sha = hex::encode(Sha256::digest(&bytes));
                if m.get("sha256").and_then(Value::as_str) != Some(sha.as_str()) {
                    return refuse(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "sha256 does not match data_base64",
                    );
                }
            }
            (None, None) => {
                return refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "media needs url or data_base64",
                );
            }
        }
    }
    st.seq += 1;
    let post_id = format!("whp_{}", st.seq);
    st.posts.push(Delivery {
        webhook_id: id,
        id: post_id.clone(),
        account,
        caption,
        media,
        deliveries: 1,
        received_at: chrono::Utc::now(),
    });
    Json(json!({ "id": post_id, "url": format!("{}/posts/{post_id}", sh.base) })).into_response()
}

async fn status(
    AxState(sh): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let st = sh.state();
    if token_refused(&st, &headers) {
        return invalid_token();
    }
    let id = q.get("webhook_id").map(String::as_str).unwrap_or("");
    let stored_by = chrono::Utc::now() - st.opts.listing_lag;
    match st
        .posts
        .iter()
        .find(|p| p.webhook_id == id && p.received_at <= stored_by)
    {
        Some(p) => Json(json!({ "id": p.id, "url": format!("{}/posts/{}", sh.base, p.id) }))
            .into_response(),
        None => refuse(StatusCode::NOT_FOUND, "no delivery with that webhook-id"),
    }
}
