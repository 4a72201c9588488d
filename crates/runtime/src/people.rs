//! Adding a person to a workspace, as `pressroom users add` and `POST /v1/members` both do: the
//! user is created when the email is new, their role there set (replaced for a member), and a
//! person who cannot sign in yet gets a one-time invitation to set their own password. One
//! transaction, with an audit entry.

use pressroom_core::WorkspaceId;
use pressroom_crypto::password;
use pressroom_store::repo::{audit, people};
use pressroom_store::{Store, StoreError};
use secrecy::SecretString;

/// How long an invitation link works.
pub const INVITATION_TTL_MS: i64 = 72 * 3600 * 1000;

/// What [`add_member`] did.
pub struct Added {
    pub user: people::UserRow,
    /// The invitation token (the last part of `/invite/{token}`), shown once; none when they
    /// can sign in already (a password given or set before).
    pub invitation: Option<SecretString>,
    /// When the invitation stops working (epoch ms).
    pub invitation_expires_at: Option<i64>,
}

/// A plausible email, normalized (lowercase, trimmed): something@something, no spaces, at
/// most 320 bytes. `None` otherwise.
pub fn checked_email(email: &str) -> Option<String> {
    let email = people::normalize_email(email);
    let plausible = email.len() <= 320
        && !email.contains(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    plausible.then_some(email)
}

/// Makes `email` a `role` of `workspace` (see the module). `password_hash`, when given, is
/// their password from now on (no invitation then). `email` must be [`checked_email`]'s.
pub async fn add_member(
    store: &Store,
    workspace: &WorkspaceId,
    email: &str,
    display_name: &str,
    role: &str,
    password_hash: Option<&str>,
    actor: &str,
) -> Result<Added, StoreError> {
    let now = store.now_ms().await?;
    let tx = store.begin().await?;
    let user = people::ensure_user(store, &tx, now, email, display_name).await?;
    people::set_membership(store, &tx, now, &user.id, workspace, role).await?;
    if let Some(hash) = password_hash {
        people::set_password(store, &tx, now, &user.id, hash).await?;
    }
    let (invitation, invitation_expires_at) =
        if password_hash.is_none() && user.password_hash.is_none() {
            let (token, token_hash) = password::new_token();
            let expires = now.saturating_add(INVITATION_TTL_MS);
            people::insert_invitation(store, &tx, now, &user.id, &token_hash, expires).await?;
            (Some(token), Some(expires))
        } else {
            (None, None)
        };
    audit::record(
        &tx,
        now,
        workspace,
        actor,
        "member.added",
        &user.id,
        serde_json::json!({ "email": user.email, "role": role, "invited": invitation.is_some() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Added {
        user,
        invitation,
        invitation_expires_at,
    })
}
