//! A faithful fake of the Graph API for Pages (PLATFORMS.md §6.2), on 127.0.0.1:0: versioned
//! paths, OAuth code and long-lived exchanges, paged `/me/accounts`, Page-token derivation,
//! `/{page-id}/photos` (multipart `source` or a `url` it really fetches), `/published_posts`,
//! usage headers, Graph error bodies, post insights and `/me/permissions` (PLATFORMS.md §9.7); scripted faults through the compliance-kit controls, and
//! a request journal at `GET /__fake/requests`.

mod insights;
mod routes;
mod state;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pressroom_connector::testkit::media::ImageServer;
use pressroom_connector::testkit::{
    Account, Chaos, ChaosControls, ChaosCounts, ChaosRates, FakeControls, FakeListener, FakeServer,
    Fault, InsightsControls, KitFeatures, counts_of,
};
use pressroom_connector::{AccountRef, Connector, Credentials, PostDraft, PostMetrics};
use secrecy::{ExposeSecret, SecretString};

pub use connector_meta_graph::fake::Recorded;
pub use state::{FakeComment, FakePost, FakeStory};
use state::{Page, State, TokenKind};

use crate::{FacebookConfig, FacebookConnector};

const APP_ID: &str = "fake-app";
const APP_SECRET: &str = "fake-app-secret";

/// A running fake plus a connector pointed at it. Dropping it stops the server.
pub struct FakeFacebook {
    server: FakeServer,
    shared: Arc<routes::Shared>,
    images: ImageServer,
    connector: Arc<FacebookConnector>,
    seq: AtomicU64,
    pub_lock: Mutex<()>,
}

