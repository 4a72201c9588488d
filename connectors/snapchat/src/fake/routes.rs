//! The fake's HTTP routes, one handler per Snapchat endpoint.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Multipart, Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use pressroom_connector::testkit::with_faults;

use super::{CLIENT_ID, CLIENT_SECRET, FakeMedia, FakeStory, Shared, State, Token};

type S = AxState<Arc<Shared>>;

pub fn router(shared: Arc<Shared>) -> Router {
    let faults = shared.faults.clone();
    // Chaos never touches the token endpoint (the kit's contract); the journal and scripted
    // faults see every call, chaos included.
    let profile = Router::new()
        .route("/v1/public_profiles/my_profile", get(my_profile))
        .route("/v1/public_profiles/{profile_id}/media", post(create_media))
        .route(
            "/v1/public_profiles/{profile_id}/media/{media_id}/multipart-upload-v2",
            post(upload),
        )
        .route(
            "/v1/public_profiles/{profile_id}/stories",
            post(post_story).get(list_stories),
        )
        .route(
            "/v1/public_profiles/{profile_id}/saved_stories",
            post(post_saved).get(list_saved),
        )
        .route(
            "/v1/public_profiles/{profile_id}/stories/{story_id}/stats",
            get(super::stats::story),
        )
        .route(
            "/v1/public_profiles/{profile_id}/saved_stories/{story_id}/stats",
            get(super::stats::saved_story),
        )
        .route(
            "/v1/public_profiles/{profile_id}/spotlights/{story_id}/stats",
            get(super::stats::spotlight),
        )
        .route_layer(from_fn_with_state(shared.clone(), super::chaos::middleware));
    let api = Router::new()
        .route("/login/oauth2/access_token", post(token))
        .merge(profile)
        .with_state(shared);
    with_faults(api, faults)
}

pub(super) fn snap_error(
    st: &mut State,
    status: u16,
    code: &str,
    debug: &str,
    display: &str,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "request_status": "ERROR", "request_id": format!("req-{}", st.next_id()),
        "debug_message": debug, "display_message": display, "error_code": code,
    });
    (status, Json(body)).into_response()
}

pub(super) fn ok(st: &mut State, mut body: Value) -> Response {
    body["request_status"] = "SUCCESS".into();
    body["request_id"] = format!("req-{}", st.next_id()).into();
    Json(body).into_response()
}

/// Token (401 when unknown, expired by the fake clock or revoked), then the allowlist (403),
/// then the profile in the path must be the token's.
pub(super) fn authorize(
    st: &mut State,
    headers: &HeaderMap,
    profile: Option<&str>,
) -> Result<Token, Box<Response>> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let now = st.now();
    let t = match st.tokens.get(token).cloned() {
        Some(t) if !t.revoked && t.expires_at > now => t,
        _ => {
            return Err(Box::new(snap_error(
                st,
                401,
                "E1001",
                "Access token is invalid or expired",
                "Unauthorized",
            )));
        }
    };
    if !st.admit_call(token) {
        return Err(Box::new(snap_error(
            st,
            429,
            "E4290",
            "Too many requests for this access token",
            "Too many requests",
        )));
    }
    if !st.opts.allowlisted {
        return Err(Box::new(snap_error(
            st,
            403,
            "E3003",
            "This app is not allowlisted for the Public Profile API",
            "Forbidden",
        )));
    }
    if profile.is_some_and(|p| p != t.profile_id) {
        return Err(Box::new(snap_error(
            st,
            403,
            "E3004",
            "The token has no access to this public profile",
            "Forbidden",
        )));
    }
    Ok(t)
}

async fn token(AxState(sh): S, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut st = sh.state();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client", "error_description": "Invalid client credentials"}))).into_response();
    }
    let invalid = || {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "Invalid grant"})),
        )
            .into_response()
    };
    let (profile, old_refresh) = match field("grant_type").as_str() {
        "authorization_code" => match st.codes.remove(&field("code")) {
            Some(p) => (p, None),
            None => return invalid(),
        },
        "refresh_token" => match st.refresh.get(&field("refresh_token")) {
            Some((p, false)) => (p.clone(), Some(field("refresh_token"))),
            _ => return invalid(),
        },
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "unsupported_grant_type"})),
            )
                .into_response();
        }
    };
    let keep = if st.opts.rotate_refresh {
        None
    } else {
        old_refresh.clone()
    };
    let (access, refresh) = st.issue(&profile, keep);
    let mut body = json!({
        "access_token": access, "token_type": "Bearer",
        "expires_in": st.opts.access_ttl.num_seconds(), "scope": "snapchat-profile-api",
    });
    // Snap omits refresh_token on refresh unless it rotated; first grants always carry one.
    if old_refresh.is_none() || st.opts.rotate_refresh {
        body["refresh_token"] = refresh.into();
    }
    Json(body).into_response()
}

