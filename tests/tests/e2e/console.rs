//! The console in a real browser (Debian's headless Chromium through chromedriver) against the
//! real binary, as the people of an agency use it: Dana signs in (her browser in Auckland), finds
//! a campaign's next occurrence on the right day of the calendar in her zone, approves a review
//! with the second candidate and an edited caption (and the sandbox publishes exactly that),
//! sees a caption with `<script>` shown as text, gets a campaign's error at its line as she
//! types, switches workspaces; a client opens a review link on a phone. Every page is checked
//! for what a screen reader needs and for console errors, and photographed into
//! `docs/screenshots/` for the README.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chrono::TimeZone;
use fantoccini::Locator;
use pressroom_e2e::{Browser, Db, TestApp, block_on, free_port, http_request, terminate};

const ZONE: &str = "Pacific/Auckland";
const PASSWORD: &str = "a long enough passphrase";
const CAPTION: &str = "Spring is here <script>alert('x')</script> & friends";

const REVIEWED: &str = r#"name = "spring-tote"
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
template = "Spring is here <script>alert('x')</script> & friends"

[[targets]]
account = "sb"
preset = "instagram-square"

[approval]
candidates = 2
"#;

/// Fires every day at 23:30 UTC: 12:30 the next day in Auckland (NZDT, UTC+13, in December).
const SCHEDULED: &str = r#"name = "nightly-note"
workspace = "acme"

[schedule]
cron = "30 23 * * *"
timezone = "UTC"

[generation]
backend = "local"
prompt = "A quiet harbour at night"
steps = 2
width = 64
height = 64
seed = 9

[caption]
template = "Good night"

[[targets]]
account = "sb"
preset = "instagram-square"
"#;

/// A campaign file with one mistake, on line 9.
const BROKEN: &str = "name = \"broken\"\n\n[schedule]\nwebhook = true\n\n[generation]\nbackend = \"local\"\nprompt = \"x\"\nsteps = \"many\"\n\n[caption]\ntemplate = \"hi\"\n\n[[targets]]\naccount = \"sb\"\npreset = \"instagram-square\"\n";

