//! An account's credentials for a publish or the refresh sweep: opened with the keyring,
//! renewed first when they are due ([`Connector::refresh_before`], [`Connector::can_refresh`]),
//! and what a post becomes when they cannot be had: dead credentials park it
//! (`needs_reconnect`), a token the keyring cannot open fails it with the key id named.

use pressroom_connector::{Connector, ConnectorError, Credentials};
use pressroom_core::{AttemptState, PostState};
use pressroom_store::ClaimedJob;
use pressroom_store::entity::{account, attempt, post};
use pressroom_store::repo::accounts;
use secrecy::SecretString;
use tracing::{info, warn};

use super::super::{JobError, Pipeline};
use super::{on_connector_error, settle};
use crate::metrics;
use crate::tokens::TokenSlot;

/// Why an account's credentials could not be had.
pub(in crate::pipeline) enum CredsError {
    /// A stored token does not open with the keyring, even after re-reading it.
    Unopenable(String),
    /// The platform refused the refresh; the account is marked disconnected.
    Disconnected(String),
    Job(JobError),
}

impl From<JobError> for CredsError {
    fn from(e: JobError) -> Self {
        CredsError::Job(e)
    }
}

impl From<pressroom_store::StoreError> for CredsError {
    fn from(e: pressroom_store::StoreError) -> Self {
        CredsError::Job(e.into())
    }
}

impl std::fmt::Display for CredsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredsError::Unopenable(m) | CredsError::Disconnected(m) => f.write_str(m),
            CredsError::Job(e) => write!(f, "{e}"),
        }
    }
}

/// True when `account`'s token is due for a refresh at `now_ms` on this connector.
pub(in crate::pipeline) fn refresh_due(
    p: &Pipeline,
    connector: &dyn Connector,
    account: &account::Model,
    now_ms: i64,
) -> bool {
    let margin = connector.refresh_before().max(p.refresh_margin);
    account
        .expires_at
        .is_some_and(|exp| exp.saturating_sub(margin.as_millis() as i64) <= now_ms)
}

/// The account's credentials, refreshed first when they are due or when `force` (the
/// platform said the token expired) and the connector can renew them.
pub(in crate::pipeline) async fn credentials(
    p: &Pipeline,
    connector: &dyn Connector,
    account: &account::Model,
    force: bool,
) -> Result<Credentials, CredsError> {
    let lock = {
        let mut locks = p.refresh_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(account.id.clone()).or_default().clone()
    };
    let _guard = lock.lock().await;
    // And across instances sharing PostgreSQL (rotating refresh tokens die on first use).
    let _db_guard = crate::tokens::lock_refresh(&p.store, &account.id)
        .await
        .map_err(JobError::retry)?;
    // Re-read under the lock: another worker may have refreshed already.
    let fresh = accounts::get(p.store.conn(), &account.workspace_id, &account.id).await?;
    let creds = open_credentials(p, &fresh)?;
    let now = p.store.now_ms().await?;
    let expiring = refresh_due(p, connector, &fresh, now);
    let refreshed_by_other = fresh.updated_at > account.updated_at;
    let at = chrono::DateTime::from_timestamp_millis(now).unwrap_or_else(chrono::Utc::now);
    if !(expiring || (force && !refreshed_by_other)) || !connector.can_refresh(&creds, at) {
        return Ok(creds);
    }
    let refreshed = connector.refresh(&creds).await;
    metrics::token_refresh(
        fresh.platform.as_str(),
        match &refreshed {
            Ok(_) => "ok",
            Err(ConnectorError::Disconnected(_)) => "disconnected",
            Err(_) => "failed",
        },
    );
    match refreshed {
        Ok(new) => {
            // Merged (an empty refresh token keeps ours), extra included, one transaction.
            let stored = crate::tokens::store_refreshed(
                &p.store,
                p.tokens.as_ref(),
                &fresh,
                &creds,
                new,
                now,
            )
            .await
            .map_err(JobError::retry)?;
            info!(account = %fresh.id, platform = %fresh.platform, "token refreshed");
            Ok(stored)
        }
        Err(ConnectorError::Disconnected(reason)) => {
            accounts::set_state(
                &p.store,
                p.store.conn(),
                now,
                &fresh.workspace_id,
                &fresh.id,
                pressroom_core::AccountState::Disconnected,
                Some(&reason),
            )
            .await?;
            warn!(account = %fresh.id, %reason, "token refresh refused; the account needs a reconnect");
            Err(CredsError::Disconnected(reason))
        }
        Err(e) => Err(JobError::retry(format!("token refresh failed: {e}")).into()),
    }
}

fn open_credentials(p: &Pipeline, account: &account::Model) -> Result<Credentials, CredsError> {
    let open = |sealed: &Option<String>, slot: TokenSlot<'_>| {
        sealed
            .as_deref()
            .map(|s| p.tokens.open(s, slot))
            .transpose()
            .map_err(|e| {
                CredsError::Unopenable(format!(
                    "cannot open the {} of account {} ({}), sealed with key id {}: {e}; restore \
                     that key in security.keyring_file or reconnect the account",
                    slot.column.trim_end_matches("_sealed").replace('_', " "),
                    account.name,
                    account.id,
                    account.key_id.as_deref().unwrap_or("(none)"),
                ))
            })
    };
    let ws = account.workspace_id.as_str();
    Ok(Credentials {
        access_token: open(
            &account.access_token_sealed,
            TokenSlot::access(ws, &account.id),
        )?
        .unwrap_or_else(|| SecretString::from("")),
        refresh_token: open(
            &account.refresh_token_sealed,
            TokenSlot::refresh(ws, &account.id),
        )?,
        expires_at: account
            .expires_at
            .and_then(chrono::DateTime::from_timestamp_millis),
        extra: serde_json::from_str(&account.extra).unwrap_or(serde_json::Value::Null),
    })
}

/// Settles the post when its account's credentials cannot be had: a refused refresh parks it
/// for a reconnect; an unopenable token fails it (or, when a commit may have landed, leaves
/// it for a person) with the reason naming the account and key id. Never a dead job with the
/// post left `publishing`.
pub(super) async fn on_credentials_error(
    p: &Pipeline,
    job: &ClaimedJob,
    post: &post::Model,
    attempt: &attempt::Model,
    error: CredsError,
) -> Result<(), JobError> {
    match error {
        CredsError::Job(e) => Err(e),
        CredsError::Disconnected(reason) => {
            on_connector_error(p, job, post, attempt, ConnectorError::Disconnected(reason)).await
        }
        CredsError::Unopenable(reason) => {
            let state = attempt.state;
            let (to, post_state) = if state.may_have_landed() {
                (AttemptState::Unknown, PostState::Unknown)
            } else {
                (AttemptState::Failed, PostState::Failed)
            };
            let attempt_move =
                state
                    .can_move_to(to)
                    .then_some((attempt, state, to, "token_unopenable"));
            settle(p, job, post, attempt_move, post_state, &reason).await
        }
    }
}

/// A platform that says the token expired again after a refresh (or when none was possible):
/// the credentials are dead, the account needs a reconnect.
pub(super) fn dead_credentials(platform: &str) -> ConnectorError {
    ConnectorError::Disconnected(format!(
        "the {platform} credentials expired and could not be renewed; reconnect the account"
    ))
}
