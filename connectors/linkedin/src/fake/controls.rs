//! The compliance kit's controls (`pressroom_connector::testkit::FakeControls`) for this fake:
//! each kit fault is produced the way LinkedIn produces it.

use std::sync::Arc;

use pressroom_connector::testkit::{
    Account, ChaosControls, ChaosCounts, ChaosRates, FakeControls, Fault as KitFault,
    InsightsControls, Step,
};
use pressroom_connector::{AccountRef, Connector, Credentials, PostDraft, PostMetrics};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{DAILY_LIMIT_MESSAGE, FakeLinkedIn, Fault, FaultAction, throttle_body};
use crate::LinkedIn;

/// The reason LinkedIn gives when the kit asks for a content rejection.
const REJECTION: &str = "Content is a duplicate of urn:li:share:7000000000000000001";

fn endpoint(step: Step) -> &'static str {
    match step {
        Step::Prepare => "POST /rest/images",
        Step::Commit => "POST /rest/posts",
        Step::Comment => "POST /rest/socialActions/{urn}/comments",
    }
}

#[async_trait::async_trait]
impl FakeControls for FakeLinkedIn {
    fn connector(&self) -> Arc<dyn Connector> {
        let mut cfg = self.config();
        // Short, so AcceptThenHang turns into "outcome unknown" quickly, and absence is final
        // after 1 s + 1 s + the fake's listing lag.
        cfg.timeout_secs = 1;
        cfg.image_ready_timeout_secs = 1;
        match LinkedIn::new(cfg) {
            Ok(c) => Arc::new(c),
            Err(e) => panic!("building the LinkedIn connector failed: {e}"),
        }
    }

    /// A fresh member, or (`kit_organizations`) an organization that fresh member administers.
    async fn connect_account(&self) -> Account {
        let (member, org) = {
            let mut st = self.shared.state();
            let n = st.next_id();
            (
                format!("kit{n}"),
                st.opts.kit_organizations.then(|| format!("9{n}")),
            )
        };
        let grant = self.grant(&member);
        let external_id = match &org {
            Some(org) => {
                self.add_admin(&member, org);
                format!("urn:li:organization:{org}")
            }
            None => format!("urn:li:person:{member}"),
        };
        Account {
            account: AccountRef {
                id: format!("acc-{member}"),
                workspace_id: "ws-kit".into(),
                external_id,
            },
            credentials: Credentials {
                access_token: SecretString::from(grant.access_token),
                refresh_token: Some(SecretString::from(grant.refresh_token)),
                expires_at: Some(grant.expires_at),
                extra: json!({}),
            },
        }
    }

    async fn valid_draft(&self) -> PostDraft {
        match self.media.jpeg_media(1200, 627) {
            Ok(m) => PostDraft {
                cover: 0,
                format: pressroom_connector::PostFormat::Single,
                caption: "Autumn launch (today only) #pressroom".into(),
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
                        json!({"status": 500, "message": "Internal Server Error"}),
                    ));
                }
            }
            // LinkedIn names no time (no Retry-After, no rate headers): its daily-limit 429,
            // which the connector defers to 00:00 UTC (`rate_limit_default` below).
            KitFault::RateLimited { step, .. } => self.inject(Fault::next(
                endpoint(step),
                FaultAction::Respond {
                    status: 429,
                    body: throttle_body(DAILY_LIMIT_MESSAGE),
                    headers: Vec::new(),
                },
            )),
            KitFault::RejectContent => self.inject(Fault::respond(
                "POST /rest/posts",
                422,
                json!({"status": 422, "message": format!("ERROR :: /commentary :: {REJECTION}")}),
            )),
            KitFault::AcceptThenHang => self.inject(Fault::next(
                "POST /rest/posts",
                FaultAction::AcceptThenStall { ms: 2500 },
            )),
            KitFault::AcceptCommentThenHang => self.inject(Fault::next(
                "POST /rest/socialActions/{urn}/comments",
                FaultAction::AcceptThenStall { ms: 2500 },
            )),
            other => panic!("LinkedIn fake cannot produce {other:?}"),
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
        let author = &account.account.external_id;
        self.posts().iter().filter(|p| &p.author == author).count()
    }

    fn rejection_reason(&self) -> String {
        REJECTION.into()
    }

    fn rate_limit_default(&self) -> Option<std::time::Duration> {
        Some(crate::daily_quota_reset(chrono::Utc::now()))
    }
}

/// Member posts report views, reach, likes, comments, shares and saves (POST_SAVE, while the
/// fake accepts it); organization posts views, reach, clicks, likes, comments and shares.
#[async_trait::async_trait]
impl InsightsControls for FakeLinkedIn {
    async fn set_post_metrics(&self, remote_id: &str, metrics: &PostMetrics) -> PostMetrics {
        let mut st = self.shared.state();
        if !st.posts.iter().any(|p| p.id == remote_id) {
            panic!("the LinkedIn fake holds no post {remote_id}");
        }
        super::insights::store_metrics(&mut st, remote_id, metrics)
    }

    async fn revoke_insights(&self, account: &Account) {
        let member = self
            .shared
            .state()
            .tokens
            .get(account.credentials.access_token.expose_secret())
            .map(|t| t.member.clone());
        if let Some(member) = member {
            self.revoke_analytics(&member);
        }
    }
}

impl ChaosControls for FakeLinkedIn {
    fn set_chaos(&self, rates: ChaosRates) {
        self.shared.chaos.set(rates);
    }

    fn expire_all_access_tokens(&self) {
        FakeLinkedIn::expire_all_access_tokens(self);
    }

    fn chaos_injected(&self) -> ChaosCounts {
        self.shared.chaos.counts()
    }
}
