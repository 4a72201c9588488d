//! The Snapchat connector against its fake over loopback HTTP.

use std::time::Duration;

use connector_snapchat::fake::{FakeOptions, FakeSnapchat};
use connector_snapchat::{PostAs, Snapchat, SnapchatConfig};
use pressroom_connector::testkit::{FakeControls, Fault as KitFault, Outcome, Runner};
use pressroom_connector::{
    AccountRef, Connector, ConnectorError, Credentials, PostDraft, PublishCtx, Reconciled,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

#[path = "snapchat/insights.rs"]
mod insights;

struct Setup {
    fake: FakeSnapchat,
    conn: Snapchat,
    ctx: PublishCtx,
    draft: PostDraft,
}

async fn setup_with(opts: FakeOptions, tweak: impl FnOnce(&mut SnapchatConfig)) -> Setup {
    let fake = FakeSnapchat::start_with(opts).await.expect("fake starts");
    let mut cfg = fake.config();
    tweak(&mut cfg);
    let conn = Snapchat::new(cfg).expect("builds");
    let g = fake.grant("pp-1");
    let media = fake.media().jpeg_media(1080, 1920).expect("media");
    let ctx = PublishCtx {
        account: AccountRef {
            id: "acc".into(),
            workspace_id: "ws".into(),
            external_id: "pp-1".into(),
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
        caption: "Fresh drop".into(),
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
            caption: "Fresh drop".into(),
            media: vec![media],
        },
    }
}

async fn setup() -> Setup {
    setup_with(FakeOptions::default(), |_| {}).await
}

#[tokio::test]
async fn story_is_posted_once_after_an_encrypted_upload() {
    let s = setup().await;
    assert!(s.conn.validate(&s.draft).is_ok());
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let published = s.conn.commit(&s.ctx, &prepared).await.expect("commit");
    let stories = s.fake.stories();
    assert_eq!(stories.len(), 1);
    assert_eq!(s.fake.commits(), 1);
    assert_eq!(published.remote_id, stories[0].id);
    assert_eq!(
        published.url.as_deref(),
        Some("https://www.snapchat.com/add/user_pp-1")
    );
    let media = s.fake.media_objects();
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].status, "READY");
    // The fake decrypted our upload back to the rendition's exact size.
    assert_eq!(media[0].plain_bytes, Some(s.draft.media[0].bytes as usize));
    assert_ne!(
        media[0].parts[0].len() as u64,
        s.draft.media[0].bytes,
        "ciphertext, not the plain file"
    );
    let order: Vec<_> = s.fake.requests().into_iter().map(|r| r.endpoint).collect();
    assert_eq!(
        order,
        [
            "GET /v1/public_profiles/my_profile",
            "POST /v1/public_profiles/{profile_id}/media",
            "POST /v1/public_profiles/{profile_id}/media/{media_id}/multipart-upload-v2",
            "POST /v1/public_profiles/{profile_id}/media/{media_id}/multipart-upload-v2",
            "POST /v1/public_profiles/{profile_id}/stories",
        ]
    );
    let r = s
        .conn
        .reconcile(&s.ctx, Some(&prepared))
        .await
        .expect("reconcile");
    assert_eq!(r, Reconciled::Landed(published));
}

#[tokio::test]
async fn saved_story_uses_the_caption_as_title() {
    let s = setup_with(FakeOptions::default(), |c| c.post_as = PostAs::SavedStory).await;
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let published = s.conn.commit(&s.ctx, &prepared).await.expect("commit");
    let stories = s.fake.stories();
    assert_eq!(stories[0].kind, "saved_story");
    assert_eq!(stories[0].title.as_deref(), Some("Fresh drop"));
    assert_eq!(published.remote_id, stories[0].id);
    let long = PostDraft {
        cover: 0,
        format: pressroom_connector::PostFormat::Single,
        caption: "x".repeat(46),
        ..s.draft.clone()
    };
    assert!(s.conn.validate(&long).is_err(), "titles are limited to 45");
}

