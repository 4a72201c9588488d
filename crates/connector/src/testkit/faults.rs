//! Failure injection and the request journal for platform fakes, shared by every route of a
//! fake (the LinkedIn, TikTok, Snapchat and webhook fakes mount it as middleware).
//!
//! Faults are one-shot and keyed by endpoint (`"POST /rest/posts"`: the route template) and,
//! optionally, by the nth call to it. Tests script them in-process (`inject`) or over HTTP
//! (`POST /__fake/inject` with the same JSON), and read every request back
//! (`GET /__fake/requests`) to check headers, bodies, order, and that a create was not repeated.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// One scripted failure, consumed by the call it matches.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// `"METHOD /route/template"`, e.g. `"POST /rest/posts"` (the route as the fake registers it).
    pub endpoint: String,
    /// Fire on this call to the endpoint (1-based, counting every call); `None`: the next one.
    #[serde(default)]
    pub nth: Option<u32>,
    pub action: FaultAction,
}

impl Fault {
    /// A fault on the next call to `endpoint`.
    pub fn next(endpoint: &str, action: FaultAction) -> Self {
        Self {
            endpoint: endpoint.into(),
            nth: None,
            action,
        }
    }

    /// Answer the next call with `status` and a JSON (or, for a string, plain text) body.
    pub fn respond(endpoint: &str, status: u16, body: serde_json::Value) -> Self {
        Self::next(
            endpoint,
            FaultAction::Respond {
                status,
                body,
                headers: Vec::new(),
            },
        )
    }
}

/// What an injected fault does.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer without handling the request: nothing happens on the platform.
    Respond {
        status: u16,
        #[serde(default)]
        body: serde_json::Value,
        #[serde(default)]
        headers: Vec<(String, String)>,
    },
    /// Wait, then handle normally (a slow platform; past the client's timeout nothing happened
    /// as far as the client knows, but the platform still acts once the request arrives).
    Delay { ms: u64 },
    /// Handle the request (the effect happens), then stall before answering: "accepted, but
    /// the response was lost".
    AcceptThenStall { ms: u64 },
    /// Handle the request, then send only the first half of the response body.
    Truncate,
}

/// One request as the fake received it.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedRequest {
    pub seq: u64,
    pub method: String,
    /// The route template, as used in `Fault::endpoint`.
    pub endpoint: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    /// UTF-8 bodies as text; binary bodies as `<N bytes>`.
    pub body: String,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
pub struct Faults {
    queue: Vec<Fault>,
    calls: HashMap<String, u32>,
    journal: Vec<RecordedRequest>,
}

pub type SharedFaults = Arc<Mutex<Faults>>;

pub fn lock(f: &SharedFaults) -> MutexGuard<'_, Faults> {
    f.lock().unwrap_or_else(|p| p.into_inner())
}

impl Faults {
    pub fn inject(&mut self, fault: Fault) {
        self.queue.push(fault);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.journal.clone()
    }

    pub fn calls(&self, endpoint: &str) -> u32 {
        self.calls.get(endpoint).copied().unwrap_or(0)
    }

    fn take(&mut self, endpoint: &str) -> Option<FaultAction> {
        let n = self.calls(endpoint);
        let i = self
            .queue
            .iter()
            .position(|f| f.endpoint == endpoint && f.nth.is_none_or(|nth| nth == n))?;
        Some(self.queue.remove(i).action)
    }
}

/// Upper bound on a buffered request body (images included).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Records the request, counts the call, and applies a matching fault.
pub async fn middleware(State(faults): State<SharedFaults>, req: Request, next: Next) -> Response {
    let endpoint = format!(
        "{} {}",
        req.method(),
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
            .unwrap_or(req.uri().path())
    );
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let action = {
        let mut f = lock(&faults);
        *f.calls.entry(endpoint.clone()).or_default() += 1;
        let seq = f.journal.len() as u64 + 1;
        f.journal.push(RecordedRequest {
            seq,
            method: parts.method.to_string(),
            endpoint: endpoint.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: match std::str::from_utf8(&bytes) {
                Ok(s) => s.to_owned(),
                Err(_) => format!("<{} bytes>", bytes.len()),
            },
        });
        f.take(&endpoint)
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    match action {
        None => next.run(req).await,
        Some(FaultAction::Respond {
            status,
            body,
            headers,
        }) => respond(status, body, headers),
        Some(FaultAction::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(req).await
        }
        Some(FaultAction::AcceptThenStall { ms }) => {
            let resp = next.run(req).await;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            resp
        }
        Some(FaultAction::Truncate) => {
            let (parts, body) = next.run(req).await.into_parts();
            let bytes = to_bytes(body, MAX_BODY).await.unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            let mut resp = Response::from_parts(parts, Body::from(half));
            resp.headers_mut()
                .remove(axum::http::header::CONTENT_LENGTH);
            resp
        }
    }
}

fn respond(status: u16, body: serde_json::Value, headers: Vec<(String, String)>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match body {
        serde_json::Value::Null => status.into_response(),
        serde_json::Value::String(text) => (status, text).into_response(),
        json => (status, axum::Json(json)).into_response(),
    };
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// `POST /__fake/inject`: a fault or a list of faults as JSON.
pub async fn inject_route(
    State(faults): State<SharedFaults>,
    axum::Json(body): axum::Json<OneOrMany>,
) -> StatusCode {
    let mut f = lock(&faults);
    match body {
        OneOrMany::One(fault) => f.inject(fault),
        OneOrMany::Many(list) => list.into_iter().for_each(|x| f.inject(x)),
    }
    StatusCode::NO_CONTENT
}

/// `GET /__fake/requests`: the journal.
pub async fn requests_route(
    State(faults): State<SharedFaults>,
) -> axum::Json<Vec<RecordedRequest>> {
    axum::Json(lock(&faults).requests())
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(Fault),
    Many(Vec<Fault>),
}
