//! The token keyring through the real binary: `pressroom keys rotate` re-seals every stored
//! token and webhook secret under a new active key (older keys stay, decrypt-only), and
//! `pressroom serve` refuses to start without a keyring outside demo mode.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use pressroom_crypto::{Aad, Keyring};
use pressroom_e2e::{Db, TestApp, block_on, terminate};
use pressroom_store::entity::account;
use pressroom_store::repo::{campaigns, hooks, webhook_endpoints, workspaces};
use pressroom_store::sealed::{SecretAt, SecretSealer};
use secrecy::{ExposeSecret, SecretString};

/// Plaintext tokens by (account name, column).
type Plain = BTreeMap<(String, &'static str), String>;

fn aad<'a>(row: &'a account::Model, column: &'a str) -> Aad<'a> {
    Aad {
        workspace_id: &row.workspace_id,
        table: "accounts",
        column,
        row_id: &row.id,
    }
}

/// Every sealed value of `row`, by column.
fn sealed(row: &account::Model) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    if let Some(s) = row.access_token_sealed.as_deref() {
        out.push(("access_token_sealed", s));
    }
    if let Some(s) = row.refresh_token_sealed.as_deref() {
        out.push(("refresh_token_sealed", s));
    }
    out
}

fn accounts(app: &TestApp) -> anyhow::Result<Vec<account::Model>> {
    block_on(async {
        let store = app.store().await?;
        Ok(pressroom_store::repo::accounts::list_all(&store).await?)
    })
}

/// Imports accounts with known tokens into two workspaces; returns their plaintexts.
fn import(app: &TestApp) -> anyhow::Result<Plain> {
    let mut plain = Plain::new();
    for (ws, entries) in [
        (
            "acme",
            vec![("a-rotating", Some("rt-acme-1")), ("a-plain", None)],
        ),
        ("beta", vec![("b-rotating", Some("rt-beta-1"))]),
    ] {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|(name, refresh)| {
                let access = format!("at-{name}-secret");
                plain.insert((name.to_string(), "access_token_sealed"), access.clone());
                if let Some(r) = refresh {
                    plain.insert((name.to_string(), "refresh_token_sealed"), r.to_string());
                }
                serde_json::json!({
                    "platform": "sandbox",
                    "name": name,
                    "external_id": format!("ext-{name}"),
                    "access_token": access,
                    "refresh_token": refresh,
                })
            })
            .collect();
        let file = app.path().join(format!("{ws}.json"));
        std::fs::write(&file, serde_json::to_string(&list)?)?;
        let arg = file.display().to_string();
        app.run(&["accounts", "import", &arg, "--workspace", ws])?;
    }
    Ok(plain)
}

