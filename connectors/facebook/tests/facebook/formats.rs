//! Beyond a captioned photo (PLATFORMS.md §8.2, §8.6): Page photo stories, alt text and the
//! first comment, against a fake that answers each misuse the way Graph does.

use connector_facebook::fake::FakeFacebook;
use pressroom_connector::testkit::{FakeControls, Fault, Outcome, Runner};
use pressroom_connector::{ConnectorError, PostFormat};
use secrecy::ExposeSecret;
use serde_json::Value;

#[tokio::test]
async fn a_story_is_an_unpublished_photo_then_photo_stories() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let page = account.account.external_id.clone();
    let mut draft = fake.valid_draft().await;
    draft.format = PostFormat::Story;
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    let Outcome::Committed { published, .. } = outcome else {
        panic!("{outcome:?}");
    };
    let stories = fake.stories(&page);
    assert_eq!(stories.len(), 1);
    assert_eq!(published.remote_id, stories[0].post_id);
    let posts = fake.posts(&page);
    assert_eq!(posts.len(), 1, "one unpublished photo, no feed post");
    assert!(!posts[0].published && posts[0].used_for_story);
    assert_eq!(posts[0].photo_id, stories[0].photo_id);
}

#[tokio::test]
async fn a_story_whose_answer_was_lost_is_found_by_its_photo() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let mut draft = fake.valid_draft().await;
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
    assert_eq!(fake.stories(&account.account.external_id).len(), 1);
}

#[tokio::test]
async fn alt_text_is_sent_as_alt_text_custom() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let mut draft = fake.valid_draft().await;
    draft.media[0].alt_text = Some("A red mug on an oak table".into());
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let outcome = runner.run(&mut attempt, &draft).await;
    assert!(matches!(outcome, Outcome::Committed { .. }), "{outcome:?}");
    let posts = fake.posts(&account.account.external_id);
    assert_eq!(
        posts[0].alt_text_custom.as_deref(),
        Some("A red mug on an oak table")
    );
}

#[tokio::test]
async fn a_photo_serves_one_story_only() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let page = account.account.external_id.clone();
    let token = account.credentials.access_token.expose_secret().to_owned();
    let mut draft = fake.valid_draft().await;
    draft.format = PostFormat::Story;
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    assert!(matches!(
        runner.run(&mut attempt, &draft).await,
        Outcome::Committed { .. }
    ));
    let photo = fake.stories(&page)[0].photo_id.clone();
    let again: Value = reqwest::Client::new()
        .post(format!("{}/v21.0/{page}/photo_stories", fake.base_url()))
        .bearer_auth(&token)
        .form(&[("photo_id", photo.as_str())])
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(
        again.pointer("/error/code").and_then(Value::as_i64),
        Some(100),
        "{again}"
    );
    assert_eq!(fake.stories(&page).len(), 1);
}

#[tokio::test]
async fn the_first_comment_is_posted_once_even_when_its_answer_is_lost() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let page = account.account.external_id.clone();
    let draft = fake.valid_draft().await;
    let runner = Runner::new(fake.connector());
    let mut attempt = runner.attempt(&account, &draft);
    let Outcome::Committed { published, .. } = runner.run(&mut attempt, &draft).await else {
        panic!("published");
    };
    let connector = fake.connector();
    let text = "Shop the look: example.com";
    fake.inject(Fault::AcceptCommentThenHang).await;
    let lost = connector
        .comment(&attempt.ctx, &published.remote_id, text)
        .await;
    assert!(
        matches!(lost, Err(ConnectorError::OutcomeUnknown(_))),
        "{lost:?}"
    );
    let found = connector
        .find_comment(&attempt.ctx, &published.remote_id, text)
        .await
        .expect("list");
    let comments = fake.comments(&page);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].from, page, "the Page is the author");
    assert_eq!(found.as_deref(), Some(comments[0].id.as_str()));
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
    assert_eq!(fake.comments(&page).len(), 1);
}

#[tokio::test]
async fn a_multi_photo_post_attaches_unpublished_photos() {
    let fake = FakeFacebook::start().await.expect("fake starts");
    let account = fake.connect_account().await;
    let page = account.account.external_id.clone();
    let mut draft = fake.valid_draft().await;
    draft.format = PostFormat::Carousel;
    let first = draft.media[0].clone();
    draft.media = (0..3)
        .map(|i| {
            let mut m = first.clone();
            m.alt_text = Some(format!("photo {i}"));
            m
        })
        .collect();
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
        "a lost /feed answer is found by its message: {outcome:?}"
    );
    let posts = fake.posts(&page);
    let feed: Vec<_> = posts.iter().filter(|p| p.published).collect();
    assert_eq!(feed.len(), 1, "{posts:?}");
    assert_eq!(feed[0].attached.len(), 3);
    let alts: Vec<_> = feed[0]
        .attached
        .iter()
        .map(|id| {
            posts
                .iter()
                .find(|p| &p.photo_id == id)
                .and_then(|p| p.alt_text_custom.clone())
        })
        .collect();
    assert_eq!(
        alts,
        [
            Some("photo 0".into()),
            Some("photo 1".into()),
            Some("photo 2".into())
        ]
    );
    // The same photos cannot go into a second post.
    let token = account.credentials.access_token.expose_secret().to_owned();
    let again: Value = reqwest::Client::new()
        .post(format!("{}/v21.0/{page}/feed", fake.base_url()))
        .bearer_auth(&token)
        .form(&[
            ("message", "again"),
            (
                "attached_media[0]",
                &format!("{{\"media_fbid\":\"{}\"}}", feed[0].attached[0]),
            ),
        ])
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(
        again.pointer("/error/code").and_then(Value::as_i64),
        Some(100),
        "{again}"
    );
    assert_eq!(fake.commits(), 1);
}
