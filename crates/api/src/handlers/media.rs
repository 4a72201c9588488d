//! `GET /media/{rendition_id}?exp=&sig=`: a rendition's bytes for a platform that pulls media
//! by URL. The signed link is the only credential; anything else answers 403 without saying
//! whether the rendition exists.

use crate::handlers::Path;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pressroom_crypto::urlsign::UrlSignError;
use pressroom_store::repo::assets;
use serde::Deserialize;

use crate::ApiState;
use crate::errors::{ApiError, ApiResult};

#[derive(Deserialize)]
pub struct LinkQuery {
    exp: Option<String>,
    sig: Option<String>,
}

pub async fn rendition(
    State(state): State<ApiState>,
    Path(rendition_id): Path<String>,
    q: Result<Query<LinkQuery>, QueryRejection>,
) -> ApiResult<Response> {
    // A malformed query (e.g. a repeated `exp`) is as unauthorized as a missing one.
    let q = q
        .map(|Query(q)| q)
        .map_err(|_| ApiError::forbidden("a media link needs one exp and one sig"))?;
    let Some(links) = state.media.as_ref() else {
        return Err(ApiError::not_found("media link"));
    };
    let exp = q.exp.as_deref().and_then(|v| v.parse::<i64>().ok());
    let (Some(exp), Some(sig)) = (exp, q.sig.as_deref()) else {
        return Err(ApiError::forbidden("a media link needs exp and sig"));
    };
    links.verify(&rendition_id, exp, sig).map_err(|e| match e {
        UrlSignError::Expired => ApiError::forbidden("the media link has expired"),
        _ => ApiError::forbidden("the media link's signature is not valid"),
    })?;
    let row = assets::get_rendition_for_signed_link(state.store.conn(), &rendition_id).await?;
    let bytes = tokio::fs::read(links.data_dir.join(&row.path))
        .await
        .map_err(|e| {
            tracing::error!(rendition = %rendition_id, error = %e, "media: rendition file unreadable");
            ApiError::not_found("media file")
        })?;
    let mut resp = bytes.into_response();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&row.mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // The link expires; caches must not outlive it or share it.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(resp)
}
