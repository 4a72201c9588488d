//! Configuration: `config/default.toml` (embedded), then `--config FILE`, then environment
//! variables `PRESSROOM__SECTION__KEY`. Unknown keys and bad values fail start-up with the
//! key's name.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../../config/default.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: Database,
    pub paths: Paths,
    pub scheduler: Scheduler,
    pub workers: Workers,
    pub retry: Retry,
    pub generation: Generation,
    /// Pixel-step budgets of `POST /v1/images/generations`.
    #[serde(default)]
    pub images: pressroom_generate::BudgetConfig,
    pub connectors: Connectors,
    pub security: Security,
    pub log: Log,
    pub api: Api,
    pub media: Media,
    pub webhooks_out: WebhooksOut,
    pub retention: Retention,
    pub email: Email,
    pub insights: Insights,
    pub models: Models,
    pub storage: Storage,
}

/// `[storage]`: where images and renditions are kept (the data directory, or an
/// S3-compatible bucket that several instances share). See config/default.toml.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// Empty: `paths.data_dir`; `file://PATH` or a directory; `s3://BUCKET[/PREFIX]`.
    pub url: String,
    /// The S3 API's base URL for servers other than AWS (MinIO, R2, ...).
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: secrecy::SecretString,
    /// Allows an `http://` endpoint.
    pub allow_http: bool,
}

impl Storage {
    /// The connection settings of object storage (empty ones fall back to the AWS
    /// environment variables).
    pub fn s3_options(&self) -> pressroom_store::S3Options {
        pressroom_store::S3Options {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            allow_http: self.allow_http,
        }
    }
}

/// `[models]`: where `pressroom model pull` downloads from (`HF_ENDPOINT` and `HF_TOKEN`, when
/// set, override these, as huggingface_hub does), and `[models.NAME]` tables: one model's own
/// options over `[generation]`'s. (No `deny_unknown_fields`: the tables are the other keys;
/// each table is strict.)
#[derive(Clone, Debug, Deserialize)]
pub struct Models {
    pub hub_endpoint: String,
    /// Empty: none (public repos only).
    pub hub_token: secrecy::SecretString,
    /// The other keys, each a `[models.NAME]` table (read as [`ModelOptions`] by
    /// [`Models::options`]; checked at load, so a misspelt key is named there).
    #[serde(flatten)]
    pub each: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Models {
    /// `[models.NAME]`, or why it is not one.
    pub fn options(&self, name: &str) -> anyhow::Result<ModelOptions> {
        match self.each.get(name) {
            None => Ok(ModelOptions::default()),
            Some(table @ serde_json::Value::Object(_)) => {
                serde_json::from_value(table.clone()).with_context(|| format!("models.{name}"))
            }
            Some(_) => anyhow::bail!(
                "models.{name}: not a setting of [models] (hub_endpoint, hub_token) nor a [models.NAME] table"
            ),
        }
    }
}

/// `[models.NAME]`: what differs for one model (an anime checkpoint's `clip_skip = 1`, a
/// model without a safety checker worth running).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOptions {
    pub clip_skip: Option<u32>,
    pub safety_checker: Option<bool>,
}

/// `[insights]`: when published posts' numbers are fetched back from the platforms.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Insights {
    /// Durations after publishing (`"1h"`, `"3d"`); empty: only on request.
    pub schedule: Vec<String>,
}

impl Insights {
    /// The schedule, parsed; the error names the entry.
    pub fn schedule(&self) -> anyhow::Result<Vec<std::time::Duration>> {
        self.schedule
            .iter()
            .enumerate()
            .map(|(i, text)| {
                pressroom_core::campaign::duration::parse_duration(text)
                    .map_err(|e| anyhow::anyhow!("insights.schedule[{i}]: {e}"))
            })
            .collect()
    }
}

/// `[email]`: where invitations are mailed from; off while `smtp_url` is empty.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    pub smtp_url: String,
    pub from: String,
}

