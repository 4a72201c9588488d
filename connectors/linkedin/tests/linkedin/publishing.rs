//! The LinkedIn connector against its fake over loopback HTTP: the publish flow, token
//! refresh, throttling, rejections, and the at-most-once cases.

use std::time::Duration;

use chrono::Utc;
use connector_linkedin::fake::{FakeLinkedIn, FakeOptions, Fault, FaultAction};
use connector_linkedin::{LinkedIn, LinkedInConfig};
use pressroom_connector::{
    AccountRef, Connector, ConnectorError, Credentials, MediaRef, PostDraft, PublishCtx, Reconciled,
};
use secrecy::SecretString;
use serde_json::json;

struct Setup {
    fake: FakeLinkedIn,
    conn: LinkedIn,
    ctx: PublishCtx,
    draft: PostDraft,
    _dir: tempfile::TempDir,
}

async fn setup_with(
    opts: FakeOptions,
    author: &str,
    tweak: impl FnOnce(&mut LinkedInConfig),
) -> Setup {
    let fake = FakeLinkedIn::start_with(opts).await.expect("fake starts");
    let mut cfg = fake.config();
    tweak(&mut cfg);
    let conn = LinkedIn::new(cfg).expect("connector builds");
    let grant = fake.grant("m1");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.jpg");
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend(std::iter::repeat_n(7u8, 2048));
    std::fs::write(&path, &jpeg).expect("write rendition");
    let caption = "Launch day (finally) #news — 50% off_today!".to_owned();
    let draft = PostDraft {
        cover: 0,
        format: pressroom_connector::PostFormat::Single,
        caption: caption.clone(),
        media: vec![MediaRef {
            alt_text: None,
            path,
            mime: "image/jpeg".into(),
            width: 1200,
            height: 627,
            bytes: jpeg.len() as u64,
            sha256: "ab".repeat(32),
            public_url: None,
        }],
    };
    let ctx = PublishCtx {
        account: AccountRef {
            id: "acc-1".into(),
            workspace_id: "ws-1".into(),
            external_id: author.into(),
        },
        credentials: Credentials {
            access_token: SecretString::from(grant.access_token),
            refresh_token: Some(SecretString::from(grant.refresh_token)),
            expires_at: Some(grant.expires_at),
            extra: json!({}),
        },
        attempt_id: "att-1".into(),
        checkpoint: None,
        committing_since: None,
        caption,
        media_sha256: vec!["ab".repeat(32)],
        taken_remote_ids: Vec::new(),
        checkpointer: None,
    };
    Setup {
        fake,
        conn,
        ctx,
        draft,
        _dir: dir,
    }
}

async fn setup() -> Setup {
    setup_with(FakeOptions::default(), "urn:li:person:m1", |_| {}).await
}

#[tokio::test]
async fn member_image_post_is_published_once_with_versioned_headers() {
    let s = setup().await;
    assert!(s.conn.validate(&s.draft).is_ok());
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let published = s.conn.commit(&s.ctx, &prepared).await.expect("commit");

    let posts = s.fake.posts();
    assert_eq!(s.fake.commits(), 1);
    assert_eq!(posts.len(), 1);
    assert_eq!(published.remote_id, posts[0].id);
    assert!(published.remote_id.starts_with("urn:li:share:"));
    assert_eq!(
        published.url.as_deref(),
        Some(format!("https://www.linkedin.com/feed/update/{}", posts[0].id).as_str())
    );
    // Escaped for the little-text format, so LinkedIn stored all of it.
    assert!(!posts[0].truncated, "stored: {}", posts[0].commentary);
    assert_eq!(
        posts[0].commentary,
        connector_linkedin::escape_little_text(&s.draft.caption)
    );
    let image = posts[0].image.clone().expect("post has the image");
    assert_eq!(s.fake.uploaded_bytes(&image), Some(2052));

    for r in s
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/rest/"))
    {
        assert_eq!(
            r.header("linkedin-version"),
            Some("202601"),
            "{}",
            r.endpoint
        );
        assert_eq!(r.header("x-restli-protocol-version"), Some("2.0.0"));
    }
    let order: Vec<_> = s.fake.requests().into_iter().map(|r| r.endpoint).collect();
    assert_eq!(
        order,
        [
            "POST /rest/images",
            "PUT /dms-uploads/{id}",
            "POST /rest/posts"
        ]
    );

    let mut ctx = s.ctx.clone();
    ctx.committing_since = Some(Utc::now());
    let found = s
        .conn
        .reconcile(&ctx, Some(&prepared))
        .await
        .expect("reconcile");
    assert_eq!(found, Reconciled::Landed(published));
}

