//! `POST /v1/campaigns/{id}/preview`: what a run with these variables would render — prompt,
//! negative prompt, the caption per target with that platform's caption checks — without
//! creating a run, enqueuing a job or calling any platform. It uses the pipeline's own
//! renderer (`render_texts`) and variable layering (`template_context`), so a preview that
//! passes renders the same texts in a real run.

use crate::handlers::Path;
use axum::extract::State;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use pressroom_core::CampaignId;
use pressroom_core::campaign::{
    RunFacts, parse_campaign, render_target_texts, render_texts, template_context,
};
use pressroom_store::repo::{accounts, campaigns};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::{RawBody, json_body};

/// `POST /v1/campaigns/{id}/preview`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewBody {
    /// The trigger's variables (they override the campaign's `[variables]`).
    #[serde(default)]
    variables: serde_json::Map<String, serde_json::Value>,
    /// The fire time templates see as `run.*` times (RFC 3339); now when absent or null.
    #[schema(value_type = Option<String>, format = DateTime)]
    fire_at: Option<DateTime<Utc>>,
}

/// One thing a run would trip over.
#[derive(Serialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

/// One target as a run would publish to it.
#[derive(Serialize)]
pub struct TargetPreview {
    pub account: String,
    /// The account's platform; None when the workspace has no such account.
    pub platform: Option<pressroom_core::Platform>,
    pub preset: String,
    pub fit: String,
    /// `single` or `story`.
    pub format: pressroom_core::PostFormat,
    /// This target's caption (its own template, or the campaign's), with `target` known.
    pub caption: Option<String>,
    /// Per image the post carries.
    pub alt_texts: Vec<String>,
    /// Absent where the platform takes no comments.
    pub first_comment: Option<String>,
    /// Missing account or preset, templates of this target that did not render, and the
    /// platform's caption rules that the caption breaks.
    pub problems: Vec<Problem>,
}

#[derive(Serialize)]
pub struct Preview {
    pub campaign_id: CampaignId,
    /// True when every template renders and every target's checks pass.
    pub ok: bool,
    pub prompt: Option<String>,
    pub negative_prompt: Option<String>,
    pub caption: Option<String>,
    pub targets: Vec<TargetPreview>,
    /// Templates that did not render.
    pub problems: Vec<Problem>,
    /// What the templates saw: the campaign's variables, then these, then `run`.
    pub variables: serde_json::Value,
}

/// A campaign saved before templates had a budget may now break a limit: that is the
/// caller's 422 naming the limit, not a server error.
fn stored_template_limit(source: &str) -> Option<ApiError> {
    let issues = parse_campaign(source, "stored campaign").err()?;
    let (limit, issue) = issues
        .iter()
        .find_map(|i| i.limit.map(|limit| (limit, i)))?;
    Some(ApiError::template_limit(
        limit,
        &issue.field,
        &issue.message,
    ))
}

pub async fn preview(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<CampaignId>,
    RawBody(body): RawBody,
) -> ApiResult<Json<Preview>> {
    let ws = ctx.workspace()?;
    let input: PreviewBody = json_body(&body)?;
    let row = campaigns::get_live(&state.store, ws, &id).await?;
    let spec = match pressroom_runtime::campaigns::stored_spec(&row) {
        Ok(spec) => spec,
        Err(e) => {
            return Err(stored_template_limit(&row.source).unwrap_or_else(|| ApiError::internal(e)));
        }
    };
    let fire_at = match input.fire_at {
        Some(at) => at,
        None => DateTime::from_timestamp_millis(state.store.now_ms().await?).unwrap_or_default(),
    };
    let facts = RunFacts {
        id: "preview",
        trigger: "preview",
        fire_key: "preview",
        fire_at,
    };
    let vars = template_context(&spec, &facts, &serde_json::Value::Object(input.variables));
    let (texts, problems) = match render_texts(&spec, &vars) {
        Ok(t) => (Some(t), Vec::new()),
        Err(failed) => {
            if let Some((limit, p)) = failed
                .iter()
                .find_map(|p| p.error.limit().map(|limit| (limit, p)))
            {
                return Err(ApiError::template_limit(
                    limit,
                    &p.field,
                    &p.error.to_string(),
                ));
            }
            (
                None,
                failed
                    .into_iter()
                    .map(|p| Problem {
                        field: p.field.to_string(),
                        message: p.error.to_string(),
                    })
                    .collect(),
            )
        }
    };
    let caption = texts.as_ref().map(|t| t.caption.clone());
    let mut targets = Vec::with_capacity(spec.targets.len());
    for (i, target) in spec.targets.iter().enumerate() {
        let account = accounts::by_name(state.store.conn(), ws, &target.account).await?;
        let mut problems = Vec::new();
        if account.is_none() {
            problems.push(Problem {
                field: format!("targets[{i}].account"),
                message: format!("no account named {:?} in this workspace", target.account),
            });
        }
        if pressroom_media::preset(&target.preset).is_none() {
            problems.push(Problem {
                field: format!("targets[{i}].preset"),
                message: format!("unknown preset {:?}", target.preset),
            });
        }
        let platform = account.map(|a| a.platform);
        let platform_name = platform
            .map(|p| p.to_string())
            .or_else(|| {
                state
                    .presets
                    .get(&target.preset)
                    .map(|p| p.platform.clone())
            })
            .unwrap_or_default();
        let texts = match render_target_texts(&spec, i, &platform_name, &vars) {
            Ok(texts) => Some(texts),
            Err(failed) => {
                problems.extend(failed.into_iter().map(|p| Problem {
                    field: p.field,
                    message: p.error.to_string(),
                }));
                None
            }
        };
        let caption = texts.as_ref().map(|t| t.caption.clone());
        if let (Some(platform), Some(caption)) = (&platform, &caption)
            && target.format != pressroom_core::PostFormat::Story
            && let Err(issues) = pressroom_media::check_caption(platform.as_str(), caption)
        {
            let field = if target.caption.is_some() {
                format!("targets[{i}].caption")
            } else {
                "caption".into()
            };
            problems.extend(issues.into_iter().map(|issue| Problem {
                field: field.clone(),
                message: issue.to_string(),
            }));
        }
        targets.push(TargetPreview {
            account: target.account.clone(),
            platform,
            preset: target.preset.clone(),
            fit: target
                .fit
                .map(|f| f.as_str())
                .unwrap_or("cover")
                .to_string(),
            format: target.format,
            caption,
            alt_texts: texts
                .as_ref()
                .map(|t| t.alt_texts.clone())
                .unwrap_or_default(),
            first_comment: texts.and_then(|t| t.first_comment),
            problems,
        });
    }
    let ok = problems.is_empty() && targets.iter().all(|t| t.problems.is_empty());
    Ok(Json(Preview {
        campaign_id: row.id,
        ok,
        prompt: texts.as_ref().map(|t| t.prompt.clone()),
        negative_prompt: texts.as_ref().and_then(|t| t.negative_prompt.clone()),
        caption,
        targets,
        problems,
        variables: vars,
    }))
}
