//! Request dispatch for the fake: `/{vNN.0}/...` Graph paths (both hosts) and the unversioned
//! Instagram-Login token paths.
//! Helpers return `Result<_, Response>` so a Graph error can be an early return.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State as AxState};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use connector_meta_graph::fake::{
    Head, Input, Recorded, add_body_params, after_call, before_call, read_body,
};
use connector_meta_graph::is_version;
use pressroom_connector::testkit::{Fault, Step};
use serde_json::json;

use super::state::{
    FakeComment, FakeContainer, FakeMedia, State, Token, TokenKind, add_buc, ig_error,
};

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub hang: Duration,
    pub http: reqwest::Client,
}

type Ctx = AxState<Arc<Shared>>;

pub(crate) fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Graph's inputs; this fake takes no uploads, so any body over 1 MiB is refused.
async fn read_input(req: Request) -> Result<Input, Response> {
    let Head {
        mut params,
        authorization,
        content_type,
    } = Head::of(&req);
    let body = read_body(req, 1 << 20).await?;
    add_body_params(&mut params, &content_type, &body);
    Ok(Input::new(params, authorization.as_deref()))
}

pub(super) fn check_token(state: &State, token: Option<&str>) -> Result<Token, Response> {
    let Some(t) = token.and_then(|t| state.tokens.get(t)) else {
        return Err(ig_error(
            StatusCode::BAD_REQUEST,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
            None,
        ));
    };
    if t.revoked {
        return Err(ig_error(
            StatusCode::BAD_REQUEST,
            190,
            Some(460),
            "Error validating access token: The session has been invalidated because the user changed their password.",
            None,
        ));
    }
    if t.expired {
        return Err(ig_error(
            StatusCode::BAD_REQUEST,
            190,
            Some(463),
            "Error validating access token: Session has expired.",
            None,
        ));
    }
    Ok(t.clone())
}

/// The token may act for `ig`: its Page's token, the Page owner's user token, or its IG token.
pub(super) fn authorize_ig(state: &State, input: &Input, ig: &str) -> Result<(), Response> {
    let tok = check_token(state, input.token.as_deref())?;
    let Some(page_id) = state.igs.get(ig) else {
        return Err(ig_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(33),
            &format!("Unsupported request. Object with ID '{ig}' does not exist"),
            None,
        ));
    };
    let ok = match &tok.kind {
        TokenKind::Page { page } => page == page_id,
        TokenKind::User { user } => state.pages.get(page_id).is_some_and(|p| &p.owner == user),
        TokenKind::IgLogin { ig: i } => i == ig,
    };
    if ok {
        Ok(())
    } else {
        Err(ig_error(
            StatusCode::FORBIDDEN,
            10,
            None,
            "(#10) Application does not have permission for this action",
            None,
        ))
    }
}

pub(crate) async fn journal(AxState(shared): Ctx) -> Response {
    axum::Json(lock(&shared).journal.clone()).into_response()
}

pub(crate) async fn dispatch(AxState(shared): Ctx, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let input = match read_input(req).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    lock(&shared)
        .journal
        .push(Recorded::new(&method, &path, &input));
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segs.as_slice()) {
        (&Method::GET, ["refresh_access_token"]) => return refresh_ig_login(&shared, &input),
        (&Method::POST, ["oauth", "access_token"]) => return ig_code_exchange(&shared, &input),
        (&Method::GET, ["access_token"]) => return ig_long_lived(&shared, &input),
        _ => {}
    }
    let Some((_, rest)) = segs.split_first().filter(|(v, _)| is_version(v)) else {
        return ig_error(
            StatusCode::BAD_REQUEST,
            2500,
            None,
            &format!("Unknown path components: {path}"),
            None,
        );
    };
    // Chaos, the way Graph fails.
    let publishes = method == Method::POST && rest.get(1) == Some(&"media_publish");
    let after = {
        let mut st = lock(&shared);
        let rate = st.ambiguous_create_rate;
        match before_call(st.chaos.as_mut(), publishes, rate) {
            Err(server_error) => return chaos_response(server_error),
            Ok(roll) => roll,
        }
    };
    let resp = match (&method, rest) {
        (&Method::POST, [ig, "media"]) => create_container(&shared, &input, ig).await,
        (&Method::GET, [ig, "media"]) => list_media(&shared, &input, ig, "FEED"),
        (&Method::GET, [ig, "stories"]) => list_media(&shared, &input, ig, "STORY"),
        (&Method::POST, [media, "comments"]) => create_comment(&shared, &input, media).await,
        (&Method::GET, [media, "comments"]) => list_comments(&shared, &input, media),
        (&Method::GET, [media, "insights"]) => super::insights::serve(&shared, &input, media),
        (&Method::POST, [ig, "media_publish"]) => media_publish(&shared, &input, ig).await,
        (&Method::GET, [ig, "content_publishing_limit"]) => publishing_limit(&shared, &input, ig),
        (&Method::GET, [node]) => node_get(&shared, &input, node),
        _ => ig_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "Unsupported request",
            None,
        ),
    };
    after_call(after, resp, shared.hang, || chaos_response(true)).await
}

