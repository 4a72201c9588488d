//! Request dispatch for the fake Graph API: `/{vNN.0}/...` paths as Meta serves them.
//! Helpers return `Result<_, Response>` so a Graph error can be an early return.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Request, State as AxState};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use connector_meta_graph::fake::{
    Head, Input, Recorded, add_body_params, after_call, before_call, read_body,
};
use connector_meta_graph::is_version;
use pressroom_connector::testkit::{ChaosRoll, Fault, Step};
use serde_json::{Value, json};

use super::state::{
    FakeComment, FakePost, FakeStory, State, Token, TokenKind, add_usage, graph_error,
    photo_rejected,
};

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub base_url: String,
    pub hang: Duration,
    pub http: reqwest::Client,
}

type Ctx = AxState<Arc<Shared>>;

pub(super) fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock is a fake bug; keep serving with the data as it is.
    shared.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Graph's inputs plus the image bytes of a multipart `source`. Only this fake takes uploads,
/// hence multipart and the 16 MiB body limit here around the shared parsing.
async fn read_input(req: Request) -> Result<(Input, Option<Vec<u8>>), Response> {
    let Head {
        mut params,
        authorization,
        content_type,
    } = Head::of(&req);
    let mut source = None;
    if content_type.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(IntoResponse::into_response)?;
        while let Ok(Some(field)) = mp.next_field().await {
            let name = field.name().unwrap_or("").to_owned();
            let data = field.bytes().await.map_err(IntoResponse::into_response)?;
            if name == "source" {
                source = Some(data.to_vec());
            } else {
                params.insert(name, String::from_utf8_lossy(&data).into_owned());
            }
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("application/json")
    {
        let body = read_body(req, 16 << 20).await?;
        add_body_params(&mut params, &content_type, &body);
    }
    Ok((Input::new(params, authorization.as_deref()), source))
}

/// Validates a token: unknown → 190, expired → 190/463, revoked → 190/460.
pub(super) fn check_token(state: &State, token: Option<&str>) -> Result<Token, Response> {
    let Some(t) = token.and_then(|t| state.tokens.get(t)) else {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        ));
    };
    if t.revoked {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            190,
            Some(460),
            "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
        ));
    }
    if t.expired {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            190,
            Some(463),
            "Error validating access token: Session has expired on Tuesday, 24-Nov-26 09:00:00 PST.",
        ));
    }
    Ok(t.clone())
}

pub(crate) async fn journal(AxState(shared): Ctx) -> Response {
    axum::Json(lock(&shared).journal.clone()).into_response()
}

