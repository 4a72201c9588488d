//! Insights through the real daemon (PLATFORMS.md §9): one run publishes to Instagram,
//! Facebook, LinkedIn, TikTok and Snapchat; each fake then reports numbers for its post in its
//! own names and shapes, and the daemon's fetch-back schedule (shortened to seconds by
//! `[insights] schedule`) stores a series per post. The insights API sums them per platform
//! and campaign and ranks the best post; Facebook's insights permission is then taken away,
//! and a fetch on request marks the account "reconnect … read_insights" instead of failing
//! silently. Last, `pressroom report` writes the client report: every section is in its HTML,
//! nothing in it points outside the page, and headless Chromium shows it (screenshot
//! `docs/screenshots/report.png`). Runs on SQLite and on PostgreSQL.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use connector_facebook::fake::FakeFacebook;
use connector_instagram::fake::FakeInstagram;
use connector_linkedin::fake::FakeLinkedIn;
use connector_snapchat::fake::FakeSnapchat;
use connector_tiktok::fake::FakeTikTok;
use pressroom_connector::PostMetrics;
use pressroom_connector::testkit::{Account, FakeControls, InsightsControls};
use pressroom_e2e::{Browser, Db, TestApp, free_port, http_call, terminate};
use serde_json::{Value, json};

use crate::platforms::{
    daemon_sections, import_and_load, import_entry, linkedin_section, meta_sections,
    snapchat_section, tiktok_section,
};

const CAMPAIGN: &str = r#"name = "winter"
workspace = "acme"

[schedule]
webhook = true

[generation]
prompt = "a {{ product }} in the snow"
steps = 2
width = 64
height = 64
seed = 42

[caption]
template = "The {{ product }} for cold mornings"

[variables]
product = "scarf"

[[targets]]
account = "ig-1"
preset = "instagram-square"

[[targets]]
account = "fb-1"
preset = "facebook-square"

[[targets]]
account = "li-1"
preset = "linkedin-square"

[[targets]]
account = "tt-1"
preset = "tiktok-photo"

[[targets]]
account = "sc-1"
preset = "snapchat-story"
"#;

/// Three fetches per post, seconds apart instead of hours: the numbers are set once every
/// post is published, so an early post's first fetch may still find none.
const INSIGHTS: &str = r#"
[insights]
schedule = ["4s", "10s", "16s"]

[workers]
poll_ms = 50
"#;

/// The numbers each platform's fake is told to report: distinct per platform, so a sum that
/// mixes them up shows.
fn numbers(base: u64) -> PostMetrics {
    PostMetrics {
        views: Some(base * 10),
        reach: Some(base * 7),
        likes: Some(base),
        comments: Some(base / 10),
        shares: Some(base / 20),
        saves: Some(base / 25),
        clicks: Some(base / 5),
    }
}

fn as_map(m: &PostMetrics) -> BTreeMap<String, u64> {
    m.measured().map(|(n, v)| (n.to_owned(), v)).collect()
}

fn get(addr: &str, key: &str, path: &str) -> anyhow::Result<Value> {
    let (status, body) = http_call(addr, "GET", path, Some(key))?;
    ensure!(status == 200, "GET {path}: {status} {body}");
    serde_json::from_str(&body).with_context(|| format!("GET {path}: {body}"))
}