fn fault_response(fault: &Fault, ig: &str) -> Option<Response> {
    match fault {
        Fault::ServerError { .. } => Some(ig_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            2,
            None,
            "An unexpected error has occurred. Please retry your request later.",
            None,
        )),
        Fault::RateLimited { retry_after, .. } => {
            let mut r = ig_error(
                StatusCode::BAD_REQUEST,
                80002,
                None,
                "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.",
                None,
            );
            add_buc(&mut r, ig, 100, retry_after.as_secs().div_ceil(60));
            Some(r)
        }
        Fault::RejectContent => Some(fetch_failed()),
        _ => None,
    }
}

fn fetch_failed() -> Response {
    ig_error(
        StatusCode::BAD_REQUEST,
        9004,
        Some(2207052),
        "Media download has failed. The media URI doesn't meet our requirements.",
        Some(
            "The media could not be fetched from this URI. Check that it is public and a supported format.",
        ),
    )
}

/// Header-only inspection of the fetched bytes: `(is_jpeg, width, height)`.
fn inspect(bytes: &[u8]) -> Option<(bool, u32, u32)> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let jpeg = reader.format() == Some(image::ImageFormat::Jpeg);
    let (w, h) = reader.into_dimensions().ok()?;
    Some((jpeg, w, h))
}

/// `POST /{ig-user-id}/media`: fetches `image_url` for real, validates, creates a container.
async fn create_container(shared: &Shared, input: &Input, ig: &str) -> Response {
    if let Err(r) = authorize_ig(&lock(shared), input, ig) {
        return r;
    }
    if let Some(r) = lock(shared)
        .take_fault(Step::Prepare)
        .and_then(|f| fault_response(&f, ig))
    {
        return r;
    }
    if input.params.get("media_type").map(String::as_str) == Some("CAROUSEL") {
        return create_carousel(shared, input, ig);
    }
    let is_carousel_item = input.params.get("is_carousel_item").map(String::as_str) == Some("true");
    let Some(url) = input.params.get("image_url").cloned() else {
        return ig_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "(#100) The parameter image_url is required",
            None,
        );
    };
    let media_type = match input.params.get("media_type").map(String::as_str) {
        None | Some("IMAGE") => "IMAGE",
        Some("STORIES") => "STORIES",
        Some(other) => {
            return ig_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                &format!("(#100) media_type {other} is not supported by this fake"),
                None,
            );
        }
    };
    let story = media_type == "STORIES";
    let mut caption = input.params.get("caption").cloned().unwrap_or_default();
    if is_carousel_item && !caption.is_empty() {
        if lock(shared).reject_child_caption {
            return ig_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) The parameter caption is not supported on carousel items",
                None,
            );
        }
        caption.clear();
    }
    if story && !caption.is_empty() {
        if lock(shared).reject_story_caption {
            return ig_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) The parameter caption is not supported for media_type STORIES",
                None,
            );
        }
        caption.clear();
    }
    let alt_text = input.params.get("alt_text").cloned();
    if let Some(alt) = &alt_text {
        // Image containers only (PLATFORMS.md §8.1d, §8.6).
        if story {
            return ig_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) The parameter alt_text is not supported for media_type STORIES",
                None,
            );
        }
        if alt.chars().count() > 1000 {
            return ig_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) alt_text must be at most 1000 characters",
                None,
            );
        }
    }
    if caption.chars().count() > 2200
        || caption
            .split_whitespace()
            .filter(|w| w.starts_with('#'))
            .count()
            > 30
    {
        return ig_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(2207010),
            "The caption is too long or has too many hashtags.",
            None,
        );
    }
    let bytes = match shared.http.get(&url).send().await {
        Ok(r) if r.status().is_success() => match r.bytes().await {
            Ok(b) => b,
            Err(_) => return fetch_failed(),
        },
        _ => return fetch_failed(),
    };
    if bytes.len() > 8 * 1024 * 1024 {
        return ig_error(
            StatusCode::BAD_REQUEST,
            36000,
            Some(2207004),
            "The image is too large to download. It should be less than 8 MiB.",
            None,
        );
    }
    let image_size = inspect(&bytes).map(|(_, w, h)| (w, h)).unwrap_or((0, 0));
    let image_bytes = bytes.len();
    let (status_code, status, polls) = match inspect(&bytes) {
        None => return fetch_failed(),
        Some((false, _, _)) => (
            "ERROR",
            "Error: The image format is not supported. Only JPEG is supported. (2207005)"
                .to_owned(),
            0,
        ),
        Some((true, w, h)) => {
            let ratio = w as f64 / h.max(1) as f64;
            // Feed images 4:5 to 1.91:1; stories are made for 9:16.
            let accepted = if story { 0.5..=1.915 } else { 0.795..=1.915 };
            if !accepted.contains(&ratio) {
                return ig_error(
                    StatusCode::BAD_REQUEST,
                    36003,
                    Some(2207009),
                    "The aspect ratio is not supported.",
                    None,
                );
            }
            (
                "IN_PROGRESS",
                "In Progress: Media is still being processed.".to_owned(),
                lock(shared).in_progress_polls,
            )
        }
    };
    let mut st = lock(shared);
    let now = st.now();
    let id = st.id();
    st.containers_created += 1;
    st.containers.insert(
        id.clone(),
        FakeContainer {
            id: id.clone(),
            ig_user: ig.to_owned(),
            image_url: url,
            caption,
            status_code,
            status,
            polls_left: polls,
            created: now,
            media_id: None,
            image_size,
            image_bytes,
            media_type,
            alt_text,
            is_carousel_item,
            children: Vec::new(),
        },
    );
    axum::Json(json!({ "id": id })).into_response()
}

