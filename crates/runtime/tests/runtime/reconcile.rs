//! Two posts with the same caption to one Facebook Page, the second one's commit answered
//! with Graph's ambiguous 500 (nothing posted): reconcile finds a post with that caption, the
//! first one. Taking it would mark the second post published with the first one's id, never
//! sent (a lost post). The runtime hands the connector the remote ids the account's other
//! posts hold, so the listing proves the second post absent and it is sent once, on both
//! databases, through the real pipeline and workers against the Graph fake.
//!
//! And the runtime's own check: a connector that answers with an id another post already
//! holds (one that ignores the list, or a race between instances) does not get the post
//! marked published with it; the post ends `unknown`, for a person.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use connector_facebook::fake::FakeFacebook;
use pressroom_connector::testkit::media::sample_jpeg;
use pressroom_connector::testkit::{FakeControls, Fault, Step};
use pressroom_connector::{
    Capabilities, Connector, ConnectorError, Credentials, PostDraft, Prepared, PublishCtx,
    Published, Reconciled, ValidationIssue,
};
use pressroom_core::{JobKind, RetryPolicy};
use pressroom_runtime::Pipeline;
use pressroom_store::testing::TestDb;
use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
use secrecy::SecretString;

use crate::fixture::{Rendition, Seed, TestCipher};

/// (id, state, remote id) of every post, oldest first.
async fn posts(db: &TestDb) -> Vec<(String, String, Option<String>)> {
    let conn = db.store.conn();
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        "SELECT id, state, remote_id FROM posts ORDER BY id",
    ))
    .await
    .expect("posts")
    .iter()
    .map(|r| {
        (
            r.try_get("", "id").expect("id"),
            r.try_get("", "state").expect("state"),
            r.try_get("", "remote_id").expect("remote_id"),
        )
    })
    .collect()
}

