//! A fake of `businessapi.snapchat.com` and `accounts.snapchat.com` (PLATFORMS.md §6.6) on
//! 127.0.0.1:0: OAuth (code and refresh grants, configurable `expires_in`, refresh answers with
//! or without a new refresh token), `my_profile`, media objects that require a base64 32-byte
//! key and 16-byte IV, multipart ADD/FINALIZE at the returned paths, decryption and image checks
//! on FINALIZE (garbage ciphertext fails), media expiry after 24 h, stories and saved stories
//! (title ≤ 45) and their listings, a "not allowlisted" switch (403 on every Public Profile
//! call), 401 for expired tokens by the fake clock, and Snap's `request_status` envelopes.
//! A story shows in its list only after `FakeOptions::listing_lag`; under chaos (`chaos.rs`)
//! calls fail at random in Snap's words. Per-asset stats (`stats.rs`) validate asset type,
//! fields, granularity and times, and model the unauthorized public tier.

mod chaos;
mod controls;
mod faults;
mod routes;
mod stats;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use pressroom_connector::testkit::{ChaosHook, FakeListener, FakeServer};
use secrecy::SecretString;
use serde::Serialize;
use url::Url;

pub use faults::{Fault, FaultAction, RecordedRequest};

use crate::{PostAs, SnapchatConfig};

pub const CLIENT_ID: &str = "fake-snap-client";
pub const CLIENT_SECRET: &str = "fake-snap-secret";