#[test]
fn keys_rotate_reseals_every_token_under_a_new_key() -> anyhow::Result<()> {
    let app = TestApp::new(Db::Sqlite, "")?;
    let keyring_file = app.path().join("keyring");
    let plain = import(&app)?;
    let old_ring = Keyring::load_file(&keyring_file)?;
    let old_id = old_ring.active_id().to_string();
    let before = accounts(&app)?;
    ensure!(before.len() == 3, "{} accounts imported", before.len());
    for row in &before {
        ensure!(row.key_id.as_deref() == Some(old_id.as_str()), "{row:?}");
    }

    let out = app.run(&["keys", "rotate"])?;
    ensure!(
        out.contains("re-sealed the tokens of 3 accounts"),
        "rotate said: {out}"
    );

    let ring = Keyring::load_file(&keyring_file)?;
    let new_id = ring.active_id().to_string();
    ensure!(new_id != old_id, "the active key did not change");
    ensure!(
        out.contains(&new_id),
        "rotate names the new key {new_id}: {out}"
    );
    ensure!(
        ring.key_ids().any(|k| k.as_str() == old_id),
        "the old key stays in the keyring, decrypt-only"
    );
    ensure!(
        !keyring_file.with_extension("new").exists(),
        "the staged keyring was left behind"
    );

    let after = accounts(&app)?;
    ensure!(after.len() == 3, "{} accounts after rotation", after.len());
    let mut opened = 0;
    for row in &after {
        ensure!(
            row.key_id.as_deref() == Some(new_id.as_str()),
            "{} is recorded under key {:?}, not {new_id}",
            row.name,
            row.key_id
        );
        let old_row = before
            .iter()
            .find(|b| b.id == row.id)
            .context("same rows")?;
        for (column, value) in sealed(row) {
            ensure!(
                value.starts_with(&format!("v1.{new_id}.")),
                "{}.{column} is not sealed under {new_id}",
                row.name
            );
            let want = plain
                .get(&(row.name.clone(), column))
                .with_context(|| format!("no plaintext for {}.{column}", row.name))?;
            let got = ring.open_str(value, &aad(row, column))?;
            ensure!(
                got.expose_secret() == want,
                "{}.{column} changed in rotation",
                row.name
            );
            // The new seal is really under the new key: the old keyring cannot open it.
            ensure!(
                old_ring.open_str(value, &aad(row, column)).is_err(),
                "{}.{column} still opens with the old keyring alone",
                row.name
            );
            opened += 1;
        }
        // Records sealed before the rotation still open: the old key decrypts them.
        for (column, value) in sealed(old_row) {
            ensure!(value.starts_with(&format!("v1.{old_id}.")), "{value}");
            let got = ring.open_str(value, &aad(old_row, column))?;
            ensure!(
                Some(got.expose_secret())
                    == plain.get(&(row.name.clone(), column)).map(|s| s.as_str()),
                "an older record of {}.{column} no longer opens",
                row.name
            );
        }
        ensure!(
            sealed(row).len() == sealed(old_row).len(),
            "{}: a token appeared or vanished",
            row.name
        );
    }
    ensure!(
        opened == 5,
        "{opened} tokens re-sealed and opened, expected 5"
    );

    // A second rotation keeps every older key and re-seals again.
    let out = app.run(&["keys", "rotate"])?;
    ensure!(out.contains("re-sealed the tokens of 3 accounts"), "{out}");
    let third = Keyring::load_file(&keyring_file)?;
    ensure!(third.key_ids().count() == 3, "{third:?}");
    for row in accounts(&app)? {
        for (column, value) in sealed(&row) {
            ensure!(third.open_str(value, &aad(&row, column)).is_ok());
        }
    }
    Ok(())
}

/// The daemon's row sealer (`pressroom_runtime::RowSealer` over the keyring cipher) over one keyring:
/// the same associated data, so what it seals the daemon opens and the other way round.
struct RingSealer<'a>(&'a Keyring);

impl SecretSealer for RingSealer<'_> {
    fn seal(&self, plaintext: &str, at: SecretAt<'_>) -> Result<String, String> {
        self.0
            .seal_str(&SecretString::from(plaintext.to_owned()), &row_aad(at))
            .map_err(|e| e.to_string())
    }

    fn open(&self, sealed: &str, at: SecretAt<'_>) -> Result<String, String> {
        self.0
            .open_str(sealed, &row_aad(at))
            .map(|s| s.expose_secret().to_owned())
            .map_err(|e| e.to_string())
    }
}

fn row_aad<'a>(at: SecretAt<'a>) -> Aad<'a> {
    Aad {
        workspace_id: at.workspace_id,
        table: "accounts",
        column: at.column,
        row_id: at.row_id,
    }
}

const SMALL_CAMPAIGN: &str = r#"name = "hooked"
workspace = "acme"

[schedule]
webhook = true

[generation]
prompt = "a kite"
steps = 2
width = 64
height = 64
seed = 1

[caption]
template = "A kite"

[[targets]]
account = "a-plain"
preset = "sandbox"
"#;

