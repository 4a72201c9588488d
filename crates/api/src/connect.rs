//! OAuth connect through the API: `POST /v1/accounts/connect` returns the platform's authorize
//! URL; the browser comes back to `GET /v1/oauth/callback`, which exchanges the code and stores
//! the granted accounts with sealed tokens. The platform steps live in the connector crates,
//! which are features of the binary, so the binary plugs them in as [`ConnectFlows`].
//! A started connect waits in [`pending`], bound to the starting browser by a [`cookie`].

pub(crate) mod cookie;
pub(crate) mod pending;

use std::time::Duration;

use pressroom_connector::Credentials;
use pressroom_connector::oauth::PendingAuthorization;
use secrecy::SecretString;

/// One account a consent granted.
#[derive(Clone, Debug)]
pub struct GrantedAccount {
    pub external_id: String,
    pub display: String,
    pub credentials: Credentials,
}

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
