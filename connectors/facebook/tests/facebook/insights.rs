//! Fetch-back (PLATFORMS.md §9.1) against the fake: the kit's round trip, then the traps —
//! a deprecated name skipped by the one-by-one fallback, empty data with and without
//! `read_insights`, a photo id resolved to its feed post, a deleted post, a story.

use connector_facebook::fake::FakeFacebook;
use pressroom_connector::testkit::{
    self, Account, FakeControls, InsightsControls, Outcome, Runner,
};
use pressroom_connector::{MetricsAnswer, MetricsCtx, MetricsQuery, PostFormat, PostMetrics};

#[tokio::test]
async fn insights_round_trip() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    testkit::scenarios::insights_round_trip(&fake).await;
}

const SET: PostMetrics = PostMetrics {
    views: Some(340),
    reach: Some(200),
    likes: Some(12),
    comments: Some(3),
    shares: Some(1),
    saves: Some(9),
    clicks: Some(7),
};

/// A connected account with one published photo post; its feed post id and photo id.
async fn published(fake: &FakeFacebook) -> (Account, String, String) {
    let account = fake.connect_account().await;
    let post = publish(fake, &account).await;
    let photo = fake
        .posts(&account.account.external_id)
        .into_iter()
        .find(|p| p.post_id == post)
        .map(|p| p.photo_id)
        .expect("the fake holds the post");
    (account, post, photo)
}

/// Publishes one photo post for `account`; its remote id.
async fn publish(fake: &FakeFacebook, account: &Account) -> String {
    let draft = fake.valid_draft().await;
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(account, &draft);
    match runner.run(&mut attempt, &draft).await {
        Outcome::Committed { published, .. } => published.remote_id,
        other => panic!("not published: {other:?}"),
    }
}

fn ctx(account: &Account) -> MetricsCtx {
    MetricsCtx {
        account: account.account.clone(),
        credentials: account.credentials.clone(),
    }
}

fn query(remote_id: &str, format: PostFormat) -> MetricsQuery {
    MetricsQuery {
        remote_id: remote_id.to_owned(),
        metrics_id: None,
        format,
        published_at: chrono::Utc::now() - chrono::Duration::hours(25),
        checkpoint: None,
    }
}

fn insights_calls(fake: &FakeFacebook) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/insights"))
        .map(|r| r.path)
        .collect()
}

#[tokio::test]
async fn a_deprecated_name_is_skipped_and_the_others_still_read() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let (account, post, _) = published(&fake).await;
    let second = publish(&fake, &account).await;
    let expected = fake.set_post_metrics(&post, &SET).await;
    fake.set_post_metrics(&second, &SET).await;
    fake.deprecate_metric("post_clicks");
    let report = fake
        .connector()
        .fetch_metrics(
            &ctx(&account),
            &[
                query(&post, PostFormat::Single),
                query(&second, PostFormat::Single),
            ],
        )
        .await
        .expect("fetch");
    assert_eq!(report.unknown_metrics, ["post_clicks"]);
    assert_eq!(report.unavailable, None);
    for answer in &report.answers {
        match answer {
            MetricsAnswer::Measured { metrics, .. } => assert_eq!(
                metrics,
                &PostMetrics {
                    clicks: None,
                    ..expected.clone()
                },
                "the refused metric is unmeasured, the others read"
            ),
            other => panic!("expected numbers, got {other:?}"),
        }
    }
    // First post: the set, refused; then one by one (5). Second post: the set less the
    // refused name, once.
    assert_eq!(insights_calls(&fake).len(), 1 + 5 + 1);
}

#[tokio::test]
async fn empty_data_is_not_yet_while_permitted_and_unavailable_once_revoked() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let (account, post, _) = published(&fake).await;
    let connector = fake.connector();
    let q = [query(&post, PostFormat::Single)];
    let report = connector
        .fetch_metrics(&ctx(&account), &q)
        .await
        .expect("fetch");
    assert_eq!(
        report.unavailable, None,
        "no numbers yet is no permission problem"
    );
    assert!(
        matches!(&report.answers[..], [MetricsAnswer::NotYet { .. }]),
        "{report:?}"
    );
    let checks = |fake: &FakeFacebook| {
        fake.requests()
            .iter()
            .filter(|r| r.path.ends_with("/me/permissions"))
            .count()
    };
    assert_eq!(
        checks(&fake),
        1,
        "the empty answer was checked against the grant"
    );
    fake.set_post_metrics(&post, &SET).await;
    fake.revoke_insights(&account).await;
    let report = connector
        .fetch_metrics(&ctx(&account), &q)
        .await
        .expect("fetch");
    assert_eq!(
        report.unavailable.as_deref(),
        Some("reconnect the Facebook Page and grant read_insights")
    );
    assert!(matches!(
        &report.answers[..],
        [MetricsAnswer::NotYet { .. }]
    ));
}

#[tokio::test]
async fn a_photo_id_is_measured_through_its_feed_post() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let (account, post, photo) = published(&fake).await;
    let expected = fake.set_post_metrics(&post, &SET).await;
    let report = fake
        .connector()
        .fetch_metrics(&ctx(&account), &[query(&photo, PostFormat::Single)])
        .await
        .expect("fetch");
    match &report.answers[..] {
        [
            MetricsAnswer::Measured {
                metrics,
                metrics_id,
                ..
            },
        ] => {
            assert_eq!(metrics, &expected);
            assert_eq!(metrics_id.as_deref(), Some(post.as_str()));
        }
        other => panic!("expected numbers, got {other:?}"),
    }
    assert!(
        insights_calls(&fake).iter().all(|p| p.contains(&post)),
        "insights asked on the photo id: {:?}",
        insights_calls(&fake)
    );
}

#[tokio::test]
async fn a_deleted_post_is_gone_and_a_story_is_never_asked() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let (account, post, _) = published(&fake).await;
    fake.set_post_metrics(&post, &SET).await;
    fake.delete_post(&post);
    let report = fake
        .connector()
        .fetch_metrics(
            &ctx(&account),
            &[
                query(&post, PostFormat::Single),
                query("123_456", PostFormat::Story),
            ],
        )
        .await
        .expect("fetch");
    assert!(
        matches!(
            &report.answers[..],
            [MetricsAnswer::Gone, MetricsAnswer::NotYet { .. }]
        ),
        "{report:?}"
    );
    assert_eq!(insights_calls(&fake).len(), 1, "the story was asked");
}

#[tokio::test]
async fn the_fake_refuses_deprecated_names_and_photo_ids_like_graph() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let (account, post, photo) = published(&fake).await;
    fake.set_post_metrics(&post, &SET).await;
    let http = reqwest::Client::new();
    let token = secrecy::ExposeSecret::expose_secret(&account.credentials.access_token).to_owned();
    let get = |id: &str, metric: &str| {
        http.get(format!("{}/v25.0/{id}/insights", fake.base_url()))
            .query(&[("metric", metric)])
            .bearer_auth(&token)
            .send()
    };
    let r = get(&post, "post_media_view,post_impressions_unique")
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], 100);
    assert_eq!(
        body["error"]["message"],
        "(#100) The value must be a valid insights metric"
    );
    let r = get(&photo, "post_media_view").await.expect("send");
    assert_eq!(r.status(), 400, "a photo id is no post id");
    let body: serde_json::Value = get(&post, "post_reactions_by_type_total")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(body["data"][0]["period"], "lifetime");
    assert_eq!(
        body["data"][0]["values"][0]["value"],
        serde_json::json!({"like": 9, "love": 3})
    );
}
