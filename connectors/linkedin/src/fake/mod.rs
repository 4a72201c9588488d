//! A fake of `api.linkedin.com` and `www.linkedin.com` (PLATFORMS.md §6.4) on 127.0.0.1:0.
//!
//! It follows the real paths, fields, status codes, error bodies and headers: versioned
//! `/rest` calls need `LinkedIn-Version` (sunset → 426) and `X-Restli-Protocol-Version: 2.0.0`;
//! tokens are checked on every call (unknown 65600, expired 65602 by the fake clock, revoked
//! 65601); the upload URL points back at the fake; posts answer 201 with `x-restli-id` and an
//! empty body; commentary with an unescaped little-text character is silently truncated, as
//! LinkedIn does. It records posts, counts commits, and takes scripted faults. Post statistics
//! and member analytics (PLATFORMS.md §9.7) are served by `insights`.

mod chaos;
mod controls;
mod faults;
mod insights;
mod routes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use pressroom_connector::testkit::{ChaosHook, FakeListener, FakeServer};
use secrecy::SecretString;
use serde::Serialize;
use url::Url;

pub use faults::{Fault, FaultAction, RecordedRequest};
pub use insights::STRING_METRIC_TYPE_FROM;

use crate::LinkedInConfig;

/// The fake's client id and secret; `config()` carries them.
pub const CLIENT_ID: &str = "fake-linkedin-client";
pub const CLIENT_SECRET: &str = "fake-linkedin-secret";

/// Knobs for the platform's behaviour.
#[derive(Clone, Debug)]
pub struct FakeOptions {
    /// `LinkedIn-Version` values that answer 426.
    pub sunset_versions: HashSet<String>,
    /// Whether the app is an MDP partner with programmatic refresh tokens.
    pub refresh_tokens: bool,
    /// How long an uploaded image stays PROCESSING (by the fake clock) before it is AVAILABLE.
    /// Until then `POST /rest/posts` with it answers 422. Zero: AVAILABLE at once.
    pub image_processing: std::time::Duration,
    /// How long after its creation a post shows in `GET /rest/posts?q=author`.
    pub listing_lag: std::time::Duration,
    /// Posts one author may create per UTC day; past it `POST /rest/posts` answers LinkedIn's
    /// daily-limit 429 (`… MEMBER DAY limit …`) until 00:00 UTC. `None`: no cap.
    pub daily_post_limit: Option<u32>,
    /// Access token lifetime (LinkedIn: 60 days).
    pub access_ttl: Duration,
    /// Refresh token lifetime from the first grant (LinkedIn: 365 days, never extended).
    pub refresh_ttl: Duration,
    /// Chaos: how long a lost answer is held (past the kit connector's 1 s timeout).
    pub lost_answer_hold: std::time::Duration,
    /// Chaos: the share of 5xx answers to `POST /rest/posts` that created the post anyway
    /// (PLATFORMS.md §3.3: a 5xx on the create may still have created it).
    pub server_error_creates: f64,
    /// The scopes every new grant carries (the token endpoint's `scope`). The insights
    /// endpoints check `r_member_postAnalytics` / `rw_organization_admin`; see `grant_with_scopes`.
    pub scopes: Vec<String>,
    /// The `queryType`s `memberCreatorPostAnalytics` accepts; any other answers 400.
    /// POST_SAVE is in the 2026-03 docs only: drop it to play an app that LinkedIn refuses it.
    pub member_query_types: Vec<String>,
    /// The compliance kit's `connect_account` connects an organization (administered by a
    /// fresh member) instead of a member.
    pub kit_organizations: bool,
}

/// The scopes a grant carries by default: publishing and both analytics scopes.
pub const DEFAULT_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "w_member_social",
    "w_organization_social",
    "r_member_postAnalytics",
    "rw_organization_admin",
];

