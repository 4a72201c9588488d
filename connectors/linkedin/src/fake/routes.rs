//! The fake's HTTP routes, one handler per LinkedIn endpoint.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use pressroom_connector::testkit::with_faults;

use super::{CLIENT_ID, CLIENT_SECRET, FakeComment, FakePost, Image, Shared, State, Token};

type S = AxState<Arc<Shared>>;

pub fn router(shared: Arc<Shared>) -> Router {
    let faults = shared.faults.clone();
    let api = Router::new()
        .route("/oauth/v2/accessToken", post(access_token))
        .route("/oauth/v2/introspectToken", post(introspect))
        .route("/v2/userinfo", get(userinfo))
        .route("/v2/organizationalEntityAcls", get(acls))
        .route("/rest/images", post(init_upload))
        .route("/rest/images/{urn}", get(image_status))
        .route("/dms-uploads/{id}", put(upload))
        .route("/rest/posts", post(create_post).get(list_posts))
        .route(
            "/rest/socialActions/{urn}/comments",
            post(create_comment).get(list_comments),
        )
        .route(
            "/rest/organizationalEntityShareStatistics",
            get(super::insights::organization_statistics),
        )
        .route(
            "/rest/memberCreatorPostAnalytics",
            get(super::insights::member_analytics),
        )
        // Inside the journal: chaos-failed calls are recorded and counted like any other.
        .route_layer(from_fn_with_state(shared.clone(), super::chaos::middleware))
        .with_state(shared.clone());
    let posts = Router::new()
        .route("/__fake/posts", get(fake_posts))
        .with_state(shared);
    with_faults(api, faults).merge(posts)
}

/// LinkedIn's error body: `{"status","serviceErrorCode","code","message"}`.
pub(super) fn li_error(
    status: u16,
    service: Option<i64>,
    code: Option<&str>,
    message: &str,
) -> Response {
    let mut body = json!({ "status": status, "message": message });
    if let Some(n) = service {
        body["serviceErrorCode"] = n.into();
    }
    if let Some(c) = code {
        body["code"] = c.into();
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

pub(super) fn li_err(
    status: u16,
    service: Option<i64>,
    code: Option<&str>,
    message: &str,
) -> Box<Response> {
    Box::new(li_error(status, service, code, message))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// Checks the bearer token: unknown 65600, expired (fake clock) 65602, revoked 65601.
pub(super) fn authorize(st: &State, headers: &HeaderMap) -> Result<Token, Box<Response>> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token.is_empty() {
        return Err(li_err(
            401,
            Some(65600),
            Some("INVALID_ACCESS_TOKEN"),
            "Empty oauth2_access_token",
        ));
    }
    let Some(t) = st.tokens.get(token) else {
        return Err(li_err(
            401,
            Some(65600),
            Some("INVALID_ACCESS_TOKEN"),
            "Invalid access token",
        ));
    };
    if t.revoked {
        return Err(li_err(
            401,
            Some(65601),
            Some("REVOKED_ACCESS_TOKEN"),
            "The token used in the request has been revoked by the user",
        ));
    }
    if t.expires_at <= st.now() {
        return Err(li_err(
            401,
            Some(65602),
            Some("EXPIRED_ACCESS_TOKEN"),
            "The token used in the request has expired",
        ));
    }
    Ok(t.clone())
}

/// `/rest` requires `LinkedIn-Version` (YYYYMM, not sunset) and Rest.li protocol 2.0.0.
/// A Rest.li call's checks in the order LinkedIn makes them: its headers (version, protocol),
/// then its bearer token.
pub(in crate::fake) fn rest_caller(
    st: &State,
    headers: &HeaderMap,
) -> Result<Token, Box<Response>> {
    rest_headers(st, headers)?;
    authorize(st, headers)
}

pub(super) fn rest_headers(st: &State, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let version = headers
        .get("linkedin-version")
        .and_then(|v| v.to_str().ok());
    match version {
        None => {
            return Err(li_err(
                400,
                None,
                Some("VERSION_MISSING"),
                "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
            ));
        }
        Some(v) if v.len() != 6 || !v.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(li_err(
                400,
                None,
                Some("INVALID_VERSION"),
                &format!("Invalid version {v}"),
            ));
        }
        Some(v) if st.opts.sunset_versions.contains(v) => {
            return Err(li_err(
                426,
                None,
                Some("NONEXISTENT_VERSION"),
                &format!("Requested version {v} is not active"),
            ));
        }
        Some(_) => {}
    }
    if headers
        .get("x-restli-protocol-version")
        .and_then(|v| v.to_str().ok())
        != Some("2.0.0")
    {
        return Err(li_err(
            400,
            None,
            None,
            "X-Restli-Protocol-Version 2.0.0 is required",
        ));
    }
    Ok(())
}

pub(super) fn can_act_as(st: &State, token: &Token, urn: &str) -> bool {
    if urn.strip_prefix("urn:li:person:") == Some(token.member.as_str()) {
        return true;
    }
    urn.strip_prefix("urn:li:organization:").is_some_and(|org| {
        st.admins
            .get(&token.member)
            .is_some_and(|orgs| orgs.iter().any(|o| o == org))
    })
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

async fn access_token(AxState(sh): S, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut st = sh.state();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    let (member, refresh) = match field("grant_type") {
        "authorization_code" => match st.codes.remove(field("code")) {
            Some(member) => (member, None),
            None => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The provided authorization grant is invalid, expired or revoked",
                );
            }
        },
        "refresh_token" => {
            if !st.opts.refresh_tokens {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unauthorized_client",
                    "The client is not authorized to use refresh tokens",
                );
            }
            let now = st.now();
            match st.refresh.get(field("refresh_token")) {
                Some(r) if !r.revoked && r.expires_at > now => {
                    (r.member.clone(), Some(field("refresh_token").to_owned()))
                }
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "The provided authorization grant or refresh token is invalid, expired or revoked",
                    );
                }
            }
        }
        other => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant_type {other:?} is not supported"),
            );
        }
    };
    let (access, refresh) = st.issue(&member, refresh);
    let scope = st
        .tokens
        .get(&access)
        .map(|t| t.scopes.join(","))
        .unwrap_or_default();
    let mut body = json!({
        "access_token": access,
        "expires_in": st.opts.access_ttl.num_seconds(),
        "scope": scope,
    });
    if let Some(r) = refresh {
        // Counts down from the original grant; a refresh never extends it.
        let left = st
            .refresh
            .get(&r)
            .map(|x| (x.expires_at - st.now()).num_seconds())
            .unwrap_or(0);
        body["refresh_token"] = r.into();
        body["refresh_token_expires_in"] = left.into();
    }
    Json(body).into_response()
}

