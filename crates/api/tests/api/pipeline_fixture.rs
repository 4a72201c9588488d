//! The real worker pipeline over a test app's database: a sandbox account with a refresh
//! token, a campaign from TOML, and a `Pipeline` with the given generators, shared by the
//! tests that drive runs end to end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connector_sandbox::{SandboxConfig, SandboxConnector};
use pressroom_connector::{Credentials, Registry};
use pressroom_core::{JobKind, RetryPolicy, WorkspaceId};
use pressroom_generate::Generator;
use pressroom_runtime::{NewAccount, Pipeline, WorkerConfig, run_workers, save_account};
use pressroom_store::entity::campaign;
use pressroom_store::repo::{campaigns, posts};

use tokio_util::sync::CancellationToken;

use crate::harness::{RingCipher, TestApp, campaign_toml};

/// Connects the sandbox account "sandbox" in `workspace_id`, with a refresh token so an
/// expired access token is refreshed rather than fatal.
pub async fn connect_sandbox(
    app: &TestApp,
    cipher: &RingCipher,
    workspace_id: &WorkspaceId,
) -> anyhow::Result<()> {
    let now = app.store.now_ms().await?;
    let tx = app.store.begin().await?;
    save_account(
        &app.store,
        &tx,
        cipher,
        workspace_id,
        now,
        &NewAccount {
            platform: pressroom_core::Platform::Sandbox,
            name: "sandbox",
            external_id: "sb-1",
            credentials: &Credentials {
                access_token: secrecy::SecretString::from("access".to_string()),
                refresh_token: Some(secrecy::SecretString::from("refresh".to_string())),
                expires_at: None,
                extra: serde_json::json!({}),
            },
        },
        "test",
        "account.connected",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Parses and saves a campaign.
pub async fn save_campaign(
    app: &TestApp,
    workspace_id: &WorkspaceId,
    name: &str,
    source: &str,
) -> anyhow::Result<campaign::Model> {
    let spec = pressroom_core::campaign::parse_campaign(source, "t")
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let now = app.store.now_ms().await?;
    Ok(campaigns::upsert(
        app.store.conn(),
        now,
        campaigns::CampaignInput {
            workspace_id,
            name,
            source,
            source_file: None,
            spec: serde_json::to_value(&spec)?,
        },
    )
    .await?)
}

/// A pipeline whose campaigns generate with `generator` (backend "local") and publish to
/// the sandbox configured by `sandbox`, with short retry delays. It keeps images in the API's
/// blob store, as the daemon does, so the API serves what the workers made.
pub fn pipeline(
    app: &TestApp,
    generator: Arc<dyn Generator>,
    sandbox: SandboxConfig,
    cipher: Arc<RingCipher>,
) -> anyhow::Result<Pipeline> {
    let generators = BTreeMap::from([("local".to_string(), generator)]);
    Ok(Pipeline::new(
        app.store.clone(),
        generators,
        Registry::new().with(SandboxConnector::new(sandbox)?),
        Arc::new(pressroom_media::Presets::builtin().clone()),
        app.state.blobs.clone(),
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(50),
            cap: Duration::from_millis(200),
        },
        cipher,
    ))
}

/// Runs the real worker loop (generate, render, publish, review) over [`pipeline`] while `until`
/// runs, then stops it and answers `until`'s outcome.
pub async fn with_workers<F, Fut>(
    app: &TestApp,
    cipher: &Arc<RingCipher>,
    generator: Arc<dyn Generator>,
    sandbox: SandboxConfig,
    until: F,
) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let pipeline = pipeline(app, generator, sandbox, cipher.clone())?;
    let stop = CancellationToken::new();
    let config = WorkerConfig {
        kinds: vec![
            JobKind::Generate,
            JobKind::Render,
            JobKind::Publish,
            JobKind::Review,
        ],
        poll: Duration::from_millis(25),
        ..WorkerConfig::default()
    };
    let workers = tokio::spawn(run_workers(Arc::new(pipeline), config, stop.clone()));
    let outcome = until().await;
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), workers).await;
    outcome
}

/// Waits (up to 60 s) until `workspace_id` has at least `want` published posts.
pub async fn wait_published(
    app: &TestApp,
    workspace_id: &WorkspaceId,
    want: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let published = posts::published_since(&app.store, workspace_id, 0)
            .await?
            .len();
        if published >= want {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{published} of {want} posts published in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A workspace `slug` with the sandbox account connected and campaign `name` (the harness's
/// campaign with a fixed seed, so every run of it asks for the identical image).
pub struct SandboxWorld {
    pub workspace_id: pressroom_core::WorkspaceId,
    pub cipher: Arc<RingCipher>,
    pub campaign: campaign::Model,
}

pub async fn sandbox_world(app: &TestApp, slug: &str, name: &str) -> anyhow::Result<SandboxWorld> {
    let ws = pressroom_store::repo::workspaces::ensure(&app.store, slug, slug).await?;
    let cipher = Arc::new(RingCipher(pressroom_crypto::Keyring::generate()));
    connect_sandbox(app, &cipher, &ws.id).await?;
    let source = campaign_toml(slug, name).replace("steps = 4", "steps = 4\nseed = 7");
    let campaign = save_campaign(app, &ws.id, name, &source).await?;
    Ok(SandboxWorld {
        workspace_id: ws.id,
        cipher,
        campaign,
    })
}