#[tokio::test]
async fn organization_author_waits_for_the_image_to_be_available() {
    let opts = FakeOptions {
        image_processing: Duration::from_millis(300),
        ..Default::default()
    };
    let s = setup_with(opts, "urn:li:organization:42", |_| {}).await;
    s.fake.add_admin("m1", "42");
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    assert!(s.fake.calls("GET /rest/images/{urn}") >= 1);
    let published = s.conn.commit(&s.ctx, &prepared).await.expect("commit");
    // Prepare waited for AVAILABLE, so LinkedIn took the first create.
    assert_eq!(s.fake.calls("POST /rest/posts"), 1);
    assert_eq!(s.fake.posts()[0].author, "urn:li:organization:42");
    assert_eq!(s.fake.posts()[0].id, published.remote_id);
}

#[tokio::test]
async fn posting_for_an_organization_one_does_not_administer_disconnects() {
    let s = setup_with(FakeOptions::default(), "urn:li:organization:99", |_| {}).await;
    let err = s
        .conn
        .prepare(&s.ctx, &s.draft)
        .await
        .expect_err("not an admin");
    assert!(
        matches!(err, ConnectorError::Disconnected(ref m) if m.contains("ACCESS_DENIED")),
        "{err:?}"
    );
}

#[tokio::test]
async fn expired_token_is_refreshed_once_and_the_publish_retried() {
    let s = setup().await;
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    s.fake.advance(Duration::from_secs(61 * 24 * 3600));
    let err = s.conn.commit(&s.ctx, &prepared).await.expect_err("expired");
    assert!(matches!(err, ConnectorError::AuthExpired), "{err:?}");
    assert_eq!(s.fake.commits(), 0);

    let creds = s.conn.refresh(&s.ctx.credentials).await.expect("refresh");
    assert!(
        creds
            .expires_at
            .is_some_and(|t| t > Utc::now() + chrono::Duration::days(59))
    );
    assert!(creds.extra.get("refresh_token_expires_at").is_some());
    let mut ctx = s.ctx.clone();
    ctx.credentials = creds;
    s.conn
        .commit(&ctx, &prepared)
        .await
        .expect("commit after refresh");
    assert_eq!(s.fake.commits(), 1);
    assert_eq!(s.fake.calls("POST /oauth/v2/accessToken"), 1);
}

#[tokio::test]
async fn revoked_refresh_token_disconnects_the_account() {
    let s = setup().await;
    s.fake.revoke_member("m1");
    let err = s.conn.prepare(&s.ctx, &s.draft).await.expect_err("revoked");
    assert!(
        matches!(err, ConnectorError::Disconnected(ref m) if m.contains("REVOKED_ACCESS_TOKEN")),
        "{err:?}"
    );
    let err = s
        .conn
        .refresh(&s.ctx.credentials)
        .await
        .expect_err("revoked refresh");
    assert!(
        matches!(err, ConnectorError::Disconnected(ref m) if m.contains("invalid_grant")),
        "{err:?}"
    );
}

#[tokio::test]
async fn apps_without_refresh_tokens_must_reconnect() {
    let s = setup().await;
    let mut creds = s.ctx.credentials.clone();
    creds.refresh_token = None;
    let err = s.conn.refresh(&creds).await.expect_err("no refresh token");
    assert!(matches!(err, ConnectorError::Disconnected(_)));
}

#[tokio::test]
async fn a_daily_limit_without_retry_after_waits_until_the_quota_resets() {
    let s = setup().await;
    // LinkedIn's 429 names no time (PLATFORMS.md §3.4): no Retry-After, no rate headers.
    s.fake.inject(Fault::next("POST /rest/images", FaultAction::Respond {
        status: 429,
        body: json!({"status":429,"message":"Resource level throttle APPLICATION DAY limit for calls to this resource is reached."}),
        headers: Vec::new(),
    }));
    let err = s
        .conn
        .prepare(&s.ctx, &s.draft)
        .await
        .expect_err("throttled");
    let reset = connector_linkedin::daily_quota_reset(Utc::now());
    assert!(
        matches!(err, ConnectorError::RateLimited { retry_after: Some(d) } if d >= reset && d <= reset + Duration::from_secs(5)),
        "{err:?}, quotas reset in {reset:?}"
    );
}

#[tokio::test]
async fn server_errors_in_prepare_are_transient_and_a_retry_succeeds() {
    let s = setup().await;
    s.fake.inject(Fault::respond(
        "PUT /dms-uploads/{id}",
        503,
        json!("Service Unavailable"),
    ));
    let err = s.conn.prepare(&s.ctx, &s.draft).await.expect_err("503");
    assert!(matches!(err, ConnectorError::Transient(_)), "{err:?}");
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("retry");
    s.conn.commit(&s.ctx, &prepared).await.expect("commit");
    assert_eq!(s.fake.commits(), 1);
}

