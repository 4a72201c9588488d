//! The compliance kit's controls for the fake receiver.

use std::sync::Arc;

use pressroom_connector::testkit::{
    Account, ChaosControls, ChaosCounts, ChaosRates, FakeControls, Fault as KitFault,
};
use pressroom_connector::{AccountRef, Connector, Credentials, PostDraft};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{FakeReceiver, Fault, FaultAction};
use crate::Webhook;

const REJECTION: &str = "caption refused by the receiver's content policy";
const ENDPOINT: &str = "POST /hooks/pressroom";

#[async_trait::async_trait]
impl FakeControls for FakeReceiver {
    fn connector(&self) -> Arc<dyn Connector> {
        let mut cfg = self.config();
        cfg.timeout_secs = 1;
        match Webhook::new(cfg) {
            Ok(c) => Arc::new(c),
            Err(e) => panic!("building the webhook connector failed: {e}"),
        }
    }

    async fn connect_account(&self) -> Account {
        let dest = format!("dest-{}", self.shared.state().seq + 1);
        let (token, refresh) = self.grant(&dest);
        Account {
            account: AccountRef {
                id: format!("acc-{dest}"),
                workspace_id: "ws-kit".into(),
                external_id: dest,
            },
            credentials: Credentials {
                access_token: SecretString::from(token),
                refresh_token: Some(SecretString::from(refresh)),
                expires_at: None,
                extra: json!({}),
            },
        }
    }

    async fn valid_draft(&self) -> PostDraft {
        match self.media.jpeg_media(1080, 1080) {
            Ok(m) => PostDraft {
                cover: 0,
                format: pressroom_connector::PostFormat::Single,
                caption: "Autumn launch — today only".into(),
                media: vec![m],
            },
            Err(e) => panic!("hosting the sample rendition failed: {e}"),
        }
    }

    async fn inject(&self, fault: KitFault) {
        match fault {
            // Prepare makes no network call, so only the delivery can fail.
            KitFault::ServerError { times, .. } => {
                for _ in 0..times {
                    self.inject(Fault::respond(ENDPOINT, 503, json!("Service Unavailable")));
                }
            }
            KitFault::RateLimited { retry_after, .. } => self.inject(Fault::next(
                ENDPOINT,
                FaultAction::Respond {
                    status: 429,
                    body: json!({ "error": "slow down" }),
                    headers: vec![("Retry-After".into(), retry_after.as_secs().to_string())],
                },
            )),
            KitFault::RejectContent => {
                self.inject(Fault::respond(ENDPOINT, 422, json!({ "error": REJECTION })))
            }
            KitFault::AcceptThenHang => self.inject(Fault::next(
                ENDPOINT,
                FaultAction::AcceptThenStall { ms: 2500 },
            )),
            other => panic!("webhook fake cannot produce {other:?}"),
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
        self.posts()
            .iter()
            .filter(|p| p.account == account.account.external_id)
            .count()
    }

    fn rejection_reason(&self) -> String {
        REJECTION.into()
    }
}

/// "Tokens expire mid-run", for a receiver: its bearer tokens expire (RFC 6750
/// `invalid_token`) and the connector renews them at the receiver's `token_url`. Signatures
/// cannot expire in flight: each delivery is signed when it is sent.
impl ChaosControls for FakeReceiver {
    fn set_chaos(&self, rates: ChaosRates) {
        self.shared.chaos.set(rates);
    }

    fn expire_all_access_tokens(&self) {
        self.expire_all_tokens();
    }

    fn chaos_injected(&self) -> ChaosCounts {
        self.shared.chaos.counts()
    }
}
