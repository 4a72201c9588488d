//! Token keyring commands: create a keyring, and rotate to a new active key, re-sealing every
//! stored token in one pass (older keys stay in the file, decrypt-only).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pressroom_crypto::Keyring;
use pressroom_scheduler::{TokenCipher, TokenSlot};
use pressroom_store::entity::account;
use pressroom_store::repo::accounts;
use pressroom_store::sea_orm::EntityTrait;

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

/// Adds a new active key and re-seals every stored token with it in one pass (one
/// transaction); the file is replaced only after the database commit.
pub async fn rotate(settings: &Settings) -> anyhow::Result<()> {
    let file = settings.security.keyring_file.clone();
    anyhow::ensure!(
        !file.as_os_str().is_empty(),
        "security.keyring_file: rotation needs a configured keyring file"
    );
    let old = Keyring::load_file(&file).with_context(|| format!("reading {}", file.display()))?;
    let new = old.rotated();
    let opened = app::open_store(settings, false).await?;
    // Re-seal first in one transaction, then write the file: a crash in between leaves
    // the old file, which cannot open the new seals — so write a sibling first.
    let staged = file.with_extension("new");
    new.write_file(&staged)?;
    let cipher = KeyringCipher(new);
    let store = &opened.store;
    let now = store.now_ms().await?;
    let tx = store.begin().await?;
    let mut count = 0;
    for acc in account::Entity::find().all(&tx).await? {
        let Some(access) = acc.access_token_sealed.as_deref() else {
            continue;
        };
        let access_slot = TokenSlot::access(&acc.workspace_id, &acc.id);
        let (key_id, access) = cipher.seal(&cipher.open(access, access_slot)?, access_slot)?;
        let refresh = match acc.refresh_token_sealed.as_deref() {
            Some(r) => {
                let slot = TokenSlot::refresh(&acc.workspace_id, &acc.id);
                Some(cipher.seal(&cipher.open(r, slot)?, slot)?.1)
            }
            None => None,
        };
        accounts::update_tokens(
            store,
            &tx,
            now,
            &acc.id,
            &access,
            refresh.as_deref(),
            &key_id,
            acc.expires_at,
        )
        .await?;
        count += 1;
    }
    tx.commit().await?;
    std::fs::rename(&staged, &file).with_context(|| format!("replacing {}", file.display()))?;
    println!(
        "new active key {}; re-sealed the tokens of {count} accounts",
        cipher.0.active_id()
    );
    Ok(())
}
