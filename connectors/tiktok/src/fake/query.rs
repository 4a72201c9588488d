//! `POST /v2/video/query/?fields=…` (scope `video.list`; PLATFORMS.md §9.4, §9.7): the
//! counters of the token's own posts. `filters.video_ids` holds 1 to 20 ids as strings (else
//! `invalid_params`); ids of other creators, failed or unknown posts are dropped without a word;
//! `fields` must name known video fields; `FakeOptions::video_query_per_minute` calls per
//! token in a sliding minute, then 429 `rate_limit_exceeded` without `Retry-After`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::routes::{authorize, scope_missing, tt_error, tt_ok};
use super::{FakePublish, Shared};

/// The video object's fields TikTok documents for the query.
const FIELDS: [&str; 15] = [
    "id",
    "create_time",
    "cover_image_url",
    "share_url",
    "video_description",
    "duration",
    "height",
    "width",
    "title",
    "embed_html",
    "embed_link",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
];

/// A post id as TikTok sends it in some answers: a raw JSON number (19 digits, beyond 2^53).
pub(super) fn raw_id(post_id: &str) -> Value {
    post_id
        .parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(post_id))
}

pub async fn video_query(
    AxState(sh): AxState<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let mut st = sh.state();
    let t = match authorize(&mut st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if let Some(r) = scope_missing(&mut st, &t, "video.list") {
        return r;
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let now = st.now();
    st.queries
        .retain(|(_, at)| now - *at < chrono::Duration::minutes(1));
    let recent = st.queries.iter().filter(|(k, _)| *k == token).count();
    if recent >= st.opts.video_query_per_minute {
        return tt_error(
            &mut st,
            429,
            "rate_limit_exceeded",
            "API rate limit was exceeded, please retry later.",
        );
    }
    st.queries.push((token, now));
    let fields: Vec<String> = q
        .get("fields")
        .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    if fields.is_empty() || fields.iter().any(|f| !FIELDS.contains(&f.as_str())) {
        return tt_error(
            &mut st,
            400,
            "invalid_params",
            "fields must name fields of the video object.",
        );
    }
    let ids = body
        .as_ref()
        .and_then(|Json(b)| b.pointer("/filters/video_ids"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > 20 {
        return tt_error(
            &mut st,
            400,
            "invalid_params",
            "video_ids should not be empty or larger than 20.",
        );
    }
    let Some(ids) = ids
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<String>>>()
    else {
        return tt_error(&mut st, 400, "invalid_params", "video_ids must be strings.");
    };
    let numbers = st.opts.query_ids_as_numbers;
    let username = st.usernames.get(&t.open_id).cloned().unwrap_or_default();
    let videos: Vec<Value> = ids
        .iter()
        .filter_map(|id| {
            st.publishes.iter().find(|p| {
                &p.post_id == id
                    && p.open_id == t.open_id
                    && p.post_mode == "DIRECT_POST"
                    && p.exists()
            })
        })
        .map(|p| video(p, &fields, numbers, &username))
        .collect();
    tt_ok(&mut st, json!({ "videos": videos }))
}

/// The requested fields of one post.
fn video(p: &FakePublish, fields: &[String], numbers: bool, username: &str) -> Value {
    let mut out = Map::new();
    for f in fields {
        let v = match f.as_str() {
            "id" if numbers => raw_id(&p.post_id),
            "id" => p.post_id.clone().into(),
            "create_time" => p.created_at.timestamp().into(),
            "title" => p.title.clone().into(),
            "video_description" => p.description.clone().into(),
            "share_url" => format!("https://www.tiktok.com/@{username}/photo/{}", p.post_id).into(),
            "view_count" => p.stats.view_count.into(),
            "like_count" => p.stats.like_count.into(),
            "comment_count" => p.stats.comment_count.into(),
            "share_count" => p.stats.share_count.into(),
            _ => Value::Null,
        };
        out.insert(f.clone(), v);
    }
    Value::Object(out)
}
