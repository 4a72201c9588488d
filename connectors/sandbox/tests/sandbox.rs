//! The sandbox behaves like a platform: commits are recorded once, reconcile answers from
//! the record, and scripted failures surface as the error taxonomy says.

use connector_sandbox::{FailureKind, Phase, SandboxConfig, SandboxConnector, ScriptedFailure};
use pressroom_connector::{
    AccountRef, Connector, ConnectorError, Credentials, MediaRef, PostDraft, PublishCtx, Reconciled,
};

fn ctx(attempt: &str) -> PublishCtx {
    PublishCtx {
        account: AccountRef {
            id: "a1".into(),
            workspace_id: "w1".into(),
            external_id: "sandbox-main".into(),
        },
        credentials: Credentials {
            access_token: secrecy::SecretString::from("unused"),
            refresh_token: None,
            expires_at: None,
            extra: serde_json::Value::Null,
        },
        attempt_id: attempt.into(),
        checkpoint: None,
        committing_since: None,
        caption: "Hello <world>".into(),
        media_sha256: vec![],
        taken_remote_ids: Vec::new(),
        checkpointer: None,
    }
}

fn draft(dir: &std::path::Path) -> PostDraft {
    let path = dir.join("in.png");
    std::fs::write(&path, b"\x89PNG fake bytes").expect("write media");
    PostDraft {
        cover: 0,
        format: pressroom_connector::PostFormat::Single,
        caption: "Hello <world>".into(),
        media: vec![MediaRef {
            alt_text: None,
            path,
            mime: "image/png".into(),
            width: 10,
            height: 10,
            bytes: 15,
            sha256: "00".into(),
            public_url: None,
        }],
    }
}

#[tokio::test]
async fn commit_is_recorded_once_and_reconcile_finds_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox =
        SandboxConnector::new(SandboxConfig::new(dir.path().join("outbox"))).expect("open");
    let draft = draft(dir.path());
    let c = ctx("att-1");

    assert_eq!(
        sandbox.reconcile(&c, None).await.expect("reconcile"),
        Reconciled::Absent
    );
    let prepared = sandbox.prepare(&c, &draft).await.expect("prepare");
    // prepare is idempotent
    assert_eq!(
        sandbox.prepare(&c, &draft).await.expect("prepare again"),
        prepared
    );
    let published = sandbox.commit(&c, &prepared).await.expect("commit");
    assert_eq!(published.remote_id, "sandbox-att-1");

    let commits = sandbox.outbox().commits().await.expect("commits");
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].caption, "Hello <world>");
    match sandbox.reconcile(&c, None).await.expect("reconcile") {
        Reconciled::Landed(p) => assert_eq!(p, published),
        other => panic!("expected Landed, got {other:?}"),
    }
    let index = std::fs::read_to_string(sandbox.outbox().index_path()).expect("index");
    assert!(
        index.contains("Hello &lt;world&gt;"),
        "caption is escaped in the preview"
    );
    assert!(index.contains("media/att-1.png"));
}

#[tokio::test]
async fn scripted_failures_map_to_the_taxonomy_and_run_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = SandboxConfig::new(dir.path().join("outbox"));
    config.failures = vec![
        ScriptedFailure {
            phase: Phase::Prepare,
            kind: FailureKind::Transient,
            times: 2,
            retry_after_secs: 0,
        },
        ScriptedFailure {
            phase: Phase::Commit,
            kind: FailureKind::RateLimited,
            times: 1,
            retry_after_secs: 30,
        },
        ScriptedFailure {
            phase: Phase::AfterCommit,
            kind: FailureKind::OutcomeUnknown,
            times: 1,
            retry_after_secs: 0,
        },
    ];
    let sandbox = SandboxConnector::new(config).expect("open");
    let draft = draft(dir.path());
    let c = ctx("att-2");

    for _ in 0..2 {
        assert!(matches!(
            sandbox.prepare(&c, &draft).await,
            Err(ConnectorError::Transient(_))
        ));
    }
    let prepared = sandbox
        .prepare(&c, &draft)
        .await
        .expect("third prepare succeeds");
    match sandbox.commit(&c, &prepared).await {
        Err(ConnectorError::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Some(std::time::Duration::from_secs(30)))
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(
        sandbox
            .outbox()
            .commits()
            .await
            .expect("commits")
            .is_empty(),
        "rate limit before landing"
    );
    // The response is lost after landing: reconcile must find it.
    assert!(matches!(
        sandbox.commit(&c, &prepared).await,
        Err(ConnectorError::OutcomeUnknown(_))
    ));
    assert!(matches!(
        sandbox.reconcile(&c, None).await,
        Ok(Reconciled::Landed(_))
    ));
    assert_eq!(sandbox.outbox().commits().await.expect("commits").len(), 1);
}

