//! The connector against a fake as strict as LinkedIn (issue 20): images that stay PROCESSING
//! after the upload, short throttles next to daily caps, a post listing that lags, and random
//! 5xx / 429 / lost answers with tokens expiring mid-run.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use connector_linkedin::fake::{FakeLinkedIn, FakeOptions, Fault, FaultAction};
use connector_linkedin::{LinkedIn, daily_quota_reset};
use pressroom_connector::testkit::{FakeControls, Outcome, Runner, chaos_soak};
use pressroom_connector::{Connector, Reconciled};

async fn fake_with(opts: FakeOptions) -> FakeLinkedIn {
    FakeLinkedIn::start_with(opts).await.expect("fake starts")
}

/// The connector as the daemon would build it against this fake (5 s timeout).
fn connector(fake: &FakeLinkedIn) -> Arc<dyn Connector> {
    Arc::new(LinkedIn::new(fake.config()).expect("connector builds"))
}

#[tokio::test]
async fn member_posts_publish_while_their_image_is_still_processing() {
    let fake = fake_with(FakeOptions {
        image_processing: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let runner = Runner::new(connector(&fake));
    let account = fake.connect_account().await;
    for i in 0..10 {
        let draft = fake.valid_draft().await;
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
            "post {i}: {outcome:?} after {:?}",
            attempt.log
        );
        assert_eq!(attempt.log.commits, 1, "post {i}");
    }
    assert_eq!(fake.published_count(&account).await, 10);
    assert_eq!(fake.commits(), 10);
    // Members cannot read image status; LinkedIn's refusals of the create were the signal.
    assert_eq!(fake.calls("GET /rest/images/{urn}"), 0);
    assert!(
        fake.calls("POST /rest/posts") > 10,
        "no create was refused for a processing image"
    );
}

/// (Not with processing images: the kit's lost answer would land on a refused create.)
#[tokio::test]
async fn the_compliance_kit_passes_with_a_lagging_listing() {
    let fake = fake_with(FakeOptions {
        listing_lag: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    pressroom_connector::testkit::run_all(&fake).await;
}

#[tokio::test]
async fn a_short_throttle_defers_briefly() {
    let fake = fake_with(FakeOptions::default()).await;
    let conn = connector(&fake);
    let runner = Runner::new(conn);
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    fake.throttle("POST /rest/posts", 1);
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    let short = Duration::from_secs(fake.config().throttle_backoff_secs);
    assert_eq!(outcome, Outcome::Deferred(Some(short)));
    assert_eq!(fake.published_count(&account).await, 0);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(matches!(outcome, Outcome::Committed { .. }), "{outcome:?}");
    assert_eq!(fake.published_count(&account).await, 1);
}

#[tokio::test]
async fn a_daily_cap_parks_until_midnight_utc() {
    let fake = fake_with(FakeOptions {
        daily_post_limit: Some(1),
        ..Default::default()
    })
    .await;
    let runner = Runner::new(connector(&fake));
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    let mut first = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut first, &draft).await;
    assert!(matches!(outcome, Outcome::Committed { .. }), "{outcome:?}");

    let mut second = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut second, &draft).await;
    let reset = daily_quota_reset(Utc::now());
    match outcome {
        Outcome::Deferred(Some(d)) => assert!(
            d >= reset && d <= reset + Duration::from_secs(5),
            "deferred {d:?}, the quota resets in {reset:?}"
        ),
        other => panic!("expected a deferral to 00:00 UTC, got {other:?}"),
    }
    assert_eq!(fake.published_count(&account).await, 1);
}

#[tokio::test]
async fn reconcile_waits_for_the_listing_to_catch_up_before_calling_a_post_absent() {
    let fake = fake_with(FakeOptions {
        listing_lag: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let conn = fake.connector();
    let final_after = conn.absent_final_after();
    let runner = Runner::new(conn);
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    fake.inject(Fault::next(
        "POST /rest/posts",
        FaultAction::AcceptThenStall { ms: 2500 },
    ));
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
    assert!(
        attempt.log.early_absents > 0,
        "the listing never lagged: {:?}",
        attempt.log
    );
    assert_eq!(attempt.log.commits, 1);
    assert_eq!(fake.commits(), 1);
    // Image wait (1 s) + request timeout (1 s) + the listing lag the fake's config names.
    assert_eq!(final_after, Duration::from_secs(1 + 1 + 2));
}

#[tokio::test]
async fn chaos_soak_lands_thirty_posts_once_each() {
    let fake = fake_with(FakeOptions {
        image_processing: Duration::from_millis(100),
        // Longer than the 1 s request timeout: calling a post absent too early doubles it.
        listing_lag: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    chaos_soak(&fake).await;
    // Every create LinkedIn carried out, whether its answer arrived or not: none doubled.
    assert_eq!(fake.commits(), 30);
}

/// An author who posts faster than a listing page per commit window: reconcile pages back with
/// `start` until it finds the post, and with too few pages it says unknown, never absent.
#[tokio::test]
async fn reconcile_pages_back_through_a_busy_authors_listing() {
    let fake = fake_with(FakeOptions::default()).await;
    let with_pages = |pages: u32| -> Arc<dyn Connector> {
        let mut config = fake.config();
        config.reconcile_page_size = 5;
        config.reconcile_max_pages = pages;
        Arc::new(LinkedIn::new(config).expect("connector builds"))
    };
    let runner = Runner::new(with_pages(4));
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    let mut first = runner.attempt(&account, &draft);
    let Outcome::Committed { published, .. } = runner.run(&mut first, &draft).await else {
        panic!("the first post did not land: {:?}", first.log);
    };
    // Twelve newer posts by the same author: the first is on the third page of five.
    for i in 0..12 {
        let draft = fake.valid_draft().await;
        let mut attempt = runner.attempt(&account, &draft);
        let outcome = runner.run(&mut attempt, &draft).await;
        assert!(
            matches!(outcome, Outcome::Committed { .. }),
            "post {i}: {outcome:?}"
        );
    }
    let found = with_pages(4)
        .reconcile(&first.ctx, first.prepared.as_ref())
        .await
        .expect("the listing answers");
    match found {
        Reconciled::Landed(p) => assert_eq!(p.remote_id, published.remote_id),
        other => panic!("expected the post on page 3, got {other:?}"),
    }
    let short = with_pages(2)
        .reconcile(&first.ctx, first.prepared.as_ref())
        .await
        .expect("the listing answers");
    assert!(
        matches!(short, Reconciled::Unknown(_)),
        "two full pages that do not reach back prove nothing: {short:?}"
    );
    assert_eq!(fake.commits(), 13, "reconcile never posts");
}
