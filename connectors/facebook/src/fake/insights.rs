//! `GET /{ver}/{post-id}/insights?metric=` as Meta serves it (PLATFORMS.md §9.1, §9.7):
//! lifetime values under the 2026 names (objects for the `*_by_type*` ones); any deprecated or
//! unknown name fails the whole call with `(#100) The value must be a valid insights metric`;
//! a token whose user declined `read_insights` gets HTTP 200 with empty `data`, as does a post
//! without numbers yet; a photo id instead of its post id is a #100 (configurable).
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use connector_meta_graph::fake::Input;
use connector_meta_graph::fake::insights::{self as graph, INVALID_METRIC};
use pressroom_connector::PostMetrics;
use serde_json::{Value, json};

use super::routes::{Shared, check_token, lock, page_token};
use super::state::{State, graph_error};

/// The post metrics Graph knows in 2026 (§9.1). Everything else, the deprecated impressions
/// family and `post_engaged_users` included, is refused.
const VALID: [&str; 14] = [
    "post_media_view",
    "post_total_media_view_unique",
    "post_clicks",
    "post_clicks_by_type",
    "post_reactions_by_type_total",
    "post_reactions_like_total",
    "post_reactions_love_total",
    "post_reactions_wow_total",
    "post_reactions_haha_total",
    "post_reactions_sorry_total",
    "post_reactions_anger_total",
    "post_activity_by_action_type",
    "post_activity_by_action_type_unique",
    "post_video_views",
];

/// Whether Graph answers `name` (not deprecated by a test either).
fn is_valid(st: &State, name: &str) -> bool {
    VALID.contains(&name) && !st.deprecated_metrics.contains(name)
}

/// The feed post `node` names and its Page: a published post, or a published photo when
/// photo ids are served.
fn find_post(st: &State, node: &str) -> Result<(String, String), Response> {
    for (page_id, page) in &st.pages {
        if let Some(p) = page.posts.iter().find(|p| p.published && p.post_id == node) {
            return Ok((page_id.clone(), p.post_id.clone()));
        }
        if let Some(p) = page
            .posts
            .iter()
            .find(|p| p.published && p.photo_id == node)
        {
            if st.photo_id_insights_error {
                return Err(graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    None,
                    "(#100) Tried accessing nonexisting field (insights) on node type (Photo)",
                ));
            }
            return Ok((page_id.clone(), p.post_id.clone()));
        }
    }
    Err(graph_error(
        StatusCode::BAD_REQUEST,
        100,
        Some(33),
        &format!(
            "Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
        ),
    ))
}

pub(crate) fn serve(shared: &Shared, input: &Input, node: &str) -> Response {
    let st = lock(shared);
    if let Err(r) = check_token(&st, input.token.as_deref()) {
        return r;
    }
    let (page, post) = match find_post(&st, node) {
        Ok(found) => found,
        Err(r) => return r,
    };
    if let Err(r) = page_token(&st, input, &page, "read_insights") {
        return r;
    }
    let names = graph::requested(&input.params);
    if names.is_empty() || names.iter().any(|n| !is_valid(&st, n)) {
        return graph_error(StatusCode::BAD_REQUEST, 100, None, INVALID_METRIC);
    }
    let revoked = st
        .pages
        .get(&page)
        .is_some_and(|p| st.insights_revoked.contains(&p.owner));
    let Some(stored) = st.insights.get(&post).filter(|_| !revoked) else {
        return axum::Json(graph::empty()).into_response();
    };
    let metrics: Vec<(String, Value)> = names
        .into_iter()
        .map(|n| {
            let value = stored.get(&n).cloned().unwrap_or_else(|| zero(&n));
            (n, value)
        })
        .collect();
    axum::Json(graph::answer(&post, &metrics)).into_response()
}

/// What Graph answers for a metric with nothing counted: an empty object for the
/// `*_by_type*` ones, else 0.
fn zero(name: &str) -> Value {
    if name.contains("_by_") {
        json!({})
    } else {
        json!(0)
    }
}

/// Our normalised numbers under Graph's names and shapes. Likes split into `like` and
/// `love` reactions (the connector must sum them); zero parts are left out of objects, as
/// Meta does.
pub(crate) fn native(m: &PostMetrics) -> BTreeMap<String, Value> {
    let n = |v: Option<u64>| v.unwrap_or(0);
    let likes = n(m.likes);
    let love = likes / 4;
    let object = |parts: &[(&str, u64)]| {
        Value::Object(
            parts
                .iter()
                .filter(|(_, v)| *v > 0)
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect(),
        )
    };
    BTreeMap::from([
        ("post_media_view".into(), json!(n(m.views))),
        ("post_total_media_view_unique".into(), json!(n(m.reach))),
        ("post_clicks".into(), json!(n(m.clicks))),
        (
            "post_clicks_by_type".into(),
            object(&[("other clicks", n(m.clicks))]),
        ),
        (
            "post_reactions_by_type_total".into(),
            object(&[("like", likes - love), ("love", love)]),
        ),
        ("post_reactions_like_total".into(), json!(likes - love)),
        ("post_reactions_love_total".into(), json!(love)),
        (
            "post_activity_by_action_type".into(),
            object(&[
                ("like", likes),
                ("comment", n(m.comments)),
                ("share", n(m.shares)),
            ]),
        ),
    ])
}

/// What the connector reads back from [`native`]: every metric Facebook has (lifetime
/// counts, zero when nothing was counted); no saves.
pub(crate) fn reported(m: &PostMetrics) -> PostMetrics {
    let n = |v: Option<u64>| Some(v.unwrap_or(0));
    PostMetrics {
        views: n(m.views),
        reach: n(m.reach),
        likes: n(m.likes),
        comments: n(m.comments),
        shares: n(m.shares),
        saves: None,
        clicks: n(m.clicks),
    }
}
