//! The binary as a user meets it: the demo end to end, the single-instance guard on SQLite,
//! and bad campaign files rejected with positions while nothing stored changes.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use pressroom_e2e::{Db, TestApp, block_on, terminate};
use pressroom_store::repo::{campaigns, workspaces};

const VALID: &str = r#"name = "launch"
workspace = "cli"

[schedule]
cron = "0 9 * * *"
timezone = "Europe/Paris"

[generation]
prompt = "a {{ product }} on a table"
steps = 2
width = 64
height = 64

[caption]
template = "Meet the {{ product }}"

[variables]
product = "tote"

[[targets]]
account = "main"
preset = "instagram-square"
"#;

/// Spec mistakes: bad cron, unknown zone, template syntax error (references to accounts and
/// presets are checked once the file parses: see `BAD_REFERENCES`).
const BROKEN: &str = r#"name = "launch"
workspace = "cli"

[schedule]
cron = "0 25 * * *"
timezone = "Europe/Pariss"

[generation]
prompt = "a {{ product on a table"
steps = 2
width = 64
height = 64

[caption]
template = "Meet the {{ product }}"

[variables]
product = "tote"

[[targets]]
account = "nobody"
preset = "instagram-squarish"
"#;

/// Parses, but names an account and a preset that do not exist.
const BAD_REFERENCES: &str = r#"name = "launch"
workspace = "cli"

[schedule]
webhook = true

[generation]
prompt = "a tote"
steps = 2
width = 64
height = 64

[caption]
template = "Meet the tote"

[[targets]]
account = "nobody"
preset = "instagram-squarish"
"#;

#[test]
fn demo_runs_one_occurrence_end_to_end() -> anyhow::Result<()> {
    let app = TestApp::new(Db::Sqlite, "")?;
    let out = app.run(&["demo"])?;
    assert!(out.contains("4 of 4 posts published"), "{out}");
    let preview = app.data_dir.join("outbox/index.html");
    assert!(
        out.contains(&preview.display().to_string()),
        "the preview path is printed: {out}"
    );
    let html = std::fs::read_to_string(&preview)?;
    assert_eq!(html.matches("class=post").count(), 4, "{html}");
    let commits = std::fs::read_to_string(app.data_dir.join("outbox/commits.jsonl"))?;
    assert_eq!(commits.lines().count(), 4);
    // Each rendition exists with its preset's exact size.
    for (preset, w, h) in [
        ("instagram-square", 1080, 1080),
        ("instagram-story", 1080, 1920),
        ("linkedin-landscape", 1200, 627),
    ] {
        let dir = app.data_dir.join("renditions");
        let file = walk(&dir).into_iter().find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(preset))
        });
        let file = file.ok_or_else(|| anyhow::anyhow!("no rendition for {preset}"))?;
        let (fw, fh) = jpeg_or_png_size(&std::fs::read(&file)?)
            .ok_or_else(|| anyhow::anyhow!("unreadable {file:?}"))?;
        assert_eq!((fw, fh), (w, h), "{preset}");
    }
    // A second demo in the same directory reuses the generated image (same generation key).
    let again = app.run(&["demo"])?;
    assert!(again.contains("4 of 4 posts published"), "{again}");
    Ok(())
}