/// How long finished rows are kept (`[retention]`); 0 keeps them forever.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub jobs_days: u64,
    pub hook_deliveries_days: u64,
    pub purge_every_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    pub keyring_file: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub url: String,
    /// Connections in this instance's pool; 0: chosen from the backend and the workers.
    pub max_connections: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    pub data_dir: PathBuf,
    pub campaigns_dir: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheduler {
    pub enabled: bool,
    pub tick: String,
    pub grace_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workers {
    pub roles: Vec<pressroom_core::JobKind>,
    pub concurrency: usize,
    pub lease_secs: u64,
    pub heartbeat_secs: u64,
    pub poll_ms: u64,
    /// Longest wait between claims while the database fails.
    pub max_backoff_ms: u64,
    pub rescue_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub max_attempts: u32,
    pub base_ms: u64,
    pub cap_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generation {
    pub model_dir: PathBuf,
    /// A model in `<data_dir>/models` by name (`pressroom model list`); excludes `model_dir`.
    pub model: String,
    /// More models in `<data_dir>/models` this instance serves, each in an engine process of
    /// its own: a campaign's `[generation] model` or the images API's `model` picks one.
    #[serde(default)]
    pub models: Vec<String>,
    /// Text encoder layers skipped from the end (diffusers' `clip_skip`).
    pub clip_skip: u32,
    /// Check images with the model's safety checker when its folder has one.
    pub safety_checker: bool,
    pub device: pressroom_generate::DeviceSetting,
    /// Backend "openai" is registered only when `[generation.openai]` is present.
    pub openai: Option<pressroom_generate::OpenAiConfig>,
    /// Backend "stability" is registered only when `[generation.stability]` is present.
    pub stability: Option<pressroom_generate::StabilityConfig>,
    /// Block list applied to every backend (see `PromptPolicy` for the negative prompt).
    #[serde(default)]
    pub policy: pressroom_generate::PromptPolicy,
    /// The local engine's queue, batching and shutdown.
    #[serde(default)]
    pub engine: EngineSettings,
}

/// `[generation.engine]`: see config/default.toml.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// Whether the generate role starts the local engine process (false: remote backends
    /// only, and libtorch is never loaded).
    pub enabled: bool,
    pub batch_window_ms: u64,
    pub max_batch: usize,
    pub queue_capacity: usize,
    pub busy_retry_after_secs: u64,
    pub shutdown_timeout_secs: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        let d = pressroom_generate::EngineOptions::default();
        Self {
            enabled: true,
            batch_window_ms: d.batch_window_ms,
            max_batch: d.max_batch,
            queue_capacity: d.queue_capacity,
            busy_retry_after_secs: d.busy_retry_after_secs,
            shutdown_timeout_secs: d.shutdown_timeout_secs,
        }
    }
}

