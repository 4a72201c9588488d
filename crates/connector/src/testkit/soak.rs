//! The chaos soak every fake with random failures runs: many posts over several accounts while
//! the fake fails 10 % of calls with 5xx, 5 % with 429 and loses 10 % of its answers, and every
//! access token expires half-way. Each post must land exactly once.

use super::{ChaosCounts, ChaosRates, FakeControls, Outcome, Runner};

/// The controls a fake needs on top of [`FakeControls`] for [`chaos_soak`].
pub trait ChaosControls: FakeControls {
    /// Random failures on every API call from now on (see [`super::Chaos`]):
    /// `set_chaos(ChaosRates::soak(42))`; `ChaosRates::off()` turns it off. Seeded, so a run
    /// can be replayed.
    fn set_chaos(&self, rates: ChaosRates);

    /// Expires every access token issued so far, not the credentials that refresh them:
    /// "tokens expire mid-run".
    fn expire_all_access_tokens(&self);

    /// What chaos injected so far.
    fn chaos_injected(&self) -> ChaosCounts;
}

/// 30 posts over 3 accounts under chaos, tokens expiring after 15: every account ends with
/// exactly 10 posts, chaos really injected every kind of failure, and every account refreshed.
/// Panics (with the attempt's log) on anything else.
pub async fn chaos_soak(fake: &impl ChaosControls) {
    let mut accounts = Vec::new();
    for _ in 0..3 {
        accounts.push(fake.connect_account().await);
    }
    fake.set_chaos(ChaosRates::soak(20261125));
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
    let injected = fake.chaos_injected();
    assert!(
        injected.server_errors > 0 && injected.rate_limits > 0 && injected.lost_answers > 0,
        "chaos injected {injected:?}"
    );
    assert!(
        refreshes >= 3,
        "every account refreshed after the expiry, got {refreshes}"
    );
}