pub(crate) async fn dispatch(AxState(shared): Ctx, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (input, source) = match read_input(req).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    lock(&shared)
        .journal
        .push(Recorded::new(&method, &path, &input));
    let Some((ver, rest)) = segs.split_first().filter(|(v, _)| is_version(v)) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            2500,
            None,
            &format!("Unknown path components: {path}"),
        );
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    // Chaos, the way Graph fails (a scripted ambiguous create first).
    let creates =
        method == Method::POST && matches!(rest.get(1), Some(&"photos") | Some(&"photo_stories"));
    let after = if rest == ["oauth", "access_token"] {
        None
    } else {
        let mut st = lock(&shared);
        if creates && st.server_error_after_posting > 0 {
            st.server_error_after_posting -= 1;
            Some(ChaosRoll::ServerError)
        } else {
            let rate = st.ambiguous_create_rate;
            match before_call(st.chaos.as_mut(), creates, rate) {
                Err(server_error) => return chaos_response(server_error),
                Ok(roll) => roll,
            }
        }
    };
    let page_hint = rest.first().map(|s| s.to_string());
    let mut resp = match (&method, rest.as_slice()) {
        (&Method::GET | &Method::POST, ["oauth", "access_token"]) => oauth(&shared, &input),
        (&Method::GET, ["me", "accounts"]) => me_accounts(&shared, &input, ver),
        (&Method::GET, ["me"]) => me(&shared, &input),
        (&Method::GET, ["me", "permissions"]) => permissions(&shared, &input),
        (&Method::GET, [node]) => node_get(&shared, &input, node),
        (&Method::POST, [page, "photos"]) => photos(&shared, input, source, page).await,
        (&Method::GET, [page, "published_posts"]) => published_posts(&shared, &input, page, ver),
        (&Method::POST, [page, "photo_stories"]) => photo_stories(&shared, &input, page).await,
        (&Method::POST, [page, "feed"]) => feed(&shared, &input, page).await,
        (&Method::GET, [page, "stories"]) => list_stories(&shared, &input, page),
        (&Method::POST, [post, "comments"]) => create_comment(&shared, &input, post).await,
        (&Method::GET, [post, "comments"]) => list_comments(&shared, &input, post),
        (&Method::GET, [node, "insights"]) => super::insights::serve(&shared, &input, node),
        _ => graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            &format!(
                "Unsupported request - method type: {}",
                method.as_str().to_lowercase()
            ),
        ),
    };
    let (pct, regain) = {
        let st = lock(&shared);
        (st.usage_percent, st.regain_minutes)
    };
    let is_page = page_hint
        .as_deref()
        .is_some_and(|p| lock(&shared).pages.contains_key(p));
    if !resp.headers().contains_key("x-business-use-case-usage") {
        add_usage(
            &mut resp,
            pct,
            if is_page { page_hint.as_deref() } else { None },
            regain,
        );
    }
    after_call(after, resp, shared.hang, || chaos_response(true)).await
}

fn oauth(shared: &Shared, input: &Input) -> Response {
    let mut st = lock(shared);
    let p = &input.params;
    if p.get("client_id") != Some(&st.app_id) || p.get("client_secret") != Some(&st.app_secret) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            1,
            None,
            "Error validating client secret.",
        );
    }
    if p.get("grant_type").map(String::as_str) == Some("fb_exchange_token") {
        let t = match check_token(&st, p.get("fb_exchange_token").map(String::as_str)) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let TokenKind::User { user } = t.kind else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "Invalid fb_exchange_token",
            );
        };
        let token = st.mint(TokenKind::User { user }, "EAALONG");
        return axum::Json(
            json!({"access_token": token, "token_type": "bearer", "expires_in": 5183944}),
        )
        .into_response();
    }
    let Some(user) = p.get("code").and_then(|c| st.codes.remove(c)) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(36007),
            "Invalid verification code format.",
        );
    };
    if p.get("redirect_uri").is_none_or(|r| r.is_empty()) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(36008),
            "Error validating verification code. Please make sure your redirect_uri is identical.",
        );
    }
    let token = st.mint(TokenKind::User { user }, "EAASHORT");
    axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 5400}))
        .into_response()
}

fn user_of(st: &State, input: &Input) -> Result<String, Response> {
    match check_token(st, input.token.as_deref())?.kind {
        TokenKind::User { user } => Ok(user),
        TokenKind::Page { .. } => Err(graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "(#100) Tried accessing nonexisting field (accounts) on node type (Page)",
        )),
    }
}

fn me(shared: &Shared, input: &Input) -> Response {
    let st = lock(shared);
    match user_of(&st, input) {
        Ok(user) => axum::Json(json!({"id": user, "name": format!("User {user}")})).into_response(),
        Err(r) => r,
    }
}

fn permissions(shared: &Shared, input: &Input) -> Response {
    let st = lock(shared);
    let user = match user_of(&st, input) {
        Ok(user) => user,
        Err(r) => return r,
    };
    let insights = if st.insights_revoked.contains(&user) {
        "declined"
    } else {
        "granted"
    };
    let data: Vec<_> = [
        "pages_show_list",
        "pages_manage_posts",
        "pages_read_engagement",
        "business_management",
    ]
    .iter()
    .map(|p| json!({"permission": p, "status": "granted"}))
    .chain([json!({"permission": "read_insights", "status": insights})])
    .collect();
    axum::Json(json!({ "data": data })).into_response()
}