impl EngineSettings {
    pub fn engine_options(&self) -> pressroom_generate::EngineOptions {
        pressroom_generate::EngineOptions {
            batch_window_ms: self.batch_window_ms,
            max_batch: self.max_batch.max(1),
            queue_capacity: self.queue_capacity.max(1),
            busy_retry_after_secs: self.busy_retry_after_secs.max(1),
            shutdown_timeout_secs: self.shutdown_timeout_secs,
            ..pressroom_generate::EngineOptions::default()
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connectors {
    pub sandbox: SandboxSettings,
    /// A platform connector is registered only when its section is present (each crate's
    /// config documents its keys; base URLs default to the real platform).
    #[cfg(feature = "facebook")]
    pub facebook: Option<connector_facebook::FacebookConfig>,
    #[cfg(feature = "instagram")]
    pub instagram: Option<connector_instagram::InstagramConfig>,
    #[cfg(feature = "linkedin")]
    pub linkedin: Option<connector_linkedin::LinkedInConfig>,
    #[cfg(feature = "tiktok")]
    pub tiktok: Option<connector_tiktok::TikTokConfig>,
    #[cfg(feature = "snapchat")]
    pub snapchat: Option<connector_snapchat::SnapchatConfig>,
    #[cfg(feature = "webhook")]
    pub webhook: Option<connector_webhook::WebhookConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    pub outbox_dir: PathBuf,
    pub commit_delay_ms: u64,
    /// Scripted failures, in order (see connector-sandbox's `ScriptedFailure`).
    #[cfg(feature = "sandbox")]
    #[serde(default)]
    pub failures: Vec<connector_sandbox::ScriptedFailure>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub format: String,
    pub level: String,
}

/// Signed public media links and rendition presets (`[media]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// Where the platforms reach the API; empty disables public links.
    pub public_base_url: String,
    pub link_ttl_secs: u64,
    /// `[media.presets.NAME]`: changes to a bundled preset (only the keys given) or a new
    /// preset (platform, width, height, formats and max_bytes required). See
    /// [`Settings::presets`].
    #[serde(default)]
    pub presets: std::collections::BTreeMap<String, pressroom_media::PresetPatch>,
}

/// The control API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    pub enabled: bool,
    /// ADDR:PORT to listen on.
    pub bind: String,
    /// Per-key token bucket: average requests per second, and burst.
    pub rate_limit_per_second: f64,
    pub rate_limit_burst: f64,
    /// Per client address, on routes without an API key.
    pub ip_rate_limit_per_second: f64,
    pub ip_rate_limit_burst: f64,
    /// Per client address, failed authentications.
    pub auth_failures_per_second: f64,
    pub auth_failures_burst: f64,
    pub header_read_timeout_secs: u64,
    pub max_connections: usize,
    pub metrics_cache_secs: u64,
}

/// Outbound webhook deliveries (`[webhooks_out]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksOut {
    pub timeout_secs: u64,
    pub max_attempts: u32,
    /// Off by default: a user-supplied URL must not reach into our own network.
    pub allow_private_addresses: bool,
}

impl WebhooksOut {
    pub fn outbound(&self) -> pressroom_runtime::OutboundConfig {
        pressroom_runtime::OutboundConfig {
            timeout: std::time::Duration::from_secs(self.timeout_secs),
            allow_private: self.allow_private_addresses,
            max_attempts: self.max_attempts,
        }
    }
}

