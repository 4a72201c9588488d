//! Post formats through the real daemon (PLATFORMS.md §8): one run publishes an Instagram
//! feed post with alt text, an Instagram story (no caption, no alt text; the `instagram-story`
//! preset alone makes it one, where it once went out as a feed post), a Facebook photo
//! with `alt_text_custom` and a LinkedIn post whose own caption template reads
//! `target.platform`; each feed post then gets the campaign's first comment. The daemon is
//! killed with SIGKILL after Instagram recorded the comment and before the daemon heard the
//! answer: after the restart it finds that comment instead of posting a second. Every
//! platform ends with exactly one post per target and one comment per feed post. Runs on
//! SQLite and on PostgreSQL.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use connector_facebook::fake::FakeFacebook;
use connector_instagram::fake::FakeInstagram;
use connector_linkedin::fake::FakeLinkedIn;
use connector_tiktok::fake::FakeTikTok;
use pressroom_connector::testkit::{FakeControls, Fault};
use pressroom_e2e::{Db, TestApp, free_port, terminate};
use serde_json::{Value, json};

use crate::platforms::{
    daemon_sections, import_and_load, import_entry, linkedin_section, meta_sections, tiktok_section,
};

const CAMPAIGN: &str = r#"name = "formats"
workspace = "acme"

[schedule]
webhook = true

[generation]
prompt = "a {{ product }} on a linen table"
steps = 2
width = 64
height = 64
seed = 7

[caption]
template = "Meet the {{ product }} #spring"
alt_text = "A {{ product }} on a linen table, seen from above"
first_comment = "Shop it at example.com/{{ product }}"

[variables]
product = "tote"

[[targets]]
account = "ig-1"
preset = "instagram-square"

[[targets]]
account = "ig-1"
preset = "instagram-story"

[[targets]]
account = "fb-1"
preset = "facebook-square"

[[targets]]
account = "li-1"
preset = "linkedin-landscape"
caption = "The {{ product }} for professionals, on {{ target.platform }}"
"#;

/// Short leases, so the killed instance's jobs come back quickly.
const WORKERS: &str = r#"
[workers]
lease_secs = 3
heartbeat_secs = 1
rescue_secs = 1
poll_ms = 50
"#;

