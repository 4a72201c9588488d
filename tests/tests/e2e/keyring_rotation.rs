//! Keyring rotation on a live deployment (issue 11 #7), through the real binary: a `serve`
//! daemon publishes to the TikTok fake, whose refresh tokens rotate (each refresh returns a new
//! one and kills the old, PLATFORMS.md §4.1), with access tokens so short-lived that every
//! publish refreshes first; meanwhile `pressroom keyring rotate` runs against the same
//! database. Nothing is lost or doubled, publishing goes on, no post is left `publishing`, the
//! fake never sees a refresh token used twice (the chain is unbroken: the last stored one
//! still refreshes), and every sealed row ends under the new key. Once with SIGHUP (which also
//! re-keys the signed media links), once without: the daemon learns the new key by itself.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use connector_tiktok::fake::{FakeOptions, FakeTikTok};
use pressroom_connector::Credentials;
use pressroom_connector::testkit::{Account, FakeControls};
use pressroom_crypto::{Aad, Keyring};
use pressroom_e2e::{Db, TestApp, free_port, terminate};
use pressroom_store::entity::account;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// Posts per batch: `RUNS` campaign runs to two TikTok accounts.
const RUNS: usize = 5;
const TARGETS: usize = 2;

const CAMPAIGN: &str = r#"name = "rotation"
workspace = "acme"

[schedule]
webhook = true

[generation]
prompt = "a {{ product }} on a linen table"
steps = 2
width = 64
height = 64
seed = 5

[caption]
template = "Rotation drop {{ n }}: the {{ product }}"

[variables]
product = "lamp"
n = "0"

[[targets]]
account = "tt-1"
preset = "tiktok-photo"

[[targets]]
account = "tt-2"
preset = "tiktok-photo"
"#;

/// The daemon's config: its API (serving the media links TikTok pulls) and the TikTok fake.
fn config(port: u16, tt: &FakeTikTok) -> String {
    let c = tt.config();
    format!(
        r#"[retry]
max_attempts = 30
base_ms = 50
cap_ms = 500

[workers]
concurrency = 4
poll_ms = 50

[api]
bind = "127.0.0.1:{port}"

[media]
public_base_url = "http://127.0.0.1:{port}"

[connectors.tiktok]
api_base = "{base}"
auth_base = "{base}"
client_key = "{key}"
client_secret = "{secret}"
timeout_secs = 5
status_poll_interval_ms = 50
status_max_wait_secs = 10
rate_limit_wait_secs = 1
"#,
        base = c.api_base,
        key = c.client_key,
        secret = c.client_secret.expose_secret(),
    )
}

fn import_entry(name: &str, a: &Account) -> Value {
    let c = &a.credentials;
    json!({
        "platform": "tiktok",
        "name": name,
        "external_id": a.account.external_id,
        "access_token": c.access_token.expose_secret(),
        "refresh_token": c.refresh_token.as_ref().map(|t| t.expose_secret().to_string()),
        "expires_at": c.expires_at.map(|t| t.to_rfc3339()),
        "extra": c.extra,
    })
}

/// Triggers runs `from..=to` of the campaign, each with its own caption.
fn trigger(app: &TestApp, from: usize, to: usize) -> anyhow::Result<()> {
    for n in from..=to {
        let (var, key) = (format!("n={n}"), format!("run-{n}"));
        app.run(&[
            "campaign",
            "trigger",
            "rotation",
            "--workspace",
            "acme",
            "--var",
            &var,
            "--key",
            &key,
        ])?;
    }
    Ok(())
}

/// `posts list --json` once `expected` posts exist and all are published; fails at once when
/// one ends any other way.
fn wait_for_published(
    app: &TestApp,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + timeout;
    loop {
        let posts = app.posts("acme")?;
        if let Some(bad) = posts.iter().find(|p| {
            ["failed", "needs_reconnect", "unknown", "cancelled"]
                .contains(&p["state"].as_str().unwrap_or(""))
        }) {
            bail!(
                "a post ended {}: {bad}\n{}",
                bad["state"],
                app.dump_logs(80)
            );
        }
        let published = posts.iter().filter(|p| p["state"] == "published").count();
        if posts.len() == expected && published == expected {
            return Ok(posts);
        }
        if Instant::now() > deadline {
            bail!(
                "{published} of {expected} posts published after {timeout:?}:\n{}\n{}",
                serde_json::to_string_pretty(&posts)?,
                app.dump_logs(80)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Every refresh token the fake was shown, in order.
fn presented_refresh_tokens(tt: &FakeTikTok) -> Vec<String> {
    tt.requests()
        .into_iter()
        .filter(|r| r.endpoint == "POST /v2/oauth/token/")
        .filter_map(|r| {
            r.body.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k == "refresh_token").then(|| v.to_string())
            })
        })
        .collect()
}

fn aad<'a>(row: &'a account::Model, column: &'a str) -> Aad<'a> {
    Aad {
        workspace_id: &row.workspace_id,
        table: "accounts",
        column,
        row_id: &row.id,
    }
}

fn sends_signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()?;
    ensure!(status.success(), "kill -{signal} {pid} failed");
    Ok(())
}