async fn introspect(AxState(sh): S, Form(form): Form<HashMap<String, String>>) -> Response {
    let st = sh.state();
    let token = form.get("token").map(String::as_str).unwrap_or("");
    match st.tokens.get(token) {
        Some(t) if !t.revoked && t.expires_at > st.now() => Json(json!({
            "active": true, "status": "active", "auth_type": "3L",
            "expires_at": t.expires_at.timestamp(), "client_id": CLIENT_ID,
            "scope": t.scopes.join(","),
        }))
        .into_response(),
        Some(t) => Json(
            json!({ "active": false, "status": if t.revoked { "revoked" } else { "expired" } }),
        )
        .into_response(),
        None => Json(json!({ "active": false })).into_response(),
    }
}

async fn userinfo(AxState(sh): S, headers: HeaderMap) -> Response {
    let st = sh.state();
    match authorize(&st, &headers) {
        Ok(t) => {
            Json(json!({ "sub": t.member, "name": format!("Member {}", t.member) })).into_response()
        }
        Err(r) => *r,
    }
}

async fn acls(AxState(sh): S, headers: HeaderMap) -> Response {
    let st = sh.state();
    let t = match authorize(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let elements: Vec<Value> = st
        .admins
        .get(&t.member)
        .into_iter()
        .flatten()
        .map(|org| {
            json!({
                "organization": format!("urn:li:organization:{org}"),
                "role": "ADMINISTRATOR",
                "state": "APPROVED",
                "roleAssignee": format!("urn:li:person:{}", t.member),
            })
        })
        .collect();
    Json(json!({ "elements": elements })).into_response()
}

async fn init_upload(
    AxState(sh): S,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let mut st = sh.state();
    let t = match rest_caller(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if q.get("action").map(String::as_str) != Some("initializeUpload") {
        return li_error(400, None, None, "Unsupported action");
    }
    let Some(owner) = body
        .pointer("/initializeUploadRequest/owner")
        .and_then(Value::as_str)
    else {
        return li_error(
            400,
            None,
            None,
            "ERROR :: /initializeUploadRequest/owner :: field is required but not found and has no default value",
        );
    };
    if !can_act_as(&st, &t, owner) {
        return li_error(
            403,
            None,
            Some("ACCESS_DENIED"),
            &format!("Not enough permissions to upload as {owner}"),
        );
    }
    let n = st.next_id();
    let urn = format!("urn:li:image:C4E10AQ{n:08}");
    let upload_id = format!("u{n}");
    let expires = st.now() + chrono::Duration::days(1);
    st.images.insert(
        urn.clone(),
        Image {
            owner: owner.into(),
            status: "WAITING_UPLOAD",
            ready_at: None,
            upload_expires_at: expires,
            bytes: None,
        },
    );
    st.uploads.insert(upload_id.clone(), urn.clone());
    Json(json!({ "value": {
        "uploadUrlExpiresAt": millis(expires),
        "uploadUrl": format!("{}/dms-uploads/{upload_id}", sh.base),
        "image": urn,
    }}))
    .into_response()
}

async fn upload(
    AxState(sh): S,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = sh.state();
    if let Err(r) = authorize(&st, &headers) {
        return *r;
    }
    let now = st.now();
    let processing =
        chrono::Duration::from_std(st.opts.image_processing).unwrap_or(chrono::Duration::zero());
    let Some(urn) = st.uploads.get(&id).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(img) = st.images.get_mut(&urn) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if img.upload_expires_at <= now {
        return li_error(400, None, None, "Upload URL has expired");
    }
    let known = body.starts_with(&[0xFF, 0xD8, 0xFF])
        || body.starts_with(b"\x89PNG")
        || body.starts_with(b"GIF8");
    img.bytes = Some(body.len());
    img.status = if known {
        "PROCESSING"
    } else {
        "PROCESSING_FAILED"
    };
    img.ready_at = Some(now + processing);
    StatusCode::CREATED.into_response()
}

async fn image_status(AxState(sh): S, Path(urn): Path<String>, headers: HeaderMap) -> Response {
    let st = sh.state();
    let t = match rest_caller(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Some(img) = st.images.get(&urn).cloned() else {
        return li_error(404, None, None, &format!("Image {urn} not found"));
    };
    // Mirrors Postiz's observation: member (w_member_social) tokens cannot read images.
    if img.owner.starts_with("urn:li:person:") || !can_act_as(&st, &t, &img.owner) {
        return li_error(
            403,
            None,
            Some("ACCESS_DENIED"),
            "Not enough permissions to access: images.GET",
        );
    }
    let status = img.status_at(st.now());
    Json(json!({ "id": urn, "owner": img.owner, "status": status })).into_response()
}

/// The text LinkedIn keeps: everything before the first unescaped reserved character.
fn little_text_truncate(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(c);
            if let Some(n) = chars.next() {
                out.push(n);
            }
            continue;
        }
        if matches!(
            c,
            '|' | '{' | '}' | '@' | '[' | ']' | '(' | ')' | '<' | '>' | '#' | '*' | '_' | '~'
        ) {
            break;
        }
        out.push(c);
    }
    out
}

async fn create_post(AxState(sh): S, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut st = sh.state();
    let t = match rest_caller(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let author = body.get("author").and_then(Value::as_str).unwrap_or("");
    if !author.starts_with("urn:li:person:") && !author.starts_with("urn:li:organization:") {
        return li_error(
            422,
            None,
            None,
            &format!("ERROR :: /author :: {author:?} is not a valid author URN"),
        );
    }
    if !can_act_as(&st, &t, author) {
        return li_error(
            403,
            None,
            Some("ACCESS_DENIED"),
            &format!("Not enough permissions to post as {author}"),
        );
    }
    if body.get("lifecycleState").and_then(Value::as_str) != Some("PUBLISHED") {
        return li_error(
            422,
            None,
            None,
            "ERROR :: /lifecycleState :: must be PUBLISHED",
        );
    }
    let visibility = body.get("visibility").and_then(Value::as_str).unwrap_or("");
    if !matches!(visibility, "PUBLIC" | "CONNECTIONS" | "LOGGED_IN") {
        return li_error(
            422,
            None,
            None,
            &format!("ERROR :: /visibility :: invalid value {visibility:?}"),
        );
    }
    let commentary = body.get("commentary").and_then(Value::as_str).unwrap_or("");
    let len = commentary.chars().count();
    if len > 3000 {
        return li_error(
            422,
            None,
            None,
            &format!("ERROR :: /commentary :: length {len} exceeds the maximum allowed 3000"),
        );
    }
    let image = body
        .pointer("/content/media/id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let alt_text = body
        .pointer("/content/media/altText")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(alt) = &alt_text {
        let len = alt.chars().count();
        if len > 4086 {
            return li_error(
                422,
                None,
                None,
                &format!(
                    "ERROR :: /content/media/altText :: length {len} exceeds the maximum allowed 4086"
                ),
            );
        }
    }
    let multi = match multi_images(&st, &body, author) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    if let Some(urn) = &image {
        match st.images.get(urn) {
            None => {
                return li_error(
                    400,
                    None,
                    None,
                    &format!("ERROR :: /content/media/id :: {urn} does not exist"),
                );
            }
            Some(img) if img.owner != author => {
                return li_error(
                    403,
                    None,
                    Some("ACCESS_DENIED"),
                    &format!("{urn} is not owned by {author}"),
                );
            }
            Some(img) if img.status_at(st.now()) != "AVAILABLE" => {
                // PLATFORMS.md §6.4: an image that is not AVAILABLE is refused (422); nothing
                // is created. LinkedIn's exact wording is not documented.
                return li_error(
                    422,
                    None,
                    None,
                    &format!(
                        "ERROR :: /content/media/id :: {urn} is not AVAILABLE (status {})",
                        img.status_at(st.now())
                    ),
                );
            }
            Some(_) => {}
        }
    }
    if let Some(limit) = st.opts.daily_post_limit {
        let today = st.now().date_naive();
        let made = st
            .posts
            .iter()
            .filter(|p| p.author == author && p.created_at.date_naive() == today)
            .count();
        if made >= limit as usize {
            let body = super::throttle_body(super::DAILY_LIMIT_MESSAGE);
            return (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        }
    }
    let n = st.next_id();
    let id = format!("urn:li:share:7{n:018}");
    let stored = little_text_truncate(commentary);
    let now = st.now();
    st.posts.push(FakePost {
        id: id.clone(),
        author: author.into(),
        truncated: stored.len() < commentary.len(),
        commentary: stored,
        image: image.or_else(|| multi.first().map(|(id, _)| id.clone())),
        alt_text,
        images: multi,
        visibility: visibility.into(),
        created_at: now,
    });
    st.commits += 1;
    (StatusCode::CREATED, [("x-restli-id", id)]).into_response()
}

async fn list_posts(
    AxState(sh): S,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let st = sh.state();
    let t = match rest_caller(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if q.get("q").map(String::as_str) != Some("author") {
        return li_error(400, None, None, "Unsupported finder");
    }
    let author = q.get("author").map(String::as_str).unwrap_or("");
    if !can_act_as(&st, &t, author) {
        return li_error(
            403,
            None,
            Some("ACCESS_DENIED"),
            &format!("Not enough permissions to read posts of {author}"),
        );
    }
    let count: usize = q.get("count").and_then(|c| c.parse().ok()).unwrap_or(10);
    let start: usize = q.get("start").and_then(|c| c.parse().ok()).unwrap_or(0);
    // A new post shows in the listing only after the configured lag.
    let lag = chrono::Duration::from_std(st.opts.listing_lag).unwrap_or(chrono::Duration::zero());
    let visible_before = st.now() - lag;
    let elements: Vec<Value> = st
        .posts
        .iter()
        .rev()
        .filter(|p| p.author == author && p.created_at <= visible_before)
        .skip(start)
        .take(count)
        .map(|p| {
            let mut e = json!({
                "id": p.id, "author": p.author, "commentary": p.commentary,
                "visibility": p.visibility, "lifecycleState": "PUBLISHED",
                "createdAt": millis(p.created_at), "publishedAt": millis(p.created_at),
                "lastModifiedAt": millis(p.created_at),
            });
            if p.images.len() > 1 {
                let images: Vec<Value> =
                    p.images.iter().map(|(id, _)| json!({ "id": id })).collect();
                e["content"] = json!({ "multiImage": { "images": images } });
            } else if let Some(img) = &p.image {
                e["content"] = json!({ "media": { "id": img } });
            }
            e
        })
        .collect();
    let n = elements.len();
    Json(json!({ "elements": elements, "paging": { "start": start, "count": n, "links": [] } }))
        .into_response()
}

/// `content.multiImage.images` (PLATFORMS.md §8.3a, §8.6): 2-20 images, each AVAILABLE and
/// owned by the author, `altText` at most 4086; never beside `content.media`.
fn multi_images(
    st: &State,
    body: &Value,
    author: &str,
) -> Result<Vec<(String, Option<String>)>, Box<Response>> {
    let Some(list) = body.pointer("/content/multiImage/images") else {
        return Ok(Vec::new());
    };
    if body.pointer("/content/media").is_some() {
        return Err(li_err(
            422,
            None,
            None,
            "ERROR :: /content :: media and multiImage are mutually exclusive",
        ));
    }
    let list = list.as_array().cloned().unwrap_or_default();
    if !(2..=20).contains(&list.len()) {
        return Err(li_err(
            422,
            None,
            None,
            &format!(
                "ERROR :: /content/multiImage/images :: a MultiImage post takes 2 to 20 images, got {}",
                list.len()
            ),
        ));
    }
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let urn = item.get("id").and_then(Value::as_str).unwrap_or("");
        let alt = item
            .get("altText")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if alt.as_ref().is_some_and(|a| a.chars().count() > 4086) {
            return Err(li_err(
                422,
                None,
                None,
                &format!("ERROR :: /content/multiImage/images/{i}/altText :: longer than 4086"),
            ));
        }
        match st.images.get(urn) {
            None => {
                return Err(li_err(
                    400,
                    None,
                    None,
                    &format!("ERROR :: /content/multiImage/images/{i}/id :: {urn} does not exist"),
                ));
            }
            Some(img) if img.owner != author => {
                return Err(li_err(
                    403,
                    None,
                    Some("ACCESS_DENIED"),
                    &format!("{urn} is not owned by {author}"),
                ));
            }
            Some(img) if img.status_at(st.now()) != "AVAILABLE" => {
                return Err(li_err(
                    422,
                    None,
                    None,
                    &format!(
                        "ERROR :: /content/multiImage/images/{i}/id :: {urn} is not AVAILABLE"
                    ),
                ));
            }
            Some(_) => out.push((urn.to_owned(), alt)),
        }
    }
    Ok(out)
}

/// `POST /rest/socialActions/{urn}/comments` (PLATFORMS.md §8.3c, §8.6): the post must
/// exist, `actor` must be the token's member or an organization it administers, `object`
/// the post, `message.text` present.
async fn create_comment(
    AxState(sh): S,
    Path(urn): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut st = sh.state();
    let t = match rest_caller(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if !st.posts.iter().any(|p| p.id == urn) {
        return li_error(404, None, None, &format!("{urn} does not exist"));
    }
    let actor = body.get("actor").and_then(Value::as_str).unwrap_or("");
    if !can_act_as(&st, &t, actor) {
        return li_error(
            403,
            None,
            Some("ACCESS_DENIED"),
            &format!("Not enough permissions to comment as {actor:?}"),
        );
    }
    if body.get("object").and_then(Value::as_str) != Some(urn.as_str()) {
        return li_error(
            422,
            None,
            None,
            "ERROR :: /object :: must be the post commented on",
        );
    }
    let Some(text) = body
        .pointer("/message/text")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return li_error(
            422,
            None,
            None,
            "ERROR :: /message/text :: field is required",
        );
    };
    let n = st.next_id();
    let id = format!("urn:li:comment:({urn},{n})");
    let comment = FakeComment {
        id: id.clone(),
        object: urn.clone(),
        actor: actor.into(),
        text: text.into(),
        created_at: st.now(),
    };
    st.comments.push(comment.clone());
    let answer = json!({
        "id": n.to_string(), "commentUrn": id, "actor": comment.actor, "object": urn,
        "message": { "text": comment.text }, "created": { "actor": comment.actor, "time": millis(comment.created_at) },
    });
    (StatusCode::CREATED, [("x-restli-id", id)], Json(answer)).into_response()
}

/// `GET /rest/socialActions/{urn}/comments?start=&count=`: the post's comments, oldest first.
async fn list_comments(
    AxState(sh): S,
    Path(urn): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let st = sh.state();
    if let Err(r) = rest_headers(&st, &headers) {
        return *r;
    }
    if let Err(r) = authorize(&st, &headers) {
        return *r;
    }
    if !st.posts.iter().any(|p| p.id == urn) {
        return li_error(404, None, None, &format!("{urn} does not exist"));
    }
    let start: usize = q.get("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let count: usize = q
        .get("count")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .min(100);
    let elements: Vec<Value> = st
        .comments
        .iter()
        .filter(|c| c.object == urn)
        .skip(start)
        .take(count)
        .map(|c| {
            json!({"id": c.id.rsplit(',').next().unwrap_or("").trim_end_matches(')'),
                "commentUrn": c.id, "actor": c.actor, "object": c.object,
                "message": { "text": c.text }, "created": { "actor": c.actor, "time": millis(c.created_at) }})
        })
        .collect();
    Json(json!({ "elements": elements, "paging": { "start": start, "count": count, "links": [] } }))
        .into_response()
}

async fn fake_posts(AxState(sh): S) -> Json<Vec<FakePost>> {
    Json(sh.state().posts.clone())
}
