//! What both Graph fakes (Facebook Pages, Instagram) do alike: read a request's parameters and
//! token the way Graph does, keep the journal entry, answer with a Graph error body, pick the
//! queued compliance-kit fault, and roll the chaos dice. Routing, tokens and everything a platform decides stay in each fake.
#![allow(clippy::result_large_err)]

pub mod insights;

use std::collections::{HashMap, VecDeque};

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pressroom_connector::testkit::{Chaos, ChaosRoll, Fault, Step};
use serde::Serialize;

use crate::GraphError;

/// What a request says before its body is read: query parameters, `Authorization` and
/// `Content-Type` (empty when absent).
pub struct Head {
    pub params: HashMap<String, String>,
    pub authorization: Option<String>,
    pub content_type: String,
}

impl Head {
    pub fn of(req: &Request) -> Self {
        let value = |name| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            params: url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
            authorization: value(header::AUTHORIZATION),
            content_type: value(header::CONTENT_TYPE).unwrap_or_default(),
        }
    }
}

/// The whole body, up to `limit` bytes; more is a 413 (each fake names its own limit).
pub async fn read_body(req: Request, limit: usize) -> Result<Bytes, Response> {
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())
}

/// Adds the parameters of a urlencoded form or a JSON object body (non-string JSON values as
/// their JSON text), as Graph takes either; other bodies add nothing.
pub fn add_body_params(params: &mut HashMap<String, String>, content_type: &str, body: &[u8]) {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        params.extend(url::form_urlencoded::parse(body).into_owned());
    } else if content_type.starts_with("application/json")
        && let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(body)
    {
        for (k, v) in m {
            params.insert(
                k,
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string()),
            );
        }
    }
}

/// A request's parameters and the token it came with.
pub struct Input {
    pub params: HashMap<String, String>,
    pub token: Option<String>,
    /// The token came in the `Authorization` header (what the connectors must do).
    pub bearer: bool,
}

impl Input {
    /// The token from `Authorization: Bearer …` or `OAuth …` wins; else the `access_token`
    /// parameter, as Graph accepts both.
    pub fn new(params: HashMap<String, String>, authorization: Option<&str>) -> Self {
        let header_token = authorization
            .and_then(|a| {
                a.strip_prefix("Bearer ")
                    .or_else(|| a.strip_prefix("OAuth "))
            })
            .map(str::to_owned);
        let bearer = header_token.is_some();
        let token = header_token.or_else(|| params.get("access_token").cloned());
        Self {
            params,
            token,
            bearer,
        }
    }
}

/// One request as the journal keeps it (tokens are never recorded, only whether one came).
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Parameter names, sorted, `access_token` left out.
    pub params: Vec<String>,
    pub bearer: bool,
}

impl Recorded {
    pub fn new(method: &Method, path: &str, input: &Input) -> Self {
        let mut names: Vec<String> = input
            .params
            .keys()
            .filter(|k| *k != "access_token")
            .cloned()
            .collect();
        names.sort();
        Self {
            method: method.to_string(),
            path: path.to_owned(),
            params: names,
            bearer: input.bearer,
        }
    }
}

impl GraphError {
    /// The usual fake error: type `OAuthException`, `code` and `subcode`, nothing else yet
    /// (each fake adds its own `is_transient`, `fbtrace_id` and user texts).
    pub fn oauth(code: i64, subcode: Option<i64>, message: &str) -> Self {
        Self {
            message: message.to_owned(),
            kind: "OAuthException".to_owned(),
            code,
            error_subcode: subcode,
            ..Self::default()
        }
    }

    /// `{"error": {...}}` with `status`.
    pub fn response(self, status: StatusCode) -> Response {
        #[derive(Serialize)]
        struct Envelope {
            error: GraphError,
        }
        (status, axum::Json(Envelope { error: self })).into_response()
    }
}

/// Chaos for one Graph call, the way Graph fails, decided before the call runs.
/// `Err(server_error)`: answer now with [`chaos_response`], nothing done (throttles and most
/// 5xx). `Ok(Some(roll))`: carry the call out, then apply `roll` with [`after_call`] (a lost
/// answer always; a code-2 500 on a create with probability `ambiguous_rate`, since Meta's
/// are reported to come after the post was made, PLATFORMS.md §6.7). `Ok(None)`: untouched.
pub fn before_call(
    chaos: Option<&mut Chaos>,
    creates: bool,
    ambiguous_rate: f64,
) -> Result<Option<ChaosRoll>, bool> {
    let Some(chaos) = chaos else {
        return Ok(None);
    };
    let (roll, created) = (chaos.roll(), chaos.chance(ambiguous_rate));
    match roll {
        Some(ChaosRoll::RateLimited) => Err(false),
        Some(ChaosRoll::ServerError) if !(creates && created) => Err(true),
        roll => Ok(roll),
    }
}

