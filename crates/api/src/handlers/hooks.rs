//! Inbound webhooks from a CMS (RELIABILITY.md B.9). Admins create a hook for a campaign and
//! get its secret once. A delivery must carry a valid Standard Webhooks signature made with
//! one of the hook's secrets, within ±5 minutes; its delivery id is recorded once, and the
//! run's fire key `hook:{delivery id}` dedupes a second time. The handler only creates the
//! run (which enqueues its generate job) and answers 202: nothing is published here.

use crate::handlers::Path;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use pressroom_crypto::webhook::{self, WebhookSecret};
use pressroom_store::repo::hooks::{self, HookRow};
use pressroom_store::repo::{audit, campaigns};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::ApiState;
use crate::adapters::{self, Adapter, Outcome};
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::RawBody;
use crate::handlers::campaigns::fire;
use crate::handlers::workspaces::query;
use crate::handlers::{json_body, stored_json};
use crate::page::{Page, PageQuery};

/// A hook as listed (never its secrets).
#[derive(Serialize, ToSchema)]
#[schema(as = Hook)]
pub struct HookView {
    pub id: String,
    pub campaign_id: pressroom_core::CampaignId,
    #[schema(value_type = crate::adapters::Adapter)]
    pub adapter: String,
    pub mapping: Value,
    /// Where the CMS must send deliveries.
    pub path: String,
    pub created_at: i64,
}