fn me_accounts(shared: &Shared, input: &Input, ver: &str) -> Response {
    let mut st = lock(shared);
    let user = match user_of(&st, input) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let owned: Vec<(String, String)> = st
        .pages
        .iter()
        .filter(|(_, p)| p.owner == user)
        .map(|(id, p)| (id.clone(), p.name.clone()))
        .collect();
    let after: usize = input
        .params
        .get("after")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let size = st.page_size.max(1);
    let mut data = Vec::new();
    for (id, name) in owned.iter().skip(after).take(size) {
        let token = st.mint(TokenKind::Page { page: id.clone() }, "EAAPAGE");
        data.push(json!({"id": id, "name": name, "access_token": token, "tasks": ["CREATE_CONTENT", "MANAGE"], "category": "Brand"}));
    }
    let mut body = json!({ "data": data, "paging": {"cursors": {"before": after.to_string(), "after": (after + size).to_string()}} });
    if after + size < owned.len() {
        let token = input.token.clone().unwrap_or_default();
        body["paging"]["next"] = format!(
            "{}/{ver}/me/accounts?fields=id,name,access_token,tasks&access_token={token}&limit={size}&after={}",
            shared.base_url,
            after + size
        )
        .into();
    }
    axum::Json(body).into_response()
}

fn take_step_fault(shared: &Shared, step: Step) -> Option<Fault> {
    lock(shared).take_fault(step)
}

fn fault_response(fault: &Fault, page: &str) -> Option<Response> {
    match fault {
        Fault::ServerError { .. } => Some(graph_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            2,
            None,
            "An unexpected error has occurred. Please retry your request later.",
        )),
        Fault::RateLimited { retry_after, .. } => {
            let mut r = graph_error(
                StatusCode::BAD_REQUEST,
                32,
                None,
                "(#32) Page request limit reached",
            );
            add_usage(&mut r, 100, Some(page), retry_after.as_secs().div_ceil(60));
            Some(r)
        }
        Fault::RejectContent => Some(photo_rejected()),
        _ => None,
    }
}

/// `GET /{id}`: a Page (fields id,name[,access_token] — the token only for its manager's user
/// token) or a post.
fn node_get(shared: &Shared, input: &Input, node: &str) -> Response {
    let fields = input
        .params
        .get("fields")
        .cloned()
        .unwrap_or_else(|| "id,name".into());
    let st = lock(shared);
    let tok = match check_token(&st, input.token.as_deref()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Some(page) = st.pages.get(node) {
        let page = page.clone();
        drop(st);
        if let TokenKind::Page { page: p } = &tok.kind {
            if let Some(f) = take_step_fault(shared, Step::Prepare)
                && let Some(r) = fault_response(&f, node)
            {
                return r;
            }
            if p != node {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    200,
                    None,
                    "(#200) The page token does not belong to this Page",
                );
            }
            return axum::Json(json!({"id": node, "name": page.name})).into_response();
        }
        let TokenKind::User { user } = &tok.kind else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let mut body = json!({"id": node, "name": page.name});
        if fields.split(',').any(|f| f == "access_token") && page.owner == *user {
            let mut st = lock(shared);
            body["access_token"] = st
                .mint(
                    TokenKind::Page {
                        page: node.to_owned(),
                    },
                    "EAAPAGE",
                )
                .into();
        }
        return axum::Json(body).into_response();
    }
    for page in st.pages.values() {
        if let Some(post) = page
            .posts
            .iter()
            .find(|p| p.post_id == node || p.photo_id == node)
        {
            let id = if post.photo_id == node {
                &post.photo_id
            } else {
                &post.post_id
            };
            let mut body = json!({"id": id, "message": post.message,
                "created_time": post.created_time.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
                "permalink_url": format!("https://www.facebook.com/{}", post.post_id),
                "alt_text_custom": post.alt_text_custom});
            // A published photo's feed post (where its insights live, §9.1).
            if post.photo_id == node && post.published {
                body["page_story_id"] = post.post_id.clone().into();
            }
            return axum::Json(body).into_response();
        }
    }
    graph_error(
        StatusCode::BAD_REQUEST,
        100,
        Some(33),
        &format!(
            "Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
        ),
    )
}

