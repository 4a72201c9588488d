//! Issue 11 ("no table holds `prk_`, `whsec_` or a token in plaintext … DB files, WAL, logs";
//! RELIABILITY.md R29, B.7): a daemon run that mints every kind of secret — API keys from the
//! CLI and from the API (with an Idempotency-Key, so a stored replay body would hold it), an
//! inbound hook with a rotated second secret, an outbound `whsec_` endpoint that receives
//! signed events, imported accounts with known OAuth tokens, one of which the daemon refreshes
//! — and then no secret is found in any file of the data directory (SQLite with its -wal and
//! -shm), in the daemon's debug-level log, or (PostgreSQL) in any text, JSON or bytea column.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use connector_webhook::fake::FakeReceiver;
use pressroom_connector::testkit::FakeControls;
use pressroom_crypto::webhook::{DEFAULT_TOLERANCE, WebhookSecret};
use pressroom_e2e::{
    Db, HttpAnswer, TestApp, assert_no_plaintext, assert_no_plaintext_in_postgres, block_on,
    free_port, http_request, terminate,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const CAMPAIGN: &str = r#"name = "secrets"
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
template = "Meet the {{ product }}"

[variables]
product = "tote"

[[targets]]
account = "sb"
preset = "instagram-square"

[[targets]]
account = "wh"
preset = "linkedin-square"
"#;

/// One delivery the outbound endpoint received: its Standard Webhooks headers and body.
struct Delivery {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

/// A receiver for outbound webhooks on loopback that answers 200 to everything and keeps
/// what it got.
fn start_receiver() -> anyhow::Result<(String, Arc<Mutex<Vec<Delivery>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/events", listener.local_addr()?);
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let mut reader = BufReader::new(&conn);
            let mut headers = Vec::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
                line.clear();
            }
            let header = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let len: usize = header("content-length").parse().unwrap_or(0);
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let delivery = Delivery {
                id: header("webhook-id"),
                timestamp: header("webhook-timestamp"),
                signature: header("webhook-signature"),
                body,
            };
            if let Ok(mut all) = keep.lock() {
                all.push(delivery);
            }
            let _ = (&conn)
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    Ok((url, got))
}

/// A JSON POST with a bearer key; fails unless the answer is `want`.
fn post_json(
    addr: &str,
    key: &str,
    path: &str,
    idempotency: Option<&str>,
    body: &Value,
    want: u16,
) -> anyhow::Result<HttpAnswer> {
    let auth = format!("Bearer {key}");
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    if let Some(k) = idempotency {
        headers.push(("idempotency-key", k));
    }
    let answer = http_request(addr, "POST", path, &headers, body.to_string().as_bytes())?;
    ensure!(
        answer.status == want,
        "POST {path}: {} {}",
        answer.status,
        answer.body
    );
    Ok(answer)
}

/// The secret's own characters after `whsec_`: a body stored without its prefix would
/// still be a leak.
fn with_body(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    if let Some(b) = secret.strip_prefix("whsec_") {
        out.push(b.to_string());
    }
    out
}

fn scenario(db: Db) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let wh = rt.block_on(FakeReceiver::start())?;
    let wh_account = rt.block_on(wh.connect_account());
    // Expired before the daemon starts: the first delivery meets a 401 and the daemon
    // refreshes the token, storing the new one (and the rotated refresh token).
    wh.expire_all_tokens();
    let (events_url, events) = start_receiver()?;
    let whc = wh.config();
    let port = free_port()?;
    let extra = format!(
        r#"[api]
bind = "127.0.0.1:{port}"

[media]
# The webhook connector sends media by URL.
public_base_url = "http://127.0.0.1:{port}"

[retry]
max_attempts = 10
base_ms = 50
cap_ms = 300

[workers]
poll_ms = 50

[webhooks_out]
allow_private_addresses = true
timeout_secs = 5

[connectors.webhook]
url = "{url}"
secret = "{secret}"
status_url = "{status}"
token_url = "{token}"
timeout_secs = 2
listing_lag_secs = {lag}
"#,
        url = whc.url,
        secret = whc.secret.expose_secret(),
        status = whc.status_url.map(|u| u.to_string()).unwrap_or_default(),
        token = whc.token_url.map(|u| u.to_string()).unwrap_or_default(),
        lag = whc.listing_lag_secs,
    );
    let mut app = TestApp::new(db, &extra)?;
    let sandbox_access = format!("sbx-access-{}", uuid::Uuid::new_v4().simple());
    let sandbox_refresh = format!("sbx-refresh-{}", uuid::Uuid::new_v4().simple());
    let creds = &wh_account.credentials;
    let import = json!([
        {
            "platform": "sandbox",
            "name": "sb",
            "external_id": "sb",
            "access_token": sandbox_access,
            "refresh_token": sandbox_refresh,
        },
        {
            "platform": "webhook",
            "name": "wh",
            "external_id": wh_account.account.external_id,
            "access_token": creds.access_token.expose_secret(),
            "refresh_token": creds.refresh_token.as_ref().map(|t| t.expose_secret().to_string()),
            "extra": creds.extra,
        },
    ]);
    let file = app.path().join("accounts.json");
    std::fs::write(&file, import.to_string())?;
    app.run(&[
        "accounts",
        "import",
        &file.display().to_string(),
        "--workspace",
        "acme",
    ])?;
    let file = app.path().join("campaign.toml");
    std::fs::write(&file, CAMPAIGN)?;
    app.run(&["campaign", "load", &file.display().to_string()])?;
    let out = app.run(&["keys", "create", "--workspace", "acme", "--role", "admin"])?;
    let admin = out.lines().last().unwrap_or_default().trim().to_string();
    ensure!(admin.starts_with("prk_"), "{out}");

    let mut secrets = vec![
        admin.clone(),
        sandbox_access,
        sandbox_refresh,
        whc.secret.expose_secret().to_string(),
    ];
    let mut serve = app.spawn_serve_env("secrets", &[], &[("RUST_LOG", "debug")])?;
    let addr = format!("127.0.0.1:{port}");
    let outcome = (|| -> anyhow::Result<()> {
        app.wait_healthy(&addr, Duration::from_secs(120))?;
        let editor = post_json(
            &addr,
            &admin,
            "/v1/keys",
            Some("mint-editor-1"),
            &json!({ "role": "editor", "name": "ci" }),
            201,
        )?;
        let editor = editor.json()["key"]
            .as_str()
            .context("no key in the answer")?
            .to_string();
        ensure!(editor.starts_with("prk_"), "{editor}");
        secrets.push(editor);

        let auth = format!("Bearer {admin}");
        let list = http_request(
            &addr,
            "GET",
            "/v1/campaigns",
            &[("authorization", &auth)],
            b"",
        )?;
        let campaign_id = list.json()["data"][0]["id"]
            .as_str()
            .with_context(|| format!("no campaign listed: {}", list.body))?
            .to_string();
        let hook = post_json(
            &addr,
            &admin,
            "/v1/hooks",
            Some("hook-1"),
            &json!({ "campaign_id": campaign_id, "adapter": "generic", "mapping": { "product": "/product" } }),
            201,
        )?
        .json();
        let hook_id = hook["id"].as_str().context("hook id")?.to_string();
        let hook_secret = hook["secret"].as_str().context("hook secret")?.to_string();
        let rotated = post_json(
            &addr,
            &admin,
            &format!("/v1/hooks/{hook_id}/secrets"),
            None,
            &json!({}),
            201,
        )?
        .json();
        let rotated = rotated["secret"].as_str().context("rotated secret")?;
        secrets.extend(with_body(&hook_secret));
        secrets.extend(with_body(rotated));
        let endpoint = post_json(
            &addr,
            &admin,
            "/v1/webhook-endpoints",
            None,
            &json!({ "url": events_url, "events": ["post.published"] }),
            201,
        )?
        .json();
        let endpoint_secret = endpoint["secret"]
            .as_str()
            .context("endpoint secret")?
            .to_string();
        secrets.extend(with_body(&endpoint_secret));

        // The CMS fires the campaign with the hook's first secret (still valid after the
        // rotation added a second one).
        let body = json!({ "product": "jar" }).to_string();
        let signer = WebhookSecret::parse(&SecretString::from(hook_secret.clone()))?;
        let now = chrono::Utc::now().timestamp();
        let signed = signer.headers("msg_secrets_1", now, body.as_bytes())?;
        let headers: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let fired = http_request(
            &addr,
            "POST",
            &format!("/v1/hooks/{hook_id}"),
            &headers,
            body.as_bytes(),
        )?;
        ensure!(
            fired.status == 202,
            "hook delivery: {} {}",
            fired.status,
            fired.body
        );

        // Both posts published, and the endpoint got a post.published signed with its secret.
        let endpoint_key = WebhookSecret::parse(&SecretString::from(endpoint_secret))?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let posts = app.posts("acme")?;
            let published = posts.iter().filter(|p| p["state"] == "published").count();
            let verified = events.lock().map_or(0, |all| {
                all.iter()
                    .filter(|d| {
                        endpoint_key
                            .verify(
                                &d.id,
                                &d.timestamp,
                                &d.signature,
                                &d.body,
                                chrono::Utc::now().timestamp(),
                                DEFAULT_TOLERANCE,
                            )
                            .is_ok()
                    })
                    .count()
            });
            if published == 2 && verified >= 2 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("published {published} of 2, {verified} signed events: {posts:?}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    if let Err(e) = outcome {
        bail!("{e:#}\n{}", app.dump_logs(80));
    }
    stopped?;

    // The daemon refreshed the expired token: the fake issued a new one.
    let refreshes = wh.calls("POST /oauth/token");
    ensure!(refreshes >= 1, "the webhook token was never refreshed");
    // Every token the fake issued (imported and refreshed) has its prefix; none may appear.
    secrets.extend(["wh-tok-".to_string(), "wh-rt-".to_string()]);
    if db == Db::Postgres {
        block_on(assert_no_plaintext_in_postgres(&app, &secrets))?;
    }
    assert_no_plaintext(&app, &secrets)?;
    eprintln!(
        "[e2e] {db:?}: {} secrets absent from the data directory, the logs{}",
        secrets.len(),
        if db == Db::Postgres {
            " and every text column"
        } else {
            ""
        }
    );
    drop(rt);
    Ok(())
}

#[test]
fn no_secret_at_rest_sqlite() -> anyhow::Result<()> {
    scenario(Db::Sqlite)
}

#[test]
fn no_secret_at_rest_postgres() -> anyhow::Result<()> {
    scenario(Db::Postgres)
}