impl From<HookRow> for HookView {
    fn from(h: HookRow) -> Self {
        Self {
            path: format!("/v1/hooks/{}", h.id),
            mapping: stored_json(&h.mapping),
            id: h.id,
            campaign_id: h.campaign_id,
            adapter: h.adapter,
            created_at: h.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedHook {
    #[serde(flatten)]
    pub hook: HookView,
    /// `whsec_…`: configure it in the CMS; it is not shown again.
    pub secret: String,
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<HookView>>> {
    let q = query(q)?;
    let limit = q.limit()?;
    let rows = hooks::list(
        &state.store,
        ctx.workspace()?,
        q.after()?.as_deref(),
        limit + 1,
    )
    .await?;
    Ok(Json(
        Page::from_rows(rows, limit, |h| &h.id).map(HookView::from),
    ))
}

/// `POST /v1/hooks`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewHook {
    campaign_id: pressroom_core::CampaignId,
    #[schema(value_type = crate::adapters::Adapter)]
    adapter: String,
    #[serde(default)]
    mapping: Map<String, Value>,
}

pub async fn create(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<CreatedHook>)> {
    let ws = ctx.workspace()?;
    let input: NewHook = json_body(&body)?;
    let adapter = Adapter::parse(&input.adapter)
        .ok_or_else(|| ApiError::invalid("adapter: one of ghost, wordpress, strapi, generic"))?;
    if input.mapping.values().any(|v| {
        !v.as_str()
            .is_some_and(|p| p.is_empty() || p.starts_with('/'))
    }) {
        return Err(ApiError::invalid(
            "mapping: each value must be a JSON pointer string like \"/post/title\"",
        ));
    }
    if adapter == Adapter::Generic && input.mapping.is_empty() {
        return Err(ApiError::invalid(
            "mapping: the generic adapter needs at least one field",
        ));
    }
    let campaign = campaigns::get_live(&state.store, ws, &input.campaign_id).await?;
    let secret = WebhookSecret::generate().export();
    let secrets = vec![secret.expose_secret().to_string()];
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    let mapping = Value::Object(input.mapping);
    let row = hooks::insert(
        &state.store,
        &tx,
        now,
        hooks::NewHook {
            workspace_id: ws,
            campaign_id: &campaign.id,
            secrets: &secrets,
            adapter: adapter.as_str(),
            mapping: &mapping,
        },
        &state.row_sealer()?,
    )
    .await?;
    audit::record(
        &tx,
        now,
        ws,
        &ctx.actor(),
        "hook.created",
        &row.id,
        json!({ "campaign_id": campaign.id, "adapter": adapter.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedHook {
            hook: row.into(),
            secret: secret.expose_secret().to_string(),
        }),
    ))
}

/// The answer to an accepted delivery.
#[derive(Serialize, ToSchema)]
pub struct Received {
    /// "triggered", "duplicate" or "ignored".
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub run_id: Option<pressroom_core::RunId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reason: Option<String>,
}

fn rejected(detail: &str) -> ApiError {
    ApiError::new(Code::WebhookRejected, detail)
}

pub async fn receive(
    State(state): State<ApiState>,
    Path(hook_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Received>)> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(Code::PayloadTooLarge, "webhook body over the limit")
        } else {
            ApiError::invalid("could not read the body")
        }
    })?;
    let hook = hooks::get_for_delivery(&state.store, &hook_id)
        .await?
        .ok_or_else(|| ApiError::not_found("hook"))?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(sigs)) = (
        header(webhook::HEADER_ID),
        header(webhook::HEADER_TIMESTAMP),
        header(webhook::HEADER_SIGNATURE),
    ) else {
        return Err(rejected(
            "webhook-id, webhook-timestamp and webhook-signature are required",
        ));
    };
    if id.is_empty() || id.len() > 255 {
        return Err(rejected("webhook-id must be 1 to 255 characters"));
    }
    let now_s = state.store.now_ms().await? / 1000;
    let mut verified = false;
    for s in hook.secrets(&state.row_sealer()?)? {
        let Ok(secret) = WebhookSecret::parse(&SecretString::from(s)) else {
            tracing::warn!(hook = %hook.id, "hook has an unreadable secret; skipped");
            continue;
        };
        if secret
            .verify(id, ts, sigs, &body, now_s, webhook::DEFAULT_TOLERANCE)
            .is_ok()
        {
            verified = true;
            break;
        }
    }
    if !verified {
        tracing::info!(hook = %hook.id, delivery = %id, "webhook rejected: bad signature or timestamp");
        return Err(rejected("signature or timestamp did not verify"));
    }
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("body is not JSON: {e}")))?;
    let adapter = Adapter::parse(&hook.adapter).ok_or_else(|| {
        ApiError::internal(format!("hook {} has adapter {:?}", hook.id, hook.adapter))
    })?;
    let variables =
        match adapters::map(adapter, &payload, &hook.mapping()?).map_err(ApiError::invalid)? {
            Outcome::Fire(vars) => Value::Object(vars),
            Outcome::Ignore(reason) => {
                return Ok((
                    StatusCode::ACCEPTED,
                    Json(Received {
                        status: "ignored",
                        run_id: None,
                        reason: Some(reason),
                    }),
                ));
            }
        };
    let campaign = campaigns::get(&state.store, &hook.workspace_id, &hook.campaign_id).await?;
    if campaign.deleted_at.is_some() {
        // 2xx so the CMS stops retrying; nothing fires for a deleted campaign.
        return Ok((
            StatusCode::ACCEPTED,
            Json(Received {
                status: "ignored",
                run_id: None,
                reason: Some("the hook's campaign was deleted".into()),
            }),
        ));
    }
    let now = state.store.now_ms().await?;
    if !hooks::record_delivery(&state.store, state.store.conn(), now, &hook.id, id).await? {
        return Ok((
            StatusCode::OK,
            Json(Received {
                status: "duplicate",
                run_id: None,
                reason: Some("this webhook-id was already accepted".into()),
            }),
        ));
    }
    let fire_key = format!("hook:{id}");
    match fire(&state, &campaign, "webhook", &fire_key, &variables).await {
        Ok(t) => {
            tracing::info!(hook = %hook.id, delivery = %id, run = %t.run_id, "webhook: run triggered");
            Ok((
                StatusCode::ACCEPTED,
                Json(Received {
                    status: if t.created { "triggered" } else { "duplicate" },
                    run_id: Some(t.run_id),
                    reason: None,
                }),
            ))
        }
        Err(e) => {
            // Let the CMS's retry succeed: forget the delivery id we could not act on.
            if let Err(f) = hooks::forget_delivery(&state.store, &hook.id, id).await {
                tracing::error!(error = %f, "webhook: could not forget a failed delivery");
            }
            Err(e)
        }
    }
}
