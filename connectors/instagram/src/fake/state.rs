//! The fake Instagram Graph API's state: Pages, IG users, tokens, containers, media, quota,
//! queued faults and the request journal.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use connector_meta_graph::GraphError;
use connector_meta_graph::fake::{Recorded, take_fault};
use pressroom_connector::testkit::{Chaos, Fault, Step};
use serde::Serialize;
use serde_json::json;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    User {
        user: String,
    },
    Page {
        page: String,
    },
    /// Instagram Login token for an IG user.
    IgLogin {
        ig: String,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub expired: bool,
    pub revoked: bool,
    pub issued_at: DateTime<Utc>,
}

/// A media container as the fake tracks it.
#[derive(Clone, Debug, Serialize)]
pub struct FakeContainer {
    pub id: String,
    pub ig_user: String,
    pub image_url: String,
    pub caption: String,
    pub status_code: &'static str,
    pub status: String,
    pub polls_left: u32,
    pub created: DateTime<Utc>,
    pub media_id: Option<String>,
    /// Width and height of the fetched image (0 × 0 when it did not decode).
    pub image_size: (u32, u32),
    pub image_bytes: usize,
    /// `IMAGE` (a feed image), `STORIES` or `CAROUSEL`.
    pub media_type: &'static str,
    pub alt_text: Option<String>,
    /// A carousel's child (made with `is_carousel_item=true`; cannot be published alone).
    pub is_carousel_item: bool,
    /// A carousel parent's children, in order.
    pub children: Vec<String>,
}

/// A published media.
#[derive(Clone, Debug, Serialize)]
pub struct FakeMedia {
    pub id: String,
    pub ig_user: String,
    pub caption: String,
    pub timestamp: DateTime<Utc>,
    pub container_id: String,
    pub image_bytes: usize,
    /// Width and height of the image Instagram fetched for this media.
    pub image_size: (u32, u32),
    /// `FEED` or `STORY` (a story reports `media_type=IMAGE`; this tells them apart).
    pub media_product_type: &'static str,
    /// `IMAGE` or `CAROUSEL_ALBUM`.
    pub media_type: &'static str,
    pub alt_text: Option<String>,
    /// A carousel's slides, in order: (alt text, image size) of each child.
    pub children: Vec<(Option<String>, (u32, u32))>,
}

