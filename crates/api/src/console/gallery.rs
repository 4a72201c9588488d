//! The gallery: the workspace's generated images, newest first, with the prompt, seed, model
//! and parameters that made each; download, and "use this seed" (a new campaign that makes it
//! again).

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;

use super::page::{self, Viewer};
use crate::ApiState;
use crate::handlers::assets::{self as api, AssetFilter};
use crate::page::PageQuery;
use crate::routes::Method;

#[derive(Deserialize)]
pub(crate) struct Params {
    cursor: Option<String>,
}

pub(crate) async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(params): Query<Params>,
) -> Response {
    let filter = AssetFilter {
        page: PageQuery {
            limit: Some("48".into()),
            cursor: params.cursor.filter(|c| !c.is_empty()),
        },
        run_id: None,
    };
    match api::list(
        State(state),
        Extension(viewer.ctx.clone()),
        Ok(Query(filter)),
    )
    .await
    {
        Ok(Json(found)) => viewer.render(
            "gallery.html",
            "gallery",
            minijinja::context! {
                assets => page::value(&found.data),
                next_cursor => found.next_cursor,
                may_edit => viewer.may(Method::Post, "/v1/campaigns"),
                may_upload => viewer.may(Method::Post, "/v1/assets"),
            },
        ),
        Err(e) => page::error_page(e),
    }
}

/// The upload form: an image of the person's own into the library, through the handler
/// `POST /v1/assets` uses (the same checks, the same asset), after the role and CSRF checks.
pub(crate) async fn upload(
    State(state): State<ApiState>,
    viewer: Viewer,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    if let Err(refused) = viewer.require(Method::Post, "/v1/assets") {
        return *refused;
    }
    let form = match multipart {
        Ok(m) => api::read_form(m).await,
        Err(e) => return page::done("/gallery", false, &e.body_text()),
    };
    let form = match form {
        Ok(form) => form,
        Err(e) => return page::failed("/gallery", e),
    };
    if !viewer.csrf_ok(crate::html::field(&form.fields, "csrf")) {
        return page::stale_form();
    }
    match api::keep(&state, &viewer.ctx, form).await {
        Ok((StatusCode::OK, asset)) => page::done(
            "/gallery",
            true,
            &format!("Already in the library: asset {}.", asset.id),
        ),
        Ok((_, asset)) => page::done(
            "/gallery",
            true,
            &format!(
                "Added to the library: asset {} ({}×{}).",
                asset.id, asset.width, asset.height
            ),
        ),
        Err(e) => page::failed("/gallery", e),
    }
}
