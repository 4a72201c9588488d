//! The hub's HTTP protocol as huggingface_hub speaks it: the revision API
//! (`/api/models/{repo}/revision/{rev}?blobs=true`), file URLs
//! (`/{repo}/resolve/{commit}/{path}`, LFS files redirected to a CDN), `HEAD` metadata
//! (`X-Linked-Etag`, `X-Linked-Size`, `X-Repo-Commit`), and the hub's `X-Error-Code` turned
//! into messages that say what to do.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::{ModelError, Result};

/// A host that does not accept the connection within this is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence while reading an answer: a per-read limit, not a total one, so a
/// multi-gigabyte file may take as long as it takes while bytes keep coming.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything but RFC 3986's unreserved characters: a revision such as `refs/pr/1` is one
/// path segment (`refs%2Fpr%2F1`), as huggingface_hub sends it.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// A file path keeps its `/`.
const PATH: &AsciiSet = &SEGMENT.remove(b'/');

/// Why a file request failed: the network or a server error (another try may work), or a
/// refusal (it will not).
#[derive(Debug)]
pub(crate) enum GetError {
    Retry(ModelError),
    Final(ModelError),
}

/// The revision API's answer (the fields a pull reads).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct RepoInfo {
    /// The commit the revision resolved to.
    pub sha: String,
    #[serde(default)]
    pub siblings: Vec<Sibling>,
}

/// One file of the repo. Sizes and hashes come only with `blobs=true`, and not from every
/// hub-compatible server: a pull asks `HEAD` for what is missing.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Sibling {
    pub rfilename: String,
    #[serde(default)]
    pub size: Option<u64>,
    /// The git object id: for a small (non-LFS) file, the sha1 of its git blob.
    #[serde(default, rename = "blobId")]
    pub blob_id: Option<String>,
    #[serde(default)]
    pub lfs: Option<LfsInfo>,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct LfsInfo {
    pub sha256: String,
    pub size: u64,
}

/// What `HEAD /resolve/` tells about one file.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileMeta {
    pub size: Option<u64>,
    /// `X-Linked-Etag`: the sha256 of an LFS file.
    pub linked_etag: Option<String>,
    /// `ETag`: the git blob sha1 of a small file.
    pub etag: Option<String>,
}

/// What a request was about, for error messages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Subject<'a> {
    pub repo: &'a str,
    pub revision: &'a str,
    pub file: Option<&'a str>,
}

pub(crate) struct HubClient {
    /// Follows redirects; reqwest drops `Authorization` when one leaves the hub's origin, so
    /// the token never reaches the CDN (a presigned URL carries its own authorization).
    http: reqwest::Client,
    /// For `HEAD`: the hub's own answer, whose headers a redirect would hide.
    no_redirect: reqwest::Client,
    endpoint: String,
    token: Option<SecretString>,
}

