//! OAuth connect through the API: `POST /v1/accounts/connect` returns the platform's authorize
//! URL; the browser comes back to `GET /v1/oauth/callback`, which exchanges the code and stores
//! the granted accounts with sealed tokens. The platform steps live in the connector crates,
//! which are features of the binary, so the binary plugs them in as [`ConnectFlows`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
const MAX_PENDING: usize = 10_000;

/// A connect waiting for its callback, found by its `state`.
pub(crate) struct PendingConnect {
    pub workspace_id: String,
    pub platform: String,
    pub redirect_uri: String,
    pub name: Option<String>,
    pub actor: String,
    pub pkce_verifier: Option<SecretString>,
    started: Instant,
}

/// Started connects, in memory: a callback must reach the instance that started the connect
/// (with several instances behind a balancer, use sticky sessions for `/v1/oauth/callback`).
#[derive(Default)]
pub(crate) struct PendingConnects(Mutex<HashMap<String, PendingConnect>>);

impl PendingConnects {
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &self,
        state: String,
        workspace_id: &str,
        platform: &str,
        redirect_uri: &str,
        name: Option<String>,
        actor: String,
        pkce_verifier: Option<SecretString>,
    ) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, p| p.started.elapsed() < CONNECT_TTL);
        if map.len() >= MAX_PENDING {
            map.clear();
        }
        map.insert(
            state,
            PendingConnect {
                workspace_id: workspace_id.to_owned(),
                platform: platform.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                name,
                actor,
                pkce_verifier,
                started: Instant::now(),
            },
        );
    }

    /// Takes the connect for `state` (once: a replayed callback finds nothing).
    pub fn take(&self, state: &str) -> Option<PendingConnect> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(state)
            .filter(|p| p.started.elapsed() < CONNECT_TTL)
    }
}
