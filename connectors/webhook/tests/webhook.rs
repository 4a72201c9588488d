//! The webhook connector against the fake receiver over loopback HTTP.

use std::time::Duration;

use connector_webhook::fake::{FakeReceiver, Fault, FaultAction, ReceiverOptions};
use connector_webhook::{MediaMode, Webhook, WebhookConfig};
use pressroom_connector::testkit::{
    FakeControls, Fault as KitFault, Outcome, Runner, Step, scenarios,
};
use pressroom_connector::{
    AccountRef, Connector, ConnectorError, Credentials, PostDraft, PublishCtx, Reconciled,
};
use pressroom_crypto::webhook::WebhookSecret;
use secrecy::SecretString;
use serde_json::json;

struct Setup {
    fake: FakeReceiver,
    ctx: PublishCtx,
    draft: PostDraft,
}

async fn setup() -> Setup {
    let fake = FakeReceiver::start().await.expect("receiver starts");
    let token = fake.token("dest-a");
    let media = fake.media().jpeg_media(1080, 1080).expect("media");
    let ctx = PublishCtx {
        account: AccountRef {
            id: "acc".into(),
            workspace_id: "ws-1".into(),
            external_id: "dest-a".into(),
        },
        credentials: Credentials {
            access_token: SecretString::from(token),
            refresh_token: None,
            expires_at: None,
            extra: json!({}),
        },
        attempt_id: "att-42".into(),
        checkpoint: None,
        committing_since: None,
        caption: "Hello from Pressroom".into(),
        media_sha256: vec![media.sha256.clone()],
        taken_remote_ids: Vec::new(),
        checkpointer: None,
    };
    Setup {
        fake,
        ctx,
        draft: PostDraft {
            cover: 0,
            format: pressroom_connector::PostFormat::Single,
            caption: "Hello from Pressroom".into(),
            media: vec![media],
        },
    }
}

fn connector(cfg: WebhookConfig) -> Webhook {
    Webhook::new(cfg).expect("builds")
}

#[tokio::test]
async fn signed_delivery_uses_the_receipt_and_the_attempt_id() {
    let s = setup().await;
    let conn = connector(s.fake.config());
    assert!(conn.validate(&s.draft).is_ok());
    let prepared = conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let published = conn.commit(&s.ctx, &prepared).await.expect("commit");
    let posts = s.fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(published.remote_id, posts[0].id);
    assert_eq!(
        published.url,
        Some(format!("{}posts/{}", s.fake.base_url(), posts[0].id))
    );
    assert_eq!(posts[0].caption, "Hello from Pressroom");
    assert_eq!(posts[0].media[0]["url"], json!(s.draft.media[0].public_url));
    assert!(
        posts[0].media[0].get("path").is_none(),
        "local paths are never sent"
    );

    let req = &s.fake.requests()[0];
    assert_eq!(req.header("webhook-id"), Some("att-42"));
    assert!(
        req.header("webhook-signature")
            .is_some_and(|v| v.starts_with("v1,"))
    );
    // Verify independently with the exported secret.
    let secret = WebhookSecret::parse(&s.fake.config().secret).expect("secret");
    let ts = req.header("webhook-timestamp").expect("ts");
    secret
        .verify(
            "att-42",
            ts,
            req.header("webhook-signature").expect("sig"),
            req.body.as_bytes(),
            chrono::Utc::now().timestamp(),
            std::time::Duration::from_secs(300),
        )
        .expect("signature verifies over the raw body");
    let doc: serde_json::Value = serde_json::from_str(&req.body).expect("json");
    assert_eq!(doc["metadata"]["workspace_id"], "ws-1");
    assert_eq!(doc["account"]["external_id"], "dest-a");
}

#[tokio::test]
async fn base64_mode_sends_the_bytes() {
    let s = setup().await;
    let mut cfg = s.fake.config();
    cfg.media = MediaMode::Base64;
    let conn = connector(cfg);
    let prepared = conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    conn.commit(&s.ctx, &prepared)
        .await
        .expect("commit (receiver checked the sha256)");
    let media = &s.fake.posts()[0].media[0];
    assert!(media.get("data_base64").is_some());
    assert!(media.get("url").is_none());
}

#[tokio::test]
async fn a_wrong_secret_disconnects() {
    let s = setup().await;
    let mut cfg = s.fake.config();
    cfg.secret = WebhookSecret::generate().export();
    let conn = connector(cfg);
    let prepared = conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let err = conn
        .commit(&s.ctx, &prepared)
        .await
        .expect_err("bad signature");
    assert!(
        matches!(err, ConnectorError::Disconnected(ref m) if m.contains("signature")),
        "{err:?}"
    );
    assert!(s.fake.posts().is_empty());
}

#[tokio::test]
async fn gone_endpoint_disconnects() {
    let s = setup().await;
    let conn = connector(s.fake.config());
    s.fake.inject(Fault::respond(
        "POST /hooks/pressroom",
        410,
        json!({"error": "endpoint disabled"}),
    ));
    let prepared = conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let err = conn.commit(&s.ctx, &prepared).await.expect_err("410");
    assert!(
        matches!(err, ConnectorError::Disconnected(ref m) if m.contains("endpoint disabled")),
        "{err:?}"
    );
}

