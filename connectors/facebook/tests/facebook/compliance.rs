//! The Facebook connector against its fake: the compliance kit, the chaos soak, connecting Pages
//! over OAuth, usage-header deferral, and the journal's evidence of how calls were made.

use connector_facebook::fake::FakeFacebook;
use pressroom_connector::ConnectorError;
use pressroom_connector::testkit::{self, FakeControls, Outcome, Runner};
use secrecy::ExposeSecret;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_kit_passes() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    testkit::run_all(&fake).await;
    // No token ever travelled in a URL the connector built.
    for r in fake.requests() {
        assert!(
            r.bearer || r.path.ends_with("/oauth/access_token"),
            "token not sent as a header: {r:?}"
        );
    }
}

/// Many posts over several accounts while the fake fails 10 % of calls with 5xx and 5 % with
/// 429, and every access token expires half-way: each post lands exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak_publishes_each_post_exactly_once() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    testkit::chaos_soak(&fake).await;
}

#[tokio::test]
async fn connect_flow_derives_page_tokens_across_pages_of_results() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let user = fake.add_user(5);
    let code = fake.mint_code(&user);
    let fb = fake.connector_handle();
    let pending = pressroom_connector::oauth::authorize(
        &fb.oauth_spec(),
        &fb.oauth_app("http://127.0.0.1:9/cb"),
    )
    .expect("authorize");
    assert!(
        pending.url.as_str().contains("/v25.0/dialog/oauth"),
        "{}",
        pending.url
    );
    assert!(
        pending
            .url
            .as_str()
            .contains("pages_show_list%2Cpages_manage_posts"),
        "{}",
        pending.url
    );
    let pages = fb
        .connect("http://127.0.0.1:9/cb", &code)
        .await
        .expect("connect");
    let mut ids: Vec<_> = pages.iter().map(|p| p.page_id.clone()).collect();
    ids.sort();
    assert_eq!(
        ids,
        fake.pages_of(&user),
        "all five Pages across /me/accounts paging"
    );
    let page = &pages[0];
    assert!(
        page.credentials
            .access_token
            .expose_secret()
            .starts_with("EAAPAGE")
    );
    assert!(
        page.credentials
            .refresh_token
            .as_ref()
            .expect("user token")
            .expose_secret()
            .starts_with("EAALONG")
    );
    assert!(page.credentials.extra["user_token_expires_at"].is_string());
    // The code is one-time.
    assert!(fb.connect("http://127.0.0.1:9/cb", &code).await.is_err());
    // Every token-bearing call after the exchange used the Authorization header.
    let accounts = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/me/accounts"))
        .count();
    assert_eq!(accounts, 3, "5 pages at 2 per page");
}

#[tokio::test]
async fn high_usage_defers_before_the_publish_call() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    fake.set_usage(95, 7);
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    match outcome {
        Outcome::Deferred(Some(d)) => {
            assert!(d.as_secs() > 400 && d.as_secs() <= 420, "deferred {d:?}")
        }
        other => panic!("expected deferral, got {other:?}"),
    }
    assert!(
        fake.requests().iter().all(|r| !r.path.ends_with("/photos")),
        "publish call was made over the threshold"
    );
    assert_eq!(fake.commits(), 0);
}

#[tokio::test]
async fn revoked_user_token_disconnects_on_refresh() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    fake.revoke_refresh(&account).await;
    let err = fake
        .connector()
        .refresh(&account.credentials)
        .await
        .expect_err("refresh must fail");
    assert!(matches!(err, ConnectorError::Disconnected(_)), "{err:?}");
    let ok = fake.connect_account().await;
    let fresh = fake
        .connector()
        .refresh(&ok.credentials)
        .await
        .expect("refresh");
    assert_ne!(
        fresh.access_token.expose_secret(),
        ok.credentials.access_token.expose_secret()
    );
    assert!(
        fresh.refresh_token.is_none(),
        "user token is kept by merge, not re-issued"
    );
}

#[tokio::test]
async fn validate_refuses_bad_drafts_without_network() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let mut draft = fake.valid_draft().await;
    draft.media[0].mime = "image/webp".into();
    draft.media[0].bytes = 5 * 1024 * 1024;
    draft.caption = "x".repeat(63_207);
    let issues = fake.connector().validate(&draft).expect_err("invalid");
    let rules: Vec<_> = issues.iter().map(|i| i.rule.as_str()).collect();
    assert_eq!(rules, ["max_length", "format", "max_bytes"]);
    draft.media.clear();
    assert!(fake.connector().validate(&draft).is_err());
}
