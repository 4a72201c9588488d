//! Runs one test body against a fresh database of either backend, with the API served on a
//! random loopback port, and builds the fixtures the tests share (two workspaces with a key
//! of every role, a campaign, a run, a post, a hook).

use pressroom_core::{AccountId, AssetId, CampaignId, PostId, RenditionId, RunId, WorkspaceId};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use pressroom_api::handlers::keys::mint_key;
use pressroom_api::{ApiState, RateLimit, Role};
use pressroom_generate::{GenerateError, GeneratedImage, GenerationRequest, Generator, ProgressFn};
use pressroom_store::repo::{accounts, assets, campaigns, hooks, people, posts, workspaces};
use pressroom_store::testing::TempPgDatabase;
use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
use pressroom_store::{Backend, Queue, Store};
use tokio_util::sync::CancellationToken;

/// Generates `sqlite` and `postgres` modules with one `#[tokio::test]` per named body
/// (`async fn name(app: TestApp) -> anyhow::Result<()>`).
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::harness::run(pressroom_store::Backend::Sqlite, stringify!($name), super::$name).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::harness::run(pressroom_store::Backend::Postgres, stringify!($name), super::$name).await;
                }
            )+
        }
    };
}

/// A generator that answers a solid PNG of the requested size at once.
pub struct FakeGenerator;

#[async_trait::async_trait]
impl Generator for FakeGenerator {
    fn identity(&self) -> String {
        "fake".into()
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        _progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        let img = image::RgbImage::from_pixel(req.width, req.height, image::Rgb([200, 30, 30]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| GenerateError::Image(e.to_string()))?;
        Ok(GeneratedImage {
            png,
            width: req.width,
            height: req.height,
            cache_hit: false,
            generation_key: "fake".into(),
        })
    }
}

/// The API's connect seam with a stand-in platform ("linkedin"): the authorize URL
/// carries a fresh state; the code "good" grants one account, anything else fails.
pub struct StandInFlows;

#[async_trait::async_trait]
impl pressroom_api::connect::ConnectFlows for StandInFlows {
    fn platforms(&self) -> Vec<&'static str> {
        vec!["linkedin"]
    }

    fn authorize(
        &self,
        _platform: &str,
        redirect_uri: &str,
    ) -> anyhow::Result<pressroom_connector::oauth::PendingAuthorization> {
        let state = uuid::Uuid::new_v4().simple().to_string();
        let url =
            format!("https://platform.example/authorize?state={state}&redirect_uri={redirect_uri}");
        Ok(pressroom_connector::oauth::PendingAuthorization {
            url: url.parse()?,
            state,
            pkce_verifier: None,
        })
    }

    async fn finish(
        &self,
        _platform: &str,
        _redirect_uri: &str,
        code: &str,
        _pkce: Option<&secrecy::SecretString>,
    ) -> anyhow::Result<Vec<pressroom_api::connect::GrantedAccount>> {
        anyhow::ensure!(code == "good", "invalid_grant");
        Ok(vec![pressroom_api::connect::GrantedAccount {
            external_id: "ext-1".into(),
            display: "Test Page".into(),
            credentials: pressroom_connector::Credentials {
                access_token: secrecy::SecretString::from("tok-access-plain".to_string()),
                refresh_token: Some(secrecy::SecretString::from("tok-refresh-plain".to_string())),
                expires_at: None,
                extra: serde_json::json!({}),
            },
        }])
    }
}

/// Seals with a real keyring, as the binary does.
pub struct RingCipher(pub pressroom_crypto::Keyring);

impl pressroom_runtime::TokenCipher for RingCipher {
    fn seal(
        &self,
        plaintext: &secrecy::SecretString,
        slot: pressroom_runtime::TokenSlot<'_>,
    ) -> anyhow::Result<(String, String)> {
        let aad = pressroom_crypto::Aad {
            workspace_id: slot.workspace_id,
            table: "accounts",
            column: slot.column,
            row_id: slot.account_id,
        };
        Ok((
            self.0.active_id().to_string(),
            self.0.seal_str(plaintext, &aad)?,
        ))
    }

    fn open(
        &self,
        sealed: &str,
        slot: pressroom_runtime::TokenSlot<'_>,
    ) -> anyhow::Result<secrecy::SecretString> {
        let aad = pressroom_crypto::Aad {
            workspace_id: slot.workspace_id,
            table: "accounts",
            column: slot.column,
            row_id: slot.account_id,
        };
        Ok(self.0.open_str(sealed, &aad)?)
    }
}

/// What a test body gets.
pub struct TestApp {
    /// The state the server runs with (its caches and counters are shared).
    pub state: ApiState,
    pub store: Store,
    pub queue: Queue,
    pub base: String,
    pub http: reqwest::Client,
    /// Signs `/media/{id}` links the way the daemon does.
    pub media: Arc<pressroom_api::media::MediaLinks>,
    /// The workers' liveness flag `/readyz` reads.
    pub workers_alive: Arc<std::sync::atomic::AtomicBool>,
}