#[tokio::test]
async fn prepare_resumes_from_its_checkpoint_without_uploading_again() {
    let s = setup().await;
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let mut ctx = s.ctx.clone();
    ctx.checkpoint = Some(prepared.checkpoint.clone());
    let again = s.conn.prepare(&ctx, &s.draft).await.expect("prepare again");
    assert_eq!(again, prepared);
    assert_eq!(s.fake.calls("POST /rest/images"), 1);
}

#[tokio::test]
async fn content_rejection_is_permanent_with_linkedin_reason() {
    let s = setup().await;
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    s.fake.inject(Fault::respond("POST /rest/posts", 422, json!({
        "status": 422, "message": "ERROR :: /commentary :: Content is a duplicate of urn:li:share:123"
    })));
    let err = s
        .conn
        .commit(&s.ctx, &prepared)
        .await
        .expect_err("duplicate");
    assert!(
        matches!(err, ConnectorError::Rejected(ref m) if m.contains("duplicate")),
        "{err:?}"
    );
    assert_eq!(s.fake.commits(), 0);
}

#[tokio::test]
async fn a_sunset_version_is_a_configuration_error() {
    let s = setup_with(FakeOptions::default(), "urn:li:person:m1", |c| {
        c.linkedin_version = "202301".into()
    })
    .await;
    let err = s.conn.prepare(&s.ctx, &s.draft).await.expect_err("426");
    assert!(
        matches!(err, ConnectorError::Rejected(ref m) if m.contains("426") && m.contains("linkedin_version")),
        "{err:?}"
    );
}

#[tokio::test]
async fn timeout_after_linkedin_accepted_is_reconciled_without_a_second_post() {
    let s = setup_with(FakeOptions::default(), "urn:li:person:m1", |c| {
        c.timeout_secs = 1
    })
    .await;
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    s.fake.inject(Fault::next(
        "POST /rest/posts",
        FaultAction::AcceptThenStall { ms: 2500 },
    ));
    let mut ctx = s.ctx.clone();
    ctx.committing_since = Some(Utc::now());
    let err = s.conn.commit(&ctx, &prepared).await.expect_err("timeout");
    assert!(matches!(err, ConnectorError::OutcomeUnknown(_)), "{err:?}");

    let found = s
        .conn
        .reconcile(&ctx, Some(&prepared))
        .await
        .expect("reconcile");
    let Reconciled::Landed(p) = found else {
        panic!("expected Landed, got {found:?}")
    };
    assert_eq!(p.remote_id, s.fake.posts()[0].id);
    assert_eq!(s.fake.commits(), 1);
    assert_eq!(s.fake.calls("POST /rest/posts"), 1);
}

#[tokio::test]
async fn server_error_on_create_is_unknown_then_absent_then_committed_once() {
    let s = setup().await;
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    s.fake.inject(Fault::respond(
        "POST /rest/posts",
        500,
        json!({"status":500,"message":"Internal Server Error"}),
    ));
    let mut ctx = s.ctx.clone();
    ctx.committing_since = Some(Utc::now());
    let err = s.conn.commit(&ctx, &prepared).await.expect_err("500");
    assert!(matches!(err, ConnectorError::OutcomeUnknown(_)), "{err:?}");
    assert_eq!(
        s.conn
            .reconcile(&ctx, Some(&prepared))
            .await
            .expect("reconcile"),
        Reconciled::Absent
    );
    s.conn
        .commit(&ctx, &prepared)
        .await
        .expect("second commit after confirmed absence");
    assert_eq!(s.fake.commits(), 1);
}

/// Without a checkpoint reconcile matches by commentary; an earlier post with the same text
/// that another post of ours holds is not this one: found once, then skipped.
#[tokio::test]
async fn reconcile_by_commentary_skips_a_post_another_post_holds() {
    let s = setup().await;
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let first = s.conn.commit(&s.ctx, &prepared).await.expect("commit");
    let mut ctx = s.ctx.clone();
    ctx.committing_since = Some(Utc::now());
    assert_eq!(
        s.conn.reconcile(&ctx, None).await.expect("reconcile"),
        Reconciled::Landed(first.clone()),
        "the post with this commentary, when nothing holds it"
    );
    ctx.taken_remote_ids = vec![first.remote_id];
    assert_eq!(
        s.conn.reconcile(&ctx, None).await.expect("reconcile"),
        Reconciled::Absent,
        "the same text held by another post is not this post"
    );
}

#[tokio::test]
async fn oauth_code_exchange_against_the_fake() {
    let s = setup().await;
    let spec = s.conn.oauth().expect("oauth spec");
    let code = s.fake.mint_code("m2");
    let resp: serde_json::Value = reqwest::Client::new()
        .post(&spec.token_url)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1/cb"),
            ("client_id", connector_linkedin::fake::CLIENT_ID),
            ("client_secret", connector_linkedin::fake::CLIENT_SECRET),
        ])
        .send()
        .await
        .expect("token call")
        .json()
        .await
        .expect("json");
    assert_eq!(resp["expires_in"], 5_184_000);
    assert!(resp["access_token"].as_str().is_some());
    assert!(spec.authorize_url.ends_with("/oauth/v2/authorization"));
}

