//! Runs one test body against a fresh database of either backend.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pressroom_core::{AccountId, AssetId, CampaignId, PostId, RenditionId, RunId, WorkspaceId};
use pressroom_store::repo::{accounts, assets, campaigns, posts, runs, workspaces};
use pressroom_store::testing::TempPgDatabase;
use pressroom_store::{Backend, Queue, Store};
use sea_orm::{ConnectionTrait, Statement, Value};

/// Generates a `sqlite` and a `postgres` test module, each with one `#[tokio::test]` per
/// named test body (`async fn name(ctx: Ctx) -> anyhow::Result<()>` in the calling module).
/// Attributes before a name (`#[ignore = "why"]`) go on both variants.
macro_rules! on_both_backends {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::harness::run(
                        pressroom_store::Backend::Sqlite,
                        stringify!($name),
                        super::$name,
                    )
                    .await;
                }
            )+
        }
        mod postgres {
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::harness::run(
                        pressroom_store::Backend::Postgres,
                        stringify!($name),
                        super::$name,
                    )
                    .await;
                }
            )+
        }
    };
}

/// Generates a `postgres_only` test module for behaviour SQLite cannot show (row locks).
macro_rules! on_postgres_only {
    ($($name:ident),+ $(,)?) => {
        mod postgres_only {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::harness::run(
                        pressroom_store::Backend::Postgres,
                        stringify!($name),
                        super::$name,
                    )
                    .await;
                }
            )+
        }
    };
}

/// What a test body gets: a migrated store on its own database, and its queue.
pub struct Ctx {
    pub store: Store,
    pub queue: Queue,
    /// The URL of this test's database, for tests that open more connections.
    pub url: String,
}

impl Ctx {
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// A second, independent store on the same database (another pool, like another worker
    /// process would have).
    pub async fn connect_again(&self) -> anyhow::Result<Store> {
        Ok(Store::connect(&self.url).await?)
    }

    /// Runs raw SQL (with `$n` placeholders) and returns the rows affected.
    pub async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64, sea_orm::DbErr> {
        let conn = self.store.conn();
        let stmt = Statement::from_sql_and_values(conn.get_database_backend(), sql, values);
        Ok(conn.execute_raw(stmt).await?.rows_affected())
    }

    /// Runs a `SELECT COUNT(*) AS n ...` and returns n.
    pub async fn count(&self, sql: &str, values: Vec<Value>) -> anyhow::Result<i64> {
        let conn = self.store.conn();
        let stmt = Statement::from_sql_and_values(conn.get_database_backend(), sql, values);
        let row = conn
            .query_one_raw(stmt)
            .await?
            .ok_or_else(|| anyhow::anyhow!("count query returned no row: {sql}"))?;
        Ok(row.try_get::<i64>("", "n")?)
    }

    /// Waits until the database clock is past `t_ms` (lease expiry is judged by the DB).
    pub async fn wait_db_past(&self, t_ms: i64) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            // The database's own clock, as the queue's SQL reads it: the carried clock of
            // `now_ms` may run a few ms ahead of it.
            let now = self.store.query_now_ms().await?;
            if now > t_ms {
                return Ok(());
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "database clock never passed {t_ms} (now {now})"
            );
            tokio::time::sleep(Duration::from_millis((t_ms - now + 1).clamp(1, 50) as u64)).await;
        }
    }
}

/// Creates the test's database, runs `body` on it, then drops the database — also when the
/// body failed or panicked — and reports the failure.
pub async fn run<F, Fut>(backend: Backend, name: &str, body: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("pressroom.db").display()
            );
            let outcome = run_body(&url, body).await;
            drop(dir);
            finish(name, "SQLite", outcome);
        }
        Backend::Postgres => {
            let db = TempPgDatabase::create("pressroom_t", name)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let outcome = run_body(db.url(), body).await;
            let dropped = db.drop_database().await;
            finish(name, "PostgreSQL", outcome);
            if let Err(e) = dropped {
                panic!("{e}");
            }
        }
    }
}

enum Outcome {
    Passed,
    Failed(anyhow::Error),
    Panicked(Box<dyn std::any::Any + Send>),
}

async fn run_body<F, Fut>(url: &str, body: F) -> Outcome
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let store = match Store::connect(url).await {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(anyhow::anyhow!("connect {url}: {e}")),
    };
    if let Err(e) = store.migrate().await {
        return Outcome::Failed(anyhow::anyhow!("migrate {url}: {e}"));
    }
    let ctx = Ctx {
        queue: Queue::new(store.clone()),
        store: store.clone(),
        url: url.to_string(),
    };
    // The body runs as its own task so a panic comes back here and the database still gets
    // cleaned up.
    let outcome = match tokio::spawn(body(ctx)).await {
        Ok(Ok(())) => Outcome::Passed,
        Ok(Err(e)) => Outcome::Failed(e),
        Err(e) if e.is_panic() => Outcome::Panicked(e.into_panic()),
        Err(e) => Outcome::Failed(anyhow::anyhow!("test task: {e}")),
    };
    let _ = store.conn().close_by_ref().await;
    outcome
}

fn finish(name: &str, backend: &str, outcome: Outcome) {
    match outcome {
        Outcome::Passed => {}
        Outcome::Failed(e) => panic!("{name} on {backend}: {e:?}"),
        Outcome::Panicked(p) => std::panic::resume_unwind(p),
    }
}