/// One workspace's fixtures.
pub struct World {
    pub ws_id: WorkspaceId,
    pub slug: String,
    /// A key per role (instance admin excluded).
    pub keys: Vec<(Role, String)>,
    pub key_ids: Vec<(Role, String)>,
    pub campaign_id: CampaignId,
    pub run_id: RunId,
    pub post_id: PostId,
    pub rendition_id: RenditionId,
    /// The fixture rendition's asset (its file is empty).
    pub asset_id: AssetId,
    pub account_id: AccountId,
    pub hook_id: String,
    pub hook_secret: String,
    /// An outbound webhook endpoint, disabled so no test delivers to it by accident.
    pub webhook_endpoint_id: String,
    /// The fixture run's review (pending, one candidate: the fixture asset).
    pub review_id: pressroom_core::ReviewId,
    /// A live review link of that review.
    pub review_link_id: String,
    /// A person who is a viewer of the workspace.
    pub member_user_id: String,
}

impl World {
    pub fn key(&self, role: Role) -> &str {
        self.keys
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, k)| k.as_str())
            .unwrap_or("")
    }

    pub fn key_id(&self, role: Role) -> &str {
        self.key_ids
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, k)| k.as_str())
            .unwrap_or("")
    }
}

pub fn campaign_toml(slug: &str, name: &str) -> String {
    format!(
        r#"name = "{name}"
workspace = "{slug}"

[schedule]
webhook = true

[generation]
prompt = "A stack of {{{{ product }}}} on a shelf"
steps = 4
width = 256
height = 256

[caption]
template = "Back in stock: {{{{ product }}}}"

[variables]
product = "Linen Tote"

[[targets]]
account = "sandbox"
preset = "instagram-square"
"#
    )
}

impl TestApp {
    /// Fires a campaign as `POST /v1/campaigns/{id}/trigger` does, under `fire_key`: the run
    /// id when this key created one.
    pub async fn fire(
        &self,
        campaign: &pressroom_store::entity::campaign::Model,
        fire_key: &str,
    ) -> anyhow::Result<Option<RunId>> {
        let fire = pressroom_runtime::campaigns::Fire {
            trigger: "api",
            fire_key,
            variables: &serde_json::json!({}),
        };
        let t =
            pressroom_runtime::campaigns::trigger(&self.store, &self.queue, campaign, fire).await?;
        Ok(t.created.then_some(t.run_id))
    }

