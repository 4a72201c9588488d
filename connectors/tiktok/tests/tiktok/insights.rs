//! Post metrics read back through `/v2/video/query/` (PLATFORMS.md §9.4).

use pressroom_connector::testkit::scenarios::insights_round_trip;
use pressroom_connector::{MetricsAnswer, MetricsCtx, MetricsQuery, MetricsReport, PostMetrics};

use super::*;
use connector_tiktok::fake::VideoStats;

const QUERY: &str = "POST /v2/video/query/";
const STATUS: &str = "POST /v2/post/publish/status/fetch/";

fn mctx(ctx: &PublishCtx) -> MetricsCtx {
    MetricsCtx {
        account: ctx.account.clone(),
        credentials: ctx.credentials.clone(),
    }
}

fn query(remote_id: &str) -> MetricsQuery {
    MetricsQuery {
        remote_id: remote_id.into(),
        metrics_id: None,
        format: pressroom_connector::PostFormat::Single,
        published_at: Utc::now(),
        checkpoint: None,
    }
}

async fn publish(s: &Setup, ctx: &PublishCtx) -> String {
    let prepared = s.conn.prepare(ctx, &s.draft).await.expect("prepare");
    s.conn
        .commit(ctx, &prepared)
        .await
        .expect("commit")
        .remote_id
}

fn stats(views: u64) -> VideoStats {
    VideoStats {
        view_count: views,
        like_count: 12,
        comment_count: 1,
        share_count: 0,
    }
}

async fn fetch(s: &Setup, ctx: &PublishCtx, qs: &[MetricsQuery]) -> MetricsReport {
    s.conn
        .fetch_metrics(&mctx(ctx), qs)
        .await
        .expect("fetch_metrics")
}

fn measured(a: &MetricsAnswer) -> (&PostMetrics, &serde_json::Value, Option<&str>) {
    match a {
        MetricsAnswer::Measured {
            metrics,
            raw,
            metrics_id,
        } => (metrics, raw, metrics_id.as_deref()),
        other => panic!("expected numbers, got {other:?}"),
    }
}

#[tokio::test]
async fn insights_round_trip_kit() {
    let fake = FakeTikTok::start().await.expect("fake starts");
    insights_round_trip(&fake).await;
}

#[tokio::test]
async fn more_than_20_posts_are_queried_20_ids_at_a_time() {
    let opts = FakeOptions {
        inits_per_minute: 1000,
        ..Default::default()
    };
    let s = setup_with(opts, |_| {}).await;
    assert_eq!(s.conn.metrics_batch(), 20);
    let mut qs = Vec::new();
    for i in 0..25 {
        let id = publish(&s, &s.ctx).await;
        s.fake.set_stats(&id, stats(100 + i)).expect("post held");
        qs.push(query(&id));
    }
    let report = fetch(&s, &s.ctx, &qs).await;
    assert_eq!(report.unavailable, None);
    assert_eq!(report.answers.len(), 25);
    for (i, a) in report.answers.iter().enumerate() {
        let (m, _, metrics_id) = measured(a);
        let expected = PostMetrics {
            views: Some(100 + i as u64),
            likes: Some(12),
            comments: Some(1),
            shares: Some(0),
            ..PostMetrics::default()
        };
        assert_eq!(m, &expected, "post {i}");
        assert_eq!(metrics_id, None, "the remote id already was the post id");
    }
    let calls: Vec<_> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == QUERY)
        .collect();
    assert_eq!(calls.len(), 2, "25 ids in two calls");
    let mut sent = 0;
    for c in &calls {
        assert_eq!(
            c.query.as_deref(),
            Some("fields=id,view_count,like_count,comment_count,share_count")
        );
        let body: serde_json::Value = serde_json::from_str(&c.body).expect("json body");
        let ids = body["filters"]["video_ids"].as_array().expect("ids");
        assert!(ids.len() <= 20, "{} ids in one call", ids.len());
        assert!(
            ids.iter().all(serde_json::Value::is_string),
            "ids as strings"
        );
        sent += ids.len();
    }
    assert_eq!(sent, 25);
}

