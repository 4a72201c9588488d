//! The gallery: the workspace's generated images, newest first, with the prompt, seed, model
//! and parameters that made each; download, and "use this seed" (a new campaign that makes it
//! again).

use axum::extract::{Query, State};
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
            },
        ),
        Err(e) => page::error_page(e),
    }
}
