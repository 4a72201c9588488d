//! The TikTok connector against its fake over loopback HTTP.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use connector_tiktok::fake::{FakeOptions, FakeTikTok, Fault, FaultAction};
use connector_tiktok::{PostMode, TikTok, TikTokConfig};
use pressroom_connector::testkit::media::sample_png;
use pressroom_connector::testkit::{FakeControls, MemoryCheckpoints, Outcome, Runner};
use pressroom_connector::{
    AccountRef, Connector, ConnectorError, Credentials, PostDraft, Prepared, PublishCtx, Reconciled,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

#[path = "tiktok/insights.rs"]
mod insights;

struct Setup {
    fake: FakeTikTok,
    conn: TikTok,
    ctx: PublishCtx,
    draft: PostDraft,
}

async fn setup_with(opts: FakeOptions, tweak: impl FnOnce(&mut TikTokConfig)) -> Setup {
    let fake = FakeTikTok::start_with(opts).await.expect("fake starts");
    let mut cfg = fake.config();
    tweak(&mut cfg);
    let conn = TikTok::new(cfg).expect("builds");
    let g = fake.grant("oid-1");
    let media = fake.media().jpeg_media(1080, 1350).expect("media");
    let caption = "Autumn drop 🍂 — 20% off\nsee bio".to_owned();
    let ctx = PublishCtx {
        account: AccountRef {
            id: "acc".into(),
            workspace_id: "ws".into(),
            external_id: "oid-1".into(),
        },
        credentials: Credentials {
            access_token: SecretString::from(g.access_token),
            refresh_token: Some(SecretString::from(g.refresh_token)),
            expires_at: Some(g.expires_at),
            extra: json!({}),
        },
        attempt_id: "att-1".into(),
        checkpoint: None,
        committing_since: None,
        caption: caption.clone(),
        media_sha256: vec![media.sha256.clone()],
        taken_remote_ids: Vec::new(),
        checkpointer: None,
    };
    Setup {
        fake,
        conn,
        ctx,
        draft: PostDraft {
            cover: 0,
            format: pressroom_connector::PostFormat::Single,
            caption,
            media: vec![media],
        },
    }
}

async fn setup() -> Setup {
    setup_with(FakeOptions::default(), |_| {}).await
}

#[tokio::test]
async fn direct_photo_post_is_published_once_after_creator_info() {
    let s = setup().await;
    assert!(s.conn.validate(&s.draft).is_ok());
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let published = s.conn.commit(&s.ctx, &prepared).await.expect("commit");
    let pubs = s.fake.publishes();
    assert_eq!(pubs.len(), 1);
    assert_eq!(s.fake.commits(), 1);
    assert_eq!(published.remote_id, pubs[0].post_id);
    assert_eq!(
        published.url.as_deref(),
        Some(
            format!(
                "https://www.tiktok.com/@creator_oid-1/photo/{}",
                pubs[0].post_id
            )
            .as_str()
        )
    );
    assert_eq!(pubs[0].title, "Autumn drop 🍂 — 20% off");
    assert_eq!(pubs[0].description, s.draft.caption);
    assert_eq!(pubs[0].privacy_level.as_deref(), Some("PUBLIC_TO_EVERYONE"));
    assert_eq!(
        pubs[0].photo_images,
        vec![s.draft.media[0].public_url.clone().expect("url")]
    );
    assert!(
        s.fake.media().fetches() >= 1,
        "TikTok pulled the photo from our URL"
    );
    let order: Vec<_> = s.fake.requests().into_iter().map(|r| r.endpoint).collect();
    assert_eq!(order[0], "POST /v2/post/publish/creator_info/query/");
    assert_eq!(order[1], "POST /v2/post/publish/content/init/");
    assert!(
        order[2..]
            .iter()
            .all(|e| e == "POST /v2/post/publish/status/fetch/")
    );
    let init = &s.fake.requests()[1];
    assert_eq!(
        init.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
}

#[tokio::test]
async fn inbox_mode_ends_in_send_to_user_inbox() {
    let s = setup_with(FakeOptions::default(), |c| {
        c.post_mode = PostMode::MediaUpload
    })
    .await;
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let published = s.conn.commit(&s.ctx, &prepared).await.expect("commit");
    let pubs = s.fake.publishes();
    assert_eq!(pubs[0].post_mode, "MEDIA_UPLOAD");
    assert_eq!(published.remote_id, pubs[0].publish_id);
    assert_eq!(published.url, None);
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_dies() {
    let s = setup().await;
    let fresh = s.conn.refresh(&s.ctx.credentials).await.expect("refresh");
    let old = s
        .ctx
        .credentials
        .refresh_token
        .as_ref()
        .expect("rt")
        .expose_secret()
        .to_owned();
    let new = fresh
        .refresh_token
        .as_ref()
        .expect("rotated")
        .expose_secret()
        .to_owned();
    assert_ne!(old, new);
    assert!(
        fresh
            .expires_at
            .is_some_and(|t| t > Utc::now() + chrono::Duration::hours(23))
    );
    // Reusing the rotated-away token is invalid_grant: the account would be disconnected.
    let err = s
        .conn
        .refresh(&s.ctx.credentials)
        .await
        .expect_err("old token is dead");
    assert!(
        matches!(err, ConnectorError::Disconnected(ref m) if m.contains("invalid_grant")),
        "{err:?}"
    );
    // The new one works.
    s.conn
        .refresh(&fresh)
        .await
        .expect("new refresh token works");
}

#[tokio::test]
async fn sandbox_refresh_errors_arrive_with_http_200() {
    let opts = FakeOptions {
        sandbox_refresh: true,
        ..Default::default()
    };
    let s = setup_with(opts, |_| {}).await;
    let err = s
        .conn
        .refresh(&s.ctx.credentials)
        .await
        .expect_err("sandbox");
    assert!(
        matches!(err, ConnectorError::Disconnected(ref m) if m.contains("invalid_grant")),
        "{err:?}"
    );
}

#[tokio::test]
async fn privacy_level_not_offered_is_rejected_in_prepare() {
    let opts = FakeOptions {
        privacy_level_options: vec!["SELF_ONLY".into()],
        ..Default::default()
    };
    let s = setup_with(opts, |_| {}).await;
    let err = s
        .conn
        .prepare(&s.ctx, &s.draft)
        .await
        .expect_err("mismatch");
    assert!(
        matches!(err, ConnectorError::Rejected(ref m) if m.contains("SELF_ONLY")),
        "{err:?}"
    );
    assert_eq!(s.fake.commits(), 0);
}

#[tokio::test]
async fn unverified_url_prefix_is_a_permanent_rejection() {
    let opts = FakeOptions {
        verified_prefixes: vec!["https://media.example.com/".into()],
        ..Default::default()
    };
    let s = setup_with(opts, |_| {}).await;
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let err = s
        .conn
        .commit(&s.ctx, &prepared)
        .await
        .expect_err("unverified");
    assert!(
        matches!(err, ConnectorError::Rejected(ref m) if m.contains("url_ownership_unverified")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_png_is_refused_by_tiktok_after_the_pull() {
    let s = setup().await;
    let png = s
        .fake
        .media()
        .media(sample_png(1080, 1350), "image/png", 1080, 1350)
        .expect("png");
    let draft = PostDraft {
        cover: 0,
        format: pressroom_connector::PostFormat::Single,
        caption: "png".into(),
        media: vec![png],
    };
    assert!(
        s.conn.validate(&draft).is_err(),
        "validate already refuses PNG"
    );
    let prepared = s.conn.prepare(&s.ctx, &draft).await.expect("prepare");
    let err = s.conn.commit(&s.ctx, &prepared).await.expect_err("FAILED");
    assert!(
        matches!(err, ConnectorError::Rejected(ref m) if m.contains("picture_size_check_failed")),
        "{err:?}"
    );
}

#[tokio::test]
async fn unreachable_photo_url_fails_with_photo_pull_failed() {
    let s = setup().await;
    let mut draft = s.draft.clone();
    draft.media[0].public_url = Some("http://127.0.0.1:9/gone.jpg".into());
    let prepared = s.conn.prepare(&s.ctx, &draft).await.expect("prepare");
    let err = s.conn.commit(&s.ctx, &prepared).await.expect_err("FAILED");
    assert!(
        matches!(err, ConnectorError::Rejected(ref m) if m.contains("photo_pull_failed")),
        "{err:?}"
    );
}

/// A ctx whose checkpoint saves land in memory, as the runtime's attempt row would hold them.
fn durable(ctx: &PublishCtx) -> (PublishCtx, Arc<MemoryCheckpoints>) {
    let saved = Arc::new(MemoryCheckpoints::default());
    let mut ctx = ctx.clone();
    ctx.checkpointer = Some(saved.checkpointer());
    (ctx, saved)
}

/// What a restarted daemon hands reconcile: the attempt's stored checkpoint, nothing else.
fn after_restart(ctx: &PublishCtx, stored: &serde_json::Value) -> (PublishCtx, Prepared) {
    let mut ctx = ctx.clone();
    ctx.checkpointer = None;
    ctx.checkpoint = Some(stored.clone());
    (
        ctx,
        Prepared {
            checkpoint: stored.clone(),
        },
    )
}

#[tokio::test]
async fn bounded_wait_hands_over_to_reconcile_by_publish_id() {
    let opts = FakeOptions {
        processing_polls: 1000,
        ..Default::default()
    };
    let s = setup_with(opts, |c| c.status_max_wait_secs = 1).await;
    let (ctx, saved) = durable(&s.ctx);
    let prepared = s.conn.prepare(&ctx, &s.draft).await.expect("prepare");
    let err = s
        .conn
        .commit(&ctx, &prepared)
        .await
        .expect_err("still processing");
    assert!(
        matches!(err, ConnectorError::OutcomeUnknown(ref m) if m.contains("p_pub_url")),
        "{err:?}"
    );
    let stored = saved
        .last()
        .expect("the publish id was saved before polling");
    let publish_id = stored["publish_id"]
        .as_str()
        .expect("publish_id")
        .to_owned();
    assert_eq!(publish_id, s.fake.publishes()[0].publish_id);
    let (ctx, prepared) = after_restart(&s.ctx, &stored);
    let r = s
        .conn
        .reconcile(&ctx, Some(&prepared))
        .await
        .expect("reconcile");
    assert!(
        matches!(r, Reconciled::Unknown(ref m) if m.contains("PROCESSING_UPLOAD")),
        "{r:?}"
    );
    assert_eq!(s.fake.commits(), 1);
}

#[tokio::test]
async fn a_restarted_daemon_reconciles_by_the_stored_publish_id() {
    let s = setup_with(FakeOptions::default(), |c| c.status_max_wait_secs = 0).await;
    let (ctx, saved) = durable(&s.ctx);
    let prepared = s.conn.prepare(&ctx, &s.draft).await.expect("prepare");
    let err = s.conn.commit(&ctx, &prepared).await.expect_err("not final");
    assert!(matches!(err, ConnectorError::OutcomeUnknown(_)), "{err:?}");
    let stored = saved.last().expect("checkpoint saved");
    // A new process: a fresh connector that never saw this commit.
    let restarted = TikTok::new(s.fake.config()).expect("builds");
    let (ctx, prepared) = after_restart(&s.ctx, &stored);
    let mut landed = None;
    for _ in 0..100 {
        match restarted
            .reconcile(&ctx, Some(&prepared))
            .await
            .expect("reconcile")
        {
            Reconciled::Landed(p) => {
                landed = Some(p);
                break;
            }
            Reconciled::Unknown(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Reconciled::Absent => panic!("the publish exists"),
        }
    }
    let landed = landed.expect("reconcile found the post");
    assert_eq!(landed.remote_id, s.fake.publishes()[0].post_id);
    let endpoints: Vec<String> = s.fake.requests().into_iter().map(|r| r.endpoint).collect();
    assert_eq!(
        endpoints
            .iter()
            .filter(|e| *e == "POST /v2/post/publish/content/init/")
            .count(),
        1,
        "init is never replayed: {endpoints:?}"
    );
    assert!(
        endpoints
            .iter()
            .all(|e| e.starts_with("POST /v2/post/publish/")),
        "only documented endpoints: {endpoints:?}"
    );
}

const INIT: &str = "POST /v2/post/publish/content/init/";
const STATUS: &str = "POST /v2/post/publish/status/fetch/";

/// TikTok's documented `internal_error` answer (PLATFORMS.md §4.3).
fn internal_error() -> serde_json::Value {
    json!({"data": {}, "error": {"code": "internal_error", "message": "Something went wrong. Please try again later.", "log_id": "L1"}})
}

#[tokio::test]
async fn internal_error_on_init_is_a_definite_failure_retried_once_posted_once() {
    let s = setup().await;
    let (ctx, saved) = durable(&s.ctx);
    let prepared = s.conn.prepare(&ctx, &s.draft).await.expect("prepare");
    s.fake.inject(Fault::respond(INIT, 500, internal_error()));
    let err = s.conn.commit(&ctx, &prepared).await.expect_err("500");
    assert!(
        matches!(err, ConnectorError::Transient(ref e) if e.to_string().contains("internal_error")),
        "{err:?}"
    );
    assert!(
        s.fake.publishes().is_empty(),
        "internal_error created nothing"
    );
    assert_eq!(saved.saves(), 0, "no publish id to store");
    // The runtime retries: one post.
    s.conn
        .commit(&ctx, &prepared)
        .await
        .expect("retried commit");
    assert_eq!(s.fake.publishes().len(), 1);
    assert_eq!(s.fake.calls(INIT), 2);
}

#[tokio::test]
async fn a_lost_init_answer_is_outcome_unknown_and_never_replayed() {
    let s = setup().await;
    let (ctx, saved) = durable(&s.ctx);
    let prepared = s.conn.prepare(&ctx, &s.draft).await.expect("prepare");
    // A gateway page instead of TikTok's envelope: the answer is lost.
    s.fake.inject(Fault::respond(
        INIT,
        504,
        json!("<html>Gateway Timeout</html>"),
    ));
    let err = s.conn.commit(&ctx, &prepared).await.expect_err("504");
    assert!(matches!(err, ConnectorError::OutcomeUnknown(_)), "{err:?}");
    // A 5xx code TikTok does not document is just as ambiguous.
    s.fake.inject(Fault::respond(
        INIT,
        503,
        json!({"data": {}, "error": {"code": "something_new", "message": "m", "log_id": "L4"}}),
    ));
    let err = s.conn.commit(&ctx, &prepared).await.expect_err("503");
    assert!(matches!(err, ConnectorError::OutcomeUnknown(_)), "{err:?}");
    assert_eq!(saved.saves(), 0, "no publish id to store");
    // Nothing in the post list: not proof of absence (moderation, private posts).
    let r = s
        .conn
        .reconcile(&ctx, Some(&prepared))
        .await
        .expect("reconcile");
    assert!(
        matches!(r, Reconciled::Unknown(ref m) if m.contains("publish_id")),
        "{r:?}"
    );
    assert_eq!(s.fake.calls(STATUS), 0);
}

#[tokio::test]
async fn a_lost_init_answer_is_found_in_the_creators_post_list() {
    let s = setup_with(FakeOptions::default(), |c| c.timeout_secs = 1).await;
    let (ctx, saved) = durable(&s.ctx);
    let mut ctx = ctx;
    ctx.committing_since = Some(Utc::now());
    let prepared = s.conn.prepare(&ctx, &s.draft).await.expect("prepare");
    s.fake
        .inject(Fault::next(INIT, FaultAction::AcceptThenStall { ms: 2500 }));
    let err = s.conn.commit(&ctx, &prepared).await.expect_err("timeout");
    assert!(matches!(err, ConnectorError::OutcomeUnknown(_)), "{err:?}");
    assert_eq!(saved.saves(), 0, "the publish id never arrived");
    let pubs = s.fake.publishes();
    assert_eq!(pubs.len(), 1, "TikTok carried the lost init out");
    let mut landed = None;
    for _ in 0..50 {
        match s
            .conn
            .reconcile(&ctx, Some(&prepared))
            .await
            .expect("reconcile")
        {
            Reconciled::Landed(p) => {
                landed = Some(p);
                break;
            }
            Reconciled::Unknown(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Reconciled::Absent => panic!("a post list never proves absence"),
        }
    }
    let landed = landed.expect("the post list shows the post");
    assert_eq!(landed.remote_id, pubs[0].post_id);
    assert_eq!(s.fake.calls(INIT), 1);
}

#[tokio::test]
async fn a_lost_init_answer_not_listed_yet_stays_unknown() {
    let opts = FakeOptions {
        listing_lag: chrono::Duration::hours(2),
        ..Default::default()
    };
    let s = setup_with(opts, |c| c.timeout_secs = 1).await;
    let mut ctx = s.ctx.clone();
    ctx.committing_since = Some(Utc::now());
    let prepared = s.conn.prepare(&ctx, &s.draft).await.expect("prepare");
    s.fake
        .inject(Fault::next(INIT, FaultAction::AcceptThenStall { ms: 2500 }));
    let err = s.conn.commit(&ctx, &prepared).await.expect_err("timeout");
    assert!(matches!(err, ConnectorError::OutcomeUnknown(_)), "{err:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s
        .conn
        .reconcile(&ctx, Some(&prepared))
        .await
        .expect("reconcile");
    assert!(
        matches!(r, Reconciled::Unknown(ref m) if m.contains("not proof of absence")),
        "{r:?}"
    );
}

#[tokio::test]
async fn an_expired_token_while_polling_is_auth_expired_and_the_next_commit_resumes() {
    let s = setup().await;
    let (ctx, saved) = durable(&s.ctx);
    let prepared = s.conn.prepare(&ctx, &s.draft).await.expect("prepare");
    s.fake.inject(Fault::respond(
        STATUS,
        401,
        json!({"data": {}, "error": {"code": "access_token_invalid", "message": "The access token is invalid or not found in the request.", "log_id": "L5"}}),
    ));
    let err = s.conn.commit(&ctx, &prepared).await.expect_err("401");
    assert!(matches!(err, ConnectorError::AuthExpired), "{err:?}");
    // The runtime refreshes, re-reads the attempt (its checkpoint holds the publish id) and
    // calls commit again: it resumes polling, init is not sent twice.
    let stored = saved.last().expect("publish id saved before polling");
    let fresh = s.conn.refresh(&ctx.credentials).await.expect("refresh");
    let mut ctx2 = ctx.clone();
    ctx2.credentials = ctx.credentials.merge_refreshed(fresh);
    ctx2.checkpoint = Some(stored.clone());
    let resumed = Prepared { checkpoint: stored };
    let published = s.conn.commit(&ctx2, &resumed).await.expect("resumed");
    assert_eq!(published.remote_id, s.fake.publishes()[0].post_id);
    assert_eq!(s.fake.calls(INIT), 1, "init is never replayed");
    assert_eq!(s.fake.publishes().len(), 1);
}

#[tokio::test]
async fn the_runner_refreshes_once_when_the_token_dies_while_polling() {
    let fake = FakeTikTok::start().await.expect("fake starts");
    let runner = Runner::new(fake.connector());
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    fake.inject(Fault::respond(
        STATUS,
        401,
        json!({"data": {}, "error": {"code": "access_token_invalid", "message": "expired", "log_id": "L6"}}),
    ));
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(matches!(outcome, Outcome::Committed { .. }), "{outcome:?}");
    assert_eq!(attempt.log.refreshes, 1);
    assert_eq!(fake.calls(INIT), 1, "init is never replayed");
    assert_eq!(fake.published_count(&account).await, 1);
}

#[tokio::test]
async fn a_rate_limit_without_retry_after_waits_the_configured_window() {
    let s = setup_with(FakeOptions::default(), |c| c.rate_limit_wait_secs = 7).await;
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    s.fake.inject(Fault::respond(
        "POST /v2/post/publish/content/init/",
        429,
        json!({"data": {}, "error": {"code": "rate_limit_exceeded", "message": "API rate limit was exceeded, please retry later.", "log_id": "L2"}}),
    ));
    let err = s.conn.commit(&s.ctx, &prepared).await.expect_err("429");
    assert!(
        matches!(err, ConnectorError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(7)),
        "{err:?}"
    );
    assert_eq!(s.fake.commits(), 0);
}

#[tokio::test]
async fn a_failed_publish_is_absent_and_the_next_commit_forgets_its_id() {
    let s = setup_with(FakeOptions::default(), |c| c.status_max_wait_secs = 0).await;
    let (ctx, saved) = durable(&s.ctx);
    let prepared = s.conn.prepare(&ctx, &s.draft).await.expect("prepare");
    s.fake.fail_next_publish("internal");
    // The one status poll commit makes (no wait) errs, so commit cannot see FAILED itself.
    s.fake.inject(Fault::respond(
        "POST /v2/post/publish/status/fetch/",
        500,
        json!({"data": {}, "error": {"code": "internal_error", "message": "m", "log_id": "L3"}}),
    ));
    let err = s.conn.commit(&ctx, &prepared).await.expect_err("not final");
    assert!(matches!(err, ConnectorError::OutcomeUnknown(_)), "{err:?}");
    let first = saved.last().expect("saved");
    let (rctx, rprepared) = after_restart(&ctx, &first);
    let mut absent = false;
    for _ in 0..100 {
        match s
            .conn
            .reconcile(&rctx, Some(&rprepared))
            .await
            .expect("reconcile")
        {
            Reconciled::Absent => {
                absent = true;
                break;
            }
            Reconciled::Unknown(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Reconciled::Landed(p) => panic!("FAILED publish reported landed: {p:?}"),
        }
    }
    assert!(absent, "a FAILED publish is absent");
    // Committing again (reconcile said absent) first clears the dead publish id.
    let (mut ctx2, saved2) = durable(&rctx);
    ctx2.checkpoint = Some(first.clone());
    let _ = s.conn.commit(&ctx2, &rprepared).await;
    assert_eq!(saved2.saves(), 2, "cleared, then the new publish id");
    let second = saved2.last().expect("saved");
    assert_ne!(second["publish_id"], first["publish_id"]);
    assert_eq!(s.fake.commits(), 2);
}

#[tokio::test]
async fn scope_missing_disconnects() {
    let s = setup().await;
    let g = s
        .fake
        .grant_scopes("oid-2", &["user.info.basic", "video.upload"]);
    let mut ctx = s.ctx.clone();
    ctx.credentials.access_token = SecretString::from(g.access_token);
    let prepared = s
        .conn
        .prepare(&ctx, &s.draft)
        .await
        .expect("creator info with video.upload");
    let err = s
        .conn
        .commit(&ctx, &prepared)
        .await
        .expect_err("no video.publish");
    assert!(
        matches!(err, ConnectorError::Disconnected(ref m) if m.contains("scope_not_authorized")),
        "{err:?}"
    );
}

#[tokio::test]
async fn compliance_kit() {
    let fake = FakeTikTok::start().await.expect("fake starts");
    pressroom_connector::testkit::run_all(&fake).await;
}

#[tokio::test]
async fn chaos_soak() {
    // The soak's posts come faster than TikTok's 6 inits a minute per token.
    let opts = FakeOptions {
        inits_per_minute: 1000,
        ..Default::default()
    };
    let fake = FakeTikTok::start_with(opts).await.expect("fake starts");
    pressroom_connector::testkit::chaos_soak(&fake).await;
    let inits = fake.calls(INIT) as usize;
    let made = fake.publishes().len();
    assert_eq!(made, 30, "one publish per post ({inits} init calls)");
}
