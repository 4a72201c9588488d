//! A faithful fake of Instagram's Content Publishing API (PLATFORMS.md §6.3) on 127.0.0.1:0:
//! container creation that really fetches `image_url` and checks JPEG / size / aspect ratio,
//! a scripted IN_PROGRESS → FINISHED → PUBLISHED status progression (EXPIRED after 24 h),
//! `media_publish` with the 9007/2207027, 2207020 and 2207042 (quota) errors,
//! `content_publishing_limit`, recent media, Page-token derivation, Instagram-Login refresh,
//! media insights (PLATFORMS.md §9.7), compliance-kit faults, and a request journal at `GET /__fake/requests`.

mod insights;
mod routes;
mod state;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pressroom_connector::testkit::media::ImageServer;
use pressroom_connector::testkit::{
    Account, Chaos, ChaosControls, ChaosCounts, ChaosRates, FakeControls, FakeListener, FakeServer,
    Fault, InsightsControls, KitFeatures, counts_of,
};
use pressroom_connector::{AccountRef, Connector, Credentials, PostDraft, PostMetrics};
use secrecy::{ExposeSecret, SecretString};

pub use connector_meta_graph::fake::Recorded;
pub use state::{FakeComment, FakeContainer, FakeMedia};
use state::{Page, State, TokenKind};

use crate::{InstagramConfig, InstagramConnector};

const APP_ID: &str = "fake-app";
const APP_SECRET: &str = "fake-app-secret";

/// A running fake plus a connector pointed at it (Facebook Login flavour). Dropping it stops
/// the server.
pub struct FakeInstagram {
    server: FakeServer,
    shared: Arc<routes::Shared>,
    images: ImageServer,
    connector: Arc<InstagramConnector>,
    seq: AtomicU64,
}

impl FakeInstagram {
    /// Starts the fake; its connector has a 1 s request timeout and 20 ms status polls.
    pub async fn start() -> std::io::Result<Self> {
        let listener = FakeListener::bind().await?;
        let base = listener.base_url();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(routes::Shared {
            state: Mutex::new(State::new()),
            hang: Duration::from_secs(3),
            http,
        });
        let app = axum::Router::new()
            .route("/__fake/requests", axum::routing::get(routes::journal))
            .fallback(routes::dispatch)
            .with_state(shared.clone());
        let server = listener.serve(app, "instagram");
        let fake = Self {
            server,
            shared,
            images: ImageServer::start().await?,
            connector: Arc::new(
                InstagramConnector::new(Self::config_for(&base)).map_err(std::io::Error::other)?,
            ),
            seq: AtomicU64::new(1),
        };
        Ok(fake)
    }

    fn config_for(base: &str) -> InstagramConfig {
        let base = base.to_owned();
        let mut cfg = InstagramConfig::new(APP_ID, SecretString::from(APP_SECRET));
        cfg.facebook_graph_base_url = base.clone();
        cfg.instagram_graph_base_url = base.clone();
        cfg.dialog_base_url = base.clone();
        cfg.instagram_api_base_url = base;
        cfg.request_timeout_secs = 1;
        cfg.status_poll_interval_ms = 20;
        cfg.status_poll_max = 10;
        cfg
    }

    /// Config pointing at this fake (every host), for building other connectors.
    pub fn config(&self) -> InstagramConfig {
        Self::config_for(&self.server.base_url())
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn connector_handle(&self) -> Arc<InstagramConnector> {
        self.connector.clone()
    }

    pub fn images(&self) -> &ImageServer {
        &self.images
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        routes::lock(&self.shared)
    }

    /// Media published for an IG user.
    pub fn media(&self, ig: &str) -> Vec<FakeMedia> {
        self.state()
            .media
            .iter()
            .filter(|m| m.ig_user == ig)
            .cloned()
            .collect()
    }

    /// Every comment on `ig`'s media, oldest first.
    pub fn comments(&self, ig: &str) -> Vec<FakeComment> {
        let st = self.state();
        let own: Vec<&str> = st
            .media
            .iter()
            .filter(|m| m.ig_user == ig)
            .map(|m| m.id.as_str())
            .collect();
        st.comments
            .iter()
            .filter(|c| own.contains(&c.media_id.as_str()))
            .cloned()
            .collect()
    }

    /// Whether a story container's `caption` is refused (the default) or ignored.
    pub fn set_reject_story_caption(&self, reject: bool) {
        self.state().reject_story_caption = reject;
    }

    /// Takes `instagram_manage_comments` away from every token (or gives it back).
    pub fn set_comments_permitted(&self, permitted: bool) {
        self.state().comments_permitted = permitted;
    }

    pub fn containers(&self) -> Vec<FakeContainer> {
        self.state().containers.values().cloned().collect()
    }

    pub fn containers_created(&self) -> usize {
        self.state().containers_created
    }

    /// From now on Graph refuses `metric` with #100 as a retired name (to exercise the
    /// connector's one-by-one fallback with a name it asks for).
    pub fn deprecate_metric(&self, metric: &str) {
        self.state().insights_deprecated.insert(metric.to_owned());
    }

    /// How long after publishing a media's insights answer empty `data` (default 0; Meta
    /// takes up to 48 h).
    pub fn set_insights_delay(&self, delay: Duration) {
        self.state().insights_delay = chrono::Duration::from_std(delay).unwrap_or_default();
    }

    /// The viewers every story has (`None`: plenty); under 5, its insights answer code 10
    /// "Not enough viewers".
    pub fn set_story_viewers(&self, viewers: Option<u64>) {
        self.state().story_viewers = viewers;
    }

    /// Deletes a published media, as a person would in the app.
    pub fn delete_media(&self, id: &str) {
        self.state().media.retain(|m| m.id != id);
    }

    /// Successful `media_publish` calls.
    pub fn commits(&self) -> usize {
        self.state().commits
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state().journal.clone()
    }

    /// The 24 h publishing quota `content_publishing_limit` reports and `media_publish` enforces.
    pub fn set_quota_total(&self, total: u64) {
        self.state().quota_total = total;
    }

    /// Status polls a new container answers IN_PROGRESS before FINISHED.
    pub fn set_in_progress_polls(&self, polls: u32) {
        self.state().in_progress_polls = polls;
    }

    /// An Instagram-Login account whose long-lived token was issued at `issued_at`.
    pub fn instagram_login_account(&self, issued_at: DateTime<Utc>) -> Account {
        let mut st = self.state();
        let ig = st.id();
        let page = st.id();
        st.igs.insert(ig.clone(), page.clone());
        st.pages.insert(
            page,
            Page {
                owner: String::new(),
                ig: ig.clone(),
            },
        );
        let token = st.mint(TokenKind::IgLogin { ig: ig.clone() }, "IGAALONG", issued_at);
        Account {
            account: AccountRef {
                id: format!("acct-{ig}"),
                workspace_id: "ws-test".into(),
                external_id: ig.clone(),
            },
            credentials: Credentials {
                access_token: SecretString::from(token),
                refresh_token: None,
                expires_at: Some(issued_at + chrono::Duration::days(60)),
                extra: serde_json::json!({ "ig_user_id": ig }),
            },
        }
    }

    /// A new Instagram-Login user and the one-time code the browser would bring back.
    pub fn mint_instagram_login_code(&self) -> (String, String) {
        let mut st = self.state();
        let ig = st.id();
        let page = st.id();
        st.igs.insert(ig.clone(), page.clone());
        st.pages.insert(
            page,
            Page {
                owner: String::new(),
                ig: ig.clone(),
            },
        );
        let code = format!("igcode-{}", st.id());
        st.codes.insert(code.clone(), ig.clone());
        (code, ig)
    }

    /// Moves the fake's clock forward (containers expire after 24 h, IG-Login tokens age).
    pub fn advance_clock(&self, by: Duration) {
        let mut st = self.state();
        st.clock_offset += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
    }

    /// Every token value the fake has issued (for checking none is stored in plaintext).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state().tokens.keys().cloned().collect()
    }

