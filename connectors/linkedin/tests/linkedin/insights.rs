//! Post metrics fetch-back against the fake (PLATFORMS.md §9.3, §9.7): the kit's round trip
//! for members and organizations, and LinkedIn's traps: both `metricType` shapes, share and
//! ugcPost URNs in their own parameters, absent data as "not yet", a missing scope, a refused
//! `queryType`, deleted and too-old posts.

use chrono::Utc;
use connector_linkedin::fake::{FakeLinkedIn, FakeOptions, STRING_METRIC_TYPE_FROM};
use connector_linkedin::{LinkedIn, LinkedInConfig, MEMBER_SCOPE, ORG_SCOPE};
use pressroom_connector::testkit::InsightsControls;
use pressroom_connector::{
    AccountRef, Connector, ConnectorError, Credentials, MetricsAnswer, MetricsCtx, MetricsQuery,
    MetricsReport, PostFormat, PostMetrics,
};
use secrecy::SecretString;
use serde_json::{Value, json};

const STATS: &str = "GET /rest/organizationalEntityShareStatistics";
const ANALYTICS: &str = "GET /rest/memberCreatorPostAnalytics";

fn all_metrics() -> PostMetrics {
    PostMetrics {
        views: Some(1204),
        reach: Some(800),
        likes: Some(25),
        comments: Some(4),
        shares: Some(2),
        saves: Some(3),
        clicks: Some(30),
    }
}

async fn fake_with(opts: FakeOptions) -> FakeLinkedIn {
    FakeLinkedIn::start_with(opts).await.expect("fake starts")
}

fn connector(fake: &FakeLinkedIn, tweak: impl FnOnce(&mut LinkedInConfig)) -> LinkedIn {
    let mut cfg = fake.config();
    tweak(&mut cfg);
    LinkedIn::new(cfg).expect("connector builds")
}

/// A context for `author` with tokens for `member` carrying `scopes` (all by default).
fn ctx(fake: &FakeLinkedIn, member: &str, author: &str, scopes: Option<&[&str]>) -> MetricsCtx {
    let grant = match scopes {
        Some(s) => fake.grant_with_scopes(member, s),
        None => fake.grant(member),
    };
    MetricsCtx {
        account: AccountRef {
            id: format!("acc-{member}"),
            workspace_id: "ws-1".into(),
            external_id: author.into(),
        },
        credentials: Credentials {
            access_token: SecretString::from(grant.access_token),
            refresh_token: Some(SecretString::from(grant.refresh_token)),
            expires_at: Some(grant.expires_at),
            extra: json!({}),
        },
    }
}

fn query(urn: &str) -> MetricsQuery {
    MetricsQuery {
        remote_id: urn.into(),
        metrics_id: None,
        format: PostFormat::Single,
        published_at: Utc::now() - chrono::Duration::hours(2),
        checkpoint: None,
    }
}

async fn fetch(conn: &LinkedIn, ctx: &MetricsCtx, urns: &[&str]) -> MetricsReport {
    let posts: Vec<MetricsQuery> = urns.iter().map(|u| query(u)).collect();
    conn.fetch_metrics(ctx, &posts)
        .await
        .expect("fetch_metrics")
}

fn measured(a: &MetricsAnswer) -> (&PostMetrics, &Value) {
    match a {
        MetricsAnswer::Measured { metrics, raw, .. } => (metrics, raw),
        other => panic!("expected numbers, got {other:?}"),
    }
}

fn is_not_yet(a: &MetricsAnswer) -> bool {
    matches!(a, MetricsAnswer::NotYet { .. })
}

