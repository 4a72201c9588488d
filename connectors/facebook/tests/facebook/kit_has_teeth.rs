//! The compliance kit must fail a connector that breaks the at-most-once rule: here a wrapper
//! that turns "outcome unknown" after the publish call into "transient" (so the runtime would
//! publish again) is run through the timeout scenario against the real fake.

use std::sync::Arc;

use connector_facebook::FacebookConnector;
use connector_facebook::fake::FakeFacebook;
use pressroom_connector::testkit::{Account, FakeControls, Fault, KitFeatures, scenarios};
use pressroom_connector::{
    Capabilities, Connector, ConnectorError, Credentials, PostDraft, Prepared, PublishCtx,
    Published, Reconciled, ValidationIssue,
};

struct RetriesBlindly(Arc<FacebookConnector>);

#[async_trait::async_trait]
impl Connector for RetriesBlindly {
    fn platform(&self) -> pressroom_connector::Platform {
        pressroom_connector::Platform::Facebook
    }
    fn capabilities(&self) -> &Capabilities {
        self.0.capabilities()
    }
    fn validate(&self, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
        self.0.validate(draft)
    }
    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError> {
        self.0.refresh(creds).await
    }
    async fn prepare(
        &self,
        ctx: &PublishCtx,
        draft: &PostDraft,
    ) -> Result<Prepared, ConnectorError> {
        self.0.prepare(ctx, draft).await
    }
    async fn commit(
        &self,
        ctx: &PublishCtx,
        prepared: &Prepared,
    ) -> Result<Published, ConnectorError> {
        match self.0.commit(ctx, prepared).await {
            Err(ConnectorError::OutcomeUnknown(why)) => Err(ConnectorError::transient(why)),
            other => other,
        }
    }
    async fn reconcile(
        &self,
        ctx: &PublishCtx,
        prepared: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        self.0.reconcile(ctx, prepared).await
    }
}

struct BrokenFake(FakeFacebook);

#[async_trait::async_trait]
impl FakeControls for BrokenFake {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(RetriesBlindly(self.0.connector_handle()))
    }
    fn features(&self) -> KitFeatures {
        self.0.features()
    }
    async fn connect_account(&self) -> Account {
        self.0.connect_account().await
    }
    async fn valid_draft(&self) -> PostDraft {
        self.0.valid_draft().await
    }
    async fn inject(&self, fault: Fault) {
        self.0.inject(fault).await
    }
    async fn expire_access_token(&self, account: &Account) {
        self.0.expire_access_token(account).await
    }
    async fn revoke_refresh(&self, account: &Account) {
        self.0.revoke_refresh(account).await
    }
    async fn published_count(&self, account: &Account) -> usize {
        self.0.published_count(account).await
    }
    fn rejection_reason(&self) -> String {
        self.0.rejection_reason()
    }
}

#[tokio::test]
#[should_panic(expected = "timeout_after_accept_is_reconciled")]
async fn kit_fails_a_connector_that_retries_an_ambiguous_publish() {
    let fake = BrokenFake(FakeFacebook::start().await.expect("fake starts"));
    scenarios::timeout_after_accept_is_reconciled(&fake).await;
}
