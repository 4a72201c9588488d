//! Campaigns in the console: the list, and an editor for a campaign's TOML with the
//! validator's issues at their lines (checked on the server on load and on save, and as you
//! type through `POST /v1/campaigns/validate`), a preview of the rendered prompt and captions,
//! trigger now with variables, pause and resume, delete.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use pressroom_core::CampaignId;
use serde::Deserialize;

use super::page::{self, Viewer};
use crate::ApiState;
use crate::handlers::campaigns::{self as api, Validation};
use crate::handlers::{Path, RawBody, preview};
use crate::html::field;
use crate::page::PageQuery;
use crate::routes::Method;

/// What a new campaign starts from.
const STARTER: &str = r#"name = "my-campaign"

[schedule]
cron = "0 9 * * MON"
timezone = "Europe/Berlin"

[generation]
prompt = "A product photo of {{ product }} on a wooden table, soft light"

[caption]
template = "New this week: {{ product }}"

[variables]
product = "our linen tote"

[[targets]]
account = "my-instagram"
preset = "instagram-square"
"#;

pub(crate) async fn list(State(state): State<ApiState>, viewer: Viewer) -> Response {
    let q = PageQuery {
        limit: Some("200".into()),
        cursor: None,
    };
    match api::list(State(state), Extension(viewer.ctx.clone()), Ok(Query(q))).await {
        Ok(Json(found)) => viewer.render(
            "campaigns.html",
            "campaigns",
            minijinja::context! {
                campaigns => page::value(&found.data),
                may_edit => viewer.may(Method::Post, "/v1/campaigns"),
            },
        ),
        Err(e) => page::error_page(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewParams {
    /// Start from a generated image's parameters ("use this seed" in the gallery).
    from_asset: Option<String>,
}

pub(crate) async fn new_page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(params): Query<NewParams>,
) -> Response {
    let mut source = STARTER.to_owned();
    if let Some(asset) = params.from_asset.filter(|a| !a.is_empty()) {
        match crate::handlers::assets::get_one(
            State(state.clone()),
            Extension(viewer.ctx.clone()),
            Path(asset.into()),
        )
        .await
        {
            Ok(Json(a)) => source = from_asset(&a),
            Err(e) => return page::error_page(e),
        }
    }
    editor(&state, &viewer, None, &source, None, StatusCode::OK).await
}

/// A campaign that makes the asset's image again: its prompt, seed, size, steps and model.
fn from_asset(a: &crate::handlers::assets::AssetView) -> String {
    let p = &a.params;
    let mut generation = toml::Table::new();
    for key in [
        "prompt",
        "negative_prompt",
        "seed",
        "steps",
        "guidance",
        "width",
        "height",
        "scheduler",
    ] {
        let Some(v) = p.get(key) else { continue };
        let value = match v {
            serde_json::Value::String(s) => toml::Value::String(s.clone()),
            serde_json::Value::Number(n) if n.is_i64() => {
                toml::Value::Integer(n.as_i64().unwrap_or_default())
            }
            serde_json::Value::Number(n) => toml::Value::Float(n.as_f64().unwrap_or_default()),
            _ => continue,
        };
        generation.insert(key.to_owned(), value);
    }
    let generation = toml::to_string(&generation).unwrap_or_default();
    format!(
        "name = \"from-image\"\n\n[schedule]\ncron = \"0 9 * * MON\"\ntimezone = \"UTC\"\n\n\
         [generation]\n{generation}\n[caption]\ntemplate = \"\"\n\n[[targets]]\naccount = \"my-instagram\"\npreset = \"instagram-square\"\n"
    )
}

pub(crate) async fn edit(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<CampaignId>,
) -> Response {
    match api::get_one(
        State(state.clone()),
        Extension(viewer.ctx.clone()),
        Path(id),
    )
    .await
    {
        Ok(Json(c)) => {
            let source = c.source.clone();
            editor(&state, &viewer, Some(&c), &source, None, StatusCode::OK).await
        }
        Err(e) => page::error_page(e),
    }
}

/// Runs the validator over `source` (the API's own check).
async fn validate(
    state: &ApiState,
    viewer: &Viewer,
    source: &str,
) -> Result<Validation, crate::errors::ApiError> {
    api::validate(
        State(state.clone()),
        Extension(viewer.ctx.clone()),
        HeaderMap::new(),
        RawBody(Bytes::from(source.to_owned())),
    )
    .await
    .map(|Json(v)| v)
}

/// The editor page, with the validator's issues for `source` and an optional result panel
/// (a preview, a trigger).
async fn editor(
    state: &ApiState,
    viewer: &Viewer,
    campaign: Option<&api::CampaignView>,
    source: &str,
    extra: Option<minijinja::Value>,
    status: StatusCode,
) -> Response {
    let validation = if source.trim().is_empty() {
        None
    } else {
        match validate(state, viewer, source).await {
            Ok(v) => Some(v),
            Err(e) => return page::error_page(e),
        }
    };
    let lines = source.lines().count().max(1);
    viewer.render_status(
        "campaign.html",
        status,
        "campaigns",
        minijinja::context! {
            campaign => campaign.map(page::value),
            source => source,
            rows => lines.clamp(20, 60),
            valid => validation.as_ref().map(|v| v.valid),
            name => validation.as_ref().and_then(|v| v.name.clone()),
            issues => validation.as_ref().map(|v| page::value(&v.issues)),
            result => extra,
            may_edit => viewer.may(Method::Post, "/v1/campaigns"),
        },
    )
}

/// Save: the API's create-or-update; issues keep the text in the editor.
pub(crate) async fn save(
    State(state): State<ApiState>,
    viewer: Viewer,
    RawBody(body): RawBody,
) -> Response {
    let fields = match viewer.action_form(&body, Method::Post, "/v1/campaigns") {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let source = field(&fields, "source")
        .unwrap_or_default()
        .replace("\r\n", "\n");
    let created = api::create(
        State(state.clone()),
        Extension(viewer.ctx.clone()),
        HeaderMap::new(),
        RawBody(Bytes::from(source.clone())),
    )
    .await;
    match created {
        Ok((_, Json(c))) => page::done(
            &format!("/campaigns/{}", c.id),
            true,
            &format!("Saved {}.", c.name),
        ),
        Err(e) => {
            // Whatever refused it, the text stays in the editor with the reason; the campaign
            // it was opened from keeps its controls.
            let opened_from = match field(&fields, "campaign_id").filter(|id| !id.is_empty()) {
                Some(id) => api::get_one(
                    State(state.clone()),
                    Extension(viewer.ctx.clone()),
                    Path(CampaignId::from(id.to_owned())),
                )
                .await
                .ok()
                .map(|Json(c)| c),
                None => None,
            };
            let status = if e.code == crate::errors::Code::Internal {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let text = if e.code == crate::errors::Code::InvalidCampaign {
                format!("Not saved: {}.", e.detail)
            } else {
                format!("Not saved: {}", e.detail)
            };
            let extra = minijinja::context! { save_error => text };
            editor(
                &state,
                &viewer,
                opened_from.as_ref(),
                &source,
                Some(extra),
                status,
            )
            .await
        }
    }
}

/// Variables typed as TOML (`product = "Linen Tote"`), as JSON for the API.
fn variables(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    if text.trim().is_empty() {
        return Ok(serde_json::Map::new());
    }
    let table: toml::Table =
        toml::from_str(text).map_err(|e| format!("variables: {}", e.message()))?;
    match serde_json::to_value(table) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err("variables: not a table".to_owned()),
    }
}

/// Preview, trigger, pause, resume, delete.
pub(crate) async fn act(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path((id, action)): Path<(CampaignId, String)>,
    RawBody(body): RawBody,
) -> Response {
    let fields = match viewer.form(&body) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let here = format!("/campaigns/{id}");
    let ctx = Extension(viewer.ctx.clone());
    let vars_text = field(&fields, "variables").unwrap_or_default().to_owned();
    let route = match action.as_str() {
        "preview" => "/v1/campaigns/{id}/preview",
        "trigger" => "/v1/campaigns/{id}/trigger",
        "pause" => "/v1/campaigns/{id}/pause",
        "resume" => "/v1/campaigns/{id}/resume",
        "delete" => "/v1/campaigns/{id}",
        _ => {
            return page::done(
                &here,
                false,
                "action: preview, trigger, pause, resume or delete",
            );
        }
    };
    let method = if action == "delete" {
        Method::Delete
    } else {
        Method::Post
    };
    if let Err(refused) = viewer.require(method, route) {
        return *refused;
    }
    match action.as_str() {
        "preview" | "trigger" => {
            let vars = match variables(&vars_text) {
                Ok(v) => v,
                Err(e) => return page::done(&here, false, &e),
            };
            let body = RawBody(Bytes::from(
                serde_json::json!({ "variables": vars }).to_string(),
            ));
            if action == "trigger" {
                return match api::trigger(State(state), ctx, Path(id), HeaderMap::new(), body).await
                {
                    Ok((_, Json(t))) => page::done(
                        &format!("/runs/{}", t.run_id),
                        true,
                        "Triggered: the run is on its way.",
                    ),
                    Err(e) => page::failed(&here, e),
                };
            }
            let preview =
                preview::preview(State(state.clone()), ctx.clone(), Path(id.clone()), body).await;
            let campaign = match api::get_one(State(state.clone()), ctx, Path(id)).await {
                Ok(Json(c)) => c,
                Err(e) => return page::error_page(e),
            };
            let extra = match preview {
                Ok(Json(p)) => {
                    minijinja::context! { preview => page::value(&p), variables => vars_text }
                }
                Err(e) => minijinja::context! { error => e.detail, variables => vars_text },
            };
            let source = campaign.source.clone();
            editor(
                &state,
                &viewer,
                Some(&campaign),
                &source,
                Some(extra),
                StatusCode::OK,
            )
            .await
        }
        "pause" => match api::pause(State(state), ctx, Path(id)).await {
            Ok(_) => page::done(
                &here,
                true,
                "Paused: its schedule will not fire until resumed.",
            ),
            Err(e) => page::failed(&here, e),
        },
        "resume" => match api::resume(State(state), ctx, Path(id)).await {
            Ok(_) => page::done(&here, true, "Resumed."),
            Err(e) => page::failed(&here, e),
        },
        _ => match api::delete(State(state), ctx, Path(id)).await {
            Ok(Json(d)) => page::done(
                "/campaigns",
                true,
                &format!(
                    "Deleted. Withdrawn: {} queued jobs, {} posts, {} runs.",
                    d.withdrawn.jobs, d.withdrawn.posts, d.withdrawn.runs
                ),
            ),
            Err(e) => page::failed(&here, e),
        },
    }
}