/// Decodes only the header to check format and size, like Meta's ingest.
fn image_ok(bytes: &[u8]) -> bool {
    if bytes.len() > 4 * 1024 * 1024 {
        return false;
    }
    let Ok(reader) = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format()
    else {
        return false;
    };
    matches!(
        reader.format(),
        Some(
            image::ImageFormat::Jpeg
                | image::ImageFormat::Png
                | image::ImageFormat::Gif
                | image::ImageFormat::Bmp
                | image::ImageFormat::Tiff
        )
    ) && reader.into_dimensions().is_ok()
}

/// `POST /{page-id}/photos`: `source` (multipart) or `url` (fetched for real), `caption`
/// (`message` accepted as the legacy alias), `published` (default true).
async fn photos(shared: &Shared, input: Input, source: Option<Vec<u8>>, page: &str) -> Response {
    {
        let st = lock(shared);
        match check_token(&st, input.token.as_deref()) {
            Ok(Token {
                kind: TokenKind::Page { page: p },
                ..
            }) if p == page => {}
            Ok(_) => {
                return graph_error(
                    StatusCode::FORBIDDEN,
                    200,
                    None,
                    "(#200) Requires pages_manage_posts permission and a Page access token of this Page",
                );
            }
            Err(r) => return r,
        }
        if !st.pages.contains_key(page) {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                Some(33),
                "Unsupported post request.",
            );
        }
    }
    // An unpublished photo (a story's, uploaded in prepare) is not the publishing call.
    let published = input.params.get("published").is_none_or(|p| p != "false");
    let step = if published {
        Step::Commit
    } else {
        Step::Prepare
    };
    let fault = take_step_fault(shared, step);
    if let Some(r) = fault.as_ref().and_then(|f| fault_response(f, page)) {
        return r;
    }
    let bytes = match (source, input.params.get("url")) {
        (Some(b), _) => b,
        (None, Some(url)) => match shared.http.get(url).send().await {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(b) => b.to_vec(),
                Err(_) => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        100,
                        Some(2069019),
                        "(#100) url should represent a valid URL",
                    );
                }
            },
            _ => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    Some(2069019),
                    "(#100) url should represent a valid URL",
                );
            }
        },
        (None, None) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                324,
                None,
                "(#324) Requires upload file",
            );
        }
    };
    if !image_ok(&bytes) {
        return photo_rejected();
    }
    let alt_text_custom = input.params.get("alt_text_custom").cloned();
    let message = input
        .params
        .get("caption")
        .or_else(|| input.params.get("message"))
        .cloned()
        .unwrap_or_default();
    let body = {
        let mut st = lock(shared);
        let photo_id = st.id();
        let post_id = format!("{page}_{}", st.id());
        let post = FakePost {
            photo_id: photo_id.clone(),
            post_id: post_id.clone(),
            message,
            created_time: Utc::now(),
            published,
            image_bytes: bytes.len(),
            image_size: image::ImageReader::new(std::io::Cursor::new(&bytes))
                .with_guessed_format()
                .ok()
                .and_then(|r| r.into_dimensions().ok())
                .unwrap_or((0, 0)),
            alt_text_custom,
            used_for_story: false,
            attached_to: None,
            attached: Vec::new(),
        };
        if published {
            st.commits += 1;
        }
        if let Some(p) = st.pages.get_mut(page) {
            p.posts.push(post);
        }
        if published {
            json!({"id": photo_id, "post_id": post_id})
        } else {
            json!({"id": photo_id})
        }
    };
    if matches!(fault, Some(Fault::AcceptThenHang)) {
        tokio::time::sleep(shared.hang).await;
    }
    axum::Json(body).into_response()
}

