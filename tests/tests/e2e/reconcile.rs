//! Issue 11, findings 3 and 4, through the real daemon and the sandbox connector:
//! - a commit still in flight when its lease is lost (a slow platform, the instance frozen so
//!   its heartbeats stop) is reconciled by a second instance, which must not take "not listed
//!   yet" for "absent" and post again, while the first stops when it finds its lease gone: one
//!   commit in the end;
//! - a reconcile the platform refuses to answer (a 403 on the listing) after an unknown outcome
//!   never makes the post `failed` (which `retry` would post again): it ends `unknown`, for a
//!   person, and the retry endpoint refuses it.
//!
//! The first on PostgreSQL (SQLite is single-instance by design), the second on both.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use pressroom_e2e::{Db, TestApp, free_port, http_call, terminate};
use serde_json::Value;

const CAMPAIGN: &str = r#"name = "one"
workspace = "acme"

[schedule]
webhook = true

[generation]
prompt = "a jar of honey"
steps = 2
width = 64
height = 64
seed = 3

[caption]
template = "Honey, once"

[[targets]]
account = "sb"
preset = "instagram-square"
"#;

/// A daemon with one sandbox account and the campaign loaded; `extra` adds sections.
fn app(db: Db, port: u16, extra: &str) -> anyhow::Result<TestApp> {
    let config = format!(
        r#"[scheduler]
enabled = false

[api]
bind = "127.0.0.1:{port}"

[retry]
max_attempts = 5
base_ms = 50
cap_ms = 300
{extra}"#
    );
    let app = TestApp::new(db, &config)?;
    app.run(&["accounts", "add-sandbox", "sb", "--workspace", "acme"])?;
    let file = app.path().join("campaign.toml");
    std::fs::write(&file, CAMPAIGN)?;
    app.run(&["campaign", "load", &file.display().to_string()])?;
    Ok(app)
}

