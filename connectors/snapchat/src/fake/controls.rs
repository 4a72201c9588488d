//! The compliance kit's controls for this fake: each kit fault the way Snap produces it.

use std::sync::Arc;

use pressroom_connector::testkit::{
    Account, ChaosControls, ChaosCounts, ChaosRates, FakeControls, Fault as KitFault,
    InsightsControls, Step,
};
use pressroom_connector::{AccountRef, Connector, Credentials, PostDraft, PostMetrics};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{FakeSnapchat, Fault, FaultAction};
use crate::Snapchat;

/// Snap refuses bad media when the upload is finalized.
const REJECTION: &str = "Media does not meet Public Profile Story requirements";

fn endpoint(step: Step) -> &'static str {
    match step {
        Step::Prepare => "POST /v1/public_profiles/{profile_id}/media",
        Step::Commit => "POST /v1/public_profiles/{profile_id}/stories",
        // Snapchat has no comment API (PLATFORMS.md §8.5): nothing to fail.
        Step::Comment => "POST /v1/comments",
    }
}

fn envelope(code: &str, message: &str) -> serde_json::Value {
    json!({ "request_status": "ERROR", "request_id": "req-injected", "debug_message": message, "display_message": message, "error_code": code })
}

#[async_trait::async_trait]
impl FakeControls for FakeSnapchat {
    fn connector(&self) -> Arc<dyn Connector> {
        let mut cfg = self.config();
        cfg.timeout_secs = 1;
        cfg.post_as = self.shared.state().opts.kit_post_as;
        match Snapchat::new(cfg) {
            Ok(c) => Arc::new(c),
            Err(e) => panic!("building the Snapchat connector failed: {e}"),
        }
    }

    async fn connect_account(&self) -> Account {
        let profile = format!("pp-kit-{}", self.shared.state().next_id());
        let g = self.grant(&profile);
        Account {
            account: AccountRef {
                id: format!("acc-{profile}"),
                workspace_id: "ws-kit".into(),
                external_id: profile,
            },
            credentials: Credentials {
                access_token: SecretString::from(g.access_token),
                refresh_token: Some(SecretString::from(g.refresh_token)),
                expires_at: Some(g.expires_at),
                extra: json!({}),
            },
        }
    }

    async fn valid_draft(&self) -> PostDraft {
        match self.media.jpeg_media(1080, 1920) {
            Ok(m) => PostDraft {
                cover: 0,
                format: pressroom_connector::PostFormat::Single,
                caption: "Autumn launch".into(),
                media: vec![m],
            },
            Err(e) => panic!("writing the sample rendition failed: {e}"),
        }
    }

    async fn inject(&self, fault: KitFault) {
        match fault {
            KitFault::ServerError { step, times } => {
                for _ in 0..times {
                    self.inject(Fault::respond(
                        endpoint(step),
                        500,
                        envelope("E5000", "Internal server error"),
                    ));
                }
            }
            // Snap names no time (no rate headers): a plain 429.
            KitFault::RateLimited { step, .. } => self.inject(Fault::next(
                endpoint(step),
                FaultAction::Respond {
                    status: 429,
                    body: envelope("E4290", "Too many requests"),
                    headers: Vec::new(),
                },
            )),
            KitFault::RejectContent => self.reject_next_media(REJECTION),
            KitFault::AcceptThenHang => self.inject(Fault::next(
                endpoint(Step::Commit),
                FaultAction::AcceptThenStall { ms: 2500 },
            )),
            other => panic!("Snapchat fake cannot produce {other:?}"),
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
        self.stories()
            .iter()
            .filter(|s| s.profile_id == account.account.external_id)
            .count()
    }

    fn rejection_reason(&self) -> String {
        REJECTION.into()
    }

    fn rate_limit_default(&self) -> Option<std::time::Duration> {
        Some(crate::RATE_LIMIT_DEFAULT)
    }
}

/// "Tokens expire mid-run" is Snap's own: every access token issued so far is past its
/// `expires_in` (30–60 min) and answers 401; refresh tokens stay valid.
impl ChaosControls for FakeSnapchat {
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

/// Snap's per-asset stats have views (`VIEWS`), reach (`VIEWERS`) and shares (`SHARES`), less
/// any field the fake was told to refuse for the asset's type.
#[async_trait::async_trait]
impl InsightsControls for FakeSnapchat {
    async fn set_post_metrics(&self, remote_id: &str, metrics: &PostMetrics) -> PostMetrics {
        let stats = [
            ("VIEWS", metrics.views.unwrap_or(0)),
            ("VIEWERS", metrics.reach.unwrap_or(0)),
            ("SHARES", metrics.shares.unwrap_or(0)),
        ];
        if self.set_story_stats(remote_id, &stats).is_none() {
            panic!("the Snapchat fake holds no story {remote_id}");
        }
        let st = self.shared.state();
        let asset_type = match st.stories.iter().find(|s| s.id == remote_id) {
            Some(s) if s.kind == "saved_story" => "SAVED_STORY",
            _ => "STORY",
        };
        let reported = |field: &str, v: u64| {
            let refused = st
                .stats_refused
                .iter()
                .any(|(k, f)| k == asset_type && f == field);
            (!refused).then_some(v)
        };
        PostMetrics {
            views: reported("VIEWS", stats[0].1),
            reach: reported("VIEWERS", stats[1].1),
            shares: reported("SHARES", stats[2].1),
            ..PostMetrics::default()
        }
    }

    /// The profile falls back to the public tier: 403 on Story and Saved Story stats.
    async fn revoke_insights(&self, account: &Account) {
        self.revoke_story_insights(&account.account.external_id);
    }
}