/// Posts once `done` says they are all there.
fn wait_posts(
    app: &TestApp,
    timeout: Duration,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + timeout;
    loop {
        let posts = app.posts("acme")?;
        if done(&posts) {
            return Ok(posts);
        }
        if Instant::now() > deadline {
            bail!(
                "{what} not reached after {timeout:?}:\n{}\n{}",
                serde_json::to_string_pretty(&posts)?,
                app.dump_logs(80)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn post_of<'a>(posts: &'a [Value], platform: &str, preset: &str) -> anyhow::Result<&'a Value> {
    posts
        .iter()
        .find(|p| p["platform"] == platform && p["preset"] == preset)
        .with_context(|| format!("no {platform} {preset} post in {posts:?}"))
}

fn formats_through_the_daemon(db: Db) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fb = rt.block_on(FakeFacebook::start())?;
    let ig = rt.block_on(FakeInstagram::start())?;
    let li = rt.block_on(FakeLinkedIn::start())?;
    let (fb_account, ig_account, li_account) = (
        rt.block_on(fb.connect_account()),
        rt.block_on(ig.connect_account()),
        rt.block_on(li.connect_account()),
    );
    let port = free_port()?;
    let extra = format!(
        "{}{}{}{WORKERS}",
        daemon_sections(port),
        meta_sections(&fb, &ig),
        linkedin_section(&li)
    );
    let mut app = TestApp::new(db, &extra)?;
    let import = json!([
        import_entry("facebook", "fb-1", &fb_account, None),
        import_entry("instagram", "ig-1", &ig_account, None),
        import_entry("linkedin", "li-1", &li_account, None),
    ]);
    import_and_load(&app, &import, CAMPAIGN)?;
    let ig_user = ig_account.account.external_id.clone();
    let page = fb_account.account.external_id.clone();

    // Instagram records the first comment, then holds its answer: the daemon is killed in
    // that window, between the platform acting and the daemon hearing of it.
    rt.block_on(ig.inject(Fault::AcceptCommentThenHang));
    let mut serve = app.spawn_serve("formats-1")?;
    let first = (|| -> anyhow::Result<()> {
        app.run(&[
            "campaign",
            "trigger",
            "formats",
            "--workspace",
            "acme",
            "--key",
            "run-1",
        ])?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while ig.comments(&ig_user).is_empty() {
            if Instant::now() > deadline {
                bail!("Instagram never got the comment\n{}", app.dump_logs(80));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        serve.kill().context("SIGKILL")?;
        serve.wait().context("reaping the killed daemon")?;
        Ok(())
    })();
    if first.is_err() {
        let _ = terminate(&mut serve, Duration::from_secs(10));
    }
    first?;
    let posts = app.posts("acme")?;
    let ig_feed = post_of(&posts, "instagram", "instagram-square")?;
    ensure!(
        ig_feed["comment_state"] == "committing",
        "killed between the comment call and its answer: {ig_feed}"
    );

    let mut serve = app.spawn_serve("formats-2")?;
    let outcome = wait_posts(
        &app,
        Duration::from_secs(180),
        "every post and comment done",
        |posts| {
            posts.len() == 4
                && posts.iter().all(|p| {
                    p["state"] == "published"
                        && (p["first_comment"].is_null() || p["comment_state"] == "done")
                })
        },
    );
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    let posts = outcome?;
    stopped?;

    // Instagram: one feed post with its caption and alt text, one story with neither.
    let media = ig.media(&ig_user);
    ensure!(media.len() == 2, "instagram media: {media:?}");
    let feed = media
        .iter()
        .find(|m| m.media_product_type == "FEED")
        .context("a feed post")?;
    let story = media
        .iter()
        .find(|m| m.media_product_type == "STORY")
        .context("a story")?;
    ensure!(feed.caption == "Meet the tote #spring", "{feed:?}");
    ensure!(
        feed.alt_text.as_deref() == Some("A tote on a linen table, seen from above"),
        "{feed:?}"
    );
    ensure!(
        story.caption.is_empty() && story.alt_text.is_none(),
        "{story:?}"
    );
    ensure!(story.image_size == (1080, 1920), "story image: {story:?}");
    let story_post = post_of(&posts, "instagram", "instagram-story")?;
    ensure!(
        story_post["format"] == "story" && story_post["first_comment"].is_null(),
        "{story_post}"
    );

    // Facebook: one photo with the person-written alt text.
    let published: Vec<_> = fb
        .posts(&page)
        .into_iter()
        .filter(|p| p.published)
        .collect();
    ensure!(published.len() == 1, "facebook posts: {published:?}");
    ensure!(
        published[0].alt_text_custom.as_deref() == Some("A tote on a linen table, seen from above"),
        "{published:?}"
    );

    // LinkedIn: its own caption, rendered with target.platform, and the alt text.
    let li_posts = li.posts();
    ensure!(li_posts.len() == 1, "linkedin posts: {li_posts:?}");
    ensure!(
        li_posts[0].commentary == "The tote for professionals, on linkedin",
        "{li_posts:?}"
    );
    ensure!(
        li_posts[0].alt_text.as_deref() == Some("A tote on a linen table, seen from above"),
        "{li_posts:?}"
    );

    // One first comment per feed post, on the published post, the killed one included.
    let text = "Shop it at example.com/tote";
    let ig_comments = ig.comments(&ig_user);
    ensure!(
        ig_comments.len() == 1 && ig_comments[0].text == text && ig_comments[0].media_id == feed.id,
        "instagram comments: {ig_comments:?}"
    );
    let fb_comments = fb.comments(&page);
    ensure!(
        fb_comments.len() == 1 && fb_comments[0].message == text,
        "facebook comments: {fb_comments:?}"
    );
    let li_comments = li.comments();
    ensure!(
        li_comments.len() == 1
            && li_comments[0].text == text
            && li_comments[0].object == li_posts[0].id,
        "linkedin comments: {li_comments:?}"
    );
    let ig_feed = post_of(&posts, "instagram", "instagram-square")?;
    ensure!(
        ig_feed["comment_id"].as_str() == Some(ig_comments[0].id.as_str()),
        "the recorded comment id is Instagram's: {ig_feed}"
    );
    drop(rt);
    Ok(())
}

#[test]
fn formats_alt_text_and_first_comments_through_a_crash_sqlite() -> anyhow::Result<()> {
    formats_through_the_daemon(Db::Sqlite)
}

#[test]
fn formats_alt_text_and_first_comments_through_a_crash_postgres() -> anyhow::Result<()> {
    formats_through_the_daemon(Db::Postgres)
}

const CAROUSEL: &str = r#"name = "slides"
workspace = "acme"

[schedule]
webhook = true

[generation]
prompt = "a {{ product }}, view {{ image.index + 1 }} of {{ image.count }}"
images = 3
steps = 2
width = 64
height = 64
seed = 11

[caption]
template = "{% if target.platform == 'linkedin' %}Three views of the {{ product }}{% else %}Three looks at the {{ product }}{% endif %}"
alt_text = "The {{ product }}, view {{ image.index + 1 }} of {{ image.count }}"
first_comment = "All three at example.com"

[variables]
product = "tote"

[[targets]]
account = "ig-1"
preset = "instagram-square"
format = "carousel"

[[targets]]
account = "fb-1"
preset = "facebook-square"
format = "carousel"

[[targets]]
account = "li-1"
preset = "linkedin-square"
format = "carousel"

[[targets]]
account = "tt-1"
preset = "tiktok-photo"
format = "carousel"
cover = 2
"#;

/// A 3-image carousel to Instagram, Facebook, LinkedIn and TikTok in one run: each platform
/// gets one post with the three images in order, alt text on each where it takes alt text,
/// and (where it takes comments) the first comment once.
fn carousel_through_the_daemon(db: Db) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fb = rt.block_on(FakeFacebook::start())?;
    let ig = rt.block_on(FakeInstagram::start())?;
    let li = rt.block_on(FakeLinkedIn::start())?;
    let tt = rt.block_on(FakeTikTok::start())?;
    let (fb_account, ig_account, li_account, tt_account) = (
        rt.block_on(fb.connect_account()),
        rt.block_on(ig.connect_account()),
        rt.block_on(li.connect_account()),
        rt.block_on(tt.connect_account()),
    );
    let port = free_port()?;
    let extra = format!(
        "{}{}{}{}{WORKERS}",
        daemon_sections(port),
        meta_sections(&fb, &ig),
        linkedin_section(&li),
        tiktok_section(&tt)
    );
    let mut app = TestApp::new(db, &extra)?;
    let import = json!([
        import_entry("facebook", "fb-1", &fb_account, None),
        import_entry("instagram", "ig-1", &ig_account, None),
        import_entry("linkedin", "li-1", &li_account, None),
        import_entry("tiktok", "tt-1", &tt_account, None),
    ]);
    import_and_load(&app, &import, CAROUSEL)?;
    let mut serve = app.spawn_serve("carousel")?;
    let outcome = (|| -> anyhow::Result<Vec<Value>> {
        app.run(&[
            "campaign",
            "trigger",
            "slides",
            "--workspace",
            "acme",
            "--key",
            "c-1",
        ])?;
        wait_posts(
            &app,
            Duration::from_secs(180),
            "every carousel published",
            |posts| {
                posts.len() == 4
                    && posts.iter().all(|p| {
                        p["state"] == "published"
                            && (p["first_comment"].is_null() || p["comment_state"] == "done")
                    })
            },
        )
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    let posts = outcome?;
    stopped?;
    let alts: Vec<String> = (1..=3)
        .map(|i| format!("The tote, view {i} of 3"))
        .collect();
    for p in &posts {
        ensure!(p["format"] == "carousel", "{p}");
        let renditions = p["rendition_ids"].as_array().map_or(0, Vec::len);
        ensure!(renditions == 3, "three renditions per post: {p}");
    }

    let media = ig.media(&ig_account.account.external_id);
    ensure!(
        media.len() == 1,
        "instagram: one carousel, not one post per image: {media:?}"
    );
    ensure!(media[0].media_type == "CAROUSEL_ALBUM", "{media:?}");
    let ig_alts: Vec<_> = media[0].children.iter().map(|(a, _)| a.clone()).collect();
    ensure!(
        ig_alts == alts.iter().cloned().map(Some).collect::<Vec<_>>(),
        "instagram slides in order with their alt text: {ig_alts:?}"
    );

    let page = fb_account.account.external_id.clone();
    let fb_posts = fb.posts(&page);
    let feed: Vec<_> = fb_posts.iter().filter(|p| p.published).collect();
    ensure!(
        feed.len() == 1 && feed[0].attached.len() == 3,
        "facebook: {fb_posts:?}"
    );
    let fb_alts: Vec<_> = feed[0]
        .attached
        .iter()
        .map(|id| {
            fb_posts
                .iter()
                .find(|p| &p.photo_id == id)
                .and_then(|p| p.alt_text_custom.clone())
        })
        .collect();
    ensure!(
        fb_alts == alts.iter().cloned().map(Some).collect::<Vec<_>>(),
        "facebook photos in order with their alt text: {fb_alts:?}"
    );

    let li_posts = li.posts();
    ensure!(li_posts.len() == 1, "linkedin: {li_posts:?}");
    // The campaign's caption, rendered per target with target.platform.
    ensure!(
        li_posts[0].commentary == "Three views of the tote"
            && media[0].caption == "Three looks at the tote",
        "captions per platform: {li_posts:?} / {media:?}"
    );
    let li_alts: Vec<_> = li_posts[0].images.iter().map(|(_, a)| a.clone()).collect();
    ensure!(
        li_alts == alts.iter().cloned().map(Some).collect::<Vec<_>>(),
        "linkedin images in order with their alt text: {li_alts:?}"
    );

    // TikTok pulls each image from the daemon's signed media links, in the post's order.
    let publishes: Vec<_> = tt.publishes().into_iter().filter(|p| p.exists()).collect();
    ensure!(publishes.len() == 1, "tiktok: {publishes:?}");
    let tt_post = post_of(&posts, "tiktok", "tiktok-photo")?;
    let order: Vec<&str> = tt_post["rendition_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    ensure!(
        publishes[0].photo_images.len() == 3
            && publishes[0]
                .photo_images
                .iter()
                .zip(&order)
                .all(|(url, id)| url.contains(id)),
        "tiktok images in the post's order: {:?} vs {order:?}",
        publishes[0].photo_images
    );
    // The target's cover: the third image.
    ensure!(
        publishes[0].photo_cover_index == 2 && tt_post["cover_index"] == 2,
        "tiktok cover: {} (post {})",
        publishes[0].photo_cover_index,
        tt_post["cover_index"]
    );

    // The first comment, once, on each platform that takes comments (not TikTok).
    ensure!(
        ig.comments(&ig_account.account.external_id).len() == 1,
        "instagram comments"
    );
    ensure!(fb.comments(&page).len() == 1, "facebook comments");
    ensure!(li.comments().len() == 1, "linkedin comments");
    ensure!(
        post_of(&posts, "tiktok", "tiktok-photo")?["first_comment"].is_null(),
        "tiktok takes no comment"
    );
    drop(rt);
    Ok(())
}

#[test]
fn a_three_image_carousel_to_four_platforms_sqlite() -> anyhow::Result<()> {
    carousel_through_the_daemon(Db::Sqlite)
}

#[test]
fn a_three_image_carousel_to_four_platforms_postgres() -> anyhow::Result<()> {
    carousel_through_the_daemon(Db::Postgres)
}
