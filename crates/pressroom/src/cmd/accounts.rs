//! `pressroom accounts …`.

use std::process::ExitCode;

use anyhow::Context;
use pressroom_connector::Credentials;
use pressroom_runtime::{NewAccount, save_account};
use pressroom_store::repo::{accounts, workspaces};
use secrecy::SecretString;
use serde::Deserialize;

use crate::tokens::{KeyringCipher, load_keyring};

use crate::app;
use crate::config::Settings;

#[derive(clap::Subcommand)]
pub enum AccountsCmd {
    /// Add a sandbox account (publishes into the local outbox; holds no tokens).
    AddSandbox {
        name: String,
        #[arg(long)]
        workspace: String,
    },
    /// Import accounts with already-issued tokens (migrating from another tool). FILE is a JSON
    /// array of {platform, name, external_id, access_token, refresh_token?, expires_at?
    /// (RFC 3339), extra?}. Tokens are sealed with the keyring before they are stored.
    Import {
        file: std::path::PathBuf,
        #[arg(long)]
        workspace: String,
    },
    /// Connect accounts through the platform's OAuth consent screen (facebook, instagram):
    /// prints the authorize URL, then takes the browser's redirect on a loopback port, or with
    /// --paste reads the redirect URL from stdin (headless servers). Facebook stores one
    /// account per Page; Instagram one per linked professional account.
    Connect {
        platform: String,
        #[arg(long)]
        workspace: String,
        /// Loopback port for the redirect; register http://127.0.0.1:PORT/callback with the
        /// app (0: any free port).
        #[arg(long, default_value_t = 8976)]
        port: u16,
        /// Headless: read the redirect URL from stdin instead of listening.
        #[arg(long)]
        paste: bool,
        /// The redirect URI registered with the app, for --paste.
        #[arg(long, default_value = "http://localhost:8976/callback")]
        redirect_uri: String,
        /// Account name (one account) or name prefix (several); default PLATFORM-ID.
        #[arg(long)]
        name: Option<String>,
        /// How long to wait for the browser (seconds).
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Mark an account disconnected; its posts wait until it is reconnected.
    Disconnect {
        name: String,
        #[arg(long)]
        workspace: String,
    },
    /// List a workspace's accounts (tokens are never shown).
    List {
        #[arg(long)]
        workspace: String,
    },
}

/// One entry of an import file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportedAccount {
    platform: String,
    name: String,
    external_id: String,
    access_token: SecretString,
    refresh_token: Option<SecretString>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    extra: Option<serde_json::Value>,
}

pub async fn run(settings: Settings, cmd: AccountsCmd) -> anyhow::Result<ExitCode> {
    let opened = app::open_store(&settings, false).await?;
    match cmd {
        AccountsCmd::AddSandbox { name, workspace } => {
            app::ensure_sandbox_account(&opened.store, &workspace, &name).await?;
            println!("sandbox account {name:?} is ready in workspace {workspace:?}");
        }
        AccountsCmd::Import { file, workspace } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let entries: Vec<ImportedAccount> = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a JSON array of accounts", file.display()))?;
            let known = app::connectors(&settings)?;
            for (i, e) in entries.iter().enumerate() {
                anyhow::ensure!(
                    known.get(&e.platform).is_some(),
                    "{}: [{i}].platform: no {:?} connector in this build",
                    file.display(),
                    e.platform
                );
                anyhow::ensure!(
                    !e.name.trim().is_empty(),
                    "{}: [{i}].name: must not be empty",
                    file.display()
                );
            }
            let cipher = KeyringCipher(load_keyring(&settings, false)?);
            let store = &opened.store;
            let ws = workspaces::ensure(store, &workspace, &workspace).await?;
            let now = store.now_ms().await?;
            // All or nothing: one transaction for the whole file.
            let tx = store.begin().await?;
            for e in &entries {
                let creds = Credentials {
                    access_token: e.access_token.clone(),
                    refresh_token: e.refresh_token.clone(),
                    expires_at: e.expires_at,
                    extra: e.extra.clone().unwrap_or_else(|| serde_json::json!({})),
                };
                let new = NewAccount {
                    platform: e.platform.parse().with_context(|| {
                        format!("accounts[{:?}].platform: not a platform", e.name)
                    })?,
                    name: &e.name,
                    external_id: &e.external_id,
                    credentials: &creds,
                };
                save_account(
                    store,
                    &tx,
                    &cipher,
                    &ws.id,
                    now,
                    &new,
                    "cli",
                    "account.imported",
                )
                .await?;
            }
            tx.commit().await?;
            println!(
                "imported {} accounts into workspace {workspace:?}",
                entries.len()
            );
        }
        AccountsCmd::Connect {
            platform,
            workspace,
            port,
            paste,
            redirect_uri,
            name,
            timeout_secs,
        } => {
            let args = super::connect::ConnectArgs {
                platform,
                workspace,
                port,
                paste,
                redirect_uri,
                name,
                timeout: std::time::Duration::from_secs(timeout_secs),
            };
            super::connect::run(&settings, args).await?;
        }
        AccountsCmd::Disconnect { name, workspace } => {
            let ws = super::workspace_id(&opened.store, &workspace).await?;
            let acc = accounts::by_name(opened.store.conn(), &ws, &name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account {name:?} in workspace {workspace:?}"))?;
            let now = opened.store.now_ms().await?;
            accounts::set_state(
                &opened.store,
                opened.store.conn(),
                now,
                &ws,
                &acc.id,
                pressroom_core::AccountState::Disconnected,
                Some("disconnected by an operator"),
            )
            .await?;
            println!("account {name:?} is disconnected");
        }
        AccountsCmd::List { workspace } => {
            let ws = super::workspace_id(&opened.store, &workspace).await?;
            let rows: Vec<Vec<String>> = accounts::list(&opened.store, &ws)
                .await?
                .into_iter()
                .map(|a| {
                    vec![
                        a.name,
                        a.platform.to_string(),
                        a.state.to_string(),
                        a.external_id,
                        a.expires_at.map(super::fmt_ms).unwrap_or_default(),
                        a.state_reason.unwrap_or_default(),
                    ]
                })
                .collect();
            super::print_table(
                &[
                    "NAME",
                    "PLATFORM",
                    "STATE",
                    "EXTERNAL ID",
                    "TOKEN EXPIRES (UTC)",
                    "REASON",
                ],
                &rows,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