#[tokio::test]
async fn not_allowlisted_refuses_to_build_and_the_platform_answers_403() {
    let fake = FakeSnapchat::start().await.expect("fake");
    let mut cfg = fake.config();
    cfg.allowlisted = false;
    assert!(Snapchat::new(cfg).is_err());
    let s = setup().await;
    s.fake.set_allowlisted(false);
    let err = s.conn.prepare(&s.ctx, &s.draft).await.expect_err("403");
    assert!(
        matches!(err, ConnectorError::Disconnected(ref m) if m.contains("Forbidden")),
        "{err:?}"
    );
}

#[tokio::test]
async fn non_9_16_media_fails_validation() {
    let s = setup().await;
    let square = s.fake.media().jpeg_media(1080, 1080).expect("media");
    let draft = PostDraft {
        cover: 0,
        format: pressroom_connector::PostFormat::Single,
        caption: "x".into(),
        media: vec![square],
    };
    let issues = s.conn.validate(&draft).expect_err("not 9:16");
    assert!(issues.iter().any(|i| i.rule == "aspect"));
}

#[tokio::test]
async fn expired_token_is_401_and_refresh_keeps_the_refresh_token() {
    let s = setup().await;
    s.fake.advance(std::time::Duration::from_secs(3601));
    let err = s.conn.prepare(&s.ctx, &s.draft).await.expect_err("expired");
    assert!(matches!(err, ConnectorError::AuthExpired), "{err:?}");
    let fresh = s.conn.refresh(&s.ctx.credentials).await.expect("refresh");
    assert!(
        fresh.refresh_token.is_none(),
        "Snap omitted it; the stored one stays"
    );
    let merged = s.ctx.credentials.merge_refreshed(fresh);
    assert_eq!(
        merged
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        s.ctx
            .credentials
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned())
    );
    let mut ctx = s.ctx.clone();
    ctx.credentials = merged;
    s.conn
        .prepare(&ctx, &s.draft)
        .await
        .expect("prepare with the new token");
}

