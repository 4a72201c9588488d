//! The fake's HTTP routes, one handler per TikTok endpoint.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde_json::{Value, json};

use pressroom_connector::testkit::with_faults;

use super::{CLIENT_KEY, CLIENT_SECRET, FakePublish, Pull, Shared, State, Token};

type S = AxState<Arc<Shared>>;

pub fn router(shared: Arc<Shared>) -> Router {
    let faults = shared.faults.clone();
    // Chaos never touches the OAuth endpoints (the kit's contract); the journal and scripted
    // faults see every call, chaos included.
    let posting = Router::new()
        .route("/v2/post/publish/creator_info/query/", post(creator_info))
        .route("/v2/post/publish/content/init/", post(content_init))
        .route("/v2/post/publish/status/fetch/", post(status_fetch))
        .route("/v2/video/list/", post(super::list::video_list))
        .route("/v2/video/query/", post(super::query::video_query))
        .route_layer(from_fn_with_state(shared.clone(), super::chaos::middleware));
    let api = Router::new()
        .route("/v2/oauth/token/", post(token))
        .route("/v2/oauth/revoke/", post(revoke))
        .merge(posting)
        .with_state(shared);
    with_faults(api, faults)
}

/// TikTok's envelope with an error object; every answer carries a `log_id`.
pub(super) fn tt_error(st: &mut State, status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body =
        json!({ "data": {}, "error": { "code": code, "message": message, "log_id": st.log_id() } });
    (status, Json(body)).into_response()
}

pub(super) fn tt_ok(st: &mut State, data: Value) -> Response {
    Json(json!({ "data": data, "error": { "code": "ok", "message": "", "log_id": st.log_id() } }))
        .into_response()
}

fn oauth_error(st: &mut State, status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description, "log_id": st.log_id() });
    (status, Json(body)).into_response()
}

pub(super) fn authorize(st: &mut State, headers: &HeaderMap) -> Result<Token, Box<Response>> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let now = st.now();
    match st.tokens.get(token).cloned() {
        Some(t) if !t.revoked && t.expires_at > now => Ok(t),
        _ => Err(Box::new(tt_error(
            st,
            401,
            "access_token_invalid",
            "The access token is invalid or not found in the request.",
        ))),
    }
}

pub(super) fn scope_missing(st: &mut State, t: &Token, scope: &str) -> Option<Response> {
    if t.scopes.iter().any(|s| s == scope) {
        return None;
    }
    Some(tt_error(
        st,
        401,
        "scope_not_authorized",
        &format!(
            "The user did not authorize the scope required for completing this request: {scope}"
        ),
    ))
}

async fn token(AxState(sh): S, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut st = sh.state();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    if field("client_key") != CLIENT_KEY || field("client_secret") != CLIENT_SECRET {
        return oauth_error(
            &mut st,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client key or secret is incorrect.",
        );
    }
    let open_id = match field("grant_type").as_str() {
        "authorization_code" => match st.codes.remove(&field("code")) {
            Some(o) => o,
            None => {
                return oauth_error(
                    &mut st,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Authorization code is expired.",
                );
            }
        },
        "refresh_token" => {
            if st.opts.sandbox_refresh {
                return oauth_error(
                    &mut st,
                    StatusCode::OK,
                    "invalid_grant",
                    "Refresh token is invalid or expired.",
                );
            }
            let now = st.now();
            let rt = field("refresh_token");
            match st.refresh.get_mut(&rt) {
                Some(r) if !r.dead && r.expires_at > now => {
                    // Rotation: the old refresh token dies now.
                    r.dead = true;
                    r.open_id.clone()
                }
                _ => {
                    return oauth_error(
                        &mut st,
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Refresh token is invalid or expired.",
                    );
                }
            }
        }
        other => {
            return oauth_error(
                &mut st,
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant_type {other} is not supported"),
            );
        }
    };
    // A refresh keeps what the creator granted: a withdrawn video.list stays withdrawn until
    // the creator connects again (a code grant).
    let refreshing = field("grant_type") == "refresh_token";
    if !refreshing {
        st.insights_revoked.remove(&open_id);
    }
    let revoked = refreshing && st.insights_revoked.contains(&open_id);
    let scopes: Vec<String> = super::ALL_SCOPES
        .iter()
        .filter(|s| !(revoked && **s == "video.list"))
        .map(|s| s.to_string())
        .collect();
    let (access, refresh) = st.issue(&open_id, scopes.clone());
    Json(json!({
        "open_id": open_id,
        "scope": scopes.join(","),
        "access_token": access,
        "expires_in": st.opts.access_ttl.num_seconds(),
        "refresh_token": refresh,
        "refresh_expires_in": st.opts.refresh_ttl.num_seconds(),
        "token_type": "Bearer",
    }))
    .into_response()
}

