//! Issue 11, finding 11 and the suite's "the database stops mid-run and comes back"
//! (RELIABILITY.md R12), through the real daemon: while a campaign is publishing to sandbox
//! accounts (slow commits, so some are in flight), the database goes away for a few seconds —
//! PostgreSQL: the daemon's backends terminated and new connections refused; SQLite: see
//! [`sqlite_outage`] — and comes back. Meanwhile the API answers 503 with Retry-After, never
//! 500; afterwards every post is published exactly once (the sandbox's commit log) and no job
//! spent an attempt on the outage.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use pressroom_e2e::{Db, TestApp, block_on, free_port, http_request, terminate};
use pressroom_store::Store;
use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

const TARGETS: usize = 6;
/// How long PostgreSQL stays away.
const PG_OUTAGE: Duration = Duration::from_secs(6);
/// How long SQLite's write lock is held. A call first waits up to 30 s for one of the pool's
/// four connections (the workers' claims hold them until their own busy timeout), then up
/// to 30 s (the busy timeout) for the lock: only a lock held past both makes a write fail.
const SQLITE_OUTAGE: Duration = Duration::from_secs(64);

fn account(i: usize) -> String {
    format!("sb-{i}")
}

fn campaign() -> String {
    let mut s = String::from(
        r#"name = "outage"
workspace = "acme"

[schedule]
webhook = true

[generation]
prompt = "a lamp in the dark"
steps = 2
width = 64
height = 64
seed = 11

[caption]
template = "Lights out, lights on"
"#,
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

/// The sandbox commits, by account.
fn commits(app: &TestApp) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut out = BTreeMap::new();
    for v in app.sandbox_commits()? {
        *out.entry(v["account"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    Ok(out)
}

/// The database going away and coming back.
trait Outage {
    fn begin(&mut self) -> anyhow::Result<()>;
    fn end(&mut self) -> anyhow::Result<()>;
}

/// PostgreSQL: no new connections to the database (`ALLOW_CONNECTIONS false`, which binds
/// superusers too), then every open one terminated, as a failover or an operator would.
struct PgOutage {
    admin: Store,
    /// The admin connection's own runtime (a pool cannot outlive the runtime it began on);
    /// declared after it, so dropped after it.
    rt: tokio::runtime::Runtime,
    db: String,
    on: bool,
}

impl PgOutage {
    fn new(app: &TestApp) -> anyhow::Result<Self> {
        let db = app
            .db_url
            .rsplit('/')
            .next()
            .and_then(|s| s.split('?').next())
            .context("no database name in the URL")?
            .to_string();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let admin = rt.block_on(Store::connect(&pressroom_store::testing::pg_admin_url()))?;
        Ok(Self {
            admin,
            rt,
            db,
            on: false,
        })
    }

    fn exec(&self, sql: &str) -> anyhow::Result<()> {
        let conn = self.admin.conn();
        self.rt.block_on(conn.execute_unprepared(sql))?;
        Ok(())
    }
}

impl Outage for PgOutage {
    fn begin(&mut self) -> anyhow::Result<()> {
        self.on = true;
        self.exec(&format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS false",
            self.db
        ))?;
        self.exec(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.db
        ))?;
        Ok(())
    }

    fn end(&mut self) -> anyhow::Result<()> {
        self.on = false;
        self.exec(&format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true",
            self.db
        ))
    }
}

impl Drop for PgOutage {
    fn drop(&mut self) {
        if self.on {
            let _ = self.end();
        }
    }
}

/// Statuses of API calls made while the database was away: (request, status, Retry-After).
type Seen = Vec<(String, u16, Option<String>)>;

/// Starts threads that call a read, a write and `/readyz` over and over until `until`, each
/// on its own (a call may wait on a lock); join them with [`seen`].
fn probe_until(
    addr: &str,
    key: &str,
    campaign_id: &str,
    until: Instant,
) -> Vec<std::thread::JoinHandle<anyhow::Result<Seen>>> {
    let calls = [
        ("GET", "/v1/posts".to_string()),
        ("GET", "/v1/runs".to_string()),
        ("POST", format!("/v1/campaigns/{campaign_id}/resume")),
        ("GET", "/readyz".to_string()),
    ];
    calls
        .into_iter()
        .map(|(method, path)| {
            let (addr, auth) = (addr.to_string(), format!("Bearer {key}"));
            std::thread::spawn(move || -> anyhow::Result<Seen> {
                let mut seen = Vec::new();
                while Instant::now() < until {
                    let a = http_request(&addr, method, &path, &[("authorization", &auth)], b"")?;
                    let retry = a.header("retry-after").map(str::to_owned);
                    seen.push((format!("{method} {path}"), a.status, retry));
                    std::thread::sleep(Duration::from_millis(200));
                }
                Ok(seen)
            })
        })
        .collect()
}

/// Everything the probe threads saw.
fn seen(threads: Vec<std::thread::JoinHandle<anyhow::Result<Seen>>>) -> anyhow::Result<Seen> {
    let mut all = Vec::new();
    for t in threads {
        all.extend(
            t.join()
                .map_err(|_| anyhow::anyhow!("a probe panicked"))??,
        );
    }
    Ok(all)
}

fn scenario(db: Db) -> anyhow::Result<()> {
    let started = Instant::now();
    let port = free_port()?;
    let extra = format!(
        r#"[scheduler]
enabled = false

[api]
bind = "127.0.0.1:{port}"

[workers]
poll_ms = 50
max_backoff_ms = 1000
# Longer than the outage: a job whose heartbeats cannot be written keeps its lease.
lease_secs = 120
heartbeat_secs = 5
rescue_secs = 2

[retry]
# Few attempts: an outage that spent them would leave jobs dead and posts unpublished.
max_attempts = 3
base_ms = 50
cap_ms = 300

[connectors.sandbox]
# Slow commits, so that some are in flight when the database goes away.
commit_delay_ms = 1500
"#
    );
    let mut app = TestApp::new(db, &extra)?;
    for i in 1..=TARGETS {
        app.run(&[
            "accounts",
            "add-sandbox",
            &account(i),
            "--workspace",
            "acme",
        ])?;
    }
    let file = app.path().join("campaign.toml");
    std::fs::write(&file, campaign())?;
    app.run(&["campaign", "load", &file.display().to_string()])?;
    let out = app.run(&["keys", "create", "--workspace", "acme", "--role", "editor"])?;
    let key = out.lines().last().unwrap_or_default().trim().to_string();
    let (mut outage, outage_for): (Box<dyn Outage>, Duration) = match db {
        Db::Postgres => (Box::new(PgOutage::new(&app)?), PG_OUTAGE),
        Db::Sqlite => (Box::new(sqlite_outage(&app)), SQLITE_OUTAGE),
    };

    let mut serve = app.spawn_serve("outage")?;
    let addr = format!("127.0.0.1:{port}");
    let outcome = (|| -> anyhow::Result<(Seen, Vec<Value>)> {
        let auth = format!("Bearer {key}");
        let deadline = Instant::now() + Duration::from_secs(120);
        let campaign_id = loop {
            if let Ok(a) = http_request(
                &addr,
                "GET",
                "/v1/campaigns",
                &[("authorization", &auth)],
                b"",
            ) && a.status == 200
            {
                break a.json()["data"][0]["id"]
                    .as_str()
                    .context("no campaign")?
                    .to_string();
            }
            ensure!(Instant::now() < deadline, "the API did not come up");
            std::thread::sleep(Duration::from_millis(200));
        };
        app.run(&[
            "campaign",
            "trigger",
            "outage",
            "--workspace",
            "acme",
            "--key",
            "k",
        ])?;
        // The outage begins once publishing has: a first commit is on record.
        while commits(&app)?.is_empty() {
            ensure!(Instant::now() < deadline, "nothing was committed");
            std::thread::sleep(Duration::from_millis(50));
        }
        outage.begin()?;
        let until = Instant::now() + outage_for;
        let probes = probe_until(&addr, &key, &campaign_id, until);
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        outage.end()?;
        // Calls still waiting when the database came back answer now.
        let seen = seen(probes)?;
        // Back: everything publishes.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let posts = app.posts("acme")?;
            if posts.len() == TARGETS && posts.iter().all(|p| p["state"] == "published") {
                let a = http_request(&addr, "GET", "/v1/posts", &[("authorization", &auth)], b"")?;
                ensure!(a.status == 200, "after the outage: {} {}", a.status, a.body);
                return Ok((seen, posts));
            }
            ensure!(
                Instant::now() < deadline,
                "not all published after the outage: {posts:?}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(60));
    let (seen, _posts) = match outcome {
        Ok(o) => o,
        Err(e) => bail!("{e:#}\n{}", app.dump_logs(80)),
    };
    stopped?;

    // During the outage: unavailable, never an internal error.
    let errors: Vec<_> = seen
        .iter()
        .filter(|(_, s, _)| *s >= 500 && *s != 503)
        .collect();
    ensure!(
        errors.is_empty(),
        "5xx other than 503 during the outage: {errors:?}"
    );
    let unavailable: Vec<_> = seen.iter().filter(|(_, s, _)| *s == 503).collect();
    ensure!(
        !unavailable.is_empty(),
        "no 503 during the outage (did it happen?): {seen:?}"
    );
    // The API's 503s say when to come back; /readyz (a probe for load balancers) just says no.
    let bare: Vec<_> = unavailable
        .iter()
        .filter(|(call, _, r)| {
            call.contains(" /v1/")
                && !r
                    .as_deref()
                    .is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s >= 1))
        })
        .collect();
    ensure!(bare.is_empty(), "503 without Retry-After: {bare:?}");
    ensure!(
        unavailable
            .iter()
            .any(|(call, _, _)| call.contains(" /v1/")),
        "no API call answered 503: {seen:?}"
    );
    ensure!(
        app.count_in_logs("worker: database failing") > 0,
        "the workers never met the outage:\n{}",
        app.dump_logs(60)
    );

    // Every post published exactly once.
    let commits = commits(&app)?;
    ensure!(
        commits.len() == TARGETS && commits.values().all(|n| *n == 1),
        "sandbox commits per account: {commits:?}"
    );

    // No attempt spent on the outage: every job finished on its first, every post has one
    // publish attempt.
    let (jobs, attempts) = block_on(async {
        let store = app.store().await?;
        let conn = store.conn();
        let backend = conn.get_database_backend();
        let jobs = conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT kind, state, attempt FROM jobs ORDER BY kind",
            ))
            .await?
            .iter()
            .map(|r| {
                Ok::<_, anyhow::Error>((
                    r.try_get::<String>("", "kind")?,
                    r.try_get::<String>("", "state")?,
                    r.try_get::<i32>("", "attempt")?,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let attempts = conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT post_id, state FROM attempts",
            ))
            .await?
            .iter()
            .map(|r| {
                Ok::<_, anyhow::Error>((
                    r.try_get::<String>("", "post_id")?,
                    r.try_get::<String>("", "state")?,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        store.conn().clone().close().await?;
        anyhow::Ok((jobs, attempts))
    })?;
    let publish = jobs.iter().filter(|(k, _, _)| k == "publish").count();
    ensure!(publish == TARGETS, "{publish} publish jobs: {jobs:?}");
    let spent: Vec<_> = jobs
        .iter()
        .filter(|(_, state, attempt)| state != "completed" || *attempt != 1)
        .collect();
    ensure!(
        spent.is_empty(),
        "jobs not done on their first attempt: {spent:?}"
    );
    ensure!(
        attempts.len() == TARGETS && attempts.iter().all(|(_, s)| s == "committed"),
        "publish attempts: {attempts:?}"
    );
    eprintln!(
        "[e2e] {db:?}: {} API calls during a {outage_for:?} outage, {} answered 503; {TARGETS} posts published once; {:.1}s",
        seen.len(),
        unavailable.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[test]
fn database_outage_postgres() -> anyhow::Result<()> {
    scenario(Db::Postgres)
}

#[test]
fn database_outage_sqlite() -> anyhow::Result<()> {
    scenario(Db::Sqlite)
}

/// SQLite: another connection holds the write lock (`BEGIN IMMEDIATE`, as a backup tool or
/// a stuck writer would). Making the files read-only does nothing to a running daemon: its
/// connections keep the descriptors they opened with write access (and these tests run as
/// root, whom mode bits do not stop). Writers wait out the busy timeout (30 s), then fail
/// with SQLITE_BUSY; readers go on (WAL).
struct LockOutage {
    url: String,
    release: Option<std::sync::mpsc::Sender<()>>,
    holder: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

fn sqlite_outage(app: &TestApp) -> LockOutage {
    LockOutage {
        url: app.db_url.clone(),
        release: None,
        holder: None,
    }
}

impl Outage for LockOutage {
    fn begin(&mut self) -> anyhow::Result<()> {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (locked, is_locked) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        let url = self.url.clone();
        self.holder = Some(std::thread::spawn(move || {
            block_on(async {
                let store = Store::connect(&url).await?;
                let tx = match store.begin().await {
                    Ok(tx) => {
                        let _ = locked.send(Ok(()));
                        tx
                    }
                    Err(e) => {
                        let _ = locked.send(Err(anyhow::anyhow!("{e}")));
                        return Ok(());
                    }
                };
                let _ = tokio::task::spawn_blocking(move || wait.recv()).await;
                tx.rollback().await?;
                store.conn().clone().close().await?;
                anyhow::Ok(())
            })
        }));
        self.release = Some(release);
        is_locked
            .recv_timeout(Duration::from_secs(60))
            .context("taking the write lock")?
    }

    fn end(&mut self) -> anyhow::Result<()> {
        self.release.take();
        if let Some(h) = self.holder.take() {
            h.join()
                .map_err(|_| anyhow::anyhow!("the lock holder panicked"))??;
        }
        Ok(())
    }
}

impl Drop for LockOutage {
    fn drop(&mut self) {
        let _ = self.end();
    }
}
