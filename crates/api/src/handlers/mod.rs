//! Route handlers, one file per resource. Access checks happen in the guard before these run.

pub mod accounts;
pub mod assets;
pub mod audit;
pub mod calendar;
pub mod campaigns;
pub mod connect;
pub mod hook_secrets;
pub mod hooks;
pub mod images;
pub mod insights;
pub mod invite_page;
pub mod keys;
pub mod media;
pub mod members;
pub mod new_posts;
pub mod ops;
pub mod posts;
pub mod preview;
pub mod review_page;
pub mod reviews;
pub mod runs;
pub mod sessions;
pub mod usage;
pub mod webhook_endpoints;
pub mod workspaces;

use serde::de::DeserializeOwned;

use crate::errors::ApiError;

/// Parses a JSON body with a 400 that says what is wrong (axum's `Json` rejection is plain
/// text, not problem+json). Every documented body is an object: an empty body reads as `{}`
/// (routes whose fields are all optional document the body as optional), and anything but an
/// object is refused here, because serde's derived structs would also take a JSON array of
/// the fields in order (`["acme"]` as `{"slug": "acme"}`).
pub(crate) fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // No body at all means "no fields"; whitespace alone is not JSON (schemathesis sends it).
    let bytes = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None if bytes.is_empty() => b"{}".as_slice(),
        Some(b'{') => bytes,
        _ => return Err(ApiError::invalid("body: must be a JSON object")),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // The path names the field (`variables`, `events[2]`); "." is the body itself, where
        // serde's own message names the field (missing or unknown).
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::invalid(format!("body: {inner}"))
        } else {
            ApiError::invalid(format!("body: {path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::invalid(format!("body: {e}")))?;
    Ok(value)
}

/// Decodes a stored JSON column, falling back to null for a corrupt value rather than
/// failing a whole listing.
pub(crate) fn stored_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

/// The raw request body, with a problem+json rejection (axum's own is plain text): 413 with
/// `payload_too_large` over the configured limit.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(crate::Code::PayloadTooLarge, "request body over the limit")
                } else {
                    ApiError::invalid("could not read the request body")
                }
            })
    }
}

/// `axum::extract::Path` with a problem+json rejection: axum's own is plain text, e.g. for a
/// percent-encoded id that is not UTF-8.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            // A route whose handler and path disagree: our bug, not the caller's.
            Err(e) if e.status().is_server_error() => Err(ApiError::internal(e.body_text())),
            Err(e) => Err(ApiError::invalid(format!("path: {}", e.body_text()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::json_body;
    use serde_json::{Map, Value};

    #[test]
    fn only_an_empty_body_reads_as_no_fields() {
        let empty: Map<String, Value> = json_body(b"").expect("empty body");
        assert!(empty.is_empty());
        let fields: Map<String, Value> = json_body(b" {\"a\": 1}\n").expect("object");
        assert_eq!(fields.get("a"), Some(&Value::from(1)));
        for bad in [&b"\t"[..], b"  \n", b"[1]", b"null", b"{\"a\": 1} x"] {
            let err = json_body::<Map<String, Value>>(bad).expect_err("refused");
            assert!(
                err.to_string().contains("body"),
                "{:?}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
