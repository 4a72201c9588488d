//! The crash test (issue 2, "How it is checked"): the real `pressroom serve` publishes a
//! campaign of 200 targets to the sandbox connector while being killed with SIGKILL at random
//! moments and restarted; at the end every post is `published` and the sandbox's
//! `commits.jsonl` holds exactly one commit per target — nothing lost, nothing twice. Runs on
//! SQLite and on PostgreSQL (`PRESSROOM_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; a database of its own, dropped after).
//!
//! The kill timings come from a seed printed at the start; `PRESSROOM_E2E_SEED=N` replays it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use pressroom_e2e::{Db, TestApp, block_on, terminate};
use pressroom_store::repo::{accounts, workspaces};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WORKSPACE: &str = "crash";
const CAMPAIGN: &str = "crash-test";
const TARGETS: usize = 200;
const KILLS: usize = 6;
const FINISH_TIMEOUT: Duration = Duration::from_secs(180);

const CONFIG: &str = r#"
[scheduler]
enabled = false

[workers]
lease_secs = 3
heartbeat_secs = 1
rescue_secs = 1
poll_ms = 50

[retry]
base_ms = 100
cap_ms = 1000

[connectors.sandbox]
# Widens the window between "committing" and the commit record.
commit_delay_ms = 20

[log]
level = "info"
"#;

fn account(i: usize) -> String {
    format!("sb-{i:03}")
}

fn campaign_toml() -> String {
    let mut s = format!(
        r#"name = "{CAMPAIGN}"
workspace = "{WORKSPACE}"
description = "Crash test: {TARGETS} sandbox targets."

[schedule]
webhook = true

[generation]
backend = "local"
prompt = "A {{{{ product }}}} on a plain background"
steps = 2
width = 64
height = 64
seed = 7

[caption]
template = "Crash test: {{{{ product }}}}"

[variables]
product = "test tube"
"#
    );
    for i in 1..=TARGETS {
        let _ = write!(
            s,
            "\n[[targets]]\naccount = \"{}\"\npreset = \"instagram-square\"\n",
            account(i)
        );
    }
    s
}

fn seed() -> u64 {
    match std::env::var("PRESSROOM_E2E_SEED") {
        Ok(s) => s.trim().parse().expect("PRESSROOM_E2E_SEED must be a u64"),
        Err(_) => rand::rng().random(),
    }
}

/// Post states by count, from `pressroom posts list --json`.
fn post_states(app: &TestApp) -> anyhow::Result<(usize, BTreeMap<String, usize>)> {
    let posts = app.posts(WORKSPACE)?;
    let mut states = BTreeMap::new();
    for p in &posts {
        let state = p["state"].as_str().unwrap_or("?").to_string();
        *states.entry(state).or_insert(0) += 1;
    }
    Ok((posts.len(), states))
}

fn setup(app: &TestApp) -> anyhow::Result<()> {
    // The first account through the CLI (it also creates the schema and the workspace)...
    app.run(&[
        "accounts",
        "add-sandbox",
        &account(1),
        "--workspace",
        WORKSPACE,
    ])?;
    // ...the other 199 straight through the store's repositories, as `accounts add-sandbox`
    // does: 199 more process starts would cost a minute on a small machine.
    block_on(async {
        let store = app.store().await?;
        let ws = workspaces::ensure(&store, WORKSPACE, WORKSPACE).await?;
        for i in 2..=TARGETS {
            let name = account(i);
            let now = store.now_ms().await?;
            accounts::upsert(
                store.conn(),
                now,
                accounts::AccountInput {
                    workspace_id: &ws.id,
                    platform: pressroom_core::Platform::Sandbox,
                    name: &name,
                    external_id: &name,
                    access_token_sealed: None,
                    refresh_token_sealed: None,
                    key_id: None,
                    expires_at: None,
                    extra: serde_json::json!({}),
                },
            )
            .await?;
        }
        anyhow::Ok(())
    })?;
    let listed = app.run(&["accounts", "list", "--workspace", WORKSPACE])?;
    ensure!(
        listed.contains(&account(TARGETS)),
        "accounts list misses {}:\n{listed}",
        account(TARGETS)
    );

    let file = app.path().join("crash-test.toml");
    std::fs::write(&file, campaign_toml())?;
    let file = file.display().to_string();
    app.run(&["campaign", "validate", &file])?;
    app.run(&["campaign", "load", &file])?;
    let run = app.run(&["campaign", "trigger", CAMPAIGN, "--workspace", WORKSPACE])?;
    eprintln!("[e2e] triggered: {}", run.trim());
    Ok(())
}