async fn my_profile(AxState(sh): S, headers: HeaderMap) -> Response {
    let mut st = sh.state();
    let t = match authorize(&mut st, &headers, None) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    ok(
        &mut st,
        json!({ "public_profile": {
            "id": t.profile_id, "organization_id": "org-fake", "display_name": "Pressroom Test",
            "snap_user_name": format!("user_{}", t.profile_id), "profile_type": "PUBLIC", "profile_tier": "CREATOR",
        }}),
    )
}

async fn create_media(
    AxState(sh): S,
    Path(profile): Path<String>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let mut st = sh.state();
    if let Err(r) = authorize(&mut st, &headers, Some(&profile)) {
        return *r;
    }
    let Some(Json(body)) = body else {
        return snap_error(&mut st, 400, "E2001", "Body must be JSON", "Bad Request");
    };
    if body.get("type").and_then(Value::as_str) != Some("IMAGE")
        && body.get("type").and_then(Value::as_str) != Some("VIDEO")
    {
        return snap_error(
            &mut st,
            400,
            "E2002",
            "type must be IMAGE or VIDEO",
            "Bad Request",
        );
    }
    let decode = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .and_then(|s| STANDARD.decode(s).ok())
    };
    let (Some(key), Some(iv)) = (decode("key"), decode("iv")) else {
        return snap_error(
            &mut st,
            400,
            "E2003",
            "key and iv must be base64",
            "Bad Request",
        );
    };
    if key.len() != 32 || iv.len() != 16 {
        return snap_error(
            &mut st,
            400,
            "E2004",
            "key must be 32 bytes and iv 16 bytes",
            "Bad Request",
        );
    }
    let id = format!("a7bee653-{:012}", st.next_id());
    let now = st.now();
    st.media.insert(
        id.clone(),
        FakeMedia {
            id: id.clone(),
            profile_id: profile.clone(),
            key,
            iv,
            parts: Vec::new(),
            status: "PENDING_UPLOAD".into(),
            created_at: now,
            plain_bytes: None,
        },
    );
    let base = format!("/v1/public_profiles/{profile}/media/{id}/multipart-upload-v2");
    ok(
        &mut st,
        json!({
            "media_id": id,
            "add_path": format!("{base}?action=ADD"),
            "finalize_path": format!("{base}?action=FINALIZE"),
        }),
    )
}

