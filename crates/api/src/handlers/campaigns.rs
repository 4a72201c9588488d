//! Campaigns: list, get, create/update from TOML (the same format as campaign files),
//! validate, pause/resume, and trigger a run now (`pressroom_runtime::campaigns::trigger`,
//! which the CLI calls too and which dedupes on the fire key).

use crate::handlers::Path;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Extension, Json};
use pressroom_core::campaign::{CampaignSpec, SpecIssue, parse_campaign};
use pressroom_core::{CampaignId, RunId, WorkspaceId};
use pressroom_runtime::campaigns as runtime_campaigns;
use pressroom_runtime::campaigns::{Fire, TriggerError};
use pressroom_store::Paging;
use pressroom_store::entity::campaign;
use pressroom_store::repo::{audit, campaign_delete, campaigns, workspaces};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::RawBody;
use crate::handlers::workspaces::query;
use crate::handlers::{json_body, stored_json};
use crate::page::{Page, PageQuery};

/// A campaign as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Campaign)]
pub struct CampaignView {
    pub id: CampaignId,
    pub name: String,
    pub enabled: bool,
    /// The parsed campaign
    pub spec: serde_json::Value,
    /// The TOML source
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<campaign::Model> for CampaignView {
    fn from(c: campaign::Model) -> Self {
        Self {
            spec: stored_json(&c.spec),
            id: c.id,
            name: c.name,
            enabled: c.enabled != 0,
            source: c.source,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<CampaignView>>> {
    let q = query(q)?;
    let limit = q.limit()?;
    let ws = ctx.workspace()?;
    let after = q.after()?;
    let rows = campaigns::page(&state.store, ws, Paging::new(after.as_deref(), limit + 1)).await?;
    Ok(Json(
        Page::from_rows(rows, limit, |c| &c.id).map(CampaignView::from),
    ))
}

pub async fn get_one(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<CampaignId>,
) -> ApiResult<Json<CampaignView>> {
    Ok(Json(
        campaigns::get_live(&state.store, ctx.workspace()?, &id)
            .await?
            .into(),
    ))
}

/// `POST /v1/campaigns` and `validate` as JSON (or the TOML itself as the body).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceBody {
    /// The campaign's TOML source
    source: String,
}

/// The TOML source: a JSON `{ "source": … }` body, or the TOML itself as the body. The body
/// is required (the document says so): an empty one is a 400, not a campaign with no fields
/// (which `validate` would answer 200 for, with its issues).
fn source_of(headers: &HeaderMap, body: &Bytes) -> ApiResult<String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "body: required; send the campaign's TOML (application/toml) or {\"source\": …} \
             (application/json)",
        ));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        Ok(json_body::<SourceBody>(body)?.source)
    } else {
        String::from_utf8(body.to_vec()).map_err(|_| ApiError::invalid("body is not UTF-8"))
    }
}

/// One problem of a campaign file, where it is.
#[derive(Serialize, ToSchema)]
pub struct IssueView {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) field: String,
    pub(crate) message: String,
}

/// What `POST /v1/campaigns/validate` answers.
#[derive(Serialize, ToSchema)]
pub struct Validation {
    pub(crate) valid: bool,
    /// When valid
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) name: Option<String>,
    pub(crate) issues: Vec<IssueView>,
}

fn issue_views(issues: &[SpecIssue]) -> Vec<IssueView> {
    issues
        .iter()
        .map(|i| IssueView {
            line: i.line,
            column: i.column,
            field: i.field.clone(),
            message: i.message.clone(),
        })
        .collect()
}