/// A comment on a published media, journaled so tests can count them.
#[derive(Clone, Debug, Serialize)]
pub struct FakeComment {
    pub id: String,
    pub media_id: String,
    /// The IG user who wrote it.
    pub from: String,
    pub text: String,
    pub timestamp: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub(crate) struct Page {
    pub owner: String,
    pub ig: String,
}

pub(crate) struct State {
    /// Added to the wall clock: tests move time forward to expire containers and age tokens.
    pub clock_offset: chrono::Duration,
    pub chaos: Option<Chaos>,
    /// Chance that a chaos 500 (code 2) on `media_publish` comes after the media was published.
    pub ambiguous_create_rate: f64,
    pub next: u64,
    pub tokens: HashMap<String, Token>,
    /// Instagram-Login authorization codes → IG user id.
    pub codes: HashMap<String, String>,
    pub pages: BTreeMap<String, Page>,
    /// IG user id → Page id.
    pub igs: BTreeMap<String, String>,
    pub containers: BTreeMap<String, FakeContainer>,
    pub media: Vec<FakeMedia>,
    pub comments: Vec<FakeComment>,
    /// Whether a `caption` on a story container is refused (true) or ignored; Meta's
    /// behaviour is UNVERIFIED (PLATFORMS.md §8.1b), so the strict answer is the default.
    pub reject_story_caption: bool,
    /// Whether a `caption` on a carousel child is refused (true, the default) or ignored
    /// (UNVERIFIED which, PLATFORMS.md §8.1a).
    pub reject_child_caption: bool,
    /// Whether tokens carry `instagram_manage_comments` (else comment calls answer #10).
    pub comments_permitted: bool,
    pub faults: VecDeque<Fault>,
    pub journal: Vec<Recorded>,
    pub quota_total: u64,
    /// Status polls a new container answers IN_PROGRESS before FINISHED.
    pub in_progress_polls: u32,
    pub containers_created: usize,
    pub commits: usize,
    /// Media insights under Instagram's names, by media id (`set_post_metrics`).
    pub insights: HashMap<String, BTreeMap<String, serde_json::Value>>,
    /// IG users whose tokens lack the insights permission (code 10).
    pub insights_revoked: HashSet<String>,
    /// Names a test declares retired (answered #100 like `impressions`).
    pub insights_deprecated: BTreeSet<String>,
    /// How long after publishing a media's insights stay empty (Meta: up to 48 h).
    pub insights_delay: chrono::Duration,
    /// Viewers every story has; under 5 its insights answer code 10. `None`: plenty.
    pub story_viewers: Option<u64>,
}

impl State {
    pub fn new() -> Self {
        Self {
            chaos: None,
            ambiguous_create_rate: 0.5,
            clock_offset: chrono::Duration::zero(),
            next: 17_840_000,
            tokens: HashMap::new(),
            codes: HashMap::new(),
            pages: BTreeMap::new(),
            igs: BTreeMap::new(),
            containers: BTreeMap::new(),
            media: Vec::new(),
            comments: Vec::new(),
            reject_story_caption: true,
            reject_child_caption: true,
            comments_permitted: true,
            faults: VecDeque::new(),
            journal: Vec::new(),
            quota_total: 50,
            in_progress_polls: 1,
            containers_created: 0,
            commits: 0,
            insights: HashMap::new(),
            insights_revoked: HashSet::new(),
            insights_deprecated: BTreeSet::new(),
            insights_delay: chrono::Duration::zero(),
            story_viewers: None,
        }
    }

    /// The fake's clock.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    pub fn id(&mut self) -> String {
        self.next += 1;
        self.next.to_string()
    }

    pub fn mint(&mut self, kind: TokenKind, prefix: &str, issued_at: DateTime<Utc>) -> String {
        let token = format!("{prefix}{}{:016x}", self.id(), rand::random::<u64>());
        self.tokens.insert(
            token.clone(),
            Token {
                kind,
                expired: false,
                revoked: false,
                issued_at,
            },
        );
        token
    }

    /// Takes the first queued fault for `step`. Content rejections hit container creation.
    pub fn take_fault(&mut self, step: Step) -> Option<Fault> {
        take_fault(&mut self.faults, step, Step::Prepare)
    }

    /// Publishes in the rolling 24 h window for `ig`.
    pub fn quota_usage(&self, ig: &str) -> u64 {
        let since = self.now() - chrono::Duration::hours(24);
        self.media
            .iter()
            .filter(|m| m.ig_user == ig && m.timestamp >= since)
            .count() as u64
    }
}

/// An Instagram Graph error: the Graph shape plus `is_transient` (always sent, true for the
/// service errors -1, -2, 1, 2) and, with `user_msg`, the user-facing title and text.
pub(crate) fn ig_error(
    status: StatusCode,
    code: i64,
    subcode: Option<i64>,
    message: &str,
    user_msg: Option<&str>,
) -> Response {
    GraphError {
        is_transient: Some(matches!(code, -1 | -2 | 1 | 2)),
        error_user_title: user_msg.map(|_| "Media upload failed".into()),
        error_user_msg: user_msg.map(str::to_owned),
        fbtrace_id: Some("AxYz0123".into()),
        ..GraphError::oauth(code, subcode, message)
    }
    .response(status)
}

pub(crate) fn add_buc(resp: &mut Response, ig: &str, percent: u32, regain_minutes: u64) {
    let buc =
        json!({ ig: [{"type": "instagram", "call_count": percent, "total_cputime": percent / 2,
        "total_time": percent / 2, "estimated_time_to_regain_access": regain_minutes}] })
        .to_string();
    if let Ok(v) = HeaderValue::from_str(&buc) {
        resp.headers_mut().insert("x-business-use-case-usage", v);
    }
}
