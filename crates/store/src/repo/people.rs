//! People who sign in: users (emails stored lowercased, argon2id password hashes from
//! `pressroom_crypto::password`), their memberships (one role per workspace) and their
//! server-side sessions (only the SHA-256 of a session token is stored). A user without a
//! password has been added but cannot sign in yet: an invitation (single use, expiring, also
//! stored as a hash) lets them set one.

use pressroom_core::{WorkspaceId, new_id};
use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::{Result, Store, StoreError};

/// One user (never the password itself; the hash only for verification).
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A user's role in one workspace.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct MembershipRow {
    pub user_id: String,
    pub workspace_id: WorkspaceId,
    pub workspace_slug: String,
    pub role: String,
    pub created_at: i64,
}

/// A member of a workspace, for listings.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub has_password: bool,
}

/// A live session and the user it signs in.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
}

const USER_COLUMNS: &str = "id, email, display_name, password_hash, created_at, updated_at";

/// The stored form of an email: trimmed and lowercased, so one address is one user.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The user with this email (any case).
pub async fn user_by_email(store: &Store, email: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
    let row = store
        .conn()
        .query_one_raw(store.stmt(&sql, vec![normalize_email(email).into()]))
        .await?;
    row.map(|r| UserRow::from_query_result(&r, "").map_err(StoreError::from))
        .transpose()
}

/// The user with this id.
pub async fn user(store: &Store, id: &str) -> Result<UserRow> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = store
        .conn()
        .query_one_raw(store.stmt(&sql, vec![id.into()]))
        .await?
        .ok_or_else(|| StoreError::not_found("user", id))?;
    Ok(UserRow::from_query_result(&row, "")?)
}

/// The user with this email, created (without a password) when there is none.
pub async fn ensure_user<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    email: &str,
    display_name: &str,
) -> Result<UserRow> {
    let email = normalize_email(email);
    let values: Vec<Value> = vec![
        new_id().into(),
        email.clone().into(),
        display_name.into(),
        now_ms.into(),
    ];
    conn.execute_raw(store.stmt(
        "INSERT INTO users (id, email, display_name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (email) DO NOTHING",
        values,
    ))
    .await?;
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
    let row = conn
        .query_one_raw(store.stmt(&sql, vec![email.clone().into()]))
        .await?
        .ok_or_else(|| StoreError::not_found("user", email))?;
    Ok(UserRow::from_query_result(&row, "")?)
}

/// Sets (or replaces) a user's password hash and ends every session of theirs: a new password
/// signs everyone out.
pub async fn set_password<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    user_id: &str,
    password_hash: &str,
) -> Result<()> {
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3",
            vec![password_hash.into(), now_ms.into(), user_id.into()],
        ))
        .await?;
    if res.rows_affected() == 0 {
        return Err(StoreError::not_found("user", user_id));
    }
    revoke_all_sessions(store, conn, now_ms, user_id).await
}

