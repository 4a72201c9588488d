//! Fetch-back (PLATFORMS.md §9.2) against the fake: the kit's round trip, then the traps —
//! a retired name skipped by the one-by-one fallback, the processing delay, a story past
//! its 24 h (never asked), too few story viewers (not a permission problem), a revoked
//! permission, a deleted media, and a carousel measured on its parent.

use std::time::Duration;

use connector_instagram::fake::FakeInstagram;
use pressroom_connector::testkit::{
    self, Account, FakeControls, InsightsControls, Outcome, Runner,
};
use pressroom_connector::{
    MetricsAnswer, MetricsCtx, MetricsQuery, MetricsReport, PostDraft, PostFormat, PostMetrics,
};

#[tokio::test]
async fn insights_round_trip() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    testkit::scenarios::insights_round_trip(&fake).await;
}

const SET: PostMetrics = PostMetrics {
    views: Some(532),
    reach: Some(400),
    likes: Some(40),
    comments: Some(6),
    shares: Some(2),
    saves: Some(5),
    clicks: Some(9),
};

/// Publishes `draft` for `account`; its remote id.
async fn publish(fake: &FakeInstagram, account: &Account, draft: &PostDraft) -> String {
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(account, draft);
    match runner.run(&mut attempt, draft).await {
        Outcome::Committed { published, .. } => published.remote_id,
        other => panic!("not published: {other:?}"),
    }
}

async fn story(fake: &FakeInstagram) -> PostDraft {
    let mut draft = fake.valid_draft().await;
    draft.media = vec![fake.images().jpeg_media(1080, 1920).expect("9:16 image")];
    draft.format = PostFormat::Story;
    draft
}

async fn fetch(fake: &FakeInstagram, account: &Account, queries: &[MetricsQuery]) -> MetricsReport {
    let ctx = MetricsCtx {
        account: account.account.clone(),
        credentials: account.credentials.clone(),
    };
    fake.connector()
        .fetch_metrics(&ctx, queries)
        .await
        .expect("fetch_metrics")
}

fn query(remote_id: &str, format: PostFormat, hours_ago: i64) -> MetricsQuery {
    MetricsQuery {
        remote_id: remote_id.to_owned(),
        metrics_id: None,
        format,
        published_at: chrono::Utc::now() - chrono::Duration::hours(hours_ago),
        checkpoint: None,
    }
}

fn insights_calls(fake: &FakeInstagram) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/insights"))
        .map(|r| r.path)
        .collect()
}

fn measured(report: &MetricsReport) -> &PostMetrics {
    match &report.answers[..] {
        [MetricsAnswer::Measured { metrics, .. }] => metrics,
        other => panic!("expected numbers, got {other:?}"),
    }
}

#[tokio::test]
async fn a_retired_name_is_skipped_and_the_others_still_read() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let media = publish(&fake, &account, &fake.valid_draft().await).await;
    let expected = fake.set_post_metrics(&media, &SET).await;
    assert_eq!(expected.clicks, None, "Instagram has no clicks");
    assert_eq!(expected.saves, Some(5), "saved reads as saves");
    fake.deprecate_metric("saved");
    let report = fetch(&fake, &account, &[query(&media, PostFormat::Single, 50)]).await;
    assert_eq!(report.unknown_metrics, ["saved"]);
    assert_eq!(
        measured(&report),
        &PostMetrics {
            saves: None,
            ..expected
        }
    );
    assert_eq!(
        insights_calls(&fake).len(),
        1 + 6,
        "the set, then one by one"
    );
}

#[tokio::test]
async fn processing_delay_is_not_yet() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let media = publish(&fake, &account, &fake.valid_draft().await).await;
    fake.set_post_metrics(&media, &SET).await;
    fake.set_insights_delay(Duration::from_secs(48 * 3600));
    let report = fetch(&fake, &account, &[query(&media, PostFormat::Single, 1)]).await;
    assert_eq!(report.unavailable, None);
    assert!(
        matches!(&report.answers[..], [MetricsAnswer::NotYet { .. }]),
        "{report:?}"
    );
    fake.set_insights_delay(Duration::ZERO);
    let report = fetch(&fake, &account, &[query(&media, PostFormat::Single, 1)]).await;
    assert_eq!(measured(&report).views, Some(532));
}

#[tokio::test]
async fn a_story_is_measured_within_24_hours_and_never_asked_after() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let media = publish(&fake, &account, &story(&fake).await).await;
    let expected = fake.set_post_metrics(&media, &SET).await;
    let report = fetch(&fake, &account, &[query(&media, PostFormat::Story, 2)]).await;
    assert_eq!(measured(&report), &expected);
    assert_eq!(expected.likes, None, "a story has no likes");
    let before = insights_calls(&fake).len();
    let report = fetch(&fake, &account, &[query(&media, PostFormat::Story, 30)]).await;
    assert!(
        matches!(&report.answers[..], [MetricsAnswer::NotYet { .. }]),
        "{report:?}"
    );
    assert_eq!(
        insights_calls(&fake).len(),
        before,
        "an old story was asked"
    );
}

#[tokio::test]
async fn too_few_story_viewers_is_not_yet_and_not_unavailable() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let media = publish(&fake, &account, &story(&fake).await).await;
    fake.set_post_metrics(&media, &SET).await;
    fake.set_story_viewers(Some(3));
    let report = fetch(&fake, &account, &[query(&media, PostFormat::Story, 1)]).await;
    assert_eq!(
        report.unavailable, None,
        "never a reconnect on too few viewers"
    );
    match &report.answers[..] {
        [MetricsAnswer::NotYet { reason, .. }] => assert!(reason.contains("viewers"), "{reason}"),
        other => panic!("expected not yet, got {other:?}"),
    }
}

#[tokio::test]
async fn revoked_permission_is_unavailable_and_a_deleted_media_is_gone() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let media = publish(&fake, &account, &fake.valid_draft().await).await;
    fake.set_post_metrics(&media, &SET).await;
    fake.delete_media(&media);
    let report = fetch(&fake, &account, &[query(&media, PostFormat::Single, 50)]).await;
    assert!(
        matches!(&report.answers[..], [MetricsAnswer::Gone]),
        "{report:?}"
    );
    let other = publish(&fake, &account, &fake.valid_draft().await).await;
    fake.revoke_insights(&account).await;
    let report = fetch(&fake, &account, &[query(&other, PostFormat::Single, 50)]).await;
    assert_eq!(
        report.unavailable.as_deref(),
        Some("reconnect Instagram and grant instagram_manage_insights")
    );
    assert!(matches!(
        &report.answers[..],
        [MetricsAnswer::NotYet { .. }]
    ));
}

#[tokio::test]
async fn a_carousel_is_measured_on_its_parent() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let mut draft = fake.valid_draft().await;
    draft
        .media
        .push(fake.images().jpeg_media(1080, 1350).expect("image"));
    draft.format = PostFormat::Carousel;
    let media = publish(&fake, &account, &draft).await;
    let expected = fake.set_post_metrics(&media, &SET).await;
    let report = fetch(&fake, &account, &[query(&media, PostFormat::Carousel, 50)]).await;
    assert_eq!(measured(&report), &expected);
    assert_eq!(insights_calls(&fake), [format!("/v25.0/{media}/insights")]);
}
