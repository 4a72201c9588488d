//! The compliance scenarios. Each takes a fresh account so they can run in any order against
//! one fake. They panic with a message naming the broken promise (they are test code).

use std::time::Duration;

use secrecy::ExposeSecret;

use super::{Account, FakeControls, Fault, Outcome, Runner, Step};

/// Runs every scenario that applies to the fake's features.
pub async fn run_all<F: FakeControls + ?Sized>(fake: &F) {
    let features = fake.features();
    publish_succeeds_once(fake).await;
    if features.refresh {
        expired_token_is_refreshed_once(fake).await;
        revoked_refresh_parks_account(fake).await;
    } else {
        expired_token_without_refresh_parks_account(fake).await;
    }
    if features.rate_limit {
        rate_limit_defers_to_named_time(fake).await;
    }
    server_errors_are_retried(fake, Step::Prepare).await;
    if features.reconcile {
        server_errors_are_retried(fake, Step::Commit).await;
    } else {
        let once = Fault::ServerError {
            step: Step::Commit,
            times: 1,
        };
        ambiguous_commit_is_never_repeated(fake, once).await;
    }
    rejection_is_permanent(fake).await;
    if features.reconcile {
        timeout_after_accept_is_reconciled(fake).await;
    } else {
        ambiguous_commit_is_never_repeated(fake, Fault::AcceptThenHang).await;
    }
    crash_before_commit_never_doubles(fake).await;
}

async fn setup<F: FakeControls + ?Sized>(fake: &F) -> (Runner, Account, crate::PostDraft) {
    let runner = Runner::new(fake.connector());
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    if let Err(issues) = fake.connector().validate(&draft) {
        panic!("the fake's valid draft fails validate(): {issues:?}");
    }
    (runner, account, draft)
}

fn assert_committed(outcome: &Outcome, via_reconcile: bool, scenario: &str) {
    match outcome {
        Outcome::Committed {
            published,
            via_reconcile: v,
        } => {
            assert!(
                !published.remote_id.is_empty(),
                "{scenario}: empty remote id"
            );
            assert_eq!(
                *v, via_reconcile,
                "{scenario}: committed via_reconcile={v}, expected {via_reconcile}"
            );
        }
        other => panic!("{scenario}: expected a committed post, got {other:?}"),
    }
}

/// A valid post is published exactly once, prepare and commit each called once.
pub async fn publish_succeeds_once<F: FakeControls + ?Sized>(fake: &F) {
    let (runner, account, draft) = setup(fake).await;
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert_committed(&outcome, false, "publish_succeeds_once");
    assert_eq!(
        attempt.log.commits, 1,
        "publish_succeeds_once: commit calls"
    );
    assert_eq!(
        fake.published_count(&account).await,
        1,
        "publish_succeeds_once: posts on the platform"
    );
}

/// An access token the platform calls expired is refreshed once, then the publish goes through.
pub async fn expired_token_is_refreshed_once<F: FakeControls + ?Sized>(fake: &F) {
    let (runner, account, draft) = setup(fake).await;
    fake.expire_access_token(&account).await;
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert_committed(&outcome, false, "expired_token_is_refreshed_once");
    assert_eq!(
        attempt.log.refreshes, 1,
        "expired_token_is_refreshed_once: refreshes"
    );
    assert!(
        attempt.log.errors.contains(&"auth_expired"),
        "expired token not reported as AuthExpired: {:?}",
        attempt.log.errors
    );
    assert_ne!(
        attempt.ctx.credentials.access_token.expose_secret(),
        account.credentials.access_token.expose_secret(),
        "expired_token_is_refreshed_once: the access token was not replaced"
    );
    assert!(
        attempt.ctx.credentials.refresh_token.is_some()
            || account.credentials.refresh_token.is_none(),
        "refresh lost the stored refresh credential"
    );
    assert_eq!(
        fake.published_count(&account).await,
        1,
        "expired_token_is_refreshed_once: posts"
    );
}

/// A revoked refresh credential parks the account (Disconnected), posting nothing.
pub async fn revoked_refresh_parks_account<F: FakeControls + ?Sized>(fake: &F) {
    let (runner, account, draft) = setup(fake).await;
    fake.expire_access_token(&account).await;
    fake.revoke_refresh(&account).await;
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(
        matches!(outcome, Outcome::Parked(_)),
        "revoked_refresh_parks_account: got {outcome:?}"
    );
    assert!(
        attempt.log.refreshes <= 1,
        "revoked_refresh_parks_account: refreshed {} times",
        attempt.log.refreshes
    );
    assert_eq!(
        fake.published_count(&account).await,
        0,
        "revoked_refresh_parks_account: posts"
    );
}