/// A campaign of its own photos (`[media] files`): a missing or broken file is refused at
/// validation with its position; the good campaign publishes the photos (upright, as a
/// carousel where asked) without generating anything.
#[test]
fn a_campaign_publishes_its_own_photos() -> anyhow::Result<()> {
    let app = TestApp::new(Db::Sqlite, "")?;
    let dir = app.path().join("shop");
    std::fs::create_dir_all(dir.join("photos"))?;
    image::RgbImage::from_pixel(160, 120, image::Rgb([200, 60, 60]))
        .save(dir.join("photos/front.jpg"))?;
    image::RgbImage::from_pixel(120, 160, image::Rgb([60, 60, 200]))
        .save(dir.join("photos/back.png"))?;
    std::fs::write(dir.join("photos/broken.jpg"), b"\xFF\xD8\xFF\xE0 cut short")?;
    let campaign = |files: &str| {
        format!(
            r#"name = "shop"
workspace = "demo"

[schedule]
webhook = true

[media]
files = [{files}]

[caption]
template = "Our shop"
alt_text = "Shop photo {{{{ image.index + 1 }}}} of {{{{ image.count }}}}"

[[targets]]
account = "demo-instagram"
preset = "instagram-square"
format = "carousel"

[[targets]]
account = "demo-linkedin"
preset = "linkedin-square"
"#
        )
    };
    let file = dir.join("shop.toml");
    let path = file.display().to_string();
    std::fs::write(
        &file,
        campaign(r#""photos/front.jpg", "photos/missing.jpg", "photos/broken.jpg""#),
    )?;
    let (ok, stdout, _) = app.run_with_env(&["campaign", "validate", &path], &[])?;
    ensure!(!ok, "{stdout}");
    for needle in [
        "shop.toml:8:30: media.files[1]: `photos/missing.jpg`: cannot read",
        "shop.toml:8:52: media.files[2]: `photos/broken.jpg`:",
    ] {
        ensure!(stdout.contains(needle), "want {needle:?} in:\n{stdout}");
    }

    std::fs::write(&file, campaign(r#""photos/front.jpg", "photos/back.png""#))?;
    let out = app.run(&["demo", "--campaign", &path])?;
    ensure!(out.contains("2 of 2 posts published"), "{out}");
    let commits: Vec<serde_json::Value> = app.sandbox_commits()?;
    let carousel = commits
        .iter()
        .find(|c| c["preset"] == "instagram-square")
        .context("no Instagram post")?;
    ensure!(
        carousel["format"] == "carousel"
            && carousel["more_media"].as_array().map(Vec::len) == Some(1)
            && carousel["alt_texts"]
                == serde_json::json!(["Shop photo 1 of 2", "Shop photo 2 of 2"]),
        "{carousel}"
    );
    let single = commits
        .iter()
        .find(|c| c["preset"] == "linkedin-square")
        .context("no LinkedIn post")?;
    ensure!(
        single.get("more_media").is_none() && single["caption"] == "Our shop",
        "{single}"
    );
    // The first photo, red, cut square: nothing was generated in its place.
    let media = app
        .data_dir
        .join("outbox")
        .join(carousel["media"].as_str().unwrap_or_default());
    let first = image::open(&media)?.to_rgb8();
    let pixel = first.get_pixel(first.width() / 2, first.height() / 2);
    ensure!(
        pixel[0] > 150 && pixel[2] < 110,
        "{pixel:?} in {}",
        media.display()
    );
    Ok(())
}

#[test]
fn a_second_instance_on_one_sqlite_database_is_refused() -> anyhow::Result<()> {
    let mut app = TestApp::new(Db::Sqlite, "[scheduler]\nenabled = false\n")?;
    let mut first = app.spawn_serve("first")?;
    let started = Instant::now();
    while app.count_in_logs("pressroom is running") == 0 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "first instance never started:\n{}",
            app.dump_logs(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = app.run(&["serve"]);
    let status = terminate(&mut first, Duration::from_secs(20))?;
    let err = format!(
        "{:#}",
        second.expect_err("the second instance must not start")
    );
    assert!(
        err.contains("another pressroom instance already uses"),
        "{err}"
    );
    assert!(err.contains("SQLite mode is single-instance"), "{err}");
    assert!(
        status.success(),
        "the first instance stops cleanly on SIGTERM: {status}"
    );
    // The lock went with the first process: a new instance starts.
    let mut third = app.spawn_serve("third")?;
    let started = Instant::now();
    while app.count_in_logs("pressroom is running") < 2 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "third instance never started:\n{}",
            app.dump_logs(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    terminate(&mut third, Duration::from_secs(20))?;
    Ok(())
}

#[test]
fn a_broken_campaign_is_reported_with_positions_and_changes_nothing() -> anyhow::Result<()> {
    let app = TestApp::new(Db::Sqlite, "")?;
    app.run(&["accounts", "add-sandbox", "main", "--workspace", "cli"])?;
    let good = app.path().join("launch.toml");
    std::fs::write(&good, VALID)?;
    app.run(&["campaign", "load", good.to_str().unwrap_or_default()])?;

    let bad = app.path().join("launch-broken.toml");
    std::fs::write(&bad, BROKEN)?;
    let bad_path = bad.display().to_string();
    let validate = app.run(&["campaign", "validate", &bad_path]);
    let report = format!("{:#}", validate.expect_err("validate exits non-zero"));
    for (line, field) in [
        (5, "schedule.cron"),
        (6, "schedule.timezone"),
        (9, "generation.prompt"),
    ] {
        let needle = format!("{bad_path}:{line}:");
        let hit = report
            .lines()
            .find(|l| l.starts_with(&needle) && l.contains(field));
        assert!(
            hit.is_some(),
            "expected {field} at line {line} in:\n{report}"
        );
    }
    let refs = app.path().join("launch-refs.toml");
    std::fs::write(&refs, BAD_REFERENCES)?;
    let refs_path = refs.display().to_string();
    let report = format!(
        "{:#}",
        app.run(&["campaign", "validate", &refs_path])
            .expect_err("unknown references")
    );
    for (line, field, word) in [
        (17, "targets[0].account", "nobody"),
        (18, "targets[0].preset", "instagram-squarish"),
    ] {
        let needle = format!("{refs_path}:{line}:");
        let hit = report
            .lines()
            .find(|l| l.starts_with(&needle) && l.contains(field) && l.contains(word));
        assert!(
            hit.is_some(),
            "expected {field} at line {line} in:\n{report}"
        );
    }
    assert!(
        app.run(&["campaign", "load", &refs_path]).is_err(),
        "unknown references are not stored"
    );

    let load = app.run(&["campaign", "load", &bad_path]);
    assert!(load.is_err(), "a broken file is not stored");
    // A batch with one bad file saves none of them, not even the good one before it.
    let changed = app.path().join("launch-changed.toml");
    std::fs::write(&changed, VALID.replace("Meet the", "Say hello to the"))?;
    let batch = app.run(&[
        "campaign",
        "load",
        &changed.display().to_string(),
        &bad_path,
    ]);
    let report = format!("{:#}", batch.expect_err("a batch with a bad file fails"));
    assert!(report.contains("nothing was saved"), "{report}");
    block_on(async {
        let store = app.store().await?;
        let ws = workspaces::by_slug(&store, "cli")
            .await?
            .ok_or_else(|| anyhow::anyhow!("workspace"))?;
        let row = campaigns::by_name(&store, &ws.id, "launch")
            .await?
            .ok_or_else(|| anyhow::anyhow!("campaign"))?;
        assert_eq!(row.source, VALID, "the stored campaign is untouched");
        Ok::<_, anyhow::Error>(())
    })?;

    let good_validate = app.run(&["campaign", "validate", good.to_str().unwrap_or_default()])?;
    assert!(good_validate.contains("ok (1 targets)"), "{good_validate}");
    Ok(())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A campaign that leaves its size to a `fit = "native"` target generates at the model's own
/// size for that target's aspect: the tiny model was trained at a 256-pixel short side, so a
/// 9:16 story is made at 320×576 (the pair of multiples of 64 nearest that side and aspect),
/// not at the 512×512 default that would be cropped.
#[test]
fn a_native_target_chooses_the_generation_size() -> anyhow::Result<()> {
    let app = TestApp::new(Db::Sqlite, "")?;
    let file = app.path().join("story.toml");
    let campaign = |size: &str| {
        format!(
            r#"name = "story"
workspace = "demo"

[schedule]
webhook = true

[generation]
prompt = "A tall lighthouse"
steps = 2
seed = 3
{size}

[caption]
template = "Tall"

[[targets]]
account = "demo-instagram"
preset = "instagram-story"
fit = "native"
"#
        )
    };
    let sizes = |app: &TestApp| {
        block_on(async {
            let store = app.store().await?;
            let ws = workspaces::by_slug(&store, "demo")
                .await?
                .ok_or_else(|| anyhow::anyhow!("workspace"))?;
            let page = pressroom_store::Paging::new(None, 10);
            let made = pressroom_store::repo::assets::page(&store, &ws.id, None, page).await?;
            Ok::<_, anyhow::Error>(made.iter().map(|a| (a.width, a.height)).collect::<Vec<_>>())
        })
    };
    std::fs::write(&file, campaign(""))?;
    let out = app.run(&["demo", "--campaign", &file.display().to_string()])?;
    ensure!(out.contains("1 of 1 posts published"), "{out}");
    ensure!(sizes(&app)? == [(320, 576)], "{:?}", sizes(&app)?);
    // A size written in the campaign wins.
    std::fs::write(&file, campaign("width = 320\nheight = 320"))?;
    let out = app.run(&["demo", "--campaign", &file.display().to_string()])?;
    ensure!(out.contains("1 of 1 posts published"), "{out}");
    let mut made = sizes(&app)?;
    made.sort_unstable();
    ensure!(made == [(320, 320), (320, 576)], "{made:?}");
    Ok(())
}

/// Width and height from a PNG IHDR or a JPEG SOF marker.
fn jpeg_or_png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.starts_with(b"\x89PNG") {
        let w = u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
        let h = u32::from_be_bytes(bytes.get(20..24)?.try_into().ok()?);
        return Some((w, h));
    }
    let mut i = 2;
    while i + 9 < bytes.len() {
        if bytes[i] != 0xFF {
            return None;
        }
        let marker = bytes[i + 1];
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        if (0xC0..=0xC3).contains(&marker) {
            let h = u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]) as u32;
            let w = u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]) as u32;
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

/// The daemon's publish path under scripted platform failures: transient errors are retried,
/// a lost response after landing is reconciled (not re-posted), a rejection fails the post
/// with the platform's reason — and the outbox holds exactly one commit per published post.
#[test]
fn scripted_failures_end_without_double_posts() -> anyhow::Result<()> {
    let app = TestApp::new(
        Db::Sqlite,
        r#"[retry]
base_ms = 50
cap_ms = 300

[connectors.sandbox]
failures = [
  { phase = "prepare", kind = "rejected", times = 1 },
  { phase = "commit", kind = "transient", times = 2 },
  { phase = "after_commit", kind = "outcome_unknown", times = 1 },
]
"#,
    )?;
    let demo = app.run(&["demo"]);
    let out = format!(
        "{:#}",
        demo.expect_err("one post is rejected, so the demo exits non-zero")
    );
    assert!(out.contains("3 of 4 posts published"), "{out}");
    let posts = app.posts("demo")?;
    assert_eq!(posts.len(), 4);
    let failed: Vec<_> = posts.iter().filter(|p| p["state"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{posts:?}");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("scripted rejection"),
        "{failed:?}"
    );
    let commits = std::fs::read_to_string(app.data_dir.join("outbox/commits.jsonl"))?;
    let mut attempts: Vec<&str> = commits.lines().collect();
    assert_eq!(
        attempts.len(),
        3,
        "three commits for three published posts:\n{commits}"
    );
    attempts.sort();
    attempts.dedup();
    assert_eq!(attempts.len(), 3);
    for p in posts.iter().filter(|p| p["state"] == "published") {
        let remote = p["remote_id"].as_str().unwrap_or_default();
        let attempt = remote.trim_start_matches("sandbox-");
        // The attempt id appears in a line's attempt_id (and its media name): count lines.
        let needle = format!("\"attempt_id\":\"{attempt}\"");
        let lines = commits.lines().filter(|l| l.contains(&needle)).count();
        assert_eq!(lines, 1, "post {remote} committed exactly once\n{commits}");
    }
    Ok(())
}

/// `[media.presets.NAME]` in the config reaches `pressroom presets` and `pressroom render`: a
/// changed size and byte limit are what the rendition gets, an added preset renders; a bad
/// override stops the binary with the key named.
#[test]
fn preset_overrides_from_config_reach_presets_and_render() -> anyhow::Result<()> {
    let app = TestApp::new(
        Db::Sqlite,
        r#"[media.presets.instagram-square]
height = 900
max_bytes = 120_000

[media.presets.shop-banner]
platform = "sandbox"
width = 1500
height = 500
formats = ["png"]
max_bytes = 3_000_000
"#,
    )?;
    let table = app.run(&["presets"])?;
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_default()
            .to_string()
    };
    let square = row("instagram-square");
    assert!(
        square.contains("1080x900") && square.contains("120000") && square.contains("sRGB"),
        "{table}"
    );
    assert!(row("shop-banner").contains("1500x500"), "{table}");

    let input = app.path().join("photo.png");
    image::RgbImage::from_fn(1200, 800, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8])
    })
    .save(&input)?;
    for (preset, output, size) in [
        ("instagram-square", "square.jpg", (1080, 900)),
        ("shop-banner", "banner.png", (1500, 500)),
    ] {
        let output = app.path().join(output);
        app.run(&[
            "render",
            "--preset",
            preset,
            "--input",
            input.to_str().unwrap_or_default(),
            "--output",
            output.to_str().unwrap_or_default(),
        ])?;
        let bytes = std::fs::read(&output)?;
        assert_eq!(jpeg_or_png_size(&bytes), Some(size), "{preset}");
        if preset == "instagram-square" {
            assert!(bytes.len() <= 120_000, "{} bytes", bytes.len());
        }
    }

    let bad = TestApp::new(
        Db::Sqlite,
        "[media.presets.instagram-square]\nwidth = 3000\n",
    )?;
    let err = format!("{:#}", bad.run(&["presets"]).expect_err("bad override"));
    assert!(
        err.contains("media.presets.instagram-square") && err.contains("aspect"),
        "{err}"
    );
    Ok(())
}

/// A campaign with one target on a sandbox account and the `sandbox` preset whose caption is
/// short for the sample run validation renders and 6000 characters for any real run: static
/// validation cannot see it, so the publish worker must refuse it before the platform call.
const LONG_AT_RUN_TIME: &str = r#"name = "late-caption"
workspace = "captions"

[schedule]
webhook = true

[generation]
prompt = "a tote"
steps = 2
width = 64
height = 64

[caption]
template = "{% if run.date == '2030-09-25' %}short{% else %}{% for i in range(6000) %}x{% endfor %}{% endif %}"

[[targets]]
account = "main"
preset = "sandbox"
"#;

/// Caption rules (pressroom-media's table) at validation, with positions, and before
/// publishing, where a violation fails the post for good naming the platform and the rule and
/// nothing reaches the platform.
#[test]
fn caption_rules_are_checked_at_validation_and_before_publishing() -> anyhow::Result<()> {
    let app = TestApp::new(Db::Sqlite, "")?;
    let tags: Vec<String> = (0..31).map(|i| format!("#tag{i}")).collect();
    let too_many = VALID.replace(
        "template = \"Meet the {{ product }}\"",
        &format!(
            "template = \"Meet the {{{{ product }}}} {}\"",
            tags.join(" ")
        ),
    );
    let file = app.path().join("hashtags.toml");
    std::fs::write(&file, &too_many)?;
    let path = file.display().to_string();
    let report = format!(
        "{:#}",
        app.run(&["campaign", "validate", "--offline", &path])
            .expect_err("31 hashtags on Instagram")
    );
    let line = too_many
        .lines()
        .position(|l| l.starts_with("template ="))
        .map_or(0, |i| i + 1);
    let expected = format!(
        "{path}:{line}:12: caption.template: instagram: caption has 31 hashtags, limit is 30 (rule max_hashtags)"
    );
    assert!(report.contains(&expected), "{expected}\nin:\n{report}");

    let file = app.path().join("late.toml");
    std::fs::write(&file, LONG_AT_RUN_TIME)?;
    let path = file.display().to_string();
    let ok = app.run(&["campaign", "validate", "--offline", &path])?;
    assert!(ok.contains("ok (1 targets)"), "{ok}");
    let demo = app.run(&["demo", "--campaign", &path]);
    let out = format!("{:#}", demo.expect_err("the post fails"));
    assert!(out.contains("0 of 1 posts published"), "{out}");
    let posts = app.posts("captions")?;
    let post = &posts[0];
    assert_eq!(post["state"], "failed", "{posts:?}");
    let error = post["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("sandbox: caption is 6000 characters, limit is 5000")
            && error.contains("max_length"),
        "{error}"
    );
    let commits =
        std::fs::read_to_string(app.data_dir.join("outbox/commits.jsonl")).unwrap_or_default();
    assert_eq!(
        commits.lines().count(),
        0,
        "nothing was published:\n{commits}"
    );
    Ok(())
}

#[test]
fn environment_variables_override_the_configuration_and_are_validated() -> anyhow::Result<()> {
    let app = TestApp::new(Db::Sqlite, "")?;
    let (ok, before, err) = app.run_with_env(&["presets"], &[])?;
    assert!(ok, "{err}");
    assert!(before.contains("1024x1024"), "{before}");
    // A nested key, typed from its string: the sandbox preset gets a new height.
    let (ok, after, err) = app.run_with_env(
        &["presets"],
        &[("PRESSROOM__MEDIA__PRESETS__SANDBOX__HEIGHT", "500")],
    )?;
    assert!(ok, "{err}");
    assert!(after.contains("1024x500"), "{after}");
    // A bad value from the environment is refused at start, naming the key.
    let (ok, _, err) = app.run_with_env(
        &["presets"],
        &[("PRESSROOM__WORKERS__ROLES", "generate,paint")],
    )?;
    assert!(
        !ok && err.contains("workers.roles") && err.contains("paint"),
        "{err}"
    );
    let (ok, _, err) =
        app.run_with_env(&["presets"], &[("PRESSROOM__WORKERS__CONCURENCY", "3")])?;
    assert!(!ok && err.contains("concurency"), "{err}");
    Ok(())
}
