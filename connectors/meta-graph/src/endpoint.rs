//! The Graph host a client calls: versioned URLs and the token as a bearer header.

use std::time::Duration;

use pressroom_connector::http::{self, ClientBuildError};
use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};

/// `{base}/{version}/{path}` on one Graph host, over one HTTP client. Tokens travel in the
/// `Authorization` header, never in URLs, so they never reach access logs.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// For the calls that are not plain Graph reads and writes (token exchanges, `paging.next`).
    pub http: reqwest::Client,
    base: String,
    version: String,
}

impl Endpoint {
    /// `base` is the host from config (a trailing `/` is dropped), `version` its `vNN.0`;
    /// `request_timeout` bounds a whole request, so a publish call that outlives it becomes
    /// "outcome unknown".
    pub fn new(
        base: &str,
        version: &str,
        request_timeout: Duration,
    ) -> Result<Self, ClientBuildError> {
        let http = http::client(http::HttpTimeouts {
            request: request_timeout,
            ..Default::default()
        })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            version: version.to_owned(),
        })
    }

    /// Whether `url` is on the configured Graph host (scheme, host and port). A `paging.next`
    /// elsewhere is never followed: we would hand it the bearer token.
    pub fn is_own_url(&self, url: &str) -> bool {
        match (url::Url::parse(url), url::Url::parse(&self.base)) {
            (Ok(u), Ok(base)) => {
                u.scheme() == base.scheme()
                    && u.host_str() == base.host_str()
                    && u.port_or_known_default() == base.port_or_known_default()
                    && u.username().is_empty()
                    && u.password().is_none()
            }
            _ => false,
        }
    }

    /// `{base}/{version}/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.base,
            self.version,
            path.trim_start_matches('/')
        )
    }

    /// Unversioned URL on the same host (`/refresh_access_token` on graph.instagram.com).
    pub fn root_url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    pub fn get(&self, path: &str, token: &SecretString) -> RequestBuilder {
        self.http
            .get(self.url(path))
            .bearer_auth(token.expose_secret())
    }

    pub fn post(&self, path: &str, token: &SecretString) -> RequestBuilder {
        self.http
            .post(self.url(path))
            .bearer_auth(token.expose_secret())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_bearer() {
        let Ok(e) = Endpoint::new("http://h:1/", "v25.0", Duration::from_secs(1)) else {
            panic!("client builds");
        };
        assert_eq!(e.url("/me/accounts"), "http://h:1/v25.0/me/accounts");
        assert_eq!(
            e.root_url("refresh_access_token"),
            "http://h:1/refresh_access_token"
        );
        let Ok(req) = e.get("me", &SecretString::from("T")).build() else {
            panic!("request builds");
        };
        assert_eq!(req.url().as_str(), "http://h:1/v25.0/me");
        assert!(req.url().query().is_none(), "no token in the URL");
        assert_eq!(
            req.headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer T")
        );
    }
}