/// Platforms without unattended refresh: an expired token parks the account.
pub async fn expired_token_without_refresh_parks_account<F: FakeControls + ?Sized>(fake: &F) {
    let (runner, account, draft) = setup(fake).await;
    fake.expire_access_token(&account).await;
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(
        matches!(outcome, Outcome::Parked(_)),
        "expired_token_without_refresh_parks_account: got {outcome:?}"
    );
    assert_eq!(
        fake.published_count(&account).await,
        0,
        "expired_token_without_refresh_parks_account: posts"
    );
}

/// A rate-limit answer defers the attempt to (at least) the time the platform names — or, for
/// platforms that name none, to the connector's documented default — and the deferred attempt
/// later publishes once.
pub async fn rate_limit_defers_to_named_time<F: FakeControls + ?Sized>(fake: &F) {
    let (runner, account, draft) = setup(fake).await;
    let named = Duration::from_secs(120);
    fake.inject(Fault::RateLimited {
        step: Step::Commit,
        retry_after: named,
    })
    .await;
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    // A default computed from "now" (LinkedIn: next 00:00 UTC) may shrink between the fake's
    // answer and this check; a named time must be honoured to the second.
    let (expected, floor) = match fake.rate_limit_default() {
        Some(d) => (d, d.saturating_sub(Duration::from_secs(5))),
        None => (named, named),
    };
    match outcome {
        Outcome::Deferred(Some(d)) => assert!(
            d >= floor && d <= expected + Duration::from_secs(60),
            "rate_limit_defers_to_named_time: deferred {d:?}, expected {expected:?}"
        ),
        other => {
            panic!(
                "rate_limit_defers_to_named_time: expected Deferred(Some({expected:?})), got {other:?}"
            )
        }
    }
    assert_eq!(
        fake.published_count(&account).await,
        0,
        "rate limited commit must not post"
    );
    let outcome = runner.run(&mut attempt, &draft).await;
    assert_committed(&outcome, false, "rate_limit_defers_to_named_time (resumed)");
    assert_eq!(
        fake.published_count(&account).await,
        1,
        "rate_limit_defers_to_named_time: posts"
    );
}

/// 5xx answers are retried with backoff (directly, or through a reconcile that finds nothing)
/// and the post lands exactly once.
pub async fn server_errors_are_retried<F: FakeControls + ?Sized>(fake: &F, step: Step) {
    let (runner, account, draft) = setup(fake).await;
    fake.inject(Fault::ServerError { step, times: 2 }).await;
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert_committed(&outcome, false, "server_errors_are_retried");
    match step {
        Step::Prepare => assert_eq!(
            attempt.log.prepares, 3,
            "server_errors_are_retried(prepare): prepare calls"
        ),
        Step::Commit => assert_eq!(
            attempt.log.commits, 3,
            "server_errors_are_retried(commit): commit calls"
        ),
        Step::Comment => panic!("server_errors_are_retried is about publishing, not comments"),
    }
    assert_eq!(
        fake.published_count(&account).await,
        1,
        "server_errors_are_retried: posts"
    );
}

/// A content rejection fails the attempt permanently on the first try with the platform's reason.
pub async fn rejection_is_permanent<F: FakeControls + ?Sized>(fake: &F) {
    let (runner, account, draft) = setup(fake).await;
    fake.inject(Fault::RejectContent).await;
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    let expected = fake.rejection_reason();
    match &outcome {
        Outcome::Failed(reason) => assert!(
            reason.contains(&expected),
            "rejection_is_permanent: reason {reason:?} lacks the platform's {expected:?}"
        ),
        other => panic!("rejection_is_permanent: expected Failed, got {other:?}"),
    }
    assert_eq!(
        attempt.log.transient_retries, 0,
        "rejection_is_permanent: a rejection was retried"
    );
    assert_eq!(
        fake.published_count(&account).await,
        0,
        "rejection_is_permanent: posts"
    );
}

/// The platform accepts the post but the answer never arrives: the commit ends as outcome
/// unknown, reconcile finds the post, and nothing is posted twice.
pub async fn timeout_after_accept_is_reconciled<F: FakeControls + ?Sized>(fake: &F) {
    let (runner, account, draft) = setup(fake).await;
    fake.inject(Fault::AcceptThenHang).await;
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert_committed(&outcome, true, "timeout_after_accept_is_reconciled");
    assert_eq!(
        attempt.log.commits, 1,
        "timeout_after_accept_is_reconciled: commit repeated"
    );
    assert_eq!(
        fake.published_count(&account).await,
        1,
        "timeout_after_accept_is_reconciled: posts"
    );
}