/// `keys rotate` re-seals webhook secrets too — inbound hook secrets and outbound `whsec_`
/// endpoint secrets — under the new key, with the same plaintext (issue 11 #8 sealed them
/// with the token keyring; a rotation that skipped them left them under the old key).
#[test]
fn keys_rotate_reseals_webhook_secrets_under_the_new_key() -> anyhow::Result<()> {
    let app = TestApp::new(Db::Sqlite, "")?;
    let keyring_file = app.path().join("keyring");
    import(&app)?;
    let campaign = app.path().join("hooked.toml");
    std::fs::write(&campaign, SMALL_CAMPAIGN)?;
    app.run(&["campaign", "load", &campaign.display().to_string()])?;
    let old_ring = Keyring::load_file(&keyring_file)?;
    let hook_secrets = vec![
        "whsec_aW5ib3VuZC1uZXc=".to_string(),
        "whsec_b2xk".to_string(),
    ];
    let endpoint_secret = "whsec_b3V0Ym91bmQtc2VjcmV0";
    let (hook_id, endpoint_id) = block_on(async {
        let store = app.store().await?;
        let ws = workspaces::by_slug(&store, "acme")
            .await?
            .context("workspace acme")?;
        let campaign = campaigns::by_name(&store, &ws.id, "hooked")
            .await?
            .context("campaign hooked")?;
        let now = store.now_ms().await?;
        let sealer = RingSealer(&old_ring);
        let mapping = serde_json::json!({});
        let hook = hooks::insert(
            &store,
            store.conn(),
            now,
            hooks::NewHook {
                workspace_id: &ws.id,
                campaign_id: &campaign.id,
                secrets: &hook_secrets,
                adapter: "generic",
                mapping: &mapping,
            },
            &sealer,
        )
        .await?;
        let endpoint = webhook_endpoints::insert(
            &store,
            store.conn(),
            now,
            webhook_endpoints::NewEndpoint {
                workspace_id: &ws.id,
                url: "https://hooks.example.com/pressroom",
                secret: endpoint_secret,
                events: &[],
                description: "",
            },
            &sealer,
        )
        .await?;
        store.conn().clone().close().await?;
        anyhow::Ok((hook.id, endpoint.id))
    })?;

    let out = app.run(&["keys", "rotate"])?;
    ensure!(
        out.contains("the secrets of 1 inbound hooks and 1 webhook endpoints"),
        "rotate said: {out}"
    );
    let ring = Keyring::load_file(&keyring_file)?;
    let new_id = ring.active_id().to_string();
    let (hook, endpoint) = block_on(async {
        let store = app.store().await?;
        let ws = workspaces::by_slug(&store, "acme")
            .await?
            .context("workspace acme")?;
        let hook = hooks::get(&store, &ws.id, &hook_id).await?;
        let endpoint = webhook_endpoints::get(store.conn(), &ws.id, &endpoint_id).await?;
        store.conn().clone().close().await?;
        anyhow::Ok((hook, endpoint))
    })?;
    for (what, stored) in [("hook", &hook.secrets), ("endpoint", &endpoint.secret)] {
        ensure!(
            stored.starts_with(&format!("v1.{new_id}.")),
            "the {what} secret is not sealed under {new_id}: {}",
            &stored[..stored.len().min(16)]
        );
    }
    ensure!(
        hook.secrets(&RingSealer(&ring))? == hook_secrets,
        "the hook secrets changed in rotation"
    );
    ensure!(
        endpoint.signing_secret(&RingSealer(&ring))? == endpoint_secret,
        "the endpoint secret changed in rotation"
    );
    // Really under the new key: the old keyring alone opens neither.
    ensure!(hook.secrets(&RingSealer(&old_ring)).is_err());
    ensure!(endpoint.signing_secret(&RingSealer(&old_ring)).is_err());
    Ok(())
}

/// The TestApp's config with `security.keyring_file` emptied.
fn without_keyring(app: &TestApp) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&app.config)?;
    let edited: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("keyring_file") {
                "keyring_file = \"\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    ensure!(edited != text.lines().map(str::to_string).collect::<Vec<_>>());
    std::fs::write(&app.config, edited.join("\n"))?;
    Ok(())
}

#[test]
fn serve_refuses_to_start_without_a_keyring_outside_demo_mode() -> anyhow::Result<()> {
    let app = TestApp::new(Db::Sqlite, "[scheduler]\nenabled = false\n")?;
    without_keyring(&app)?;
    let started = Instant::now();
    let err = match app.run(&["serve"]) {
        Ok(out) => bail!("serve started without a keyring:\n{out}"),
        Err(e) => format!("{e:#}"),
    };
    ensure!(
        started.elapsed() < Duration::from_secs(60),
        "serve took {:?} to refuse",
        started.elapsed()
    );
    for needle in [
        "security.keyring_file",
        "no token key is configured",
        "keyring init",
    ] {
        ensure!(err.contains(needle), "message lacks {needle:?}:\n{err}");
    }
    ensure!(
        !err.contains("pressroom is running"),
        "it started before refusing:\n{err}"
    );
    let generated = app.data_dir.join("keyring");
    ensure!(!generated.exists(), "a key was generated outside demo mode");

    // Demo mode generates one in the data directory and says so.
    let mut child = app.spawn_piped(&["serve", "--demo"])?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let said = loop {
        match lines.next() {
            Some(line) => {
                let line = line?;
                if line.contains("Demo mode: generated a token key") {
                    break line;
                }
            }
            None => {
                let status = child.wait()?;
                bail!("serve --demo ended ({status}) without announcing its generated key");
            }
        }
    };
    ensure!(said.contains(&generated.display().to_string()), "{said}");
    terminate(&mut child, Duration::from_secs(30))?;
    ensure!(generated.exists(), "the demo keyring was not written");
    Ok(())
}
