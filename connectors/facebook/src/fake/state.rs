//! The fake Graph API's state: users, Pages, tokens, posts, queued faults, request journal.

use std::collections::{BTreeMap, HashMap, VecDeque};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pressroom_connector::testkit::{Fault, Step};
use serde::Serialize;
use serde_json::json;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    User { user: String },
    Page { page: String },
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub expired: bool,
    pub revoked: bool,
}

/// A post (or unpublished photo) the fake holds.
#[derive(Clone, Debug, Serialize)]
pub struct FakePost {
    pub photo_id: String,
    pub post_id: String,
    pub message: String,
    pub created_time: DateTime<Utc>,
    pub published: bool,
    pub image_bytes: usize,
    /// Width and height of the uploaded or fetched photo.
    pub image_size: (u32, u32),
}

#[derive(Clone, Debug)]
pub(crate) struct Page {
    pub name: String,
    pub owner: String,
    pub posts: Vec<FakePost>,
}

/// One request as the journal keeps it (tokens are never recorded, only whether one came).
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub params: Vec<String>,
    pub bearer: bool,
}

pub(crate) struct State {
    pub chaos: Option<Chaos>,
    pub app_id: String,
    pub app_secret: String,
    pub next: u64,
    pub tokens: HashMap<String, Token>,
    pub codes: HashMap<String, String>,
    pub pages: BTreeMap<String, Page>,
    pub faults: VecDeque<Fault>,
    pub journal: Vec<Recorded>,
    pub usage_percent: u32,
    pub regain_minutes: u64,
    pub commits: usize,
    pub page_size: usize,
}

impl State {
    pub fn new(app_id: &str, app_secret: &str) -> Self {
        Self {
            chaos: None,
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            next: 1000,
            tokens: HashMap::new(),
            codes: HashMap::new(),
            pages: BTreeMap::new(),
            faults: VecDeque::new(),
            journal: Vec::new(),
            usage_percent: 4,
            regain_minutes: 0,
            commits: 0,
            page_size: 2,
        }
    }

    pub fn id(&mut self) -> String {
        self.next += 1;
        self.next.to_string()
    }

    pub fn mint(&mut self, kind: TokenKind, prefix: &str) -> String {
        let token = format!("{prefix}{}{:016x}", self.id(), rand::random::<u64>());
        self.tokens.insert(
            token.clone(),
            Token {
                kind,
                expired: false,
                revoked: false,
            },
        );
        token
    }

    /// Takes the first queued fault that applies to `step` (ServerError counts down).
    pub fn take_fault(&mut self, step: Step) -> Option<Fault> {
        let pos = self.faults.iter().position(|f| match f {
            Fault::ServerError { step: s, .. } | Fault::RateLimited { step: s, .. } => *s == step,
            Fault::RejectContent | Fault::AcceptThenHang => step == Step::Commit,
            _ => false,
        })?;
        match self.faults.get_mut(pos) {
            Some(Fault::ServerError { step, times }) if *times > 1 => {
                *times -= 1;
                Some(Fault::ServerError {
                    step: *step,
                    times: 1,
                })
            }
            _ => self.faults.remove(pos),
        }
    }
}

/// A Graph error response: `{"error":{message,type,code,error_subcode,fbtrace_id}}`.
pub(crate) fn graph_error(
    status: StatusCode,
    code: i64,
    subcode: Option<i64>,
    message: &str,
) -> Response {
    let mut e = json!({"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfGh123"});
    if let Some(s) = subcode {
        e["error_subcode"] = s.into();
    }
    if code == 1 || code == 2 {
        e["is_transient"] = true.into();
    }
    (status, axum::Json(json!({ "error": e }))).into_response()
}

/// Meta's answer to a photo it will not take (subcode 1366046), with the user-facing fields.
pub(crate) fn photo_rejected() -> Response {
    let body = json!({"error": {
        "message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100, "error_subcode": 1366046,
        "error_user_title": "Can't Upload Photo",
        "error_user_msg": "Photos should be smaller than 4 MB and saved as JPG, PNG, GIF, TIFF, HEIF or WebP files.",
        "fbtrace_id": "AbCdEfGh123"
    }});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// Adds Meta's usage headers to a response.
pub(crate) fn add_usage(
    resp: &mut Response,
    percent: u32,
    page: Option<&str>,
    regain_minutes: u64,
) {
    let app =
        json!({"call_count": percent, "total_cputime": percent / 2, "total_time": percent / 2})
            .to_string();
    if let Ok(v) = HeaderValue::from_str(&app) {
        resp.headers_mut().insert("x-app-usage", v);
    }
    if let Some(page) = page {
        let buc =
            json!({ page: [{"type": "pages", "call_count": percent, "total_cputime": percent / 2,
            "total_time": percent / 2, "estimated_time_to_regain_access": regain_minutes}] })
            .to_string();
        if let Ok(v) = HeaderValue::from_str(&buc) {
            resp.headers_mut().insert("x-business-use-case-usage", v);
        }
    }
}

/// Random failures for soak / end-to-end runs: each API call (token endpoints excluded) fails
/// with a 500 service error with probability `server_error`, or with an HTTP 429 throttle
/// naming `Retry-After: 1` with probability `rate_limit`. Failures happen before the fake acts,
/// so they never create a post. Seeded, so a failing run can be replayed.
pub(crate) struct Chaos {
    pub server_error: f64,
    pub rate_limit: f64,
    pub rng: rand::rngs::StdRng,
    pub injected_server_errors: usize,
    pub injected_rate_limits: usize,
}

impl Chaos {
    pub fn new(server_error: f64, rate_limit: f64, seed: u64) -> Self {
        use rand::SeedableRng;
        Self {
            server_error,
            rate_limit,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            injected_server_errors: 0,
            injected_rate_limits: 0,
        }
    }

    /// `Some(true)` = server error, `Some(false)` = rate limit, `None` = let the call through.
    pub fn roll(&mut self) -> Option<bool> {
        use rand::Rng;
        let x: f64 = self.rng.random();
        if x < self.server_error {
            self.injected_server_errors += 1;
            Some(true)
        } else if x < self.server_error + self.rate_limit {
            self.injected_rate_limits += 1;
            Some(false)
        } else {
            None
        }
    }
}
