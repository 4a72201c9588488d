//! Rotating an inbound hook's signing secret without missing a delivery: add a new secret
//! (the CMS may keep signing with the old one meanwhile, both verify), switch the CMS over,
//! then retire the previous ones. At most [`MAX_SECRETS`] verify at once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use pressroom_crypto::webhook::WebhookSecret;
use pressroom_store::repo::{audit, hooks};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::ApiResult;
use crate::handlers::Path;

/// How many secrets a hook verifies with during a rotation; adding one more drops the oldest.
pub const MAX_SECRETS: usize = 3;

#[derive(Serialize)]
pub struct AddedSecret {
    pub hook_id: String,
    /// `whsec_…`: configure it in the CMS; it is not shown again.
    pub secret: String,
    /// How many secrets now verify deliveries (the new one and the previous ones kept).
    pub secrets_active: usize,
}

#[derive(Serialize)]
pub struct RetiredSecrets {
    pub hook_id: String,
    /// How many previous secrets stopped verifying.
    pub retired: usize,
    pub secrets_active: usize,
}

/// Adds a new secret in front of the current ones; the previous ones keep verifying.
pub async fn add(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(hook_id): Path<String>,
) -> ApiResult<(StatusCode, Json<AddedSecret>)> {
    let ws = ctx.workspace()?;
    let hook = hooks::get(&state.store, ws, &hook_id).await?;
    let secret = WebhookSecret::generate().export();
    let mut secrets = vec![secret.expose_secret().to_string()];
    secrets.extend(hook.secrets(&state.row_sealer()?)?);
    let dropped = secrets.len().saturating_sub(MAX_SECRETS);
    secrets.truncate(MAX_SECRETS);
    save_secrets(
        &state,
        &ctx,
        &hook.id,
        &secrets,
        "hook.secret_added",
        json!({ "secrets_active": secrets.len(), "oldest_dropped": dropped }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(AddedSecret {
            hook_id: hook.id,
            secret: secret.expose_secret().to_string(),
            secrets_active: secrets.len(),
        }),
    ))
}

/// Ends a rotation: only the newest secret verifies from now on.
pub async fn retire_previous(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(hook_id): Path<String>,
) -> ApiResult<Json<RetiredSecrets>> {
    let ws = ctx.workspace()?;
    let hook = hooks::get(&state.store, ws, &hook_id).await?;
    let mut secrets = hook.secrets(&state.row_sealer()?)?;
    let retired = secrets.len().saturating_sub(1);
    secrets.truncate(1);
    save_secrets(
        &state,
        &ctx,
        &hook.id,
        &secrets,
        "hook.secrets_retired",
        json!({ "retired": retired }),
    )
    .await?;
    Ok(Json(RetiredSecrets {
        hook_id: hook.id,
        retired,
        secrets_active: secrets.len(),
    }))
}

/// Stores a hook's new secret list and its audit entry in one transaction.
async fn save_secrets(
    state: &ApiState,
    ctx: &Ctx,
    hook_id: &str,
    secrets: &[String],
    action: &str,
    detail: serde_json::Value,
) -> ApiResult<()> {
    let ws = ctx.workspace()?;
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    hooks::set_secrets(
        &state.store,
        &tx,
        ws,
        hook_id,
        secrets,
        &state.row_sealer()?,
    )
    .await?;
    audit::record(&tx, now, ws, &ctx.actor(), action, hook_id, detail).await?;
    tx.commit().await?;
    Ok(())
}
