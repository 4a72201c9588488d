//! Connected platform accounts. Tokens arrive here already sealed (crates/crypto); the store
//! never sees plaintext, so nothing it logs or returns can leak a token.

use pressroom_core::{AccountId, AccountState, Platform, WorkspaceId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, Statement, Value,
};

use crate::page::Paging;
use crate::schema::account;
use crate::{Backend, Result, Store, StoreError, Tx};

/// An account to create or update by (workspace, name).
#[derive(Clone, Debug)]
pub struct AccountInput<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub platform: Platform,
    pub name: &'a str,
    pub external_id: &'a str,
    pub access_token_sealed: Option<String>,
    pub refresh_token_sealed: Option<String>,
    pub key_id: Option<String>,
    pub expires_at: Option<i64>,
    pub extra: serde_json::Value,
}

/// Creates or replaces an account's connection (a reconnect makes it active again).
pub async fn upsert<C: ConnectionTrait>(
    conn: &C,
    now_ms: i64,
    input: AccountInput<'_>,
) -> Result<account::Model> {
    let existing = account::Entity::find()
        .filter(account::Column::WorkspaceId.eq(input.workspace_id))
        .filter(account::Column::Name.eq(input.name))
        .one(conn)
        .await?;
    let id = existing
        .as_ref()
        .map(|a| a.id.clone())
        .unwrap_or_else(AccountId::new);
    let model = account::ActiveModel {
        id: Set(id.clone()),
        workspace_id: Set(input.workspace_id.into()),
        platform: Set(input.platform),
        name: Set(input.name.to_string()),
        external_id: Set(input.external_id.to_string()),
        state: Set(AccountState::Active),
        access_token_sealed: Set(input.access_token_sealed),
        refresh_token_sealed: Set(input.refresh_token_sealed),
        key_id: Set(input.key_id),
        expires_at: Set(input.expires_at),
        extra: Set(input.extra.to_string()),
        state_reason: Set(None),
        // A reconnect may grant what was missing; the next fetch tells.
        insights_problem: Set(None),
        created_at: Set(existing.as_ref().map(|a| a.created_at).unwrap_or(now_ms)),
        updated_at: Set(now_ms),
    };
    if existing.is_some() {
        account::Entity::update(model).exec(conn).await?;
    } else {
        account::Entity::insert(model).exec(conn).await?;
    }
    account::Entity::find_by_id(id.clone())
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("account", id))
}

pub async fn get<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &AccountId,
) -> Result<account::Model> {
    account::Entity::find_by_id(id.to_string())
        .filter(account::Column::WorkspaceId.eq(workspace_id))
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("account", id))
}

pub async fn by_name<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    name: &str,
) -> Result<Option<account::Model>> {
    Ok(account::Entity::find()
        .filter(account::Column::WorkspaceId.eq(workspace_id))
        .filter(account::Column::Name.eq(name))
        .one(conn)
        .await?)
}

pub async fn list(store: &Store, workspace_id: &WorkspaceId) -> Result<Vec<account::Model>> {
    Ok(account::Entity::find()
        .filter(account::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(account::Column::Name)
        .all(store.conn())
        .await?)
}

/// A page of the workspace's accounts, newest first.
pub async fn page(
    store: &Store,
    workspace_id: &WorkspaceId,
    paging: Paging<'_>,
) -> Result<Vec<account::Model>> {
    let mut q = account::Entity::find().filter(account::Column::WorkspaceId.eq(workspace_id));
    if let Some(after) = paging.after {
        q = q.filter(account::Column::Id.lt(after));
    }
    Ok(q.order_by_desc(account::Column::Id)
        .limit(paging.limit)
        .all(store.conn())
        .await?)
}

/// Every account of every workspace: for `keyring rotate`, which re-seals all tokens.
pub async fn list_all(store: &Store) -> Result<Vec<account::Model>> {
    Ok(account::Entity::find().all(store.conn()).await?)
}

/// The active accounts of every workspace whose token expires: the refresh sweep's list.
pub async fn active_expiring(store: &Store) -> Result<Vec<account::Model>> {
    Ok(account::Entity::find()
        .filter(account::Column::State.eq(AccountState::Active))
        .filter(account::Column::ExpiresAt.is_not_null())
        .all(store.conn())
        .await?)
}

/// Replaces the account's `extra` (what a token refresh returned beside the tokens).
pub async fn set_extra<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &AccountId,
    extra: &serde_json::Value,
) -> Result<()> {
    account::Entity::update_many()
        .col_expr(account::Column::Extra, Expr::value(extra.to_string()))
        .filter(account::Column::Id.eq(id))
        .filter(account::Column::WorkspaceId.eq(workspace_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Held while one instance decides on and runs an account's token refresh; released when
/// dropped (see [`lock_refresh`]).
#[derive(Debug)]
pub struct RefreshLock {
    _tx: Option<Tx>,
}

/// Takes the account's refresh lock, so instances sharing a PostgreSQL database refresh an
/// account one at a time: a PostgreSQL advisory lock held by a transaction of its own. On
/// SQLite (one instance) it holds nothing; the caller's in-process lock is enough.
pub async fn lock_refresh(store: &Store, account_id: &AccountId) -> Result<RefreshLock> {
    if store.backend() != Backend::Postgres {
        return Ok(RefreshLock { _tx: None });
    }
    let tx = store.begin().await?;
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        [format!("pressroom.refresh:{account_id}").into()],
    ))
    .await?;
    Ok(RefreshLock { _tx: Some(tx) })
}

/// Marks an account active or disconnected, with the reason a person will read.
pub async fn set_state<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    id: &AccountId,
    new_state: AccountState,
    reason: Option<&str>,
) -> Result<()> {
    let values: Vec<Value> = vec![
        new_state.into(),
        reason.into(),
        now_ms.into(),
        id.into(),
        workspace_id.into(),
    ];
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE accounts SET state = $1, state_reason = $2, updated_at = $3 \
             WHERE id = $4 AND workspace_id = $5",
            values,
        ))
        .await?;
    if res.rows_affected() == 0 {
        return Err(StoreError::not_found("account", id));
    }
    Ok(())
}

