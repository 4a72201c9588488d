//! The pages people use, in a real browser (Debian's headless Chromium through chromedriver)
//! against the real binary: a client opens a review link, sees every candidate, picks the
//! second, edits the caption and approves — and exactly that goes out; an invited person sets
//! their password on the invitation page and is signed in. Each page is checked for what a
//! screen reader needs and photographed into `target/e2e-screenshots/`.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use fantoccini::Locator;
use pressroom_e2e::{Browser, Db, TestApp, block_on, free_port, http_request, terminate};

const CAMPAIGN: &str = r#"name = "spring-tote"
workspace = "acme"

[schedule]
webhook = true

[generation]
backend = "local"
prompt = "A linen tote bag on a wooden table"
steps = 2
width = 64
height = 64
seed = 5

[caption]
template = "Spring is here: our <b>Linen Tote</b> & friends."

[[targets]]
account = "sb"
preset = "instagram-square"

[approval]
candidates = 2
"#;

/// The run id of the first pending review once its candidates are ready.
fn pending_run(addr: &str, key: &str) -> anyhow::Result<String> {
    let auth = format!("Bearer {key}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let answer = http_request(
            addr,
            "GET",
            "/v1/reviews?state=pending",
            &[("authorization", &auth)],
            b"",
        )?;
        let body = answer.json();
        let first = &body["data"][0];
        if first["candidates"].as_array().is_some_and(|c| c.len() == 2) {
            return first["run_id"]
                .as_str()
                .map(str::to_owned)
                .context("a review without a run");
        }
        ensure!(
            Instant::now() < deadline,
            "no pending review in 120 s: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

async fn approve_in_the_browser(link: &str, invite: &str) -> anyhow::Result<()> {
    let browser = Browser::start(1100, 1400).await?;
    let c = &browser.client;
    c.goto(link).await?;
    let second = c
        .wait()
        .for_element(Locator::Css("input[name=candidate][value='1']"))
        .await?;
    let shown = c
        .find_all(Locator::Css("[data-testid=review-candidate]"))
        .await?;
    ensure!(shown.len() == 2, "{} candidates shown", shown.len());
    let problems = browser.accessibility_problems().await?;
    ensure!(problems.is_empty(), "review page: {problems:?}");
    let loaded = browser.images_loaded(Duration::from_secs(20)).await?;
    ensure!(loaded, "a candidate image did not load");
    let caption = c.find(Locator::Css("[data-testid=review-caption]")).await?;
    ensure!(
        caption.prop("value").await?.as_deref()
            == Some("Spring is here: our <b>Linen Tote</b> & friends."),
        "the caption is shown as text, markup and all"
    );
    browser.screenshot("review-pending").await?;
    second.click().await?;
    caption.clear().await?;
    caption.send_keys("Approved in the browser").await?;
    c.find(Locator::Css("input[name=name]"))
        .await?
        .send_keys("Dana")
        .await?;
    c.find(Locator::Css("[data-testid=review-approve]"))
        .await?
        .click()
        .await?;
    let notice = c.wait().for_element(Locator::Css("p.notice")).await?;
    let text = notice.text().await?;
    ensure!(
        text.contains("published as approved"),
        "after approving: {text}"
    );
    let status = c.find(Locator::Css("main")).await?.text().await?;
    ensure!(
        status.contains("Dana, through a review link") && status.contains("Candidate 2 · chosen"),
        "{status}"
    );
    browser.screenshot("review-approved").await?;

    c.goto(invite).await?;
    c.wait()
        .for_element(Locator::Css("input[name=password]"))
        .await?;
    let problems = browser.accessibility_problems().await?;
    ensure!(problems.is_empty(), "invitation page: {problems:?}");
    browser.screenshot("invite").await?;
    for field in ["password", "confirm"] {
        c.find(Locator::Css(&format!("input[name={field}]")))
            .await?
            .send_keys("a long enough passphrase")
            .await?;
    }
    c.find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    let done = c.wait().for_element(Locator::Css("p.done")).await?;
    ensure!(done.text().await?.contains("client@acme.example"));
    browser.screenshot("invite-done").await?;
    browser.close().await
}

#[test]
fn a_client_approves_in_a_browser_and_an_invitee_signs_in() -> anyhow::Result<()> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let config = format!(
        "[api]\nbind = \"{addr}\"\n\n[media]\npublic_base_url = \"http://{addr}\"\n\n\
         [scheduler]\nenabled = false\n\n[workers]\npoll_ms = 50\n"
    );
    let mut app = TestApp::new(Db::Sqlite, &config)?;
    app.run(&["accounts", "add-sandbox", "sb", "--workspace", "acme"])?;
    let file = app.path().join("spring-tote.toml");
    std::fs::write(&file, CAMPAIGN)?;
    app.run(&["campaign", "load", &file.display().to_string()])?;
    app.run(&["campaign", "trigger", "spring-tote", "--workspace", "acme"])?;
    let key = app
        .run(&["keys", "create", "--workspace", "acme", "--role", "editor"])?
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    let invite = app
        .run(&[
            "users",
            "add",
            "client@acme.example",
            "--workspace",
            "acme",
            "--role",
            "approver",
        ])?
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();

    let mut serve = app.spawn_serve("browser")?;
    let outcome = (|| -> anyhow::Result<()> {
        app.wait_healthy(&addr, Duration::from_secs(120))?;
        let run = pending_run(&addr, &key)?;
        let auth = format!("Bearer {key}");
        let created = http_request(
            &addr,
            "POST",
            &format!("/v1/runs/{run}/review-links"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            b"{}",
        )?;
        ensure!(created.status == 201, "{} {}", created.status, created.body);
        let link = created.json()["url"].as_str().context("no url")?.to_owned();
        block_on(approve_in_the_browser(&link, &invite))?;

        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let posts = app.posts("acme")?;
            if posts.iter().all(|p| p["state"] == "published") && !posts.is_empty() {
                ensure!(posts.len() == 1);
                ensure!(
                    posts[0]["caption"] == "Approved in the browser",
                    "{:?}",
                    posts[0]
                );
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "not published in 60 s: {posts:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    outcome.map_err(|e| anyhow::anyhow!("{e:#}\n{}", app.dump_logs(40)))?;
    stopped?;
    Ok(())
}