/// `media_type=CAROUSEL&children=…&caption=`: 2-10 children of this IG user, each made
/// with `is_carousel_item=true` and FINISHED (PLATFORMS.md §8.6); no image, no alt text.
fn create_carousel(shared: &Shared, input: &Input, ig: &str) -> Response {
    let bad = |message: &str| ig_error(StatusCode::BAD_REQUEST, 100, None, message, None);
    if input.params.contains_key("alt_text") {
        return bad("(#100) The parameter alt_text is not supported for media_type CAROUSEL");
    }
    let children: Vec<String> = input
        .params
        .get("children")
        .map(|c| {
            c.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !(2..=10).contains(&children.len()) {
        return bad(&format!(
            "(#100) A carousel takes 2 to 10 children; got {}",
            children.len()
        ));
    }
    let caption = input.params.get("caption").cloned().unwrap_or_default();
    if caption.chars().count() > 2200 {
        return ig_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(2207010),
            "The caption is too long or has too many hashtags.",
            None,
        );
    }
    let mut st = lock(shared);
    for child in &children {
        let ok = st
            .containers
            .get(child)
            .is_some_and(|c| c.ig_user == ig && c.is_carousel_item && c.status_code == "FINISHED");
        if !ok {
            return bad(&format!(
                "(#100) Child {child} is not a finished carousel item of this account"
            ));
        }
    }
    let now = st.now();
    let id = st.id();
    let polls = st.in_progress_polls;
    st.containers_created += 1;
    st.containers.insert(
        id.clone(),
        FakeContainer {
            id: id.clone(),
            ig_user: ig.to_owned(),
            image_url: String::new(),
            caption,
            status_code: "IN_PROGRESS",
            status: "In Progress: Media is still being processed.".to_owned(),
            polls_left: polls,
            created: now,
            media_id: None,
            image_size: (0, 0),
            image_bytes: 0,
            media_type: "CAROUSEL",
            alt_text: None,
            is_carousel_item: false,
            children,
        },
    );
    axum::Json(json!({ "id": id })).into_response()
}

/// `GET /{id}`: a container's status (advancing its scripted progression), a media's
/// permalink, or a Page (with `access_token` for its owner's user token).
fn node_get(shared: &Shared, input: &Input, node: &str) -> Response {
    let mut st = lock(shared);
    let now = st.now();
    let tok = match check_token(&st, input.token.as_deref()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Some(c) = st.containers.get_mut(node) {
        if c.status_code == "IN_PROGRESS" {
            if c.polls_left == 0 {
                c.status_code = "FINISHED";
                c.status =
                    "Finished: Media has been uploaded and it is ready to be published.".into();
            } else {
                c.polls_left -= 1;
            }
        }
        if c.status_code != "PUBLISHED" && now - c.created > chrono::Duration::hours(24) {
            c.status_code = "EXPIRED";
            c.status = "Expired: not published within 24 hours.".into();
        }
        return axum::Json(json!({"status_code": c.status_code, "status": c.status, "id": c.id}))
            .into_response();
    }
    if let Some(m) = st.media.iter().find(|m| m.id == node) {
        return axum::Json(
            json!({"id": m.id, "permalink": format!("https://www.instagram.com/p/{}/", m.id),
            "caption": m.caption, "media_type": m.media_type, "media_product_type": m.media_product_type,
            "alt_text": m.alt_text}),
        )
        .into_response();
    }
    if let Some(page) = st.pages.get(node).cloned() {
        let mut body = json!({"id": node, "instagram_business_account": {"id": page.ig}});
        let wants_token = input
            .params
            .get("fields")
            .is_some_and(|f| f.split(',').any(|f| f == "access_token"));
        if let (true, TokenKind::User { user }) = (wants_token, &tok.kind)
            && *user == page.owner
        {
            body["access_token"] = st
                .mint(
                    TokenKind::Page {
                        page: node.to_owned(),
                    },
                    "EAAPAGE",
                    now,
                )
                .into();
        }
        return axum::Json(body).into_response();
    }
    ig_error(
        StatusCode::BAD_REQUEST,
        100,
        Some(33),
        &format!("Unsupported get request. Object with ID '{node}' does not exist"),
        None,
    )
}

/// `POST /{ig-user-id}/media_publish?creation_id=`.
async fn media_publish(shared: &Shared, input: &Input, ig: &str) -> Response {
    let fault = {
        let mut st = lock(shared);
        if let Err(r) = authorize_ig(&st, input, ig) {
            return r;
        }
        st.take_fault(Step::Commit)
    };
    if let Some(r) = fault.as_ref().and_then(|f| fault_response(f, ig)) {
        return r;
    }
    let body = {
        let mut st = lock(shared);
        let now = st.now();
        let Some(cid) = input.params.get("creation_id").cloned() else {
            return ig_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) The parameter creation_id is required",
                None,
            );
        };
        let Some(c) = st.containers.get(&cid).filter(|c| c.ig_user == ig).cloned() else {
            return ig_error(
                StatusCode::BAD_REQUEST,
                100,
                Some(33),
                "(#100) Invalid creation_id",
                None,
            );
        };
        if c.is_carousel_item {
            return ig_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) A carousel item cannot be published on its own; publish its carousel",
                None,
            );
        }
        match c.status_code {
            "FINISHED" => {}
            "IN_PROGRESS" => {
                return ig_error(
                    StatusCode::BAD_REQUEST,
                    9007,
                    Some(2207027),
                    "Media ID is not available",
                    Some("The media is not ready for publishing, please wait for a moment"),
                );
            }
            "EXPIRED" => {
                return ig_error(
                    StatusCode::BAD_REQUEST,
                    -2,
                    Some(2207020),
                    "The media you are trying to access has expired.",
                    None,
                );
            }
            "PUBLISHED" => {
                return ig_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    None,
                    "(#100) The media has already been published",
                    None,
                );
            }
            _ => {
                return ig_error(
                    StatusCode::BAD_REQUEST,
                    9007,
                    Some(2207027),
                    "Media ID is not available",
                    None,
                );
            }
        }
        if st.quota_usage(ig) >= st.quota_total {
            return ig_error(
                StatusCode::BAD_REQUEST,
                9,
                Some(2207042),
                "Application request limit reached",
                Some("You have reached the maximum number of posts allowed in 24 hours."),
            );
        }
        let media_id = st.id();
        if let Some(c) = st.containers.get_mut(&cid) {
            c.status_code = "PUBLISHED";
            c.status = "Published: Media has been published.".into();
            c.media_id = Some(media_id.clone());
        }
        let children = c
            .children
            .iter()
            .filter_map(|id| st.containers.get(id))
            .map(|child| (child.alt_text.clone(), child.image_size))
            .collect();
        st.media.push(FakeMedia {
            id: media_id.clone(),
            ig_user: ig.to_owned(),
            caption: c.caption.clone(),
            timestamp: now,
            container_id: cid,
            image_bytes: c.image_bytes,
            image_size: c.image_size,
            media_product_type: if c.media_type == "STORIES" {
                "STORY"
            } else {
                "FEED"
            },
            media_type: if c.media_type == "CAROUSEL" {
                "CAROUSEL_ALBUM"
            } else {
                "IMAGE"
            },
            alt_text: c.alt_text.clone(),
            children,
        });
        st.commits += 1;
        json!({ "id": media_id })
    };
    if matches!(fault, Some(Fault::AcceptThenHang)) {
        tokio::time::sleep(shared.hang).await;
    }
    axum::Json(body).into_response()
}

