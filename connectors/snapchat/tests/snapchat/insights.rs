//! Per-story stats read back (PLATFORMS.md §9.5) and the fake's stats checks (§9.7).

use chrono::Utc;
use pressroom_connector::testkit::scenarios::insights_round_trip;
use pressroom_connector::{MetricsAnswer, MetricsCtx, MetricsQuery, MetricsReport, PostMetrics};

use super::*;

const STORY_STATS: &str = "GET /v1/public_profiles/{profile_id}/stories/{story_id}/stats";

struct Posted {
    remote_id: String,
    checkpoint: serde_json::Value,
}

async fn publish(s: &Setup) -> Posted {
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let published = s.conn.commit(&s.ctx, &prepared).await.expect("commit");
    Posted {
        remote_id: published.remote_id,
        checkpoint: prepared.checkpoint,
    }
}

fn query(p: &Posted, hours_ago: i64) -> MetricsQuery {
    MetricsQuery {
        remote_id: p.remote_id.clone(),
        metrics_id: None,
        format: pressroom_connector::PostFormat::Single,
        published_at: Utc::now() - chrono::Duration::hours(hours_ago),
        checkpoint: Some(p.checkpoint.clone()),
    }
}

async fn fetch(s: &Setup, qs: &[MetricsQuery]) -> MetricsReport {
    let ctx = MetricsCtx {
        account: s.ctx.account.clone(),
        credentials: s.ctx.credentials.clone(),
    };
    s.conn.fetch_metrics(&ctx, qs).await.expect("fetch_metrics")
}

const NUMBERS: [(&str, u64); 3] = [("VIEWS", 123), ("VIEWERS", 80), ("SHARES", 4)];

fn metrics(a: &MetricsAnswer) -> &PostMetrics {
    match a {
        MetricsAnswer::Measured { metrics, .. } => metrics,
        other => panic!("expected numbers, got {other:?}"),
    }
}

#[tokio::test]
async fn insights_round_trip_kit() {
    // The kit measures a post 50 h old: only a Saved Story still has numbers then.
    let opts = FakeOptions {
        kit_post_as: PostAs::SavedStory,
        ..Default::default()
    };
    let fake = FakeSnapchat::start_with(opts).await.expect("fake starts");
    insights_round_trip(&fake).await;
}

#[tokio::test]
async fn a_story_is_measured_through_its_own_lifetime_stats() {
    let s = setup().await;
    let p = publish(&s).await;
    s.fake
        .set_story_stats(&p.remote_id, &NUMBERS)
        .expect("story held");
    let report = fetch(&s, &[query(&p, 1)]).await;
    assert_eq!(
        metrics(&report.answers[0]),
        &PostMetrics {
            views: Some(123),
            reach: Some(80),
            shares: Some(4),
            ..PostMetrics::default()
        }
    );
    assert!(report.unknown_metrics.is_empty());
    let calls: Vec<_> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == STORY_STATS)
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].path,
        format!("/v1/public_profiles/pp-1/stories/{}/stats", p.remote_id)
    );
    assert_eq!(
        calls[0].query.as_deref(),
        Some("assetType=STORY&fields=VIEWS%2CVIEWERS%2CSHARES&granularity=LIFETIME")
    );
}

#[tokio::test]
async fn a_field_refused_for_the_asset_type_is_skipped_and_named_once() {
    let s = setup().await;
    let a = publish(&s).await;
    let b = publish(&s).await;
    for p in [&a, &b] {
        s.fake
            .set_story_stats(&p.remote_id, &NUMBERS)
            .expect("story held");
    }
    s.fake.refuse_stats_field("STORY", "SHARES");
    let report = fetch(&s, &[query(&a, 1), query(&b, 1)]).await;
    let expected = PostMetrics {
        views: Some(123),
        reach: Some(80),
        ..PostMetrics::default()
    };
    assert_eq!(metrics(&report.answers[0]), &expected);
    assert_eq!(metrics(&report.answers[1]), &expected);
    assert_eq!(report.unknown_metrics, vec!["SHARES".to_owned()]);
    // The refusal, the retry without SHARES, then the second story without asking for it.
    assert_eq!(s.fake.calls(STORY_STATS), 3);
}

