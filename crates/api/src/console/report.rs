//! The client report from the console: the same page `GET /v1/reports` answers, for the
//! signed-in person's workspace, dates in their time zone (last 30 days unless chosen).

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::page::{self, Viewer};
use crate::ApiState;
use crate::handlers::insights::{self as api, PeriodQuery};

#[derive(Deserialize, Default)]
pub(crate) struct Params {
    from: Option<String>,
    to: Option<String>,
}

pub(crate) async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(params): Query<Params>,
) -> Response {
    let query = PeriodQuery {
        from: params.from.filter(|f| !f.is_empty()),
        to: params.to.filter(|t| !t.is_empty()),
        tz: Some(viewer.tz.to_string()),
    };
    match api::report(
        State(state),
        Extension(viewer.ctx.clone()),
        Ok(Query(query)),
    )
    .await
    {
        Ok(report) => report.into_response(),
        Err(e) => page::error_page(e),
    }
}
