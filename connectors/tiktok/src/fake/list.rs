//! `POST /v2/video/list/` (scope `video.list`): the creator's public posts, newest first,
//! `max_count` ≤ 20, paged by `cursor` (a `create_time` in ms) with `has_more`. A publish is
//! listed once TikTok pulled its photos, unless it failed, went to the inbox or is private,
//! and only after `FakeOptions::listing_lag` (moderation).

use std::sync::Arc;

use axum::Json;
use axum::extract::State as AxState;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::routes::{authorize, scope_missing, tt_error, tt_ok};
use super::{Pull, Shared};

pub async fn video_list(
    AxState(sh): AxState<Arc<Shared>>,
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
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let max = body.get("max_count").and_then(Value::as_u64).unwrap_or(10);
    if max == 0 || max > 20 {
        return tt_error(&mut st, 400, "invalid_params", "max_count must be 1 to 20.");
    }
    let before_ms = body
        .get("cursor")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MAX);
    let now = st.now();
    let lag = st.opts.listing_lag;
    let mut listed: Vec<_> = st
        .publishes
        .iter()
        .filter(|p| p.open_id == t.open_id && p.post_mode == "DIRECT_POST")
        .filter(|p| p.pull == Pull::Done && p.exists())
        .filter(|p| p.privacy_level.as_deref() != Some("SELF_ONLY"))
        .filter(|p| p.created_at + lag <= now)
        .filter(|p| p.created_at.timestamp_millis() < before_ms)
        .collect();
    listed.sort_by_key(|p| std::cmp::Reverse(p.created_at));
    let has_more = listed.len() > max as usize;
    listed.truncate(max as usize);
    let cursor = listed
        .last()
        .map(|p| p.created_at.timestamp_millis())
        .unwrap_or(0);
    let videos: Vec<Value> = listed
        .iter()
        .map(|p| {
            json!({
                "id": p.post_id,
                "create_time": p.created_at.timestamp(),
                "title": p.title,
                "video_description": p.description,
                "share_url": format!("https://www.tiktok.com/@{}/photo/{}",
                    st.usernames.get(&p.open_id).cloned().unwrap_or_default(), p.post_id),
            })
        })
        .collect();
    tt_ok(
        &mut st,
        json!({ "videos": videos, "cursor": cursor, "has_more": has_more }),
    )
}
