//! The insights job through the real queue and workers, on both databases, against a
//! scripted platform that counts its metrics calls:
//! - three posts of one account whose fetches come due together are measured in one call
//!   (the job that runs first takes the others along), each gets its row, every job completes;
//! - a platform that says the account lacks the permission marks the account; a later answer
//!   given without asking (nothing measured) leaves the mark, numbers clear it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pressroom_connector::{
    Capabilities, Connector, ConnectorError, Credentials, MetricsAnswer, MetricsCtx, MetricsQuery,
    MetricsReport, PostDraft, PostMetrics, Prepared, PublishCtx, Published, Reconciled,
    ValidationIssue,
};
use pressroom_core::{PostId, WorkspaceId};
use pressroom_runtime::pipeline::insights::fetch_job;
use pressroom_store::repo::{accounts, insights};
use pressroom_store::testing::TestDb;
use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
use secrecy::SecretString;

use crate::fixture::{Rendition, Seed, TestCipher};

/// What the scripted platform answers to the next metrics call.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    /// Views equal to the post's number in its remote id (`r-3` → 3).
    Numbers,
    /// The account may not read insights.
    NoPermission,
    /// "Nothing yet" for every post, without asking (a story past its window).
    NotAsked,
}

struct Platform {
    caps: Capabilities,
    script: Mutex<Vec<Answer>>,
    /// The number of posts of each metrics call.
    calls: Mutex<Vec<usize>>,
}

impl Platform {
    fn new(script: Vec<Answer>) -> Arc<Self> {
        Arc::new(Self {
            caps: Capabilities {
                max_caption_chars: 1000,
                media_types: vec!["image/jpeg"],
                max_media_bytes: 1 << 20,
                aspect_range: (0.1, 10.0),
                daily_cap: None,
                two_phase: false,
                needs_public_url: false,
            },
            script: Mutex::new(script),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<usize> {
        self.calls.lock().expect("lock").clone()
    }
}

#[async_trait::async_trait]
impl Connector for Platform {
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
        Ok(creds.clone())
    }

    async fn prepare(&self, _: &PublishCtx, _: &PostDraft) -> Result<Prepared, ConnectorError> {
        Err(ConnectorError::Rejected("not publishing here".into()))
    }

    async fn commit(&self, _: &PublishCtx, _: &Prepared) -> Result<Published, ConnectorError> {
        Err(ConnectorError::Rejected("not publishing here".into()))
    }

    async fn reconcile(
        &self,
        _: &PublishCtx,
        _: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        Ok(Reconciled::Absent)
    }

    fn metrics_batch(&self) -> usize {
        20
    }

    async fn fetch_metrics(
        &self,
        _: &MetricsCtx,
        posts: &[MetricsQuery],
    ) -> Result<MetricsReport, ConnectorError> {
        self.calls.lock().expect("lock").push(posts.len());
        let next = {
            let mut script = self.script.lock().expect("lock");
            if script.is_empty() {
                Answer::Numbers
            } else {
                script.remove(0)
            }
        };
        Ok(match next {
            Answer::NoPermission => {
                MetricsReport::unavailable(posts, "reconnect and grant read_insights")
            }
            Answer::NotAsked => MetricsReport {
                answers: posts
                    .iter()
                    .map(|q| q.not_yet("a story's numbers are kept 24 hours", Default::default()))
                    .collect(),
                ..Default::default()
            },
            Answer::Numbers => MetricsReport {
                answers: posts
                    .iter()
                    .map(|q| MetricsAnswer::Measured {
                        metrics: PostMetrics {
                            views: q.remote_id.trim_start_matches("r-").parse().ok(),
                            ..Default::default()
                        },
                        raw: serde_json::json!({"id": q.remote_id}),
                        metrics_id: None,
                    })
                    .collect(),
                ..Default::default()
            },
        })
    }
}

async fn exec(db: &TestDb, sql: &str) {
    let conn = db.store.conn();
    conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect(sql);
}

/// The posts' ids, oldest first.
async fn post_ids(db: &TestDb) -> Vec<PostId> {
    let conn = db.store.conn();
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        "SELECT id FROM posts ORDER BY id",
    ))
    .await
    .expect("posts")
    .iter()
    .map(|r| r.try_get::<String>("", "id").expect("id").into())
    .collect()
}