/// Parses and checks a campaign against this workspace: its accounts, the known presets and
/// backends, and that it names this workspace (the key decides the workspace; a file naming
/// another one is refused rather than silently moved).
async fn check(
    state: &ApiState,
    ws_id: &WorkspaceId,
    source: &str,
) -> ApiResult<Result<CampaignSpec, Vec<SpecIssue>>> {
    const FILE: &str = "request body";
    let spec = match parse_campaign(source, FILE) {
        Ok(spec) => spec,
        Err(issues) => {
            // A template over a limit is its own 4xx naming the limit: the template must
            // change, whatever else is wrong.
            if let Some((limit, issue)) =
                issues.iter().find_map(|i| i.limit.map(|limit| (limit, i)))
            {
                return Err(ApiError::template_limit(
                    limit,
                    &issue.field,
                    &issue.message,
                ));
            }
            return Ok(Err(issues));
        }
    };
    let ws = workspaces::get(&state.store, ws_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let mut issues = Vec::new();
    if spec.workspace != ws.slug {
        let (line, column) = pressroom_core::campaign::line_column(source, 0);
        issues.push(SpecIssue {
            file: FILE.into(),
            line,
            column,
            field: "workspace".into(),
            message: format!(
                "names workspace {:?} but this key belongs to {:?}",
                spec.workspace, ws.slug
            ),
            limit: None,
        });
    }
    let known = Some(runtime_campaigns::known_accounts(&state.store, ws_id).await?);
    issues.extend(runtime_campaigns::check_spec(
        &spec,
        source,
        FILE,
        &known,
        &state.presets,
    ));
    if let Some(media) = &spec.media {
        let missing =
            pressroom_runtime::uploads::not_in_library(&state.store, ws_id, &media.assets).await?;
        issues.extend(pressroom_core::campaign::validate_media_assets(
            &spec,
            source,
            FILE,
            &|id| missing.get(id).map_or(Ok(()), |reason| Err(reason.clone())),
        ));
    }
    // A body has no folder next to it: its images come from the library.
    issues.extend(pressroom_core::campaign::validate_media_files(
        &spec,
        source,
        FILE,
        &|_| {
            Err("a campaign sent through the API has no folder to read files from: upload the image (POST /v1/assets) and list its id in media.assets".into())
        },
    ));
    Ok(if issues.is_empty() {
        Ok(spec)
    } else {
        Err(issues)
    })
}

pub async fn validate(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Validation>> {
    let source = source_of(&headers, &body)?;
    Ok(Json(
        match check(&state, ctx.workspace()?, &source).await? {
            Ok(spec) => Validation {
                valid: true,
                name: Some(spec.name),
                issues: Vec::new(),
            },
            Err(issues) => Validation {
                valid: false,
                name: None,
                issues: issue_views(&issues),
            },
        },
    ))
}

pub async fn create(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<CampaignView>)> {
    let ws = ctx.workspace()?;
    let source = source_of(&headers, &body)?;
    let spec = check(&state, ws, &source).await?.map_err(|issues| {
        ApiError::new(
            Code::InvalidCampaign,
            format!("{} problem(s)", issues.len()),
        )
        .with_extra(json!({ "issues": issue_views(&issues) }))
    })?;
    let actor = ctx.actor();
    let origin = runtime_campaigns::Origin {
        actor: &actor,
        source_file: None,
        detail: json!({ "name": spec.name }),
    };
    let row = runtime_campaigns::save(&state.store, ws, &spec, &source, origin).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

pub async fn pause(
    state: State<ApiState>,
    ctx: Extension<Ctx>,
    id: Path<CampaignId>,
) -> ApiResult<Json<CampaignView>> {
    set_enabled(state, ctx, id, false).await
}

pub async fn resume(
    state: State<ApiState>,
    ctx: Extension<Ctx>,
    id: Path<CampaignId>,
) -> ApiResult<Json<CampaignView>> {
    set_enabled(state, ctx, id, true).await
}

async fn set_enabled(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<CampaignId>,
    enabled: bool,
) -> ApiResult<Json<CampaignView>> {
    let ws = ctx.workspace()?;
    campaigns::set_enabled(&state.store, ws, &id, enabled).await?;
    let now = state.store.now_ms().await?;
    let action = if enabled {
        "campaign.resumed"
    } else {
        "campaign.paused"
    };
    audit::record(
        state.store.conn(),
        now,
        ws,
        &ctx.actor(),
        action,
        &id,
        json!({}),
    )
    .await?;
    Ok(Json(
        campaigns::get_live(&state.store, ws, &id).await?.into(),
    ))
}

/// `POST /v1/campaigns/{id}/trigger`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TriggerBody {
    /// Override the campaign's [variables]
    #[serde(default)]
    variables: serde_json::Map<String, serde_json::Value>,
}

/// Fires the campaign now. With an `Idempotency-Key`, the fire key is derived from it, so
/// even a retry whose saved response was lost fires once.
pub async fn trigger(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<CampaignId>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<Triggered>)> {
    let ws = ctx.workspace()?;
    let input: TriggerBody = json_body(&body)?;
    let row = campaigns::get_live(&state.store, ws, &id).await?;
    let fire_key = match headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        Some(k) => format!("api:{k}"),
        None => format!("api:{}", pressroom_core::new_id()),
    };
    let variables = serde_json::Value::Object(input.variables);
    let triggered = fire(&state, &row, "api", &fire_key, &variables).await?;
    let now = state.store.now_ms().await?;
    audit::record(
        state.store.conn(),
        now,
        ws,
        &ctx.actor(),
        "campaign.triggered",
        &row.id,
        json!({ "run_id": triggered.run_id, "created": triggered.created }),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(triggered)))
}