/// The request's token must be `page`'s Page token (what publishing and comments need).
pub(super) fn page_token(
    st: &State,
    input: &Input,
    page: &str,
    permission: &str,
) -> Result<(), Response> {
    match check_token(st, input.token.as_deref()) {
        Ok(Token {
            kind: TokenKind::Page { page: p },
            ..
        }) if p == page => Ok(()),
        Ok(_) => Err(graph_error(
            StatusCode::FORBIDDEN,
            200,
            None,
            &format!(
                "(#200) Requires {permission} permission and a Page access token of this Page"
            ),
        )),
        Err(r) => Err(r),
    }
}

/// `POST /{page-id}/photo_stories?photo_id=`: a story of an unpublished photo of this Page
/// that no story used yet (PLATFORMS.md §8.2b, §8.6).
async fn photo_stories(shared: &Shared, input: &Input, page: &str) -> Response {
    let fault = {
        let st = lock(shared);
        if let Err(r) = page_token(&st, input, page, "pages_manage_posts") {
            return r;
        }
        drop(st);
        take_step_fault(shared, Step::Commit)
    };
    if let Some(r) = fault.as_ref().and_then(|f| fault_response(f, page)) {
        return r;
    }
    let body = {
        let mut st = lock(shared);
        let Some(photo_id) = input.params.get("photo_id").cloned() else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) The parameter photo_id is required",
            );
        };
        let post_id = format!("{page}_{}", st.id());
        let Some(p) = st.pages.get_mut(page) else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                Some(33),
                "Unsupported post request.",
            );
        };
        let Some(photo) = p.posts.iter_mut().find(|x| x.photo_id == photo_id) else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                Some(33),
                &format!("(#100) Invalid photo_id {photo_id}: no such photo on this Page"),
            );
        };
        if photo.published || photo.used_for_story || photo.attached_to.is_some() {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) The photo has already been used in a published post; upload it again",
            );
        }
        photo.used_for_story = true;
        p.stories.push(FakeStory {
            post_id: post_id.clone(),
            photo_id,
            creation_time: Utc::now(),
        });
        st.commits += 1;
        json!({"success": true, "post_id": post_id})
    };
    if matches!(fault, Some(Fault::AcceptThenHang)) {
        tokio::time::sleep(shared.hang).await;
    }
    axum::Json(body).into_response()
}

/// The photo ids of `attached_media`, sent as a JSON array or as indexed form fields
/// (`attached_media[0]={"media_fbid":"…"}`): Graph takes both (PLATFORMS.md §8.2a).
fn attached_media(input: &Input) -> Result<Vec<String>, String> {
    let fbid = |v: &Value| {
        v.get("media_fbid")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("attached_media entry without media_fbid: {v}"))
    };
    if let Some(raw) = input.params.get("attached_media") {
        let list: Vec<Value> = serde_json::from_str(raw)
            .map_err(|e| format!("attached_media is not a JSON array: {e}"))?;
        return list.iter().map(fbid).collect();
    }
    let mut indexed: Vec<(usize, String)> = Vec::new();
    for (key, value) in &input.params {
        if let Some(index) = key
            .strip_prefix("attached_media[")
            .and_then(|k| k.strip_suffix(']'))
            .and_then(|k| k.parse::<usize>().ok())
        {
            let v: Value =
                serde_json::from_str(value).map_err(|e| format!("{key} is not JSON: {e}"))?;
            indexed.push((index, fbid(&v)?));
        }
    }
    indexed.sort();
    Ok(indexed.into_iter().map(|(_, id)| id).collect())
}

