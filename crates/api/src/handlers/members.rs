//! A workspace's members: `GET /v1/members` lists who can sign in and their roles;
//! `POST /v1/members` adds a person (or changes a member's role) and answers, once, the
//! invitation link a new person sets their password with; `DELETE /v1/members/{user_id}` takes
//! one out. Admins manage people; only an owner makes or removes an owner, and the last owner
//! stays.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use pressroom_store::repo::people;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::{Ctx, Role};
use crate::errors::{ApiError, ApiResult};
use crate::handlers::{RawBody, json_body};

/// A member as the API shows them.
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    /// The person's id (`DELETE /v1/members/{user_id}`).
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    #[schema(value_type = crate::auth::Role)]
    pub role: String,
    /// False until they set a password through their invitation.
    pub can_sign_in: bool,
}

/// `GET /v1/members`.
#[derive(Serialize, ToSchema)]
pub struct Members {
    pub data: Vec<MemberView>,
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Json<Members>> {
    let rows = people::members(&state.store, ctx.workspace()?).await?;
    Ok(Json(Members {
        data: rows
            .into_iter()
            .map(|m| MemberView {
                user_id: m.user_id,
                email: m.email,
                display_name: m.display_name,
                role: m.role,
                can_sign_in: m.has_password,
            })
            .collect(),
    }))
}

/// `POST /v1/members`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMember {
    #[schema(max_length = 320)]
    email: String,
    /// owner, admin, editor, approver or viewer (only an owner adds an owner).
    #[schema(value_type = crate::auth::Role)]
    role: String,
    /// The name shown for them (default: the part of the email before @).
    #[schema(max_length = 100)]
    name: Option<String>,
}

/// What adding a member answers.
#[derive(Serialize, ToSchema)]
pub struct AddedMember {
    #[serde(flatten)]
    pub member: MemberView,
    /// For a person who cannot sign in yet: `<public base URL>/invite/<token>`, valid 72
    /// hours, used once. Shown once; send it to them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub invitation_url: Option<String>,
    /// When the invitation stops working (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub invitation_expires_at: Option<String>,
}

pub async fn add(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<AddedMember>)> {
    let ws = ctx.workspace()?;
    let input: NewMember = json_body(&body)?;
    let email = pressroom_runtime::people::checked_email(&input.email).ok_or_else(|| {
        ApiError::invalid(format!("email: {:?} is not an email address", input.email))
    })?;
    let role = match Role::parse(&input.role) {
        Some(Role::InstanceAdmin) | None => {
            return Err(ApiError::invalid(format!(
                "role: {:?} is not owner, admin, editor, approver or viewer",
                input.role
            )));
        }
        Some(r) => r,
    };
    if role == Role::Owner && ctx.role != Role::Owner {
        return Err(ApiError::forbidden(
            "role: only an owner makes another owner",
        ));
    }
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 100 || n.chars().any(char::is_control)) {
        return Err(ApiError::invalid("name: at most 100 printable characters"));
    }
    let display = name
        .map(str::to_owned)
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let added = pressroom_runtime::people::add_member(
        &state.store,
        ws,
        &email,
        &display,
        role.as_str(),
        None,
        &ctx.actor(),
    )
    .await?;
    // A changed role takes effect at once on this instance.
    state.auth_cache.clear();
    use secrecy::ExposeSecret;
    let base = if state.public_base.is_empty() {
        String::new()
    } else {
        state.public_base.clone()
    };
    Ok((
        StatusCode::CREATED,
        Json(AddedMember {
            member: MemberView {
                user_id: added.user.id.clone(),
                can_sign_in: added.user.password_hash.is_some(),
                email: added.user.email,
                display_name: added.user.display_name,
                role: role.as_str().to_owned(),
            },
            invitation_url: added
                .invitation
                .map(|t| format!("{base}/invite/{}", t.expose_secret())),
            invitation_expires_at: added
                .invitation_expires_at
                .map(crate::handlers::reviews::rfc3339),
        }),
    ))
}

/// Takes a person out of the workspace (signed out everywhere when it was their last one).
pub async fn remove(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    crate::handlers::Path(user_id): crate::handlers::Path<String>,
) -> ApiResult<StatusCode> {
    use pressroom_runtime::people::{RemoveError, remove_member};
    let ws = ctx.workspace()?;
    remove_member(
        &state.store,
        ws,
        &user_id,
        ctx.role == Role::Owner,
        true,
        &ctx.actor(),
    )
    .await
    .map_err(|e| match e {
        RemoveError::NotAMember => ApiError::not_found("member"),
        RemoveError::OwnerByNonOwner => ApiError::forbidden(e.to_string()),
        RemoveError::LastOwner => ApiError::new(crate::errors::Code::Conflict, e.to_string()),
        RemoveError::Store(e) => e.into(),
    })?;
    // Their sessions lose this workspace at once on this instance.
    state.auth_cache.clear();
    Ok(StatusCode::NO_CONTENT)
}