#[tokio::test]
async fn compliance_kit() {
    let fake = FakeLinkedIn::start().await.expect("fake starts");
    pressroom_connector::testkit::run_all(&fake).await;
}

#[tokio::test]
async fn faults_and_journal_over_the_control_api() {
    let s = setup().await;
    let base = s.fake.base_url();
    let http = reqwest::Client::new();
    let status = http
        .post(base.join("/__fake/inject").expect("url"))
        .json(&json!([{
            "endpoint": "POST /rest/images",
            "action": { "type": "respond", "status": 503, "body": "Service Unavailable" }
        }]))
        .send()
        .await
        .expect("inject")
        .status();
    assert_eq!(status, 204);
    let err = s.conn.prepare(&s.ctx, &s.draft).await.expect_err("503");
    assert!(matches!(err, ConnectorError::Transient(_)), "{err:?}");
    let journal: serde_json::Value = http
        .get(base.join("/__fake/requests").expect("url"))
        .send()
        .await
        .expect("journal")
        .json()
        .await
        .expect("json");
    assert_eq!(journal[0]["endpoint"], "POST /rest/images");
    assert_eq!(journal[0]["query"], "action=initializeUpload");
}

/// Alt text goes on `content.media` (PLATFORMS.md §8.3d); the first comment goes through
/// `/rest/socialActions/{urn}/comments` once, even when its answer is lost (§8.3c).
#[tokio::test]
async fn alt_text_and_a_first_comment_posted_once() {
    let mut s = setup_with(FakeOptions::default(), "urn:li:person:m1", |c| {
        c.timeout_secs = 1
    })
    .await;
    s.draft.media[0].alt_text = Some("A red mug on an oak table".into());
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let published = s.conn.commit(&s.ctx, &prepared).await.expect("commit");
    let posts = s.fake.posts();
    assert_eq!(
        posts[0].alt_text.as_deref(),
        Some("A red mug on an oak table")
    );

    let text = "Read more: example.com #launch";
    s.fake.inject(Fault::next(
        "POST /rest/socialActions/{urn}/comments",
        FaultAction::AcceptThenStall { ms: 2500 },
    ));
    let lost = s.conn.comment(&s.ctx, &published.remote_id, text).await;
    assert!(
        matches!(lost, Err(ConnectorError::OutcomeUnknown(_))),
        "{lost:?}"
    );
    let found = s
        .conn
        .find_comment(&s.ctx, &published.remote_id, text)
        .await
        .expect("list");
    let comments = s.fake.comments();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].actor, "urn:li:person:m1");
    assert_eq!(comments[0].object, published.remote_id);
    assert_eq!(found.as_deref(), Some(comments[0].id.as_str()));
    // A comment on a post that does not exist is refused, and nothing is stored.
    let missing = s.conn.comment(&s.ctx, "urn:li:share:1", text).await;
    assert!(missing.is_err(), "{missing:?}");
    assert_eq!(s.fake.comments().len(), 1);
}

/// MultiImage (PLATFORMS.md §8.3a): each image uploaded, one post with all of them in order,
/// each with its alt text; a post with one image in `multiImage` is refused.
#[tokio::test]
async fn a_multi_image_post_holds_every_image_in_order() {
    let mut s = setup().await;
    s.draft.format = pressroom_connector::PostFormat::Carousel;
    let first = s.draft.media[0].clone();
    s.draft.media = (0..3)
        .map(|i| {
            let mut m = first.clone();
            m.alt_text = Some(format!("image {i}"));
            m
        })
        .collect();
    assert!(s.conn.validate(&s.draft).is_ok());
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let published = s.conn.commit(&s.ctx, &prepared).await.expect("commit");
    let posts = s.fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].id, published.remote_id);
    let alts: Vec<_> = posts[0].images.iter().map(|(_, a)| a.clone()).collect();
    assert_eq!(
        alts,
        [
            Some("image 0".into()),
            Some("image 1".into()),
            Some("image 2".into())
        ]
    );
    let mut ctx = s.ctx.clone();
    ctx.committing_since = Some(Utc::now());
    let found = s
        .conn
        .reconcile(&ctx, Some(&prepared))
        .await
        .expect("reconcile");
    assert_eq!(found, Reconciled::Landed(published));
    s.draft.media.truncate(1);
    assert!(
        s.conn.validate(&s.draft).is_err(),
        "one image is no MultiImage post"
    );
}
