//! The image safety checker through the real binary and engine (issue 16): the tiny model
//! carries a checker (made by diffusers, `scripts/diffusion/make_reference_safety.py`) whose
//! thresholds flag every image. A campaign behind an approval gate goes to review with the
//! reason instead of failing; the client's review link says nothing can be approved and offers
//! new images (seen in headless Chromium and photographed); asking for them makes a new round,
//! withheld again; the reviewer rejects from the command line, and the run fails with that
//! reason. Nothing was kept as a candidate and nothing was published.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use fantoccini::Locator;
use pressroom_e2e::{
    Browser, Db, TestApp, block_on, fake_smtp, free_port, http_request, terminate, workspace_root,
};

const CAMPAIGN: &str = r#"name = "checked"
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
template = "Checked first"

[[targets]]
account = "sb"
preset = "instagram-square"

[approval]
candidates = 2
approvers = ["client@acme.example"]
"#;

/// Copies the folder `from` into `to` (files only, one level deep: a checker's folders).
fn copy_folder(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

/// The tiny model at the daemon's default place, with a checker that flags every image.
fn tiny_model_that_flags_everything(app: &TestApp) -> anyhow::Result<()> {
    let model = app.data_dir.join("models").join("tiny");
    app.run(&["model", "init-tiny", &model.display().to_string()])?;
    let python = workspace_root().join(".venv/bin/python");
    ensure!(
        python.exists(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    let made = app.path().join("checker");
    let out = Command::new(&python)
        .arg(workspace_root().join("scripts/diffusion/make_reference_safety.py"))
        .arg(&made)
        .output()
        .context("running make_reference_safety.py")?;
    ensure!(
        out.status.success(),
        "make_reference_safety.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for part in ["safety_checker", "feature_extractor"] {
        copy_folder(&made.join("safety/flag_all").join(part), &model.join(part))?;
    }
    Ok(())
}

/// The pending review once its round `round` is made, from the API.
fn review_of_round(addr: &str, key: &str, round: i64) -> anyhow::Result<serde_json::Value> {
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
        if first["round"] == round && first["flagged"].as_array().is_some_and(|f| !f.is_empty()) {
            return Ok(first.clone());
        }
        ensure!(
            Instant::now() < deadline,
            "no review of round {round} with withheld images in 120 s: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

async fn ask_for_new_images_in_the_browser(link: &str) -> anyhow::Result<()> {
    let browser = Browser::start(1100, 900).await?;
    let c = &browser.client;
    c.goto(link).await?;
    let notice = c
        .wait()
        .for_element(Locator::Css("[data-testid=review-flagged]"))
        .await?;
    let text = notice.text().await?;
    ensure!(
        text.contains("withheld 2 images of this round") && text.contains("never published"),
        "{text}"
    );
    ensure!(
        c.find_all(Locator::Css("[data-testid=review-approve]"))
            .await?
            .is_empty(),
        "an approve button with nothing to approve"
    );
    let details = c.find(Locator::Css("details.flags")).await?;
    details.click().await?;
    let listed = details.text().await?;
    ensure!(
        listed.contains("Image 1 (seed") && listed.contains("safety checker flagged"),
        "{listed}"
    );
    let problems = browser.accessibility_problems().await?;
    ensure!(problems.is_empty(), "review page: {problems:?}");
    browser.screenshot_for_docs("review-withheld").await?;
    c.find(Locator::Css("[data-testid=review-regenerate]"))
        .await?
        .click()
        .await?;
    // The answer page (waited for by its words: the old page has notices too).
    c.wait()
        .for_element(Locator::XPath(
            "//p[contains(@class, 'notice') and contains(., 'New images are on their way')]",
        ))
        .await
        .context("no confirmation after asking for new images")?;
    browser.close().await
}

#[test]
fn a_withheld_image_waits_in_review_and_never_goes_out() -> anyhow::Result<()> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let (smtp_port, mails) = fake_smtp()?;
    let config = format!(
        "[api]\nbind = \"{addr}\"\n\n[media]\npublic_base_url = \"http://{addr}\"\n\n\
         [email]\nsmtp_url = \"smtp://127.0.0.1:{smtp_port}\"\nfrom = \"Pressroom <press@acme.example>\"\n\n\
         [scheduler]\nenabled = false\n\n[workers]\npoll_ms = 50\n"
    );
    let mut app = TestApp::new(Db::Sqlite, &config)?;
    tiny_model_that_flags_everything(&app)?;
    app.run(&["accounts", "add-sandbox", "sb", "--workspace", "acme"])?;
    let file = app.path().join("checked.toml");
    std::fs::write(&file, CAMPAIGN)?;
    app.run(&["campaign", "load", &file.display().to_string()])?;
    app.run(&["campaign", "trigger", "checked", "--workspace", "acme"])?;
    let key = app
        .run(&["keys", "create", "--workspace", "acme", "--role", "editor"])?
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();

    let mut serve = app.spawn_serve("safety")?;
    let outcome = (|| -> anyhow::Result<()> {
        app.wait_healthy(&addr, Duration::from_secs(120))?;
        let review = review_of_round(&addr, &key, 0)?;
        ensure!(review["candidates"] == serde_json::json!([]), "{review}");
        ensure!(
            review["flagged"].as_array().map(Vec::len) == Some(2),
            "{review}"
        );
        let reason = review["flagged"][0]["reason"].as_str().unwrap_or_default();
        ensure!(
            reason.contains("the image safety checker flagged the generated image"),
            "{review}"
        );
        ensure!(app.posts("acme")?.is_empty(), "no posts without an image");
        // The approver's mail says why there is nothing to approve.
        let mail = mails
            .recv_timeout(Duration::from_secs(60))
            .context("no review mail")?
            .replace("=\r\n", "")
            .replace("=\n", "");
        ensure!(
            mail.contains("RCPT TO:<client@acme.example>")
                && mail.contains("withheld 2 image(s) of this round"),
            "{mail}"
        );
        let run = review["run_id"].as_str().context("no run")?.to_owned();
        let id = review["id"].as_str().context("no id")?.to_owned();

        let prefix = format!("http://{addr}/review/");
        let link = mail
            .split_whitespace()
            .find(|w| w.starts_with(&prefix))
            .context("no review link in the mail")?
            .to_owned();
        ensure!(!run.is_empty());
        block_on(ask_for_new_images_in_the_browser(&link))?;
        // The new round is made, and withheld again: this checker flags everything.
        let again = review_of_round(&addr, &key, 1)?;
        ensure!(again["id"] == id.as_str(), "{again}");
        let seeds = |r: &serde_json::Value| -> Vec<u64> {
            r["flagged"]
                .as_array()
                .map(|f| f.iter().filter_map(|x| x["seed"].as_u64()).collect())
                .unwrap_or_default()
        };
        ensure!(
            seeds(&again).iter().all(|s| !seeds(&review).contains(s)),
            "new seeds: {review} {again}"
        );

        let (ok, _, err) = app.run_with_env(
            &[
                "reviews",
                "approve",
                &id,
                "--workspace",
                "acme",
                "--as",
                "client@acme.example",
            ],
            &[],
        )?;
        ensure!(
            !ok && err.contains("safety checker withheld this round's images"),
            "{err}"
        );
        let listed = app.run(&[
            "reviews",
            "list",
            "--workspace",
            "acme",
            "--state",
            "pending",
        ])?;
        ensure!(listed.contains("0 (2 withheld)"), "{listed}");
        let shown = app.run(&["reviews", "show", &id, "--workspace", "acme"])?;
        ensure!(shown.contains("withheld  image 1 (seed"), "{shown}");
        let out = app.run(&[
            "reviews",
            "reject",
            &id,
            "--workspace",
            "acme",
            "--reason",
            "not for us",
            "--as",
            "client@acme.example",
        ])?;
        ensure!(out.contains("rejected"), "{out}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let runs: Vec<serde_json::Value> = serde_json::from_str(&app.run(&[
                "runs",
                "list",
                "--workspace",
                "acme",
                "--json",
            ])?)?;
            if runs.len() == 1 && runs[0]["state"] == "failed" {
                ensure!(
                    runs[0]["error"] == "rejected in review: not for us",
                    "{runs:?}"
                );
                break;
            }
            ensure!(Instant::now() < deadline, "the run did not fail: {runs:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
        ensure!(app.posts("acme")?.is_empty());
        ensure!(app.sandbox_commits()?.is_empty(), "nothing published");
        Ok(())
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    outcome.map_err(|e| anyhow::anyhow!("{e:#}\n{}", app.dump_logs(40)))?;
    stopped?;
    Ok(())
}