#[test]
fn validate_names_the_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox = SandboxConnector::new(SandboxConfig::new(dir.path().join("o"))).expect("open");
    let issues = sandbox
        .validate(&PostDraft {
            cover: 0,
            format: pressroom_connector::PostFormat::Single,
            caption: "x".repeat(5001),
            media: vec![],
        })
        .expect_err("invalid");
    let rules: Vec<_> = issues.iter().map(|i| i.rule.as_str()).collect();
    assert_eq!(rules, vec!["max_length", "one_image"]);
    // The caption rule is pressroom-media's, naming the platform.
    assert_eq!(
        issues[0].message,
        "sandbox: caption is 5001 characters, limit is 5000"
    );
    assert_eq!(
        sandbox.capabilities().max_caption_chars,
        pressroom_media::CaptionRules::documented("sandbox")
            .max_length
            .unwrap_or(usize::MAX)
    );
    let issues = sandbox
        .validate(&PostDraft {
            cover: 0,
            format: pressroom_connector::PostFormat::Single,
            caption: "tab\tok but not a bell \u{7}".into(),
            media: vec![],
        })
        .expect_err("control character");
    assert_eq!(issues[0].rule, "control_character");
}

#[tokio::test]
async fn the_preview_names_each_renditions_preset_and_platform() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox =
        SandboxConnector::new(SandboxConfig::new(dir.path().join("outbox"))).expect("open");
    let mut draft = draft(dir.path());
    // As the render job names renditions: <preset>-<fit>.<ext>.
    let named = dir.path().join("instagram-story-cover.png");
    std::fs::copy(&draft.media[0].path, &named).expect("copy");
    draft.media[0].path = named;
    let c = ctx("att-2");
    let prepared = sandbox.prepare(&c, &draft).await.expect("prepare");
    sandbox.commit(&c, &prepared).await.expect("commit");
    let commits = sandbox.outbox().commits().await.expect("commits");
    assert_eq!(commits[0].preset.as_deref(), Some("instagram-story"));
    assert_eq!(commits[0].platform.as_deref(), Some("instagram"));
    let index = std::fs::read_to_string(sandbox.outbox().index_path()).expect("index");
    assert!(
        index.contains("<div class=preset>instagram-story (instagram)</div>"),
        "{index}"
    );

    // A file not named by the render job: no preset, and the preview says so.
    let c = ctx("att-3");
    let plain = self::draft(dir.path());
    let prepared = sandbox.prepare(&c, &plain).await.expect("prepare");
    sandbox.commit(&c, &prepared).await.expect("commit");
    let index = std::fs::read_to_string(sandbox.outbox().index_path()).expect("index");
    assert!(index.contains("unknown preset"), "{index}");
}

#[test]
fn old_commit_lines_without_a_preset_still_parse() {
    let line = r#"{"attempt_id":"a","account":"x","caption":"c","media":"media/a.jpg","committed_at":"2024-01-01T00:00:00Z"}"#;
    let record: connector_sandbox::CommitRecord = serde_json::from_str(line).expect("parses");
    assert_eq!((record.preset, record.platform), (None, None));
}

/// A carousel keeps every slide, in order, with its alt text, and the preview shows them.
#[tokio::test]
async fn a_carousel_keeps_every_slide_with_its_alt_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox =
        SandboxConnector::new(SandboxConfig::new(dir.path().join("outbox"))).expect("open");
    let mut draft = draft(dir.path());
    draft.format = pressroom_connector::PostFormat::Carousel;
    let first = draft.media[0].clone();
    draft.media = (0..3)
        .map(|i| MediaRef {
            alt_text: Some(format!("slide \"{i}\"")),
            ..first.clone()
        })
        .collect();
    let c = ctx("att-carousel");
    let prepared = sandbox.prepare(&c, &draft).await.expect("prepare");
    sandbox.commit(&c, &prepared).await.expect("commit");
    let commits = sandbox.outbox().commits().await.expect("commits");
    assert_eq!(commits.len(), 1);
    assert_eq!(
        commits[0].more_media,
        ["media/att-carousel-1.png", "media/att-carousel-2.png"]
    );
    assert_eq!(commits[0].format.as_deref(), Some("carousel"));
    assert_eq!(commits[0].alt_texts.len(), 3);
    let index = std::fs::read_to_string(sandbox.outbox().index_path()).expect("index");
    assert_eq!(index.matches("<img").count(), 3, "{index}");
    assert!(
        index.contains("alt=\"slide &quot;2&quot;\""),
        "alt text escaped: {index}"
    );

    // A story's card says it carries no caption instead of showing one.
    let mut story = draft.clone();
    story.format = pressroom_connector::PostFormat::Story;
    story.media.truncate(1);
    let c = ctx("att-story");
    let prepared = sandbox.prepare(&c, &story).await.expect("prepare");
    sandbox.commit(&c, &prepared).await.expect("commit");
    let index = std::fs::read_to_string(sandbox.outbox().index_path()).expect("index");
    assert!(index.contains("A story carries no caption."), "{index}");
}