/// Asserts a store result is a specific error variant.
macro_rules! assert_err {
    ($result:expr, $pat:pat) => {
        match $result {
            Err($pat) => {}
            other => panic!(
                "{} should fail with {}, got {:?}",
                stringify!($result),
                stringify!($pat),
                other
            ),
        }
    };
}

/// The wall clock in epoch milliseconds.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// One of everything a post needs, in one workspace.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub ws: WorkspaceId,
    pub campaign_id: CampaignId,
    pub run_id: RunId,
    pub asset_id: AssetId,
    pub rendition_id: RenditionId,
    pub account_id: AccountId,
    pub post_id: PostId,
}

/// Creates workspace `slug` with a campaign, a run, an asset, a rendition, an account and a
/// post.
pub async fn fixture(ctx: &Ctx, slug: &str) -> anyhow::Result<Fixture> {
    let store = &ctx.store;
    let conn = store.conn();
    let now = store.now_ms().await?;
    let ws = workspaces::ensure(store, slug, &format!("Workspace {slug}"))
        .await?
        .id;
    let campaign_id = campaigns::upsert(
        conn,
        now,
        campaigns::CampaignInput {
            workspace_id: &ws,
            name: "spring",
            source: "name = \"spring\"",
            source_file: Some("campaigns/spring.toml"),
            spec: serde_json::json!({"name": "spring"}),
        },
    )
    .await?
    .id;
    let vars = serde_json::json!({"season": "spring"});
    let run_id = runs::insert_fire(
        store,
        conn,
        now,
        runs::NewRun {
            workspace_id: &ws,
            campaign_id: &campaign_id,
            fire_key: "2026-03-20T09:00:00Z",
            fire_at_ms: now,
            trigger: "cron",
            state: pressroom_core::RunState::Queued,
            variables: &vars,
        },
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("first fire of a fresh campaign was not inserted"))?;
    let params = serde_json::json!({"seed": 7});
    let asset_id = assets::insert(conn, now, fixture_asset(&ws, &params)).await?;
    let rendition_id = assets::insert_rendition(
        store,
        conn,
        now,
        assets::NewRendition {
            workspace_id: &ws,
            run_id: &run_id,
            asset_id: &asset_id,
            preset: "square",
            fit: "cover",
            sha256: "cd34",
            path: "renditions/cd34.jpg",
            mime: "image/jpeg",
            width: 64,
            height: 64,
            bytes: 1234,
        },
    )
    .await?
    .id;
    let account_id = accounts::upsert(conn, now, account_input(&ws, "main", Some("r1")))
        .await?
        .id;
    let post_id = posts::insert(
        store,
        conn,
        now,
        posts::NewPost {
            workspace_id: &ws,
            run_id: &run_id,
            account_id: &account_id,
            rendition_id: &rendition_id,
            platform: pressroom_core::Platform::Sandbox,
            preset: "square",
            caption: "Spring is here",
            format: pressroom_core::PostFormat::Single,
            alt_texts: &[],
            rendition_ids: &[],
            first_comment: None,
            cover_index: None,
        },
    )
    .await?
    .id;
    Ok(Fixture {
        ws,
        campaign_id,
        run_id,
        asset_id,
        rendition_id,
        account_id,
        post_id,
    })
}

/// A sandbox account named `name` with sealed tokens "a1" and `refresh`.
pub fn account_input<'a>(
    ws: &'a WorkspaceId,
    name: &'a str,
    refresh: Option<&str>,
) -> accounts::AccountInput<'a> {
    accounts::AccountInput {
        workspace_id: ws,
        platform: pressroom_core::Platform::Sandbox,
        name,
        external_id: "ext-1",
        access_token_sealed: Some("sealed:a1".to_string()),
        refresh_token_sealed: refresh.map(|r| format!("sealed:{r}")),
        key_id: Some("k1".to_string()),
        expires_at: Some(1_000),
        extra: serde_json::json!({}),
    }
}

/// The fixture's generated image, as [`fixture`] records it (tests insert it again to check
/// what a second identical generation gets).
pub fn fixture_asset<'a>(
    ws: &'a WorkspaceId,
    params: &'a serde_json::Value,
) -> assets::NewAsset<'a> {
    assets::NewAsset {
        workspace_id: ws,
        sha256: "ab12",
        generation_key: "gen-key",
        generator: "tiny",
        params,
        path: "assets/ab12.png",
        width: 64,
        height: 64,
    }
}

/// A stand-in for the keyring (the store knows no keys): "sealed:" + the place + the reversed
/// text, refused when opened for another place, so a test sees a value is bound to its row.
pub struct TestSealer;

impl pressroom_store::sealed::SecretSealer for TestSealer {
    fn seal(
        &self,
        plaintext: &str,
        at: pressroom_store::sealed::SecretAt<'_>,
    ) -> Result<String, String> {
        let reversed: String = plaintext.chars().rev().collect();
        Ok(format!(
            "sealed:{}/{}/{}:{reversed}",
            at.workspace_id, at.column, at.row_id
        ))
    }

    fn open(
        &self,
        sealed: &str,
        at: pressroom_store::sealed::SecretAt<'_>,
    ) -> Result<String, String> {
        let prefix = format!("sealed:{}/{}/{}:", at.workspace_id, at.column, at.row_id);
        sealed
            .strip_prefix(&prefix)
            .map(|r| r.chars().rev().collect())
            .ok_or_else(|| "sealed for another place".to_string())
    }
}