impl FakeFacebook {
    /// Starts the fake; the connector it hands out has a 1 s request timeout so
    /// "accepted, then no answer" resolves quickly.
    pub async fn start() -> std::io::Result<Self> {
        let listener = FakeListener::bind().await?;
        let base_url = listener.base_url();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(routes::Shared {
            state: Mutex::new(State::new(APP_ID, APP_SECRET)),
            base_url: base_url.clone(),
            hang: Duration::from_secs(3),
            http,
        });
        let app = axum::Router::new()
            .route("/__fake/requests", axum::routing::get(routes::journal))
            .fallback(routes::dispatch)
            .with_state(shared.clone());
        let server = listener.serve(app, "facebook");
        let mut cfg = FacebookConfig::new(APP_ID, SecretString::from(APP_SECRET));
        cfg.graph_base_url = base_url.clone();
        cfg.dialog_base_url = base_url;
        cfg.api_version = "v25.0".into();
        cfg.request_timeout_secs = 1;
        // The fake lists a new post after 1 s (`set_listing_lag`).
        cfg.listing_lag_secs = 2;
        let connector = Arc::new(FacebookConnector::new(cfg).map_err(std::io::Error::other)?);
        Ok(Self {
            server,
            shared,
            images: ImageServer::start().await?,
            connector,
            seq: AtomicU64::new(1),
            pub_lock: Mutex::new(()),
        })
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The connector config pointing at this fake (for building more connectors, e.g. in the
    /// daemon's end-to-end tests). App id / secret are the fake's.
    pub fn config(&self) -> FacebookConfig {
        self.connector.config().clone()
    }

    pub fn connector_handle(&self) -> Arc<FacebookConnector> {
        self.connector.clone()
    }

    pub fn images(&self) -> &ImageServer {
        &self.images
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a user managing `pages` Pages; returns the user id.
    pub fn add_user(&self, pages: usize) -> String {
        let mut st = self.state();
        let user = st.id();
        for i in 0..pages {
            let id = st.id();
            st.pages.insert(
                id,
                Page {
                    name: format!("Page {i} of {user}"),
                    owner: user.clone(),
                    posts: Vec::new(),
                    stories: Vec::new(),
                },
            );
        }
        user
    }

    /// What the browser would bring back after the user approves: a one-time code.
    pub fn mint_code(&self, user: &str) -> String {
        let mut st = self.state();
        let code = format!("code-{}", st.id());
        st.codes.insert(code.clone(), user.to_owned());
        code
    }

    /// Page ids owned by `user`.
    pub fn pages_of(&self, user: &str) -> Vec<String> {
        self.state()
            .pages
            .iter()
            .filter(|(_, p)| p.owner == user)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Posts (published or not) on a Page.
    pub fn posts(&self, page: &str) -> Vec<FakePost> {
        self.state()
            .pages
            .get(page)
            .map(|p| p.posts.clone())
            .unwrap_or_default()
    }

    /// Photo stories on a Page.
    pub fn stories(&self, page: &str) -> Vec<FakeStory> {
        self.state()
            .pages
            .get(page)
            .map(|p| p.stories.clone())
            .unwrap_or_default()
    }

    /// Comments on a Page's posts, oldest first.
    pub fn comments(&self, page: &str) -> Vec<FakeComment> {
        let prefix = format!("{page}_");
        self.state()
            .comments
            .iter()
            .filter(|c| c.post_id.starts_with(&prefix))
            .cloned()
            .collect()
    }

    /// Takes `pages_manage_engagement` away from every Page token (or gives it back).
    pub fn set_comments_permitted(&self, permitted: bool) {
        self.state().comments_permitted = permitted;
    }

    /// From now on Graph refuses `metric` with #100 as it does the deprecated names (to
    /// exercise the connector's one-by-one fallback with a name it asks for).
    pub fn deprecate_metric(&self, metric: &str) {
        self.state().deprecated_metrics.insert(metric.to_owned());
    }

    /// Whether insights asked on a photo id answer #100 (the default) or its post's numbers.
    pub fn set_photo_id_insights_error(&self, error: bool) {
        self.state().photo_id_insights_error = error;
    }

    /// Deletes a post (by post or photo id), as a person would on Facebook.
    pub fn delete_post(&self, id: &str) {
        for page in self.state().pages.values_mut() {
            page.posts.retain(|p| p.post_id != id && p.photo_id != id);
        }
    }

    /// Successful publish calls, all Pages.
    pub fn commits(&self) -> usize {
        self.state().commits
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state().journal.clone()
    }

    /// Sets the usage percentage every response reports (and the BUC regain estimate, minutes).
    /// How long a new post takes to show in `/published_posts` (default 1 s).
    pub fn set_listing_lag(&self, lag: Duration) {
        self.state().listing_lag = chrono::Duration::from_std(lag).unwrap_or_default();
    }

    /// The share of chaos 500s (code 2) on `/photos` that come after the post was created
    /// (default one half); 0 makes every 500 a clean refusal.
    pub fn set_ambiguous_create_rate(&self, rate: f64) {
        self.state().ambiguous_create_rate = rate;
    }

    /// The next `times` photo creates make the post, then answer HTTP 500 with Graph code 2:
    /// the ambiguous answer Meta is reported to give (PLATFORMS.md §6.7).
    pub fn post_then_answer_server_error(&self, times: u32) {
        self.state().server_error_after_posting += times;
    }

    pub fn set_usage(&self, percent: u32, regain_minutes: u64) {
        let mut st = self.state();
        st.usage_percent = percent;
        st.regain_minutes = regain_minutes;
    }

    /// Every token value the fake has issued (for checking none is stored in plaintext).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state().tokens.keys().cloned().collect()
    }

    /// Expires one token by value.
    pub fn expire_token(&self, token: &str) {
        if let Some(t) = self.state().tokens.get_mut(token) {
            t.expired = true;
        }
    }

    /// Revokes one token by value.
    pub fn revoke_token(&self, token: &str) {
        if let Some(t) = self.state().tokens.get_mut(token) {
            t.revoked = true;
        }
    }
}

#[async_trait::async_trait]
impl FakeControls for FakeFacebook {
    fn connector(&self) -> Arc<dyn Connector> {
        self.connector.clone()
    }

    fn features(&self) -> KitFeatures {
        KitFeatures {
            refresh: true,
            rate_limit: true,
            reconcile: true,
        }
    }

    async fn connect_account(&self) -> Account {
        let user = self.add_user(1);
        let (page, user_token, page_token) = {
            let mut st = self.state();
            let page = st
                .pages
                .iter()
                .find(|(_, p)| p.owner == user)
                .map(|(id, _)| id.clone())
                .unwrap_or_default();
            let ut = st.mint(TokenKind::User { user: user.clone() }, "EAALONG");
            let pt = st.mint(TokenKind::Page { page: page.clone() }, "EAAPAGE");
            (page, ut, pt)
        };
        Account {
            account: AccountRef {
                id: format!("acct-{page}"),
                workspace_id: "ws-test".into(),
                external_id: page.clone(),
            },
            credentials: Credentials {
                access_token: SecretString::from(page_token),
                refresh_token: Some(SecretString::from(user_token)),
                expires_at: None,
                extra: serde_json::json!({"page_id": page}),
            },
        }
    }

    async fn valid_draft(&self) -> PostDraft {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let media = match self.images.jpeg_media(1080, 1080) {
            Ok(m) => m,
            Err(e) => panic!("fake facebook: cannot host a sample image: {e}"),
        };
        PostDraft {
            cover: 0,
            format: pressroom_connector::PostFormat::Single,
            caption: format!("Hello from Pressroom #{n} 🎉"),
            media: vec![media],
        }
    }

    async fn inject(&self, fault: Fault) {
        let _g = self.pub_lock.lock();
        self.state().faults.push_back(fault);
    }

    async fn expire_access_token(&self, account: &Account) {
        self.expire_token(account.credentials.access_token.expose_secret());
    }

    async fn revoke_refresh(&self, account: &Account) {
        if let Some(t) = &account.credentials.refresh_token {
            self.revoke_token(t.expose_secret());
        }
    }

    async fn published_count(&self, account: &Account) -> usize {
        self.posts(&account.account.external_id)
            .iter()
            .filter(|p| p.published)
            .count()
    }

    fn rejection_reason(&self) -> String {
        "Photos should be smaller than 4 MB".into()
    }
}

#[async_trait::async_trait]
impl InsightsControls for FakeFacebook {
    /// Stores the numbers under Graph's names for the feed post `remote_id` (or the post a
    /// photo id made).
    async fn set_post_metrics(&self, remote_id: &str, metrics: &PostMetrics) -> PostMetrics {
        let mut st = self.state();
        let post = st
            .pages
            .values()
            .flat_map(|p| &p.posts)
            .find(|p| p.photo_id == remote_id && !p.post_id.is_empty())
            .map(|p| p.post_id.clone())
            .unwrap_or_else(|| remote_id.to_owned());
        st.insights.insert(post, insights::native(metrics));
        insights::reported(metrics)
    }

    /// The account's user declines `read_insights`: its Page's insights answer 200 with
    /// empty data and `/me/permissions` says `declined`.
    async fn revoke_insights(&self, account: &Account) {
        let mut st = self.state();
        if let Some(owner) = st
            .pages
            .get(&account.account.external_id)
            .map(|p| p.owner.clone())
        {
            st.insights_revoked.insert(owner);
        }
    }
}

impl ChaosControls for FakeFacebook {
    fn set_chaos(&self, rates: ChaosRates) {
        self.state().chaos = Chaos::new(rates);
    }

    /// Page tokens expire; the user tokens that re-derive them stay valid.
    fn expire_all_access_tokens(&self) {
        for t in self.state().tokens.values_mut() {
            if !matches!(t.kind, TokenKind::User { .. }) {
                t.expired = true;
            }
        }
    }

    fn chaos_injected(&self) -> ChaosCounts {
        counts_of(self.state().chaos.as_ref())
    }
}