/// Member analytics `queryType`s (PLATFORMS.md §9.3B), in the order the fake knows them.
pub const MEMBER_QUERY_TYPES: [&str; 6] = [
    "IMPRESSION",
    "MEMBERS_REACHED",
    "REACTION",
    "COMMENT",
    "RESHARE",
    "POST_SAVE",
];

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            sunset_versions: ["202301", "202302", "202303"].map(String::from).into(),
            refresh_tokens: true,
            image_processing: std::time::Duration::ZERO,
            listing_lag: std::time::Duration::ZERO,
            daily_post_limit: None,
            access_ttl: Duration::seconds(5_184_000),
            refresh_ttl: Duration::days(365),
            lost_answer_hold: std::time::Duration::from_millis(2000),
            server_error_creates: 0.3,
            scopes: DEFAULT_SCOPES.map(String::from).to_vec(),
            member_query_types: MEMBER_QUERY_TYPES.map(String::from).to_vec(),
            kit_organizations: false,
        }
    }
}

/// LinkedIn's 429 body when a daily quota is spent (window named, no `Retry-After`).
pub const DAILY_LIMIT_MESSAGE: &str =
    "Resource level throttle MEMBER DAY limit for calls to this resource is reached.";
/// A 429 that names no daily window: a short throttle / LinkedIn's infrastructure protection.
pub const THROTTLE_MESSAGE: &str = "Too many requests";

/// LinkedIn's 429 body (`serviceErrorCode` 101, `TOO_MANY_REQUESTS`) with `message`.
pub fn throttle_body(message: &str) -> serde_json::Value {
    serde_json::json!({
        "status": 429, "serviceErrorCode": 101, "code": "TOO_MANY_REQUESTS", "message": message
    })
}

/// Tokens handed to a test, as the token endpoint would.
#[derive(Clone, Debug)]
pub struct Grant {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
}

/// A post the fake holds.
#[derive(Clone, Debug, Serialize)]
pub struct FakePost {
    pub id: String,
    pub author: String,
    /// As stored: cut at the first unescaped reserved character, like LinkedIn.
    pub commentary: String,
    /// True when the stored commentary is shorter than what was sent.
    pub truncated: bool,
    pub image: Option<String>,
    /// `content.media.altText`, as sent.
    pub alt_text: Option<String>,
    /// A MultiImage post's images and their alt texts, in order (empty otherwise).
    pub images: Vec<(String, Option<String>)>,
    pub visibility: String,
    pub created_at: DateTime<Utc>,
}

/// A comment made through `/rest/socialActions/{urn}/comments`.
#[derive(Clone, Debug, Serialize)]
pub struct FakeComment {
    /// `urn:li:comment:({post urn},{n})`.
    pub id: String,
    /// The post commented on.
    pub object: String,
    pub actor: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub member: String,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    pub scopes: Vec<String>,
}

