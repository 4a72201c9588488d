//! What the route table does not say about a route: its query parameters, derived from the
//! query type its handler reads (`IntoParams`), and the media types of routes that answer
//! bytes rather than JSON. Keyed by the route's path; a unit test keeps every key a real route.

use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};

use crate::handlers::assets::AssetFilter;
use crate::handlers::calendar::CalendarQuery;
use crate::handlers::connect::CallbackQuery;
use crate::handlers::insights::{PeriodQuery, SummaryQuery, TopQuery};
use crate::handlers::media::LinkQuery;
use crate::handlers::posts::PostFilter;
use crate::handlers::reviews::ReviewFilter;
use crate::handlers::runs::RunFilter;
use crate::handlers::usage::UsageQuery;
use crate::page::PageQuery;

/// Routes that answer bytes (images, the review page) rather than JSON, with the media types
/// they may carry.
const BINARY: &[(&str, &[&str])] = &[
    ("/review/{token}", &["text/html"]),
    ("/invite/{token}", &["text/html"]),
    ("/v1/reports", &["text/html"]),
    (
        "/media/{rendition_id}",
        &["image/jpeg", "image/png", "image/webp"],
    ),
    (
        "/media/assets/{asset_id}",
        &["image/png", "image/jpeg", "image/webp"],
    ),
    (
        "/review/{token}/candidates/{index}",
        &["image/png", "image/jpeg", "image/webp"],
    ),
    (
        "/review/{token}/renditions/{rendition_id}",
        &["image/png", "image/jpeg", "image/webp"],
    ),
    (
        "/v1/assets/{id}/image",
        &["image/png", "image/jpeg", "image/webp"],
    ),
];

fn query() -> Option<ParameterIn> {
    Some(ParameterIn::Query)
}

/// `limit` and `cursor`, for the paged routes.
pub(super) fn paging_params() -> Vec<Parameter> {
    PageQuery::into_params(query)
}

/// The query parameters of the route at `path` (paging aside).
pub(super) fn query_params(path: &str) -> Vec<Parameter> {
    match path {
        "/media/{rendition_id}" | "/media/assets/{asset_id}" => LinkQuery::into_params(query),
        "/v1/oauth/callback" => CallbackQuery::into_params(query),
        "/v1/usage" => UsageQuery::into_params(query),
        "/v1/runs" => RunFilter::into_params(query),
        "/v1/posts" => PostFilter::into_params(query),
        "/v1/assets" => AssetFilter::into_params(query),
        "/v1/reviews" => ReviewFilter::into_params(query),
        "/v1/calendar" => CalendarQuery::into_params(query),
        "/v1/insights" => SummaryQuery::into_params(query),
        "/v1/insights/top" => TopQuery::into_params(query),
        "/v1/reports" => PeriodQuery::into_params(query),
        _ => Vec::new(),
    }
}

pub(super) fn binary_types(path: &str) -> Option<&'static [&'static str]> {
    BINARY.iter().find(|(p, _)| *p == path).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::{DEFAULT_LIMIT, MAX_LIMIT};
    use crate::routes::ROUTES;

    /// Routes that read a query, beyond paging.
    const QUERY_ROUTES: &[&str] = &[
        "/media/{rendition_id}",
        "/media/assets/{asset_id}",
        "/v1/oauth/callback",
        "/v1/usage",
        "/v1/runs",
        "/v1/posts",
        "/v1/assets",
        "/v1/reviews",
        "/v1/calendar",
        "/v1/insights",
        "/v1/insights/top",
        "/v1/reports",
    ];

    #[test]
    fn every_key_is_a_route_that_reads_its_query() {
        for path in QUERY_ROUTES
            .iter()
            .copied()
            .chain(BINARY.iter().map(|(p, _)| *p))
        {
            assert!(
                ROUTES.iter().any(|r| r.path == path),
                "{path} is not a route"
            );
        }
        for path in QUERY_ROUTES {
            assert!(!query_params(path).is_empty(), "{path} documents no query");
        }
    }

    #[test]
    fn paging_bounds_are_the_ones_enforced() {
        let params = serde_json::to_value(paging_params()).unwrap_or_default();
        let limit = &params[0]["schema"];
        assert_eq!(params[0]["name"], "limit");
        assert_eq!(limit["maximum"], serde_json::json!(MAX_LIMIT));
        assert_eq!(limit["minimum"], serde_json::json!(1));
        assert_eq!(limit["default"], serde_json::json!(DEFAULT_LIMIT));
        assert_eq!(params[1]["name"], "cursor");
    }
}
