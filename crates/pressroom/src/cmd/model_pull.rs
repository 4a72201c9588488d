//! `pressroom model pull REPO[@REVISION]`: downloads a diffusers-layout model from a Hugging
//! Face-compatible hub into `<data_dir>/models/NAME` (see `pressroom_models::hub`).

use std::process::ExitCode;

use secrecy::{ExposeSecret, SecretString};

use pressroom_models::hub::{self, HubRef, ProgressMode, PullOptions};
use pressroom_models::{Manifest, ModelStore};

use crate::config::Settings;

#[derive(clap::Args)]
pub struct PullArgs {
    /// REPO[@REVISION], e.g. stabilityai/sd-turbo or runwayml/stable-diffusion-v1-5@main.
    pub repo: String,
    /// The model's name under <data_dir>/models (default: the repo's name, lower-cased).
    #[arg(long)]
    pub name: Option<String>,
    /// Weights variant to prefer, e.g. fp16 (half the download and memory); a component
    /// without it gets its full-precision weights.
    #[arg(long)]
    pub variant: Option<String>,
    /// Replace a model of the same name (only once the new one is complete).
    #[arg(long)]
    pub force: bool,
}

pub async fn run(settings: Settings, args: PullArgs) -> anyhow::Result<ExitCode> {
    let reference = HubRef::parse(&args.repo)?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (endpoint, token) = hub_access(&settings, env("HF_ENDPOINT"), env("HF_TOKEN"));
    let store = ModelStore::under(&settings.paths.data_dir);
    let path = hub::pull(PullOptions {
        repo: reference.repo.clone(),
        revision: reference.revision.clone(),
        name: args.name,
        variant: args.variant,
        force: args.force,
        endpoint,
        token,
        store,
        progress: ProgressMode::Auto,
    })
    .await?;
    let manifest = Manifest::read(&path)?;
    println!(
        "pulled {}@{} into {}\n  {} {}, {:.1} MiB, {}\n  digest {}",
        reference.repo,
        reference.revision,
        path.display(),
        manifest.family,
        manifest.dtype,
        manifest.size_bytes as f64 / (1024.0 * 1024.0),
        manifest.source.describe(),
        manifest.digest
    );
    Ok(ExitCode::SUCCESS)
}

/// The endpoint and token: `HF_ENDPOINT` / `HF_TOKEN` when set, else `[models]`.
fn hub_access(
    settings: &Settings,
    env_endpoint: Option<String>,
    env_token: Option<String>,
) -> (String, Option<SecretString>) {
    let endpoint = env_endpoint.unwrap_or_else(|| settings.models.hub_endpoint.clone());
    let token = match env_token {
        Some(token) => Some(SecretString::from(token)),
        None if settings.models.hub_token.expose_secret().trim().is_empty() => None,
        None => Some(settings.models.hub_token.clone()),
    };
    (endpoint, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_the_config() {
        let mut settings = Settings::load(None).expect("defaults");
        let (endpoint, token) = hub_access(&settings, None, None);
        assert_eq!(endpoint, "https://huggingface.co");
        assert!(token.is_none(), "an empty hub_token is no token");

        settings.models.hub_token = SecretString::from("hf_config");
        settings.models.hub_endpoint = "https://mirror.example".into();
        let (endpoint, token) = hub_access(&settings, None, None);
        assert_eq!(endpoint, "https://mirror.example");
        assert_eq!(token.expect("config token").expose_secret(), "hf_config");

        let (endpoint, token) = hub_access(
            &settings,
            Some("http://127.0.0.1:9".into()),
            Some("hf_env".into()),
        );
        assert_eq!(endpoint, "http://127.0.0.1:9");
        assert_eq!(token.expect("env token").expose_secret(), "hf_env");
        assert!(
            !format!("{:?}", settings.models).contains("hf_config"),
            "the token is never printed"
        );
    }
}