#[tokio::test]
async fn without_a_status_url_reconcile_is_unknown() {
    let s = setup().await;
    let mut cfg = s.fake.config();
    cfg.status_url = None;
    let conn = connector(cfg);
    let r = conn.reconcile(&s.ctx, None).await.expect("reconcile");
    assert!(
        matches!(r, Reconciled::Unknown(ref m) if m.contains("att-42")),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_deduping_receiver_gets_a_resend_with_the_same_webhook_id() {
    let s = setup().await;
    let mut cfg = s.fake.config();
    cfg.timeout_secs = 1;
    cfg.receiver_dedupes = true;
    let conn = connector(cfg);
    s.fake.inject(Fault::next(
        "POST /hooks/pressroom",
        FaultAction::AcceptThenStall { ms: 2000 },
    ));
    let prepared = conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let err = conn.commit(&s.ctx, &prepared).await.expect_err("timeout");
    assert!(matches!(err, ConnectorError::Transient(_)), "{err:?}");
    let published = conn.commit(&s.ctx, &prepared).await.expect("resend");
    let posts = s.fake.posts();
    assert_eq!(posts.len(), 1, "deduped on webhook-id");
    assert_eq!(posts[0].deliveries, 2);
    assert_eq!(published.remote_id, posts[0].id);
}

#[tokio::test]
async fn url_mode_needs_a_public_url() {
    let s = setup().await;
    let conn = connector(s.fake.config());
    let mut draft = s.draft.clone();
    draft.media[0].public_url = None;
    let err = conn.prepare(&s.ctx, &draft).await.expect_err("no url");
    assert!(matches!(err, ConnectorError::Rejected(_)));
}

/// The compliance kit, minus `server_errors_are_retried(Prepare)`: webhook's prepare makes no
/// network call, so there is nothing for a 5xx to hit (see README).
#[tokio::test]
async fn compliance_kit() {
    let fake = FakeReceiver::start().await.expect("receiver starts");
    scenarios::publish_succeeds_once(&fake).await;
    scenarios::expired_token_is_refreshed_once(&fake).await;
    scenarios::revoked_refresh_parks_account(&fake).await;
    scenarios::rate_limit_defers_to_named_time(&fake).await;
    scenarios::server_errors_are_retried(&fake, Step::Commit).await;
    scenarios::rejection_is_permanent(&fake).await;
    scenarios::timeout_after_accept_is_reconciled(&fake).await;
    scenarios::crash_before_commit_never_doubles(&fake).await;
}

#[tokio::test]
async fn an_expired_token_without_a_token_url_parks_the_account() {
    let s = setup().await;
    let mut cfg = s.fake.config();
    cfg.token_url = None;
    let conn = connector(cfg);
    s.fake.expire_all_tokens();
    let prepared = conn.prepare(&s.ctx, &s.draft).await.expect("prepare");
    let err = conn.commit(&s.ctx, &prepared).await.expect_err("401");
    assert!(matches!(err, ConnectorError::Disconnected(_)), "{err:?}");
    // With a token endpoint, the same answer is renewable.
    let conn = connector(s.fake.config());
    let err = conn.commit(&s.ctx, &prepared).await.expect_err("401");
    assert!(matches!(err, ConnectorError::AuthExpired), "{err:?}");
    assert!(s.fake.posts().is_empty());
}

#[tokio::test]
async fn a_404_from_the_status_url_is_final_only_after_timeout_plus_listing_lag() {
    let s = setup().await;
    let mut cfg = s.fake.config();
    cfg.timeout_secs = 7;
    cfg.listing_lag_secs = 11;
    assert_eq!(connector(cfg).absent_final_after(), Duration::from_secs(18));
    let url = "https://hooks.example/p".parse().expect("url");
    let cfg = WebhookConfig::new(url, SecretString::from("whsec_AAAAAAAAAAAAAAAAAAAAAA=="));
    assert_eq!(cfg.listing_lag_secs, 30, "documented default");
}

#[tokio::test]
async fn a_lost_answer_is_found_once_the_status_url_catches_up() {
    let opts = ReceiverOptions {
        listing_lag: chrono::Duration::seconds(2),
        ..Default::default()
    };
    let fake = FakeReceiver::start_with(opts)
        .await
        .expect("receiver starts");
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
    assert_eq!(attempt.log.commits, 1, "the delivery was not repeated");
    assert!(attempt.log.early_absents > 0, "{:?}", attempt.log);
    assert_eq!(fake.posts().len(), 1);
    assert_eq!(fake.posts()[0].deliveries, 1);
}

#[tokio::test]
async fn chaos_soak() {
    let opts = ReceiverOptions {
        listing_lag: chrono::Duration::seconds(2),
        ..Default::default()
    };
    let fake = FakeReceiver::start_with(opts)
        .await
        .expect("receiver starts");
    pressroom_connector::testkit::chaos_soak(&fake).await;
    assert_eq!(fake.posts().len(), 30, "one post per delivery id");
}