/// Gives a user a role in a workspace (replacing the role they had there).
pub async fn set_membership<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    user_id: &str,
    workspace_id: &WorkspaceId,
    role: &str,
) -> Result<()> {
    conn.execute_raw(store.stmt(
        "INSERT INTO memberships (user_id, workspace_id, role, created_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, workspace_id) DO UPDATE SET role = excluded.role",
        vec![
            user_id.into(),
            workspace_id.into(),
            role.into(),
            now_ms.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Takes a user out of a workspace; true when they were in it. A user left with no workspace
/// is signed out everywhere (they can reach nothing).
pub async fn remove_membership<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    user_id: &str,
    workspace_id: &WorkspaceId,
) -> Result<bool> {
    let res = conn
        .execute_raw(store.stmt(
            "DELETE FROM memberships WHERE user_id = $1 AND workspace_id = $2",
            vec![user_id.into(), workspace_id.into()],
        ))
        .await?;
    let left = conn
        .query_one_raw(store.stmt(
            "SELECT COUNT(*) AS n FROM memberships WHERE user_id = $1",
            vec![user_id.into()],
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    if left == 0 {
        revoke_all_sessions(store, conn, now_ms, user_id).await?;
    }
    Ok(res.rows_affected() > 0)
}

/// A user's workspaces and roles, by workspace slug.
pub async fn memberships(store: &Store, user_id: &str) -> Result<Vec<MembershipRow>> {
    let rows = store
        .conn()
        .query_all_raw(store.stmt(
            "SELECT m.user_id, m.workspace_id, w.slug AS workspace_slug, m.role, m.created_at \
             FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
             WHERE m.user_id = $1 ORDER BY w.slug",
            vec![user_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| MembershipRow::from_query_result(r, "").map_err(StoreError::from))
        .collect()
}

/// A workspace's members, by email.
pub async fn members(store: &Store, workspace_id: &WorkspaceId) -> Result<Vec<MemberRow>> {
    let rows = store
        .conn()
        .query_all_raw(store.stmt(
            "SELECT u.id AS user_id, u.email, u.display_name, m.role, \
             (u.password_hash IS NOT NULL) AS has_password \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.workspace_id = $1 ORDER BY u.email",
            vec![workspace_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| MemberRow::from_query_result(r, "").map_err(StoreError::from))
        .collect()
}

/// Starts a session for a user: the token's hash is stored, the token goes to the browser.
pub async fn insert_session(
    store: &Store,
    now_ms: i64,
    user_id: &str,
    token_hash: &str,
    expires_at_ms: i64,
) -> Result<String> {
    let id = new_id();
    store
        .conn()
        .execute_raw(store.stmt(
            "INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            vec![
                id.clone().into(),
                user_id.into(),
                token_hash.into(),
                now_ms.into(),
                expires_at_ms.into(),
            ],
        ))
        .await?;
    Ok(id)
}

/// The live session (not revoked, not expired) whose token hashes to `token_hash`.
pub async fn live_session(
    store: &Store,
    now_ms: i64,
    token_hash: &str,
) -> Result<Option<SessionRow>> {
    live_session_by(store, now_ms, "token_hash", token_hash).await
}

/// The live session with this id.
pub async fn session(store: &Store, now_ms: i64, session_id: &str) -> Result<Option<SessionRow>> {
    live_session_by(store, now_ms, "id", session_id).await
}

/// The live session whose `column` (a fixed name, never input) holds `value`.
async fn live_session_by(
    store: &Store,
    now_ms: i64,
    column: &'static str,
    value: &str,
) -> Result<Option<SessionRow>> {
    let sql = format!(
        "SELECT id, user_id, created_at, expires_at FROM sessions \
         WHERE {column} = $1 AND revoked_at IS NULL AND expires_at > $2"
    );
    let row = store
        .conn()
        .query_one_raw(store.stmt(&sql, vec![value.into(), now_ms.into()]))
        .await?;
    row.map(|r| SessionRow::from_query_result(&r, "").map_err(StoreError::from))
        .transpose()
}

/// Ends one session (sign-out); idempotent.
pub async fn revoke_session(store: &Store, now_ms: i64, session_id: &str) -> Result<()> {
    store
        .conn()
        .execute_raw(store.stmt(
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
            vec![now_ms.into(), session_id.into()],
        ))
        .await?;
    Ok(())
}

/// Ends every session of a user (sign-out everywhere, a new password, a removed user).
pub async fn revoke_all_sessions<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    user_id: &str,
) -> Result<()> {
    conn.execute_raw(store.stmt(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        vec![now_ms.into(), user_id.into()],
    ))
    .await?;
    Ok(())
}

/// Records an invitation for a user: its token's hash, valid until `expires_at_ms`.
pub async fn insert_invitation<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    user_id: &str,
    token_hash: &str,
    expires_at_ms: i64,
) -> Result<()> {
    conn.execute_raw(store.stmt(
        "INSERT INTO invitations (id, user_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
        vec![
            new_id().into(),
            user_id.into(),
            token_hash.into(),
            now_ms.into(),
            expires_at_ms.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The email of the user a live (unused, unexpired) invitation is for; None otherwise.
pub async fn invitation_email(
    store: &Store,
    now_ms: i64,
    token_hash: &str,
) -> Result<Option<String>> {
    let row = store
        .conn()
        .query_one_raw(store.stmt(
            "SELECT u.email AS email FROM invitations i JOIN users u ON u.id = i.user_id \
             WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2",
            vec![token_hash.into(), now_ms.into()],
        ))
        .await?;
    row.map(|r| r.try_get::<String>("", "email").map_err(StoreError::from))
        .transpose()
}

/// Uses an invitation: marks it used (once, before it expires) and answers its user, in the
/// caller's transaction; None when the token is unknown, used or expired.
pub async fn use_invitation<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    token_hash: &str,
) -> Result<Option<String>> {
    let row = conn
        .query_one_raw(store.stmt(
            "UPDATE invitations SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING user_id",
            vec![now_ms.into(), token_hash.into()],
        ))
        .await?;
    row.map(|r| r.try_get::<String>("", "user_id").map_err(StoreError::from))
        .transpose()
}
