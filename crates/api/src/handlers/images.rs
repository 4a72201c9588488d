//! `POST /v1/images/generations`, shaped like OpenAI's Images API so the official clients
//! work when pointed at Pressroom with one of our keys. Extras of ours: `seed`, `steps`,
//! `negative_prompt`.
//!
//! `response_format: "url"` (the default, as at OpenAI) stores each image as an asset of the
//! key's workspace (`assets/xx/<sha256>.png` under the data directory, listed by `/v1/assets`,
//! counted by `/v1/usage`, deleted by the workspace erasure) and answers a signed link,
//! `{media.public_base_url}/media/assets/{asset_id}?exp=&sig=`, that anyone may fetch until it
//! expires after `media.link_ttl_secs` (default 3600 s, OpenAI's hour). An earlier asset with
//! the same generation key (model, prompt, seed, steps, size, …) is answered instead of
//! generating the image again. Without `media.public_base_url` configured there is no
//! public address to link to, so `url` is a `data:image/png;base64,…` URL instead (nothing is
//! stored). `b64_json` answers the PNG in base64 and stores nothing either way.
//!
//! Limits: a request costs n × width × height × steps pixel-steps, capped per request (400
//! naming `images.max_pixel_steps_per_request`) and per workspace per UTC day (429 naming
//! `images.daily_pixel_steps_per_workspace`, Retry-After until midnight); a busy engine
//! answers 429 with Retry-After. A client that hangs up drops this future, which cancels its
//! engine work (see `pressroom_generate::EngineProcess`).

use axum::extract::State;
use axum::{Extension, Json};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pressroom_core::WorkspaceId;
use pressroom_generate::{BudgetError, GenerateError, GenerationRequest, Generator, pixel_steps};
use pressroom_runtime::images;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::RawBody;
use crate::handlers::json_body;
use crate::media::LinkKind;

/// The OpenAI request (unknown fields such as `quality` or `style` are accepted and ignored,
/// as clients send them by default).
#[derive(Deserialize, ToSchema)]
pub(crate) struct ImagesRequest {
    // Not only whitespace: the generator refuses a blank prompt.
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    prompt: String,
    /// A local model this instance serves (`generation.model`, `generation.models`) picks
    /// that model; any other name is served by the default model.
    #[serde(default)]
    #[schema(max_length = 200)]
    model: Option<String>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 4)]
    n: Option<u32>,
    /// WIDTHxHEIGHT, multiples of 8, at most 4096
    #[serde(default)]
    #[schema(pattern = "^[0-9]+x[0-9]+$")]
    size: Option<String>,
    #[serde(default)]
    #[schema(schema_with = response_format)]
    response_format: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    user: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 150)]
    steps: Option<u32>,
    #[serde(default)]
    negative_prompt: Option<String>,
}

/// `url` or `b64_json`, or null (`enum` lists null too, or it would refuse it).
fn response_format() -> utoipa::openapi::ObjectBuilder {
    use utoipa::openapi::{ObjectBuilder, Type, schema::SchemaType};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some([
            serde_json::Value::from("url"),
            serde_json::Value::from("b64_json"),
            serde_json::Value::Null,
        ]))
}

#[derive(Serialize)]
pub struct ImageData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b64_json: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub revised_prompt: String,
}

#[derive(Serialize)]
pub struct ImagesResponse {
    pub created: i64,
    pub data: Vec<ImageData>,
}

/// `WIDTHxHEIGHT` in digits only, as the schema's pattern says (`u32::from_str` alone would
/// also take `+64`).
fn parse_size(s: &str) -> ApiResult<(u32, u32)> {
    let bad = || ApiError::invalid(format!("size: {s:?} is not WIDTHxHEIGHT, e.g. 512x512"));
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    let number = |t: &str| -> ApiResult<u32> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    Ok((number(w)?, number(h)?))
}

