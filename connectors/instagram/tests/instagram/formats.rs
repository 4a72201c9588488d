//! Beyond a captioned feed image (PLATFORMS.md §8.1, §8.6): stories, alt text and the first
//! comment, against a fake that answers each misuse the way Graph does.

use connector_instagram::fake::FakeInstagram;
use pressroom_connector::testkit::{FakeControls, Fault, Outcome, Runner};
use pressroom_connector::{ConnectorError, PostFormat};
use secrecy::ExposeSecret;
use serde_json::Value;

#[tokio::test]
async fn a_story_goes_out_as_a_story_without_caption() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let mut draft = fake.valid_draft().await;
    draft.media = vec![fake.images().jpeg_media(1080, 1920).expect("9:16 image")];
    draft.format = PostFormat::Story;
    draft.caption = "a caption the story must not carry".into();
    fake.connector()
        .validate(&draft)
        .expect("a 9:16 story is valid");
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    let Outcome::Committed { published, .. } = outcome else {
        panic!("{outcome:?}");
    };
    let media = fake.media(&account.account.external_id);
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].media_product_type, "STORY");
    assert_eq!(media[0].caption, "");
    assert_eq!(published.remote_id, media[0].id);
    let containers = fake.containers();
    assert_eq!(containers[0].media_type, "STORIES");
    // The same 9:16 image as a feed post is refused before any call.
    draft.format = PostFormat::Single;
    let issues = fake.connector().validate(&draft).expect_err("9:16 feed");
    assert!(
        issues.iter().any(|i| i.rule == "aspect_ratio"),
        "{issues:?}"
    );
}

#[tokio::test]
async fn a_story_found_by_reconcile_after_a_lost_answer() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let mut draft = fake.valid_draft().await;
    draft.media = vec![fake.images().jpeg_media(1080, 1920).expect("9:16 image")];
    draft.format = PostFormat::Story;
    fake.inject(Fault::AcceptThenHang).await;
    let runner = Runner::new(fake.connector());
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
    assert_eq!(fake.media(&account.account.external_id).len(), 1);
}

#[tokio::test]
async fn alt_text_goes_on_the_image_container() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let mut draft = fake.valid_draft().await;
    draft.media[0].alt_text = Some("A red mug on an oak table".into());
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(matches!(outcome, Outcome::Committed { .. }), "{outcome:?}");
    let media = fake.media(&account.account.external_id);
    assert_eq!(
        media[0].alt_text.as_deref(),
        Some("A red mug on an oak table")
    );
    draft.media[0].alt_text = Some("x".repeat(1001));
    let issues = fake.connector().validate(&draft).expect_err("too long");
    assert_eq!(issues[0].field, "media[0].alt_text");
}

/// Calls the fake's Graph API directly, as a client that ignores §8 would.
async fn graph(fake: &FakeInstagram, token: &str, path: &str, form: &[(&str, &str)]) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{}/v21.0/{path}", fake.base_url()))
        .bearer_auth(token)
        .form(form)
        .send()
        .await
        .expect("fake answers");
    resp.json().await.expect("json")
}

#[tokio::test]
async fn the_fake_answers_misuse_as_graph_does() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let ig = account.account.external_id.clone();
    let token = account.credentials.access_token.expose_secret().to_owned();
    let story_url = fake
        .images()
        .jpeg_media(1080, 1920)
        .expect("image")
        .public_url
        .expect("url");
    let feed_url = fake
        .images()
        .jpeg_media(1080, 1080)
        .expect("image")
        .public_url
        .expect("url");
    let path = format!("{ig}/media");
    let code = |v: &Value| v.pointer("/error/code").and_then(Value::as_i64);
    // A story with a caption, or with alt text.
    let v = graph(
        &fake,
        &token,
        &path,
        &[
            ("image_url", &story_url),
            ("media_type", "STORIES"),
            ("caption", "hi"),
        ],
    )
    .await;
    assert_eq!(code(&v), Some(100), "{v}");
    let v = graph(
        &fake,
        &token,
        &path,
        &[
            ("image_url", &story_url),
            ("media_type", "STORIES"),
            ("alt_text", "a"),
        ],
    )
    .await;
    assert_eq!(code(&v), Some(100), "{v}");
    // Alt text over 1000 characters on an image.
    let long = "a".repeat(1001);
    let v = graph(
        &fake,
        &token,
        &path,
        &[("image_url", &feed_url), ("alt_text", &long)],
    )
    .await;
    assert_eq!(code(&v), Some(100), "{v}");
    // A comment on a container (not a published media), and one without a message.
    let v = graph(
        &fake,
        &token,
        &path,
        &[("image_url", &feed_url), ("caption", "c")],
    )
    .await;
    let container = v["id"].as_str().expect("container id").to_owned();
    let v = graph(
        &fake,
        &token,
        &format!("{container}/comments"),
        &[("message", "first!")],
    )
    .await;
    assert_eq!(code(&v), Some(100), "{v}");
    // Ignoring a story caption is the other documented possibility; the fake can do both.
    fake.set_reject_story_caption(false);
    let v = graph(
        &fake,
        &token,
        &path,
        &[
            ("image_url", &story_url),
            ("media_type", "STORIES"),
            ("caption", "hi"),
        ],
    )
    .await;
    assert!(v.get("id").is_some(), "{v}");
    assert_eq!(
        fake.containers().last().map(|c| c.caption.clone()),
        Some(String::new())
    );
}

