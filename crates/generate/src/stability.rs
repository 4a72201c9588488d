//! Stability AI Stable Image Core (`POST {base}/v2beta/stable-image/generate/core`):
//! multipart form in, raw PNG out (`Accept: image/*`). The size is expressed as the nearest
//! supported aspect ratio; the service picks the pixel size.

use std::time::Duration;

use serde::Deserialize;

use crate::error::GenerateError;
use crate::generator::Generator;
use crate::key::generation_key;
use crate::remote::{ApiKey, http_client, network_error, status_error};
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

#[derive(Clone, Debug, Deserialize)]
pub struct StabilityConfig {
    /// `https://api.stability.ai` in production; a local fake in tests.
    pub base_url: String,
    pub api_key: ApiKey,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    120
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
    pub fn new(config: StabilityConfig) -> Result<Self, GenerateError> {
        let client = http_client(Duration::from_secs(config.timeout_secs))?;
        Ok(Self { config, client })
    }
}

#[async_trait::async_trait]
impl Generator for StabilityImages {
    fn identity(&self) -> String {
        "stability:stable-image-core".into()
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        req.validate()?;
        let key = generation_key(&self.identity(), &req);
        let url = format!(
            "{}/v2beta/stable-image/generate/core",
            self.config.base_url.trim_end_matches('/')
        );
        // The API takes seeds in [0, 4294967294].
        let seed = req.seed % 4_294_967_295;
        let mut form = reqwest::multipart::Form::new()
            .text("prompt", req.prompt.clone())
            .text("seed", seed.to_string())
            .text("aspect_ratio", aspect_ratio(req.width, req.height))
            .text("output_format", "png");
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
            .bearer_auth(self.config.api_key.expose())
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
    fn nearest_aspect_ratio() {
        assert_eq!(aspect_ratio(512, 512), "1:1");
        assert_eq!(aspect_ratio(1920, 1080), "16:9");
        assert_eq!(aspect_ratio(1080, 1350), "4:5");
        assert_eq!(aspect_ratio(1080, 1920), "9:16");
    }
}
