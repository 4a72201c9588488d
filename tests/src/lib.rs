//! pressroom-e2e: end-to-end tests that drive the real `pressroom` binary.
//!
//! [`TestApp`] owns a temporary data directory and a configuration file, runs the binary's
//! commands against them, and starts `serve` instances whose output goes to log files in the
//! temporary directory (printed by [`TestApp::dump_logs`] when a test fails).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use pressroom_store::Store;
use pressroom_store::testing::TempPgDatabase;

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The `pressroom` binary, built once per test process with `cargo build -p pressroom`
/// (a no-op when it is up to date). Respects `CARGO_TARGET_DIR`. `PRESSROOM_E2E_BIN` names a
/// binary to use instead (benchmarks run a release build).
pub fn pressroom_bin() -> anyhow::Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("PRESSROOM_E2E_BIN") {
        Some(bin) if Path::new(&bin).is_file() => Ok(PathBuf::from(bin)),
        Some(bin) => Err(format!(
            "PRESSROOM_E2E_BIN={} is not a file",
            bin.to_string_lossy()
        )),
        None => build_bin().map_err(|e| format!("{e:#}")),
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

fn build_bin() -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();
    let status = Command::new(cargo)
        .args(["build", "-p", "pressroom"])
        .current_dir(&root)
        .status()
        .context("running cargo build -p pressroom")?;
    ensure!(
        status.success(),
        "cargo build -p pressroom failed: {status}"
    );
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        }
        None => root.join("target"),
    };
    let bin = target
        .join("debug")
        .join(format!("pressroom{}", std::env::consts::EXE_SUFFIX));
    ensure!(bin.exists(), "{} is missing after the build", bin.display());
    eprintln!(
        "[e2e] pressroom binary: {} (build check {:.1}s)",
        bin.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(bin)
}

/// Which database a [`TestApp`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs a future to completion on a small runtime of its own (the tests are synchronous).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

/// A data directory, a configuration file and (on PostgreSQL) a database of its own.
pub struct TestApp {
    pub bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub db: Db,
    /// The database URL the binary uses.
    pub db_url: String,
    /// PostgreSQL: the database created for this app, dropped on drop.
    pg_db: Option<TempPgDatabase>,
    logs: Vec<PathBuf>,
}

impl TestApp {
    /// Creates the directory, the database (PostgreSQL) and a config file made of the
    /// `[paths]`/`[database]` sections plus `extra_toml` (any other sections).
    pub fn new(db: Db, extra_toml: &str) -> anyhow::Result<Self> {
        let bin = pressroom_bin()?;
        let dir = tempfile::tempdir()?;
        let data_dir = dir.path().join("data");
        let (db_url, pg_db) = match db {
            Db::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("pressroom.db").display()
                ),
                None,
            ),
            Db::Postgres => {
                let db = block_on(TempPgDatabase::create("pressroom_e2e", "app"))?;
                (db.url().to_string(), Some(db))
            }
        };
        let config = dir.path().join("pressroom.toml");
        let database = match db {
            // Empty: SQLite at <data_dir>/pressroom.db, the binary's own default.
            Db::Sqlite => String::new(),
            Db::Postgres => db_url.clone(),
        };
        // `serve` refuses to start without a token keyring: make one, as an operator would.
        let keyring = dir.path().join("keyring");
        let init = Command::new(&bin)
            .args(["keyring", "init"])
            .arg(&keyring)
            .output()
            .context("running pressroom keyring init")?;
        if !init.status.success() {
            bail!(
                "pressroom keyring init failed: {}",
                String::from_utf8_lossy(&init.stderr)
            );
        }
        let text = format!(
            "[database]\nurl = {database:?}\n\n[paths]\ndata_dir = {:?}\n\n[security]\nkeyring_file = {:?}\n\n{extra_toml}\n",
            data_dir.display().to_string(),
            keyring.display().to_string()
        );
        std::fs::write(&config, text)?;
        Ok(Self {
            bin,
            dir,
            config,
            data_dir,
            db,
            db_url,
            pg_db,
            logs: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--config").arg(&self.config);
        c.current_dir(self.dir.path());
        // The environment must not override the test's configuration.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PRESSROOM_") {
                c.env_remove(k);
            }
        }
        c.env("RUST_LOG", "info");
        c
    }

    /// Runs one command to completion; fails with its output when it exits non-zero.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running pressroom {args:?}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "pressroom {args:?} exited with {}\n--- stdout\n{stdout}\n--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    }

    /// Runs one command with extra environment variables (e.g. `PRESSROOM__…` overrides);
    /// returns its exit success, stdout and stderr.
    pub fn run_with_env(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<(bool, String, String)> {
        let out = self
            .command()
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running pressroom {args:?}"))?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Starts a command with stdin and stdout piped (interactive commands such as
    /// `accounts connect`); stderr is inherited.
    pub fn spawn_piped(&self, args: &[&str]) -> anyhow::Result<Child> {
        self.command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting pressroom {args:?}"))
    }

    /// Starts `pressroom serve`, its stdout and stderr going to `serve-<tag>.log`.
    pub fn spawn_serve(&mut self, tag: &str) -> anyhow::Result<Child> {
        self.spawn_serve_with(tag, &[])
    }

    /// [`Self::spawn_serve`] with more arguments (a second instance: `--bind` elsewhere).
    pub fn spawn_serve_with(&mut self, tag: &str, args: &[&str]) -> anyhow::Result<Child> {
        let log = self.dir.path().join(format!("serve-{tag}.log"));
        let file = std::fs::File::create(&log)?;
        let child = self
            .command()
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .context("starting pressroom serve")?;
        self.logs.push(log);
        Ok(child)
    }

    /// The last lines of every `serve` log, for a failure message.
    pub fn dump_logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for log in &self.logs {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            let _ = writeln!(out, "===== {} (last {} lines)", log.display(), tail.len());
            for l in tail {
                let _ = writeln!(out, "{l}");
            }
        }
        out
    }

    /// How many lines of the `serve` logs contain `needle`.
    pub fn count_in_logs(&self, needle: &str) -> usize {
        self.logs
            .iter()
            .map(|log| {
                std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains(needle))
                    .count()
            })
            .sum()
    }

    /// Opens the app's database directly (fixtures the CLI cannot create in bulk).
    pub async fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::connect(&self.db_url).await?)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(db) = self.pg_db.take()
            && let Err(e) = block_on(db.drop_database())
        {
            eprintln!("[e2e] could not drop the test database: {e}");
        }
    }
}

/// Sends SIGTERM to a child (a graceful stop) and waits up to `timeout` for it to exit;
/// kills it if it does not.
pub fn terminate(child: &mut Child, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .context("running kill -TERM")?;
    ensure!(status.success(), "kill -TERM {} failed", child.id());
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("pressroom serve did not stop within {timeout:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.1 request over a plain TCP connection (the daemon's API on loopback), without a
/// body; returns the status and the response body. Enough for the e2e tests' few API calls.
pub fn http_call(
    addr: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = bearer
        .map(|k| format!("authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-length: 0\r\nconnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status line in {raw:?}"))?;
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
