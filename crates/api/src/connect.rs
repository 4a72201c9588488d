//! OAuth connect through the API: `POST /v1/accounts/connect` returns the platform's authorize
//! URL; the browser comes back to `GET /v1/oauth/callback`, which exchanges the code and stores
//! the granted accounts with sealed tokens. The platform steps live in the connector crates
//! (`Connector::connect_flow`); the binary plugs its connector registry in as [`ConnectFlows`].
//! A started connect waits in [`pending`], bound to the starting browser by a [`cookie`].

pub(crate) mod cookie;
pub(crate) mod pending;

use std::time::Duration;

use anyhow::Context;
use pressroom_connector::Registry;
use pressroom_connector::oauth::PendingAuthorization;
use secrecy::SecretString;

pub use pressroom_connector::oauth::GrantedAccount;

/// The platform half of a connect: build the authorize URL, and turn a code into accounts.
#[async_trait::async_trait]
pub trait ConnectFlows: Send + Sync {
    /// Platforms that can be connected this way.
    fn platforms(&self) -> Vec<&'static str>;
    fn authorize(&self, platform: &str, redirect_uri: &str)
    -> anyhow::Result<PendingAuthorization>;
    async fn finish(
        &self,
        platform: &str,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: Option<&SecretString>,
    ) -> anyhow::Result<Vec<GrantedAccount>>;
}

/// How long a started connect waits for its callback.
pub const CONNECT_TTL: Duration = Duration::from_secs(15 * 60);

/// The registry's connectors that offer a connect flow, by kind.
#[async_trait::async_trait]
impl ConnectFlows for Registry {
    fn platforms(&self) -> Vec<&'static str> {
        self.kinds()
            .filter(|k| self.get(k).is_some_and(|c| c.connect_flow().is_some()))
            .collect()
    }

    fn authorize(
        &self,
        platform: &str,
        redirect_uri: &str,
    ) -> anyhow::Result<PendingAuthorization> {
        let connector = self
            .get(platform)
            .with_context(|| format!("{platform}: not configured"))?;
        let flow = connector
            .connect_flow()
            .with_context(|| format!("{platform}: no connect flow"))?;
        Ok(flow.authorize(redirect_uri)?)
    }

    async fn finish(
        &self,
        platform: &str,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: Option<&SecretString>,
    ) -> anyhow::Result<Vec<GrantedAccount>> {
        let connector = self
            .get(platform)
            .with_context(|| format!("{platform}: not configured"))?;
        let flow = connector
            .connect_flow()
            .with_context(|| format!("{platform}: no connect flow"))?;
        Ok(flow.finish(redirect_uri, code, pkce_verifier).await?)
    }
}