/// Waits until the daemon's logs hold `needle` at least `times` times.
fn wait_for_log(app: &TestApp, needle: &str, times: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.count_in_logs(needle) < times {
        ensure!(
            Instant::now() < deadline,
            "the daemon never logged {needle:?}:\n{}",
            app.dump_logs(40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The status of a plain GET on the daemon's API (the body may be an image).
fn get_status(addr: &str, path: &str) -> anyhow::Result<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let head = String::from_utf8_lossy(&raw[..raw.len().min(64)]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status line in {head:?}"))
}

/// A media link path for `rendition_id` signed with the key derived from `ring`.
fn media_link(ring: &Keyring, rendition_id: &str) -> anyhow::Result<String> {
    let key = ring.derive_key("media-links")?;
    let exp = chrono::Utc::now().timestamp() + 600;
    Ok(pressroom_crypto::urlsign::UrlSigner::new(key).sign_url(
        "",
        &format!("media/{rendition_id}"),
        exp,
    ))
}

/// How the rotation meets the daemon.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    /// `keyring rotate` while the first batch publishes, then SIGHUP.
    RotateThenSighup,
    /// `keyring rotate` while the first batch publishes, no signal; then a second rotation
    /// while the daemon is idle, so the next publish meets a token under a key id the daemon
    /// never read and has to re-read the file by itself.
    Unsignalled,
}

fn rotation_while_publishing(db: Db, scenario: Scenario) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Access tokens live 60 s, inside the daemon's 300 s refresh margin: every publish
    // refreshes first, so refresh tokens rotate all through the test.
    let tt = rt.block_on(FakeTikTok::start_with(FakeOptions {
        access_ttl: chrono::Duration::seconds(60),
        inits_per_minute: 10_000,
        ..FakeOptions::default()
    }))?;
    let accounts = [
        rt.block_on(tt.connect_account()),
        rt.block_on(tt.connect_account()),
    ];
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let mut app = TestApp::new(db, &config(port, &tt))?;
    let keyring_file = app.path().join("keyring");
    let import = json!([
        import_entry("tt-1", &accounts[0]),
        import_entry("tt-2", &accounts[1])
    ]);
    let import_file = app.path().join("accounts.json");
    std::fs::write(&import_file, serde_json::to_string(&import)?)?;
    let arg = import_file.display().to_string();
    app.run(&["accounts", "import", &arg, "--workspace", "acme"])?;
    let campaign_file = app.path().join("campaign.toml");
    std::fs::write(&campaign_file, CAMPAIGN)?;
    let arg = campaign_file.display().to_string();
    app.run(&["campaign", "load", &arg])?;
    let first_ring = Keyring::load_file(&keyring_file)?;

    let mut serve = app.spawn_serve("rotation")?;
    let mut presented_at_rotation = 0;
    let outcome = (|| -> anyhow::Result<(Vec<Value>, Keyring)> {
        // Batch 1 is being published (and its tokens refreshed) while the keyring rotates.
        trigger(&app, 1, RUNS)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while presented_refresh_tokens(&tt).is_empty() {
            ensure!(
                Instant::now() < deadline,
                "the daemon never refreshed a token:\n{}",
                app.dump_logs(60)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        presented_at_rotation = presented_refresh_tokens(&tt).len();
        let out = app.run(&["keyring", "rotate"])?;
        ensure!(
            out.contains("re-sealed the tokens of"),
            "rotate said: {out}"
        );
        match scenario {
            Scenario::RotateThenSighup => {
                sends_signal(serve.id(), "HUP")?;
                wait_for_log(&app, "media link key re-derived", 1)?;
            }
            Scenario::Unsignalled => {
                wait_for_published(&app, RUNS * TARGETS, Duration::from_secs(240))?;
                let out = app.run(&["keyring", "rotate"])?;
                ensure!(out.contains("re-sealed the tokens of 2 accounts"), "{out}");
            }
        }
        // Publishing goes on under the new key.
        trigger(&app, RUNS + 1, 2 * RUNS)?;
        let posts = wait_for_published(&app, 2 * RUNS * TARGETS, Duration::from_secs(240))?;
        let ring = Keyring::load_file(&keyring_file)?;
        if scenario == Scenario::RotateThenSighup {
            // SIGHUP re-keyed the media links: a link signed with the key derived from the
            // new keyring opens; one from before the rotation still does, for its lifetime.
            let rendition = posts[0]["rendition_id"]
                .as_str()
                .context("a rendition id")?;
            let status = get_status(&addr, &media_link(&ring, rendition)?)?;
            ensure!(status == 200, "a link under the new key: {status}");
            let status = get_status(&addr, &media_link(&first_ring, rendition)?)?;
            ensure!(status == 200, "a link under the old key: {status}");
        }
        Ok((posts, ring))
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    let (posts, ring) = outcome?;
    stopped?;

    // Every post published once, counted on the fake: one publish per run and account.
    ensure!(posts.iter().all(|p| p["state"] == "published"), "{posts:?}");
    let held: Vec<(String, String)> = tt
        .publishes()
        .into_iter()
        .filter(|p| p.exists())
        .map(|p| (p.open_id, p.description))
        .collect();
    let distinct: BTreeSet<&(String, String)> = held.iter().collect();
    ensure!(
        held.len() == 2 * RUNS * TARGETS && distinct.len() == held.len(),
        "TikTok holds {} posts, {} distinct: {held:?}",
        held.len(),
        distinct.len()
    );
    ensure!(
        tt.commits() as usize == 2 * RUNS * TARGETS,
        "{} accepted inits",
        tt.commits()
    );

    // The refresh chain: the fake was never shown a refresh token twice (each dies on use),
    // refreshes went on after the rotation, and the token stored last is alive.
    let presented = presented_refresh_tokens(&tt);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &presented {
        *seen.entry(t.as_str()).or_default() += 1;
    }
    let reused: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    ensure!(
        reused.is_empty(),
        "refresh tokens presented again after they were used: {reused:?}\n{}",
        app.dump_logs(60)
    );
    ensure!(
        presented.len() > presented_at_rotation,
        "no refresh after the rotation ({} in all)",
        presented.len()
    );

    // Every sealed row under the new active key, opening with the keyring as it is now.
    let rows = rt.block_on(async {
        let store = app.store().await?;
        let rows = pressroom_store::repo::accounts::list_all(&store).await?;
        store.conn().clone().close().await?;
        anyhow::Ok(rows)
    })?;
    ensure!(rows.len() == 2, "{} accounts", rows.len());
    let active = ring.active_id().to_string();
    ensure!(
        active != first_ring.active_id().as_str(),
        "the key never changed"
    );
    let connector = FakeControls::connector(&tt);
    for row in &rows {
        ensure!(
            row.key_id.as_deref() == Some(active.as_str())
                && row.state == pressroom_core::AccountState::Active,
            "{}: key {:?}, state {}",
            row.name,
            row.key_id,
            row.state
        );
        let mut opened = Vec::new();
        for (column, sealed) in [
            ("access_token_sealed", &row.access_token_sealed),
            ("refresh_token_sealed", &row.refresh_token_sealed),
        ] {
            let sealed = sealed.as_deref().context("a sealed token")?;
            ensure!(
                sealed.starts_with(&format!("v1.{active}.")),
                "{}.{column} is not sealed under {active}",
                row.name
            );
            opened.push(ring.open_str(sealed, &aad(row, column))?);
        }
        let refresh = opened.pop().context("the refresh token")?;
        ensure!(
            !seen.contains_key(refresh.expose_secret()),
            "{}: the stored refresh token was already used",
            row.name
        );
        let creds = Credentials {
            access_token: opened.pop().context("the access token")?,
            refresh_token: Some(SecretString::from(refresh.expose_secret().to_string())),
            expires_at: None,
            extra: serde_json::from_str(&row.extra)?,
        };
        rt.block_on(connector.refresh(&creds))
            .with_context(|| format!("{}: the stored refresh token is dead", row.name))?;
    }
    drop(rt);
    Ok(())
}

#[test]
fn keyring_rotation_during_publishing_then_sighup_sqlite() -> anyhow::Result<()> {
    rotation_while_publishing(Db::Sqlite, Scenario::RotateThenSighup)
}

#[test]
fn keyring_rotation_unsignalled_daemon_learns_the_new_key_postgres() -> anyhow::Result<()> {
    rotation_while_publishing(Db::Postgres, Scenario::Unsignalled)
}

#[test]
fn keyring_rotation_during_publishing_then_sighup_postgres() -> anyhow::Result<()> {
    rotation_while_publishing(Db::Postgres, Scenario::RotateThenSighup)
}

#[test]
fn keyring_rotation_unsignalled_daemon_learns_the_new_key_sqlite() -> anyhow::Result<()> {
    rotation_while_publishing(Db::Sqlite, Scenario::Unsignalled)
}
