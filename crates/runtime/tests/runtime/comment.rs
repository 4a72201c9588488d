//! The first comment's own at-most-once steps (pipeline::comment), through the real queue and
//! workers on both databases, against a scripted platform that keeps its comments:
//! - the platform records the comment but its answer is lost: the next try finds it, and
//!   nothing is posted twice;
//! - the daemon died after writing `committing` and before the call left: the platform has
//!   no such comment, so once absence is final the comment is posted, once;
//! - the platform refuses the comment: it is `failed` with the reason, the post stays
//!   published.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pressroom_connector::{
    Capabilities, Connector, ConnectorError, Credentials, PostDraft, Prepared, PublishCtx,
    Published, Reconciled, ValidationIssue,
};
use pressroom_core::JobKind;
use pressroom_store::testing::TestDb;
use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
use secrecy::SecretString;

use crate::fixture::{Rendition, Seed, TestCipher};

/// What the scripted platform does with the next comment call.
#[derive(Clone, Copy, Debug, PartialEq)]
enum OnComment {
    /// Records it and answers with its id.
    Post,
    /// Records it, then the answer is lost.
    PostThenLoseAnswer,
    /// Refuses it; nothing is recorded.
    Refuse,
}

struct Platform {
    caps: Capabilities,
    on_comment: Mutex<Vec<OnComment>>,
    comment_calls: AtomicUsize,
    /// (post, text) of every comment the platform holds.
    comments: Mutex<Vec<(String, String)>>,
}

impl Platform {
    fn new(script: Vec<OnComment>) -> Arc<Self> {
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
            on_comment: Mutex::new(script),
            comment_calls: AtomicUsize::new(0),
            comments: Mutex::new(Vec::new()),
        })
    }

    fn comments(&self) -> Vec<(String, String)> {
        self.comments.lock().expect("lock").clone()
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
        Ok(Prepared {
            checkpoint: serde_json::json!({}),
        })
    }

    async fn commit(&self, ctx: &PublishCtx, _: &Prepared) -> Result<Published, ConnectorError> {
        Ok(Published {
            remote_id: format!("post-{}", ctx.attempt_id),
            url: None,
        })
    }

    fn absent_final_after(&self) -> Duration {
        Duration::ZERO
    }

    async fn reconcile(
        &self,
        _: &PublishCtx,
        _: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        Ok(Reconciled::Absent)
    }

    async fn comment(
        &self,
        _: &PublishCtx,
        remote_id: &str,
        text: &str,
    ) -> Result<String, ConnectorError> {
        self.comment_calls.fetch_add(1, Ordering::SeqCst);
        let next = {
            let mut script = self.on_comment.lock().expect("lock");
            if script.is_empty() {
                OnComment::Post
            } else {
                script.remove(0)
            }
        };
        if next == OnComment::Refuse {
            return Err(ConnectorError::Rejected(
                "(#10) Application does not have permission for this action".into(),
            ));
        }
        let id = {
            let mut comments = self.comments.lock().expect("lock");
            comments.push((remote_id.to_owned(), text.to_owned()));
            format!("comment-{}", comments.len())
        };
        match next {
            OnComment::PostThenLoseAnswer => Err(ConnectorError::OutcomeUnknown(
                "no answer to the comment call".into(),
            )),
            _ => Ok(id),
        }
    }

    async fn find_comment(
        &self,
        _: &PublishCtx,
        remote_id: &str,
        text: &str,
    ) -> Result<Option<String>, ConnectorError> {
        Ok(self
            .comments()
            .iter()
            .position(|(post, t)| post == remote_id && t == text)
            .map(|i| format!("comment-{}", i + 1)))
    }
}

/// (state, comment_state, comment_id, comment_error) of the one post.
async fn post_row(db: &TestDb) -> (String, Option<String>, Option<String>, Option<String>) {
    let conn = db.store.conn();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT state, comment_state, comment_id, comment_error FROM posts",
        ))
        .await
        .expect("posts");
    let r = rows.first().expect("one post");
    (
        r.try_get("", "state").expect("state"),
        r.try_get("", "comment_state").expect("comment_state"),
        r.try_get("", "comment_id").expect("comment_id"),
        r.try_get("", "comment_error").expect("comment_error"),
    )
}