impl Settings {
    /// Loads the layers and validates the result.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            if !path.exists() {
                anyhow::bail!("config file {} does not exist", path.display());
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("PRESSROOM")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("workers.roles")
                .with_list_parse_key("insights.schedule")
                .with_list_parse_key("generation.models")
                .try_parsing(true),
        );
        let settings: Settings = builder
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .context("invalid configuration")?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !self.generation.model.is_empty() {
            if !self.generation.model_dir.as_os_str().is_empty() {
                anyhow::bail!(
                    "generation.model and generation.model_dir: set one of them, not both (model names a model in <data_dir>/models, model_dir any folder)"
                );
            }
            pressroom_models::ModelStore::validate_name(&self.generation.model)
                .context("generation.model")?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, name) in self.generation.models.iter().enumerate() {
            pressroom_models::ModelStore::validate_name(name)
                .with_context(|| format!("generation.models[{i}]"))?;
            if name == &self.local_model_name() || !seen.insert(name) {
                anyhow::bail!(
                    "generation.models[{i}]: `{name}` is listed twice (generation.model is served already)"
                );
            }
        }
        for name in self.models.each.keys() {
            let own = self.models.options(name)?;
            pressroom_models::ModelStore::validate_name(name)
                .with_context(|| format!("models.{name}"))?;
            if own.clip_skip.is_some_and(|k| k > 24) {
                anyhow::bail!(
                    "models.{name}.clip_skip: more layers than any CLIP text encoder has"
                );
            }
        }
        if self.generation.clip_skip > 24 {
            anyhow::bail!(
                "generation.clip_skip: {} is more layers than any CLIP text encoder has",
                self.generation.clip_skip
            );
        }
        if self.workers.concurrency == 0 {
            anyhow::bail!("workers.concurrency: must be at least 1");
        }
        if self.workers.lease_secs == 0 || self.workers.heartbeat_secs >= self.workers.lease_secs {
            anyhow::bail!(
                "workers.heartbeat_secs: must be shorter than workers.lease_secs (a lease must be renewed before it expires)"
            );
        }
        if self.retry.max_attempts == 0 {
            anyhow::bail!("retry.max_attempts: must be at least 1");
        }
        if !["pretty", "json"].contains(&self.log.format.as_str()) {
            anyhow::bail!(
                "log.format: {:?} is not \"pretty\" or \"json\"",
                self.log.format
            );
        }
        if self.api.bind.parse::<std::net::SocketAddr>().is_err() {
            anyhow::bail!(
                "api.bind: {:?} is not ADDR:PORT (e.g. 127.0.0.1:8080)",
                self.api.bind
            );
        }
        let (rate, burst) = (self.api.rate_limit_per_second, self.api.rate_limit_burst);
        if !(rate > 0.0 && rate.is_finite()) {
            anyhow::bail!("api.rate_limit_per_second: must be a positive number (got {rate})");
        }
        if !(burst >= 1.0 && burst.is_finite()) {
            anyhow::bail!("api.rate_limit_burst: must be at least 1 (got {burst})");
        }
        if self.webhooks_out.timeout_secs == 0 {
            anyhow::bail!("webhooks_out.timeout_secs: must be at least 1");
        }
        if self.webhooks_out.max_attempts == 0 {
            anyhow::bail!("webhooks_out.max_attempts: must be at least 1");
        }
        let base = &self.media.public_base_url;
        let is_http = base.starts_with("http://") || base.starts_with("https://");
        if !base.is_empty() && !is_http {
            anyhow::bail!("media.public_base_url: must be an http(s) URL (got {base:?})");
        }
        pressroom_runtime::email::Mailer::from_config(&self.email.smtp_url, &self.email.from)?;
        if self.media.link_ttl_secs == 0 {
            anyhow::bail!("media.link_ttl_secs: must be at least 1");
        }
        self.presets()?;
        let schedule = self.insights.schedule()?;
        if schedule.len() > 20 {
            anyhow::bail!(
                "insights.schedule: at most 20 fetches per post (got {})",
                schedule.len()
            );
        }
        // The error names the URL with its password hidden: config errors reach the terminal
        // and the service log.
        let url = &self.database.url;
        if !url.is_empty() {
            pressroom_store::Backend::from_url(url)
                .map_err(|e| anyhow::anyhow!("database.url: {e}"))?;
        }
        self.blob_location()?;
        self.storage
            .s3_options()
            .validate()
            .map_err(|e| anyhow::anyhow!("storage.{e}"))?;
        Ok(())
    }

    /// Where the blobs live (`[storage] url`); the error names the setting.
    pub fn blob_location(&self) -> anyhow::Result<pressroom_store::BlobLocation> {
        self.blob_location_at(&self.storage.url)
            .map_err(|e| anyhow::anyhow!("storage.url: {e}"))
    }

    /// `url` read as a `[storage] url` would be (`pressroom storage migrate --to URL`).
    pub fn blob_location_at(&self, url: &str) -> Result<pressroom_store::BlobLocation, String> {
        pressroom_store::BlobLocation::parse(url, &self.paths.data_dir)
    }

    /// The rendition presets: the bundled table with `[media.presets.NAME]` applied. Used by
    /// the render worker, campaign validation and the `presets`/`render` commands, so all of
    /// them see the same table. Checked at start-up (`validate`).
    ///
    /// # Errors
    /// An override that is incomplete or inconsistent, naming its key, e.g.
    /// `media.presets.instagram-square: invalid preset instagram-square: size 3000x1080 ...`.
    pub fn presets(&self) -> anyhow::Result<pressroom_media::Presets> {
        pressroom_media::Presets::builtin()
            .with_named_overrides(&self.media.presets)
            .map_err(|e| match &e {
                pressroom_media::MediaError::InvalidPreset { name, .. } => {
                    anyhow::anyhow!("media.presets.{name}: {e}")
                }
                _ => anyhow::anyhow!("media.presets: {e}"),
            })
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.paths.data_dir.join("pressroom.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }

    /// The pool size: as configured, or for PostgreSQL one connection per concurrent job
    /// plus a few for the claimers, heartbeats and the API, between 16 and 32 (two instances
    /// then stay within PostgreSQL's default limit of 100 connections); SQLite serialises its
    /// writers, so its pool stays small whatever the workers.
    pub fn database_pool(&self) -> Option<u32> {
        if self.database.max_connections > 0 {
            return Some(self.database.max_connections);
        }
        if self.sqlite_path().is_some() {
            return None;
        }
        let wanted = u32::try_from(self.workers.concurrency.saturating_add(8)).unwrap_or(u32::MAX);
        Some(wanted.clamp(16, 32))
    }

    /// The SQLite file behind the URL, if SQLite.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let url = self.database_url();
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
    }

    pub fn outbox_dir(&self) -> PathBuf {
        or_under(
            &self.connectors.sandbox.outbox_dir,
            &self.paths.data_dir,
            "outbox",
        )
    }

    /// The local engine's model: `generation.model` in the models directory, else
    /// `generation.model_dir`, else the tiny model.
    pub fn model_dir(&self) -> PathBuf {
        if !self.generation.model.is_empty() {
            return pressroom_models::ModelStore::under(&self.paths.data_dir)
                .root()
                .join(&self.generation.model);
        }
        or_under(
            &self.generation.model_dir,
            &self.paths.data_dir,
            "models/tiny",
        )
    }

    /// True when no model is configured and the tiny one is used.
    pub fn uses_tiny_model(&self) -> bool {
        self.generation.model_dir.as_os_str().is_empty() && self.generation.model.is_empty()
    }

    /// The name campaigns use for the local model (`[generation] model`): `generation.model`,
    /// else the folder name of `generation.model_dir` ("tiny" for the demo model).
    pub fn local_model_name(&self) -> String {
        if !self.generation.model.is_empty() {
            return self.generation.model.clone();
        }
        self.model_dir()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "local".into())
    }

    /// The folder of one of `generation.models`.
    pub fn extra_model_dir(&self, name: &str) -> PathBuf {
        pressroom_models::ModelStore::under(&self.paths.data_dir)
            .root()
            .join(name)
    }

    /// The local engine's settings: `[generation.engine]` plus the model options.
    pub fn engine_options(&self) -> pressroom_generate::EngineOptions {
        self.engine_options_for(&self.local_model_name())
    }

    /// The engine's settings for the model `name`: its `[models.NAME]` table over
    /// `[generation]`'s clip_skip and safety_checker.
    pub fn engine_options_for(&self, name: &str) -> pressroom_generate::EngineOptions {
        // Checked at load: a table that does not read is refused there.
        let own = self.models.options(name).unwrap_or_default();
        pressroom_generate::EngineOptions {
            clip_skip: own.clip_skip.unwrap_or(self.generation.clip_skip),
            safety_checker: own.safety_checker.unwrap_or(self.generation.safety_checker),
            ..self.generation.engine.engine_options()
        }
    }
}

