//! The fake hub's two servers: the hub (revision API, `/resolve/`) and the CDN its LFS
//! redirects point at. Paths are parsed raw, as the hub does, so a revision such as
//! `refs%2Fpr%2F1` stays one segment.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt as _;
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::{Blob, Logged, Serve, Server, State};

type Shared = Arc<Mutex<State>>;

pub(super) fn apps(state: Shared) -> (Router, Router) {
    let hub = Router::new().fallback(hub).with_state(state.clone());
    let cdn = Router::new().fallback(cdn).with_state(state);
    (hub, cdn)
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// What the log records of a request before it is answered.
struct Seen {
    server: Server,
    method: String,
    uri: String,
    range: Option<String>,
    authorization: Option<String>,
}

impl Seen {
    fn of(server: Server, req: &Request) -> Seen {
        let text = |h: &HeaderMap, name| {
            h.get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        Seen {
            server,
            method: req.method().to_string(),
            uri: req.uri().to_string(),
            range: text(req.headers(), header::RANGE),
            authorization: text(req.headers(), header::AUTHORIZATION),
        }
    }

    fn log(self, state: &Shared, file: Option<&str>, status: StatusCode, body_bytes: u64) {
        lock(state).log.push(Logged {
            server: self.server,
            method: self.method,
            uri: self.uri,
            file: file.map(str::to_string),
            range: self.range,
            authorization: self.authorization.is_some(),
            status: status.as_u16(),
            body_bytes,
        });
    }
}

/// An error the hub's way: status, `X-Error-Code`, `X-Error-Message`, a JSON body.
fn hub_error(status: StatusCode, code: Option<&str>, message: &str) -> Response {
    let mut response = (status, axum::Json(json!({ "error": message }))).into_response();
    let h = response.headers_mut();
    if let Some(code) = code
        && let Ok(v) = HeaderValue::from_str(code)
    {
        h.insert("x-error-code", v);
    }
    if let Ok(v) = HeaderValue::from_str(message) {
        h.insert("x-error-message", v);
    }
    response
}

async fn hub(AxumState(state): AxumState<Shared>, req: Request) -> Response {
    let seen = Seen::of(Server::Hub, &req);
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let (response, file, bytes) = if let Some(rest) = path.strip_prefix("/api/models/") {
        (revision_api(&state, &seen, rest, &query), None, 0)
    } else if let Some((repo, rest)) = path.trim_start_matches('/').split_once("/resolve/") {
        resolve(&state, &seen, &decode(repo), rest, req.method())
    } else {
        (
            hub_error(StatusCode::NOT_FOUND, None, "Sorry, we can't find the page"),
            None,
            0,
        )
    };
    let status = response.status();
    seen.log(&state, file.as_deref(), status, bytes);
    response
}

/// `GET /api/models/{repo}/revision/{rev}`.
fn revision_api(state: &Shared, seen: &Seen, rest: &str, query: &str) -> Response {
    let Some((repo, revision)) = rest.split_once("/revision/") else {
        return hub_error(StatusCode::NOT_FOUND, None, "Not found");
    };
    let (repo, revision) = (decode(repo), decode(revision));
    let state = lock(state);
    let r = match find(&state, &repo, &revision, seen) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let blobs = query.split('&').any(|p| p == "blobs=true") && !state.no_blob_metadata;
    let siblings: Vec<serde_json::Value> = r
        .files
        .iter()
        .map(|(path, blob)| {
            if !blobs {
                return json!({ "rfilename": path });
            }
            if blob.lfs {
                let pointer = format!(
                    "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n",
                    blob.sha256,
                    blob.bytes.len()
                );
                json!({
                    "rfilename": path,
                    "blobId": git_sha1(pointer.as_bytes()),
                    "size": blob.bytes.len(),
                    "lfs": { "sha256": blob.sha256, "size": blob.bytes.len(), "pointerSize": pointer.len() },
                })
            } else {
                json!({ "rfilename": path, "blobId": blob.git_sha1, "size": blob.bytes.len() })
            }
        })
        .collect();
    axum::Json(json!({
        "_id": format!("{:0>24}", &r.commit[..24.min(r.commit.len())]),
        "id": repo,
        "modelId": repo,
        "private": false,
        "gated": if r.gate.is_some() { json!("manual") } else { json!(false) },
        "disabled": false,
        "library_name": "diffusers",
        "tags": ["diffusers", "safetensors"],
        "sha": r.commit,
        "lastModified": "2024-01-01T00:00:00.000Z",
        "siblings": siblings,
    }))
    .into_response()
}

fn git_sha1(bytes: &[u8]) -> String {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex::encode(h.finalize())
}

/// The repo at a revision (`main` or its commit), or the hub's error.
fn find<'a>(
    state: &'a State,
    repo: &str,
    revision: &str,
    seen: &Seen,
) -> Result<&'a super::Repo, Box<Response>> {
    let Some(r) = state.repos.get(repo) else {
        // Without a token the hub cannot tell "missing" from "private": 401.
        return Err(Box::new(if seen.authorization.is_some() {
            hub_error(
                StatusCode::NOT_FOUND,
                Some("RepoNotFound"),
                "Repository not found",
            )
        } else {
            hub_error(
                StatusCode::UNAUTHORIZED,
                Some("RepoNotFound"),
                "Invalid username or password.",
            )
        }));
    };
    if revision != "main" && revision != r.commit {
        return Err(Box::new(hub_error(
            StatusCode::NOT_FOUND,
            Some("RevisionNotFound"),
            &format!("Invalid rev id: {revision}"),
        )));
    }
    Ok(r)
}