async fn exec(db: &TestDb, sql: &str) {
    let conn = db.store.conn();
    conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect(sql);
}

/// One post with a first comment, its publish job queued (or, `crashed`, the post already
/// published and its comment left `committing` with its job queued); the workers run until the
/// comment is `done` or `failed`.
async fn publish_with_comment(db: &TestDb, platform: Arc<Platform>, crashed: bool) {
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
    seed.accounts_posts(&db.store, &creds, 1).await;
    exec(
        db,
        "UPDATE posts SET first_comment = 'Order at example.com', comment_state = 'pending'",
    )
    .await;
    if crashed {
        // As a daemon killed between writing `committing` and sending leaves it: the post
        // published, its comment `committing` since long ago, its job back in the queue.
        exec(
            db,
            "UPDATE posts SET state = 'published', remote_id = 'post-before', \
             comment_state = 'committing', comment_started_at = 1",
        )
        .await;
        let conn = db.store.conn();
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT id, workspace_id FROM posts",
            ))
            .await
            .expect("post")
            .expect("one post");
        let post_id: String = row.try_get("", "id").expect("id");
        let ws: String = row.try_get("", "workspace_id").expect("ws");
        pressroom_store::Queue::new(db.store.clone())
            .enqueue(
                db.store.conn(),
                pressroom_store::NewJob::new(
                    &ws.into(),
                    JobKind::Comment,
                    serde_json::json!({ "post_id": post_id }),
                ),
            )
            .await
            .expect("enqueue");
    }
    let pipeline = Arc::new(crate::fixture::pipeline(
        db,
        platform,
        crate::fixture::quick_retry(),
        Arc::new(TestCipher),
    ));
    let workers = crate::fixture::PublishWorkers::start(pipeline, Duration::from_millis(50));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, comment, _, _) = post_row(db).await;
        if matches!(comment.as_deref(), Some("done" | "failed")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the comment did not settle: {:?}",
            post_row(db).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    workers.stop().await;
}

async fn a_lost_answer_is_found_not_repeated(db: TestDb) {
    let platform = Platform::new(vec![OnComment::PostThenLoseAnswer]);
    publish_with_comment(&db, platform.clone(), false).await;
    let (state, comment, id, _) = post_row(&db).await;
    assert_eq!(
        (state.as_str(), comment.as_deref()),
        ("published", Some("done"))
    );
    assert_eq!(id.as_deref(), Some("comment-1"));
    assert_eq!(platform.comments().len(), 1, "posted once");
    assert_eq!(platform.comment_calls.load(Ordering::SeqCst), 1);
    db.drop_db().await;
}

async fn a_call_that_never_left_is_made_once(db: TestDb) {
    let platform = Platform::new(Vec::new());
    publish_with_comment(&db, platform.clone(), true).await;
    let (state, comment, _, _) = post_row(&db).await;
    assert_eq!(
        (state.as_str(), comment.as_deref()),
        ("published", Some("done"))
    );
    assert_eq!(
        platform.comments().len(),
        1,
        "posted once: {:?}",
        platform.comments()
    );
    db.drop_db().await;
}

async fn a_refused_comment_fails_and_the_post_stays(db: TestDb) {
    let platform = Platform::new(vec![OnComment::Refuse]);
    publish_with_comment(&db, platform.clone(), false).await;
    let (state, comment, id, error) = post_row(&db).await;
    assert_eq!(
        (state.as_str(), comment.as_deref()),
        ("published", Some("failed"))
    );
    assert_eq!(id, None);
    assert!(
        error.as_deref().is_some_and(|e| e.contains("#10")),
        "the platform's reason: {error:?}"
    );
    assert!(platform.comments().is_empty());
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_lost_answer_sqlite() {
    a_lost_answer_is_found_not_repeated(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_lost_answer_postgres() {
    a_lost_answer_is_found_not_repeated(TestDb::postgres("pressroom_comment_lost").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_never_sent_sqlite() {
    a_call_that_never_left_is_made_once(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_never_sent_postgres() {
    a_call_that_never_left_is_made_once(TestDb::postgres("pressroom_comment_unsent").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_refused_sqlite() {
    a_refused_comment_fails_and_the_post_stays(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_refused_postgres() {
    a_refused_comment_fails_and_the_post_stays(TestDb::postgres("pressroom_comment_refused").await)
        .await;
}
