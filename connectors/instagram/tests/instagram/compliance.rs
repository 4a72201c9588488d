//! The Instagram connector against its fake: the compliance kit, the chaos soak, container
//! resume after a restart, quota check before publishing, image processing errors, and
//! Instagram-Login refresh.

use chrono::Utc;
use connector_instagram::fake::FakeInstagram;
use connector_instagram::{InstagramConnector, Login};
use pressroom_connector::testkit::media::sample_png;
use pressroom_connector::testkit::{self, FakeControls, Outcome, Runner};
use pressroom_connector::{Connector, ConnectorError, PostDraft};
use secrecy::ExposeSecret;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_kit_passes() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    testkit::run_all(&fake).await;
    assert!(
        fake.images().fetches() > 0,
        "the fake really fetched the image URLs"
    );
    for r in fake.requests() {
        assert!(r.bearer, "token not sent as a header: {r:?}");
    }
}

/// Many posts over several accounts while the fake fails 10 % of calls with 5xx and 5 % with
/// 429, and every access token expires half-way: each post lands exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak_publishes_each_post_exactly_once() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    testkit::chaos_soak(&fake).await;
}

#[tokio::test]
async fn restart_resumes_the_stored_container() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    fake.set_in_progress_polls(50);
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    // First run: the container stays IN_PROGRESS past the poll budget, so commit reports
    // transient trouble; the runtime would store the checkpoint and try later.
    let prepared = fake
        .connector()
        .prepare(&attempt.ctx, &draft)
        .await
        .expect("prepare");
    assert_eq!(prepared.checkpoint["status"], "InProgress");
    assert_eq!(fake.containers_created(), 1);
    // "Restart": a fresh run with only the stored checkpoint.
    fake.set_in_progress_polls(0);
    attempt.ctx.checkpoint = Some(prepared.checkpoint.clone());
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(matches!(outcome, Outcome::Committed { .. }), "{outcome:?}");
    assert_eq!(
        fake.containers_created(),
        1,
        "a second container was created"
    );
    assert_eq!(fake.media(&account.account.external_id).len(), 1);
}

#[tokio::test]
async fn quota_is_checked_before_media_publish() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    fake.set_quota_total(1);
    let account = fake.connect_account().await;
    let runner = Runner::new(fake.connector());
    let first = fake.valid_draft().await;
    let mut a = runner.attempt(&account, &first);
    assert!(matches!(
        runner.run(&mut a, &first).await,
        Outcome::Committed { .. }
    ));
    let second = fake.valid_draft().await;
    let mut b = runner.attempt(&account, &second);
    match runner.run(&mut b, &second).await {
        Outcome::Deferred(Some(d)) => assert_eq!(d.as_secs(), 3600),
        other => panic!("expected a deferral, got {other:?}"),
    }
    let publishes = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/media_publish"))
        .count();
    assert_eq!(publishes, 1, "media_publish was called over the quota");
    assert_eq!(fake.commits(), 1);
}