/// Platforms without a lookup for a lost commit (`KitFeatures::reconcile` false): a commit
/// whose answer is lost (`AcceptThenHang`) or a 5xx on it may have posted, so it ends as
/// unknown for a person — committed once, never repeated, and at most one post.
pub async fn ambiguous_commit_is_never_repeated<F: FakeControls + ?Sized>(fake: &F, fault: Fault) {
    let (runner, account, draft) = setup(fake).await;
    let scenario = format!("ambiguous_commit_is_never_repeated({fault:?})");
    fake.inject(fault).await;
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    match &outcome {
        Outcome::Unknown(_) => {}
        Outcome::Committed {
            via_reconcile: true,
            ..
        } => {}
        other => panic!("{scenario}: expected Unknown (or found by reconcile), got {other:?}"),
    }
    assert_eq!(attempt.log.commits, 1, "{scenario}: commit repeated");
    assert!(
        attempt.log.errors.contains(&"outcome_unknown"),
        "{scenario}: the ambiguous commit was not OutcomeUnknown: {:?}",
        attempt.log.errors
    );
    assert!(
        fake.published_count(&account).await <= 1,
        "{scenario}: posted twice"
    );
}

/// A worker died after writing `committing` but before the platform saw the call. On restart
/// the runtime reconciles: the post must end up published at most once (published once when
/// reconcile can prove absence, parked as unknown otherwise).
pub async fn crash_before_commit_never_doubles<F: FakeControls + ?Sized>(fake: &F) {
    let (runner, account, draft) = setup(fake).await;
    let mut attempt = runner.attempt(&account, &draft);
    let prepared = fake.connector().prepare(&attempt.ctx, &draft).await;
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => panic!("crash_before_commit_never_doubles: prepare failed: {e}"),
    };
    attempt.ctx.checkpoint = Some(prepared.checkpoint.clone());
    attempt.prepared = Some(prepared);
    attempt.committing = true;
    attempt.ctx.committing_since = Some(chrono::Utc::now());
    let outcome = runner.run(&mut attempt, &draft).await;
    let posts = fake.published_count(&account).await;
    match outcome {
        Outcome::Committed {
            via_reconcile: false,
            ..
        } => assert_eq!(posts, 1, "crash_before_commit: posts"),
        Outcome::Unknown(_) => assert_eq!(posts, 0, "crash_before_commit: unknown but posted"),
        other => panic!("crash_before_commit_never_doubles: got {other:?}"),
    }
}

/// Insights (PLATFORMS.md §9): a published post's numbers come back in the normalised names,
/// exactly those the platform has (a metric it lacks is absent, not zero); once the account
/// loses the insights permission the report says so (`unavailable`) and measures nothing.
pub async fn insights_round_trip<F: super::InsightsControls + ?Sized>(fake: &F) {
    let (runner, account, draft) = setup(fake).await;
    let connector = fake.connector();
    assert!(
        connector.metrics_batch() >= 1,
        "insights_round_trip: the connector declares no metrics API"
    );
    let mut attempt = runner.attempt(&account, &draft);
    let published = match runner.run(&mut attempt, &draft).await {
        Outcome::Committed { published, .. } => published,
        other => panic!("insights_round_trip: the post was not published: {other:?}"),
    };
    let set = crate::PostMetrics {
        views: Some(1204),
        reach: Some(800),
        likes: Some(25),
        comments: Some(4),
        shares: Some(2),
        saves: Some(3),
        clicks: Some(30),
    };
    let expected = fake.set_post_metrics(&published.remote_id, &set).await;
    assert!(
        !expected.is_empty(),
        "insights_round_trip: the fake reports no metric at all"
    );
    let query = crate::MetricsQuery {
        remote_id: published.remote_id.clone(),
        metrics_id: None,
        format: draft.format,
        published_at: chrono::Utc::now() - chrono::Duration::hours(50),
        checkpoint: attempt.prepared.as_ref().map(|p| p.checkpoint.clone()),
    };
    let ctx = crate::MetricsCtx {
        account: account.account.clone(),
        credentials: account.credentials.clone(),
    };
    let report = connector
        .fetch_metrics(&ctx, std::slice::from_ref(&query))
        .await
        .unwrap_or_else(|e| panic!("insights_round_trip: fetch_metrics failed: {e}"));
    assert_eq!(report.unavailable, None, "insights_round_trip: unavailable");
    assert_eq!(report.answers.len(), 1, "insights_round_trip: one answer");
    match &report.answers[0] {
        crate::MetricsAnswer::Measured { metrics, .. } => assert_eq!(
            metrics, &expected,
            "insights_round_trip: what the connector read is not what the platform reports"
        ),
        other => panic!("insights_round_trip: expected numbers, got {other:?}"),
    }
    fake.revoke_insights(&account).await;
    let report = connector
        .fetch_metrics(&ctx, std::slice::from_ref(&query))
        .await
        .unwrap_or_else(|e| panic!("insights_round_trip: fetch_metrics (revoked) failed: {e}"));
    assert!(
        report.unavailable.is_some(),
        "insights_round_trip: a revoked insights permission must be reported, got {report:?}"
    );
    assert!(
        report
            .answers
            .iter()
            .all(|a| !matches!(a, crate::MetricsAnswer::Measured { .. })),
        "insights_round_trip: measured without permission: {report:?}"
    );
}
