//! OpenAI Images (`POST {base}/v1/images/generations`), returning base64 PNGs.
//! The API has no seed, steps or scheduler; those still enter the cache key, so a repeat
//! request is served from the cache rather than producing a different image.

use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::GenerateError;
use crate::generator::Generator;
use crate::key::generation_key;
use crate::remote::{check_remote_config, http_client, network_error, status_error};
use crate::request::{GeneratedImage, GenerationRequest, Progress, ProgressFn, image_dimensions};

const BACKEND: &str = "openai";

/// `[generation.openai]`: only `api_key` is required.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiConfig {
    /// `https://api.openai.com` in production; a local fake in tests.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    pub api_key: SecretString,
    #[serde(default = "default_model")]
    pub model: String,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl OpenAiConfig {
    /// The real service with its default model and timeout.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            base_url: default_base_url(),
            api_key: SecretString::from(api_key.into()),
            model: default_model(),
            timeout_secs: default_timeout(),
        }
    }
}

fn default_base_url() -> String {
    "https://api.openai.com".into()
}

fn default_model() -> String {
    "gpt-image-1".into()
}

fn default_timeout() -> u64 {
    120
}

pub struct OpenAiImages {
    config: OpenAiConfig,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct ImagesResponse {
    data: Vec<ImageData>,
}

#[derive(Deserialize)]
struct ImageData {
    b64_json: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
    #[serde(default)]
    code: Option<String>,
}

impl OpenAiImages {
    /// Checks the configuration (URL, key, timeout) and builds the HTTP client.
    pub fn new(config: OpenAiConfig) -> Result<Self, GenerateError> {
        check_remote_config(
            "generation.openai",
            &config.base_url,
            &config.api_key,
            config.timeout_secs,
        )?;
        if config.model.trim().is_empty() {
            return Err(GenerateError::Config(
                "generation.openai.model: must not be empty".into(),
            ));
        }
        let client = http_client(Duration::from_secs(config.timeout_secs))?;
        Ok(Self { config, client })
    }
}

#[async_trait::async_trait]
impl Generator for OpenAiImages {
    fn identity(&self) -> String {
        format!("openai-images:{}", self.config.model)
    }

    /// The API has no negative prompt: it is appended to the prompt ("Avoid: …").
    fn negative_prompt_is_prompt_text(&self) -> bool {
        true
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        req.validate()?;
        let key = generation_key(&self.identity(), &req);
        let url = format!(
            "{}/v1/images/generations",
            self.config.base_url.trim_end_matches('/')
        );
        // The API has no negative prompt; fold it into the text the way its docs suggest.
        let prompt = match &req.negative_prompt {
            Some(n) if !n.trim().is_empty() => format!("{}\n\nAvoid: {n}", req.prompt),
            _ => req.prompt.clone(),
        };
        let body = serde_json::json!({
            "model": self.config.model,
            "prompt": prompt,
            "n": 1,
            "size": format!("{}x{}", req.width, req.height),
            "output_format": "png",
        });
        let resp = self
            .client
            .post(&url)
            .bearer_auth(self.config.api_key.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(|e| network_error(BACKEND, e))?;
        let status = resp.status();
        if !status.is_success() {
            let retry = resp.headers().get(reqwest::header::RETRY_AFTER).cloned();
            let text = resp.text().await.unwrap_or_default();
            let message = serde_json::from_str::<ErrorBody>(&text)
                .map(|b| match b.error.code {
                    Some(code) => format!("{} ({code})", b.error.message),
                    None => b.error.message,
                })
                .unwrap_or(text);
            return Err(status_error(BACKEND, status, retry.as_ref(), message));
        }
        let parsed: ImagesResponse = resp.json().await.map_err(|e| network_error(BACKEND, e))?;
        let b64 = parsed
            .data
            .into_iter()
            .find_map(|d| d.b64_json)
            .ok_or_else(|| GenerateError::Image("response has no b64_json image".into()))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| GenerateError::Image(format!("bad base64: {e}")))?;
        let (width, height) = image_dimensions(&png)?;
        if let Some(p) = progress {
            p(Progress { step: 1, total: 1 });
        }
        Ok(GeneratedImage {
            png,
            width,
            height,
            cache_hit: false,
            generation_key: key,
        })
    }
}
