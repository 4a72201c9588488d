//! Token keyring commands: create a keyring, and rotate to a new active key, re-sealing every
//! stored token (older keys stay in the file, decrypt-only), safely beside running daemons.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pressroom_crypto::Keyring;
use pressroom_scheduler::tokens::{Resealed, reseal_account};
use pressroom_store::entity::account;
use pressroom_store::repo::accounts;

use crate::app;
use crate::config::Settings;
use crate::tokens::{KeyringCipher, init_keyring};

#[derive(clap::Subcommand)]
pub enum KeyringCmd {
    /// Write a new keyring file (mode 0600) for security.keyring_file.
    Init { file: PathBuf },
    /// Add a new active key to the configured keyring and re-seal every stored token with it.
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

/// Adds a new active key, then re-seals every stored token with it, while daemons may be
/// running. The file is written first: it keeps every old key, so whatever is stored opens
/// with it at every moment, and a daemon meeting the new key id re-reads it (SIGHUP makes it
/// seal with the new key too). Each account is re-sealed by compare-and-swap, so a token a
/// daemon refreshes meanwhile is re-sealed, never overwritten with the stale one.
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
    let mut count = 0;
    // A second pass catches tokens a daemon still holding the old keyring refreshed (and so
    // sealed with the old key) during the first.
    for _pass in 0..2 {
        let stale: Vec<account::Model> = accounts::list_all(store)
            .await?
            .into_iter()
            .filter(|a| a.access_token_sealed.is_some() && a.key_id.as_deref() != Some(&active))
            .collect();
        for acc in stale {
            let name = acc.name.clone();
            if reseal_account(store, &cipher, acc)
                .await
                .with_context(|| format!("re-sealing the tokens of account {name}"))?
                == Resealed::Done
            {
                count += 1;
            }
        }
    }
    println!(
        "new active key {active}; re-sealed the tokens of {count} accounts. Send SIGHUP to \
         running daemons so they seal with the new key (they open its tokens already)."
    );
    Ok(())
}
