//! Token refresh through the publish pipeline, against real databases (SQLite and
//! PostgreSQL): concurrent publishes on one account refresh once, a rotated refresh token is
//! stored with the access token, an empty one never overwrites the stored one, and the
//! account's `extra` from the refresh is kept.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use pressroom_connector::{
    Capabilities, Connector, ConnectorError, Credentials, PostDraft, Prepared, PublishCtx,
    Published, Reconciled, ValidationIssue,
};
use pressroom_core::{AccountId, JobKind, RetryPolicy, WorkspaceId};
use pressroom_runtime::{Pipeline, TokenCipher, TokenSlot};
use pressroom_store::entity::account;
use pressroom_store::repo::accounts;

pub(crate) use crate::fixture::{Rendition, Seed, TestCipher};
use pressroom_store::Store;
use pressroom_store::testing::TestDb;
use pressroom_store::testing::sea_orm::ConnectionTrait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

/// The token the platform no longer accepts.
const OLD_ACCESS: &str = "at-old";
const OLD_REFRESH: &str = "rt-old";

/// What the fake platform's token endpoint answers for the refresh token.
#[derive(Clone, Copy, Debug)]
enum RefreshAnswer {
    /// A new refresh token (rotation, as TikTok does).
    Rotated,
    /// `"refresh_token": ""` — must never overwrite the stored one.
    Empty,
}

/// A platform that counts refreshes, takes its time answering them (so concurrent publishes
/// overlap), and refuses the old access token.
struct CountingPlatform {
    caps: Capabilities,
    answer: RefreshAnswer,
    refreshes: AtomicU32,
    commits: Mutex<Vec<String>>,
}

impl CountingPlatform {
    fn new(answer: RefreshAnswer) -> Self {
        Self {
            caps: Capabilities {
                max_caption_chars: 1000,
                media_types: vec!["image/jpeg"],
                max_media_bytes: 1 << 20,
                aspect_range: (0.1, 10.0),
                daily_cap: None,
                two_phase: false,
                needs_public_url: false,
            },
            answer,
            refreshes: AtomicU32::new(0),
            commits: Mutex::new(Vec::new()),
        }
    }