fn or_under(value: &Path, base: &Path, default: &str) -> PathBuf {
    if value.as_os_str().is_empty() {
        base.join(default)
    } else {
        value.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_follows_the_workers_on_postgres_and_stays_small_on_sqlite() {
        let mut s = Settings::load(None).expect("defaults are valid");
        assert_eq!(s.database_pool(), None, "SQLite keeps the store's default");
        s.database.url = "postgres://postgres@127.0.0.1/pressroom".into();
        assert_eq!(s.database_pool(), Some(16), "4 workers: the floor");
        s.workers.concurrency = 20;
        assert_eq!(s.database_pool(), Some(28));
        s.workers.concurrency = 500;
        assert_eq!(
            s.database_pool(),
            Some(32),
            "capped for two instances under 100"
        );
        s.database.max_connections = 90;
        assert_eq!(s.database_pool(), Some(90), "as configured");
    }

    #[test]
    fn defaults_load_and_validate() {
        let s = Settings::load(None).expect("defaults are valid");
        assert_eq!(s.workers.roles.len(), 5);
        assert!(!s.webhooks_out.allow_private_addresses);
        assert!(
            s.database_url()
                .starts_with("sqlite://pressroom-data/pressroom.db")
        );
        assert_eq!(
            s.sqlite_path(),
            Some(PathBuf::from("pressroom-data/pressroom.db"))
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[workers]\nconcurency = 3\n").expect("write");
        let err = format!(
            "{:#}",
            Settings::load(Some(&file)).expect_err("unknown key")
        );
        assert!(err.contains("concurency"), "{err}");

        std::fs::write(&file, "[workers]\nroles = [\"generate\", \"paint\"]\n").expect("write");
        let err = format!("{:#}", Settings::load(Some(&file)).expect_err("bad role"));
        assert!(
            err.contains("workers.roles") && err.contains("paint"),
            "{err}"
        );

        std::fs::write(&file, "[generation]\ndevice = \"gpu\"\n").expect("write");
        let err = format!("{:#}", Settings::load(Some(&file)).expect_err("bad device"));
        assert!(
            err.contains("generation.device") && err.contains("gpu"),
            "{err}"
        );
        std::fs::write(&file, "[generation]\ndevice = \"cuda\"\n").expect("write");
        let settings = Settings::load(Some(&file)).expect("cuda is a device name");
        assert_eq!(
            settings.generation.device,
            pressroom_generate::DeviceSetting::Cuda,
            "cuda must not be read as auto"
        );

        std::fs::write(&file, "[database]\nurl = \"mysql://u:hunter2@x\"\n").expect("write");
        let err = format!("{:#}", Settings::load(Some(&file)).expect_err("bad url"));
        assert!(err.contains("database.url"), "{err}");
        assert!(!err.contains("hunter2"), "the password is shown: {err}");
    }

    #[test]
    fn storage_is_the_data_directory_or_a_bucket_and_bad_settings_name_the_key() {
        let s = Settings::load(None).expect("defaults");
        assert_eq!(
            s.blob_location().expect("default"),
            pressroom_store::BlobLocation::Local(PathBuf::from("pressroom-data"))
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("storage.toml");
        std::fs::write(
            &file,
            "[storage]\nurl = \"s3://press-room/prod\"\nendpoint = \"http://127.0.0.1:9000\"\nallow_http = true\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\n",
        )
        .expect("write");
        let s = Settings::load(Some(&file)).expect("valid");
        assert_eq!(
            s.blob_location().expect("s3"),
            pressroom_store::BlobLocation::S3 {
                bucket: "press-room".into(),
                prefix: "prod".into()
            }
        );
        for (toml, key) in [
            ("[storage]\nurl = \"gs://bucket\"\n", "storage.url"),
            ("[storage]\nurl = \"s3://B\"\n", "storage.url"),
            ("[storage]\nendpoint = \"minio:9000\"\n", "storage.endpoint"),
            (
                "[storage]\nendpoint = \"http://minio:9000\"\n",
                "storage.endpoint",
            ),
            (
                "[storage]\naccess_key_id = \"k\"\n",
                "storage.secret_access_key",
            ),
            ("[storage]\nbucket = \"x\"\n", "bucket"),
        ] {
            std::fs::write(&file, toml).expect("write");
            let err = format!("{:#}", Settings::load(Some(&file)).expect_err(toml));
            assert!(err.contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn a_named_model_is_found_in_the_models_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("model.toml");
        std::fs::write(
            &file,
            "[paths]\ndata_dir = \"/srv/pr\"\n[generation]\nmodel = \"sdxl-turbo\"\nclip_skip = 1\nsafety_checker = false\n",
        )
        .expect("write");
        let s = Settings::load(Some(&file)).expect("valid");
        assert_eq!(s.model_dir(), Path::new("/srv/pr/models/sdxl-turbo"));
        assert_eq!(s.local_model_name(), "sdxl-turbo");
        assert!(!s.uses_tiny_model());
        let engine = s.engine_options();
        assert_eq!((engine.clip_skip, engine.safety_checker), (1, false));
        // `[models.NAME]` over `[generation]`, per model.
        std::fs::write(
            &file,
            "[paths]\ndata_dir = \"/srv/pr\"\n[generation]\nmodel = \"anime\"\nmodels = [\"sdxl\"]\nclip_skip = 0\n[models.anime]\nclip_skip = 1\n[models.sdxl]\nsafety_checker = false\n",
        )
        .expect("write");
        let s2 = Settings::load(Some(&file)).expect("per-model tables");
        let anime = s2.engine_options();
        assert_eq!((anime.clip_skip, anime.safety_checker), (1, true));
        let sdxl = s2.engine_options_for("sdxl");
        assert_eq!((sdxl.clip_skip, sdxl.safety_checker), (0, false));
        assert_eq!(s2.models.hub_endpoint, "https://huggingface.co");
        assert_eq!(
            Settings::load(None).expect("defaults").local_model_name(),
            "tiny"
        );
        assert!(
            Settings::load(None)
                .expect("defaults")
                .generation
                .engine
                .enabled,
            "the local engine runs by default"
        );
        for (toml, key) in [
            (
                "[generation]\nmodel = \"x\"\nmodel_dir = \"/m\"\n",
                "set one of them",
            ),
            ("[generation]\nmodel = \"../etc\"\n", "generation.model"),
            ("[generation]\nclip_skip = 40\n", "generation.clip_skip"),
            (
                "[generation]\nmodel = \"a\"\nmodels = [\"b\", \"a\"]\n",
                "generation.models[1]",
            ),
            (
                "[generation]\nmodels = [\"../b\"]\n",
                "generation.models[0]",
            ),
            ("[models.x]\nclip_skip = 30\n", "models.x.clip_skip"),
            ("[models.x]\nclip_skp = 1\n", "clip_skp"),
            ("[models]\nhub_endpont = \"x\"\n", "models.hub_endpont"),
        ] {
            std::fs::write(&file, toml).expect("write");
            let err = format!("{:#}", Settings::load(Some(&file)).expect_err(toml));
            assert!(err.contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn preset_overrides_change_and_add_presets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("presets.toml");
        std::fs::write(
            &file,
            "[media.presets.instagram-square]\nheight = 900\nmax_bytes = 150_000\n\n\
             [media.presets.shop-banner]\nplatform = \"sandbox\"\nwidth = 1500\nheight = 500\n\
             aspect_range = [2.5, 3.5]\nformats = [\"png\", \"jpeg\"]\nmax_bytes = 3_000_000\n",
        )
        .expect("write");
        let presets = Settings::load(Some(&file))
            .expect("valid overrides")
            .presets()
            .expect("table");
        let square = presets.get("instagram-square").expect("bundled");
        assert_eq!(
            (square.width, square.height, square.max_bytes),
            (1080, 900, 150_000)
        );
        let banner = presets.get("shop-banner").expect("added");
        assert_eq!((banner.width, banner.height), (1500, 500));
        assert_eq!(banner.aspect_range, (2.5, 3.5));
        // Untouched presets keep the bundled values; no overrides is the bundled table.
        assert_eq!(
            presets.get("tiktok-photo"),
            pressroom_media::preset("tiktok-photo")
        );
        let defaults = Settings::load(None)
            .expect("defaults")
            .presets()
            .expect("table");
        assert_eq!(&defaults, pressroom_media::Presets::builtin());
    }

    #[test]
    fn bad_preset_overrides_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        let cases = [
            // Outside Instagram's aspect range (0.8..1.91).
            (
                "[media.presets.instagram-square]\nwidth = 3000\n",
                "media.presets.instagram-square",
            ),
            // A new preset without its required keys.
            (
                "[media.presets.shop-banner]\nwidth = 100\n",
                "media.presets.shop-banner",
            ),
            // A misspelt key.
            (
                "[media.presets.instagram-square]\nmax_byte = 10\n",
                "max_byte",
            ),
            // A wrong type.
            (
                "[media.presets.instagram-square]\nformats = [\"gif\"]\n",
                "gif",
            ),
        ];
        for (toml, needle) in cases {
            std::fs::write(&file, toml).expect("write");
            let err = format!("{:#}", Settings::load(Some(&file)).expect_err(toml));
            assert!(err.contains(needle), "{toml}: {err}");
        }
        std::fs::write(
            &file,
            "[media.presets.shop-banner]\nwidth = 100\nheight = 100\n",
        )
        .expect("write");
        let err = format!("{:#}", Settings::load(Some(&file)).expect_err("incomplete"));
        assert!(err.contains("`platform`"), "names the missing key: {err}");
    }
}
