//! The fake Graph API's state: users, Pages, tokens, posts, queued faults, request journal.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use connector_meta_graph::GraphError;
use connector_meta_graph::fake::{Recorded, take_fault};
use pressroom_connector::testkit::{Chaos, Fault, Step};
use serde::Serialize;
use serde_json::json;

const FBTRACE_ID: &str = "AbCdEfGh123";

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    User { user: String },
    Page { page: String },
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub expired: bool,
    pub revoked: bool,
}

/// A post (or unpublished photo) the fake holds.
#[derive(Clone, Debug, Serialize)]
pub struct FakePost {
    pub photo_id: String,
    pub post_id: String,
    pub message: String,
    pub created_time: DateTime<Utc>,
    pub published: bool,
    pub image_bytes: usize,
    /// Width and height of the uploaded or fetched photo.
    pub image_size: (u32, u32),
    /// The person-written description sent as `alt_text_custom`.
    pub alt_text_custom: Option<String>,
    /// An unpublished photo that a story was made of (a photo serves one story only).
    pub used_for_story: bool,
    /// An unpublished photo attached to this multi-photo post (once only).
    pub attached_to: Option<String>,
    /// A multi-photo feed post's photos (`attached_media`), in order.
    pub attached: Vec<String>,
}

/// A Page photo story (PLATFORMS.md §8.2b).
#[derive(Clone, Debug, Serialize)]
pub struct FakeStory {
    pub post_id: String,
    /// The unpublished photo it was made of.
    pub photo_id: String,
    pub creation_time: DateTime<Utc>,
}

/// A comment on a Page post.
#[derive(Clone, Debug, Serialize)]
pub struct FakeComment {
    pub id: String,
    pub post_id: String,
    /// The Page (or user) that wrote it.
    pub from: String,
    pub message: String,
    pub created_time: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub(crate) struct Page {
    pub name: String,
    pub owner: String,
    pub posts: Vec<FakePost>,
    pub stories: Vec<FakeStory>,
}

pub(crate) struct State {
    pub chaos: Option<Chaos>,
    /// How long a new post takes to appear in `/published_posts` (Graph lists with a delay).
    pub listing_lag: chrono::Duration,
    /// Chance that a chaos 500 (code 2) on `/photos` comes after the post was created.
    pub ambiguous_create_rate: f64,
    /// The next this many `/photos` creates post, then answer a Graph 500 (code 2).
    pub server_error_after_posting: u32,
    pub app_id: String,
    pub app_secret: String,
    pub next: u64,
    pub tokens: HashMap<String, Token>,
    pub codes: HashMap<String, String>,
    pub pages: BTreeMap<String, Page>,
    pub faults: VecDeque<Fault>,
    pub journal: Vec<Recorded>,
    pub usage_percent: u32,
    pub regain_minutes: u64,
    pub commits: usize,
    pub page_size: usize,
    pub comments: Vec<FakeComment>,
    /// Most photos one `/feed` post may attach (undocumented; OSS clients use 10).
    pub max_attached_media: usize,
    /// Whether Page tokens carry `pages_manage_engagement` (else comments answer #200).
    pub comments_permitted: bool,
    /// Post insights under Graph's names, by feed post id (`set_post_metrics`).
    pub insights: HashMap<String, BTreeMap<String, serde_json::Value>>,
    /// Users whose tokens lack `read_insights` (their Pages' insights answer empty data).
    pub insights_revoked: HashSet<String>,
    /// Valid names a test declares deprecated (answered #100 like the real ones).
    pub deprecated_metrics: BTreeSet<String>,
    /// Whether insights asked on a photo id (not its post id) answer #100 (the default) or
    /// the post's numbers: Meta's behaviour is UNVERIFIED (PLATFORMS.md §9.7).
    pub photo_id_insights_error: bool,
}

impl State {
    pub fn new(app_id: &str, app_secret: &str) -> Self {
        Self {
            chaos: None,
            listing_lag: chrono::Duration::seconds(1),
            ambiguous_create_rate: 0.5,
            server_error_after_posting: 0,
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            next: 1000,
            tokens: HashMap::new(),
            codes: HashMap::new(),
            pages: BTreeMap::new(),
            faults: VecDeque::new(),
            journal: Vec::new(),
            usage_percent: 4,
            regain_minutes: 0,
            commits: 0,
            page_size: 2,
            comments: Vec::new(),
            max_attached_media: 10,
            comments_permitted: true,
            insights: HashMap::new(),
            insights_revoked: HashSet::new(),
            deprecated_metrics: BTreeSet::new(),
            photo_id_insights_error: true,
        }
    }

    pub fn id(&mut self) -> String {
        self.next += 1;
        self.next.to_string()
    }

    pub fn mint(&mut self, kind: TokenKind, prefix: &str) -> String {
        let token = format!("{prefix}{}{:016x}", self.id(), rand::random::<u64>());
        self.tokens.insert(
            token.clone(),
            Token {
                kind,
                expired: false,
                revoked: false,
            },
        );
        token
    }

    /// Takes the first queued fault that applies to `step`; content rejections hit the photo
    /// upload (commit).
    pub fn take_fault(&mut self, step: Step) -> Option<Fault> {
        take_fault(&mut self.faults, step, Step::Commit)
    }
}

/// A Graph error response: `{"error":{message,type,code,error_subcode,fbtrace_id}}`, with
/// `is_transient: true` for the service errors (1, 2) only.
pub(crate) fn graph_error(
    status: StatusCode,
    code: i64,
    subcode: Option<i64>,
    message: &str,
) -> Response {
    GraphError {
        is_transient: (code == 1 || code == 2).then_some(true),
        fbtrace_id: Some(FBTRACE_ID.into()),
        ..GraphError::oauth(code, subcode, message)
    }
    .response(status)
}

/// Meta's answer to a photo it will not take (subcode 1366046), with the user-facing fields.
pub(crate) fn photo_rejected() -> Response {
    GraphError {
        error_user_title: Some("Can't Upload Photo".into()),
        error_user_msg: Some(
            "Photos should be smaller than 4 MB and saved as JPG, PNG, GIF, TIFF, HEIF or WebP files."
                .into(),
        ),
        fbtrace_id: Some(FBTRACE_ID.into()),
        ..GraphError::oauth(100, Some(1366046), "(#100) Invalid parameter")
    }
    .response(StatusCode::BAD_REQUEST)
}

/// Adds Meta's usage headers to a response.
pub(crate) fn add_usage(
    resp: &mut Response,
    percent: u32,
    page: Option<&str>,
    regain_minutes: u64,
) {
    let app =
        json!({"call_count": percent, "total_cputime": percent / 2, "total_time": percent / 2})
            .to_string();
    if let Ok(v) = HeaderValue::from_str(&app) {
        resp.headers_mut().insert("x-app-usage", v);
    }
    if let Some(page) = page {
        let buc =
            json!({ page: [{"type": "pages", "call_count": percent, "total_cputime": percent / 2,
            "total_time": percent / 2, "estimated_time_to_regain_access": regain_minutes}] })
            .to_string();
        if let Ok(v) = HeaderValue::from_str(&buc) {
            resp.headers_mut().insert("x-business-use-case-usage", v);
        }
    }
}