#[tokio::test]
async fn processing_error_and_unreachable_url_are_rejections() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let runner = Runner::new(fake.connector());
    // A PNG behind a JPEG label passes validate() but fails Instagram's processing.
    let png = fake
        .images()
        .media(sample_png(1080, 1080), "image/jpeg", 1080, 1080)
        .expect("host");
    let draft = PostDraft {
        cover: 0,
        format: pressroom_connector::PostFormat::Single,
        caption: "png in disguise".into(),
        media: vec![png],
    };
    let mut a = runner.attempt(&account, &draft);
    match runner.run(&mut a, &draft).await {
        Outcome::Failed(reason) => assert!(reason.contains("2207005"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let mut gone = fake.valid_draft().await;
    gone.media[0].public_url = Some(format!(
        "{}/nowhere.jpg",
        fake.base_url().replace("http://", "http://127.0.0.1:1/x")
    ));
    let mut b = runner.attempt(&account, &gone);
    match runner.run(&mut b, &gone).await {
        Outcome::Failed(reason) => assert!(reason.contains("2207052"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.commits(), 0);
}

#[tokio::test]
async fn validate_checks_instagram_rules() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let mut draft = fake.valid_draft().await;
    draft.caption = (0..31)
        .map(|i| format!("#t{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    draft.media[0].mime = "image/png".into();
    draft.media[0].width = 2000;
    draft.media[0].height = 1000;
    let issues = fake.connector().validate(&draft).expect_err("invalid");
    let rules: Vec<_> = issues.iter().map(|i| i.rule.as_str()).collect();
    assert_eq!(rules, ["max_hashtags", "format", "aspect_ratio"]);
}

#[tokio::test]
async fn instagram_login_tokens_refresh_and_expired_ones_disconnect() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let mut cfg = fake.config();
    cfg.login = Login::Instagram;
    let ig = InstagramConnector::new(cfg).expect("connector");
    let old = fake.instagram_login_account(Utc::now() - chrono::Duration::days(2));
    let fresh = ig.refresh(&old.credentials).await.expect("refresh");
    assert_ne!(
        fresh.access_token.expose_secret(),
        old.credentials.access_token.expose_secret()
    );
    let days = (fresh.expires_at.expect("expiry") - Utc::now()).num_days();
    assert!((59..=60).contains(&days), "{days}");
    // The refreshed token publishes.
    let draft = fake.valid_draft().await;
    let mut account = old.clone();
    account.credentials = old.credentials.merge_refreshed(fresh);
    let runner = Runner::new(std::sync::Arc::new(ig));
    let mut a = runner.attempt(&account, &draft);
    assert!(matches!(
        runner.run(&mut a, &draft).await,
        Outcome::Committed { .. }
    ));
    // An expired IG-Login token cannot be refreshed: a person must reconnect.
    let dead = fake.instagram_login_account(Utc::now() - chrono::Duration::days(61));
    fake.expire_token(dead.credentials.access_token.expose_secret());
    let mut cfg = fake.config();
    cfg.login = Login::Instagram;
    let ig = InstagramConnector::new(cfg).expect("connector");
    assert!(matches!(
        ig.refresh(&dead.credentials).await,
        Err(ConnectorError::Disconnected(_))
    ));
}

#[tokio::test]
async fn instagram_login_connect_then_publish() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let mut cfg = fake.config();
    cfg.login = Login::Instagram;
    let ig = InstagramConnector::new(cfg).expect("connector");
    let (code, ig_user) = fake.mint_instagram_login_code();
    let connected = ig
        .connect_instagram_login("https://app.example/cb", &code)
        .await
        .expect("connect");
    assert_eq!(connected.ig_user_id, ig_user);
    assert!(
        connected
            .credentials
            .access_token
            .expose_secret()
            .starts_with("IGAALONG"),
        "long-lived token stored"
    );
    let days = (connected.credentials.expires_at.expect("expiry") - Utc::now()).num_days();
    assert!((59..=60).contains(&days), "{days}");
    assert!(
        ig.connect_instagram_login("https://app.example/cb", &code)
            .await
            .is_err(),
        "codes are one-time"
    );
    let account = testkit::Account {
        account: pressroom_connector::AccountRef {
            id: "a1".into(),
            workspace_id: "w".into(),
            external_id: ig_user.clone(),
        },
        credentials: connected.credentials,
    };
    let draft = fake.valid_draft().await;
    let runner = Runner::new(std::sync::Arc::new(ig));
    let mut a = runner.attempt(&account, &draft);
    assert!(matches!(
        runner.run(&mut a, &draft).await,
        Outcome::Committed { .. }
    ));
    assert_eq!(fake.media(&ig_user).len(), 1);
}

#[tokio::test]
async fn expired_container_is_never_published_and_is_replaced_on_prepare() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let prepared = fake
        .connector()
        .prepare(&attempt.ctx, &draft)
        .await
        .expect("prepare");
    fake.advance_clock(std::time::Duration::from_secs(25 * 3600));
    // Commit refuses the dead container; reconcile knows nothing was published from it.
    let err = fake
        .connector()
        .commit(&attempt.ctx, &prepared)
        .await
        .expect_err("expired");
    assert!(
        matches!(&err, ConnectorError::Rejected(r) if r.contains("expired")),
        "{err:?}"
    );
    attempt.ctx.committing_since = Some(Utc::now());
    let rec = fake
        .connector()
        .reconcile(&attempt.ctx, Some(&prepared))
        .await
        .expect("reconcile");
    assert_eq!(rec, pressroom_connector::Reconciled::Absent);
    // A restarted prepare with the stale checkpoint makes a new container and publishes once.
    attempt.ctx.checkpoint = Some(prepared.checkpoint.clone());
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(matches!(outcome, Outcome::Committed { .. }), "{outcome:?}");
    assert_eq!(fake.containers_created(), 2);
    assert_eq!(fake.media(&account.account.external_id).len(), 1);
}
