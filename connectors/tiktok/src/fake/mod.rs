//! A fake of `open.tiktokapis.com` (PLATFORMS.md §6.5) on 127.0.0.1:0.
//!
//! Real paths, fields, envelopes (`data` + `error` with `log_id` on every answer) and status
//! codes: OAuth with **rotating** refresh tokens (reusing an old one is `invalid_grant`;
//! "sandbox" mode answers `invalid_grant` with HTTP 200 on every refresh); creator info;
//! content init with its checks (photo, PULL_FROM_URL, 1–35 URLs on a verified prefix,
//! privacy level among the creator's options, UTF-16 limits, scopes, 6 inits a minute);
//! the fake *pulls* every photo URL and fails the publish like TikTok (`photo_pull_failed`,
//! `picture_size_check_failed` for PNG or > 20 MB); status/fetch walks PROCESSING_DOWNLOAD →
//! PROCESSING_UPLOAD → PUBLISH_COMPLETE (ids after N polls) or SEND_TO_USER_INBOX or FAILED.
//! The creator's public post list (`/v2/video/list/`, scope `video.list`) shows direct,
//! non-private posts once their photos are pulled, after an optional listing lag.
//! `/v2/video/query/` (scope `video.list`, ≤ 20 ids, a 600/min window) answers the counters
//! of the token's own posts and silently drops the other ids (`query.rs`, PLATFORMS.md §9.7).
//! A 429 carries no `Retry-After` (TikTok sends none). It records publishes, counts commits,
//! takes faults, and under chaos (`chaos.rs`) fails calls at random in TikTok's own words.

mod chaos;
mod controls;
mod faults;
mod list;
mod query;
mod routes;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use pressroom_connector::testkit::{ChaosHook, FakeListener, FakeServer};
use secrecy::SecretString;
use serde::Serialize;
use url::Url;

pub use faults::{Fault, FaultAction, RecordedRequest};

use crate::TikTokConfig;

pub const CLIENT_KEY: &str = "fake-tiktok-client-key";
pub const CLIENT_SECRET: &str = "fake-tiktok-secret";

/// Knobs for the platform's behaviour.
#[derive(Clone, Debug)]
pub struct FakeOptions {
    /// 86400 (classic docs) or 7200 (Nov-2026 docs).
    pub access_ttl: Duration,
    /// 365 days (classic) or 180 days (Nov-2026).
    pub refresh_ttl: Duration,
    /// Sandbox apps: every refresh answers `invalid_grant` with HTTP 200.
    pub sandbox_refresh: bool,
    pub privacy_level_options: Vec<String>,
    /// URL prefixes verified in the developer portal.
    pub verified_prefixes: Vec<String>,
    /// Status polls spent in PROCESSING_UPLOAD after the download.
    pub processing_polls: u32,
    /// Polls for which PUBLISH_COMPLETE still has an empty `publicaly_available_post_id`.
    pub id_empty_polls: u32,
    /// content/init calls allowed per token per minute.
    pub inits_per_minute: usize,
    /// How long after init a post takes to appear in `/v2/video/list/` (moderation).
    pub listing_lag: Duration,
    /// How long chaos holds a lost answer: past the kit connector's 1 s request timeout.
    pub lost_answer_hold: std::time::Duration,
    /// `/v2/video/query/` calls allowed per token in a sliding minute (TikTok: 600).
    pub video_query_per_minute: usize,
    /// `/v2/video/query/` answers each `id` as a raw JSON number instead of a string.
    pub query_ids_as_numbers: bool,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            access_ttl: Duration::seconds(86_400),
            refresh_ttl: Duration::seconds(31_536_000),
            sandbox_refresh: false,
            privacy_level_options: [
                "PUBLIC_TO_EVERYONE",
                "MUTUAL_FOLLOW_FRIENDS",
                "FOLLOWER_OF_CREATOR",
                "SELF_ONLY",
            ]
            .map(String::from)
            .to_vec(),
            verified_prefixes: vec!["http://127.0.0.1".into()],
            processing_polls: 1,
            id_empty_polls: 0,
            inits_per_minute: 6,
            listing_lag: Duration::zero(),
            lost_answer_hold: std::time::Duration::from_millis(2500),
            video_query_per_minute: 600,
            query_ids_as_numbers: false,
        }
    }
}