/// `GET|HEAD /{repo}/resolve/{rev}/{path}`: returns the answer, the file and the body bytes.
fn resolve(
    state: &Shared,
    seen: &Seen,
    repo: &str,
    rest: &str,
    method: &Method,
) -> (Response, Option<String>, u64) {
    let Some((revision, path)) = rest.split_once('/') else {
        return (hub_error(StatusCode::NOT_FOUND, None, "Not found"), None, 0);
    };
    let (revision, path) = (decode(revision), decode(path));
    let mut guard = lock(state);
    let (commit, blob) = {
        let r = match find(&guard, repo, &revision, seen) {
            Ok(r) => r,
            Err(response) => return (*response, Some(path), 0),
        };
        if let Some(token) = &r.gate {
            let bearer = format!("Bearer {token}");
            match seen.authorization.as_deref() {
                Some(given) if given == bearer => {}
                Some(_) => {
                    let message = format!(
                        "Access to model {repo} is restricted and you are not in the authorized list. Visit {}/{repo} to ask for access.",
                        guard.endpoint
                    );
                    let response = hub_error(StatusCode::FORBIDDEN, Some("GatedRepo"), &message);
                    return (response, Some(path), 0);
                }
                None => {
                    let message = format!(
                        "Access to model {repo} is restricted. You must have access to it and be authenticated to access it. Please log in."
                    );
                    let response = hub_error(StatusCode::UNAUTHORIZED, Some("GatedRepo"), &message);
                    return (response, Some(path), 0);
                }
            }
        }
        let Some(blob) = r.files.get(&path) else {
            let response = hub_error(
                StatusCode::NOT_FOUND,
                Some("EntryNotFound"),
                &format!("{path} does not exist on \"{revision}\""),
            );
            return (response, Some(path), 0);
        };
        (r.commit.clone(), blob.clone())
    };
    let commit_header = |response: &mut Response| {
        if let Ok(v) = HeaderValue::from_str(&commit) {
            response.headers_mut().insert("x-repo-commit", v);
        }
    };
    if blob.lfs {
        let quoted = format!("\"{}\"", blob.sha256);
        let location = format!(
            "{}/cdn/{}?X-Amz-Signature=fake&response-content-disposition=attachment",
            guard.cdn, blob.sha256
        );
        let mut response = StatusCode::FOUND.into_response();
        for (name, value) in [
            ("location", location),
            ("x-linked-etag", quoted.clone()),
            ("x-linked-size", blob.bytes.len().to_string()),
            ("etag", quoted),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, v);
            }
        }
        commit_header(&mut response);
        return (response, Some(path), 0);
    }
    let serve = if method == Method::HEAD {
        Serve::Whole
    } else {
        guard.take_fault(&blob.sha256)
    };
    drop(guard);
    let etag = format!("\"{}\"", blob.git_sha1);
    let (mut response, bytes) = serve_bytes(&blob, seen.range.as_deref(), serve, method, &etag);
    commit_header(&mut response);
    (response, Some(path), bytes)
}