#[tokio::test]
async fn a_nineteen_digit_id_sent_as_a_number_round_trips_exactly() {
    let opts = FakeOptions {
        query_ids_as_numbers: true,
        ..Default::default()
    };
    let s = setup_with(opts, |_| {}).await;
    // status/fetch names the id as a raw JSON number: read exactly, it is the post id.
    let id = publish(&s, &s.ctx).await;
    let held = s.fake.publishes()[0].post_id.clone();
    assert_eq!(id, held);
    let n: u64 = id.parse().expect("digits");
    assert!(n > 1 << 53, "beyond a double's exact integers");
    assert_ne!((n as f64) as u64, n, "a float parse would change it");
    s.fake.set_stats(&id, stats(340)).expect("post held");
    let report = fetch(&s, &s.ctx, &[query(&id)]).await;
    let (m, raw, _) = measured(&report.answers[0]);
    assert_eq!(m.views, Some(340));
    assert!(
        raw["id"].is_u64(),
        "the query answered the id as a number: {raw}"
    );
    assert_eq!(raw["id"].to_string(), held);
}

#[tokio::test]
async fn a_publish_handle_is_not_yet_until_tiktok_names_the_post_then_resolved() {
    let opts = FakeOptions {
        id_empty_polls: 1000,
        ..Default::default()
    };
    let s = setup_with(opts, |_| {}).await;
    let handle = publish(&s, &s.ctx).await;
    assert!(handle.starts_with("p_pub_url~"), "{handle}");
    let post_id = s.fake.publishes()[0].post_id.clone();
    s.fake.set_stats(&post_id, stats(77)).expect("post held");

    let report = fetch(&s, &s.ctx, &[query(&handle)]).await;
    match &report.answers[0] {
        MetricsAnswer::NotYet {
            reason, metrics_id, ..
        } => {
            assert!(reason.contains("not made the post public yet"), "{reason}");
            assert_eq!(metrics_id, &None);
        }
        other => panic!("expected not yet, got {other:?}"),
    }
    assert_eq!(s.fake.calls(QUERY), 0, "nothing to query without an id");

    s.fake.set_id_empty_polls(0);
    let report = fetch(&s, &s.ctx, &[query(&handle)]).await;
    let (m, _, metrics_id) = measured(&report.answers[0]);
    assert_eq!(m.views, Some(77));
    assert_eq!(
        metrics_id,
        Some(post_id.as_str()),
        "resolved id for the runtime"
    );

    // With the id stored, status/fetch is not asked again.
    let statuses = s.fake.calls(STATUS);
    let mut q = query(&handle);
    q.metrics_id = Some(post_id.clone());
    let report = fetch(&s, &s.ctx, &[q]).await;
    assert_eq!(measured(&report.answers[0]).0.views, Some(77));
    assert_eq!(s.fake.calls(STATUS), statuses);
}

#[tokio::test]
async fn another_accounts_post_is_dropped_by_tiktok_and_not_yet_here() {
    let s = setup().await;
    let mine = publish(&s, &s.ctx).await;
    let g = s.fake.grant("oid-2");
    let mut other = s.ctx.clone();
    other.account.external_id = "oid-2".into();
    other.credentials.access_token = SecretString::from(g.access_token);
    let theirs = publish(&s, &other).await;
    let report = fetch(&s, &s.ctx, &[query(&theirs), query(&mine)]).await;
    match &report.answers[0] {
        MetricsAnswer::NotYet { reason, .. } => assert!(reason.contains(&theirs), "{reason}"),
        other => panic!("a dropped id is not yet, never gone: {other:?}"),
    }
    measured(&report.answers[1]);
}

#[tokio::test]
async fn without_video_list_the_report_says_reconnect() {
    let s = setup().await;
    let id = publish(&s, &s.ctx).await;
    let g = s
        .fake
        .grant_scopes("oid-1", &["user.info.basic", "video.publish"]);
    let mut ctx = s.ctx.clone();
    ctx.credentials.access_token = SecretString::from(g.access_token);
    let report = fetch(&s, &ctx, &[query(&id)]).await;
    assert_eq!(
        report.unavailable.as_deref(),
        Some("reconnect TikTok and grant video.list")
    );
    assert!(matches!(report.answers[..], [MetricsAnswer::NotYet { .. }]));
    assert_eq!(s.fake.calls(QUERY), 1);
}

#[tokio::test]
async fn tiktoks_600_a_minute_window_is_rate_limited() {
    let opts = FakeOptions {
        video_query_per_minute: 1,
        ..Default::default()
    };
    let s = setup_with(opts, |c| c.rate_limit_wait_secs = 7).await;
    let id = publish(&s, &s.ctx).await;
    fetch(&s, &s.ctx, &[query(&id)]).await;
    let err = s
        .conn
        .fetch_metrics(&mctx(&s.ctx), &[query(&id)])
        .await
        .expect_err("over the window");
    assert!(
        matches!(err, ConnectorError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(7)),
        "{err:?}"
    );
    assert_eq!(s.fake.calls(QUERY), 2);
}