#[tokio::test]
async fn the_first_comment_is_posted_once_even_when_its_answer_is_lost() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let ig = account.account.external_id.clone();
    let draft = fake.valid_draft().await;
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let Outcome::Committed { published, .. } = runner.run(&mut attempt, &draft).await else {
        panic!("published");
    };
    let connector = fake.connector();
    let text = "Shop the look: example.com #mugs";
    assert_eq!(
        connector
            .find_comment(&attempt.ctx, &published.remote_id, text)
            .await
            .expect("list"),
        None
    );
    fake.inject(Fault::AcceptCommentThenHang).await;
    let lost = connector
        .comment(&attempt.ctx, &published.remote_id, text)
        .await;
    assert!(
        matches!(lost, Err(ConnectorError::OutcomeUnknown(_))),
        "{lost:?}"
    );
    // The runtime asks before it ever sends again: the comment is there, once.
    let found = connector
        .find_comment(&attempt.ctx, &published.remote_id, text)
        .await
        .expect("list");
    let comments = fake.comments(&ig);
    assert_eq!(comments.len(), 1);
    assert_eq!(found.as_deref(), Some(comments[0].id.as_str()));
    // Without instagram_manage_comments the platform refuses, permanently.
    fake.set_comments_permitted(false);
    let refused = connector
        .comment(&attempt.ctx, &published.remote_id, "again")
        .await;
    assert!(
        matches!(
            refused,
            Err(ConnectorError::Rejected(_) | ConnectorError::Disconnected(_))
        ),
        "{refused:?}"
    );
    assert_eq!(fake.comments(&ig).len(), 1);
}

#[tokio::test]
async fn a_carousel_is_children_then_a_parent_with_the_caption() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let mut draft = fake.valid_draft().await;
    draft.format = PostFormat::Carousel;
    draft.media = (0..3)
        .map(|i| {
            let mut m = fake.images().jpeg_media(1080, 1080).expect("image");
            m.alt_text = Some(format!("slide {i}"));
            m
        })
        .collect();
    fake.connector()
        .validate(&draft)
        .expect("3 slides are valid");
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(matches!(outcome, Outcome::Committed { .. }), "{outcome:?}");
    let media = fake.media(&account.account.external_id);
    assert_eq!(media.len(), 1, "one post, not one per slide");
    assert_eq!(media[0].media_type, "CAROUSEL_ALBUM");
    assert_eq!(media[0].caption, draft.caption);
    let alts: Vec<_> = media[0].children.iter().map(|(a, _)| a.clone()).collect();
    assert_eq!(
        alts,
        [
            Some("slide 0".into()),
            Some("slide 1".into()),
            Some("slide 2".into())
        ]
    );
    assert_eq!(
        fake.containers_created(),
        4,
        "three children and the parent"
    );
    // One slide is no carousel; eleven are too many.
    draft.media.truncate(1);
    assert!(fake.connector().validate(&draft).is_err());
}

#[tokio::test]
async fn the_fake_holds_carousels_to_the_api_rules() {
    let fake = FakeInstagram::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let ig = account.account.external_id.clone();
    let token = account.credentials.access_token.expose_secret().to_owned();
    let path = format!("{ig}/media");
    let code = |v: &Value| v.pointer("/error/code").and_then(Value::as_i64);
    let url = fake
        .images()
        .jpeg_media(1080, 1080)
        .expect("image")
        .public_url
        .expect("url");
    // A child with a caption.
    let v = graph(
        &fake,
        &token,
        &path,
        &[
            ("image_url", &url),
            ("is_carousel_item", "true"),
            ("caption", "no"),
        ],
    )
    .await;
    assert_eq!(code(&v), Some(100), "{v}");
    // Eleven finished children are one too many.
    fake.set_in_progress_polls(0);
    let mut children = Vec::new();
    for _ in 0..11 {
        let v = graph(
            &fake,
            &token,
            &path,
            &[("image_url", &url), ("is_carousel_item", "true")],
        )
        .await;
        let id = v["id"].as_str().expect("child").to_owned();
        // One status read moves it to FINISHED, as polling does.
        reqwest::Client::new()
            .get(format!("{}/v21.0/{id}?fields=status_code", fake.base_url()))
            .bearer_auth(&token)
            .send()
            .await
            .expect("status");
        children.push(id);
    }
    let eleven = children.join(",");
    let v = graph(
        &fake,
        &token,
        &path,
        &[
            ("media_type", "CAROUSEL"),
            ("children", &eleven),
            ("caption", "c"),
        ],
    )
    .await;
    assert_eq!(code(&v), Some(100), "{v}");
    // Publishing a child alone.
    let v = graph(
        &fake,
        &token,
        &format!("{ig}/media_publish"),
        &[("creation_id", &children[0])],
    )
    .await;
    assert_eq!(code(&v), Some(100), "{v}");
    assert_eq!(fake.commits(), 0);
}