pub async fn generations(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    RawBody(body): RawBody,
) -> ApiResult<Json<ImagesResponse>> {
    let req: ImagesRequest = json_body(&body)?;
    let workspace_id = ctx.workspace()?;
    // Characters, as the schema's maxLength counts them.
    if let Some(model) = req.model.as_deref()
        && model.chars().count() > 200
    {
        return Err(ApiError::invalid("model: longer than 200 characters"));
    }
    // A local model's name picks that model; any other name (an OpenAI client's default
    // "dall-e-3", "gpt-image-1") is served by the default model, as before.
    let picked = req
        .model
        .as_deref()
        .and_then(|m| state.local_models.get(m))
        .cloned();
    let generator = picked.or_else(|| state.generator.clone()).ok_or_else(|| {
        ApiError::new(
            Code::GeneratorUnavailable,
            "this instance has no image generator",
        )
    })?;
    let n = req.n.unwrap_or(1);
    if !(1..=4).contains(&n) {
        return Err(ApiError::invalid("n must be between 1 and 4"));
    }
    let b64 = match req.response_format.as_deref().unwrap_or("url") {
        "b64_json" => true,
        "url" => false,
        other => {
            return Err(ApiError::invalid(format!(
                "response_format {other:?} is not url or b64_json"
            )));
        }
    };
    let (width, height) = parse_size(req.size.as_deref().unwrap_or("512x512"))?;
    // The documented range (an int64, as the OpenAPI document says): JSON clients and
    // databases that read seeds back as signed 64-bit integers agree on every value.
    if let Some(seed) = req.seed
        && seed > i64::MAX as u64
    {
        return Err(ApiError::invalid(format!(
            "seed: at most {} (got {seed})",
            i64::MAX
        )));
    }
    let seed = req.seed.unwrap_or_else(|| u64::from(rand_seed()));
    let mut requests = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut g = GenerationRequest::new(req.prompt.clone(), seed.wrapping_add(u64::from(i)));
        g.width = width;
        g.height = height;
        g.negative_prompt = req.negative_prompt.clone();
        if let Some(steps) = req.steps {
            if !(1..=150).contains(&steps) {
                return Err(ApiError::invalid("steps must be between 1 and 150"));
            }
            g.steps = steps;
        }
        g.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
        requests.push(g);
    }
    let per_image = requests
        .first()
        .map(|g| pixel_steps(1, g.width, g.height, g.steps))
        .unwrap_or(0);
    let charged_at = state.store.now_ms().await?;
    state
        .image_budget
        .charge(
            workspace_id,
            per_image.saturating_mul(u64::from(n)),
            charged_at,
        )
        .map_err(budget_error)?;
    let mut data = Vec::with_capacity(n as usize);
    for (done, g) in requests.into_iter().enumerate() {
        let image = one_image(&state, generator.as_ref(), workspace_id, b64, g).await;
        let (b64_json, url) = match image {
            Ok(image) => image,
            Err(e) => {
                // The images not made are not spent (a dropped request refunds nothing:
                // its cancelled work ran for a step or so).
                let left = u64::try_from(requests_left(n, done)).unwrap_or(0);
                state
                    .image_budget
                    .refund(workspace_id, per_image.saturating_mul(left), charged_at);
                return Err(e);
            }
        };
        data.push(ImageData {
            b64_json,
            url,
            revised_prompt: req.prompt.clone(),
        });
    }
    let created = state.store.now_ms().await? / 1000;
    Ok(Json(ImagesResponse { created, data }))
}

fn requests_left(n: u32, done: usize) -> usize {
    (n as usize).saturating_sub(done)
}

/// One image as (b64_json, url).
async fn one_image(
    state: &ApiState,
    generator: &dyn Generator,
    workspace_id: &WorkspaceId,
    b64: bool,
    g: GenerationRequest,
) -> ApiResult<(Option<String>, Option<String>)> {
    Ok(match (b64, state.media.as_deref()) {
        (false, Some(links)) => {
            let made = stored_asset(state, generator, workspace_id, g).await?;
            (None, Some(links.url(LinkKind::Asset, &made.asset_id)))
        }
        // Nothing is stored for these (a documented promise), so nothing is reused either.
        (b64, _) => {
            let image = generator
                .generate_for(workspace_id, g, None)
                .await
                .map_err(generation_error)?;
            let encoded = STANDARD.encode(&image.png);
            if b64 {
                (Some(encoded), None)
            } else {
                // No public base URL: nothing to link to, so the image travels inline.
                (None, Some(format!("data:image/png;base64,{encoded}")))
            }
        }
    })
}