    fn check(ctx: &PublishCtx) -> Result<(), ConnectorError> {
        if ctx.credentials.access_token.expose_secret() == OLD_ACCESS {
            Err(ConnectorError::AuthExpired)
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl Connector for CountingPlatform {
    fn platform(&self) -> pressroom_connector::Platform {
        pressroom_connector::Platform::Sandbox
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate(&self, _: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
        Ok(())
    }

    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if creds.refresh_token.as_ref().map(|t| t.expose_secret()) != Some(OLD_REFRESH) {
            // A rotated-away refresh token is dead on rotating platforms.
            return Err(ConnectorError::Disconnected("invalid_grant".into()));
        }
        let mut extra = creds.extra.clone();
        extra["refreshed"] = json!(n);
        Ok(Credentials {
            access_token: SecretString::from(format!("at-{n}")),
            refresh_token: Some(SecretString::from(match self.answer {
                RefreshAnswer::Rotated => format!("rt-{n}"),
                RefreshAnswer::Empty => String::new(),
            })),
            expires_at: Some(Utc::now() + chrono::Duration::hours(24)),
            extra,
        })
    }

    async fn prepare(&self, ctx: &PublishCtx, _: &PostDraft) -> Result<Prepared, ConnectorError> {
        Self::check(ctx)?;
        Ok(Prepared {
            checkpoint: json!({"prepared": true}),
        })
    }

    async fn commit(&self, ctx: &PublishCtx, _: &Prepared) -> Result<Published, ConnectorError> {
        Self::check(ctx)?;
        let id = format!("remote-{}", ctx.attempt_id);
        self.commits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(id.clone());
        Ok(Published {
            remote_id: id,
            url: None,
        })
    }

    async fn reconcile(
        &self,
        _: &PublishCtx,
        _: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        Ok(Reconciled::Absent)
    }
}

/// An account whose access token the platform refuses (and which is stored as expired when
/// `stored_expired`), with `posts` posts waiting to publish; returns (workspace, account).
async fn fixture(store: &Store, stored_expired: bool, posts_n: usize) -> (WorkspaceId, AccountId) {
    let expires_at = if stored_expired {
        Utc::now() - chrono::Duration::minutes(1)
    } else {
        Utc::now() + chrono::Duration::hours(12)
    };
    let creds = Credentials {
        access_token: SecretString::from(OLD_ACCESS),
        refresh_token: Some(SecretString::from(OLD_REFRESH)),
        expires_at: Some(expires_at),
        extra: json!({"page": "p1"}),
    };
    fixture_with(store, &creds, posts_n).await
}

/// An account of the counting platform with `creds` and `posts_n` posts waiting to publish;
/// returns (workspace, account).
async fn fixture_with(
    store: &Store,
    creds: &Credentials,
    posts_n: usize,
) -> (WorkspaceId, AccountId) {
    let seed = Seed {
        platform: pressroom_connector::Platform::Sandbox,
        external_id: "ext-1",
        caption: "hello",
        rendition: Rendition::placeholder(),
        job_attempts: 8,
    };
    seed.accounts_posts(store, creds, posts_n).await
}

fn pipeline(db: &TestDb, platform: Arc<CountingPlatform>) -> Arc<Pipeline> {
    Arc::new(crate::fixture::pipeline(
        db,
        platform,
        RetryPolicy::default(),
        Arc::new(TestCipher),
    ))
}

/// Claims every waiting publish job and runs them all at once, spread over `instances`
/// (pipelines with their own in-process locks, as separate daemons would have).
async fn publish_concurrently(instances: &[Arc<Pipeline>]) {
    let jobs = instances[0]
        .queue
        .claim(&[JobKind::Publish], "test", Duration::from_secs(60), 10)
        .await
        .expect("claim");
    assert!(jobs.len() >= 2, "{} jobs claimed", jobs.len());
    let runs = jobs.into_iter().enumerate().map(|(i, job)| {
        let p = instances[i % instances.len()].clone();
        tokio::spawn(async move { p.handle(&job).await })
    });
    for r in futures::future::join_all(runs).await {
        r.expect("join").expect("publish job ends");
    }
}

async fn stored(store: &Store, ws: &WorkspaceId, id: &AccountId) -> (account::Model, Credentials) {
    let row = accounts::get(store.conn(), ws, id).await.expect("account");
    let open = |sealed: &Option<String>, slot| {
        sealed
            .as_deref()
            .map(|s| TestCipher.open(s, slot).expect("opens"))
    };
    let creds = Credentials {
        access_token: open(&row.access_token_sealed, TokenSlot::access(ws, id))
            .expect("access token"),
        refresh_token: open(&row.refresh_token_sealed, TokenSlot::refresh(ws, id)),
        expires_at: row
            .expires_at
            .and_then(chrono::DateTime::from_timestamp_millis),
        extra: serde_json::from_str(&row.extra).expect("extra"),
    };
    (row, creds)
}

fn secret(s: &Option<SecretString>) -> Option<&str> {
    s.as_ref().map(|t| t.expose_secret())
}

async fn published_posts(store: &Store) -> i64 {
    let row = store
        .conn()
        .query_one_raw(pressroom_store::testing::sea_orm::Statement::from_string(
            store.conn().get_database_backend(),
            "SELECT COUNT(*) AS n FROM posts WHERE state = 'published'",
        ))
        .await
        .expect("count")
        .expect("row");
    row.try_get::<i64>("", "n").expect("n")
}

/// Publishes on one account at once (on one or more instances): one refresh, every post out
/// with the new token, and the rotated refresh token stored beside the new access token with
/// the new extra.
async fn concurrent_publishes_refresh_once(db: &TestDb, stored_expired: bool, instances: usize) {
    let (ws, account_id) = fixture(&db.store, stored_expired, 3).await;
    let platform = Arc::new(CountingPlatform::new(RefreshAnswer::Rotated));
    let pipelines: Vec<Arc<Pipeline>> = (0..instances)
        .map(|_| pipeline(db, platform.clone()))
        .collect();
    publish_concurrently(&pipelines).await;
    assert_eq!(
        platform.refreshes.load(Ordering::SeqCst),
        1,
        "one refresh for concurrent publishes (stored_expired={stored_expired})"
    );
    assert_eq!(published_posts(&db.store).await, 3);
    assert_eq!(
        platform
            .commits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len(),
        3
    );
    let (row, creds) = stored(&db.store, &ws, &account_id).await;
    assert_eq!(creds.access_token.expose_secret(), "at-1");
    assert_eq!(
        secret(&creds.refresh_token),
        Some("rt-1"),
        "the rotated refresh token is stored"
    );
    assert_eq!(creds.extra, json!({"page": "p1", "refreshed": 1}));
    assert!(creds.expires_at.is_some_and(|t| t > Utc::now()));
    assert_eq!(row.state, pressroom_core::AccountState::Active);
}

#[tokio::test]
async fn concurrent_publishes_refresh_once_sqlite() {
    for stored_expired in [true, false] {
        let db = TestDb::sqlite().await;
        concurrent_publishes_refresh_once(&db, stored_expired, 1).await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn concurrent_publishes_refresh_once_postgres() {
    for stored_expired in [true, false] {
        // Two instances sharing the database, as `pressroom serve` scales out.
        let db = TestDb::postgres("pressroom_runtime").await;
        concurrent_publishes_refresh_once(&db, stored_expired, 2).await;
        db.drop_db().await;
    }
}

/// A refresh answering `"refresh_token": ""` stores the new access token and extra but keeps
/// the stored refresh token.
async fn empty_refresh_token_never_overwrites(db: &TestDb) {
    let (ws, account_id) = fixture(&db.store, true, 2).await;
    let (before, _) = stored(&db.store, &ws, &account_id).await;
    let platform = Arc::new(CountingPlatform::new(RefreshAnswer::Empty));
    let p = pipeline(db, platform.clone());
    publish_concurrently(&[p]).await;
    assert_eq!(platform.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(published_posts(&db.store).await, 2);
    let (row, creds) = stored(&db.store, &ws, &account_id).await;
    assert_eq!(creds.access_token.expose_secret(), "at-1");
    assert_eq!(
        secret(&creds.refresh_token),
        Some(OLD_REFRESH),
        "an empty refresh token must not overwrite the stored one"
    );
    assert_eq!(
        row.refresh_token_sealed, before.refresh_token_sealed,
        "the stored refresh column is untouched"
    );
    assert_eq!(creds.extra, json!({"page": "p1", "refreshed": 1}));
}

#[tokio::test]
async fn empty_refresh_token_never_overwrites_sqlite() {
    let db = TestDb::sqlite().await;
    empty_refresh_token_never_overwrites(&db).await;
    db.drop_db().await;
}

#[tokio::test]
async fn empty_refresh_token_never_overwrites_postgres() {
    let db = TestDb::postgres("pressroom_runtime").await;
    empty_refresh_token_never_overwrites(&db).await;
    db.drop_db().await;
}

/// `store_refreshed` on its own: a rotated token lands with the access token; a missing one
/// keeps ours; a `null` extra keeps the stored extra.
#[tokio::test]
async fn store_refreshed_merges_and_writes_once() {
    let db = TestDb::sqlite().await;
    let (ws, account_id) = fixture(&db.store, false, 0).await;
    let (row, old) = stored(&db.store, &ws, &account_id).await;
    let now = db.store.now_ms().await.expect("now");
    let fresh = Credentials {
        access_token: SecretString::from("at-x"),
        refresh_token: None,
        expires_at: None,
        extra: serde_json::Value::Null,
    };
    let merged =
        pressroom_runtime::tokens::store_refreshed(&db.store, &TestCipher, &row, &old, fresh, now)
            .await
            .expect("stored");
    assert_eq!(secret(&merged.refresh_token), Some(OLD_REFRESH));
    let (_, after) = stored(&db.store, &ws, &account_id).await;
    assert_eq!(after.access_token.expose_secret(), "at-x");
    assert_eq!(secret(&after.refresh_token), Some(OLD_REFRESH));
    assert_eq!(after.extra, json!({"page": "p1"}));
    db.drop_db().await;
}

mod health;
mod reseal;