    /// Seals webhook secrets with the server's own keyring, as the handlers do.
    pub fn sealer(&self) -> pressroom_runtime::RowSealer<'_> {
        pressroom_runtime::RowSealer(
            self.state
                .tokens
                .as_deref()
                .expect("the test server has a token keyring"),
        )
    }

    /// Marks a world's fixture post failed, as a publish job that ran out of retries would.
    pub async fn fail_post(&self, w: &World) -> anyhow::Result<()> {
        let now = self.store.now_ms().await?;
        posts::set_state(
            &self.store,
            self.store.conn(),
            now,
            &w.post_id,
            pressroom_core::PostState::Failed,
            None,
            None,
            Some("platform said no"),
        )
        .await?;
        Ok(())
    }

    /// Marks `w`'s post published (only a published post has numbers to fetch).
    pub async fn publish_post(&self, w: &World) -> anyhow::Result<()> {
        let now = self.store.now_ms().await?;
        posts::set_state(
            &self.store,
            self.store.conn(),
            now,
            &w.post_id,
            pressroom_core::PostState::Published,
            Some("remote-1"),
            None,
            None,
        )
        .await?;
        Ok(())
    }

    /// Sends only the headers of a POST that declares a `declared_len`-byte body and returns
    /// the status and the body (JSON where it parses). Raw TCP on purpose: a client still
    /// uploading an oversized body races the server's early answer and close.
    pub async fn post_headers_only(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        declared_len: usize,
    ) -> anyhow::Result<(u16, Value)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut tcp = tokio::net::TcpStream::connect(addr).await?;
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {declared_len}\r\nconnection: close\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        tcp.write_all(head.as_bytes()).await?;
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut raw)).await??;
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no status line in {text:?}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        Ok((
            status,
            serde_json::from_str(body).unwrap_or(Value::String(body.to_string())),
        ))
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A workspace with a sandbox account, a campaign, one run with one post, a hook, and a
    /// key of every workspace role.
    pub async fn world(&self, slug: &str) -> anyhow::Result<World> {
        let ws = workspaces::ensure(&self.store, slug, slug).await?;
        let now = self.store.now_ms().await?;
        let account = accounts::upsert(
            self.store.conn(),
            now,
            accounts::AccountInput {
                workspace_id: &ws.id,
                platform: pressroom_core::Platform::Sandbox,
                name: "sandbox",
                external_id: "sandbox",
                access_token_sealed: None,
                refresh_token_sealed: None,
                key_id: None,
                expires_at: None,
                extra: serde_json::json!({}),
            },
        )
        .await?;
        let source = campaign_toml(slug, "restock");
        let spec = pressroom_core::campaign::parse_campaign(&source, "t")
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let campaign = campaigns::upsert(
            self.store.conn(),
            now,
            campaigns::CampaignInput {
                workspace_id: &ws.id,
                name: "restock",
                source: &source,
                source_file: None,
                spec: serde_json::to_value(&spec)?,
            },
        )
        .await?;
        let run_id = self
            .fire(&campaign, &format!("fixture:{slug}"))
            .await?
            .ok_or_else(|| anyhow::anyhow!("fixture run not created"))?;
        // The fixture's image and rendition: one empty blob.
        let fixture_file = format!("fixtures/{slug}.bin");
        self.state.blobs.put(&fixture_file, b"").await?;
        let asset_id = assets::insert(
            self.store.conn(),
            now,
            assets::NewAsset {
                workspace_id: &ws.id,
                sha256: "00",
                generation_key: "k",
                generator: "fake",
                params: &serde_json::json!({}),
                path: &fixture_file,
                width: 8,
                height: 8,
            },
        )
        .await?;
        let rendition = assets::insert_rendition(
            &self.store,
            self.store.conn(),
            now,
            assets::NewRendition {
                workspace_id: &ws.id,
                run_id: &run_id,
                asset_id: &asset_id,
                preset: "instagram-square",
                fit: "cover",
                sha256: "00",
                path: &fixture_file,
                mime: "image/jpeg",
                width: 8,
                height: 8,
                bytes: 1,
            },
        )
        .await?;
        let post = posts::insert(
            &self.store,
            self.store.conn(),
            now,
            posts::NewPost {
                workspace_id: &ws.id,
                run_id: &run_id,
                account_id: &account.id,
                rendition_id: &rendition.id,
                platform: pressroom_core::Platform::Sandbox,
                preset: "instagram-square",
                caption: "hi",
                format: pressroom_core::PostFormat::Single,
                alt_texts: &[],
                rendition_ids: &[],
                first_comment: None,
                cover_index: None,
            },
        )
        .await?;
        let secret = pressroom_crypto::webhook::WebhookSecret::generate().export();
        let secret = secrecy::ExposeSecret::expose_secret(&secret).to_string();
        let hook = hooks::insert(
            &self.store,
            self.store.conn(),
            now,
            hooks::NewHook {
                workspace_id: &ws.id,
                campaign_id: &campaign.id,
                secrets: std::slice::from_ref(&secret),
                adapter: "generic",
                mapping: &serde_json::json!({ "product": "/product" }),
            },
            &self.sealer(),
        )
        .await?;
        let endpoint = pressroom_store::repo::webhook_endpoints::insert(
            &self.store,
            self.store.conn(),
            now,
            pressroom_store::repo::webhook_endpoints::NewEndpoint {
                workspace_id: &ws.id,
                url: "https://hooks.example.com/pressroom",
                secret: &secret,
                events: &pressroom_core::PostEvent::ALL,
                description: "fixture",
            },
            &self.sealer(),
        )
        .await?;
        pressroom_store::repo::webhook_endpoints::disable(
            &self.store,
            self.store.conn(),
            now,
            &ws.id,
            &endpoint.id,
            "fixture",
        )
        .await?;
        let review = pressroom_store::repo::reviews::open(
            &self.store,
            self.store.conn(),
            now,
            pressroom_store::repo::reviews::NewReview {
                workspace_id: &ws.id,
                run_id: &run_id,
                campaign_id: &campaign.id,
                deadline_at: now + 3_600_000,
            },
        )
        .await?;
        pressroom_store::repo::reviews::set_candidates(
            &self.store,
            self.store.conn(),
            now,
            &ws.id,
            &review.id,
            0,
            std::slice::from_ref(&asset_id),
            &[],
        )
        .await?;
        let (_, link_hash) = pressroom_crypto::password::new_token();
        let review_link_id = pressroom_store::repo::reviews::insert_link(
            &self.store,
            self.store.conn(),
            now,
            pressroom_store::repo::reviews::NewLink {
                workspace_id: &ws.id,
                review_id: &review.id,
                token_hash: &link_hash,
                created_by: "fixture",
                expires_at: now + 3_600_000,
            },
        )
        .await?;
        // A person in the workspace (a viewer), for the member routes.
        let member = people::ensure_user(
            &self.store,
            self.store.conn(),
            now,
            &format!("member@{slug}.example"),
            "Member",
        )
        .await?;
        people::set_membership(
            &self.store,
            self.store.conn(),
            now,
            &member.id,
            &ws.id,
            "viewer",
        )
        .await?;
        let mut keys = Vec::new();
        let mut key_ids = Vec::new();
        for role in [
            Role::Viewer,
            Role::Approver,
            Role::Editor,
            Role::Admin,
            Role::Owner,
        ] {
            let k = mint_key(&self.store, Some(&ws.id), role, "test", "test")
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            keys.push((role, k.key));
            key_ids.push((role, k.row.id));
        }
        Ok(World {
            ws_id: ws.id,
            slug: slug.to_string(),
            keys,
            key_ids,
            campaign_id: campaign.id,
            run_id,
            post_id: post.id,
            rendition_id: rendition.id.clone(),
            asset_id: asset_id.clone(),
            account_id: account.id.clone(),
            hook_id: hook.id,
            hook_secret: secret,
            webhook_endpoint_id: endpoint.id,
            review_id: review.id,
            review_link_id,
            member_user_id: member.id,
        })
    }

    /// An instance-admin key.
    pub async fn instance_key(&self) -> anyhow::Result<String> {
        Ok(
            mint_key(&self.store, None, Role::InstanceAdmin, "agency", "test")
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .key,
        )
    }

    /// Jobs in the queue (to assert nothing was enqueued).
    pub async fn job_count(&self) -> anyhow::Result<i64> {
        Ok(self.queue.counts().await?.iter().map(|(_, _, n)| n).sum())
    }

    pub async fn run_count(&self) -> anyhow::Result<i64> {
        let conn = self.store.conn();
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT COUNT(*) AS n FROM runs".to_string(),
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no row"))?;
        Ok(row.try_get::<i64>("", "n")?)
    }
}