/// The first pending review with both candidates ready: (review id, run id, candidate asset ids).
fn pending_review(addr: &str, key: &str) -> anyhow::Result<(String, String, Vec<String>)> {
    let auth = format!("Bearer {key}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let body = http_request(
            addr,
            "GET",
            "/v1/reviews?state=pending",
            &[("authorization", &auth)],
            b"",
        )?
        .json();
        let first = &body["data"][0];
        if let Some(c) = first["candidates"].as_array().filter(|c| c.len() == 2) {
            let assets = c
                .iter()
                .filter_map(|c| c["asset_id"].as_str().map(str::to_owned))
                .collect();
            return Ok((
                first["id"].as_str().context("id")?.to_owned(),
                first["run_id"].as_str().context("run_id")?.to_owned(),
                assets,
            ));
        }
        ensure!(
            Instant::now() < deadline,
            "no pending review in 120 s: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Opens `path`, waits for `ready`, then checks it as a person would meet it: nothing a screen
/// reader misses, no console error, a screenshot for the README.
async fn visit(b: &Browser, base: &str, path: &str, ready: &str, shot: &str) -> anyhow::Result<()> {
    b.client.goto(&format!("{base}{path}")).await?;
    b.client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(ready))
        .await
        .with_context(|| format!("{path}: no {ready}"))?;
    let problems = b.accessibility_problems().await?;
    ensure!(problems.is_empty(), "{path}: {problems:?}");
    no_console_errors(b, path).await?;
    b.screenshot_for_docs(shot).await?;
    Ok(())
}

/// Fails with the page's console errors, if it logged any.
async fn no_console_errors(b: &Browser, page: &str) -> anyhow::Result<()> {
    let errors = b.console_errors().await?;
    ensure!(errors.is_empty(), "{page}: console errors {errors:?}");
    Ok(())
}

struct World {
    base: String,
    addr: String,
    key: String,
    expected_day: String,
    review_id: String,
    run_id: String,
    candidates: Vec<String>,
}

async fn dana_at_work(w: &World) -> anyhow::Result<()> {
    let b = Browser::start_in_zone(1280, 900, Some(ZONE)).await?;
    let c = &b.client;

    // Signed out, the console sends her to sign in, then on to the page she asked for.
    c.goto(&format!("{}/calendar", w.base)).await?;
    c.wait()
        .for_element(Locator::Css("input[name=email]"))
        .await?;
    ensure!(
        c.current_url().await?.path() == "/login",
        "not sent to /login"
    );
    ensure!(b.accessibility_problems().await?.is_empty());
    b.screenshot_for_docs("login").await?;
    c.find(Locator::Css("input[name=email]"))
        .await?
        .send_keys("dana@acme.example")
        .await?;
    c.find(Locator::Css("input[name=password]"))
        .await?
        .send_keys("not her password")
        .await?;
    c.find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    let refused = c.wait().for_element(Locator::Css("p.notice.error")).await?;
    ensure!(
        refused.text().await?.contains("wrong"),
        "a wrong password is said so"
    );
    // The refusal is a 401, which the browser logs; nothing else may be there.
    let logged = b.console_errors().await?;
    ensure!(
        !logged.is_empty() && logged.iter().all(|e| e.contains("401")),
        "sign-in: {logged:?}"
    );
    c.find(Locator::Css("input[name=password]"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    c.find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;

    // The calendar, in her zone: the script tells the server her zone and the page reloads.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let zone = c
            .execute("return document.body && document.body.dataset.tz", vec![])
            .await?;
        if zone == serde_json::json!(ZONE) && c.current_url().await?.path() == "/calendar" {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the calendar never showed {ZONE}: {zone}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.goto(&format!("{}/calendar?date={}", w.base, w.expected_day))
        .await?;
    let entry = c
        .wait()
        .for_element(Locator::XPath(&format!(
            "//li[@data-testid='calendar-entry' and @data-date='{}'][contains(., 'nightly-note')]",
            w.expected_day
        )))
        .await
        .context("the next occurrence is not on its day in Auckland")?;
    let text = entry.text().await?;
    ensure!(
        text.contains("12:30") && text.contains("23:30 UTC"),
        "entry: {text}"
    );
    ensure!(b.accessibility_problems().await?.is_empty());
    no_console_errors(&b, "calendar").await?;
    b.screenshot_for_docs("calendar").await?;
    visit(
        &b,
        &w.base,
        &format!("/calendar?view=week&date={}", w.expected_day),
        "[data-testid=calendar-entry]",
        "calendar-week",
    )
    .await?;

    // The review queue, then the review: the caption's markup is text, not a script.
    visit(&b, &w.base, "/reviews", "a[href^='/reviews/']", "reviews").await?;
    c.find(Locator::Css("a[href^='/reviews/']"))
        .await?
        .click()
        .await?;
    c.wait()
        .for_element(Locator::Css("input[name=candidate][value='1']"))
        .await?;
    let shown = c
        .find_all(Locator::Css("[data-testid=review-candidate]"))
        .await?;
    ensure!(shown.len() == 2, "{} candidates", shown.len());
    let caption = c.find(Locator::Css("[data-testid=review-caption]")).await?;
    ensure!(
        caption.prop("value").await?.as_deref() == Some(CAPTION),
        "the caption is shown as text"
    );
    let scripts = c.execute("return document.scripts.length", vec![]).await?;
    ensure!(
        scripts == serde_json::json!(1),
        "only the console's own script runs: {scripts}"
    );
    ensure!(b.accessibility_problems().await?.is_empty());
    no_console_errors(&b, "review").await?;
    b.screenshot_for_docs("review").await?;
    c.find(Locator::Css("input[name=candidate][value='1']"))
        .await?
        .click()
        .await?;
    caption.clear().await?;
    caption.send_keys("Approved in the console").await?;
    let count = c.find(Locator::Css(".count .n")).await?.text().await?;
    ensure!(count == "23", "the live count says {count}");
    c.find(Locator::Css("[data-testid=review-approve]"))
        .await?
        .click()
        .await?;
    let notice = c.wait().for_element(Locator::Css("p.notice")).await?;
    ensure!(
        notice.text().await?.contains("Approved"),
        "after approving: {}",
        notice.text().await?
    );
    ensure!(
        c.find(Locator::Css("main"))
            .await?
            .text()
            .await?
            .contains("Candidate 2 · chosen")
    );

    // The posts: published by the sandbox, with the edited caption.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        c.goto(&format!("{}/posts?state=published", w.base)).await?;
        if c.find(Locator::Css("[data-testid=post-state]"))
            .await
            .is_ok()
        {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no published post on /posts in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let row = c.find(Locator::Css("tbody tr")).await?.text().await?;
    ensure!(
        row.contains("Approved in the console") && row.contains("published"),
        "row: {row}"
    );
    visit(&b, &w.base, "/posts", "[data-testid=post-state]", "posts").await?;
    visit(
        &b,
        &w.base,
        &format!("/runs/{}", w.run_id),
        "ol.steps",
        "run",
    )
    .await?;
    let steps = c.find(Locator::Css("ol.steps")).await?.text().await?;
    ensure!(
        steps.contains("Review · done") && steps.contains("1 of 1 published"),
        "steps: {steps}"
    );

    // The campaign editor: the validator's error at its line, as she types.
    visit(
        &b,
        &w.base,
        "/campaigns",
        "a[href^='/campaigns/']",
        "campaigns",
    )
    .await?;
    c.goto(&format!("{}/campaigns/new", w.base)).await?;
    let source = c
        .wait()
        .for_element(Locator::Css("textarea#source"))
        .await?;
    source.clear().await?;
    source.send_keys(BROKEN).await?;
    let issue = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(
            "[data-testid=campaign-errors] li[data-line='9']",
        ))
        .await
        .context("no error at line 9 while typing")?;
    let said = issue.text().await?;
    ensure!(
        said.contains("line 9") && said.contains("steps"),
        "issue: {said}"
    );
    no_console_errors(&b, "editor").await?;
    b.screenshot_for_docs("campaign-editor").await?;
    // Saved anyway: refused with the same error, the text kept.
    c.find(Locator::Css(
        "form[action='/campaigns/save'] button[type=submit]",
    ))
    .await?
    .click()
    .await?;
    let refused = c
        .wait()
        .for_element(Locator::Css("[data-testid=save-error]"))
        .await
        .context("the server's refusal of the save")?;
    ensure!(refused.text().await?.contains("Not saved"));
    let kept = c
        .find(Locator::Css(
            "[data-testid=campaign-errors] li[data-line='9']",
        ))
        .await?;
    ensure!(kept.text().await?.contains("steps"));
    let text = c
        .find(Locator::Css("textarea#source"))
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    ensure!(text.contains("steps = \"many\""), "the text was kept");
    let logged = b.console_errors().await?;
    ensure!(
        !logged.is_empty() && logged.iter().all(|e| e.contains("422")),
        "save: {logged:?}"
    );

    visit(&b, &w.base, "/accounts", "table", "accounts").await?;
    visit(&b, &w.base, "/gallery", "ul.gallery img", "gallery").await?;
    let loaded = b.images_loaded(Duration::from_secs(20)).await?;
    ensure!(loaded, "a gallery image did not load");
    // "Use this seed": a new campaign that makes the image again.
    c.find(Locator::Css("a[href^='/campaigns/new?from_asset=']"))
        .await?
        .click()
        .await?;
    let source = c
        .wait()
        .for_element(Locator::Css("textarea#source"))
        .await?;
    let text = source.prop("value").await?.unwrap_or_default();
    ensure!(
        text.contains("prompt = \"A linen tote bag on a wooden table\"")
            && text.contains("seed = "),
        "from the image: {text}"
    );
    // An image of her own, through the gallery's upload form.
    let photo = std::env::temp_dir().join(format!("pressroom-console-{}.png", std::process::id()));
    image::RgbImage::from_pixel(90, 60, image::Rgb([30, 160, 90])).save(&photo)?;
    visit(
        &b,
        &w.base,
        "/gallery",
        "form[action='/gallery/upload']",
        "gallery",
    )
    .await?;
    c.find(Locator::Css("input#file"))
        .await?
        .send_keys(&photo.display().to_string())
        .await?;
    c.find(Locator::Css(
        "form[action='/gallery/upload'] button[type=submit]",
    ))
    .await?
    .click()
    .await?;
    let notice = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("p.notice.ok"))
        .await
        .context("no notice after the upload")?;
    let said = notice.text().await?;
    let _ = std::fs::remove_file(&photo);
    ensure!(
        said.contains("Added to the library") && said.contains("90×60"),
        "{said}"
    );
    let uploaded = c
        .find(Locator::Css("ul.gallery img[alt^='Uploaded image']"))
        .await
        .context("the upload is not in the gallery")?;
    ensure!(uploaded.attr("width").await?.as_deref() == Some("90"));
    no_console_errors(&b, "gallery upload").await?;
    let problems = b.accessibility_problems().await?;
    ensure!(
        problems.is_empty(),
        "gallery after the upload: {problems:?}"
    );
    b.screenshot("gallery-uploaded").await?;
    visit(&b, &w.base, "/settings", "svg.chart", "settings").await?;
    visit(&b, &w.base, "/operations", "#live table", "operations").await?;

    // A key made on the settings page is shown once, and works.
    c.goto(&format!("{}/settings", w.base)).await?;
    c.find(Locator::Css("#key-name"))
        .await?
        .send_keys("from-the-console")
        .await?;
    c.find(Locator::Css("form[action='/settings/keys/create'] button"))
        .await?
        .click()
        .await?;
    let secret = c
        .wait()
        .for_element(Locator::Css("[data-testid=secret]"))
        .await?
        .text()
        .await?;
    let auth = format!("Bearer {}", secret.trim());
    let addr = w.addr.clone();
    let me = tokio::task::spawn_blocking(move || {
        http_request(
            &addr,
            "GET",
            "/v1/workspaces/current",
            &[("authorization", &auth)],
            b"",
        )
    })
    .await??;
    ensure!(me.status == 200, "the new key: {} {}", me.status, me.body);
    c.goto(&format!("{}/settings", w.base)).await?;
    let page = c.find(Locator::Css("main")).await?.text().await?;
    ensure!(
        !page.contains(secret.trim()),
        "the secret is shown once only"
    );

    // An invitation made on the settings page: its link shown once.
    c.find(Locator::Css("#member-email"))
        .await?
        .send_keys("client@acme.example")
        .await?;
    c.find(Locator::Css("form[action='/settings/members/add'] button"))
        .await?
        .click()
        .await?;
    let invite = c
        .wait()
        .for_element(Locator::Css("[data-testid=secret]"))
        .await?
        .text()
        .await?;
    ensure!(invite.contains("/invite/"), "invitation: {invite}");
    c.goto(&format!("{}/settings", w.base)).await?;
    let page = c.find(Locator::Css("main")).await?.text().await?;
    ensure!(
        page.contains("client@acme.example") && page.contains("invited"),
        "{page}"
    );

    // The workspace switcher: beta, where she is a viewer, has nothing of acme's.
    let switch = c.find(Locator::Css("#workspace-switch")).await?;
    switch.select_by_value("beta").await?;
    c.wait().for_element(Locator::Css("p.notice.ok")).await?;
    c.goto(&format!("{}/posts", w.base)).await?;
    let page = c
        .wait()
        .for_element(Locator::Css("main"))
        .await?
        .text()
        .await?;
    let html = c.source().await?;
    ensure!(
        page.contains("No posts yet") && html.contains("viewer"),
        "beta: {page} {html}"
    );

    c.find(Locator::Css("form[action='/logout'] button"))
        .await?
        .click()
        .await?;
    c.wait()
        .for_element(Locator::Css("input[name=email]"))
        .await?;
    c.goto(&format!("{}/posts", w.base)).await?;
    c.wait()
        .for_element(Locator::Css("input[name=email]"))
        .await?;
    b.close().await
}

/// A client without an account opens a review link on a phone.
async fn client_on_a_phone(link: &str) -> anyhow::Result<()> {
    let b = Browser::start(390, 844).await?;
    let c = &b.client;
    c.goto(link).await?;
    c.wait()
        .for_element(Locator::Css("[data-testid=review-approve]"))
        .await?;
    ensure!(
        c.find_all(Locator::Css("[data-testid=review-candidate]"))
            .await?
            .len()
            == 2
    );
    ensure!(
        c.find(Locator::Css("header.top")).await.is_err(),
        "no navigation on the public page"
    );
    let width = c
        .execute("return document.documentElement.scrollWidth", vec![])
        .await?;
    let wide = c
        .execute(
            "return Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > 391).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))",
            vec![],
        )
        .await?;
    ensure!(
        width.as_u64().is_some_and(|w| w <= 390),
        "the page scrolls sideways on a phone: {width} {wide}"
    );
    ensure!(b.accessibility_problems().await?.is_empty());
    no_console_errors(&b, "review link").await?;
    b.screenshot_for_docs("review-link-phone").await?;
    c.find(Locator::Css("input[name=reason]"))
        .await?
        .send_keys("Not this week")
        .await?;
    c.find(Locator::Css("[data-testid=review-reject]"))
        .await?
        .click()
        .await?;
    let notice = c.wait().for_element(Locator::Css("p.notice")).await?;
    ensure!(
        notice
            .text()
            .await?
            .contains("nothing of it will be published")
    );
    b.close().await
}

#[test]
fn people_plan_review_and_watch_posts_in_the_console() -> anyhow::Result<()> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let base = format!("http://{addr}");
    let config = format!(
        "[api]\nbind = \"{addr}\"\n\n[media]\npublic_base_url = \"{base}\"\n\n\
         [scheduler]\nenabled = false\n\n[workers]\npoll_ms = 50\n"
    );
    let mut app = TestApp::new(Db::Sqlite, &config)?;
    app.run(&["accounts", "add-sandbox", "sb", "--workspace", "acme"])?;
    for (name, source) in [("spring-tote", REVIEWED), ("nightly-note", SCHEDULED)] {
        let file = app.path().join(format!("{name}.toml"));
        std::fs::write(&file, source)?;
        app.run(&["campaign", "load", &file.display().to_string()])?;
    }
    app.run(&["campaign", "trigger", "spring-tote", "--workspace", "acme"])?;
    let key = app
        .run(&["keys", "create", "--workspace", "acme", "--role", "editor"])?
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    for (ws, role) in [("acme", "owner"), ("beta", "viewer")] {
        let (ok, out, err) = app.run_with_stdin(
            &[
                "users",
                "add",
                "dana@acme.example",
                "--workspace",
                ws,
                "--role",
                role,
                "--password-stdin",
            ],
            PASSWORD,
        )?;
        ensure!(ok, "users add: {out}{err}");
    }

    let mut serve = app.spawn_serve("console")?;
    let outcome = (|| -> anyhow::Result<()> {
        app.wait_healthy(&addr, Duration::from_secs(120))?;
        // Where the next 23:30 UTC falls in Auckland.
        let calendar = http_request(
            &addr,
            "GET",
            "/v1/calendar",
            &[("authorization", &format!("Bearer {key}"))],
            b"",
        )?
        .json();
        let next = calendar["planned"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["campaign"] == "nightly-note")
            .and_then(|p| p["at"].as_str())
            .context("no planned occurrence")?;
        let at = chrono::DateTime::parse_from_rfc3339(next)?;
        let zone: chrono_tz::Tz = ZONE.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        let expected_day = zone
            .from_utc_datetime(&at.naive_utc())
            .format("%Y-%m-%d")
            .to_string();
        let (review_id, run_id, candidates) = pending_review(&addr, &key)?;
        let world = World {
            base: base.clone(),
            addr: addr.clone(),
            key: key.clone(),
            expected_day,
            review_id,
            run_id,
            candidates,
        };
        block_on(dana_at_work(&world))?;

        // Exactly what Dana chose went out: the second candidate, her caption, once.
        let auth = format!("Bearer {}", world.key);
        let review = http_request(
            &addr,
            "GET",
            &format!("/v1/reviews/{}", world.review_id),
            &[("authorization", &auth)],
            b"",
        )?
        .json();
        ensure!(review["decision"]["candidate"] == 1, "{review}");
        ensure!(
            review["decision"]["by"] == "user:dana@acme.example",
            "{review}"
        );
        let run = http_request(
            &addr,
            "GET",
            &format!("/v1/runs/{}", world.run_id),
            &[("authorization", &auth)],
            b"",
        )?
        .json();
        ensure!(run["asset_id"] == world.candidates[1].as_str(), "{run}");
        let commits = app.sandbox_commits()?;
        ensure!(commits.len() == 1, "{commits:?}");
        ensure!(
            commits[0].to_string().contains("Approved in the console"),
            "{commits:?}"
        );

        // A second run's review, through a link, on a phone.
        app.run(&["campaign", "trigger", "spring-tote", "--workspace", "acme"])?;
        let (_, run2, _) = pending_review(&addr, &key)?;
        let created = http_request(
            &addr,
            "POST",
            &format!("/v1/runs/{run2}/review-links"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            b"{}",
        )?;
        ensure!(created.status == 201, "{} {}", created.status, created.body);
        let link = created.json()["url"].as_str().context("no url")?.to_owned();
        block_on(client_on_a_phone(&link))
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    outcome.map_err(|e| anyhow::anyhow!("{e:#}\n{}", app.dump_logs(3000)))?;
    stopped?;
    Ok(())
}
