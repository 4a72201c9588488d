//! Token keyring commands: create a keyring, and rotate to a new active key, re-sealing every
//! stored token and webhook secret (older keys stay in the file, decrypt-only), safely beside
//! running daemons.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pressroom_crypto::{Keyring, SealedToken};
use pressroom_runtime::RowSealer;
use pressroom_runtime::tokens::{Resealed, reseal_account};
use pressroom_store::entity::account;
use pressroom_store::repo::{accounts as account_rows, hooks, webhook_endpoints};

use crate::app;
use crate::config::Settings;
use crate::tokens::{KeyringCipher, init_keyring};

#[derive(clap::Subcommand)]
pub enum KeyringCmd {
    /// Write a new keyring file (mode 0600) for security.keyring_file.
    Init { file: PathBuf },
    /// Add a new active key to the configured keyring and re-seal every stored token and
    /// webhook secret with it (in passes until none is left under an older key).
    Rotate,
}

pub async fn run(settings: Settings, cmd: KeyringCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyringCmd::Init { file } => {
            init_keyring(&file)?;
            println!(
                "wrote a new token keyring to {}; set security.keyring_file to it",
                file.display()
            );
        }
        KeyringCmd::Rotate => rotate(&settings).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Adds a new active key, then re-seals every stored token and webhook secret with it, while
/// daemons may be running. The file is written first: it keeps every old key, so whatever is
/// stored opens with it at every moment; a running daemon seals with the new key from its next
/// seal on (it notices the file was replaced) and re-reads the file when it meets the new key
/// id; SIGHUP also re-keys its media links. Each row is re-sealed by compare-and-swap, so a
/// token a daemon refreshes meanwhile is re-sealed, never overwritten with the stale one.
pub async fn rotate(settings: &Settings) -> anyhow::Result<()> {
    let file = settings.security.keyring_file.clone();
    anyhow::ensure!(
        !file.as_os_str().is_empty(),
        "security.keyring_file: rotation needs a configured keyring file"
    );
    let old = Keyring::load_file(&file).with_context(|| format!("reading {}", file.display()))?;
    let new = old.rotated();
    let opened = app::open_store(settings, false).await?;
    new.write_file(&file)
        .with_context(|| format!("writing {}", file.display()))?;
    let cipher = KeyringCipher(new);
    let active = cipher.0.active_id().to_string();
    let store = &opened.store;
    let sealer = RowSealer(&cipher);
    // A sealed secret names its key; one in the clear is re-sealed by `reseal` anyway.
    let stale = |stored: &str| SealedToken::decode(stored).is_ok_and(|t| t.key_id != active);
    let mut accounts = BTreeSet::new();
    let (mut hook_rows, mut endpoint_rows) = (0, 0);
    // Passes until one finds nothing left under an old key: a daemon that sealed with the old
    // key just before the file changed may write after the pass that read its row.
    let mut clean = false;
    for _pass in 0..MAX_PASSES {
        let mut found = 0;
        let stale_accounts: Vec<account::Model> = account_rows::list_all(store)
            .await?
            .into_iter()
            .filter(|a| a.access_token_sealed.is_some() && a.key_id.as_deref() != Some(&active))
            .collect();
        for acc in stale_accounts {
            found += 1;
            let (id, name) = (acc.id.clone(), acc.name.clone());
            if reseal_account(store, &cipher, acc)
                .await
                .with_context(|| format!("re-sealing the tokens of account {name}"))?
                == Resealed::Done
            {
                accounts.insert(id);
            }
        }
        let h = hooks::reseal(store, &sealer, &stale)
            .await
            .context("re-sealing inbound hook secrets")?;
        let e = webhook_endpoints::reseal(store, &sealer, &stale)
            .await
            .context("re-sealing webhook endpoint secrets")?;
        hook_rows += h;
        endpoint_rows += e;
        if found + h + e == 0 {
            clean = true;
            break;
        }
    }
    anyhow::ensure!(
        clean,
        "rows kept changing under the re-seal after {MAX_PASSES} passes; run `pressroom keyring rotate` again"
    );
    println!(
        "new active key {active}; re-sealed the tokens of {} accounts and the secrets of {hook_rows} \
         inbound hooks and {endpoint_rows} webhook endpoints. Send SIGHUP to running daemons: they \
         open and seal with the new key already, SIGHUP also re-keys their signed media links.",
        accounts.len()
    );
    Ok(())
}

/// How many re-seal passes `rotate` makes at most before giving up.
const MAX_PASSES: usize = 5;
