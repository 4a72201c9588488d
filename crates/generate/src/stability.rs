//! Stability AI Stable Image (`POST {base}/v2beta/stable-image/generate/{core|ultra|sd3}`):
//! multipart form in, raw PNG out (`Accept: image/*`). The size is expressed as the nearest
//! supported aspect ratio; the service picks the pixel size. The configured `model` picks the
//! endpoint: `core` (default), `ultra`, or an SD3 model name (`sd3.5-large`, …) sent to `sd3`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::GenerateError;
use crate::generator::Generator;
use crate::key::generation_key;
use crate::remote::{check_remote_config, http_client, network_error, status_error};
use crate::request::{GeneratedImage, GenerationRequest, Progress, ProgressFn, image_dimensions};

const BACKEND: &str = "stability";

/// The aspect ratios the endpoint accepts.
const RATIOS: &[(&str, f64)] = &[
    ("21:9", 21.0 / 9.0),
    ("16:9", 16.0 / 9.0),
    ("3:2", 1.5),
    ("5:4", 1.25),
    ("1:1", 1.0),
    ("4:5", 0.8),
    ("2:3", 2.0 / 3.0),
    ("9:16", 9.0 / 16.0),
    ("9:21", 9.0 / 21.0),
];

/// The supported aspect ratio closest (in log space) to `width`:`height`.
pub fn aspect_ratio(width: u32, height: u32) -> &'static str {
    let r = (f64::from(width) / f64::from(height.max(1))).ln();
    RATIOS
        .iter()
        .min_by(|a, b| (a.1.ln() - r).abs().total_cmp(&(b.1.ln() - r).abs()))
        .map(|x| x.0)
        .unwrap_or("1:1")
}

/// `[generation.stability]`: only `api_key` is required.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StabilityConfig {
    /// `https://api.stability.ai` in production; a local fake in tests.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    pub api_key: SecretString,
    /// `core`, `ultra`, or an SD3 model (`sd3.5-large`, `sd3.5-large-turbo`, `sd3.5-medium`, …).
    #[serde(default = "default_model")]
    pub model: String,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl StabilityConfig {
    /// The real service, Stable Image Core, default timeout.
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
    "https://api.stability.ai".into()
}

fn default_model() -> String {
    "core".into()
}

fn default_timeout() -> u64 {
    120
}

/// The endpoint (last path segment) and, for SD3, the `model` form field.
fn endpoint(model: &str) -> Option<(&'static str, Option<&str>)> {
    match model {
        "core" => Some(("core", None)),
        "ultra" => Some(("ultra", None)),
        m if m.starts_with("sd3") => Some(("sd3", Some(m))),
        _ => None,
    }
}

pub struct StabilityImages {
    config: StabilityConfig,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    errors: Vec<String>,
}

impl StabilityImages {
    /// Checks the configuration (URL, key, model, timeout) and builds the HTTP client.
    pub fn new(config: StabilityConfig) -> Result<Self, GenerateError> {
        check_remote_config(
            "generation.stability",
            &config.base_url,
            &config.api_key,
            config.timeout_secs,
        )?;
        if endpoint(&config.model).is_none() {
            return Err(GenerateError::Config(format!(
                "generation.stability.model: {:?} is not \"core\", \"ultra\" or an SD3 model (sd3.5-large, …)",
                config.model
            )));
        }
        let client = http_client(Duration::from_secs(config.timeout_secs))?;
        Ok(Self { config, client })
    }
}

#[async_trait::async_trait]
impl Generator for StabilityImages {
    fn identity(&self) -> String {
        format!("stability:stable-image-{}", self.config.model)
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        req.validate()?;
        let key = generation_key(&self.identity(), &req);
        let (path, model_field) = endpoint(&self.config.model).unwrap_or(("core", None));
        let url = format!(
            "{}/v2beta/stable-image/generate/{path}",
            self.config.base_url.trim_end_matches('/')
        );
        // The API takes seeds in [0, 4294967294].
        let seed = req.seed % 4_294_967_295;
        let mut form = reqwest::multipart::Form::new()
            .text("prompt", req.prompt.clone())
            .text("seed", seed.to_string())
            .text("aspect_ratio", aspect_ratio(req.width, req.height))
            .text("output_format", "png");
        if let Some(m) = model_field {
            form = form.text("model", m.to_string());
        }
        if let Some(n) = req
            .negative_prompt
            .as_ref()
            .filter(|n| !n.trim().is_empty())
        {
            form = form.text("negative_prompt", n.clone());
        }
        let resp = self
            .client
            .post(&url)
            .bearer_auth(self.config.api_key.expose_secret())
            .header(reqwest::header::ACCEPT, "image/*")
            .multipart(form)
            .send()
            .await
            .map_err(|e| network_error(BACKEND, e))?;
        let status = resp.status();
        if !status.is_success() {
            let retry = resp.headers().get(reqwest::header::RETRY_AFTER).cloned();
            let text = resp.text().await.unwrap_or_default();
            let message = serde_json::from_str::<ErrorBody>(&text)
                .map(|b| format!("{}: {}", b.name, b.errors.join("; ")))
                .unwrap_or(text);
            return Err(status_error(BACKEND, status, retry.as_ref(), message));
        }
        // A 200 can still carry a filtered (blurred) image; refuse to publish it.
        let finish = resp
            .headers()
            .get("finish-reason")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("SUCCESS")
            .to_string();
        if finish == "CONTENT_FILTERED" {
            return Err(GenerateError::Rejected {
                backend: BACKEND,
                status: status.as_u16(),
                message: "the image was filtered by the service's content moderation".into(),
            });
        }
        let png = resp
            .bytes()
            .await
            .map_err(|e| network_error(BACKEND, e))?
            .to_vec();
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

#[cfg(test)]
mod tests {
    use super::aspect_ratio;

    #[test]
    fn model_picks_the_endpoint() {
        assert_eq!(super::endpoint("core"), Some(("core", None)));
        assert_eq!(super::endpoint("ultra"), Some(("ultra", None)));
        assert_eq!(
            super::endpoint("sd3.5-large"),
            Some(("sd3", Some("sd3.5-large")))
        );
        assert_eq!(super::endpoint("dall-e-3"), None);
    }

    #[test]
    fn nearest_aspect_ratio() {
        assert_eq!(aspect_ratio(512, 512), "1:1");
        assert_eq!(aspect_ratio(1920, 1080), "16:9");
        assert_eq!(aspect_ratio(1080, 1350), "4:5");
        assert_eq!(aspect_ratio(1080, 1920), "9:16");
    }
}
