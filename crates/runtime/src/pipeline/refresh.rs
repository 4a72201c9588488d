//! The token refresh sweep: renews every active account whose token is due
//! ([`Connector::refresh_before`](pressroom_connector::Connector::refresh_before)), whether or
//! not a post is waiting. Without it a token is renewed only when a post needs it, so a 60-day
//! Instagram-Login token on a quiet account simply expires. A refused refresh marks the
//! account disconnected with the reason (its posts then park as `needs_reconnect`).

use std::sync::Arc;
use std::time::Duration;

use pressroom_store::repo::accounts;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::Pipeline;
use super::publish::credentials::{CredsError, credentials, refresh_due};

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefreshSweep {
    /// Accounts whose token was due and went through a refresh check.
    pub due: usize,
    /// Accounts whose refresh was refused: now disconnected.
    pub disconnected: usize,
    /// Accounts that could not be refreshed this time (retried on the next sweep).
    pub failed: usize,
}

impl Pipeline {
    /// Refreshes every active account whose token is due on its connector.
    pub async fn refresh_due_tokens(&self) -> Result<RefreshSweep, pressroom_store::StoreError> {
        let now = self.store.now_ms().await?;
        let rows = accounts::active_expiring(&self.store).await?;
        let mut sweep = RefreshSweep::default();
        for acc in rows {
            let Some(connector) = self.connectors.get(acc.platform.as_str()) else {
                continue;
            };
            if !refresh_due(self, connector.as_ref(), &acc, now) {
                continue;
            }
            sweep.due += 1;
            match credentials(self, connector.as_ref(), &acc, false).await {
                Ok(_) => {}
                Err(CredsError::Disconnected(_)) => sweep.disconnected += 1,
                Err(e) => {
                    sweep.failed += 1;
                    warn!(account = %acc.id, platform = %acc.platform, error = %e, "token refresh sweep: not refreshed; the next sweep retries");
                }
            }
        }
        Ok(sweep)
    }
}

/// Runs [`Pipeline::refresh_due_tokens`] every `every` until `shutdown`.
pub async fn run_token_refresher(p: Arc<Pipeline>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match p.refresh_due_tokens().await {
            Ok(sweep) => debug!(?sweep, "token refresh sweep"),
            Err(e) => warn!(error = %e, "token refresh sweep failed; the next one retries"),
        }
    }
}