/// The query strings of the recorded calls to `endpoint`.
fn queries(fake: &FakeLinkedIn, endpoint: &str) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.endpoint == endpoint)
        .map(|r| r.query.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn kit_insights_round_trip_for_a_member() {
    let fake = fake_with(FakeOptions::default()).await;
    pressroom_connector::testkit::scenarios::insights_round_trip(&fake).await;
    assert!(
        fake.calls(ANALYTICS) >= 6,
        "member analytics were not asked"
    );
}

#[tokio::test]
async fn kit_insights_round_trip_for_an_organization() {
    let fake = fake_with(FakeOptions {
        kit_organizations: true,
        ..Default::default()
    })
    .await;
    pressroom_connector::testkit::scenarios::insights_round_trip(&fake).await;
    assert!(fake.calls(STATS) >= 1, "share statistics were not asked");
    assert_eq!(fake.calls(ANALYTICS), 0);
}

/// `metricType` is `{"…CreatorPostAnalyticsMetricTypeV1":"IMPRESSION"}` before 202605 and a
/// plain string from it; the connector reads both to the same numbers.
#[tokio::test]
async fn member_metric_type_is_read_in_both_shapes() {
    for (version, string) in [("202601", false), (STRING_METRIC_TYPE_FROM, true)] {
        let fake = fake_with(FakeOptions::default()).await;
        let conn = connector(&fake, |c| c.linkedin_version = version.into());
        let ctx = ctx(&fake, "m1", "urn:li:person:m1", None);
        let share = fake.add_external_post("urn:li:person:m1", false);
        let expected = fake.set_post_metrics(&share, &all_metrics()).await;
        assert_eq!(expected.clicks, None, "members have no click count");
        assert_eq!(expected.saves, Some(3));
        let report = fetch(&conn, &ctx, &[&share]).await;
        let (metrics, raw) = measured(&report.answers[0]);
        assert_eq!(metrics, &expected, "version {version}");
        let shape = &raw["IMPRESSION"]["elements"][0]["metricType"];
        assert_eq!(shape.is_string(), string, "version {version}: {shape}");
        assert_eq!(shape.is_object(), !string, "version {version}: {shape}");
        // One queryType per call, every call with the configured version.
        let sent = fake.requests();
        let calls: Vec<_> = sent.iter().filter(|r| r.endpoint == ANALYTICS).collect();
        assert_eq!(calls.len(), 6);
        for r in calls {
            assert_eq!(r.header("linkedin-version"), Some(version));
            let q = r.query.clone().unwrap_or_default();
            assert_eq!(q.matches("queryType=").count(), 1, "{q}");
            assert!(q.contains("aggregation=TOTAL"), "{q}");
        }
    }
}

/// A ugcPost URN goes in `ugcPosts=List(…)`, a share URN in `shares=List(…)`; a post without
/// statistics has no element and is "not yet", not zeros.
#[tokio::test]
async fn organization_batches_split_shares_from_ugc_posts() {
    let fake = fake_with(FakeOptions::default()).await;
    fake.add_admin("m1", "42");
    let org = "urn:li:organization:42";
    let conn = connector(&fake, |_| {});
    let ctx = ctx(&fake, "m1", org, None);
    let share = fake.add_external_post(org, false);
    let ugc = fake.add_external_post(org, true);
    let quiet = fake.add_external_post(org, false);
    let expected = fake.set_post_metrics(&share, &all_metrics()).await;
    assert_eq!(expected.saves, None, "organizations have no save count");
    assert_eq!(expected.clicks, Some(30));
    let ugc_numbers = PostMetrics {
        views: Some(77),
        likes: Some(0),
        ..Default::default()
    };
    let ugc_expected = fake.set_post_metrics(&ugc, &ugc_numbers).await;
    let report = fetch(&conn, &ctx, &[&share, &ugc, &quiet]).await;
    assert_eq!(report.unavailable, None);
    assert_eq!(report.answers.len(), 3);
    assert_eq!(measured(&report.answers[0]).0, &expected);
    assert_eq!(measured(&report.answers[1]).0, &ugc_expected);
    // LinkedIn's element carries every count: what it did not count reads 0; no saves.
    assert_eq!(measured(&report.answers[1]).0.reach, Some(0));
    assert_eq!(measured(&report.answers[1]).0.saves, None);
    assert!(is_not_yet(&report.answers[2]), "{:?}", report.answers[2]);
    let sent = queries(&fake, STATS);
    assert_eq!(sent.len(), 2, "one call per URN kind: {sent:?}");
    let enc = |u: &str| u.replace(':', "%3A");
    assert!(
        sent.iter().any(
            |q| q.contains(&format!("shares=List({},{})", enc(&share), enc(&quiet)))
                && !q.contains("ugcPosts")
        ),
        "{sent:?}"
    );
    assert!(
        sent.iter()
            .any(|q| q.contains(&format!("ugcPosts=List({})", enc(&ugc))) && !q.contains("shares")),
        "{sent:?}"
    );
}

/// The fake refuses a ugcPost URN in `shares` the way LinkedIn does, and a URN whose `:` is
/// not encoded.
#[tokio::test]
async fn the_fake_refuses_a_ugc_post_in_shares() {
    let fake = fake_with(FakeOptions::default()).await;
    fake.add_admin("m1", "42");
    let token = fake.grant("m1").access_token;
    let ugc = fake.add_external_post("urn:li:organization:42", true);
    let get = |query: String| {
        let url = format!(
            "{}rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=urn%3Ali%3Aorganization%3A42&{query}",
            fake.base_url()
        );
        let token = token.clone();
        async move {
            let resp = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .header("LinkedIn-Version", "202601")
                .header("X-Restli-Protocol-Version", "2.0.0")
                .send()
                .await
                .expect("fake answers");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = get(format!("shares=List({})", ugc.replace(':', "%3A"))).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "ACCESS_DENIED");
    assert_eq!(body["serviceErrorCode"], 100);
    assert_eq!(
        body["message"],
        "Unpermitted fields present in PARAMETER: Data Processing Exception while processing fields [/shares[0]]"
    );
    let (status, _) = get(format!("ugcPosts=List({ugc})")).await;
    assert_eq!(status, 400, "an unencoded URN is not Rest.li 2.0");
    // timeIntervals: one element per day, with its timeRange.
    let start = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    fake.set_post_metrics(&ugc, &all_metrics()).await;
    let (status, body) = get(format!(
        "ugcPosts=List({})&timeIntervals=(timeRange:(start:{},end:{}),timeGranularityType:DAY)",
        ugc.replace(':', "%3A"),
        (start - chrono::Duration::days(1)).timestamp_millis(),
        (start + chrono::Duration::days(1)).timestamp_millis(),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let elements = body["elements"].as_array().expect("elements");
    assert_eq!(elements.len(), 2, "{body}");
    assert!(elements.iter().all(|e| e["timeRange"]["start"].is_i64()));
    let total: u64 = elements
        .iter()
        .filter_map(|e| e["totalShareStatistics"]["impressionCount"].as_u64())
        .sum();
    assert_eq!(total, 1204);
}

/// Empty `elements` are no observation: a post without numbers is "not yet", and a post with
/// some numbers reports those only.
#[tokio::test]
async fn member_posts_without_numbers_are_not_yet() {
    let fake = fake_with(FakeOptions::default()).await;
    let conn = connector(&fake, |_| {});
    let ctx = ctx(&fake, "m1", "urn:li:person:m1", None);
    let quiet = fake.add_external_post("urn:li:person:m1", false);
    let some = fake.add_external_post("urn:li:person:m1", true);
    let views_only = PostMetrics {
        views: Some(9),
        ..Default::default()
    };
    fake.set_post_metrics(&some, &views_only).await;
    let report = fetch(&conn, &ctx, &[&quiet, &some]).await;
    assert!(is_not_yet(&report.answers[0]), "{:?}", report.answers[0]);
    assert_eq!(measured(&report.answers[1]).0, &views_only);
    assert!(
        queries(&fake, ANALYTICS)
            .iter()
            .any(|q| q.contains("entity=(ugc:urn%3Ali%3AugcPost%3A")),
        "a ugcPost is asked as (ugc:…)"
    );
}

/// Without the analytics scope the report says what to do, and measures nothing.
#[tokio::test]
async fn a_missing_scope_makes_insights_unavailable() {
    let fake = fake_with(FakeOptions::default()).await;
    let conn = connector(&fake, |_| {});
    let publishing = [
        "openid",
        "profile",
        "w_member_social",
        "w_organization_social",
    ];
    let member = ctx(&fake, "m1", "urn:li:person:m1", Some(&publishing));
    let post = fake.add_external_post("urn:li:person:m1", false);
    fake.set_post_metrics(&post, &all_metrics()).await;
    let report = fetch(&conn, &member, &[&post]).await;
    assert_eq!(report.unavailable.as_deref(), Some(MEMBER_SCOPE));
    assert!(report.answers.iter().all(is_not_yet), "{report:?}");

    fake.add_admin("m2", "42");
    let org = "urn:li:organization:42";
    let org_post = fake.add_external_post(org, false);
    fake.set_post_metrics(&org_post, &all_metrics()).await;
    let no_scope = ctx(&fake, "m2", org, Some(&publishing));
    let report = fetch(&conn, &no_scope, &[&org_post]).await;
    assert_eq!(report.unavailable.as_deref(), Some(ORG_SCOPE));
    assert!(report.answers.iter().all(is_not_yet), "{report:?}");
    // The scope without the ADMINISTRATOR role is refused alike.
    let not_admin = ctx(&fake, "m3", org, None);
    let report = fetch(&conn, &not_admin, &[&org_post]).await;
    assert_eq!(report.unavailable.as_deref(), Some(ORG_SCOPE));
    // With both, the numbers come.
    let admin = ctx(&fake, "m2", org, None);
    let report = fetch(&conn, &admin, &[&org_post]).await;
    assert_eq!(report.unavailable, None);
    measured(&report.answers[0]);
}

/// A `queryType` LinkedIn refuses as invalid is skipped (asked once per fetch), named in
/// `unknown_metrics`, and the other metrics are still read.
#[tokio::test]
async fn a_refused_query_type_is_skipped_and_named() {
    let fake = fake_with(FakeOptions {
        member_query_types: [
            "IMPRESSION",
            "MEMBERS_REACHED",
            "REACTION",
            "COMMENT",
            "RESHARE",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    })
    .await;
    let conn = connector(&fake, |_| {});
    let ctx = ctx(&fake, "m1", "urn:li:person:m1", None);
    let a = fake.add_external_post("urn:li:person:m1", false);
    let b = fake.add_external_post("urn:li:person:m1", false);
    let expected = fake.set_post_metrics(&a, &all_metrics()).await;
    assert_eq!(expected.saves, None);
    fake.set_post_metrics(&b, &all_metrics()).await;
    let report = fetch(&conn, &ctx, &[&a, &b]).await;
    assert_eq!(report.unknown_metrics, vec!["POST_SAVE".to_owned()]);
    assert_eq!(report.unavailable, None);
    for answer in &report.answers {
        assert_eq!(measured(answer).0, &expected);
    }
    let saves = queries(&fake, ANALYTICS)
        .into_iter()
        .filter(|q| q.contains("queryType=POST_SAVE"))
        .count();
    assert_eq!(saves, 1, "the refused queryType is asked once");
}

/// A deleted post is `Gone`; in an organization batch refused for one post, the batch is asked
/// post by post and the others are still measured.
#[tokio::test]
async fn deleted_posts_are_gone() {
    let fake = fake_with(FakeOptions::default()).await;
    let conn = connector(&fake, |_| {});
    let member = ctx(&fake, "m1", "urn:li:person:m1", None);
    let post = fake.add_external_post("urn:li:person:m1", false);
    fake.set_post_metrics(&post, &all_metrics()).await;
    fake.delete_post(&post);
    let report = fetch(&conn, &member, &[&post]).await;
    assert_eq!(report.answers, vec![MetricsAnswer::Gone]);

    fake.add_admin("m1", "42");
    let org = "urn:li:organization:42";
    let admin = ctx(&fake, "m1", org, None);
    let kept = fake.add_external_post(org, false);
    let gone = fake.add_external_post(org, false);
    fake.set_post_metrics(&kept, &all_metrics()).await;
    fake.delete_post(&gone);
    // Another organization's post: LinkedIn's "Unpermitted fields" 403, about that post only.
    let foreign = fake.add_external_post("urn:li:organization:77", false);
    let report = fetch(&conn, &admin, &[&gone, &kept, &foreign]).await;
    assert_eq!(report.unavailable, None);
    assert_eq!(report.answers[0], MetricsAnswer::Gone);
    measured(&report.answers[1]);
    match &report.answers[2] {
        MetricsAnswer::NotYet { reason, .. } => {
            assert!(reason.contains("Unpermitted fields"), "{reason}")
        }
        other => panic!("expected not yet, got {other:?}"),
    }
}

/// Organization statistics reach back 12 months: LinkedIn has no element for an older post,
/// and the connector does not ask about a post it knows is older.
#[tokio::test]
async fn organization_posts_older_than_a_year_are_not_measured() {
    let fake = fake_with(FakeOptions::default()).await;
    fake.add_admin("m1", "42");
    let org = "urn:li:organization:42";
    let conn = connector(&fake, |_| {});
    let post = fake.add_external_post(org, false);
    fake.set_post_metrics(&post, &all_metrics()).await;
    fake.advance(std::time::Duration::from_secs(366 * 86_400));
    let admin = ctx(&fake, "m1", org, None);
    let report = fetch(&conn, &admin, &[&post]).await;
    assert!(is_not_yet(&report.answers[0]), "{:?}", report.answers[0]);
    assert_eq!(fake.calls(STATS), 1);
    let mut old = query(&post);
    old.published_at = Utc::now() - chrono::Duration::days(400);
    let report = conn
        .fetch_metrics(&admin, &[old])
        .await
        .expect("fetch_metrics");
    assert!(is_not_yet(&report.answers[0]));
    assert_eq!(fake.calls(STATS), 1, "a post past the window is not asked");
}

/// Throttles and token errors go through the connector's error mapping: the whole call fails.
#[tokio::test]
async fn throttles_and_expired_tokens_fail_the_call() {
    let fake = fake_with(FakeOptions::default()).await;
    let conn = connector(&fake, |_| {});
    let ctx = ctx(&fake, "m1", "urn:li:person:m1", None);
    let post = fake.add_external_post("urn:li:person:m1", false);
    fake.set_post_metrics(&post, &all_metrics()).await;
    fake.throttle(ANALYTICS, 1);
    let err = conn
        .fetch_metrics(&ctx, &[query(&post)])
        .await
        .expect_err("throttled");
    assert!(matches!(err, ConnectorError::RateLimited { .. }), "{err:?}");
    fake.expire_all_access_tokens();
    let err = conn
        .fetch_metrics(&ctx, &[query(&post)])
        .await
        .expect_err("expired");
    assert!(matches!(err, ConnectorError::AuthExpired), "{err:?}");
}

/// A refreshed token keeps its grant's scopes, so a refresh does not restore revoked insights.
#[tokio::test]
async fn revoked_insights_stay_revoked_after_a_refresh() {
    let fake = fake_with(FakeOptions::default()).await;
    let conn = connector(&fake, |_| {});
    let mut ctx = ctx(&fake, "m1", "urn:li:person:m1", None);
    let post = fake.add_external_post("urn:li:person:m1", false);
    fake.set_post_metrics(&post, &all_metrics()).await;
    fake.revoke_analytics("m1");
    ctx.credentials = conn.refresh(&ctx.credentials).await.expect("refresh");
    let scope = ctx.credentials.extra["scope"].as_str().unwrap_or("");
    assert!(!scope.contains("r_member_postAnalytics"), "{scope}");
    let report = fetch(&conn, &ctx, &[&post]).await;
    assert_eq!(report.unavailable.as_deref(), Some(MEMBER_SCOPE));
}
