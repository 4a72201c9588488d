//! Wiring shared by the commands: open the store (migrated, single-instance lock on SQLite),
//! build the connector registry and the generators, and load campaign files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pressroom_connector::Registry;
use pressroom_core::campaign::{
    CampaignSpec, SpecIssue, parse_campaign, validate_media_assets, validate_media_files,
};
use pressroom_core::{JobKind, RetryPolicy};
use pressroom_generate::Generator;
use pressroom_runtime::campaigns::{self, KnownAccounts};
use pressroom_runtime::{Pipeline, WorkerConfig};
use pressroom_store::repo::{accounts, workspaces};
use pressroom_store::{Backend, BlobStore, InstanceLock, Queue, Store};

use crate::config::Settings;

/// An opened store plus the lock that keeps a second SQLite instance out.
pub struct Opened {
    pub store: Store,
    pub queue: Queue,
    _lock: Option<InstanceLock>,
}

/// Connects and migrates. On SQLite, takes the instance lock first and releases the leases
/// of the previous (dead) process, whose jobs would otherwise wait for their leases to expire.
pub async fn open_store(settings: &Settings, exclusive: bool) -> anyhow::Result<Opened> {
    let url = settings.database_url();
    let mut lock = None;
    if let Some(path) = settings.sqlite_path() {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        if exclusive {
            lock = Some(InstanceLock::acquire(&path)?);
        }
    }
    let store = Store::connect_with_pool(&url, settings.database_pool())
        .await
        .with_context(|| format!("connecting to {}", pressroom_store::redact_url(&url)))?;
    store.migrate().await.context("running migrations")?;
    let queue = Queue::new(store.clone());
    if exclusive && store.backend() == Backend::Sqlite {
        let released = queue.release_all_leases().await?;
        if released > 0 {
            tracing::warn!(
                jobs = released,
                "released the leases of a previous instance that did not stop cleanly"
            );
        }
    }
    Ok(Opened {
        store,
        queue,
        _lock: lock,
    })
}

/// The connectors compiled into this binary; platform connectors only when configured.
pub fn connectors(settings: &Settings) -> anyhow::Result<Registry> {
    #[allow(unused_mut)]
    let mut registry = Registry::new();
    let c = &settings.connectors;
    #[cfg(feature = "sandbox")]
    {
        let mut cfg = connector_sandbox::SandboxConfig::new(settings.outbox_dir());
        cfg.commit_delay = Duration::from_millis(c.sandbox.commit_delay_ms);
        cfg.failures = c.sandbox.failures.clone();
        registry = registry.with(
            connector_sandbox::SandboxConnector::new(cfg).context("opening the sandbox outbox")?,
        );
    }
    #[cfg(feature = "facebook")]
    if let Some(cfg) = &c.facebook {
        registry = registry.with(
            connector_facebook::FacebookConnector::new(cfg.clone())
                .context("connectors.facebook")?,
        );
    }
    #[cfg(feature = "instagram")]
    if let Some(cfg) = &c.instagram {
        registry = registry.with(
            connector_instagram::InstagramConnector::new(cfg.clone())
                .context("connectors.instagram")?,
        );
    }
    #[cfg(feature = "linkedin")]
    if let Some(cfg) = &c.linkedin {
        registry = registry
            .with(connector_linkedin::LinkedIn::new(cfg.clone()).context("connectors.linkedin")?);
    }
    #[cfg(feature = "tiktok")]
    if let Some(cfg) = &c.tiktok {
        registry =
            registry.with(connector_tiktok::TikTok::new(cfg.clone()).context("connectors.tiktok")?);
    }
    #[cfg(feature = "snapchat")]
    if let Some(cfg) = &c.snapchat {
        registry = registry
            .with(connector_snapchat::Snapchat::new(cfg.clone()).context("connectors.snapchat")?);
    }
    #[cfg(feature = "webhook")]
    if let Some(cfg) = &c.webhook {
        registry = registry
            .with(connector_webhook::Webhook::new(cfg.clone()).context("connectors.webhook")?);
    }
    Ok(registry)
}