impl HubClient {
    pub fn new(endpoint: &str, token: Option<SecretString>) -> Result<Self> {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let ok = Url::parse(&endpoint)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !ok {
            return Err(ModelError::Hub(format!(
                "hub endpoint `{endpoint}` is not an http(s) URL ([models] hub_endpoint or HF_ENDPOINT)"
            )));
        }
        let build = |redirect| {
            reqwest::Client::builder()
                .user_agent(concat!(
                    "pressroom/",
                    env!("CARGO_PKG_VERSION"),
                    " (model pull)"
                ))
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .redirect(redirect)
                .build()
                .map_err(|e| ModelError::Hub(format!("starting the HTTP client: {e}")))
        };
        let token = token.filter(|t| !t.expose_secret().trim().is_empty());
        Ok(Self {
            http: build(reqwest::redirect::Policy::limited(10))?,
            no_redirect: build(reqwest::redirect::Policy::none())?,
            endpoint,
            token,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The revision's commit and files.
    pub async fn revision(&self, repo: &str, revision: &str) -> Result<RepoInfo> {
        let url = format!(
            "{}/api/models/{}/revision/{}?blobs=true",
            self.endpoint,
            utf8_percent_encode(repo, PATH),
            utf8_percent_encode(revision, SEGMENT)
        );
        let subject = Subject {
            repo,
            revision,
            file: None,
        };
        let response = self.send(self.http.get(&url), &url).await?;
        let response = self.check(response, subject).await?;
        // A file list is kilobytes; a hub (or anything at HF_ENDPOINT) that answers more is
        // not read into memory.
        let mut text = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            text.extend_from_slice(&chunk.map_err(|e| net_error(&url, &e))?);
            if text.len() > MAX_REVISION_JSON {
                return Err(ModelError::Hub(format!(
                    "{url}: the file list is over {} MiB; is {} a Hugging Face-compatible hub?",
                    MAX_REVISION_JSON >> 20,
                    self.endpoint
                )));
            }
        }
        serde_json::from_slice(&text).map_err(|e| {
            ModelError::Hub(format!(
                "{url}: not the hub's revision JSON ({e}); is {} a Hugging Face-compatible hub?",
                self.endpoint
            ))
        })
    }

    /// Where a file of a commit is fetched from.
    pub fn file_url(&self, repo: &str, commit: &str, path: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint,
            utf8_percent_encode(repo, PATH),
            utf8_percent_encode(commit, SEGMENT),
            utf8_percent_encode(path, PATH)
        )
    }

    /// `HEAD` on a file, without following the CDN redirect: size and hashes.
    pub async fn head(&self, subject: Subject<'_>, commit: &str) -> Result<FileMeta> {
        let url = self.file_url(subject.repo, commit, subject.file.unwrap_or_default());
        let response = self.send(self.no_redirect.head(&url), &url).await?;
        if !(response.status().is_success() || response.status().is_redirection()) {
            return Err(self.explain(&response, subject));
        }
        let h = response.headers();
        let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
        // A redirect's Content-Length is its own body's, not the file's.
        let redirected = response.status().is_redirection();
        let size = text("x-linked-size")
            .or_else(|| (!redirected).then(|| text("content-length")).flatten())
            .and_then(|v| v.trim().parse().ok());
        Ok(FileMeta {
            size,
            linked_etag: text("x-linked-etag").map(normalize_etag),
            etag: text("etag").map(normalize_etag),
        })
    }

    /// `GET` a file (from `offset` on, with `Range`), following the CDN redirect. Answers
    /// 200, 206 and 416 are the caller's to read; a failure says whether another try may help.
    pub async fn get(
        &self,
        url: &str,
        offset: u64,
        subject: Subject<'_>,
    ) -> Result<Response, GetError> {
        let mut request = self.http.get(url);
        if offset > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        let response = self.send(request, url).await.map_err(GetError::Retry)?;
        let status = response.status();
        if status.is_success() || status == StatusCode::RANGE_NOT_SATISFIABLE {
            Ok(response)
        } else if status.is_server_error() {
            Err(GetError::Retry(self.explain(&response, subject)))
        } else {
            Err(GetError::Final(self.explain(&response, subject)))
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, url: &str) -> Result<Response> {
        let request = match &self.token {
            Some(token) => {
                let mut value =
                    HeaderValue::try_from(format!("Bearer {}", token.expose_secret().trim()))
                        .map_err(|_| {
                            ModelError::Hub(
                                "the hub token contains characters a header cannot carry".into(),
                            )
                        })?;
                value.set_sensitive(true);
                let mut headers = HeaderMap::new();
                headers.insert(AUTHORIZATION, value);
                request.headers(headers)
            }
            None => request,
        };
        request.send().await.map_err(|e| net_error(url, &e))
    }

    async fn check(&self, response: Response, subject: Subject<'_>) -> Result<Response> {
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.explain(&response, subject))
        }
    }

    fn explain(&self, response: &Response, subject: Subject<'_>) -> ModelError {
        let h = response.headers();
        let text = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        explain(&HubAnswer {
            endpoint: &self.endpoint,
            url: &without_query(response.url().as_str()),
            status: response.status(),
            code: text("x-error-code"),
            message: text("x-error-message"),
            retry_after: text("retry-after"),
            has_token: self.has_token(),
            subject,
        })
    }
}

/// A failed answer, as [`explain`] reads it.
pub(crate) struct HubAnswer<'a> {
    pub endpoint: &'a str,
    pub url: &'a str,
    pub status: StatusCode,
    pub code: Option<String>,
    pub message: Option<String>,
    pub retry_after: Option<String>,
    pub has_token: bool,
    pub subject: Subject<'a>,
}

/// The message for a failed answer: what happened and what to do.
pub(crate) fn explain(a: &HubAnswer<'_>) -> ModelError {
    let Subject {
        repo,
        revision,
        file,
    } = a.subject;
    let licence = format!("{}/{repo}", a.endpoint);
    let said = a
        .message
        .as_deref()
        .map(|m| format!(" (the hub said: {m})"))
        .unwrap_or_default();
    let repo_not_found = || {
        format!(
            "repo {repo} not found on {} (check the id; a private repo needs HF_TOKEN or [models] hub_token){said}",
            a.endpoint
        )
    };
    let status = a.status.as_u16();
    let message = match (status, a.code.as_deref()) {
        (401, Some("GatedRepo")) => format!(
            "{repo} is gated: set HF_TOKEN (or [models] hub_token) to a token of an account that accepted its licence at {licence}{said}"
        ),
        (_, Some("GatedRepo")) => format!(
            "{repo} is gated: accept its licence at {licence} with the account of your token{said}"
        ),
        (401, _) if a.has_token => format!(
            "the hub refused the token, or {repo} does not exist or is private to another account: check the repo id and the token (HF_TOKEN or [models] hub_token){said}"
        ),
        (401, _) => format!(
            "{repo}: repo not found, or private: check the repo id; for a private or gated repo set HF_TOKEN or [models] hub_token{said}"
        ),
        (404, Some("RevisionNotFound")) => format!(
            "{repo} has no revision `{revision}` (give a branch, tag or commit after @){said}"
        ),
        (404, Some("EntryNotFound")) => format!(
            "{repo}@{revision} has no file {}{said}",
            file.unwrap_or("(unknown)")
        ),
        (404, Some("RepoNotFound")) => repo_not_found(),
        (404, None) if file.is_none() => repo_not_found(),
        (404, _) => format!("{}: not found{said}", a.url),
        (403, _) => format!(
            "the hub refused access to {repo}{}: check the token's permissions{said}",
            file.map(|f| format!(" ({f})")).unwrap_or_default()
        ),
        (429, _) => format!(
            "the hub is limiting requests: try again {}{said}",
            a.retry_after
                .as_deref()
                .map(|s| format!("in {s} s"))
                .unwrap_or_else(|| "later".into())
        ),
        (s, _) if s >= 500 => format!(
            "{} answered {} for {}: try again later{said}",
            host_of(a.url),
            a.status,
            a.url
        ),
        _ => format!("unexpected answer {} for {}{said}", a.status, a.url),
    };
    ModelError::Hub(message)
}

