//! Assets: the generated images (content-addressed files) with the exact parameters that made
//! them, newest first, and the image bytes themselves. An asset may serve many runs (an
//! identical request reuses it), so `?run_id=` finds the one a run used and the ones its
//! renditions were cut from.

use crate::handlers::Path;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::{Extension, Json};
use pressroom_core::AssetId;
use pressroom_store::Paging;
use pressroom_store::entity::asset;
use pressroom_store::repo::assets;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::stored_json;
use crate::handlers::workspaces::query;
use crate::page::{Page, PageQuery};

#[derive(Serialize, ToSchema)]
#[schema(as = Asset)]
pub struct AssetView {
    pub id: AssetId,
    pub sha256: String,
    /// Size of the image file; null when the file is gone (erased, or storage unreachable).
    #[schema(required)]
    pub bytes: Option<u64>,
    pub mime: &'static str,
    pub width: i32,
    pub height: i32,
    /// The generator's identity (model and backend).
    pub generator: String,
    /// Same key, same image: what the cache matched on.
    pub generation_key: String,
    /// The exact generation request: prompt, negative prompt, seed, steps, guidance, size.
    pub params: serde_json::Value,
    pub created_at: i64,
    /// Where the image itself is (with the same API key).
    pub image_url: String,
}

async fn view(state: &ApiState, a: asset::Model) -> AssetView {
    let bytes = state.blobs.size(&a.path).await.ok();
    AssetView {
        image_url: format!("/v1/assets/{}/image", a.id),
        mime: mime_of(&a.path, &[]),
        params: stored_json(&a.params),
        bytes,
        id: a.id,
        sha256: a.sha256,
        width: a.width,
        height: a.height,
        generator: a.generator,
        generation_key: a.generation_key,
        created_at: a.created_at,
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetFilter {
    #[serde(flatten)]
    #[param(ignore)]
    pub(crate) page: PageQuery,
    /// Only the image this run generated or reused, and those its renditions came from.
    pub(crate) run_id: Option<pressroom_core::RunId>,
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<AssetFilter>, QueryRejection>,
) -> ApiResult<Json<Page<AssetView>>> {
    let f = query(q)?;
    let ws = ctx.workspace()?;
    let after = f.page.after()?;
    let limit = f.page.limit()?;
    let rows = assets::page(
        &state.store,
        ws,
        f.run_id.as_ref(),
        Paging::new(after.as_deref(), limit + 1),
    )
    .await?;
    let page = Page::from_rows(rows, limit, |a| &a.id);
    let mut data = Vec::with_capacity(page.data.len());
    for a in page.data {
        data.push(view(&state, a).await);
    }
    Ok(Json(Page {
        data,
        next_cursor: page.next_cursor,
    }))
}

pub async fn get_one(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<AssetId>,
) -> ApiResult<Json<AssetView>> {
    let a = assets::get(state.store.conn(), ctx.workspace()?, &id).await?;
    Ok(Json(view(&state, a).await))
}

/// `POST /v1/assets`: an image of the person's own (multipart/form-data, field `file`) kept
/// in the library beside the generated ones: sniffed, decoded within limits, EXIF and
/// other metadata stripped (stored as PNG). The same picture twice is one asset (200 the
/// second time, 201 the first).
pub async fn upload(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<AssetView>)> {
    let form = read_form(multipart.map_err(|e| field_error(e.body_text()))?).await?;
    let (status, asset) = keep(&state, &ctx, form).await?;
    Ok((status, Json(asset)))
}

/// An upload form as read: the image (name and bytes) and its other text fields (the
/// console's `csrf`).
pub(crate) struct UploadForm {
    pub file: Option<(String, axum::body::Bytes)>,
    pub fields: Vec<(String, String)>,
}

/// Reads a multipart upload: the `file` part and any short text fields.
pub(crate) async fn read_form(mut multipart: Multipart) -> ApiResult<UploadForm> {
    let mut form = UploadForm {
        file: None,
        fields: Vec::new(),
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| upload_failed(&e))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" && form.file.is_none() {
            let file_name = field.file_name().unwrap_or("upload").to_owned();
            let bytes = field.bytes().await.map_err(|e| upload_failed(&e))?;
            form.file = Some((file_name, bytes));
        } else if form.fields.len() < 8 {
            let text = field.text().await.map_err(|e| upload_failed(&e))?;
            form.fields.push((name, text.chars().take(256).collect()));
        }
    }
    Ok(form)
}