/// The generators this instance offers, by the name campaigns use in `generation.backend`:
/// "local" unless `generation.engine.enabled` is false, "openai" and "stability" when their
/// config sections are present. All of
/// them only if this instance runs generate jobs; the tiny model is created on first use when
/// no model is configured. Each is wrapped as policy → backend.
///
/// "local" is the engine process (`pressroom-engine serve`, started and supervised here): this
/// binary never loads libtorch itself.
pub async fn generators(
    settings: &Settings,
    kinds: &[JobKind],
) -> anyhow::Result<BTreeMap<String, Arc<dyn Generator>>> {
    let mut map: BTreeMap<String, Arc<dyn Generator>> = BTreeMap::new();
    if kinds.contains(&JobKind::Generate) {
        let policy = &settings.generation.policy;
        if settings.generation.engine.enabled {
            let engine = guarded(local_engine(settings).await?, policy)?;
            map.insert(local_key(&settings.local_model_name()), engine.clone());
            map.insert("local".into(), engine);
            for (i, name) in settings.generation.models.iter().enumerate() {
                let dir = settings.extra_model_dir(name);
                if !dir.join("model_index.json").is_file() {
                    anyhow::bail!(
                        "generation.models[{i}]: no model named `{name}` in {} (see `pressroom model list`)",
                        dir.parent()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    );
                }
                let engine = start_engine(settings, dir, false).await?;
                map.insert(local_key(name), guarded(engine, policy)?);
            }
        }
        if let Some(cfg) = &settings.generation.openai {
            let openai =
                pressroom_generate::OpenAiImages::new(cfg.clone()).context("generation.openai")?;
            map.insert("openai".into(), guarded(openai, policy)?);
        }
        if let Some(cfg) = &settings.generation.stability {
            let stability = pressroom_generate::StabilityImages::new(cfg.clone())
                .context("generation.stability")?;
            map.insert("stability".into(), guarded(stability, policy)?);
        }
    }
    Ok(map)
}

/// The generators' key of a local model by name: `local:NAME` (plain "local" is the default
/// model, `generation.model`).
pub fn local_key(name: &str) -> String {
    format!("local:{name}")
}