/// A transport failure, naming the host (after a redirect: the CDN's) and the cause.
/// The most bytes of a revision's file list read.
const MAX_REVISION_JSON: usize = 32 << 20;

/// A URL for a message: a CDN's presigned query (a time-limited credential for the file) and
/// any fragment cut off.
fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_string()
}

pub(crate) fn net_error(url: &str, e: &reqwest::Error) -> ModelError {
    let url = e.url().map(Url::as_str).unwrap_or(url);
    let host = host_of(url);
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let cause = if cause.is_empty() {
        without_query(&e.to_string())
    } else {
        cause
    };
    let what = if e.is_timeout() {
        if e.is_connect() {
            format!(
                "{host} did not accept a connection within {} s",
                CONNECT_TIMEOUT.as_secs()
            )
        } else {
            format!("{host} sent nothing for {} s", READ_TIMEOUT.as_secs())
        }
    } else if e.is_connect() {
        format!("cannot connect to {host}")
    } else if e.is_body() || e.is_decode() {
        format!("the connection to {host} broke")
    } else if e.is_redirect() {
        format!("{host} redirected too many times")
    } else {
        format!("request to {host} failed")
    };
    ModelError::Hub(format!("{what}: {cause}"))
}

pub(crate) fn host_of(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| url.to_string())
}

/// `W/"abc"` and `"abc"` are `abc`.
pub(crate) fn normalize_etag(etag: &str) -> String {
    etag.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, code: Option<&str>, has_token: bool, file: Option<&str>) -> String {
        explain(&HubAnswer {
            endpoint: "https://hub.example",
            url: "https://hub.example/x",
            status: StatusCode::from_u16(status).expect("status"),
            code: code.map(str::to_string),
            message: Some("from the hub".into()),
            retry_after: Some("30".into()),
            has_token,
            subject: Subject {
                repo: "org/model",
                revision: "v2",
                file,
            },
        })
        .to_string()
    }

    #[test]
    fn every_refusal_says_what_to_do() {
        let gated = answer(403, Some("GatedRepo"), true, Some("unet/x"));
        assert!(
            gated.contains("org/model is gated")
                && gated.contains("accept its licence at https://hub.example/org/model"),
            "{gated}"
        );
        let gated_anonymous = answer(401, Some("GatedRepo"), false, Some("unet/x"));
        assert!(
            gated_anonymous.contains("set HF_TOKEN"),
            "{gated_anonymous}"
        );
        let refused = answer(401, Some("RepoNotFound"), true, None);
        assert!(refused.contains("refused the token"), "{refused}");
        let anonymous = answer(401, Some("RepoNotFound"), false, None);
        assert!(
            anonymous.contains("not found") && anonymous.contains("HF_TOKEN"),
            "{anonymous}"
        );
        let repo = answer(404, Some("RepoNotFound"), true, None);
        assert!(
            repo.contains("repo org/model not found on https://hub.example"),
            "{repo}"
        );
        let revision = answer(404, Some("RevisionNotFound"), false, None);
        assert!(revision.contains("has no revision `v2`"), "{revision}");
        let entry = answer(404, Some("EntryNotFound"), false, Some("vae/config.json"));
        assert!(
            entry.contains("org/model@v2 has no file vae/config.json"),
            "{entry}"
        );
        let limited = answer(429, None, false, None);
        assert!(limited.contains("try again in 30 s"), "{limited}");
        let down = answer(503, None, false, None);
        assert!(down.contains("hub.example answered 503"), "{down}");
        assert!(
            [gated, refused, repo, revision, entry, down]
                .iter()
                .all(|m| m.contains("(the hub said: from the hub)")),
            "the hub's own message is passed on"
        );
    }

    #[test]
    fn urls_encode_the_revision_as_one_segment() {
        let client = HubClient::new("https://hub.example/", None).expect("client");
        assert_eq!(
            client.file_url("org/model", "refs/pr/1", "unet/a b.json"),
            "https://hub.example/org/model/resolve/refs%2Fpr%2F1/unet/a%20b.json"
        );
        assert!(HubClient::new("hub.example", None).is_err());
        assert!(HubClient::new("ftp://hub.example", None).is_err());
    }

    #[test]
    fn etags_are_normalized() {
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
        assert_eq!(normalize_etag("\"abc\""), "abc");
    }
}