/// `POST /{page-id}/feed` with `message` and `attached_media`: every entry an unpublished
/// photo of this Page, not attached elsewhere nor made a story, at most the cap.
async fn feed(shared: &Shared, input: &Input, page: &str) -> Response {
    let fault = {
        let st = lock(shared);
        if let Err(r) = page_token(&st, input, page, "pages_manage_posts") {
            return r;
        }
        drop(st);
        take_step_fault(shared, Step::Commit)
    };
    if let Some(r) = fault.as_ref().and_then(|f| fault_response(f, page)) {
        return r;
    }
    let bad = |m: &str| graph_error(StatusCode::BAD_REQUEST, 100, None, m);
    let ids = match attached_media(input) {
        Ok(ids) => ids,
        Err(why) => return bad(&format!("(#100) {why}")),
    };
    let body = {
        let mut st = lock(shared);
        if ids.len() > st.max_attached_media {
            return bad(&format!(
                "(#100) Too many attached_media: {} (at most {})",
                ids.len(),
                st.max_attached_media
            ));
        }
        let message = input.params.get("message").cloned().unwrap_or_default();
        if ids.is_empty() && message.is_empty() {
            return bad("(#100) The post is empty");
        }
        let post_id = format!("{page}_{}", st.id());
        let Some(p) = st.pages.get_mut(page) else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                Some(33),
                "Unsupported post request.",
            );
        };
        for id in &ids {
            let usable = p.posts.iter().any(|x| {
                x.photo_id == *id && !x.published && !x.used_for_story && x.attached_to.is_none()
            });
            if !usable {
                return bad(&format!(
                    "(#100) attached_media {id} is not an unpublished, unattached photo of this Page"
                ));
            }
        }
        let mut size = (0, 0);
        let mut bytes = 0;
        for x in p.posts.iter_mut().filter(|x| ids.contains(&x.photo_id)) {
            x.attached_to = Some(post_id.clone());
            if size == (0, 0) {
                size = x.image_size;
            }
            bytes += x.image_bytes;
        }
        p.posts.push(FakePost {
            photo_id: String::new(),
            post_id: post_id.clone(),
            message,
            created_time: Utc::now(),
            published: true,
            image_bytes: bytes,
            image_size: size,
            alt_text_custom: None,
            used_for_story: false,
            attached_to: None,
            attached: ids,
        });
        st.commits += 1;
        json!({ "id": post_id })
    };
    if matches!(fault, Some(Fault::AcceptThenHang)) {
        tokio::time::sleep(shared.hang).await;
    }
    axum::Json(body).into_response()
}

/// `GET /{page-id}/stories`: the Page's stories (the fake keeps the archive on).
fn list_stories(shared: &Shared, input: &Input, page: &str) -> Response {
    let st = lock(shared);
    if let Err(r) = check_token(&st, input.token.as_deref()) {
        return r;
    }
    let Some(p) = st.pages.get(page) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(33),
            "Unsupported get request.",
        );
    };
    let data: Vec<_> = p
        .stories
        .iter()
        .rev()
        .map(|s| {
            json!({"post_id": s.post_id, "status": "PUBLISHED", "media_type": "photo",
                "media_id": s.photo_id, "creation_time": s.creation_time.timestamp().to_string(),
                "url": format!("https://www.facebook.com/stories/{}", s.post_id)})
        })
        .collect();
    axum::Json(json!({ "data": data })).into_response()
}

/// The Page a published post or story belongs to, or Graph's answer for an unknown id.
fn post_page(st: &State, post: &str) -> Result<String, Response> {
    st.pages
        .iter()
        .find(|(_, p)| {
            p.posts.iter().any(|x| x.published && x.post_id == post)
                || p.stories.iter().any(|x| x.post_id == post)
        })
        .map(|(id, _)| id.clone())
        .ok_or_else(|| {
            graph_error(
                StatusCode::BAD_REQUEST,
                100,
                Some(33),
                &format!(
                    "Unsupported post request. Object with ID '{post}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
                ),
            )
        })
}