#[tokio::test]
async fn a_story_older_than_24_hours_is_not_yet_without_a_request() {
    let s = setup().await;
    let p = publish(&s).await;
    s.fake
        .set_story_stats(&p.remote_id, &NUMBERS)
        .expect("story held");
    let report = fetch(&s, &[query(&p, 25)]).await;
    match &report.answers[0] {
        MetricsAnswer::NotYet { reason, .. } => {
            assert_eq!(reason, "a story's numbers are kept 24 h")
        }
        other => panic!("expected not yet, got {other:?}"),
    }
    assert_eq!(
        s.fake.calls(STORY_STATS),
        0,
        "no request for a vanished story"
    );
}

#[tokio::test]
async fn without_public_profile_authorization_the_report_says_reconnect() {
    let s = setup().await;
    let p = publish(&s).await;
    s.fake.revoke_story_insights("pp-1");
    let report = fetch(&s, &[query(&p, 1)]).await;
    assert_eq!(
        report.unavailable.as_deref(),
        Some("reconnect Snapchat (Public Profile authorization)")
    );
    assert!(matches!(report.answers[..], [MetricsAnswer::NotYet { .. }]));
}

#[tokio::test]
async fn an_unknown_story_is_gone() {
    let s = setup().await;
    let p = publish(&s).await;
    let mut q = query(&p, 1);
    q.remote_id = "story-999".into();
    let report = fetch(&s, &[q]).await;
    assert_eq!(report.answers, vec![MetricsAnswer::Gone]);
}

/// The fake refuses what Snap documents as invalid, in its `request_status: "ERROR"` shape.
#[tokio::test]
async fn the_fake_checks_granularity_times_and_fields() {
    let s = setup().await;
    let p = publish(&s).await;
    let http = reqwest::Client::new();
    // A token of its own: its rate bucket is not the one the publish spent.
    let token = s.fake.grant("pp-1").access_token;
    let url = format!(
        "{}v1/public_profiles/pp-1/stories/{}/stats",
        s.fake.base_url(),
        p.remote_id
    );
    let today = Utc::now().date_naive();
    let day = |d: chrono::NaiveDate| format!("{d}T00:00:00");
    let yesterday = day(today - chrono::Duration::days(1));
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("fields", "VIEWS".into()), ("granularity", "HOUR".into())],
            "granularity",
        ),
        (
            vec![("fields", "VIEWS".into()), ("granularity", "DAY".into())],
            "required",
        ),
        (
            vec![
                ("fields", "VIEWS".into()),
                ("granularity", "DAY".into()),
                (
                    "startTime",
                    format!("{}T05:00:00", today - chrono::Duration::days(1)),
                ),
                ("endTime", day(today)),
            ],
            "midnight",
        ),
        (
            vec![
                ("fields", "VIEWS".into()),
                ("granularity", "TOTAL".into()),
                ("startTime", day(today - chrono::Duration::days(120))),
                ("endTime", day(today)),
            ],
            "90 days",
        ),
        (
            vec![("fields", "SPOTLIGHT_VIEWS".into())],
            "SPOTLIGHT_VIEWS",
        ),
        (
            vec![
                ("fields", "VIEWS".into()),
                ("assetType", "SAVED_STORY".into()),
            ],
            "assetType",
        ),
    ];
    for (params, says) in cases {
        let resp = http
            .get(&url)
            .bearer_auth(&token)
            .query(&params)
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 400, "{params:?}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["request_status"], "ERROR", "{params:?}");
        let msg = body["debug_message"].as_str().unwrap_or("");
        assert!(msg.contains(says), "{params:?}: {msg}");
    }
    // A valid DAY request answers one bucket per day.
    let resp = http
        .get(&url)
        .bearer_auth(&token)
        .query(&[
            ("fields", "VIEWS".to_owned()),
            ("granularity", "DAY".into()),
            ("startTime", yesterday),
            ("endTime", day(today + chrono::Duration::days(1))),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["request_status"], "SUCCESS");
    assert_eq!(
        body["assets"][0]["timeseries"].as_array().map(Vec::len),
        Some(2)
    );
}
