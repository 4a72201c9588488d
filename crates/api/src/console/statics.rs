//! The console's own stylesheet and script, embedded in the binary. Public (the review-link
//! and invitation pages use the stylesheet too) and cacheable for an hour.

use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::handlers::Path;

const CSS: &str = include_str!("static/console.css");
const JS: &str = include_str!("static/console.js");

pub(crate) async fn file(Path(name): Path<String>) -> Response {
    let (body, mime) = match name.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}