/// `POST /{post-id}/comments?message=` with the Page token (PLATFORMS.md §8.2c).
async fn create_comment(shared: &Shared, input: &Input, post: &str) -> Response {
    let fault = {
        let st = lock(shared);
        let page = match post_page(&st, post) {
            Ok(p) => p,
            Err(r) => return r,
        };
        if let Err(r) = page_token(&st, input, &page, "pages_manage_engagement") {
            return r;
        }
        if !st.comments_permitted {
            return graph_error(
                StatusCode::FORBIDDEN,
                200,
                None,
                "(#200) Requires pages_manage_engagement permission to manage the object",
            );
        }
        drop(st);
        take_step_fault(shared, Step::Comment)
    };
    if let Some(r) = fault.as_ref().and_then(|f| fault_response(f, post)) {
        return r;
    }
    let id = {
        let mut st = lock(shared);
        let Some(message) = input
            .params
            .get("message")
            .filter(|m| !m.trim().is_empty())
            .cloned()
        else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) Missing message or attachment",
            );
        };
        let page = post_page(&st, post).unwrap_or_default();
        let number = post.rsplit('_').next().unwrap_or(post).to_owned();
        let id = format!("{number}_{}", st.id());
        st.comments.push(FakeComment {
            id: id.clone(),
            post_id: post.to_owned(),
            from: page,
            message,
            created_time: Utc::now(),
        });
        id
    };
    if matches!(fault, Some(Fault::AcceptCommentThenHang)) {
        tokio::time::sleep(shared.hang).await;
    }
    axum::Json(json!({ "id": id })).into_response()
}

/// `GET /{post-id}/comments`, oldest first.
fn list_comments(shared: &Shared, input: &Input, post: &str) -> Response {
    let st = lock(shared);
    if let Err(r) = check_token(&st, input.token.as_deref()) {
        return r;
    }
    if let Err(r) = post_page(&st, post) {
        return r;
    }
    let data: Vec<_> = st
        .comments
        .iter()
        .filter(|c| c.post_id == post)
        .map(|c| {
            json!({"id": c.id, "message": c.message, "from": {"id": c.from},
                "created_time": c.created_time.format("%Y-%m-%dT%H:%M:%S%z").to_string()})
        })
        .collect();
    axum::Json(json!({ "data": data })).into_response()
}

/// `GET /{page-id}/published_posts?since=&limit=&after=`, newest first.
fn published_posts(shared: &Shared, input: &Input, page: &str, ver: &str) -> Response {
    let st = lock(shared);
    if let Err(r) = check_token(&st, input.token.as_deref()) {
        return r;
    }
    let Some(p) = st.pages.get(page) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(33),
            "Unsupported get request.",
        );
    };
    let since: i64 = input
        .params
        .get("since")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut posts: Vec<&FakePost> = p
        .posts
        .iter()
        .filter(|p| {
            p.published
                && p.created_time.timestamp() >= since
                && p.created_time + st.listing_lag <= Utc::now()
        })
        .collect();
    posts.reverse();
    let after: usize = input
        .params
        .get("after")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let limit: usize = input
        .params
        .get("limit")
        .and_then(|a| a.parse().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let data: Vec<_> = posts
        .iter()
        .skip(after)
        .take(limit)
        .map(|p| {
            json!({"id": p.post_id, "message": p.message,
            "created_time": p.created_time.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
            "permalink_url": format!("https://www.facebook.com/{}", p.post_id)})
        })
        .collect();
    let mut body = json!({ "data": data });
    if after + limit < posts.len() {
        body["paging"] = json!({"next": format!("{}/{ver}/{page}/published_posts?since={since}&limit={limit}&after={}", shared.base_url, after + limit)});
    }
    axum::Json(body).into_response()
}

fn chaos_response(server_error: bool) -> Response {
    connector_meta_graph::fake::chaos_response(server_error, |status, code, message| {
        graph_error(status, code, None, message)
    })
}
