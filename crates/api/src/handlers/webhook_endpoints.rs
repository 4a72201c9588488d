//! Outbound webhook endpoints: admins register URLs that hear about post events
//! (`post.published`, `post.failed`, `post.needs_reconnect`). The signing secret is in the
//! create response once and never again; deliveries are `notify` jobs run by the workers.

use crate::handlers::Path;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use pressroom_core::PostEvent;
use pressroom_crypto::webhook::WebhookSecret;
use pressroom_runtime::outbound::check_url;
use pressroom_store::entity::webhook_endpoint;
use pressroom_store::repo::{audit, webhook_endpoints};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::workspaces::query;
use crate::handlers::{RawBody, json_body};
use crate::page::{Page, PageQuery};

/// Longest description accepted (it is a label, not a document).
const MAX_DESCRIPTION: usize = 500;

/// An endpoint as listed (never its secret).
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookEndpoint)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    #[schema(value_type = Vec<pressroom_core::PostEvent>)]
    pub events: Vec<&'static str>,
    pub description: String,
    /// False once the receiver answered 410 Gone.
    pub enabled: bool,
    #[schema(required)]
    pub disabled_reason: Option<String>,
    pub created_at: i64,
}

impl TryFrom<webhook_endpoint::Model> for EndpointView {
    type Error = ApiError;

    fn try_from(e: webhook_endpoint::Model) -> Result<Self, ApiError> {
        Ok(Self {
            events: e
                .event_types()?
                .into_iter()
                .map(PostEvent::as_str)
                .collect(),
            enabled: e.is_enabled(),
            id: e.id,
            url: e.url,
            description: e.description,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_…`: verify deliveries with it (Standard Webhooks); it is not shown again.
    pub secret: String,
}

/// `POST /v1/webhook-endpoints`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEndpoint {
    url: String,
    /// Event types; every event when absent or null
    #[schema(value_type = Option<Vec<pressroom_core::PostEvent>>, min_items = 1)]
    events: Option<Vec<String>>,
    #[serde(default)]
    description: String,
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<EndpointView>>> {
    let q = query(q)?;
    let limit = q.limit()?;
    let rows = webhook_endpoints::list(
        &state.store,
        ctx.workspace()?,
        q.after()?.as_deref(),
        limit + 1,
    )
    .await?;
    let page = Page::from_rows(rows, limit, |e| &e.id);
    let data = page
        .data
        .into_iter()
        .map(EndpointView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Page {
        data,
        next_cursor: page.next_cursor,
    }))
}

pub async fn create(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<CreatedEndpoint>)> {
    let ws = ctx.workspace()?;
    let input: NewEndpoint = json_body(&body)?;
    let url = check_url(input.url.trim(), state.webhooks_allow_private)
        .map_err(|e| ApiError::invalid(format!("url: {e}")))?;
    let events = parse_events(input.events.as_deref())?;
    if input.description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::invalid(format!(
            "description: at most {MAX_DESCRIPTION} characters"
        )));
    }
    let secret = WebhookSecret::generate().export();
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    let row = webhook_endpoints::insert(
        &state.store,
        &tx,
        now,
        webhook_endpoints::NewEndpoint {
            workspace_id: ws,
            url: url.as_str(),
            secret: secret.expose_secret(),
            events: &events,
            description: &input.description,
        },
        &state.row_sealer()?,
    )
    .await?;
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    audit::record(
        &tx,
        now,
        ws,
        &ctx.actor(),
        "webhook_endpoint.created",
        &row.id,
        json!({ "url": row.url, "events": names }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpoint {
            endpoint: row.try_into()?,
            secret: secret.expose_secret().to_string(),
        }),
    ))
}

pub async fn delete(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ws = ctx.workspace()?;
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    webhook_endpoints::delete(&state.store, &tx, ws, &id).await?;
    audit::record(
        &tx,
        now,
        ws,
        &ctx.actor(),
        "webhook_endpoint.deleted",
        &id,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The subscribed events: all when absent; otherwise known names, at least one, deduplicated.
fn parse_events(names: Option<&[String]>) -> ApiResult<Vec<PostEvent>> {
    let Some(names) = names else {
        return Ok(PostEvent::ALL.to_vec());
    };
    if names.is_empty() {
        return Err(ApiError::invalid(
            "events: name at least one event, or leave the field out for all of them",
        ));
    }
    let mut events = Vec::new();
    for name in names {
        let event = PostEvent::parse(name).ok_or_else(|| {
            let known: Vec<&str> = PostEvent::ALL.iter().map(|e| e.as_str()).collect();
            ApiError::invalid(format!(
                "events: unknown event {name:?} (one of {})",
                known.join(", ")
            ))
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}