/// Creates the database, serves the API on it, runs `body`, then stops the server and drops
/// the database (also when the body failed).
pub async fn run<F, Fut>(backend: Backend, name: &str, body: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    run_configured(backend, name, |s| s, body).await
}

/// [`run`] with the test's own settings applied to the API state.
pub async fn run_configured<F, Fut>(
    backend: Backend,
    name: &str,
    configure: fn(ApiState) -> ApiState,
    body: F,
) where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
            let outcome = serve_and_run(&url, configure, body).await;
            drop(dir);
            finish(name, "SQLite", outcome);
        }
        Backend::Postgres => {
            let db = TempPgDatabase::create("pressroom_api", name)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let outcome = serve_and_run(db.url(), configure, body).await;
            let _ = db.drop_database().await;
            finish(name, "PostgreSQL", outcome);
        }
    }
}

async fn serve_and_run<F, Fut>(
    url: &str,
    configure: fn(ApiState) -> ApiState,
    body: F,
) -> anyhow::Result<()>
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let queue = Queue::new(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let media = Arc::new(pressroom_api::media::MediaLinks::new(
        [9; 32],
        &base,
        Duration::from_secs(600),
    ));
    let workers_alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
    // Files the server writes (generated images) go here, not into the working directory.
    let data_dir = tempfile::tempdir()?;
    let state = ApiState::new(store.clone(), queue.clone())
        .with_data_dir(data_dir.path().to_path_buf())
        .with_workers_alive(workers_alive.clone())
        .with_connect(
            Arc::new(StandInFlows),
            Arc::new(RingCipher(pressroom_crypto::Keyring::generate())),
            None,
        )
        .with_generator(Arc::new(FakeGenerator))
        // Webhook tests deliver to receivers on loopback.
        .with_webhooks_allow_private(true)
        .with_media_links(media.clone())
        .with_rate_limit(RateLimit {
            per_second: 10_000.0,
            burst: 10_000.0,
        })
        // Every test client is 127.0.0.1, and some tests fail to authenticate on purpose.
        .with_ip_rate_limit(RateLimit {
            per_second: 10_000.0,
            burst: 10_000.0,
        })
        .with_auth_failure_limit(RateLimit {
            per_second: 10_000.0,
            burst: 10_000.0,
        });
    let state = configure(state);
    let stop = CancellationToken::new();
    let server = tokio::spawn(pressroom_api::serve(
        listener,
        state.clone(),
        stop.clone().cancelled_owned(),
    ));
    let app = TestApp {
        state,
        store: store.clone(),
        queue,
        base,
        media,
        workers_alive,
        // Idle connections are dropped well before the server's own idle close, so a
        // request never rides a connection the server is closing.
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(2))
            .build()?,
    };
    let outcome = tokio::spawn(body(app)).await;
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    let _ = store.conn().clone().close().await;
    drop(data_dir);
    match outcome {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("test body panicked: {e}")),
    }
}

fn finish(name: &str, backend: &str, outcome: anyhow::Result<()>) {
    if let Err(e) = outcome {
        panic!("{name} on {backend}: {e:#}");
    }
}