/// Records (or, with `None`, clears) why the account's post metrics cannot be read. Returns
/// whether the stored value changed, so a caller logs a new problem once.
pub async fn set_insights_problem<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &AccountId,
    problem: Option<&str>,
) -> Result<bool> {
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE accounts SET insights_problem = $1 WHERE id = $2 AND workspace_id = $3 \
             AND insights_problem IS DISTINCT FROM $1",
            vec![problem.into(), id.into(), workspace_id.into()],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Stores refreshed tokens. A missing refresh token keeps the stored one: platforms that do
/// not rotate refresh tokens answer without one, and that must not erase ours.
#[allow(clippy::too_many_arguments)]
pub async fn update_tokens<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    id: &AccountId,
    access_token_sealed: &str,
    refresh_token_sealed: Option<&str>,
    key_id: &str,
    expires_at: Option<i64>,
) -> Result<()> {
    let values: Vec<Value> = vec![
        access_token_sealed.into(),
        refresh_token_sealed.into(),
        key_id.into(),
        expires_at.into(),
        now_ms.into(),
        id.into(),
        workspace_id.into(),
    ];
    conn.execute_raw(store.stmt(
        "UPDATE accounts SET access_token_sealed = $1, \
         refresh_token_sealed = COALESCE($2, refresh_token_sealed), key_id = $3, \
         expires_at = $4, updated_at = $5 WHERE id = $6 AND workspace_id = $7",
        values,
    ))
    .await?;
    Ok(())
}

/// The sealed values a re-seal read and the ones it writes in their place.
#[derive(Clone, Copy, Debug)]
pub struct TokenSwap<'a> {
    pub old_access: &'a str,
    pub old_refresh: Option<&'a str>,
    pub new_access: &'a str,
    pub new_refresh: Option<&'a str>,
    pub key_id: &'a str,
}

/// Compare-and-swap of an account's sealed tokens (a key rotation re-sealing them): writes
/// only if the row still holds the values the caller read, so a token refresh that landed in
/// between (a rotated refresh token the platform has already made the only valid one) is never
/// overwritten. Returns false when the row changed; re-read and try again.
pub async fn swap_tokens<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    id: &AccountId,
    swap: TokenSwap<'_>,
) -> Result<bool> {
    let mut values: Vec<Value> = vec![
        swap.new_access.into(),
        swap.new_refresh.into(),
        swap.key_id.into(),
        now_ms.into(),
        id.into(),
        swap.old_access.into(),
        workspace_id.into(),
    ];
    let refresh_matches = match swap.old_refresh {
        Some(old) => {
            values.push(old.into());
            "refresh_token_sealed = $8"
        }
        None => "refresh_token_sealed IS NULL",
    };
    let res = conn
        .execute_raw(store.stmt(
            &format!(
                "UPDATE accounts SET access_token_sealed = $1, refresh_token_sealed = $2, \
                 key_id = $3, updated_at = $4 \
                 WHERE id = $5 AND access_token_sealed = $6 AND workspace_id = $7 \
                 AND {refresh_matches}"
            ),
            values,
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}