/// The CDN: `GET|HEAD /cdn/{sha256}`, content addressed, presigned (so `Authorization` is
/// refused, as S3 refuses a second authentication).
async fn cdn(AxumState(state): AxumState<Shared>, req: Request) -> Response {
    let seen = Seen::of(Server::Cdn, &req);
    let sha = req
        .uri()
        .path()
        .strip_prefix("/cdn/")
        .unwrap_or_default()
        .to_string();
    let found = lock(&state).blobs.get(&sha).cloned();
    let (response, file, bytes) = match found {
        _ if seen.authorization.is_some() => (
            (
                StatusCode::BAD_REQUEST,
                "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
            )
                .into_response(),
            None,
            0,
        ),
        None => (
            (StatusCode::NOT_FOUND, "<Error><Code>NoSuchKey</Code></Error>").into_response(),
            None,
            0,
        ),
        Some((_, blob)) => {
            let file = lock(&state).repos.values().find_map(|r| {
                r.files
                    .iter()
                    .find(|(_, b)| b.sha256 == sha)
                    .map(|(p, _)| p.clone())
            });
            let serve = if req.method() == Method::HEAD {
                Serve::Whole
            } else {
                lock(&state).take_fault(&sha)
            };
            let etag = format!("\"{}\"", &blob.sha256[..32]);
            let (response, bytes) =
                serve_bytes(&blob, seen.range.as_deref(), serve, req.method(), &etag);
            (response, file, bytes)
        }
    };
    let status = response.status();
    seen.log(&state, file.as_deref(), status, bytes);
    response
}

/// A file's bytes, whole or the requested range, with the injected fault; returns the body
/// bytes actually sent.
fn serve_bytes(
    blob: &Blob,
    range: Option<&str>,
    serve: Serve,
    method: &Method,
    etag: &str,
) -> (Response, u64) {
    let len = blob.bytes.len() as u64;
    let (start, end, partial) = match range.map(|r| parse_range(r, len)) {
        None => (0, len, false),
        Some(Some((start, end))) => (start, end, true),
        Some(None) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return (response, 0);
        }
    };
    let mut body = blob.bytes.slice(start as usize..end as usize);
    if let Serve::Corrupt = serve {
        let middle = len / 2;
        if (start..end).contains(&middle) {
            let mut copy = body.to_vec();
            let i = (middle - start) as usize;
            copy[i] ^= 0xff;
            body = Bytes::from(copy);
        }
    }
    let announced = body.len() as u64;
    let mut headers = HeaderMap::new();
    let mut put = |name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put(header::CONTENT_LENGTH, announced.to_string());
    put(header::ACCEPT_RANGES, "bytes".into());
    put(header::ETAG, etag.to_string());
    put(header::CONTENT_TYPE, "application/octet-stream".into());
    if partial {
        put(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", end.saturating_sub(1)),
        );
    }
    let status = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    if method == Method::HEAD {
        return ((status, headers, Body::empty()).into_response(), 0);
    }
    let (body, sent) = match serve {
        Serve::CutAfter(after) if after < announced => {
            let head = body.slice(..after as usize);
            // Send the head, give it time to reach the client, then drop the connection
            // (the body ends short of Content-Length with an error).
            let stream = futures::stream::iter([Ok::<_, std::io::Error>(head)]).chain(
                futures::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "cut by the fake hub",
                    ))
                }),
            );
            (Body::from_stream(stream), after)
        }
        _ => (Body::from(body), announced),
    };
    ((status, headers, body).into_response(), sent)
}

/// `bytes=N-` or `bytes=N-M` (inclusive) as `[start, end)`; `None` when unsatisfiable.
fn parse_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => len,
        b => b.parse::<u64>().ok()?.saturating_add(1).min(len),
    };
    (start < len && start < end).then_some((start, end))
}