/// Enqueues a due fetch (`slot`) of each post.
async fn due(db: &TestDb, ws: &WorkspaceId, posts: &[PostId], slot: usize) {
    let queue = pressroom_store::Queue::new(db.store.clone());
    let tx = db.store.begin().await.expect("tx");
    for post in posts {
        queue
            .enqueue(&tx, fetch_job(ws, post, format!("insights:{post}:{slot}")))
            .await
            .expect("enqueue");
    }
    tx.commit().await.expect("commit");
}

/// Runs the publishing workers until every insights job is finished.
async fn work(db: &TestDb, platform: Arc<Platform>) {
    let pipeline = Arc::new(crate::fixture::pipeline(
        db,
        platform,
        crate::fixture::quick_retry(),
        Arc::new(TestCipher),
    ));
    let workers = crate::fixture::PublishWorkers::start(pipeline, Duration::from_millis(50));
    let deadline = Instant::now() + Duration::from_secs(60);
    let conn = db.store.conn();
    loop {
        let open = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT COUNT(*) AS n FROM jobs WHERE kind = 'insights' AND state <> 'completed'",
            ))
            .await
            .expect("count")
            .map(|r| r.try_get::<i64>("", "n").expect("n"))
            .unwrap_or(0);
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} insights jobs never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    workers.stop().await;
}

async fn fetches_of_one_account_share_a_call_and_a_problem_needs_numbers_to_clear(db: TestDb) {
    let seed = Seed {
        platform: pressroom_connector::Platform::Sandbox,
        external_id: "acct-1",
        caption: "Fresh bread",
        rendition: Rendition::placeholder(),
        job_attempts: 8,
    };
    let creds = Credentials {
        access_token: SecretString::from("token"),
        refresh_token: None,
        expires_at: None,
        extra: serde_json::Value::Null,
    };
    let (ws, account) = seed.accounts_posts(&db.store, &creds, 3).await;
    // Published (their publish jobs out of the way), numbered r-1, r-2, r-3 in id order.
    exec(&db, "DELETE FROM jobs").await;
    let ids = post_ids(&db).await;
    for (i, id) in ids.iter().enumerate() {
        exec(
            &db,
            &format!(
                "UPDATE posts SET state = 'published', remote_id = 'r-{}', published_at = updated_at WHERE id = '{id}'",
                i + 1
            ),
        )
        .await;
    }

    let platform = Platform::new(vec![Answer::Numbers]);
    due(&db, &ws, &ids, 0).await;
    work(&db, platform.clone()).await;
    assert_eq!(
        platform.calls(),
        vec![3],
        "one call measured the three posts"
    );
    for (i, id) in ids.iter().enumerate() {
        let series = insights::series(db.store.conn(), &ws, id)
            .await
            .expect("series");
        assert_eq!(series.len(), 1, "one row for post {i}");
        let views: serde_json::Value = serde_json::from_str(&series[0].metrics).expect("json");
        assert_eq!(views, serde_json::json!({ "views": i + 1 }));
    }

    // No permission: the account is marked.
    let platform = Platform::new(vec![
        Answer::NoPermission,
        Answer::NotAsked,
        Answer::Numbers,
    ]);
    let problem = || async {
        accounts::get(db.store.conn(), &ws, &account)
            .await
            .expect("account")
            .insights_problem
    };
    due(&db, &ws, &ids[..1], 1).await;
    work(&db, platform.clone()).await;
    assert_eq!(
        problem().await.as_deref(),
        Some("reconnect and grant read_insights")
    );
    // An answer given without asking the platform proves nothing: the mark stays.
    due(&db, &ws, &ids[..1], 2).await;
    work(&db, platform.clone()).await;
    assert!(problem().await.is_some(), "cleared without numbers");
    // Numbers clear it.
    due(&db, &ws, &ids[..1], 3).await;
    work(&db, platform.clone()).await;
    assert_eq!(problem().await, None);
    assert_eq!(platform.calls(), vec![1, 1, 1]);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_batched_per_account_sqlite() {
    fetches_of_one_account_share_a_call_and_a_problem_needs_numbers_to_clear(
        TestDb::sqlite().await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_batched_per_account_postgres() {
    fetches_of_one_account_share_a_call_and_a_problem_needs_numbers_to_clear(
        TestDb::postgres("pressroom_insights_batch").await,
    )
    .await;
}
