//! Instagram-Login tokens renew themselves (PLATFORMS.md §2.1): no refresh token is stored, the
//! long-lived token is exchanged with `ig_refresh_token` once it is 24 h old and within
//! `refresh_before_days` of expiry; the fake refuses a younger token.

use std::time::Duration;

use chrono::Utc;
use connector_instagram::fake::FakeInstagram;
use connector_instagram::{InstagramConnector, Login};
use pressroom_connector::Connector;

fn ig_login(fake: &FakeInstagram, days: u64) -> InstagramConnector {
    let mut cfg = fake.config();
    cfg.login = Login::Instagram;
    cfg.refresh_before_days = days;
    InstagramConnector::new(cfg).expect("connector")
}

#[tokio::test]
async fn margin_comes_from_refresh_before_days() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    assert_eq!(
        ig_login(&fake, 10).refresh_before(),
        Duration::from_secs(10 * 86_400)
    );
    // Facebook Login (Page tokens re-derived from the user token) keeps the short default.
    let fb = InstagramConnector::new(fake.config()).expect("connector");
    assert_eq!(fb.refresh_before(), Duration::from_secs(300));
}

/// A 55-day-old token with no refresh token stored is refreshable; the new one records when it
/// was issued and is not refreshable again for 24 h.
#[tokio::test]
async fn an_old_token_without_refresh_token_is_renewed() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let ig = ig_login(&fake, 7);
    let old = fake.instagram_login_account(Utc::now() - chrono::Duration::days(55));
    assert!(old.credentials.refresh_token.is_none());
    let now = Utc::now();
    assert!(ig.can_refresh(&old.credentials, now));
    let fresh = ig.refresh(&old.credentials).await.expect("refresh");
    assert!(
        fresh.extra.get("token_issued_at").is_some(),
        "{}",
        fresh.extra
    );
    assert_eq!(
        fresh.extra["ig_user_id"],
        old.credentials.extra["ig_user_id"]
    );
    assert!(
        !ig.can_refresh(&fresh, now),
        "a fresh token is under 24 h old"
    );
    assert!(ig.can_refresh(&fresh, now + chrono::Duration::hours(25)));
    // Expired: only a reconnect helps.
    assert!(!ig.can_refresh(&fresh, now + chrono::Duration::days(61)));
}

/// The fake enforces the 24 h rule, and `can_refresh` keeps the runtime from asking.
#[tokio::test]
async fn a_token_under_24h_old_is_not_refreshed() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let ig = ig_login(&fake, 7);
    let young = fake.instagram_login_account(Utc::now() - chrono::Duration::hours(1));
    assert!(!ig.can_refresh(&young.credentials, Utc::now()));
    assert!(
        ig.refresh(&young.credentials).await.is_err(),
        "the fake refuses a token under 24 h old"
    );
}

/// Connecting records when the long-lived token was issued.
#[tokio::test]
async fn connect_records_the_issue_time() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let ig = ig_login(&fake, 7);
    let (code, _) = fake.mint_instagram_login_code();
    let connected = ig
        .connect_instagram_login("https://app.example/cb", &code)
        .await
        .expect("connect");
    let creds = connected.credentials;
    let issued = creds.extra["token_issued_at"].as_i64().expect("issued at");
    assert!((Utc::now().timestamp() - issued).abs() < 60);
    assert!(!ig.can_refresh(&creds, Utc::now()));
    assert!(ig.can_refresh(&creds, Utc::now() + chrono::Duration::hours(25)));
}
