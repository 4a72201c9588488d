//! API keys: list, create (the key is in the response once and never again), revoke. A key
//! can only act on keys of its own role or lower: an admin can neither make an owner nor
//! revoke one.

use crate::handlers::Path;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use pressroom_core::WorkspaceId;
use pressroom_crypto::apikey;
use pressroom_store::repo::{api_keys, audit, workspaces};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::{Ctx, Role};
use crate::errors::{ApiError, ApiResult};
use crate::handlers::RawBody;
use crate::handlers::json_body;
use crate::handlers::workspaces::query;
use crate::page::{Page, PageQuery};

/// `POST /v1/keys` and `POST /v1/workspaces/{workspace_id}/keys`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    /// A workspace role (instance-admin keys are made with the CLI only).
    #[schema(schema_with = role_for_keys)]
    role: String,
    name: Option<String>,
}

/// The roles a key made through the API may have.
fn role_for_keys() -> utoipa::openapi::ObjectBuilder {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(
            Role::ALL
                .into_iter()
                .filter(|r| *r != Role::InstanceAdmin)
                .map(Role::as_str),
        ))
}

/// A stored key as the API shows it (never the key itself).
#[derive(Serialize, ToSchema)]
#[schema(as = ApiKey)]
pub struct KeyView {
    pub id: String,
    /// Null for an instance-admin key.
    #[schema(required, value_type = Option<WorkspaceId>)]
    pub workspace_id: Option<String>,
    #[schema(value_type = Role)]
    pub role: String,
    pub prefix: String,
    pub name: String,
    pub created_at: i64,
    #[schema(required)]
    pub last_used_at: Option<i64>,
    #[schema(required)]
    pub revoked_at: Option<i64>,
}

impl From<api_keys::ApiKeyRow> for KeyView {
    fn from(k: api_keys::ApiKeyRow) -> Self {
        Self {
            id: k.id,
            workspace_id: k.workspace_id,
            role: k.role,
            prefix: k.prefix,
            name: k.name,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new key, with its plaintext (shown once).
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub row: KeyView,
    /// The key itself (prk_…); not shown again.
    pub key: String,
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<KeyView>>> {
    let q = query(q)?;
    let limit = q.limit()?;
    let rows = api_keys::list(
        &state.store,
        ctx.workspace()?,
        q.after()?.as_deref(),
        limit + 1,
    )
    .await?;
    let rows = rows.into_iter().map(KeyView::from).collect();
    Ok(Json(Page::from_rows(rows, limit, |k| &k.id)))
}

pub async fn create(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let input: NewKey = json_body(&body)?;
    let role = workspace_role(&input.role)?;
    if !ctx.role.allows(role) {
        return Err(ApiError::forbidden(format!(
            "a {} key cannot create a {} key",
            ctx.role.as_str(),
            role.as_str()
        )));
    }
    let ws = ctx.workspace()?.clone();
    let created = mint_key(
        &state.store,
        Some(&ws),
        role,
        input.name.as_deref().unwrap_or(""),
        &ctx.actor(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Instance admins create the first key of a workspace they manage.
pub async fn create_for_workspace(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(workspace_id): Path<WorkspaceId>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let input: NewKey = json_body(&body)?;
    let role = workspace_role(&input.role)?;
    let exists = workspaces::list(&state.store)
        .await?
        .into_iter()
        .any(|w| w.id == workspace_id);
    if !exists {
        return Err(ApiError::not_found("workspace"));
    }
    let created = mint_key(
        &state.store,
        Some(&workspace_id),
        role,
        input.name.as_deref().unwrap_or(""),
        &ctx.actor(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn revoke(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ws = ctx.workspace()?;
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    let target = api_keys::get(&state.store, &tx, ws, &id).await?;
    may_act_on(&ctx, &target, "revoke")?;
    api_keys::revoke(&state.store, &tx, now, ws, &id).await?;
    audit::record(
        &tx,
        now,
        ws,
        &ctx.actor(),
        "api_key.revoked",
        &id,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    state.auth_cache.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses acting on a key whose role is above the caller's (a stored role this build does
/// not know counts as above everyone).
fn may_act_on(ctx: &Ctx, target: &api_keys::ApiKeyRow, action: &str) -> ApiResult<()> {
    match Role::parse(&target.role) {
        Some(role) if ctx.role.allows(role) => Ok(()),
        _ => Err(ApiError::forbidden(format!(
            "a {} key cannot {action} a {} key: its role is above the caller's",
            ctx.role.as_str(),
            target.role
        ))),
    }
}

fn workspace_role(s: &str) -> ApiResult<Role> {
    match Role::parse(s) {
        Some(Role::InstanceAdmin) | None => Err(ApiError::invalid(
            "role: one of viewer, editor, admin, owner",
        )),
        Some(r) => Ok(r),
    }
}

/// Mints a key and records it in the audit log. `workspace_id` is None only for an
/// instance-admin key. Used by the API and by `pressroom keys create`.
pub async fn mint_key(
    store: &pressroom_store::Store,
    workspace_id: Option<&WorkspaceId>,
    role: Role,
    name: &str,
    actor: &str,
) -> ApiResult<CreatedKey> {
    if (role == Role::InstanceAdmin) != workspace_id.is_none() {
        return Err(ApiError::invalid(
            "instance_admin keys have no workspace; every other role needs one",
        ));
    }
    let new = apikey::generate();
    let now = store.now_ms().await?;
    let tx = store.begin().await?;
    let row = api_keys::insert(
        store,
        &tx,
        now,
        api_keys::NewApiKey {
            workspace_id: workspace_id.map(|w| w.as_str()),
            role: role.as_str(),
            prefix: &new.display_prefix,
            hash: new.hash.as_str(),
            name,
        },
    )
    .await?;
    audit::record(
        &tx,
        now,
        &workspace_id.cloned().unwrap_or_else(WorkspaceId::instance),
        actor,
        "api_key.created",
        &row.id,
        serde_json::json!({ "role": role.as_str(), "prefix": row.prefix }),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedKey {
        row: row.into(),
        key: new.plaintext.expose_secret().to_string(),
    })
}