/// Starts the engine process on the configured model (creating the tiny demo model first
/// when none is configured) and waits until the model is loaded.
async fn local_engine(settings: &Settings) -> anyhow::Result<pressroom_generate::EngineProcess> {
    let dir = settings.model_dir();
    let create_tiny = settings.uses_tiny_model() && !dir.join("model_index.json").exists();
    if create_tiny {
        println!(
            "No model configured: creating a tiny random model in {} (it makes noise-like images; set generation.model_dir to a real Stable Diffusion folder for real ones)",
            dir.display()
        );
    }
    if !settings.generation.model.is_empty() && !dir.join("model_index.json").is_file() {
        anyhow::bail!(
            "generation.model: no model named `{}` in {} (see `pressroom model list`; get one with `pressroom model pull` or `pressroom model import`)",
            settings.generation.model,
            dir.parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    start_engine(settings, dir, create_tiny).await
}

/// One engine process on the model in `dir`, started and loaded.
async fn start_engine(
    settings: &Settings,
    dir: PathBuf,
    create_tiny: bool,
) -> anyhow::Result<pressroom_generate::EngineProcess> {
    let launch = pressroom_generate::EngineLaunch {
        program: pressroom_generate::engine_binary()?,
        model: dir.clone(),
        device: settings.generation.device,
        options: settings.engine_options(),
        log_level: settings.log.level.clone(),
        log_json: settings.log.format == "json",
        create_tiny,
    };
    let engine = pressroom_generate::EngineProcess::start(launch, Default::default())
        .await
        .with_context(|| format!("starting the engine on the model in {}", dir.display()))?;
    // Read once the engine has loaded it (a tiny model is created by the engine itself).
    Ok(engine.with_native_size(native_size(&dir)))
}

/// The sizes the model in `dir` composes best at, for campaigns that leave the size to a
/// `fit = "native"` target; None (their width and height) when its configs cannot tell.
fn native_size(dir: &std::path::Path) -> Option<pressroom_generate::NativeSize> {
    use pressroom_generate::NativeSize;
    let known = match pressroom_models::Family::of_folder(dir) {
        Ok(pressroom_models::Family::Sdxl) => Ok(NativeSize::SdxlBuckets),
        Ok(_) => pressroom_models::trained_short_side(dir).map(NativeSize::ShortSide),
        Err(e) => Err(e),
    };
    known
        .map_err(|e| tracing::warn!(model = %dir.display(), "the model's trained size is unknown ({e}); campaigns generate at their width and height"))
        .ok()
}

/// The prompt policy in front of the backend (a blocked prompt is never served, not even a
/// stored image: `runtime::images::generate_and_keep` asks the policy before it reuses one).
/// Repeats of an identical request never reach the model or the remote API: the workspace's
/// asset table, keyed by the generation key, is the one cache.
fn guarded<G: Generator + 'static>(
    backend: G,
    policy: &pressroom_generate::PromptPolicy,
) -> anyhow::Result<Arc<dyn Generator>> {
    Ok(Arc::new(pressroom_generate::PolicyGenerator::new(
        backend,
        policy.clone(),
    )))
}

pub fn worker_config(settings: &Settings) -> WorkerConfig {
    let w = &settings.workers;
    WorkerConfig {
        kinds: w.roles.clone(),
        concurrency: w.concurrency,
        lease: Duration::from_secs(w.lease_secs),
        heartbeat: Duration::from_secs(w.heartbeat_secs),
        poll: Duration::from_millis(w.poll_ms),
        max_backoff: Duration::from_millis(w.max_backoff_ms),
        rescue_every: Duration::from_secs(w.rescue_secs),
        owner: format!("{}-{}", hostname(), std::process::id()),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "pressroom".into())
}

/// The pipeline; `demo` lets a missing keyring be generated in the data directory.
pub async fn pipeline(
    settings: &Settings,
    opened: &Opened,
    kinds: &[JobKind],
    demo: bool,
) -> anyhow::Result<Pipeline> {
    pipeline_with(settings, opened, generators(settings, kinds).await?, demo)
}

/// [`pipeline`] with generators started beforehand (`serve` starts the engine process while
/// it opens the database).
pub fn pipeline_with(
    settings: &Settings,
    opened: &Opened,
    generators: BTreeMap<String, Arc<dyn Generator>>,
    demo: bool,
) -> anyhow::Result<Pipeline> {
    let cipher = crate::tokens::DaemonCipher::load(settings, demo)?;
    let retry = RetryPolicy {
        max_attempts: settings.retry.max_attempts,
        base: Duration::from_millis(settings.retry.base_ms),
        cap: Duration::from_millis(settings.retry.cap_ms),
    };
    Pipeline::new(
        opened.store.clone(),
        generators,
        connectors(settings)?,
        Arc::new(settings.presets()?),
        blobs(settings)?,
        retry,
        Arc::new(cipher),
    )
    .with_lease(Duration::from_secs(settings.workers.lease_secs))
    .with_review_mail(
        pressroom_runtime::email::Mailer::from_config(
            &settings.email.smtp_url,
            &settings.email.from,
        )?
        .map(Arc::new),
        &settings.media.public_base_url,
    )
    .with_insights_schedule(settings.insights.schedule()?)
    .with_local_model(settings.local_model_name())
    .with_outbound(settings.webhooks_out.outbound())
    .context("webhooks_out: building the delivery client")
}

/// Parses and validates one campaign file (`pressroom_runtime::campaigns::check_spec`).
/// Account references are checked against the workspace's accounts when a store is given;
/// presets against `presets` (the configured table, [`Settings::presets`]).
pub async fn check_campaign(
    path: &Path,
    source: &str,
    store: Option<&Store>,
    presets: &pressroom_media::Presets,
) -> Result<CampaignSpec, Vec<SpecIssue>> {
    let file = path.display().to_string();
    let spec = parse_campaign(source, &file)?;
    let workspace = match store {
        Some(store) => workspaces::by_slug(store, &spec.workspace)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let known: KnownAccounts = match (store, &workspace) {
        (Some(store), Some(ws)) => Some(
            campaigns::known_accounts(store, &ws.id)
                .await
                .unwrap_or_default(),
        ),
        (Some(_), None) => Some(Vec::new()),
        (None, _) => None,
    };
    // Library ids are checked where there is a library to look in.
    let missing = match (store, &workspace, &spec.media) {
        (Some(store), Some(ws), Some(media)) => {
            pressroom_runtime::uploads::not_in_library(store, &ws.id, &media.assets)
                .await
                .unwrap_or_default()
        }
        (Some(_), None, Some(media)) => media
            .assets
            .iter()
            .map(|id| {
                (
                    id.to_string(),
                    "not in a library: the workspace does not exist yet".to_owned(),
                )
            })
            .collect(),
        _ => Default::default(),
    };
    let mut issues = campaigns::check_spec(&spec, source, &file, &known, presets);
    let folder = media_folder(path);
    issues.extend(validate_media_files(&spec, source, &file, &|name| {
        let bytes = pressroom_runtime::uploads::read_image_file(&folder, name)?;
        pressroom_runtime::uploads::check_image(&bytes).map(|_| ())
    }));
    issues.extend(validate_media_assets(&spec, source, &file, &|id| {
        missing.get(id).map_or(Ok(()), |reason| Err(reason.clone()))
    }));
    if issues.is_empty() {
        Ok(spec)
    } else {
        Err(issues)
    }
}

/// The folder a campaign's `[media] files` are relative to: the campaign file's.
fn media_folder(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// The blob store of this instance (images, renditions): `[storage] url`, by default files
/// under `paths.data_dir`.
pub fn blobs(settings: &Settings) -> anyhow::Result<Arc<dyn BlobStore>> {
    blobs_at(settings, &settings.blob_location()?)
}

/// The blob store at `location`, reached with `[storage]`'s connection settings (also the
/// target of `pressroom storage migrate --to`).
pub fn blobs_at(
    settings: &Settings,
    location: &pressroom_store::BlobLocation,
) -> anyhow::Result<Arc<dyn BlobStore>> {
    pressroom_store::open_blobs(
        location,
        &settings.storage.s3_options(),
        &settings.paths.data_dir,
    )
    .map_err(|e| anyhow::anyhow!("storage.{e}"))
}

/// Validates and stores a campaign (creating its workspace if needed); its `[media] files`
/// are kept in the workspace's asset library first, so runs never read them from disk.
/// Nothing is written when the file has a problem.
pub async fn save_campaign(
    store: &Store,
    blobs: &dyn BlobStore,
    path: &Path,
    source: &str,
    presets: &pressroom_media::Presets,
) -> anyhow::Result<pressroom_store::entity::campaign::Model> {
    let mut spec = check_campaign(path, source, Some(store), presets)
        .await
        .map_err(|issues| {
            let list: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
            anyhow::anyhow!("{} is invalid:\n  {}", path.display(), list.join("\n  "))
        })?;
    let ws = workspaces::ensure(store, &spec.workspace, &spec.workspace).await?;
    if let Some(media) = &mut spec.media {
        let folder = media_folder(path);
        let mut kept = Vec::with_capacity(media.files.len());
        for (index, name) in media.files.iter().enumerate() {
            let file = folder.join(name);
            let bytes =
                pressroom_runtime::uploads::read_image_file(&folder, name).map_err(|reason| {
                    anyhow::anyhow!("media.files[{index}]: {}: {reason}", file.display())
                })?;
            let upload = pressroom_runtime::uploads::keep_upload(store, blobs, &ws.id, bytes, name)
                .await
                .with_context(|| format!("media.files[{index}]: keeping {}", file.display()))?;
            kept.push(upload.asset_id);
        }
        media.file_assets = kept;
    }
    let file = path.display().to_string();
    let origin = campaigns::Origin {
        actor: "cli",
        source_file: Some(&file),
        detail: serde_json::json!({ "file": file }),
    };
    Ok(campaigns::save(store, &ws.id, &spec, source, origin).await?)
}

/// Ensures a sandbox account exists in a workspace (sandbox accounts hold no tokens).
pub async fn ensure_sandbox_account(
    store: &Store,
    workspace_slug: &str,
    name: &str,
) -> anyhow::Result<()> {
    let ws = workspaces::ensure(store, workspace_slug, workspace_slug).await?;
    if accounts::by_name(store.conn(), &ws.id, name)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let now = store.now_ms().await?;
    accounts::upsert(
        store.conn(),
        now,
        accounts::AccountInput {
            workspace_id: &ws.id,
            platform: pressroom_core::Platform::Sandbox,
            name,
            external_id: name,
            access_token_sealed: None,
            refresh_token_sealed: None,
            key_id: None,
            expires_at: None,
            extra: serde_json::json!({}),
        },
    )
    .await?;
    Ok(())
}