/// `GET /{ig}/media` (feed media) or `GET /{ig}/stories` (stories live for 24 h).
fn list_media(shared: &Shared, input: &Input, ig: &str, product: &str) -> Response {
    let st = lock(shared);
    if let Err(r) = authorize_ig(&st, input, ig) {
        return r;
    }
    let live_since = st.now() - chrono::Duration::hours(24);
    let limit: usize = input
        .params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let data: Vec<_> = st
        .media
        .iter()
        .rev()
        .filter(|m| m.ig_user == ig && m.media_product_type == product)
        .filter(|m| product != "STORY" || m.timestamp >= live_since)
        .take(limit)
        .map(|m| json!({"id": m.id, "caption": m.caption, "timestamp": m.timestamp.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
            "permalink": format!("https://www.instagram.com/p/{}/", m.id)}))
        .collect();
    axum::Json(json!({ "data": data })).into_response()
}

/// The IG user a published media belongs to, or Graph's answer for an id that is no
/// published media (a container id included: comments need the media id, §8.1c).
fn published_media_owner(st: &State, media: &str) -> Result<String, Response> {
    st.media
        .iter()
        .find(|m| m.id == media)
        .map(|m| m.ig_user.clone())
        .ok_or_else(|| {
            ig_error(
                StatusCode::BAD_REQUEST,
                100,
                Some(33),
                &format!(
                    "Unsupported post request. Object with ID '{media}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"
                ),
                None,
            )
        })
}