/// Runs the publish workers (one slot) until no post is pending or publishing; returns the
/// posts then.
async fn settle(db: &TestDb, pipeline: Arc<Pipeline>) -> Vec<(String, String, Option<String>)> {
    let workers = crate::fixture::PublishWorkers::start(pipeline, Duration::from_millis(100));
    let deadline = Instant::now() + Duration::from_secs(60);
    let settled = loop {
        let now = posts(db).await;
        if now
            .iter()
            .all(|(_, state, _)| state != "pending" && state != "publishing")
        {
            break now;
        }
        assert!(Instant::now() < deadline, "posts did not settle: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    workers.stop().await;
    settled
}

async fn same_caption_posts_are_two_posts(db: TestDb) {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let page = account.account.external_id.clone();
    let jpeg = sample_jpeg(1080, 1080);
    std::fs::create_dir_all(db.dir.path().join("renditions")).expect("dir");
    std::fs::write(db.dir.path().join("renditions/r.jpg"), &jpeg).expect("jpeg");
    let seed = Seed {
        platform: fake.connector().platform(),
        external_id: &page,
        caption: "Fresh bread, every morning",
        rendition: Rendition {
            path: "renditions/r.jpg".into(),
            sha256: pressroom_runtime::images::sha256_hex(&jpeg),
            width: 1080,
            height: 1080,
            bytes: jpeg.len() as u64,
        },
        job_attempts: 8,
    };
    seed.accounts_posts(&db.store, &account.credentials, 2)
        .await;
    let pipeline = Arc::new(crate::fixture::pipeline(
        &db,
        fake.connector(),
        RetryPolicy::default(),
        Arc::new(TestCipher),
    ));

    // The first post goes out cleanly.
    let first = pipeline
        .queue
        .claim(&[JobKind::Publish], "test", Duration::from_secs(60), 1)
        .await
        .expect("claim");
    assert_eq!(first.len(), 1);
    pipeline
        .handle(&first[0])
        .await
        .expect("first post published");
    assert_eq!(fake.commits(), 1);

    // The second one's create is refused with Graph's ambiguous 500: it must reconcile, and
    // the one post on the Page with its caption is the first post's.
    fake.inject(Fault::ServerError {
        step: Step::Commit,
        times: 1,
    })
    .await;
    let settled = settle(&db, pipeline).await;

    assert_eq!(
        fake.commits(),
        2,
        "the second post was sent once, after the listing proved it absent: {settled:?}"
    );
    let on_page: Vec<String> = fake.posts(&page).into_iter().map(|p| p.post_id).collect();
    assert_eq!(on_page.len(), 2, "two posts on the Page: {on_page:?}");
    let mut remote: Vec<String> = settled
        .iter()
        .map(|(id, state, remote)| {
            assert_eq!(state, "published", "post {id}: {settled:?}");
            remote.clone().expect("a published post has its remote id")
        })
        .collect();
    remote.sort();
    let mut on_page = on_page;
    on_page.sort();
    assert_eq!(remote, on_page, "each post holds its own post on the Page");
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_caption_posts_are_two_posts_sqlite() {
    same_caption_posts_are_two_posts(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_caption_posts_are_two_posts_postgres() {
    same_caption_posts_are_two_posts(TestDb::postgres("pressroom_reconcile").await).await;
}

/// A platform whose first commit lands as `post-1` and whose later commits lose their answer,
/// and whose reconcile always answers `post-1`, whatever it was told is taken.
struct Careless {
    caps: Capabilities,
    commits: AtomicUsize,
    /// What each reconcile was told other posts hold.
    told_taken: Mutex<Vec<Vec<String>>>,
}

#[async_trait::async_trait]
impl Connector for Careless {
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

    async fn commit(&self, _: &PublishCtx, _: &Prepared) -> Result<Published, ConnectorError> {
        match self.commits.fetch_add(1, Ordering::SeqCst) {
            0 => Ok(Published {
                remote_id: "post-1".into(),
                url: None,
            }),
            _ => Err(ConnectorError::OutcomeUnknown("the answer was lost".into())),
        }
    }

    fn absent_final_after(&self) -> Duration {
        Duration::ZERO
    }

    async fn reconcile(
        &self,
        ctx: &PublishCtx,
        _: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        self.told_taken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ctx.taken_remote_ids.clone());
        Ok(Reconciled::Landed(Published {
            remote_id: "post-1".into(),
            url: None,
        }))
    }
}

async fn a_taken_id_never_marks_a_second_post(db: TestDb) {
    let careless = Arc::new(Careless {
        caps: Capabilities {
            max_caption_chars: 1000,
            media_types: vec!["image/jpeg"],
            max_media_bytes: 1 << 20,
            aspect_range: (0.1, 10.0),
            daily_cap: None,
            two_phase: false,
            needs_public_url: false,
        },
        commits: AtomicUsize::new(0),
        told_taken: Mutex::new(Vec::new()),
    });
    let creds = Credentials {
        access_token: SecretString::from("token"),
        refresh_token: None,
        expires_at: None,
        extra: serde_json::json!({}),
    };
    let seed = Seed {
        platform: pressroom_connector::Platform::Sandbox,
        external_id: "page-1",
        caption: "Same words",
        rendition: Rendition::placeholder(),
        job_attempts: 2,
    };
    seed.accounts_posts(&db.store, &creds, 2).await;
    let pipeline = Arc::new(crate::fixture::pipeline(
        &db,
        careless.clone(),
        RetryPolicy::default(),
        Arc::new(TestCipher),
    ));
    // One worker slot: the first post is committed before the second is claimed.
    let settled = settle(&db, pipeline).await;
    let states: Vec<(&str, Option<&str>)> = settled
        .iter()
        .map(|(_, s, r)| (s.as_str(), r.as_deref()))
        .collect();
    assert_eq!(
        states,
        vec![("published", Some("post-1")), ("unknown", None)],
        "the second post must not take the first one's id"
    );
    let told = careless
        .told_taken
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert!(!told.is_empty(), "the second post was reconciled");
    assert!(
        told.iter().all(|t| t == &vec!["post-1".to_owned()]),
        "each reconcile was told post-1 is taken: {told:?}"
    );
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_id_never_marks_a_second_post_sqlite() {
    a_taken_id_never_marks_a_second_post(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_id_never_marks_a_second_post_postgres() {
    a_taken_id_never_marks_a_second_post(TestDb::postgres("pressroom_reconcile").await).await;
}