/// The workspace's asset for `g`, made or reused the way the pipeline does it.
async fn stored_asset(
    state: &ApiState,
    generator: &dyn Generator,
    workspace_id: &WorkspaceId,
    g: GenerationRequest,
) -> ApiResult<images::Made> {
    let made = images::generate_and_keep(
        &state.store,
        state.blobs.as_ref(),
        generator,
        workspace_id,
        &g,
        None,
    )
    .await;
    match made {
        Ok(made) => Ok(made),
        Err(images::MakeError::Generate(e)) => Err(generation_error(e)),
        Err(images::MakeError::Keep(images::KeepError::Store(e))) => Err(ApiError::from(e)),
        Err(images::MakeError::Keep(file)) => Err(ApiError::internal(format!("images: {file}"))),
    }
}

/// Over the per-request cap: 400 naming the fields and the limit; the day spent: 429 naming
/// the budget, retry at 00:00 UTC.
fn budget_error(e: BudgetError) -> ApiError {
    let detail = e.to_string();
    match e {
        BudgetError::RequestTooLarge { cost, limit } => {
            ApiError::invalid(detail).with_extra(serde_json::json!({
                "field": "n×size×steps",
                "limit": "images.max_pixel_steps_per_request",
                "max": limit,
                "cost": cost,
            }))
        }
        BudgetError::DailyBudgetSpent {
            cost,
            spent,
            limit,
            renews_in_ms,
        } => {
            let mut err = ApiError::new(Code::RateLimited, detail).with_extra(serde_json::json!({
                "budget": "images.daily_pixel_steps_per_workspace",
                "max": limit,
                "spent": spent,
                "cost": cost,
            }));
            err.retry_after = Some(ceil_secs(u64::try_from(renews_in_ms).unwrap_or(0)));
            err
        }
    }
}

/// Whole seconds for Retry-After, at least one.
fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

fn generation_error(e: GenerateError) -> ApiError {
    match e {
        GenerateError::InvalidRequest(m) => ApiError::invalid(m),
        GenerateError::PromptBlocked { .. } => ApiError::invalid(e.to_string()),
        // The same request flags again: a client error, not a failure worth retrying.
        GenerateError::Unsafe(m) => ApiError::invalid(m),
        // The engine's queue is full (or a remote backend throttles us): the client retries.
        GenerateError::RateLimited { retry_after, .. } => {
            let mut err = ApiError::new(
                Code::RateLimited,
                "the image generator is busy; retry after the time in Retry-After",
            );
            let ms = retry_after.map(|d| d.as_millis()).unwrap_or(10_000);
            err.retry_after = Some(ceil_secs(u64::try_from(ms).unwrap_or(u64::MAX)));
            err
        }
        // The engine process died or is restarting: the same request succeeds once it is back.
        GenerateError::EngineCrashed(_) | GenerateError::EngineGone => {
            tracing::warn!(error = %e, "images: the engine is restarting");
            let mut err = ApiError::new(
                Code::GeneratorUnavailable,
                "the image engine is restarting; retry after the time in Retry-After",
            );
            err.retry_after = Some(5);
            err
        }
        other => {
            tracing::warn!(error = %other, "images: generation failed");
            ApiError::new(Code::GenerationFailed, "the image generator failed")
        }
    }
}

/// A seed for requests that give none (time-derived; seeds need no secrecy).
fn rand_seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_are_digits_x_digits() {
        assert_eq!(parse_size("512x512").ok(), Some((512, 512)));
        assert_eq!(parse_size("64x1024").ok(), Some((64, 1024)));
        for bad in [
            "+64x64", "64 x64", "64x 64", "64x", "x64", "64x64x", "-8x8", "", "64*64",
        ] {
            let err = parse_size(bad).expect_err(bad);
            assert!(err.detail.starts_with("size:"), "{bad}: {}", err.detail);
        }
    }
}

#[cfg(test)]
#[path = "images_limits_tests.rs"]
mod limits_tests;