async fn revoke(AxState(sh): S, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut st = sh.state();
    let token = form.get("token").cloned().unwrap_or_default();
    if let Some(open_id) = st.tokens.get(&token).map(|t| t.open_id.clone()) {
        st.tokens
            .values_mut()
            .filter(|t| t.open_id == open_id)
            .for_each(|t| t.revoked = true);
        st.refresh
            .values_mut()
            .filter(|t| t.open_id == open_id)
            .for_each(|t| t.dead = true);
    }
    Json(json!({})).into_response()
}

async fn creator_info(AxState(sh): S, headers: HeaderMap) -> Response {
    let mut st = sh.state();
    let t = match authorize(&mut st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let can_post = t
        .scopes
        .iter()
        .any(|s| s == "video.publish" || s == "video.upload");
    if !can_post && let Some(r) = scope_missing(&mut st, &t, "video.publish") {
        return r;
    }
    let username = st.usernames.get(&t.open_id).cloned().unwrap_or_default();
    let options = st.opts.privacy_level_options.clone();
    tt_ok(
        &mut st,
        json!({
            "creator_avatar_url": "https://p16.tiktokcdn.example/avatar.jpeg",
            "creator_username": username,
            "creator_nickname": format!("Creator {}", t.open_id),
            "privacy_level_options": options,
            "comment_disabled": false,
            "duet_disabled": false,
            "stitch_disabled": false,
            "max_video_post_duration_sec": 600,
        }),
    )
}

async fn content_init(AxState(sh): S, headers: HeaderMap, body: Option<Json<Value>>) -> Response {
    let mut st = sh.state();
    let t = match authorize(&mut st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Some(Json(body)) = body else {
        return tt_error(
            &mut st,
            400,
            "invalid_params",
            "Request body is not valid JSON.",
        );
    };
    let mode = body
        .get("post_mode")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let scope = match mode.as_str() {
        "DIRECT_POST" => "video.publish",
        "MEDIA_UPLOAD" => "video.upload",
        _ => {
            return tt_error(
                &mut st,
                400,
                "invalid_params",
                "post_mode must be DIRECT_POST or MEDIA_UPLOAD.",
            );
        }
    };
    if let Some(r) = scope_missing(&mut st, &t, scope) {
        return r;
    }
    let now = st.now();
    let token_key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let recent = st
        .inits
        .iter()
        .filter(|(k, at)| *k == token_key && now - *at < chrono::Duration::minutes(1))
        .count();
    if recent >= st.opts.inits_per_minute {
        return tt_error(
            &mut st,
            429,
            "rate_limit_exceeded",
            "API rate limit was exceeded, please retry later.",
        );
    }
    if body.get("media_type").and_then(Value::as_str) != Some("PHOTO") {
        return tt_error(&mut st, 400, "invalid_params", "media_type must be PHOTO.");
    }
    if body.pointer("/source_info/source").and_then(Value::as_str) != Some("PULL_FROM_URL") {
        return tt_error(
            &mut st,
            400,
            "invalid_params",
            "Photos support only PULL_FROM_URL.",
        );
    }
    let images: Vec<String> = body
        .pointer("/source_info/photo_images")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if images.is_empty() || images.len() > 35 {
        return tt_error(
            &mut st,
            400,
            "invalid_params",
            "photo_images must hold 1 to 35 URLs.",
        );
    }
    let cover = body
        .pointer("/source_info/photo_cover_index")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if cover as usize >= images.len() {
        return tt_error(
            &mut st,
            400,
            "invalid_params",
            "photo_cover_index is out of range.",
        );
    }
    if let Some(bad) = images.iter().find(|u| {
        !st.opts
            .verified_prefixes
            .iter()
            .any(|p| u.starts_with(p.as_str()))
    }) {
        let msg = format!("The URL prefix of {bad} is not verified for this app.");
        return tt_error(&mut st, 403, "url_ownership_unverified", &msg);
    }
    let title = body
        .pointer("/post_info/title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let description = body
        .pointer("/post_info/description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if title.encode_utf16().count() > 90 || description.encode_utf16().count() > 4000 {
        return tt_error(
            &mut st,
            400,
            "invalid_params",
            "title or description is too long.",
        );
    }
    let privacy = body
        .pointer("/post_info/privacy_level")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if mode == "DIRECT_POST" {
        match &privacy {
            Some(p) if st.opts.privacy_level_options.contains(p) => {}
            _ => {
                return tt_error(
                    &mut st,
                    400,
                    "privacy_level_option_mismatch",
                    "privacy_level is not one of the creator's privacy_level_options.",
                );
            }
        }
    }
    st.inits.push((token_key, now));
    let n = st.next_id();
    let publish_id = format!("p_pub_url~v2.{n:019}");
    let fail_reason = st.fail_next.take();
    st.publishes.push(FakePublish {
        publish_id: publish_id.clone(),
        open_id: t.open_id.clone(),
        post_mode: mode,
        post_id: format!("74{n:017}"),
        title,
        description,
        privacy_level: privacy,
        photo_images: images.clone(),
        photo_cover_index: cover as usize,
        created_at: now,
        pull: Pull::Pending,
        fail_reason,
        polls: 0,
        stats: Default::default(),
    });
    st.commits += 1;
    let sh2 = sh.clone();
    let pid = publish_id.clone();
    tokio::spawn(async move { pull(sh2, pid, images).await });
    tt_ok(&mut st, json!({ "publish_id": publish_id }))
}

/// TikTok downloads every photo; failures end the publish with TikTok's `fail_reason`.
async fn pull(sh: Arc<Shared>, publish_id: String, urls: Vec<String>) {
    let mut outcome = Pull::Done;
    for url in urls {
        let fetched = match sh.http.get(&url).send().await {
            Ok(r) if r.status().is_success() => r.bytes().await.ok(),
            _ => None,
        };
        let Some(bytes) = fetched else {
            outcome = Pull::Failed("photo_pull_failed".into());
            break;
        };
        let jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
        let webp = bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP";
        if !(jpeg || webp) || bytes.len() > 20 * 1024 * 1024 {
            outcome = Pull::Failed("picture_size_check_failed".into());
            break;
        }
    }
    let mut st = sh.state();
    if let Some(p) = st.publishes.iter_mut().find(|p| p.publish_id == publish_id) {
        if let Pull::Failed(reason) = &outcome {
            p.fail_reason.get_or_insert_with(|| reason.clone());
        }
        p.pull = outcome;
    }
}

async fn status_fetch(AxState(sh): S, headers: HeaderMap, body: Option<Json<Value>>) -> Response {
    let mut st = sh.state();
    let t = match authorize(&mut st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let id = body
        .as_ref()
        .and_then(|b| b.get("publish_id"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let (processing, empty) = (st.opts.processing_polls, st.opts.id_empty_polls);
    let Some(p) = st
        .publishes
        .iter_mut()
        .find(|p| p.publish_id == id && p.open_id == t.open_id)
    else {
        return tt_error(&mut st, 400, "invalid_params", "publish_id does not exist.");
    };
    let data = if p.pull == Pull::Pending {
        json!({ "status": "PROCESSING_DOWNLOAD", "publicaly_available_post_id": [], "uploaded_bytes": 0 })
    } else if let Some(reason) = &p.fail_reason {
        json!({ "status": "FAILED", "fail_reason": reason, "publicaly_available_post_id": [], "uploaded_bytes": 0 })
    } else {
        p.polls += 1;
        if p.polls <= processing {
            json!({ "status": "PROCESSING_UPLOAD", "publicaly_available_post_id": [], "uploaded_bytes": 10000 })
        } else if p.post_mode == "MEDIA_UPLOAD" {
            json!({ "status": "SEND_TO_USER_INBOX", "publicaly_available_post_id": [], "uploaded_bytes": 10000 })
        } else if p.polls <= processing + empty {
            json!({ "status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [], "uploaded_bytes": 10000 })
        } else {
            // TikTok sends the ids as raw 19-digit JSON numbers (> 2^53; PLATFORMS.md §9.7).
            let id = super::query::raw_id(&p.post_id);
            json!({ "status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [id], "uploaded_bytes": 10000 })
        }
    };
    tt_ok(&mut st, data)
}