/// Applies what [`before_call`] left for after the call: a 500 (`server_error()`) although
/// the call was carried out, or the answer held for `hang` (past the connector's timeout).
pub async fn after_call(
    roll: Option<ChaosRoll>,
    resp: Response,
    hang: std::time::Duration,
    server_error: impl FnOnce() -> Response,
) -> Response {
    match roll {
        Some(ChaosRoll::ServerError) => server_error(),
        Some(ChaosRoll::LoseAnswer) => {
            tokio::time::sleep(hang).await;
            resp
        }
        _ => resp,
    }
}

/// What chaos answers, in the platform's error body (`error(status, code, message)`): a 500
/// service error (code 2), or a 429 throttle (code 4) naming `Retry-After: 1`.
pub fn chaos_response(
    server_error: bool,
    error: impl Fn(StatusCode, i64, &str) -> Response,
) -> Response {
    if server_error {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            2,
            "An unexpected error has occurred. Please retry your request later.",
        );
    }
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        4,
        "(#4) Application request limit reached",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Takes the first queued fault that applies to `step` (a `ServerError` for N calls counts
/// down). `content_step` is where the platform inspects the media and so can refuse it:
/// Facebook's photo upload (commit), Instagram's container creation (prepare).
pub fn take_fault(faults: &mut VecDeque<Fault>, step: Step, content_step: Step) -> Option<Fault> {
    let pos = faults.iter().position(|f| match f {
        Fault::ServerError { step: s, .. } | Fault::RateLimited { step: s, .. } => *s == step,
        Fault::RejectContent => step == content_step,
        Fault::AcceptThenHang => step == Step::Commit,
        Fault::AcceptCommentThenHang => step == Step::Comment,
        _ => false,
    })?;
    match faults.get_mut(pos) {
        Some(Fault::ServerError { step, times }) if *times > 1 => {
            *times -= 1;
            Some(Fault::ServerError {
                step: *step,
                times: 1,
            })
        }
        _ => faults.remove(pos),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    fn request(uri: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let mut b = Request::builder().method("POST").uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        match b.body(Body::from(body.to_owned())) {
            Ok(r) => r,
            Err(e) => panic!("test request: {e}"),
        }
    }

    async fn input(req: Request) -> Input {
        let Head {
            mut params,
            authorization,
            content_type,
        } = Head::of(&req);
        let Ok(body) = read_body(req, 1 << 20).await else {
            panic!("body too large");
        };
        add_body_params(&mut params, &content_type, &body);
        Input::new(params, authorization.as_deref())
    }

    #[tokio::test]
    async fn header_token_wins_and_bodies_add_params() {
        let i = input(request(
            "/v25.0/me?fields=id&access_token=Q",
            &[
                ("authorization", "Bearer H"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            "caption=hi+there&published=false",
        ))
        .await;
        assert_eq!(i.token.as_deref(), Some("H"));
        assert!(i.bearer);
        assert_eq!(i.params["caption"], "hi there");
        assert_eq!(i.params["fields"], "id");
        let r = Recorded::new(&Method::POST, "/v25.0/me", &i);
        assert_eq!(r.params, ["caption", "fields", "published"]);

        let i = input(request(
            "/x",
            &[("content-type", "application/json")],
            r#"{"access_token":"P","limit":5,"name":"n"}"#,
        ))
        .await;
        assert_eq!(i.token.as_deref(), Some("P"));
        assert!(!i.bearer);
        assert_eq!(i.params["limit"], "5");
        assert_eq!(i.params["name"], "n");

        let i = input(request("/x", &[("authorization", "OAuth O")], "a=b")).await;
        assert_eq!(i.token.as_deref(), Some("O"));
        assert!(
            !i.params.contains_key("a"),
            "no content type, no body params"
        );
    }

    #[tokio::test]
    async fn oversized_body_is_413() {
        let req = request("/x", &[], &"x".repeat(2048));
        match read_body(req, 1024).await {
            Err(r) => assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE),
            Ok(_) => panic!("accepted an oversized body"),
        }
    }

    #[test]
    fn faults_fire_in_order_at_their_step() {
        let mut q = VecDeque::from([
            Fault::RejectContent,
            Fault::ServerError {
                step: Step::Commit,
                times: 2,
            },
            Fault::AcceptThenHang,
        ]);
        assert_eq!(take_fault(&mut q, Step::Prepare, Step::Commit), None);
        assert_eq!(
            take_fault(&mut q, Step::Prepare, Step::Prepare),
            Some(Fault::RejectContent)
        );
        for _ in 0..2 {
            assert_eq!(
                take_fault(&mut q, Step::Commit, Step::Prepare),
                Some(Fault::ServerError {
                    step: Step::Commit,
                    times: 1
                })
            );
        }
        assert_eq!(
            take_fault(&mut q, Step::Commit, Step::Prepare),
            Some(Fault::AcceptThenHang)
        );
        assert!(q.is_empty());
    }

    #[test]
    fn chaos_throttle_names_retry_after() {
        let r = chaos_response(false, |s, c, m| GraphError::oauth(c, None, m).response(s));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            r.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static("1"))
        );
        let r = chaos_response(true, |s, c, m| GraphError::oauth(c, None, m).response(s));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