impl Token {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Refresh {
    pub member: String,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    /// What a refreshed access token carries: the original grant's scopes.
    pub scopes: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Image {
    pub owner: String,
    /// WAITING_UPLOAD, PROCESSING (until `ready_at`), PROCESSING_FAILED.
    pub status: &'static str,
    pub ready_at: Option<DateTime<Utc>>,
    pub upload_expires_at: DateTime<Utc>,
    pub bytes: Option<usize>,
}

impl Image {
    /// The status LinkedIn reports at `now`: PROCESSING turns AVAILABLE at `ready_at`.
    pub fn status_at(&self, now: DateTime<Utc>) -> &'static str {
        match (self.status, self.ready_at) {
            ("PROCESSING", Some(at)) if at <= now => "AVAILABLE",
            (s, _) => s,
        }
    }
}

#[derive(Debug)]
pub(crate) struct State {
    pub opts: FakeOptions,
    pub clock_offset: Duration,
    pub seq: u64,
    pub tokens: HashMap<String, Token>,
    pub refresh: HashMap<String, Refresh>,
    pub codes: HashMap<String, String>,
    /// member id → organization ids the member administers.
    pub admins: HashMap<String, Vec<String>>,
    pub images: HashMap<String, Image>,
    pub uploads: HashMap<String, String>,
    pub posts: Vec<FakePost>,
    pub comments: Vec<FakeComment>,
    pub commits: u32,
    /// Post URN → its numbers under LinkedIn's names (`impressionCount`… for organization
    /// posts, `IMPRESSION`… for member posts); a post without an entry has no data yet.
    pub stats: HashMap<String, BTreeMap<String, u64>>,
}

impl State {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    pub fn next_id(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// New tokens for `member`: a refresh keeps its grant's scopes, a new grant gets the
    /// configured ones.
    pub fn issue(&mut self, member: &str, refresh: Option<String>) -> (String, Option<String>) {
        let scopes = refresh
            .as_ref()
            .and_then(|r| self.refresh.get(r))
            .map(|r| r.scopes.clone())
            .unwrap_or_else(|| self.opts.scopes.clone());
        self.issue_with(member, refresh, scopes)
    }

    pub fn issue_with(
        &mut self,
        member: &str,
        refresh: Option<String>,
        scopes: Vec<String>,
    ) -> (String, Option<String>) {
        let n = self.next_id();
        let access = format!("li-at-{n}");
        let refresh = match refresh {
            Some(r) => Some(r),
            None if self.opts.refresh_tokens => {
                let r = format!("li-rt-{n}");
                let expires_at = self.now() + self.opts.refresh_ttl;
                self.refresh.insert(
                    r.clone(),
                    Refresh {
                        member: member.into(),
                        expires_at,
                        revoked: false,
                        scopes: scopes.clone(),
                    },
                );
                Some(r)
            }
            None => None,
        };
        let expires_at = self.now() + self.opts.access_ttl;
        self.tokens.insert(
            access.clone(),
            Token {
                member: member.into(),
                expires_at,
                revoked: false,
                scopes,
            },
        );
        (access, refresh)
    }
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub faults: faults::SharedFaults,
    /// Random failures (`ChaosControls::set_chaos`); off until set.
    pub chaos: ChaosHook,
    pub base: String,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake; the server stops when this is dropped.
pub struct FakeLinkedIn {
    shared: Arc<Shared>,
    /// Holds the sample renditions the compliance kit's drafts point at.
    media: pressroom_connector::testkit::media::ImageServer,
    server: FakeServer,
}

impl FakeLinkedIn {
    /// Starts the fake with LinkedIn's default behaviour.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(FakeOptions::default()).await
    }

    pub async fn start_with(opts: FakeOptions) -> std::io::Result<Self> {
        let listener = FakeListener::bind().await?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                opts,
                clock_offset: Duration::zero(),
                seq: 0,
                tokens: HashMap::new(),
                refresh: HashMap::new(),
                codes: HashMap::new(),
                admins: HashMap::new(),
                images: HashMap::new(),
                uploads: HashMap::new(),
                posts: Vec::new(),
                comments: Vec::new(),
                commits: 0,
                stats: HashMap::new(),
            }),
            faults: Default::default(),
            chaos: ChaosHook::default(),
            base: listener.base_url(),
        });
        let server = listener.serve(routes::router(shared.clone()), "linkedin");
        let media = pressroom_connector::testkit::media::ImageServer::start().await?;
        Ok(Self {
            shared,
            media,
            server,
        })
    }

    /// `http://127.0.0.1:{port}`; serves both the API and the OAuth host.
    pub fn base_url(&self) -> Url {
        self.server.url()
    }

    /// A connector config pointed at this fake, with short polls for tests.
    pub fn config(&self) -> LinkedInConfig {
        let mut cfg = LinkedInConfig::new(CLIENT_ID, SecretString::from(CLIENT_SECRET))
            .with_base(&self.base_url());
        cfg.image_poll_interval_ms = 20;
        cfg.image_ready_timeout_secs = 5;
        cfg.timeout_secs = 5;
        cfg.throttle_backoff_secs = 1;
        // Whole seconds, rounded up, so reconcile never calls a lagging post absent.
        let lag = self.shared.state().opts.listing_lag;
        cfg.listing_lag_secs = lag.as_secs() + u64::from(lag.subsec_nanos() > 0);
        cfg
    }

    /// Issues tokens for a member directly (as if the OAuth dance had happened).
    pub fn grant(&self, member_id: &str) -> Grant {
        let mut st = self.shared.state();
        let (access_token, refresh) = st.issue(member_id, None);
        let expires_at = st.now() + st.opts.access_ttl;
        Grant {
            access_token,
            refresh_token: refresh.unwrap_or_default(),
            expires_at,
        }
    }

    /// Issues tokens carrying exactly `scopes` (a member who unticked a permission).
    pub fn grant_with_scopes(&self, member_id: &str, scopes: &[&str]) -> Grant {
        let mut st = self.shared.state();
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        let (access_token, refresh) = st.issue_with(member_id, None, scopes);
        let expires_at = st.now() + st.opts.access_ttl;
        Grant {
            access_token,
            refresh_token: refresh.unwrap_or_default(),
            expires_at,
        }
    }

    /// Mints an authorization `code` for the token endpoint (the browser step is never run).
    pub fn mint_code(&self, member_id: &str) -> String {
        let mut st = self.shared.state();
        let code = format!("li-code-{}", st.next_id());
        st.codes.insert(code.clone(), member_id.into());
        code
    }

    /// Makes `member_id` an ADMINISTRATOR of organization `org_id`.
    pub fn add_admin(&self, member_id: &str, org_id: &str) {
        self.shared
            .state()
            .admins
            .entry(member_id.into())
            .or_default()
            .push(org_id.into());
    }

    /// Moves the fake clock forward (expires tokens and upload URLs).
    pub fn advance(&self, by: std::time::Duration) {
        let by = Duration::from_std(by).unwrap_or(Duration::zero());
        self.shared.state().clock_offset += by;
    }

    /// Expires one access token now.
    pub fn expire_token(&self, access_token: &str) {
        let mut st = self.shared.state();
        let past = st.now() - Duration::seconds(1);
        if let Some(t) = st.tokens.get_mut(access_token) {
            t.expires_at = past;
        }
    }

    /// Expires every access token issued so far (refresh tokens stay valid).
    pub fn expire_all_access_tokens(&self) {
        let mut st = self.shared.state();
        let past = st.now() - Duration::seconds(1);
        st.tokens.values_mut().for_each(|t| t.expires_at = past);
    }

    /// Answers the next `times` calls to `endpoint` with a short throttle: 429, LinkedIn's
    /// body naming no daily window, no `Retry-After`.
    pub fn throttle(&self, endpoint: &str, times: u32) {
        for _ in 0..times {
            self.inject(Fault::respond(
                endpoint,
                429,
                throttle_body(THROTTLE_MESSAGE),
            ));
        }
    }

    /// The member revokes the app: every access and refresh token of theirs dies.
    pub fn revoke_member(&self, member_id: &str) {
        let mut st = self.shared.state();
        st.tokens
            .values_mut()
            .filter(|t| t.member == member_id)
            .for_each(|t| t.revoked = true);
        st.refresh
            .values_mut()
            .filter(|t| t.member == member_id)
            .for_each(|t| t.revoked = true);
    }

    /// Revokes one refresh token (its access tokens keep working until they expire).
    pub fn revoke_refresh_token(&self, refresh_token: &str) {
        if let Some(r) = self.shared.state().refresh.get_mut(refresh_token) {
            r.revoked = true;
        }
    }

    pub fn inject(&self, fault: Fault) {
        faults::lock(&self.shared.faults).inject(fault);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        faults::lock(&self.shared.faults).requests()
    }

    /// Calls received by an endpoint (`"POST /rest/posts"`), faulted ones included.
    pub fn calls(&self, endpoint: &str) -> u32 {
        faults::lock(&self.shared.faults).calls(endpoint)
    }

    pub fn posts(&self) -> Vec<FakePost> {
        self.shared.state().posts.clone()
    }

    /// Every comment made through `/rest/socialActions/{urn}/comments`, oldest first.
    pub fn comments(&self) -> Vec<FakeComment> {
        self.shared.state().comments.clone()
    }

    /// Posts created (successful `POST /rest/posts`), the number tests compare with 1.
    pub fn commits(&self) -> u32 {
        self.shared.state().commits
    }

    /// Bytes received for an image URN, if uploaded.
    pub fn uploaded_bytes(&self, image_urn: &str) -> Option<usize> {
        self.shared
            .state()
            .images
            .get(image_urn)
            .and_then(|i| i.bytes)
    }
}