/// Keeps the form's image in the caller's workspace: 201 with the new asset, 200 with the
/// one the same picture made before.
pub(crate) async fn keep(
    state: &ApiState,
    ctx: &Ctx,
    form: UploadForm,
) -> ApiResult<(StatusCode, AssetView)> {
    let ws = ctx.workspace()?;
    let Some((name, bytes)) = form.file else {
        return Err(field_error(
            "missing: send the image as a multipart/form-data field named `file`",
        ));
    };
    let kept = pressroom_runtime::uploads::keep_upload(
        &state.store,
        state.blobs.as_ref(),
        ws,
        bytes.to_vec(),
        &name,
    )
    .await
    .map_err(|e| match e {
        pressroom_runtime::uploads::UploadError::Image(reason) => field_error(reason),
        too_large @ pressroom_runtime::uploads::UploadError::TooLarge(_) => ApiError::new(
            crate::errors::Code::PayloadTooLarge,
            format!("file: {too_large}"),
        ),
        other => ApiError::internal(other),
    })?;
    let asset = assets::get(state.store.conn(), ws, &kept.asset_id).await?;
    let status = if kept.reused {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, view(state, asset).await))
}

/// The largest upload body: the image and a little multipart framing around it.
pub(crate) const UPLOAD_BODY_BYTES: usize =
    pressroom_runtime::uploads::MAX_UPLOAD_BYTES + 64 * 1024;

/// A refused upload, naming the field.
fn field_error(reason: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("file: {reason}")).with_extra(serde_json::json!({ "field": "file" }))
}

/// The multipart body could not be read: too large for the limit, or malformed.
fn upload_failed(e: &axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            crate::errors::Code::PayloadTooLarge,
            format!(
                "file: over the upload limit of {} bytes",
                pressroom_runtime::uploads::MAX_UPLOAD_BYTES
            ),
        );
    }
    field_error(e.body_text())
}

/// The image bytes with their real content type.
pub async fn image(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<AssetId>,
) -> ApiResult<Response> {
    let a = assets::get(state.store.conn(), ctx.workspace()?, &id).await?;
    let bytes = state.blobs.get(&a.path).await.map_err(|e| {
        tracing::warn!(asset = %a.id, error = %e, "assets: image file unreadable");
        ApiError::not_found("asset file")
    })?;
    // Content-addressed: the bytes behind this id never change, but they are the workspace's.
    Ok(image_response(bytes, &a.path, "private, max-age=86400"))
}

/// An image's bytes with their type (sniffed), `nosniff` and the given caching.
pub(crate) fn image_response(
    bytes: impl Into<axum::body::Body> + AsRef<[u8]>,
    path: &str,
    cache_control: &'static str,
) -> Response {
    let mime = mime_of(path, bytes.as_ref());
    let mut resp = Response::new(bytes.into());
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    resp
}

/// The image type from the file's first bytes, else from its name.
fn mime_of(path: &str, head: &[u8]) -> &'static str {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return "image/png";
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return "image/jpeg";
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return "image/webp";
    }
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::mime_of;

    #[test]
    fn sniffs_bytes_before_trusting_the_name() {
        assert_eq!(mime_of("a.png", b"\xFF\xD8\xFF\xE0"), "image/jpeg");
        assert_eq!(mime_of("a.bin", b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(mime_of("a.webp", b""), "image/webp");
        assert_eq!(mime_of("/dev/null", b""), "application/octet-stream");
    }
}
