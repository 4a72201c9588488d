//! Issue 20: Meta's generic code 1/2 on `POST /{page}/photos` is ambiguous — the post may exist
//! anyway. The connector must reconcile before anything is sent again, and a listing that
//! does not show the post yet must not be taken as proof of absence too early.

use connector_facebook::fake::FakeFacebook;
use pressroom_connector::testkit::{FakeControls, Fault, Outcome, Runner, Step};

/// The create made the post and answered 500 / code 2: reconcile finds it (after the fake's
/// one-second listing lag), and nothing is posted a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_2_answer_after_posting_is_reconciled_not_repeated() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    fake.post_then_answer_server_error(1);
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(
        matches!(
            outcome,
            Outcome::Committed {
                via_reconcile: true,
                ..
            }
        ),
        "{outcome:?} after {:?}",
        attempt.log
    );
    assert_eq!(attempt.log.commits, 1, "{:?}", attempt.log);
    assert!(
        attempt.log.early_absents > 0,
        "the listing lag was not exercised: {:?}",
        attempt.log
    );
    assert_eq!(fake.published_count(&account).await, 1);
}

/// The same answer when the post was NOT made: absent once the commit cannot be in flight any
/// more and the listing has caught up, then committed again — one post in the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_2_refusal_is_posted_once_after_the_listing_proves_it_absent() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    fake.inject(Fault::ServerError {
        step: Step::Commit,
        times: 1,
    })
    .await;
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(
        matches!(
            outcome,
            Outcome::Committed {
                via_reconcile: false,
                ..
            }
        ),
        "{outcome:?} after {:?}",
        attempt.log
    );
    assert_eq!(attempt.log.commits, 2, "{:?}", attempt.log);
    assert_eq!(fake.published_count(&account).await, 1);
}

/// A Page that posts faster than the old listing window (5 pages of 25): reconcile asks for
/// 100 a page and still finds a post with 130 newer ones in front of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_finds_a_post_behind_a_busy_pages_newer_posts() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    fake.set_listing_lag(std::time::Duration::ZERO);
    let account = fake.connect_account().await;
    let runner = Runner::new(fake.connector());
    let draft = fake.valid_draft().await;
    let mut first = runner.attempt(&account, &draft);
    let Outcome::Committed { published, .. } = runner.run(&mut first, &draft).await else {
        panic!("the first post did not land: {:?}", first.log);
    };
    for i in 0..130 {
        let draft = fake.valid_draft().await;
        let mut attempt = runner.attempt(&account, &draft);
        let outcome = runner.run(&mut attempt, &draft).await;
        assert!(
            matches!(outcome, Outcome::Committed { .. }),
            "post {i}: {outcome:?}"
        );
    }
    let found = fake
        .connector()
        .reconcile(&first.ctx, first.prepared.as_ref())
        .await
        .expect("the listing answers");
    match found {
        pressroom_connector::Reconciled::Landed(p) => assert_eq!(p.remote_id, published.remote_id),
        other => panic!("expected the post behind 130 newer ones, got {other:?}"),
    }
    assert_eq!(
        fake.published_count(&account).await,
        131,
        "reconcile never posts"
    );
}
