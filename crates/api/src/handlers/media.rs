//! The public, signed media routes. The signed link is the only credential; a missing, bad or
//! expired signature answers 403 before any lookup, so it never says whether the id exists.
//!
//! - `GET /media/{rendition_id}?exp=&sig=`: a rendition's bytes, for platforms that pull
//!   media by URL.
//!
//! Both stream the file from the blob store (a bucket or the data directory) with its
//! Content-Length, so any instance serves any link without buffering whole files.
//! - `GET /media/assets/{asset_id}?exp=&sig=`: a generated image, the `url` that
//!   `POST /v1/images/generations` answers (like OpenAI's expiring image URLs).

use crate::handlers::Path;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures::{StreamExt, TryStreamExt};
use pressroom_crypto::urlsign::UrlSignError;
use pressroom_store::repo::assets;
use pressroom_store::{BlobError, OpenBlob};
use serde::Deserialize;

use crate::ApiState;
use crate::errors::{ApiError, ApiResult};
use crate::media::{LinkKind, MediaLinks, unix_now};

/// The query of a signed media link (`/media/…?exp=&sig=`); checked by hand, so a missing
/// part is a 403 rather than serde's 400.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// When the link expires (Unix seconds); part of the signature.
    #[param(required, value_type = i64)]
    exp: Option<String>,
    /// The link's signature, minted by the daemon.
    #[param(required)]
    sig: Option<String>,
}

/// Checks the link's signature and expiry; answers the links and the expiry on success.
fn authorize<'a>(
    state: &'a ApiState,
    kind: LinkKind,
    id: &str,
    q: Result<Query<LinkQuery>, QueryRejection>,
) -> ApiResult<(&'a MediaLinks, i64)> {
    // A malformed query (e.g. a repeated `exp`) is as unauthorized as a missing one.
    let q = q
        .map(|Query(q)| q)
        .map_err(|_| ApiError::forbidden("a media link needs one exp and one sig"))?;
    let Some(links) = state.media.as_deref() else {
        return Err(ApiError::not_found("media link"));
    };
    let exp = q.exp.as_deref().and_then(|v| v.parse::<i64>().ok());
    let (Some(exp), Some(sig)) = (exp, q.sig.as_deref()) else {
        return Err(ApiError::forbidden("a media link needs exp and sig"));
    };
    links.verify(kind, id, exp, sig).map_err(|e| match e {
        UrlSignError::Expired => ApiError::forbidden("the media link has expired"),
        _ => ApiError::forbidden("the media link's signature is not valid"),
    })?;
    Ok((links, exp))
}

/// Caches may keep the bytes at most `cap` seconds and never past the link's expiry, and
/// never share them: the link is the credential.
fn cache_headers(headers: &mut HeaderMap, exp: i64, cap: i64) {
    let max_age = (exp - unix_now()).clamp(0, cap);
    if let Ok(v) = HeaderValue::from_str(&format!("private, max-age={max_age}")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// The blob's bytes as they arrive from the store (a bucket or a file), with its size as the
/// Content-Length: a platform fetching a large image never makes us hold it whole. A store
/// failure half-way ends the response early, which the client sees as a broken transfer.
fn streamed(head: Bytes, opened: OpenBlob, what: &'static str) -> Response {
    let OpenBlob { size, stream } = opened;
    let stream = futures::stream::iter((!head.is_empty()).then_some(Ok(head)))
        .chain(stream)
        .inspect_err(move |e| tracing::error!(error = %e, "media: the {what} stopped half-way"));
    let mut resp = Body::from_stream(stream).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    resp
}

pub async fn rendition(
    State(state): State<ApiState>,
    Path(rendition_id): Path<pressroom_core::RenditionId>,
    q: Result<Query<LinkQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let (_, exp) = authorize(&state, LinkKind::Rendition, &rendition_id, q)?;
    let row = assets::get_rendition_for_signed_link(state.store.conn(), &rendition_id).await?;
    let opened = state.blobs.open(&row.path).await.map_err(|e| {
        tracing::error!(rendition = %rendition_id, error = %e, "media: rendition file unreadable");
        ApiError::not_found("media file")
    })?;
    let mut resp = streamed(Bytes::new(), opened, "rendition");
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&row.mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    cache_headers(headers, exp, 300);
    Ok(resp)
}

/// A generated image by id alone: the link's signature, not a workspace key, authorizes
/// the read (it was minted for the key's workspace when the image was generated).
pub async fn asset(
    State(state): State<ApiState>,
    Path(asset_id): Path<pressroom_core::AssetId>,
    q: Result<Query<LinkQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let (_, exp) = authorize(&state, LinkKind::Asset, &asset_id, q)?;
    let row = assets::get_for_signed_link(state.store.conn(), &asset_id).await?;
    // The same blob store `/v1/assets/{id}/image` and the erasure use.
    let unreadable = |e: BlobError| {
        tracing::warn!(asset = %asset_id, error = %e, "media: asset file unreadable");
        ApiError::not_found("media file")
    };
    let mut opened = state.blobs.open(&row.path).await.map_err(unreadable)?;
    // The type is sniffed from the first bytes, which are then sent first.
    let mut head = BytesMut::new();
    while head.len() < SNIFF_LEN {
        match opened.stream.next().await {
            Some(chunk) => head.extend_from_slice(&chunk.map_err(unreadable)?),
            None => break,
        }
    }
    let mime = image_mime(&head);
    let mut resp = streamed(head.freeze(), opened, "asset");
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    cache_headers(headers, exp, i64::MAX);
    Ok(resp)
}

/// How many leading bytes [`image_mime`] needs.
const SNIFF_LEN: usize = 12;

/// The image type from the file's first bytes (generated assets are PNG).
fn image_mime(head: &[u8]) -> &'static str {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        "image/webp"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_life_never_outlasts_the_link() {
        let mut h = HeaderMap::new();
        cache_headers(&mut h, unix_now() + 100, 300);
        let v = h.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok());
        assert!(
            matches!(v, Some("private, max-age=100" | "private, max-age=99")),
            "{v:?}"
        );
        cache_headers(&mut h, unix_now() + 10_000, 300);
        assert_eq!(
            h.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()),
            Some("private, max-age=300")
        );
        cache_headers(&mut h, unix_now() - 5, 300);
        assert_eq!(
            h.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()),
            Some("private, max-age=0")
        );
    }

    #[test]
    fn sniffs_image_types() {
        assert_eq!(image_mime(b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(image_mime(b"\xFF\xD8\xFF\xE0"), "image/jpeg");
        assert_eq!(image_mime(b""), "application/octet-stream");
    }
}
