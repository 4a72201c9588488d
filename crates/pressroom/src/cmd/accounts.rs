//! `pressroom accounts …`.

use std::process::ExitCode;

use anyhow::Context;
use pressroom_scheduler::{TokenCipher, TokenSlot};
use pressroom_store::repo::{accounts, audit, workspaces};
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
                let row = accounts::upsert(
                    &tx,
                    now,
                    accounts::AccountInput {
                        workspace_id: &ws.id,
                        platform: &e.platform,
                        name: &e.name,
                        external_id: &e.external_id,
                        access_token_sealed: None,
                        refresh_token_sealed: None,
                        key_id: None,
                        expires_at: None,
                        extra: e.extra.clone().unwrap_or_else(|| serde_json::json!({})),
                    },
                )
                .await?;
                let (key_id, access) =
                    cipher.seal(&e.access_token, TokenSlot::access(&ws.id, &row.id))?;
                let refresh = match &e.refresh_token {
                    Some(r) => Some(cipher.seal(r, TokenSlot::refresh(&ws.id, &row.id))?.1),
                    None => None,
                };
                let expires = e.expires_at.map(|t| t.timestamp_millis());
                accounts::update_tokens(
                    store,
                    &tx,
                    now,
                    &row.id,
                    &access,
                    refresh.as_deref(),
                    &key_id,
                    expires,
                )
                .await?;
                audit::record(
                    &tx,
                    now,
                    &ws.id,
                    "cli",
                    "account.imported",
                    &row.id,
                    serde_json::json!({ "platform": e.platform, "name": e.name }),
                )
                .await?;
            }
            tx.commit().await?;
            println!(
                "imported {} accounts into workspace {workspace:?}",
                entries.len()
            );
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
                accounts::state::DISCONNECTED,
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
                        a.platform,
                        a.state,
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
