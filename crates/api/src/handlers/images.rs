//! `POST /v1/images/generations`, shaped like OpenAI's Images API so the official clients
//! work when pointed at Pressroom with one of our keys. Extras of ours: `seed`, `steps`,
//! `negative_prompt`. `response_format: "url"` answers a `data:` URL (no extra fetch, no
//! stored file to expire); `b64_json` answers the PNG in base64.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pressroom_generate::{GenerateError, GenerationRequest};
use serde::{Deserialize, Serialize};

use crate::ApiState;
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::RawBody;
use crate::handlers::json_body;

/// The OpenAI request (unknown fields such as `quality` or `style` are accepted and ignored,
/// as clients send them by default).
#[derive(Deserialize)]
struct ImagesRequest {
    prompt: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    response_format: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    user: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    steps: Option<u32>,
    #[serde(default)]
    negative_prompt: Option<String>,
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

fn parse_size(s: &str) -> ApiResult<(u32, u32)> {
    let bad = || ApiError::invalid(format!("size {s:?} is not WIDTHxHEIGHT, e.g. 512x512"));
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    Ok((
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    ))
}

pub async fn generations(
    State(state): State<ApiState>,
    RawBody(body): RawBody,
) -> ApiResult<Json<ImagesResponse>> {
    let req: ImagesRequest = json_body(&body)?;
    let generator = state.generator.clone().ok_or_else(|| {
        ApiError::new(
            Code::GeneratorUnavailable,
            "this instance has no image generator",
        )
    })?;
    if let Some(model) = req.model.as_deref()
        && model.len() > 200
    {
        return Err(ApiError::invalid("model name too long"));
    }
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
    let seed = req.seed.unwrap_or_else(|| u64::from(rand_seed()));
    let mut data = Vec::with_capacity(n as usize);
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
        let image = generator
            .generate(g, None)
            .await
            .map_err(generation_error)?;
        let encoded = STANDARD.encode(&image.png);
        data.push(ImageData {
            b64_json: b64.then(|| encoded.clone()),
            url: (!b64).then(|| format!("data:image/png;base64,{encoded}")),
            revised_prompt: req.prompt.clone(),
        });
    }
    let created = state.store.now_ms().await? / 1000;
    Ok(Json(ImagesResponse { created, data }))
}

fn generation_error(e: GenerateError) -> ApiError {
    match e {
        GenerateError::InvalidRequest(m) => ApiError::invalid(m),
        GenerateError::PromptBlocked { .. } => ApiError::invalid(e.to_string()),
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