fn wait_for(
    app: &TestApp,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !done()? {
        if Instant::now() > deadline {
            bail!(
                "{what} not reached after {timeout:?}\n{}",
                app.dump_logs(80)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn insights_through_the_daemon(db: Db) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fb = rt.block_on(FakeFacebook::start())?;
    let ig = rt.block_on(FakeInstagram::start())?;
    let li = rt.block_on(FakeLinkedIn::start())?;
    let tt = rt.block_on(FakeTikTok::start())?;
    let sc = rt.block_on(FakeSnapchat::start())?;
    let accounts: Vec<(&str, &str, Account)> = vec![
        ("instagram", "ig-1", rt.block_on(ig.connect_account())),
        ("facebook", "fb-1", rt.block_on(fb.connect_account())),
        ("linkedin", "li-1", rt.block_on(li.connect_account())),
        ("tiktok", "tt-1", rt.block_on(tt.connect_account())),
        ("snapchat", "sc-1", rt.block_on(sc.connect_account())),
    ];
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let extra = format!(
        "{}{}{}{}{}{INSIGHTS}",
        daemon_sections(port),
        meta_sections(&fb, &ig),
        linkedin_section(&li),
        tiktok_section(&tt),
        snapchat_section(&sc),
    );
    let mut app = TestApp::new(db, &extra)?;
    let import: Vec<Value> = accounts
        .iter()
        .map(|(platform, name, a)| import_entry(platform, name, a, None))
        .collect();
    import_and_load(&app, &json!(import), CAMPAIGN)?;
    let key = app
        .run(&["keys", "create", "--workspace", "acme", "--role", "editor"])?
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();

    let mut serve = app.spawn_serve("insights")?;
    let outcome = (|| -> anyhow::Result<()> {
        app.wait_healthy(&addr, Duration::from_secs(30))?;
        app.run(&["campaign", "trigger", "winter", "--workspace", "acme"])?;
        let mut posts = Vec::new();
        wait_for(
            &app,
            Duration::from_secs(180),
            "five posts published",
            || {
                posts = app.posts("acme")?;
                Ok(posts.len() == 5 && posts.iter().all(|p| p["state"] == "published"))
            },
        )?;

        // Each platform reports its numbers in its own names; what the daemon must read back
        // is the subset that platform has.
        let mut expected: BTreeMap<String, (String, BTreeMap<String, u64>)> = BTreeMap::new();
        for (i, post) in posts.iter().enumerate() {
            let platform = post["platform"].as_str().context("platform")?.to_owned();
            let remote = post["remote_id"].as_str().context("remote id")?;
            let set = numbers(100 * (i as u64 + 1));
            let reported = rt.block_on(async {
                match platform.as_str() {
                    "instagram" => ig.set_post_metrics(remote, &set).await,
                    "facebook" => fb.set_post_metrics(remote, &set).await,
                    "linkedin" => li.set_post_metrics(remote, &set).await,
                    "tiktok" => tt.set_post_metrics(remote, &set).await,
                    _ => sc.set_post_metrics(remote, &set).await,
                }
            });
            ensure!(!reported.is_empty(), "{platform} reports nothing");
            let id = post["id"].as_str().context("id")?.to_owned();
            expected.insert(id, (platform, as_map(&reported)));
        }

        // The schedule's two fetches land in each post's series, the last with those numbers.
        wait_for(
            &app,
            Duration::from_secs(120),
            "two fetches per post",
            || {
                for (id, (_, numbers)) in &expected {
                    let series = get(&addr, &key, &format!("/v1/posts/{id}/metrics"))?;
                    let points = series["series"].as_array().cloned().unwrap_or_default();
                    let last = points.last().map(|p| p["metrics"].clone());
                    if points.len() < 2 || last != Some(json!(numbers)) {
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        )?;

        // Sums per platform are each platform's own numbers; per campaign, all of them.
        let by_platform = get(&addr, &key, "/v1/insights?group_by=platform")?;
        let groups = by_platform["groups"].as_array().context("groups")?;
        ensure!(groups.len() == 5, "{by_platform}");
        for (platform, numbers) in expected.values() {
            let group = groups
                .iter()
                .find(|g| g["key"] == platform.as_str())
                .with_context(|| format!("no {platform} group in {by_platform}"))?;
            ensure!(group["sums"] == json!(numbers), "{platform}: {group}");
            ensure!(group["measured_posts"] == 1, "{group}");
        }
        let by_campaign = get(&addr, &key, "/v1/insights?group_by=campaign")?;
        let mut total: BTreeMap<String, u64> = BTreeMap::new();
        for (_, numbers) in expected.values() {
            for (name, value) in numbers {
                *total.entry(name.clone()).or_default() += value;
            }
        }
        ensure!(
            by_campaign["groups"][0]["label"] == "winter"
                && by_campaign["groups"][0]["sums"] == json!(total)
                && by_campaign["totals"]["posts"] == 5,
            "{by_campaign}"
        );

        // The best post by likes, with what made it.
        let top = get(&addr, &key, "/v1/insights/top?metric=likes&limit=2")?;
        let best = expected
            .iter()
            .max_by_key(|(_, (_, n))| n.get("likes").copied().unwrap_or(0))
            .map(|(id, _)| id.clone())
            .context("a best post")?;
        let first = &top["data"][0];
        ensure!(first["post_id"] == best.as_str(), "{top}");
        ensure!(
            first["prompt"] == "a scarf in the snow"
                && first["seed"] == 42
                && first["caption"] == "The scarf for cold mornings"
                && first["asset_id"].is_string(),
            "{top}"
        );

        // Facebook's insights permission is taken away: a fetch now marks the account.
        let fb_account = &accounts[1].2;
        rt.block_on(fb.revoke_insights(fb_account));
        let (fb_post, _) = expected
            .iter()
            .find(|(_, (p, _))| p == "facebook")
            .context("the facebook post")?;
        let (status, body) = http_call(
            &addr,
            "POST",
            &format!("/v1/posts/{fb_post}/metrics/fetch"),
            Some(&key),
        )?;
        ensure!(status == 202, "fetch now: {status} {body}");
        wait_for(&app, Duration::from_secs(60), "fb-1 marked", || {
            let listed = get(&addr, &key, "/v1/accounts")?;
            Ok(listed["data"].as_array().into_iter().flatten().any(|a| {
                a["name"] == "fb-1"
                    && a["insights_problem"]
                        .as_str()
                        .is_some_and(|p| p.contains("read_insights"))
            }))
        })?;
        let others_fine = get(&addr, &key, "/v1/accounts")?["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["name"] != "fb-1")
            .all(|a| a["insights_problem"].is_null());
        ensure!(others_fine, "only fb-1 lost its insights");

        // The report over the API is the same page the CLI writes.
        let (status, page) = http_call(&addr, "GET", "/v1/reports", Some(&key))?;
        ensure!(
            status == 200 && page.contains("By platform"),
            "GET /v1/reports: {status} {page}"
        );
        Ok(())
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    outcome?;
    stopped?;

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let report = app.path().join("report.html");
    let report_arg = report.display().to_string();
    app.run(&[
        "report",
        "--workspace",
        "acme",
        "--from",
        &today,
        "--to",
        &today,
        "--output",
        &report_arg,
    ])?;
    let html = std::fs::read_to_string(&report)?;
    for section in [
        "Totals",
        "by day of publishing",
        "By platform",
        "By campaign",
        "Top posts by views",
        "Every post of the period",
        "The scarf for cold mornings",
        "a scarf in the snow",
        "<svg",
        "data:image/jpeg;base64,",
    ] {
        ensure!(html.contains(section), "the report lacks {section:?}");
    }
    for platform in ["instagram", "facebook", "linkedin", "tiktok", "snapchat"] {
        ensure!(html.contains(platform), "the report lacks {platform}");
    }
    for outside in ["src=\"http", "<script", "<link", "url(", "@import"] {
        ensure!(
            !html.contains(outside),
            "the report refers outside itself: {outside}"
        );
    }

    rt.block_on(async {
        let browser = Browser::start(1280, 1600).await?;
        let seen = async {
            browser
                .client
                .goto(&format!("file://{}", report.display()))
                .await?;
            ensure!(
                browser.images_loaded(Duration::from_secs(10)).await?,
                "the report's images did not load"
            );
            let problems = browser.accessibility_problems().await?;
            ensure!(problems.is_empty(), "accessibility: {problems:?}");
            let errors = browser.console_errors().await?;
            ensure!(errors.is_empty(), "console: {errors:?}");
            browser.screenshot_for_docs("report").await?;
            Ok(())
        }
        .await;
        browser.close().await?;
        seen
    })?;
    drop(rt);
    Ok(())
}

#[test]
fn posts_get_their_numbers_on_schedule_and_the_report_shows_them_sqlite() -> anyhow::Result<()> {
    insights_through_the_daemon(Db::Sqlite)
}

#[test]
fn posts_get_their_numbers_on_schedule_and_the_report_shows_them_postgres() -> anyhow::Result<()> {
    insights_through_the_daemon(Db::Postgres)
}
