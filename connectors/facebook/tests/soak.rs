//! Soak: many posts over several accounts while the fake fails 10 % of calls with 5xx and 5 %
//! with 429, and every access token expires half-way. Each post must land exactly once.

use connector_facebook::fake::FakeFacebook;
use pressroom_connector::testkit::{FakeControls, Outcome, Runner};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak_publishes_each_post_exactly_once() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let mut accounts = Vec::new();
    for _ in 0..3 {
        accounts.push(fake.connect_account().await);
    }
    fake.set_chaos(0.10, 0.05, 20261125);
    let mut runner = Runner::new(fake.connector());
    runner.max_transient = 12;
    let mut refreshes = 0;
    for i in 0..30 {
        if i == 15 {
            fake.expire_all_access_tokens();
        }
        let draft = fake.valid_draft().await;
        let account = &mut accounts[i % 3];
        let mut attempt = runner.attempt(account, &draft);
        let mut done = false;
        for _ in 0..30 {
            match runner.run(&mut attempt, &draft).await {
                Outcome::Committed { .. } => {
                    done = true;
                    break;
                }
                // The runtime would wait the named time; the fake's throttle is one-shot.
                Outcome::Deferred(_) => continue,
                other => panic!("post {i}: {other:?} after {:?}", attempt.log),
            }
        }
        assert!(done, "post {i} never landed");
        refreshes += attempt.log.refreshes;
        // The store keeps the refreshed credentials for the account's next attempts.
        account.credentials = attempt.ctx.credentials.clone();
    }
    for account in &accounts {
        assert_eq!(
            fake.published_count(account).await,
            10,
            "account {} posts",
            account.account.id
        );
    }
    let (errors, limits) = fake.chaos_injected();
    assert!(
        errors > 0 && limits > 0,
        "chaos injected {errors} errors and {limits} limits"
    );
    assert!(
        refreshes >= 3,
        "every account refreshed after the expiry, got {refreshes}"
    );
}