fn scenario(app: &mut TestApp, seed: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    setup(app)?;
    eprintln!(
        "[e2e] {:?}: set up in {:.1}s",
        app.db,
        started.elapsed().as_secs_f64()
    );

    // The first rounds kill at a random moment after the start (mostly during start-up,
    // generation and rendering); the later ones wait until this instance has committed
    // something, then kill at a random moment inside the publishing burst. On PostgreSQL a
    // killed instance's jobs only come back when their leases expire (lease_secs), so a kill
    // timed from the start alone would mostly hit an instance that is still waiting.
    let mut rng = StdRng::seed_from_u64(seed);
    for round in 1..=KILLS {
        let mut child = app.spawn_serve(&format!("{round}"))?;
        let spawned = Instant::now();
        let before = app.sandbox_commits()?.len();
        let (wait, timed) = if round <= KILLS / 3 || before >= TARGETS {
            let wait = Duration::from_millis(rng.random_range(300..=2500));
            std::thread::sleep(wait);
            (wait, "after start")
        } else {
            let wait = Duration::from_millis(rng.random_range(0..=700));
            let deadline = Instant::now() + Duration::from_secs(30);
            while app.sandbox_commits()?.len() == before && Instant::now() < deadline {
                if child.try_wait()?.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(wait);
            (wait, "after its first commit")
        };
        let early = child.try_wait()?;
        child.kill().context("SIGKILL")?;
        child.wait()?;
        if let Some(status) = early {
            bail!("serve #{round} exited on its own before the kill: {status}");
        }
        eprintln!(
            "[e2e] {:?}: serve #{round} killed -9 {}ms {timed} ({}ms after start); commits {before} -> {}",
            app.db,
            wait.as_millis(),
            spawned.elapsed().as_millis(),
            app.sandbox_commits()?.len()
        );
    }

    let running_before = app.count_in_logs("pressroom is running");
    let mut child = app.spawn_serve("final")?;
    let deadline = Instant::now() + FINISH_TIMEOUT;
    let finished = loop {
        if let Some(status) = child.try_wait()? {
            bail!("the final serve exited on its own: {status}");
        }
        let (count, states) = post_states(app)?;
        if count == TARGETS && states.get("published") == Some(&TARGETS) {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!(
                "not all posts published within {FINISH_TIMEOUT:?}: {count} posts, {states:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    // Stopped once it is up: before its `main` runs (the dynamic loader maps libtorch first)
    // no process can catch a signal, so a stop that early would test the loader, not us.
    let up_deadline = Instant::now() + Duration::from_secs(60);
    while app.count_in_logs("pressroom is running") <= running_before
        && Instant::now() < up_deadline
        && child.try_wait()?.is_none()
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stopped = terminate(&mut child, Duration::from_secs(30));
    finished?;
    let stopped = stopped?;
    ensure!(
        stopped.success(),
        "serve exited with {stopped} after SIGTERM"
    );

    let (count, states) = post_states(app)?;
    ensure!(count == TARGETS, "{count} posts, expected {TARGETS}");
    ensure!(
        states.get("published") == Some(&TARGETS),
        "post states {states:?}"
    );

    let commits = app.sandbox_commits()?;
    let mut per_account: BTreeMap<String, usize> = BTreeMap::new();
    for c in &commits {
        let acc = c["account"].as_str().unwrap_or("?").to_string();
        *per_account.entry(acc).or_insert(0) += 1;
    }
    let twice: Vec<_> = per_account.iter().filter(|(_, n)| **n > 1).collect();
    let missing: Vec<String> = (1..=TARGETS)
        .map(account)
        .filter(|a| !per_account.contains_key(a))
        .collect();
    ensure!(
        twice.is_empty(),
        "accounts committed more than once: {twice:?}"
    );
    ensure!(missing.is_empty(), "accounts never committed: {missing:?}");
    ensure!(
        commits.len() == TARGETS && per_account.len() == TARGETS,
        "{} commits for {} accounts, expected {TARGETS} each",
        commits.len(),
        per_account.len()
    );
    eprintln!(
        "[e2e] {:?}: {TARGETS} posts published, {TARGETS} commits, one per account; \
         {} attempts reconciled after a crash ({:.1}s)",
        app.db,
        app.count_in_logs("publish: reconcile"),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn crash_test(db: Db) {
    let seed = seed();
    eprintln!("[e2e] {db:?} crash test, seed {seed} (replay: PRESSROOM_E2E_SEED={seed})");
    let mut app = TestApp::new(db, CONFIG).expect("setting up the test app");
    if let Err(e) = scenario(&mut app, seed) {
        let logs = app.dump_logs(40);
        panic!("{db:?} crash test failed (PRESSROOM_E2E_SEED={seed}): {e:#}\n{logs}");
    }
}

#[test]
fn crash_sqlite() {
    crash_test(Db::Sqlite);
}

#[test]
fn crash_postgres() {
    crash_test(Db::Postgres);
}
