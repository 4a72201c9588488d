//! `GET /{ver}/{ig-media-id}/insights?metric=` as Meta serves it (PLATFORMS.md §9.2, §9.7):
//! per-`media_product_type` allow-lists, deprecated or unsupported names failing the whole
//! call with #100, the insights permission checked (code 10 "Application does not have
//! permission for this action" without it), story metrics only within 24 h of fake time and
//! code 10 "Not enough viewers" under 5 viewers, empty `data` during the processing delay or
//! before any number exists. Carousel children and containers are no media: code 100/33.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use connector_meta_graph::fake::Input;
use connector_meta_graph::fake::insights as graph;
use pressroom_connector::PostMetrics;
use serde_json::{Value, json};

use super::routes::{Shared, authorize_ig, check_token, lock};
use super::state::{State, ig_error};

/// FEED media (images, carousel parents) (§9.2).
const FEED: [&str; 10] = [
    "views",
    "reach",
    "likes",
    "comments",
    "saved",
    "shares",
    "total_interactions",
    "profile_visits",
    "follows",
    "profile_activity",
];
/// STORY media.
const STORY: [&str; 8] = [
    "views",
    "reach",
    "shares",
    "replies",
    "navigation",
    "follows",
    "profile_visits",
    "total_interactions",
];
/// Names Meta retired (v18 / Apr 21 2025): refused with a message naming the metric.
const DEPRECATED: [&str; 8] = [
    "impressions",
    "plays",
    "clips_replays_count",
    "ig_reels_aggregated_all_plays_count",
    "video_views",
    "engagement",
    "carousel_album_impressions",
    "carousel_album_reach",
];

/// Fewest story viewers Instagram shows insights for (OSS: fewer than 5 → code 10).
const MIN_VIEWERS: u64 = 5;

fn allowed(product: &str) -> &'static [&'static str] {
    if product == "STORY" { &STORY } else { &FEED }
}

/// The #100 for the first name `product` media does not take, in one of Meta's two
/// wordings: naming a retired metric, or listing the valid ones.
fn refuse_names(st: &State, product: &str, names: &[String]) -> Option<Response> {
    let allow = allowed(product);
    let (i, bad) = names.iter().enumerate().find(|(_, n)| {
        !allow.contains(&n.as_str()) || st.insights_deprecated.contains(n.as_str())
    })?;
    let message = if DEPRECATED.contains(&bad.as_str()) || st.insights_deprecated.contains(bad) {
        format!(
            "(#100) The Media Insights API does not support the {bad} metric for this media product type"
        )
    } else {
        format!(
            "(#100) metric[{i}] must be one of the following values: {}",
            allow.join(", ")
        )
    };
    Some(graph::invalid_metric(&message).response(StatusCode::BAD_REQUEST))
}

pub(crate) fn serve(shared: &Shared, input: &Input, node: &str) -> Response {
    let st = lock(shared);
    if let Err(r) = check_token(&st, input.token.as_deref()) {
        return r;
    }
    let Some(media) = st.media.iter().find(|m| m.id == node) else {
        return ig_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(33),
            &format!(
                "Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"
            ),
            None,
        );
    };
    if let Err(r) = authorize_ig(&st, input, &media.ig_user) {
        return r;
    }
    if st.insights_revoked.contains(&media.ig_user) {
        return ig_error(
            StatusCode::FORBIDDEN,
            10,
            None,
            "(#10) Application does not have permission for this action",
            None,
        );
    }
    let names = graph::requested(&input.params);
    if names.is_empty() {
        return graph::invalid_metric("(#100) The parameter metric is required")
            .response(StatusCode::BAD_REQUEST);
    }
    if let Some(r) = refuse_names(&st, media.media_product_type, &names) {
        return r;
    }
    let now = st.now();
    if media.media_product_type == "STORY" {
        if now - media.timestamp > chrono::Duration::hours(24) {
            return axum::Json(graph::empty()).into_response();
        }
        if st.story_viewers.is_some_and(|v| v < MIN_VIEWERS) {
            return ig_error(
                StatusCode::BAD_REQUEST,
                10,
                None,
                "(#10) Not enough viewers for the media to show insights",
                None,
            );
        }
    }
    let processing = now < media.timestamp + st.insights_delay;
    let Some(stored) = st.insights.get(node).filter(|_| !processing) else {
        return axum::Json(graph::empty()).into_response();
    };
    let metrics: Vec<(String, Value)> = names
        .into_iter()
        .map(|n| {
            let value = stored.get(&n).cloned().unwrap_or_else(|| json!(0));
            (n, value)
        })
        .collect();
    axum::Json(graph::answer(node, &metrics)).into_response()
}

/// Our normalised numbers under Instagram's media metric names.
pub(crate) fn native(m: &PostMetrics, product: &str) -> BTreeMap<String, Value> {
    let n = |v: Option<u64>| v.unwrap_or(0);
    let mut out = BTreeMap::from([
        ("views".to_owned(), json!(n(m.views))),
        ("reach".to_owned(), json!(n(m.reach))),
        ("shares".to_owned(), json!(n(m.shares))),
    ]);
    if product == "STORY" {
        out.insert("replies".into(), json!(0));
        out.insert("total_interactions".into(), json!(n(m.shares)));
    } else {
        out.insert("likes".into(), json!(n(m.likes)));
        out.insert("comments".into(), json!(n(m.comments)));
        out.insert("saved".into(), json!(n(m.saves)));
        let total = n(m.likes) + n(m.comments) + n(m.saves) + n(m.shares);
        out.insert("total_interactions".into(), json!(total));
    }
    out
}

/// What the connector reads back from [`native`]: the metrics of the product type, zero
/// when nothing was counted; never clicks.
pub(crate) fn reported(m: &PostMetrics, product: &str) -> PostMetrics {
    let n = |v: Option<u64>| Some(v.unwrap_or(0));
    let feed = product != "STORY";
    PostMetrics {
        views: n(m.views),
        reach: n(m.reach),
        likes: n(m.likes).filter(|_| feed),
        comments: n(m.comments).filter(|_| feed),
        shares: n(m.shares),
        saves: n(m.saves).filter(|_| feed),
        clicks: None,
    }
}