/// `POST /{ig-media-id}/comments?message=` (PLATFORMS.md §8.1c).
async fn create_comment(shared: &Shared, input: &Input, media: &str) -> Response {
    let fault = {
        let mut st = lock(shared);
        let owner = match published_media_owner(&st, media) {
            Ok(o) => o,
            Err(r) => return r,
        };
        if let Err(r) = authorize_ig(&st, input, &owner) {
            return r;
        }
        if !st.comments_permitted {
            return ig_error(
                StatusCode::FORBIDDEN,
                10,
                None,
                "(#10) Application does not have permission for this action",
                None,
            );
        }
        st.take_fault(Step::Comment)
    };
    if let Some(r) = fault.as_ref().and_then(|f| fault_response(f, media)) {
        return r;
    }
    let id = {
        let mut st = lock(shared);
        let Some(text) = input
            .params
            .get("message")
            .filter(|m| !m.trim().is_empty())
            .cloned()
        else {
            return ig_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) The parameter message is required",
                None,
            );
        };
        let owner = published_media_owner(&st, media).unwrap_or_default();
        let now = st.now();
        let id = st.id();
        st.comments.push(FakeComment {
            id: id.clone(),
            media_id: media.to_owned(),
            from: owner,
            text,
            timestamp: now,
        });
        id
    };
    if matches!(fault, Some(Fault::AcceptCommentThenHang)) {
        tokio::time::sleep(shared.hang).await;
    }
    axum::Json(json!({ "id": id })).into_response()
}