    pub fn expire_token(&self, token: &str) {
        if let Some(t) = self.state().tokens.get_mut(token) {
            t.expired = true;
        }
    }
}

#[async_trait::async_trait]
impl FakeControls for FakeInstagram {
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
        let mut st = self.state();
        let user = st.id();
        let page = st.id();
        let ig = st.id();
        st.pages.insert(
            page.clone(),
            Page {
                owner: user.clone(),
                ig: ig.clone(),
            },
        );
        st.igs.insert(ig.clone(), page.clone());
        let ut = st.mint(TokenKind::User { user }, "EAALONG", Utc::now());
        let pt = st.mint(
            TokenKind::Page { page: page.clone() },
            "EAAPAGE",
            Utc::now(),
        );
        Account {
            account: AccountRef {
                id: format!("acct-{ig}"),
                workspace_id: "ws-test".into(),
                external_id: ig.clone(),
            },
            credentials: InstagramConnector::credentials_for_page(
                &ig,
                &page,
                SecretString::from(pt),
                SecretString::from(ut),
            ),
        }
    }

    async fn valid_draft(&self) -> PostDraft {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let media = match self.images.jpeg_media(1080, 1350) {
            Ok(m) => m,
            Err(e) => panic!("fake instagram: cannot host a sample image: {e}"),
        };
        PostDraft {
            cover: 0,
            format: pressroom_connector::PostFormat::Single,
            caption: format!("New drop #{n} #pressroom @friend"),
            media: vec![media],
        }
    }

    async fn inject(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    async fn expire_access_token(&self, account: &Account) {
        self.expire_token(account.credentials.access_token.expose_secret());
    }

    async fn revoke_refresh(&self, account: &Account) {
        if let Some(t) = &account.credentials.refresh_token
            && let Some(t) = self.state().tokens.get_mut(t.expose_secret())
        {
            t.revoked = true;
        }
    }

    async fn published_count(&self, account: &Account) -> usize {
        self.media(&account.account.external_id).len()
    }

    fn rejection_reason(&self) -> String {
        "could not be fetched".into()
    }
}

#[async_trait::async_trait]
impl InsightsControls for FakeInstagram {
    /// Stores the numbers under Instagram's names for the media `remote_id`, as its product
    /// type has them (a story has no likes, comments or saves; no media has clicks).
    async fn set_post_metrics(&self, remote_id: &str, metrics: &PostMetrics) -> PostMetrics {
        let mut st = self.state();
        let product = st
            .media
            .iter()
            .find(|m| m.id == remote_id)
            .map(|m| m.media_product_type)
            .unwrap_or("FEED");
        st.insights
            .insert(remote_id.to_owned(), insights::native(metrics, product));
        insights::reported(metrics, product)
    }

    /// The account's tokens lose `instagram_manage_insights`: its media's insights answer
    /// code 10 "Application does not have permission for this action".
    async fn revoke_insights(&self, account: &Account) {
        self.state()
            .insights_revoked
            .insert(account.account.external_id.clone());
    }
}

impl ChaosControls for FakeInstagram {
    fn set_chaos(&self, rates: ChaosRates) {
        self.state().chaos = Chaos::new(rates);
    }

    /// Page and Instagram-Login tokens expire; the user tokens that re-derive Page tokens stay
    /// valid.
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
