//! `pressroom serve`: the long-running daemon — campaigns loaded from the campaigns
//! directory, the scheduler ticking, workers running, due tokens renewed — until SIGTERM or
//! SIGINT, then a graceful stop: no new claims, jobs in progress finish, leases are released.
//! SIGHUP re-reads the token keyring and re-keys the signed media links derived from it.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pressroom_runtime::run_workers;
use pressroom_scheduler::DbClock;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app;
use crate::config::Settings;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Keep running on the demo's embedded defaults (a sandbox account "sandbox" in the
    /// "demo" workspace and the sample campaign).
    #[arg(long)]
    demo: bool,
    /// Serve the control API on ADDR:PORT (overrides api.bind and enables the API).
    #[arg(long)]
    bind: Option<std::net::SocketAddr>,
}

pub async fn run(settings: Settings, args: ServeArgs) -> anyhow::Result<ExitCode> {
    // First of all: a SIGTERM that comes while the daemon is still starting (opening the
    // database, loading the model) must stop it gracefully once it is up, not kill it.
    let stop = StopSignals::listen();
    let config = app::worker_config(&settings);
    // The engine process loads its model while the database is opened and migrated.
    let (opened, generators) = tokio::try_join!(
        app::open_store(&settings, true),
        app::generators(&settings, &config.kinds)
    )?;
    if args.demo {
        app::ensure_sandbox_account(&opened.store, "demo", "sandbox").await?;
        ensure_demo_person(&opened.store).await?;
    }
    load_campaigns(&settings, &opened.store).await?;

    let mut pipeline = app::pipeline_with(&settings, &opened, generators, args.demo)?;
    let media = media_links(&settings, args.demo)?;
    if let Some(links) = &media {
        pipeline.public_media = Some(links.clone());
    }
    // The API's image endpoint shares the workers' engine (one model in memory).
    let generator = pipeline.generators.get("local").cloned();
    // ...and its other local models, by name (`local:NAME`), for the images API's `model`.
    let local_models = pipeline
        .generators
        .iter()
        .filter_map(|(key, g)| Some((key.strip_prefix("local:")?.to_string(), g.clone())))
        .collect();
    // The console's run page reads the steps this process's generations report.
    let progress = Arc::new(pressroom_runtime::progress::GenerationProgress::default());
    let pipeline = Arc::new(pipeline.with_progress(progress.clone()));
    let shutdown = CancellationToken::new();
    // One cipher for the workers and the API, re-read on SIGHUP after `keyring rotate`.
    let tokens = pipeline.tokens.clone();
    let connectors = pipeline.connectors.clone();
    let blobs = pipeline.blobs.clone();
    let rekey = media.clone().map(|links| MediaRekey {
        links,
        settings: settings.clone(),
        demo: args.demo,
    });
    reload_keyring_on_sighup(tokens.clone(), rekey, shutdown.clone());
    // Webhook secrets stored in the clear by an earlier version are sealed now, once.
    {
        let sealer = pressroom_runtime::RowSealer(tokens.as_ref());
        let hooks = pressroom_store::repo::hooks::seal_plaintext(&opened.store, &sealer).await?;
        let endpoints =
            pressroom_store::repo::webhook_endpoints::seal_plaintext(&opened.store, &sealer)
                .await?;
        if hooks + endpoints > 0 {
            tracing::info!(
                hooks,
                endpoints,
                "sealed webhook secrets stored in the clear"
            );
        }
    }
    if !config.kinds.contains(&pressroom_core::JobKind::Review) {
        // A config written before approvals lists the old four roles: say what that means.
        warn!(
            "workers.roles does not include \"review\": approval decisions, review deadlines and \
             review mails wait for an instance that runs it"
        );
    }
    if config.kinds.contains(&pressroom_core::JobKind::Publish) {
        tokio::spawn(pressroom_runtime::pipeline::run_token_refresher(
            pipeline.clone(),
            TOKEN_SWEEP_EVERY,
            shutdown.clone(),
        ));
    }
    let ticker = if settings.scheduler.enabled {
        let clock = Arc::new(DbClock(opened.store.clone()));
        Some(
            pressroom_scheduler::ticker::Ticker::start(
                opened.store.clone(),
                opened.queue.clone(),
                clock,
                &settings.scheduler.tick,
                Duration::from_secs(settings.scheduler.grace_secs),
            )
            .await
            .context("starting the scheduler (scheduler.tick)")?,
        )
    } else {
        None
    };
    // Cleared when the worker loop ends, so /readyz stops answering ready.
    let workers_alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let alive = workers_alive.clone();
    let worker_config = config.clone();
    let worker_shutdown = shutdown.clone();
    let workers = tokio::spawn(async move {
        run_workers(pipeline, worker_config, worker_shutdown).await;
        alive.store(false, std::sync::atomic::Ordering::SeqCst);
    });
    let mut state = pressroom_api::ApiState::new(opened.store.clone(), opened.queue.clone())
        .with_blobs(blobs)
        // Session cookies are Secure when people reach the daemon over https.
        .with_sessions(
            pressroom_api::DEFAULT_SESSION_TTL,
            settings.media.public_base_url.starts_with("https://"),
        )
        .with_presets(Arc::new(settings.presets()?))
        .with_public_base(&settings.media.public_base_url)
        .with_generation_progress(progress)
        .with_workers_alive(workers_alive)
        .with_image_budget(settings.images)
        .with_rate_limit(pressroom_api::RateLimit {
            per_second: settings.api.rate_limit_per_second,
            burst: settings.api.rate_limit_burst,
        })
        .with_ip_rate_limit(pressroom_api::RateLimit {
            per_second: settings.api.ip_rate_limit_per_second,
            burst: settings.api.ip_rate_limit_burst,
        })
        .with_auth_failure_limit(pressroom_api::RateLimit {
            per_second: settings.api.auth_failures_per_second,
            burst: settings.api.auth_failures_burst,
        })
        .with_server_limits(pressroom_api::ServerLimits {
            header_read_timeout: Duration::from_secs(settings.api.header_read_timeout_secs),
            max_connections: settings.api.max_connections,
        })
        .with_metrics_cache(Duration::from_secs(settings.api.metrics_cache_secs));
    let purger = tokio::spawn(purge_loop(
        opened.store.clone(),
        settings.retention.clone(),
        shutdown.clone(),
    ));
    if let Some(g) = generator {
        state = state.with_generator(g);
    }
    state = state.with_local_models(local_models);
    if let Some(links) = media {
        state = state.with_media_links(links);
    }
    let public = settings.media.public_base_url.trim_end_matches('/');
    let redirect = (!public.is_empty()).then(|| format!("{public}/v1/oauth/callback"));
    state = state.with_connect(Arc::new(connectors), tokens, redirect);
    state = state.with_webhooks_allow_private(settings.webhooks_out.allow_private_addresses);
    let api = start_api(&settings, &args, state, shutdown.clone()).await;
    info!(roles = ?config.kinds, database = %pressroom_store::redact_url(&settings.database_url()), "pressroom is running");

    stop.wait().await;
    info!("shutting down: finishing jobs in progress");
    shutdown.cancel();
    if let Some(t) = ticker {
        let _ = t.shutdown().await;
    }
    if let Some(api) = api
        && tokio::time::timeout(Duration::from_secs(10), api)
            .await
            .is_err()
    {
        warn!("API requests still running after 10s; stopping anyway");
    }
    let _ = purger.await;
    if tokio::time::timeout(Duration::from_secs(60), workers)
        .await
        .is_err()
    {
        warn!(
            "jobs still running after 60s; their leases will expire and another worker will take them"
        );
    }
    info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The person `serve --demo` signs in as: owner of the demo workspace.
const DEMO_EMAIL: &str = "demo@pressroom.local";

/// `serve --demo`: a person to sign in with. Their password is made and printed when the user
/// is created (a random one, shown once); later starts keep it.
async fn ensure_demo_person(store: &pressroom_store::Store) -> anyhow::Result<()> {
    use pressroom_store::repo::{people, workspaces};
    let ws = workspaces::ensure(store, "demo", "demo").await?;
    let now = store.now_ms().await?;
    let tx = store.begin().await?;
    let user = people::ensure_user(store, &tx, now, DEMO_EMAIL, "Demo").await?;
    people::set_membership(store, &tx, now, &user.id, &ws.id, "owner").await?;
    let made = if user.password_hash.is_none() {
        let password = pressroom_crypto::random_token()[..24].to_owned();
        let secret = secrecy::SecretString::from(password.clone());
        let hash =
            tokio::task::spawn_blocking(move || pressroom_crypto::password::hash_password(&secret))
                .await??;
        people::set_password(store, &tx, now, &user.id, &hash).await?;
        Some(password)
    } else {
        None
    };
    tx.commit().await?;
    if let Some(password) = made {
        println!("demo sign-in (shown once): {DEMO_EMAIL} / {password}  (POST /v1/sessions)");
    }
    Ok(())
}

/// Deletes finished jobs and old webhook delivery ids every `purge_every_secs`
/// (`[retention]`); a failure is logged and tried again next time.
async fn purge_loop(
    store: pressroom_store::Store,
    config: crate::config::Retention,
    shutdown: CancellationToken,
) {
    // 0 days keeps rows forever: a cutoff a century back never matches.
    let keep = |days: u64| match days {
        0 => Duration::from_secs(100 * 365 * 86_400),
        d => Duration::from_secs(d.saturating_mul(86_400)),
    };
    let retention = pressroom_store::retention::Retention {
        jobs: keep(config.jobs_days),
        hook_deliveries: keep(config.hook_deliveries_days),
    };
    let every = Duration::from_secs(config.purge_every_secs.max(60));
    loop {
        match pressroom_store::retention::purge(&store, &retention).await {
            Ok(p) if p.jobs + p.hook_deliveries > 0 => {
                info!(
                    jobs = p.jobs,
                    hook_deliveries = p.hook_deliveries,
                    "retention: purged"
                )
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "retention: purge failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Starts the control API beside the workers (config `[api]`, or `--bind`). It stops
/// accepting at shutdown and lets requests in progress finish. A port already in use is
/// logged and the daemon keeps running its workers: jobs must not stop because of the API.
async fn start_api(
    settings: &Settings,
    args: &ServeArgs,
    state: pressroom_api::ApiState,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let bind = match args.bind {
        Some(addr) => addr.to_string(),
        None if settings.api.enabled => settings.api.bind.clone(),
        None => {
            if !settings.media.public_base_url.is_empty() {
                warn!(
                    "media.public_base_url is set but the API is disabled: platforms that fetch media by URL will fail"
                );
            }
            return None;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(bind = %bind, error = %e, "api: cannot listen; running without the control API");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        if let Err(e) = pressroom_api::serve(listener, state, shutdown.cancelled_owned()).await {
            tracing::error!(error = %e, "api: server stopped");
        }
    }))
}

/// Signed public media links when `media.public_base_url` is set; the signing key is derived
/// from the token keyring so every instance sharing it accepts the others' links.
fn media_links(
    settings: &Settings,
    demo: bool,
) -> anyhow::Result<Option<Arc<pressroom_api::media::MediaLinks>>> {
    let base = &settings.media.public_base_url;
    if base.is_empty() {
        return Ok(None);
    }
    let key = media_link_key(settings, demo)?;
    info!(public_base_url = %base, "serving signed media links");
    Ok(Some(Arc::new(pressroom_api::media::MediaLinks::new(
        key,
        base,
        Duration::from_secs(settings.media.link_ttl_secs),
    ))))
}

/// The media link signing key, derived from the keyring file's active key.
fn media_link_key(settings: &Settings, demo: bool) -> anyhow::Result<[u8; 32]> {
    crate::tokens::load_keyring(settings, demo)?
        .derive_key("media-links")
        .context("deriving the media link key from the keyring")
}

/// What SIGHUP needs to re-key the signed media links after `keyring rotate`: their key is
/// derived from the keyring's active key, so instances that share the keyring keep accepting
/// each other's links only if they all follow it.
struct MediaRekey {
    links: Arc<pressroom_api::media::MediaLinks>,
    settings: Settings,
    demo: bool,
}

impl MediaRekey {
    fn apply(&self) -> anyhow::Result<()> {
        self.links.rekey(media_link_key(&self.settings, self.demo)?);
        info!("media link key re-derived from the keyring");
        Ok(())
    }
}

async fn load_campaigns(settings: &Settings, store: &pressroom_store::Store) -> anyhow::Result<()> {
    let dir = &settings.paths.campaigns_dir;
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("paths.campaigns_dir: reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let presets = settings.presets()?;
    let blobs = app::blobs(settings)?;
    for path in files {
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let row = app::save_campaign(store, blobs.as_ref(), &path, &source, &presets).await?;
        info!(campaign = %row.name, file = %path.display(), "campaign loaded");
    }
    Ok(())
}

/// How often the daemon renews tokens that are due, whether or not a post is waiting.
const TOKEN_SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Re-reads the token keyring on every SIGHUP (send one after `pressroom keyring rotate`;
/// tokens naming a key we lack, or a seal after the file was replaced, also trigger a re-read
/// on their own) and re-keys the signed media links from it.
fn reload_keyring_on_sighup(
    tokens: Arc<dyn pressroom_runtime::TokenCipher>,
    media: Option<MediaRekey>,
    shutdown: CancellationToken,
) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGHUP; the keyring is re-read only when a token needs a new key");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = hup.recv() => if got.is_none() { return },
            }
            if let Err(e) = tokens.reload() {
                warn!(
                    error = format!("{e:#}"),
                    "SIGHUP: keeping the keyring in use"
                );
                continue;
            }
            if let Some(media) = &media
                && let Err(e) = media.apply()
            {
                warn!(
                    error = format!("{e:#}"),
                    "SIGHUP: keeping the media link key in use"
                );
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (tokens, media, shutdown);
}

/// SIGTERM and SIGINT, listened for from the moment `serve` starts: a signal that arrives
/// before the daemon waits for one is kept and answered as soon as it does.
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    async fn wait(self) {
        #[cfg(unix)]
        {
            let (mut term, mut int) = (self.term, self.int);
            let term = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(i) => {
                        i.recv().await;
                    }
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            };
            tokio::select! {
                _ = term => {}
                _ = int => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