#[derive(Clone, Debug)]
pub struct FakeOptions {
    /// 3600 (current Quick Start) or 1800 (older docs).
    pub access_ttl: Duration,
    /// Whether a refresh answer carries a new refresh token.
    pub rotate_refresh: bool,
    /// false: every Public Profile call answers 403, as for an app Snap has not allowlisted.
    pub allowlisted: bool,
    /// How long after posting a story takes to appear in `GET …/stories` (and saved stories).
    pub listing_lag: Duration,
    /// How long chaos holds a lost answer: past the kit connector's 1 s request timeout.
    pub lost_answer_hold: std::time::Duration,
    /// Snap's "~10 requests a second per access token" (PLATFORMS.md §5.5, §6.6): a bucket
    /// of this many calls per token, refilled at this many a second; a call that finds it
    /// empty answers a plain 429 (Snap sends no rate headers). `None` switches it off.
    pub requests_per_second_per_token: Option<u32>,
    /// What the compliance kit's connector (`FakeControls::connector`) posts a single image
    /// as. The kit's insights scenario measures a post 50 h old, which only a Saved Story
    /// still has numbers for.
    pub kit_post_as: PostAs,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            access_ttl: Duration::seconds(3600),
            rotate_refresh: false,
            allowlisted: true,
            listing_lag: Duration::zero(),
            lost_answer_hold: std::time::Duration::from_millis(2500),
            requests_per_second_per_token: Some(10),
            kit_post_as: PostAs::Story,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Grant {
    pub profile_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FakeMedia {
    pub id: String,
    pub profile_id: String,
    pub key: Vec<u8>,
    pub iv: Vec<u8>,
    pub parts: Vec<Vec<u8>>,
    /// PENDING_UPLOAD → READY on a good FINALIZE, or FAILED.
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// Decrypted size after FINALIZE.
    pub plain_bytes: Option<usize>,
}

/// A story or saved story the fake holds.
#[derive(Clone, Debug, Serialize)]
pub struct FakeStory {
    pub id: String,
    pub profile_id: String,
    pub media_id: String,
    pub kind: &'static str,
    pub title: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Its numbers under Snap's field names (`VIEWS`, `VIEWERS`, `SHARES`…); absent = 0.
    pub stats: HashMap<String, u64>,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub profile_id: String,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    pub opts: FakeOptions,
    pub clock_offset: Duration,
    pub seq: u64,
    pub tokens: HashMap<String, Token>,
    /// refresh token → (profile id, revoked)
    pub refresh: HashMap<String, (String, bool)>,
    pub codes: HashMap<String, String>,
    pub media: HashMap<String, FakeMedia>,
    pub stories: Vec<FakeStory>,
    pub reject_next_media: Option<String>,
    pub commits: u32,
    /// Per access token: calls left in its bucket and when it was last refilled.
    pub rate_buckets: HashMap<String, (f64, std::time::Instant)>,
    /// Calls refused by the per-token rate.
    pub rate_limited: u64,
    /// (asset type, field) pairs the stats endpoint refuses besides its lists.
    pub stats_refused: Vec<(String, String)>,
    /// Profiles without Story-metrics authorization (public tier).
    pub insights_revoked: HashSet<String>,
}

impl State {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }
    /// Takes one call from the token's bucket; false when it is empty (the call gets a 429).
    pub fn admit_call(&mut self, token: &str) -> bool {
        let Some(rate) = self.opts.requests_per_second_per_token else {
            return true;
        };
        let rate = f64::from(rate.max(1));
        let now = std::time::Instant::now();
        let (left, at) = self
            .rate_buckets
            .entry(token.to_string())
            .or_insert((rate, now));
        *left = (*left + now.duration_since(*at).as_secs_f64() * rate).min(rate);
        *at = now;
        if *left >= 1.0 {
            *left -= 1.0;
            true
        } else {
            self.rate_limited += 1;
            false
        }
    }

    pub fn next_id(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
    pub fn issue(&mut self, profile_id: &str, refresh: Option<String>) -> (String, String) {
        let n = self.next_id();
        let access = format!("snap-at-{n}");
        let refresh = refresh.unwrap_or_else(|| format!("snap-rt-{n}"));
        self.refresh
            .entry(refresh.clone())
            .or_insert((profile_id.into(), false));
        let expires_at = self.now() + self.opts.access_ttl;
        self.tokens.insert(
            access.clone(),
            Token {
                profile_id: profile_id.into(),
                expires_at,
                revoked: false,
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
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct FakeSnapchat {
    shared: Arc<Shared>,
    media: pressroom_connector::testkit::media::ImageServer,
    server: FakeServer,
}

impl FakeSnapchat {
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
                media: HashMap::new(),
                stories: Vec::new(),
                reject_next_media: None,
                commits: 0,
                rate_buckets: HashMap::new(),
                rate_limited: 0,
                stats_refused: Vec::new(),
                insights_revoked: HashSet::new(),
            }),
            faults: Default::default(),
            chaos: ChaosHook::default(),
        });
        let app = routes::router(shared.clone());
        let server = listener.serve(app, "snapchat");
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

    /// A connector config for this fake (both hosts), marked allowlisted.
    pub fn config(&self) -> SnapchatConfig {
        let mut cfg = SnapchatConfig::new(CLIENT_ID, SecretString::from(CLIENT_SECRET));
        cfg.api_base = self.base_url();
        cfg.accounts_base = self.base_url();
        cfg.allowlisted = true;
        cfg.timeout_secs = 5;
        // Covers this fake's listing lag, so an early "not listed" is never taken as absent.
        let lag = self.shared.state().opts.listing_lag;
        cfg.listing_lag_secs = u64::try_from(lag.num_seconds()).unwrap_or(0) + 1;
        cfg
    }

    pub fn media(&self) -> &pressroom_connector::testkit::media::ImageServer {
        &self.media
    }

    pub fn grant(&self, profile_id: &str) -> Grant {
        let mut st = self.shared.state();
        let (access_token, refresh_token) = st.issue(profile_id, None);
        let expires_at = st.now() + st.opts.access_ttl;
        Grant {
            profile_id: profile_id.into(),
            access_token,
            refresh_token,
            expires_at,
        }
    }

    pub fn mint_code(&self, profile_id: &str) -> String {
        let mut st = self.shared.state();
        let code = format!("snap-code-{}", st.next_id());
        st.codes.insert(code.clone(), profile_id.into());
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

    pub fn revoke_refresh_token(&self, refresh_token: &str) {
        if let Some(r) = self.shared.state().refresh.get_mut(refresh_token) {
            r.1 = true;
        }
    }

    pub fn set_allowlisted(&self, yes: bool) {
        self.shared.state().opts.allowlisted = yes;
    }

    /// FINALIZE of the next media object fails with this display message.
    pub fn reject_next_media(&self, message: &str) {
        self.shared.state().reject_next_media = Some(message.into());
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

    pub fn stories(&self) -> Vec<FakeStory> {
        self.shared.state().stories.clone()
    }

    pub fn media_objects(&self) -> Vec<FakeMedia> {
        self.shared.state().media.values().cloned().collect()
    }

    /// Stories and saved stories created.
    pub fn commits(&self) -> u32 {
        self.shared.state().commits
    }

    /// Sets the numbers of the story or saved story `id` under Snap's field names; `None`
    /// when the fake holds no such asset.
    pub fn set_story_stats(&self, id: &str, stats: &[(&str, u64)]) -> Option<()> {
        let mut st = self.shared.state();
        let story = st.stories.iter_mut().find(|s| s.id == id)?;
        story.stats = stats.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Some(())
    }

    /// From now on the stats endpoint refuses `field` for `asset_type` (`STORY`,
    /// `SAVED_STORY`, `SPOTLIGHT`) with a validation exception.
    pub fn refuse_stats_field(&self, asset_type: &str, field: &str) {
        self.shared
            .state()
            .stats_refused
            .push((asset_type.into(), field.into()));
    }

    /// The profile withdraws Story-metrics authorization: the public tier only.
    pub fn revoke_story_insights(&self, profile_id: &str) {
        self.shared
            .state()
            .insights_revoked
            .insert(profile_id.into());
    }

    /// Calls answered 429 because their access token was over its rate.
    pub fn rate_limited_calls(&self) -> u64 {
        self.shared.state().rate_limited
    }
}
