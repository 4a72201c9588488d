//! The compliance kit's controls for this fake: each kit fault the way TikTok produces it.

use std::sync::Arc;
use std::time::Duration;

use pressroom_connector::testkit::{
    Account, ChaosControls, ChaosCounts, ChaosRates, FakeControls, Fault as KitFault,
    InsightsControls, Step,
};
use pressroom_connector::{AccountRef, Connector, Credentials, PostDraft, PostMetrics};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{FakeTikTok, Fault, FaultAction, VideoStats};
use crate::TikTok;

/// TikTok rejects content asynchronously: the publish ends FAILED with this `fail_reason`.
const REJECTION: &str = "picture_size_check_failed";

fn endpoint(step: Step) -> &'static str {
    match step {
        Step::Prepare => "POST /v2/post/publish/creator_info/query/",
        Step::Commit => "POST /v2/post/publish/content/init/",
        // The Content Posting API has no comment endpoint (PLATFORMS.md §8.4c).
        Step::Comment => "POST /v2/comment/",
    }
}

#[async_trait::async_trait]
impl FakeControls for FakeTikTok {
    fn connector(&self) -> Arc<dyn Connector> {
        let mut cfg = self.config();
        cfg.timeout_secs = 1;
        match TikTok::new(cfg) {
            Ok(c) => Arc::new(c),
            Err(e) => panic!("building the TikTok connector failed: {e}"),
        }
    }

    async fn connect_account(&self) -> Account {
        let open_id = format!("kit-oid-{}", self.shared.state().next_id());
        let g = self.grant(&open_id);
        Account {
            account: AccountRef {
                id: format!("acc-{open_id}"),
                workspace_id: "ws-kit".into(),
                external_id: open_id.clone(),
            },
            credentials: Credentials {
                access_token: SecretString::from(g.access_token),
                refresh_token: Some(SecretString::from(g.refresh_token)),
                expires_at: Some(g.expires_at),
                extra: json!({ "open_id": open_id }),
            },
        }
    }

    async fn valid_draft(&self) -> PostDraft {
        match self.media.jpeg_media(1080, 1350) {
            Ok(m) => PostDraft {
                cover: 0,
                format: pressroom_connector::PostFormat::Single,
                caption: "Autumn launch — today only #pressroom".into(),
                media: vec![m],
            },
            Err(e) => panic!("hosting the sample rendition failed: {e}"),
        }
    }

    async fn inject(&self, fault: KitFault) {
        match fault {
            KitFault::ServerError { step, times } => {
                for _ in 0..times {
                    self.inject(Fault::respond(endpoint(step), 500, json!({
                        "data": {},
                        "error": { "code": "internal_error", "message": "Something went wrong. Please try again later.", "log_id": "20261125000000INJECTED" }
                    })));
                }
            }
            // TikTok names no time (no Retry-After): the connector waits its configured window.
            KitFault::RateLimited { step, .. } => self.inject(Fault::next(endpoint(step), FaultAction::Respond {
                status: 429,
                body: json!({
                    "data": {},
                    "error": { "code": "rate_limit_exceeded", "message": "API rate limit was exceeded, please retry later.", "log_id": "20261125000000INJECTED" }
                }),
                headers: Vec::new(),
            })),
            KitFault::RejectContent => self.fail_next_publish(REJECTION),
            KitFault::AcceptThenHang => self.inject(Fault::next(
                "POST /v2/post/publish/content/init/",
                FaultAction::AcceptThenStall { ms: 2500 },
            )),
            other => panic!("TikTok fake cannot produce {other:?}"),
        }
    }

    async fn expire_access_token(&self, account: &Account) {
        self.expire_token(account.credentials.access_token.expose_secret());
    }

    async fn revoke_refresh(&self, account: &Account) {
        if let Some(r) = &account.credentials.refresh_token {
            self.revoke_refresh_token(r.expose_secret());
        }
    }

    async fn published_count(&self, account: &Account) -> usize {
        let open_id = &account.account.external_id;
        self.publishes()
            .iter()
            .filter(|p| &p.open_id == open_id && p.exists())
            .count()
    }

    fn rejection_reason(&self) -> String {
        REJECTION.into()
    }

    fn rate_limit_default(&self) -> Option<Duration> {
        Some(self.config().rate_limit_wait())
    }
}

/// "Tokens expire mid-run" is TikTok's own: every access token issued so far is past its
/// `expires_in`, answering 401 `access_token_invalid`; refresh tokens stay valid (and rotate).
impl ChaosControls for FakeTikTok {
    fn set_chaos(&self, rates: ChaosRates) {
        self.shared.chaos.set(rates);
    }

    fn expire_all_access_tokens(&self) {
        let mut st = self.shared.state();
        let past = st.now() - chrono::Duration::seconds(1);
        st.tokens.values_mut().for_each(|t| t.expires_at = past);
    }

    fn chaos_injected(&self) -> ChaosCounts {
        self.shared.chaos.counts()
    }
}

/// TikTok's video query has views, likes, comments and shares; no reach, saves or clicks.
#[async_trait::async_trait]
impl InsightsControls for FakeTikTok {
    async fn set_post_metrics(&self, remote_id: &str, metrics: &PostMetrics) -> PostMetrics {
        let stats = VideoStats {
            view_count: metrics.views.unwrap_or(0),
            like_count: metrics.likes.unwrap_or(0),
            comment_count: metrics.comments.unwrap_or(0),
            share_count: metrics.shares.unwrap_or(0),
        };
        if self.set_stats(remote_id, stats.clone()).is_none() {
            panic!("the TikTok fake holds no post {remote_id}");
        }
        PostMetrics {
            views: Some(stats.view_count),
            likes: Some(stats.like_count),
            comments: Some(stats.comment_count),
            shares: Some(stats.share_count),
            ..PostMetrics::default()
        }
    }

    /// The creator unticks `video.list`: every token of theirs loses it, and so do the ones a
    /// refresh issues until they connect again.
    async fn revoke_insights(&self, account: &Account) {
        let open_id = &account.account.external_id;
        let mut st = self.shared.state();
        st.insights_revoked.insert(open_id.clone());
        st.tokens
            .values_mut()
            .filter(|t| &t.open_id == open_id)
            .for_each(|t| t.scopes.retain(|s| s != "video.list"));
    }
}