/// Tokens handed to a test, as the token endpoint would.
#[derive(Clone, Debug)]
pub struct Grant {
    pub open_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Pull {
    Pending,
    Done,
    Failed(String),
}

/// A publish (photo post) the fake holds.
#[derive(Clone, Debug, Serialize)]
pub struct FakePublish {
    pub publish_id: String,
    pub open_id: String,
    pub post_mode: String,
    pub post_id: String,
    pub title: String,
    pub description: String,
    pub privacy_level: Option<String>,
    pub photo_images: Vec<String>,
    /// `source_info.photo_cover_index` as received.
    pub photo_cover_index: usize,
    pub created_at: DateTime<Utc>,
    pub pull: Pull,
    /// Set when the publish ends FAILED (scripted or by the pull).
    pub fail_reason: Option<String>,
    pub polls: u32,
    /// The counters `/v2/video/query/` reports (0 until a test sets them).
    pub stats: VideoStats,
}

/// A post's counters under TikTok's names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VideoStats {
    pub view_count: u64,
    pub like_count: u64,
    pub comment_count: u64,
    pub share_count: u64,
}

impl FakePublish {
    /// Failed publishes posted nothing.
    pub fn exists(&self) -> bool {
        self.fail_reason.is_none()
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub open_id: String,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    pub scopes: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Refresh {
    pub open_id: String,
    pub expires_at: DateTime<Utc>,
    /// Rotated away or revoked.
    pub dead: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    pub opts: FakeOptions,
    pub clock_offset: Duration,
    pub seq: u64,
    pub tokens: HashMap<String, Token>,
    pub refresh: HashMap<String, Refresh>,
    pub codes: HashMap<String, String>,
    pub usernames: HashMap<String, String>,
    pub publishes: Vec<FakePublish>,
    pub inits: Vec<(String, DateTime<Utc>)>,
    pub fail_next: Option<String>,
    pub commits: u32,
    /// `/v2/video/query/` calls: token, when (the 600/min window).
    pub queries: Vec<(String, DateTime<Utc>)>,
    /// Creators who withdrew `video.list`; their refreshed tokens come without it.
    pub insights_revoked: HashSet<String>,
}

pub(crate) const ALL_SCOPES: [&str; 4] = [
    "user.info.basic",
    "video.publish",
    "video.upload",
    "video.list",
];

impl State {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    pub fn next_id(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn log_id(&mut self) -> String {
        format!("20261125{:012X}", self.next_id())
    }

    pub fn issue(&mut self, open_id: &str, scopes: Vec<String>) -> (String, String) {
        let n = self.next_id();
        let access = format!("act.tt{n}");
        let refresh = format!("rft.tt{n}");
        let now = self.now();
        self.tokens.insert(
            access.clone(),
            Token {
                open_id: open_id.into(),
                expires_at: now + self.opts.access_ttl,
                revoked: false,
                scopes,
            },
        );
        self.refresh.insert(
            refresh.clone(),
            Refresh {
                open_id: open_id.into(),
                expires_at: now + self.opts.refresh_ttl,
                dead: false,
            },
        );
        (access, refresh)
    }
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub faults: faults::SharedFaults,
    pub http: reqwest::Client,
    /// Random failures (`ChaosControls::set_chaos`); off until set.
    pub chaos: ChaosHook,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake; the server stops when this is dropped.
pub struct FakeTikTok {
    shared: Arc<Shared>,
    media: pressroom_connector::testkit::media::ImageServer,
    server: FakeServer,
}

impl FakeTikTok {
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(FakeOptions::default()).await
    }

    pub async fn start_with(opts: FakeOptions) -> std::io::Result<Self> {
        let listener = FakeListener::bind().await?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                opts,
                clock_offset: Duration::zero(),
                seq: 0,
                tokens: HashMap::new(),
                refresh: HashMap::new(),
                codes: HashMap::new(),
                usernames: HashMap::new(),
                publishes: Vec::new(),
                inits: Vec::new(),
                fail_next: None,
                commits: 0,
                queries: Vec::new(),
                insights_revoked: HashSet::new(),
            }),
            faults: Default::default(),
            chaos: ChaosHook::default(),
            http,
        });
        let app = routes::router(shared.clone());
        let server = listener.serve(app, "tiktok");
        let media = pressroom_connector::testkit::media::ImageServer::start().await?;
        Ok(Self {
            shared,
            media,
            server,
        })
    }

    pub fn base_url(&self) -> Url {
        self.server.url()
    }

    /// A connector config pointed at this fake, with fast status polling.
    pub fn config(&self) -> TikTokConfig {
        let mut cfg = TikTokConfig::new(CLIENT_KEY, SecretString::from(CLIENT_SECRET));
        cfg.api_base = self.base_url();
        cfg.auth_base = self.base_url();
        cfg.status_poll_interval_ms = 20;
        cfg.status_max_wait_secs = 5;
        cfg.timeout_secs = 5;
        cfg
    }

    /// A loopback image server whose URLs count as verified (`http://127.0.0.1`).
    pub fn media(&self) -> &pressroom_connector::testkit::media::ImageServer {
        &self.media
    }

    /// Connects a creator with every scope.
    pub fn grant(&self, open_id: &str) -> Grant {
        self.grant_scopes(open_id, &ALL_SCOPES)
    }

    pub fn grant_scopes(&self, open_id: &str, scopes: &[&str]) -> Grant {
        let mut st = self.shared.state();
        st.usernames
            .entry(open_id.into())
            .or_insert_with(|| format!("creator_{open_id}"));
        let (access_token, refresh_token) =
            st.issue(open_id, scopes.iter().map(|s| s.to_string()).collect());
        let expires_at = st.now() + st.opts.access_ttl;
        Grant {
            open_id: open_id.into(),
            access_token,
            refresh_token,
            expires_at,
        }
    }

    /// Mints an authorization `code` for the token endpoint.
    pub fn mint_code(&self, open_id: &str) -> String {
        let mut st = self.shared.state();
        let code = format!("tt-code-{}", st.next_id());
        st.codes.insert(code.clone(), open_id.into());
        st.usernames
            .entry(open_id.into())
            .or_insert_with(|| format!("creator_{open_id}"));
        code
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.shared.state().clock_offset += Duration::from_std(by).unwrap_or(Duration::zero());
    }

    pub fn expire_token(&self, access_token: &str) {
        let mut st = self.shared.state();
        let past = st.now() - Duration::seconds(1);
        if let Some(t) = st.tokens.get_mut(access_token) {
            t.expires_at = past;
        }
    }

    /// The creator revokes the app (`/v2/oauth/revoke/` does the same).
    pub fn revoke(&self, open_id: &str) {
        let mut st = self.shared.state();
        st.tokens
            .values_mut()
            .filter(|t| t.open_id == open_id)
            .for_each(|t| t.revoked = true);
        st.refresh
            .values_mut()
            .filter(|t| t.open_id == open_id)
            .for_each(|t| t.dead = true);
    }

    pub fn revoke_refresh_token(&self, refresh_token: &str) {
        if let Some(r) = self.shared.state().refresh.get_mut(refresh_token) {
            r.dead = true;
        }
    }

    /// The next publish ends FAILED with this `fail_reason` (content rejected by TikTok).
    pub fn fail_next_publish(&self, fail_reason: &str) {
        self.shared.state().fail_next = Some(fail_reason.into());
    }

    pub fn inject(&self, fault: Fault) {
        faults::lock(&self.shared.faults).inject(fault);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        faults::lock(&self.shared.faults).requests()
    }

    pub fn calls(&self, endpoint: &str) -> u32 {
        faults::lock(&self.shared.faults).calls(endpoint)
    }

    pub fn publishes(&self) -> Vec<FakePublish> {
        self.shared.state().publishes.clone()
    }

    /// From now on `status/fetch` answers PUBLISH_COMPLETE with an empty id list for this many
    /// polls of each publish (counted from its first poll); 0 names the ids at once.
    pub fn set_id_empty_polls(&self, polls: u32) {
        self.shared.state().opts.id_empty_polls = polls;
    }

    /// Sets the counters of the post published as `remote_id` (its post id or publish id);
    /// `None` when the fake holds no such post.
    pub fn set_stats(&self, remote_id: &str, stats: VideoStats) -> Option<()> {
        let mut st = self.shared.state();
        let p = st
            .publishes
            .iter_mut()
            .find(|p| p.post_id == remote_id || p.publish_id == remote_id)?;
        p.stats = stats;
        Some(())
    }

    /// Accepted content/init calls (each is a post TikTok will try to make).
    pub fn commits(&self) -> u32 {
        self.shared.state().commits
    }
}
