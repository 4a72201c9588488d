//! What the runtime tests stand on: a keyring stand-in, and a workspace with one account and
//! posts waiting to publish to it.

use pressroom_connector::Credentials;
use pressroom_core::{AccountId, JobKind, WorkspaceId};
use pressroom_runtime::{NewAccount, TokenCipher, TokenSlot, save_account};
use pressroom_store::repo::{assets, campaigns, posts, runs, workspaces};
use pressroom_store::{NewJob, Queue, Store};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

/// A reversible stand-in for the keyring that binds the slot like the real AEAD does, so a
/// value opened from the wrong column or row fails. Tests only.
pub struct TestCipher;

impl TokenCipher for TestCipher {
    fn seal(
        &self,
        plaintext: &SecretString,
        slot: TokenSlot<'_>,
    ) -> anyhow::Result<(String, String)> {
        let sealed = format!(
            "test.{}.{}.{}",
            slot.column,
            slot.account_id,
            hex::encode(plaintext.expose_secret())
        );
        Ok(("test-key".into(), sealed))
    }

    fn open(&self, sealed: &str, slot: TokenSlot<'_>) -> anyhow::Result<SecretString> {
        let prefix = format!("test.{}.{}.", slot.column, slot.account_id);
        let hexed = sealed
            .strip_prefix(&prefix)
            .ok_or_else(|| anyhow::anyhow!("sealed for another slot"))?;
        Ok(SecretString::from(String::from_utf8(hex::decode(hexed)?)?))
    }
}

const CAMPAIGN: &str = r#"name = "refresh"
workspace = "tokens"

[schedule]
webhook = true

[generation]
prompt = "a test image"
steps = 2
width = 64
height = 64

[caption]
template = "caption"

[[targets]]
account = "acct"
preset = "instagram-square"
"#;

/// What [`Seed::accounts_posts`] makes.
pub struct Seed<'a> {
    pub platform: pressroom_connector::Platform,
    /// The account's id on the platform (a Facebook Page id).
    pub external_id: &'a str,
    pub caption: &'a str,
    pub rendition: Rendition,
    /// Tries each publish job has (the queue's default is 8).
    pub job_attempts: u32,
}