/// `GET /{ig-media-id}/comments?fields=id,text,from,timestamp`.
fn list_comments(shared: &Shared, input: &Input, media: &str) -> Response {
    let st = lock(shared);
    let owner = match published_media_owner(&st, media) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Err(r) = authorize_ig(&st, input, &owner) {
        return r;
    }
    let data: Vec<_> = st
        .comments
        .iter()
        .filter(|c| c.media_id == media)
        .map(|c| {
            json!({"id": c.id, "text": c.text, "from": {"id": c.from},
            "timestamp": c.timestamp.format("%Y-%m-%dT%H:%M:%S%z").to_string()})
        })
        .collect();
    axum::Json(json!({ "data": data })).into_response()
}

fn publishing_limit(shared: &Shared, input: &Input, ig: &str) -> Response {
    let st = lock(shared);
    if let Err(r) = authorize_ig(&st, input, ig) {
        return r;
    }
    axum::Json(json!({"data": [{"quota_usage": st.quota_usage(ig), "config": {"quota_total": st.quota_total, "quota_duration": 86400}}]})).into_response()
}

/// `GET /refresh_access_token?grant_type=ig_refresh_token&access_token=` (Instagram Login):
/// the token must be unexpired and at least 24 h old.
fn refresh_ig_login(shared: &Shared, input: &Input) -> Response {
    let mut st = lock(shared);
    let now = st.now();
    if input.params.get("grant_type").map(String::as_str) != Some("ig_refresh_token") {
        return ig_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "Unsupported grant_type",
            None,
        );
    }
    let tok = match check_token(&st, input.token.as_deref()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let TokenKind::IgLogin { ig } = tok.kind else {
        return ig_error(
            StatusCode::BAD_REQUEST,
            190,
            None,
            "Invalid OAuth access token for this endpoint",
            None,
        );
    };
    if now - tok.issued_at < chrono::Duration::hours(24) {
        return ig_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "(#100) The access token can only be refreshed once it is at least 24 hours old",
            None,
        );
    }
    let fresh = st.mint(TokenKind::IgLogin { ig }, "IGAALONG", now);
    axum::Json(json!({"access_token": fresh, "token_type": "bearer", "expires_in": 5184000}))
        .into_response()
}

/// `POST api.instagram.com/oauth/access_token` (form): code → short-lived token + `user_id`.
/// Errors use Instagram's own flat shape.
fn ig_code_exchange(shared: &Shared, input: &Input) -> Response {
    let mut st = lock(shared);
    let now = st.now();
    let p = &input.params;
    let bad = |msg: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error_type": "OAuthException", "code": 400, "error_message": msg})),
        )
            .into_response()
    };
    if p.get("client_id").map(String::as_str) != Some(super::APP_ID)
        || p.get("client_secret").map(String::as_str) != Some(super::APP_SECRET)
    {
        return bad("Invalid client_secret");
    }
    if p.get("grant_type").map(String::as_str) != Some("authorization_code")
        || p.get("redirect_uri").is_none_or(|r| r.is_empty())
    {
        return bad("Invalid redirect_uri or grant_type");
    }
    let Some(ig) = p.get("code").and_then(|c| st.codes.remove(c)) else {
        return bad("This authorization code has been used");
    };
    let token = st.mint(TokenKind::IgLogin { ig: ig.clone() }, "IGAASHORT", now);
    let user_id: u64 = ig.parse().unwrap_or_default();
    axum::Json(json!({"access_token": token, "user_id": user_id, "permissions": ["instagram_business_basic", "instagram_business_content_publish"]})).into_response()
}

/// `GET graph.instagram.com/access_token?grant_type=ig_exchange_token&client_secret&access_token`.
fn ig_long_lived(shared: &Shared, input: &Input) -> Response {
    let mut st = lock(shared);
    let now = st.now();
    if input.params.get("grant_type").map(String::as_str) != Some("ig_exchange_token")
        || input.params.get("client_secret").map(String::as_str) != Some(super::APP_SECRET)
    {
        return ig_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "Invalid grant_type or client_secret",
            None,
        );
    }
    let tok = match check_token(&st, input.token.as_deref()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let TokenKind::IgLogin { ig } = tok.kind else {
        return ig_error(
            StatusCode::BAD_REQUEST,
            190,
            None,
            "Invalid OAuth access token for this endpoint",
            None,
        );
    };
    let token = st.mint(TokenKind::IgLogin { ig }, "IGAALONG", now);
    axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 5184000}))
        .into_response()
}

fn chaos_response(server_error: bool) -> Response {
    connector_meta_graph::fake::chaos_response(server_error, |status, code, message| {
        ig_error(status, code, None, message, None)
    })
}