/// What a trigger answers: the run it created, or the one its fire key had created.
#[derive(Serialize, ToSchema)]
pub struct Triggered {
    pub run_id: RunId,
    /// False when this fire key had already fired
    pub created: bool,
}

/// Creates the run (or finds the one this fire key already created).
pub(crate) async fn fire(
    state: &ApiState,
    row: &campaign::Model,
    trigger: &str,
    fire_key: &str,
    variables: &serde_json::Value,
) -> ApiResult<Triggered> {
    let fire = Fire {
        trigger,
        fire_key,
        variables,
    };
    let triggered = runtime_campaigns::trigger(&state.store, &state.queue, row, fire)
        .await
        .map_err(|e| match e {
            TriggerError::Store(e) => e.into(),
            TriggerError::Vanished(_) => ApiError::new(Code::Conflict, e.to_string()),
            TriggerError::Spec(e) => ApiError::internal(e),
        })?;
    Ok(Triggered {
        run_id: triggered.run_id,
        created: triggered.created,
    })
}

/// What `DELETE /v1/campaigns/{id}` answers.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub id: CampaignId,
    pub deleted: bool,
    /// The queued work the delete withdrew.
    pub withdrawn: Withdrawn,
}

/// What a campaign's delete withdrew.
#[derive(Serialize, ToSchema)]
pub struct Withdrawn {
    /// Queued generate, render and publish jobs removed from the queue.
    pub jobs: u64,
    /// Posts that were waiting to publish, now `cancelled`.
    pub posts: u64,
    /// Runs that had not generated their image yet, now `failed`.
    pub runs: u64,
}

impl From<campaign_delete::Withdrawn> for Withdrawn {
    fn from(w: campaign_delete::Withdrawn) -> Self {
        Self {
            jobs: w.jobs,
            posts: w.posts,
            runs: w.runs,
        }
    }
}

/// Soft-deletes the campaign: it leaves listings and the schedule, its hooks stop firing, its
/// runs and posts stay readable, and work that has not started is withdrawn (queued jobs
/// removed, pending posts cancelled, unstarted runs failed). 409 while one of its posts is
/// publishing or one of its jobs runs. Saving a campaign of the same name brings it back.
pub async fn delete(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<CampaignId>,
) -> ApiResult<Json<Deleted>> {
    let ws = ctx.workspace()?;
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    let withdrawn = campaign_delete::delete(&state.store, &tx, now, ws, &id).await?;
    audit::record(
        &tx,
        now,
        ws,
        &ctx.actor(),
        "campaign.deleted",
        &id,
        serde_json::to_value(&withdrawn).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Deleted {
        id,
        deleted: true,
        withdrawn: withdrawn.into(),
    }))
}
