//! Adding a person to a workspace, as `pressroom users add` and `POST /v1/members` both do: the
//! user is created when the email is new, their role there set (replaced for a member), and a
//! person who cannot sign in yet gets a one-time invitation to set their own password. One
//! transaction, with an audit entry. Taking one out (`DELETE /v1/members/{user_id}`) never
//! leaves a workspace without an owner.

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

/// Why [`remove_member`] removed nobody.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("user_id: not a member of this workspace")]
    NotAMember,
    #[error("user_id: the workspace's last owner stays; make someone else owner first")]
    LastOwner,
    #[error("user_id: only an owner removes an owner")]
    OwnerByNonOwner,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Takes `user_id` out of `workspace` (signed out everywhere when it was their last one).
/// `by_owner`: whether the caller is an owner there (only owners remove owners);
/// `keep_an_owner`: refuse to remove the last owner (people through the API; an operator at the
/// command line may, and adds the next owner the same way).
pub async fn remove_member(
    store: &Store,
    workspace: &WorkspaceId,
    user_id: &str,
    by_owner: bool,
    keep_an_owner: bool,
    actor: &str,
) -> Result<people::MemberRow, RemoveError> {
    let members = people::members(store, workspace).await?;
    let member = members
        .iter()
        .find(|m| m.user_id == user_id)
        .cloned()
        .ok_or(RemoveError::NotAMember)?;
    if member.role == "owner" {
        if !by_owner {
            return Err(RemoveError::OwnerByNonOwner);
        }
        if keep_an_owner && members.iter().filter(|m| m.role == "owner").count() <= 1 {
            return Err(RemoveError::LastOwner);
        }
    }
    let now = store.now_ms().await?;
    let tx = store.begin().await?;
    if !people::remove_membership(store, &tx, now, user_id, workspace).await? {
        return Err(RemoveError::NotAMember);
    }
    audit::record(
        &tx,
        now,
        workspace,
        actor,
        "member.removed",
        user_id,
        serde_json::json!({ "email": member.email, "role": member.role }),
    )
    .await?;
    tx.commit().await?;
    Ok(member)
}