async fn upload(
    AxState(sh): S,
    Path((profile, media_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let mut fields: HashMap<String, Vec<u8>> = HashMap::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or("").to_owned();
        match field.bytes().await {
            Ok(b) => {
                fields.insert(name, b.to_vec());
            }
            Err(_) => break,
        }
    }
    let mut st = sh.state();
    if let Err(r) = authorize(&mut st, &headers, Some(&profile)) {
        return *r;
    }
    let action = fields
        .get("action")
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .or_else(|| q.get("action").cloned())
        .unwrap_or_default();
    let now = st.now();
    let reject = if action == "FINALIZE" {
        st.reject_next_media.take()
    } else {
        None
    };
    let Some(m) = st.media.get_mut(&media_id) else {
        return snap_error(&mut st, 404, "E2010", "Unknown media id", "Not Found");
    };
    if now - m.created_at > chrono::Duration::hours(24) {
        return snap_error(&mut st, 404, "E2011", "Media object expired", "Not Found");
    }
    match action.as_str() {
        "ADD" => {
            let Some(file) = fields.remove("file") else {
                return snap_error(
                    &mut st,
                    400,
                    "E2012",
                    "file part is required",
                    "Bad Request",
                );
            };
            if file.len() > 32 * 1024 * 1024 {
                return snap_error(
                    &mut st,
                    413,
                    "E2013",
                    "Parts are limited to 32 MB",
                    "Payload Too Large",
                );
            }
            m.parts.push(file);
            ok(&mut st, json!({}))
        }
        "FINALIZE" => {
            let cipher: Vec<u8> = m.parts.concat();
            let plain = crate::decrypt(&m.key, &m.iv, &cipher);
            let valid = plain.as_ref().is_some_and(|p| {
                (p.starts_with(&[0xFF, 0xD8, 0xFF]) || p.starts_with(b"\x89PNG"))
                    && p.len() <= 20 * 1024 * 1024
            });
            m.plain_bytes = plain.as_ref().map(Vec::len);
            if let Some(message) = reject {
                m.status = "FAILED".into();
                return snap_error(&mut st, 400, "E2020", &message, &message);
            }
            if !valid {
                m.status = "FAILED".into();
                return snap_error(
                    &mut st,
                    400,
                    "E2021",
                    "Media could not be decrypted into a JPEG or PNG of at most 20 MB",
                    "Invalid media",
                );
            }
            m.status = "READY".into();
            let id = m.id.clone();
            ok(
                &mut st,
                json!({ "result": { "id": id, "type": "IMAGE", "media_status": "READY" } }),
            )
        }
        _ => snap_error(
            &mut st,
            400,
            "E2014",
            "action must be ADD or FINALIZE",
            "Bad Request",
        ),
    }
}

fn ready_media(st: &mut State, profile: &str, media_id: &str) -> Result<(), Box<Response>> {
    let now = st.now();
    match st.media.get(media_id) {
        Some(m)
            if m.profile_id == profile
                && m.status == "READY"
                && now - m.created_at <= chrono::Duration::hours(24) =>
        {
            Ok(())
        }
        Some(_) => Err(Box::new(snap_error(
            st,
            400,
            "E2030",
            "Media is not in a valid state for posting",
            "Media not ready",
        ))),
        None => Err(Box::new(snap_error(
            st,
            404,
            "E2010",
            "Unknown media id",
            "Not Found",
        ))),
    }
}

async fn post_story(
    AxState(sh): S,
    Path(profile): Path<String>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let mut st = sh.state();
    if let Err(r) = authorize(&mut st, &headers, Some(&profile)) {
        return *r;
    }
    let media_id = body
        .as_ref()
        .and_then(|b| b.get("media_id"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Err(r) = ready_media(&mut st, &profile, &media_id) {
        return *r;
    }
    let id = format!("story-{}", st.next_id());
    let now = st.now();
    st.stories.push(FakeStory {
        id: id.clone(),
        profile_id: profile,
        media_id: media_id.clone(),
        kind: "story",
        title: None,
        created_at: now,
        stats: HashMap::new(),
    });
    st.commits += 1;
    ok(
        &mut st,
        json!({ "story": { "id": id, "media_id": media_id } }),
    )
}

async fn post_saved(
    AxState(sh): S,
    Path(profile): Path<String>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let mut st = sh.state();
    if let Err(r) = authorize(&mut st, &headers, Some(&profile)) {
        return *r;
    }
    let item = body
        .as_ref()
        .and_then(|b| b.pointer("/saved_stories/0"))
        .cloned()
        .unwrap_or_default();
    let title = item
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if title.chars().count() > 45 {
        return snap_error(
            &mut st,
            400,
            "E2040",
            "title must be at most 45 characters",
            "Title too long",
        );
    }
    let media_id = item
        .pointer("/snap_sources/0/media_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Err(r) = ready_media(&mut st, &profile, &media_id) {
        return *r;
    }
    let id = format!("saved-{}", st.next_id());
    let now = st.now();
    st.stories.push(FakeStory {
        id: id.clone(),
        profile_id: profile,
        media_id: media_id.clone(),
        kind: "saved_story",
        title: Some(title.clone()),
        created_at: now,
        stats: HashMap::new(),
    });
    st.commits += 1;
    ok(
        &mut st,
        json!({ "saved_stories": [{ "sub_request_status": "SUCCESS", "saved_story": {
        "id": id, "title": title, "snap_sources": [{ "media_id": media_id }] } }] }),
    )
}

fn list(sh: &Shared, profile: &str, headers: &HeaderMap, kind: &str) -> Response {
    let mut st = sh.state();
    if let Err(r) = authorize(&mut st, headers, Some(profile)) {
        return *r;
    }
    let now = st.now();
    let lag = st.opts.listing_lag;
    let items: Vec<Value> = st
        .stories
        .iter()
        .filter(|s| s.profile_id == profile && s.kind == kind)
        // Stories disappear after 24 h; saved stories stay.
        .filter(|s| kind != "story" || now - s.created_at < chrono::Duration::hours(24))
        // A story just posted shows in the list only after the listing lag.
        .filter(|s| s.created_at + lag <= now)
        .map(|s| match kind {
            "story" => json!({ "story": { "id": s.id, "media_id": s.media_id, "created_at": s.created_at.to_rfc3339() } }),
            _ => json!({ "saved_story": { "id": s.id, "title": s.title, "snap_sources": [{ "media_id": s.media_id }] } }),
        })
        .collect();
    let key = if kind == "story" {
        "stories"
    } else {
        "saved_stories"
    };
    ok(&mut st, json!({ key: items }))
}

async fn list_stories(AxState(sh): S, Path(profile): Path<String>, headers: HeaderMap) -> Response {
    list(&sh, &profile, &headers, "story")
}

async fn list_saved(AxState(sh): S, Path(profile): Path<String>, headers: HeaderMap) -> Response {
    list(&sh, &profile, &headers, "saved_story")
}