/// The rendition every post publishes: a file under the data directory, or a placeholder
/// for platforms that never read it.
pub struct Rendition {
    /// Relative to the pipeline's data directory.
    pub path: String,
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

impl Rendition {
    /// A rendition row whose file does not exist.
    pub fn placeholder() -> Self {
        Self {
            path: "renditions/b.jpg".into(),
            sha256: "b".repeat(64),
            width: 64,
            height: 64,
            bytes: 1000,
        }
    }
}

impl Seed<'_> {
    /// Stores an account of `platform` with `creds`, and `posts_n` posts to it (one run, one
    /// rendition each, all with `caption`) whose publish jobs wait in the queue, due in
    /// order; returns (workspace, account).
    pub async fn accounts_posts(
        &self,
        store: &Store,
        creds: &Credentials,
        posts_n: usize,
    ) -> (WorkspaceId, AccountId) {
        let ws = workspaces::ensure(store, "tokens", "Token tests")
            .await
            .expect("ws");
        let now = store.now_ms().await.expect("now");
        let tx = store.begin().await.expect("tx");
        let account_id = save_account(
            store,
            &tx,
            &TestCipher,
            &ws.id,
            now,
            &NewAccount {
                platform: self.platform,
                name: "acct",
                external_id: self.external_id,
                credentials: creds,
            },
            "test",
            "account.imported",
        )
        .await
        .expect("account");
        tx.commit().await.expect("commit");

        let spec = pressroom_core::campaign::parse_campaign(CAMPAIGN, "t.toml").expect("campaign");
        let campaign = campaigns::upsert(
            store.conn(),
            now,
            campaigns::CampaignInput {
                workspace_id: &ws.id,
                name: "refresh",
                source: CAMPAIGN,
                source_file: None,
                spec: serde_json::to_value(&spec).expect("json"),
            },
        )
        .await
        .expect("campaign");
        let run_id = runs::insert_fire(
            store,
            store.conn(),
            now,
            runs::NewRun {
                workspace_id: &ws.id,
                campaign_id: &campaign.id,
                fire_key: "once",
                fire_at_ms: now,
                trigger: "cli",
                state: pressroom_core::RunState::Generated,
                variables: &json!({}),
            },
        )
        .await
        .expect("run")
        .expect("inserted");
        let asset_id = assets::insert(
            store.conn(),
            now,
            assets::NewAsset {
                workspace_id: &ws.id,
                sha256: &"a".repeat(64),
                generation_key: "g1",
                generator: "test",
                params: &json!({}),
                path: "assets/a.png",
                width: 64,
                height: 64,
            },
        )
        .await
        .expect("asset");
        let queue = Queue::new(store.clone());
        for i in 0..posts_n {
            let preset = format!("preset-{i}");
            let rendition = assets::insert_rendition(
                store,
                store.conn(),
                now,
                assets::NewRendition {
                    workspace_id: &ws.id,
                    run_id: &run_id,
                    asset_id: &asset_id,
                    preset: &preset,
                    fit: "crop",
                    sha256: &self.rendition.sha256,
                    path: &self.rendition.path,
                    mime: "image/jpeg",
                    width: self.rendition.width,
                    height: self.rendition.height,
                    bytes: self.rendition.bytes,
                },
            )
            .await
            .expect("rendition");
            let post = posts::insert(
                store,
                store.conn(),
                now,
                posts::NewPost {
                    workspace_id: &ws.id,
                    run_id: &run_id,
                    account_id: &account_id,
                    rendition_id: &rendition.id,
                    platform: self.platform,
                    preset: &preset,
                    caption: self.caption,
                    format: pressroom_core::PostFormat::Single,
                    alt_texts: &[],
                    rendition_ids: &[],
                    first_comment: None,
                    cover_index: None,
                },
            )
            .await
            .expect("post");
            let mut job = NewJob::new(&ws.id, JobKind::Publish, json!({ "post_id": post.id }));
            job.max_attempts = self.job_attempts;
            queue.enqueue(store.conn(), job).await.expect("enqueue");
        }
        (ws.id, account_id)
    }
}

/// A pipeline over the test database with one connector, the built-in presets and blobs in
/// the test's directory: what every runtime test runs its jobs through.
pub fn pipeline(
    db: &pressroom_store::testing::TestDb,
    connector: std::sync::Arc<dyn pressroom_connector::Connector>,
    retry: pressroom_core::RetryPolicy,
    tokens: std::sync::Arc<dyn TokenCipher>,
) -> pressroom_runtime::Pipeline {
    pressroom_runtime::Pipeline::new(
        db.store.clone(),
        std::collections::BTreeMap::new(),
        pressroom_connector::Registry::new().with_arc(connector),
        std::sync::Arc::new(pressroom_media::Presets::builtin().clone()),
        std::sync::Arc::new(pressroom_store::LocalBlobs::new(
            db.dir.path().to_path_buf(),
        )),
        retry,
        tokens,
    )
}

/// Backoff short enough for a test to watch several retries.
pub fn quick_retry() -> pressroom_core::RetryPolicy {
    pressroom_core::RetryPolicy {
        base: std::time::Duration::from_millis(20),
        cap: std::time::Duration::from_millis(100),
        ..pressroom_core::RetryPolicy::default()
    }
}

/// One worker slot of the `publish` role (which runs comments and insights too), polling
/// every `poll`, until [`PublishWorkers::stop`].
pub struct PublishWorkers {
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl PublishWorkers {
    pub fn start(
        pipeline: std::sync::Arc<pressroom_runtime::Pipeline>,
        poll: std::time::Duration,
    ) -> Self {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(pressroom_runtime::run_workers(
            pipeline,
            pressroom_runtime::WorkerConfig {
                kinds: vec![JobKind::Publish],
                concurrency: 1,
                poll,
                ..pressroom_runtime::WorkerConfig::default()
            },
            shutdown.clone(),
        ));
        Self { shutdown, task }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("workers stop");
    }
}