/// The one post, once it has left `pending`/`publishing`.
fn settled_post(app: &TestApp, timeout: Duration) -> anyhow::Result<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let posts = app.posts("acme")?;
        if let Some(p) = posts
            .iter()
            .find(|p| !matches!(p["state"].as_str(), Some("pending" | "publishing")))
        {
            return Ok(p.clone());
        }
        ensure!(
            Instant::now() < deadline,
            "the post did not settle: {posts:?}\n{}",
            app.dump_logs(60)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn commits(app: &TestApp) -> anyhow::Result<usize> {
    Ok(app.sandbox_commits()?.len())
}

/// Sends `signal` (STOP, CONT) to a child.
fn signal(child: &std::process::Child, signal: &str) -> anyhow::Result<()> {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()?
        .success();
    ensure!(ok, "kill -{signal} {}", child.id());
    Ok(())
}

/// Waits until an attempt is in `committing` (the platform call has begun).
fn wait_for_committing(app: &TestApp, timeout: Duration) -> anyhow::Result<()> {
    use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
    let deadline = Instant::now() + timeout;
    pressroom_e2e::block_on(async {
        let store = app.store().await?;
        loop {
            let conn = store.conn();
            let sql = "SELECT COUNT(*) AS n FROM attempts WHERE state = 'committing'";
            let row = conn
                .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
                .await?;
            let n: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
            if n > 0 {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "no commit began\n{}",
                app.dump_logs(60)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Instance A is frozen (SIGSTOP: no heartbeat, no progress) 4 s into a 5 s commit; its lease
/// (2 s) expires and instance B takes the job over. B must not post again while the listing
/// cannot yet prove the post absent; A, thawed, must notice its lease is gone and stop.
fn lease_lost_during_a_slow_commit(db: Db) -> anyhow::Result<()> {
    let extra = r#"
[workers]
lease_secs = 2
heartbeat_secs = 1
rescue_secs = 1
poll_ms = 50

[connectors.sandbox]
commit_delay_ms = 5000
"#;
    let port = free_port()?;
    let mut app = app(db, port, extra)?;
    let mut a = app.spawn_serve("a")?;
    let mut b: Option<std::process::Child> = None;
    let outcome = (|| -> anyhow::Result<Value> {
        app.run(&[
            "campaign",
            "trigger",
            "one",
            "--workspace",
            "acme",
            "--key",
            "k",
        ])?;
        wait_for_committing(&app, Duration::from_secs(120))?;
        signal(&a, "STOP")?;
        let bind = format!("127.0.0.1:{}", free_port()?);
        b = Some(app.spawn_serve_with("b", &["--bind", &bind])?);
        std::thread::sleep(Duration::from_secs(4));
        signal(&a, "CONT")?;
        settled_post(&app, Duration::from_secs(120))
    })();
    let _ = signal(&a, "CONT");
    let stopped_a = terminate(&mut a, Duration::from_secs(30));
    let stopped_b = b.as_mut().map(|b| terminate(b, Duration::from_secs(30)));
    let post = outcome?;
    stopped_a?;
    if let Some(s) = stopped_b {
        s?;
    }
    ensure!(
        post["state"] == "published",
        "{post}\n{}",
        app.dump_logs(80)
    );
    let n = commits(&app)?;
    ensure!(n == 1, "{n} commits for one post\n{}", app.dump_logs(120));
    ensure!(
        app.count_in_logs("does not list the post yet") > 0,
        "instance B never reconciled during the slow commit:\n{}",
        app.dump_logs(120)
    );
    Ok(())
}

fn a_refused_reconcile_ends_unknown_and_cannot_be_retried(db: Db) -> anyhow::Result<()> {
    // The post lands but its answer is lost; the look-up then answers with a refusal.
    let extra = r#"
[workers]
poll_ms = 50

[connectors.sandbox]
failures = [
  { phase = "after_commit", kind = "outcome_unknown", times = 1 },
  { phase = "reconcile", kind = "rejected", times = 1 },
]
"#;
    let port = free_port()?;
    let mut app = app(db, port, extra)?;
    let key_out = app.run(&["keys", "create", "--workspace", "acme", "--role", "editor"])?;
    let key = key_out
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut serve = app.spawn_serve("refused")?;
    let addr = format!("127.0.0.1:{port}");
    let outcome = (|| -> anyhow::Result<(Value, u16, String)> {
        app.run(&[
            "campaign",
            "trigger",
            "one",
            "--workspace",
            "acme",
            "--key",
            "k",
        ])?;
        let post = settled_post(&app, Duration::from_secs(120))?;
        let id = post["id"].as_str().context("post id")?;
        let (status, body) =
            http_call(&addr, "POST", &format!("/v1/posts/{id}/retry"), Some(&key))?;
        // Whatever the answer, give a wrongly accepted retry time to post again.
        std::thread::sleep(Duration::from_secs(2));
        Ok((post, status, body))
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    let (post, status, body) = outcome?;
    stopped?;
    ensure!(
        post["state"] == "unknown",
        "a refused reconcile must leave the outcome unknown: {post}\n{}",
        app.dump_logs(80)
    );
    ensure!(
        post["error"]
            .as_str()
            .unwrap_or_default()
            .contains("could not check whether the post landed"),
        "{post}"
    );
    ensure!(
        (400..500).contains(&status),
        "retry of an unknown post: {status} {body}"
    );
    let n = commits(&app)?;
    ensure!(n == 1, "{n} commits for one post");
    Ok(())
}

#[test]
fn lease_lost_mid_commit_posts_once_postgres() -> anyhow::Result<()> {
    lease_lost_during_a_slow_commit(Db::Postgres)
}

#[test]
fn refused_reconcile_ends_unknown_sqlite() -> anyhow::Result<()> {
    a_refused_reconcile_ends_unknown_and_cannot_be_retried(Db::Sqlite)
}

#[test]
fn refused_reconcile_ends_unknown_postgres() -> anyhow::Result<()> {
    a_refused_reconcile_ends_unknown_and_cannot_be_retried(Db::Postgres)
}
