//! The approval gate through the real binary (issue 13), on SQLite and PostgreSQL: a campaign
//! that needs approval generates its candidates and publishes nothing; the named approver is
//! mailed a review link of their own, which opens the review page without an account; the
//! daemon is killed, the approver decides from the command line while it is down (a decision
//! committed, its publish not yet made), and the restarted daemon publishes exactly the chosen
//! candidate with the edited caption, once.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use pressroom_e2e::{Db, TestApp, fake_smtp, free_port, http_request, terminate};

const CAMPAIGN: &str = r#"name = "launch"
workspace = "acme"

[schedule]
webhook = true

[generation]
backend = "local"
prompt = "A ceramic mug on a plain background"
steps = 2
width = 64
height = 64
seed = 11

[caption]
template = "New: the ceramic mug"

[[targets]]
account = "sb"
preset = "instagram-square"

[approval]
candidates = 2
approvers = ["client@acme.example"]
"#;

/// Waits until every post of the workspace is in `state`.
fn wait_posts(app: &TestApp, state: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let posts = app.posts("acme")?;
        if !posts.is_empty() && posts.iter().all(|p| p["state"] == state) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "posts not all {state} in {timeout:?}: {posts:?}\n{}",
            app.dump_logs(40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn approve_while_down_then_publish_once(db: Db) -> anyhow::Result<()> {
    let port = free_port()?;
    let (smtp_port, mails) = fake_smtp()?;
    let config = format!(
        "[api]\nbind = \"127.0.0.1:{port}\"\n\n[media]\npublic_base_url = \"http://127.0.0.1:{port}\"\n\n\
         [email]\nsmtp_url = \"smtp://127.0.0.1:{smtp_port}\"\nfrom = \"Pressroom <press@acme.example>\"\n\n\
         [scheduler]\nenabled = false\n\n[workers]\npoll_ms = 50\n"
    );
    let mut app = TestApp::new(db, &config)?;
    app.run(&["accounts", "add-sandbox", "sb", "--workspace", "acme"])?;
    let file = app.path().join("launch.toml");
    std::fs::write(&file, CAMPAIGN)?;
    let file = file.display().to_string();
    app.run(&["campaign", "load", &file])?;
    app.run(&["campaign", "trigger", "launch", "--workspace", "acme"])?;

    let addr = format!("127.0.0.1:{port}");
    let mut serve = app.spawn_serve("approvals-1")?;
    let first = (|| -> anyhow::Result<()> {
        app.wait_healthy(&addr, Duration::from_secs(120))?;
        let mail = mails
            .recv_timeout(Duration::from_secs(180))
            .context("no review mail")?;
        ensure!(
            mail.contains("RCPT TO:<client@acme.example>")
                && mail.contains("Approval needed: launch"),
            "{mail}"
        );
        let prefix = format!("http://127.0.0.1:{port}/review/");
        let link = mail
            .split_whitespace()
            .find(|w| w.starts_with(&prefix))
            .context("no review link in the mail")?
            .trim_end_matches('=')
            .to_owned();
        wait_posts(&app, "awaiting_review", Duration::from_secs(60))?;
        let path = &link[format!("http://{addr}").len()..];
        let page = http_request(&addr, "GET", path, &[], b"")?;
        ensure!(
            page.status == 200,
            "review page: {} {}",
            page.status,
            page.body
        );
        ensure!(page.body.contains("Candidate 2"), "{}", page.body);
        ensure!(
            app.sandbox_commits()?.is_empty(),
            "published before approval"
        );
        Ok(())
    })();
    // Killed: whatever it was doing, the decision below is made while it is down.
    serve.kill().context("SIGKILL")?;
    serve.wait()?;
    first?;

    let listed = app.run(&[
        "reviews",
        "list",
        "--workspace",
        "acme",
        "--state",
        "pending",
    ])?;
    let id = listed
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .context(format!("no pending review listed:\n{listed}"))?
        .to_owned();
    // The campaign names its approvers: the operator must say who decides.
    let (ok, _, err) =
        app.run_with_env(&["reviews", "approve", &id, "--workspace", "acme"], &[])?;
    ensure!(!ok && err.contains("names its approvers"), "{err}");
    let (ok, _, err) = app.run_with_env(
        &[
            "reviews",
            "approve",
            &id,
            "--workspace",
            "acme",
            "--candidate",
            "5",
            "--as",
            "client@acme.example",
        ],
        &[],
    )?;
    ensure!(!ok && err.contains("candidate: 5"), "{err}");
    let out = app.run(&[
        "reviews",
        "approve",
        &id,
        "--workspace",
        "acme",
        "--candidate",
        "1",
        "--caption",
        "sb:instagram-square=Approved: the ceramic mug",
        "--as",
        "client@acme.example",
    ])?;
    ensure!(out.contains("approved: candidate 1"), "{out}");
    let shown = app.run(&["reviews", "show", &id, "--workspace", "acme"])?;
    ensure!(
        shown.contains("approved") && shown.contains("user:client@acme.example"),
        "{shown}"
    );

    let mut serve = app.spawn_serve("approvals-2")?;
    let second = (|| -> anyhow::Result<()> {
        wait_posts(&app, "published", Duration::from_secs(120))?;
        let commits = app.sandbox_commits()?;
        ensure!(commits.len() == 1, "published once: {commits:?}");
        ensure!(
            commits[0]["caption"] == "Approved: the ceramic mug",
            "{:?}",
            commits[0]
        );
        Ok(())
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    second?;
    stopped?;
    Ok(())
}

#[test]
fn approval_survives_a_kill_and_publishes_the_chosen_candidate_once_sqlite() -> anyhow::Result<()> {
    approve_while_down_then_publish_once(Db::Sqlite)
}

#[test]
fn approval_survives_a_kill_and_publishes_the_chosen_candidate_once_postgres() -> anyhow::Result<()>
{
    approve_while_down_then_publish_once(Db::Postgres)
}