#[tokio::test]
async fn rotating_refresh_returns_the_new_token() {
    let s = setup_with(
        FakeOptions {
            rotate_refresh: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let fresh = s.conn.refresh(&s.ctx.credentials).await.expect("refresh");
    assert!(fresh.refresh_token.is_some());
}

#[tokio::test]
async fn prepare_resumes_from_a_fresh_checkpoint() {
    let s = setup().await;
    let prepared = s.conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let mut ctx = s.ctx.clone();
    ctx.checkpoint = Some(prepared.checkpoint.clone());
    let again = s.conn.prepare(&ctx, &s.draft).await.expect("again");
    assert_eq!(again, prepared);
    assert_eq!(
        s.fake.calls("POST /v1/public_profiles/{profile_id}/media"),
        1
    );
}

#[tokio::test]
async fn compliance_kit() {
    let fake = FakeSnapchat::start().await.expect("fake starts");
    pressroom_connector::testkit::run_all(&fake).await;
}

#[tokio::test]
async fn a_missing_story_proves_absence_only_after_timeout_plus_listing_lag() {
    let s = setup_with(FakeOptions::default(), |c| {
        c.timeout_secs = 7;
        c.listing_lag_secs = 11;
    })
    .await;
    assert_eq!(s.conn.absent_final_after(), Duration::from_secs(18));
    // The documented default: 30 s timeout + 60 s lag.
    let cfg = SnapchatConfig::new("c", SecretString::from("s"));
    assert_eq!(cfg.listing_lag_secs, 60);
}

#[tokio::test]
async fn a_lost_story_answer_is_found_once_the_list_catches_up() {
    let opts = FakeOptions {
        listing_lag: chrono::Duration::seconds(2),
        ..Default::default()
    };
    let fake = FakeSnapchat::start_with(opts).await.expect("fake starts");
    let runner = Runner::new(fake.connector());
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    FakeControls::inject(&fake, KitFault::AcceptThenHang).await;
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(
        matches!(
            outcome,
            Outcome::Committed {
                via_reconcile: true,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(attempt.log.commits, 1, "the story post was not repeated");
    assert!(
        attempt.log.early_absents > 0,
        "the list lagged behind the post: {:?}",
        attempt.log
    );
    assert_eq!(fake.published_count(&account).await, 1);
}

#[tokio::test]
async fn chaos_soak() {
    let opts = FakeOptions {
        listing_lag: chrono::Duration::seconds(2),
        ..Default::default()
    };
    let fake = FakeSnapchat::start_with(opts).await.expect("fake starts");
    pressroom_connector::testkit::chaos_soak(&fake).await;
    assert_eq!(fake.stories().len(), 30, "one story per post");
}

/// A failed step of prepare's four calls is the only one the next try repeats: the media
/// object made before a failed part upload is used again (same key and IV), not made anew.
#[tokio::test]
async fn a_failed_upload_resumes_from_the_media_object_already_made() {
    let fake = FakeSnapchat::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let draft = fake.valid_draft().await;
    let upload = "POST /v1/public_profiles/{profile_id}/media/{media_id}/multipart-upload-v2";
    fake.inject(connector_snapchat::fake::Fault::respond(
        upload,
        500,
        json!({ "request_status": "ERROR", "request_id": "req-test", "debug_message": "Internal server error", "display_message": "Internal server error", "error_code": "E5000" }),
    ));
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(
        matches!(outcome, Outcome::Committed { .. }),
        "{outcome:?} after {:?}",
        attempt.log
    );
    assert_eq!(attempt.log.prepares, 2, "{:?}", attempt.log);
    assert_eq!(fake.calls("GET /v1/public_profiles/my_profile"), 1);
    assert_eq!(fake.calls("POST /v1/public_profiles/{profile_id}/media"), 1);
    // ADD (refused), ADD, FINALIZE; the fake decrypted the part with the media's key and IV.
    assert_eq!(fake.calls(upload), 3);
    assert_eq!(fake.stories().len(), 1);
    assert_eq!(fake.commits(), 1);
}

/// Prepares the draft `n` times at once on one account's token, each trying up to `tries`
/// times, again after the wait a rate limit names (as the worker would), and answers how many
/// gave up.
async fn concurrent_prepares(s: &Setup, n: usize, tries: usize) -> usize {
    let tries = (0..n).map(|_| async {
        for _ in 0..tries {
            match s.conn.prepare(&s.ctx, &s.draft).await {
                Ok(_) => return true,
                Err(ConnectorError::RateLimited { retry_after }) => {
                    tokio::time::sleep(retry_after.unwrap_or(Duration::from_secs(1))).await;
                }
                Err(e) => panic!("prepare failed: {e}"),
            }
        }
        false
    });
    let done = futures::future::join_all(tries).await;
    done.into_iter().filter(|ok| !ok).count()
}

/// Snap answers 429 above about 10 calls a second per access token (PLATFORMS.md §5.5, §6.6)
/// and so does the fake; the connector keeps each token under that, so a burst of posts on
/// one account draws none (its calls wait their turn, or come back "rate limited" with the
/// wait before anything is sent).
#[tokio::test]
async fn a_burst_on_one_token_is_paced_under_snaps_rate() {
    // Unpaced, six prepares at once (four calls each) run into the fake's limit.
    let s = setup_with(FakeOptions::default(), |c| {
        c.requests_per_second_per_token = 0
    })
    .await;
    let gave_up = concurrent_prepares(&s, 6, 1).await;
    assert!(gave_up > 0, "some were refused");
    assert!(
        s.fake.rate_limited_calls() > 0,
        "the fake enforces Snap's per-token rate"
    );

    // Paced (the default), the same burst meets no 429. A prepare told to wait starts over
    // (no checkpointer here), so under a loaded machine one can be sent back many times
    // before the others are done: the bound on tries is generous, the 429 count exact.
    let s = setup().await;
    let gave_up = concurrent_prepares(&s, 6, 200).await;
    assert_eq!(gave_up, 0);
    assert_eq!(
        s.fake.rate_limited_calls(),
        0,
        "the connector kept the token under the rate"
    );
    assert!(s.fake.media_objects().len() >= 6);
}
