//! `POST /v1/posts`: a one-off post of the person's own images (uploaded with
//! `POST /v1/assets`), now or at `publish_at`, checked by the campaign rules of each target's
//! platform before anything is stored (see `pressroom_runtime::oneoff`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use pressroom_core::campaign::GenerationSpec;
use pressroom_core::{AssetId, CampaignId, RunId};
use pressroom_runtime::oneoff::{self, OneOff, Problem};
use pressroom_store::repo::workspaces;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::{RawBody, json_body};

/// A one-off post.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// The post's text, as written (not a template). Empty for none.
    #[serde(default)]
    pub caption: String,
    /// Asset ids from the library (POST /v1/assets), in order: 1 to 10; several make a
    /// carousel where the platform has one.
    #[schema(value_type = Vec<String>)]
    pub media: Vec<AssetId>,
    /// `account` (its platform's first preset) or `account:preset`.
    pub targets: Vec<String>,
    /// When to publish (RFC 3339); absent or null publishes now.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub publish_at: Option<DateTime<Utc>>,
    /// Alt text for each image, where the platform takes it.
    #[serde(default)]
    pub alt_text: Option<String>,
    /// Posted as a comment once the post is published, where the platform allows it.
    #[serde(default)]
    pub first_comment: Option<String>,
}

/// A one-off post accepted.
#[derive(Serialize, ToSchema)]
pub struct CreatedPost {
    /// The campaign of one run the post became (`post-…`).
    pub campaign_id: CampaignId,
    pub campaign: String,
    /// The run, when it publishes now; a later post gets its run at `publish_at`
    /// (`GET /v1/runs?campaign_id=`).
    #[schema(value_type = Option<String>, required)]
    pub run_id: Option<RunId>,
    #[schema(value_type = Option<String>, format = DateTime, required)]
    pub publish_at: Option<DateTime<Utc>>,
    /// The targets as resolved (`account:preset`).
    pub targets: Vec<String>,
}

pub async fn create(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<CreatedPost>)> {
    let ws = ctx.workspace()?;
    let input: NewPost = json_body(&body)?;
    let post = OneOff {
        caption: input.caption,
        media: input.media,
        targets: input.targets,
        publish_at: input.publish_at,
        alt_text: input.alt_text,
        first_comment: input.first_comment,
    };
    let mut problems = Vec::new();
    // Looked up only when the count is one a post may have (spec_for names a wrong count).
    let lookups = if post.media.len() <= GenerationSpec::MAX_IMAGES as usize {
        post.media.as_slice()
    } else {
        &[]
    };
    let missing = pressroom_runtime::uploads::not_in_library(&state.store, ws, lookups).await?;
    for (index, id) in lookups.iter().enumerate() {
        if let Some(reason) = missing.get(id.as_str()) {
            problems.push(Problem {
                field: "media",
                message: format!("[{index}] `{id}`: {reason}"),
            });
        }
    }
    let workspace = workspaces::get(&state.store, ws)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let accounts = pressroom_runtime::campaigns::known_accounts(&state.store, ws).await?;
    let name = format!("post-{}", pressroom_core::new_id().replace('-', ""));
    let now = DateTime::from_timestamp_millis(state.store.now_ms().await?).unwrap_or_else(Utc::now);
    let spec = oneoff::spec_for(
        &workspace.slug,
        &name,
        &post,
        &accounts,
        &state.presets,
        now,
    );
    let spec = match spec {
        Ok(spec) if problems.is_empty() => spec,
        Ok(_) => return Err(refused(problems)),
        Err(more) => {
            problems.extend(more);
            return Err(refused(problems));
        }
    };
    let created = oneoff::create(&state.store, &state.queue, ws, &spec, &ctx.actor())
        .await
        .map_err(|e| match e {
            pressroom_runtime::campaigns::TriggerError::Store(s) => ApiError::from(s),
            other => ApiError::internal(other),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedPost {
            campaign_id: created.campaign.id,
            campaign: created.campaign.name,
            run_id: created.run_id,
            publish_at: post.publish_at,
            targets: spec
                .targets
                .iter()
                .map(|t| format!("{}:{}", t.account, t.preset))
                .collect(),
        }),
    ))
}

/// 400 naming each refused field.
fn refused(problems: Vec<Problem>) -> ApiError {
    let detail = problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let list: Vec<serde_json::Value> = problems
        .iter()
        .map(|p| serde_json::json!({ "field": p.field, "message": p.message }))
        .collect();
    ApiError::invalid(detail).with_extra(serde_json::json!({ "problems": list }))
}
