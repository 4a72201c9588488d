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

/// The `pressroom` binary, built once per test process with `cargo build -p pressroom -p
/// pressroom-engine` (the engine process the daemon starts lives next to it; a no-op when
/// both are up to date). Respects `CARGO_TARGET_DIR`. `PRESSROOM_E2E_BIN` names a
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
    let mut build = Command::new(cargo);
    build
        .args(["build", "-p", "pressroom", "-p", "pressroom-engine"])
        .current_dir(&root);
    // `cargo test` gives the test process its package's variables; passed on, they made this
    // build rebuild ring (its build script watches CARGO_MANIFEST_DIR, OUT_DIR, …) and
    // everything above it, and the next `cargo test` rebuild them back: a minute or more
    // each way.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
            || k == "CARGO_TARGET_TMPDIR"
            || k == "OUT_DIR"
        {
            build.env_remove(k.as_ref());
        }
    }
    let status = build
        .status()
        .context("running cargo build -p pressroom -p pressroom-engine")?;
    ensure!(
        status.success(),
        "cargo build -p pressroom -p pressroom-engine failed: {status}"
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

/// A loopback port nobody listens on right now (bound, then released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
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

    /// Every commit the sandbox connector recorded (`outbox/commits.jsonl`), each a whole JSON
    /// record (a torn line is an error): what actually went out, once per line.
    pub fn sandbox_commits(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let path = self.data_dir.join("outbox").join("commits.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).with_context(|| format!("torn commit line {l:?}")))
            .collect()
    }

    /// Every post of `workspace` as `pressroom posts list --json` shows them.
    pub fn posts(&self, workspace: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let out = self.run(&[
            "posts",
            "list",
            "--workspace",
            workspace,
            "--json",
            "--limit",
            "1000",
        ])?;
        serde_json::from_str(&out).with_context(|| format!("posts list --json gave {out}"))
    }

    /// Runs one command with `input` on its standard input (`--password-stdin`); returns its
    /// exit success, stdout and stderr.
    pub fn run_with_stdin(
        &self,
        args: &[&str],
        input: &str,
    ) -> anyhow::Result<(bool, String, String)> {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting pressroom {args:?}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Waits until the API at `addr` answers `GET /healthz` with 200; fails with the daemon's
    /// logs after `timeout`.
    pub fn wait_healthy(&self, addr: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if http_request(addr, "GET", "/healthz", &[], b"").is_ok_and(|a| a.status == 200) {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                bail!("the API did not come up\n{}", self.dump_logs(40));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
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
        self.spawn_serve_env(tag, args, &[])
    }

    /// [`Self::spawn_serve_with`] with extra environment variables (e.g. `RUST_LOG=debug`, so
    /// that a scan of the logs also covers what the daemon logs at debug level).
    pub fn spawn_serve_env(
        &mut self,
        tag: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Child> {
        let log = self.dir.path().join(format!("serve-{tag}.log"));
        let file = std::fs::File::create(&log)?;
        let child = self
            .command()
            .arg("serve")
            .args(args)
            .envs(env.iter().copied())
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

    /// The lines of every `serve` log that contain any of `needles`, at most `max` of them.
    pub fn log_lines_with(&self, needles: &[&str], max: usize) -> Vec<String> {
        self.logs
            .iter()
            .flat_map(|log| {
                std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| needles.iter().any(|n| l.contains(n)))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .take(max)
            .collect()
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
    let auth = bearer.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    let answer = http_request(addr, method, path, &headers, b"")?;
    Ok((answer.status, answer.body))
}

/// An HTTP answer read to its end.
#[derive(Clone, Debug)]
pub struct HttpAnswer {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body as received (images), `body` is its lossy UTF-8 reading.
    pub bytes: Vec<u8>,
}

impl HttpAnswer {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One HTTP/1.1 request with headers and a body (`connection: close`, `content-length` set
/// here); reads the whole answer.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<HttpAnswer> {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n");
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    let _ = write!(
        head,
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let bytes = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| raw[at + 4..].to_vec())
        .unwrap_or_default();
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status line in {raw:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(HttpAnswer {
        status,
        headers,
        body: body.to_string(),
        bytes,
    })
}

/// Every file under `dir`, recursively (symlinks not followed).
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            files_under(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Fails when any of `secrets` appears, byte for byte, in a file under the data directory
/// (the SQLite database with its `-wal` and `-shm`, assets, the sandbox outbox, anything else
/// the daemon wrote there) or in a `serve` log. On SQLite the database file must be among
/// them; a log must exist either way. PostgreSQL rows are checked by
/// [`assert_no_plaintext_in_postgres`].
pub fn assert_no_plaintext(app: &TestApp, secrets: &[String]) -> anyhow::Result<()> {
    let mut paths = Vec::new();
    files_under(&app.data_dir, &mut paths)?;
    let mut logs = 0;
    for entry in std::fs::read_dir(app.path())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "log") {
            paths.push(path);
            logs += 1;
        }
    }
    ensure!(logs > 0, "no serve log in {}", app.path().display());
    if app.db == Db::Sqlite {
        ensure!(
            paths.iter().any(|p| p.ends_with("pressroom.db")),
            "the SQLite database is not under {}",
            app.data_dir.display()
        );
    }
    for path in &paths {
        // A file removed while listing (a WAL closed at the last connection) holds nothing.
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        for secret in secrets.iter().filter(|t| !t.is_empty()) {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            ensure!(
                !found,
                "secret {}… found in plaintext in {}",
                &secret[..6.min(secret.len())],
                path.display()
            );
        }
    }
    Ok(())
}

/// Fails when any of `secrets` appears in any text, JSON or bytea column of any table of the
/// app's PostgreSQL database.
pub async fn assert_no_plaintext_in_postgres(
    app: &TestApp,
    secrets: &[String],
) -> anyhow::Result<()> {
    use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
    ensure!(app.db == Db::Postgres, "not a PostgreSQL app");
    let store = app.store().await?;
    let conn = store.conn();
    let backend = conn.get_database_backend();
    let columns = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS d \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')",
        ))
        .await?;
    ensure!(!columns.is_empty(), "no text columns found");
    let mut checked = 0;
    for row in &columns {
        let (t, c, d): (String, String, String) = (
            row.try_get("", "t")?,
            row.try_get("", "c")?,
            row.try_get("", "d")?,
        );
        let hay = if d == "bytea" {
            format!("\"{c}\"")
        } else {
            format!("convert_to(\"{c}\"::text, 'UTF8')")
        };
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            let sql = format!(
                "SELECT COUNT(*) AS n FROM \"{t}\" WHERE position(convert_to($1, 'UTF8') in {hay}) > 0"
            );
            let n: i64 = conn
                .query_one_raw(Statement::from_sql_and_values(
                    backend,
                    &sql,
                    [secret.clone().into()],
                ))
                .await?
                .map(|r| r.try_get("", "n"))
                .transpose()?
                .unwrap_or(0);
            ensure!(
                n == 0,
                "secret {}… found in plaintext in {t}.{c}",
                &secret[..6.min(secret.len())]
            );
            checked += 1;
        }
    }
    store.conn().clone().close().await?;
    ensure!(checked > 0, "nothing was checked");
    Ok(())
}

/// An SMTP server on loopback that hands over each mail it is sent (its envelope and message)
/// as soon as its DATA ends; enough of RFC 5321 for lettre in the clear. It serves
/// connections one after another (lettre's pool may keep one open).
pub fn fake_smtp() -> anyhow::Result<(u16, std::sync::mpsc::Receiver<String>)> {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut out = match stream.try_clone() {
                Ok(s) => s,
                Err(_) => return,
            };
            let mut lines = BufReader::new(stream);
            let mut got = String::new();
            let _ = out.write_all(b"220 fake ESMTP\r\n");
            let mut line = String::new();
            while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
                let command = line.trim_end().to_ascii_uppercase();
                got.push_str(&line);
                let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
                    b"250 fake\r\n"
                } else if command == "DATA" {
                    let _ = out.write_all(b"354 go on\r\n");
                    let mut body = String::new();
                    while lines.read_line(&mut body).is_ok_and(|n| n > 0) {
                        if body.ends_with("\r\n.\r\n") || body == ".\r\n" {
                            break;
                        }
                    }
                    got.push_str(&body);
                    if tx.send(std::mem::take(&mut got)).is_err() {
                        return;
                    }
                    b"250 queued\r\n"
                } else if command == "QUIT" {
                    let _ = out.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                let _ = out.write_all(reply);
                line.clear();
            }
        }
    });
    Ok((port, rx))
}

/// A headless Chromium driven through chromedriver (WebDriver), for the pages people use.
/// Screenshots go to `target/e2e-screenshots/`, to be looked at.
pub struct Browser {
    pub client: fantoccini::Client,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Self> {
        Self::start_in_zone(width, height, None).await
    }

    /// As [`Browser::start`], with the browser's time zone set to `zone` (an IANA name), as a
    /// person abroad would have it.
    pub async fn start_in_zone(
        width: u32,
        height: u32,
        zone: Option<&str>,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut command = Command::new("chromedriver");
        if let Some(zone) = zone {
            command.env("TZ", zone);
        }
        let mut driver = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context(
                "starting chromedriver: the browser tests need Debian's chromium and \
                 chromium-driver (scripts/setup.sh installs them)",
            )?;
        let mut caps = serde_json::Map::new();
        let mut options = serde_json::json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                format!("--window-size={width},{height}"),
            ],
        });
        // A window cannot be narrower than about 500 pixels: a phone is emulated instead.
        if width < 500 {
            options["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true, "mobile": true },
            });
        }
        caps.insert("goog:chromeOptions".into(), options);
        // What the page logs (errors included), read by `console_errors`.
        caps.insert(
            "goog:loggingPrefs".into(),
            serde_json::json!({ "browser": "ALL" }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match fantoccini::ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if std::time::Instant::now() > deadline => {
                    let _ = driver.kill();
                    return Err(anyhow::anyhow!("no WebDriver session in 30 s: {e}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Ok(Self { client, driver })
    }

    /// The page's console errors since the last call (script errors, Content Security Policy
    /// violations, failed loads), as chromedriver's browser log has them.
    pub async fn console_errors(&self) -> anyhow::Result<Vec<String>> {
        let log = self.client.issue_cmd(BrowserLog).await?;
        Ok(log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// Waits up to `within` for every image of the page to have loaded (a busy machine
    /// serves them later than the page): false when one still has not.
    pub async fn images_loaded(&self, within: Duration) -> anyhow::Result<bool> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let loaded = self
                .client
                .execute(
                    "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)",
                    vec![],
                )
                .await?;
            if loaded == serde_json::json!(true) {
                return Ok(true);
            }
            if std::time::Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot for the README as `docs/screenshots/{name}.png` (and under
    /// `target/e2e-screenshots/` like the others).
    pub async fn screenshot_for_docs(&self, name: &str) -> anyhow::Result<PathBuf> {
        let taken = self.screenshot(name).await?;
        let dir = workspace_root().join("docs").join("screenshots");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::copy(&taken, &path)?;
        Ok(path)
    }

    /// Saves a screenshot of the page as `target/e2e-screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = workspace_root().join("target").join("e2e-screenshots");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Problems a person with a screen reader would meet on the page: images without alt
    /// text, form fields without a label, a page without a language or a title.
    pub async fn accessibility_problems(&self) -> anyhow::Result<Vec<String>> {
        let found = self
            .client
            .execute(
                r#"const p = [];
                if (!document.documentElement.lang) p.push('html has no lang');
                if (!document.title.trim()) p.push('page has no title');
                document.querySelectorAll('img').forEach(i => {
                  if (!(i.getAttribute('alt') || '').trim()) p.push('img without alt: ' + i.src);
                });
                document.querySelectorAll('input, textarea, select').forEach(f => {
                  if (f.type === 'hidden') return;
                  if (!f.labels || f.labels.length === 0) p.push('field without a label: ' + f.name);
                });
                return p;"#,
                vec![],
            )
            .await?;
        Ok(serde_json::from_value(found)?)
    }

    /// Ends the session and stops chromedriver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let closed = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        closed?;
        Ok(())
    }
}

/// chromedriver's `POST /session/{id}/se/log` for the browser's log (what the page's console
/// showed), which fantoccini does not wrap.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(r#"{"type": "browser"}"#.to_owned()),
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
