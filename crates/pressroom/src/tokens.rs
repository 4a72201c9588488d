//! The token keyring: loading it (or generating one in demo mode), and the cipher the
//! pipeline uses to open and seal account tokens.

use std::path::{Path, PathBuf};

use anyhow::Context;
use pressroom_crypto::{Aad, Keyring, KeyringFile};
use pressroom_runtime::{TokenCipher, TokenSlot};
use secrecy::SecretString;

use crate::config::Settings;

/// Seals tokens with the active key; opens with any key of the ring.
pub struct KeyringCipher(pub Keyring);

fn aad<'a>(slot: &TokenSlot<'a>) -> Aad<'a> {
    Aad {
        workspace_id: slot.workspace_id,
        table: "accounts",
        column: slot.column,
        row_id: slot.account_id,
    }
}

impl TokenCipher for KeyringCipher {
    fn seal(
        &self,
        plaintext: &SecretString,
        slot: TokenSlot<'_>,
    ) -> anyhow::Result<(String, String)> {
        let sealed = self.0.seal_str(plaintext, &aad(&slot))?;
        Ok((self.0.active_id().to_string(), sealed))
    }

    fn open(&self, sealed: &str, slot: TokenSlot<'_>) -> anyhow::Result<SecretString> {
        Ok(self.0.open_str(sealed, &aad(&slot))?)
    }
}

/// The daemon's cipher: the keyring file, re-read on SIGHUP ([`TokenCipher::reload`]) and
/// when a token names a key id it does not hold (`keyring rotate` ran while we were running).
pub struct DaemonCipher(pub KeyringFile);

impl DaemonCipher {
    /// The configured keyring file (in demo mode, the generated one).
    pub fn load(settings: &Settings, demo: bool) -> anyhow::Result<Self> {
        let ring = load_keyring(settings, demo)?;
        let file = &settings.security.keyring_file;
        let path = if file.as_os_str().is_empty() {
            demo_keyring_path(settings)
        } else {
            file.clone()
        };
        Ok(Self(KeyringFile::new(&path, ring)))
    }
}

impl TokenCipher for DaemonCipher {
    fn seal(
        &self,
        plaintext: &SecretString,
        slot: TokenSlot<'_>,
    ) -> anyhow::Result<(String, String)> {
        let (key_id, sealed) = self.0.seal_str(plaintext, &aad(&slot))?;
        Ok((key_id.to_string(), sealed))
    }

    fn open(&self, sealed: &str, slot: TokenSlot<'_>) -> anyhow::Result<SecretString> {
        Ok(self.0.open_str(sealed, &aad(&slot))?)
    }

    fn reload(&self) -> anyhow::Result<()> {
        let active = self
            .0
            .reload()
            .with_context(|| format!("re-reading {}", self.0.path().display()))?;
        tracing::info!(active_key = %active, "token keyring re-read");
        Ok(())
    }
}

/// Where demo mode keeps its generated keyring.
pub fn demo_keyring_path(settings: &Settings) -> PathBuf {
    settings.paths.data_dir.join("keyring")
}

/// The configured keyring; in demo mode, one generated in the data directory.
pub fn load_keyring(settings: &Settings, demo: bool) -> anyhow::Result<Keyring> {
    let file = &settings.security.keyring_file;
    if !file.as_os_str().is_empty() {
        return Keyring::load_file(file).with_context(|| {
            format!("security.keyring_file: cannot read {} (create one with `pressroom keyring init FILE`)", file.display())
        });
    }
    if demo {
        let path = demo_keyring_path(settings);
        let (ring, generated) = Keyring::load_or_generate(&path)
            .with_context(|| format!("demo keyring {}", path.display()))?;
        if generated {
            println!(
                "Demo mode: generated a token key in {} (configure security.keyring_file for production)",
                path.display()
            );
        }
        return Ok(ring);
    }
    anyhow::bail!(
        "security.keyring_file: no token key is configured; tokens are never stored unencrypted. \
         Create one with `pressroom keyring init FILE` and set security.keyring_file (or PRESSROOM__SECURITY__KEYRING_FILE)"
    )
}

/// Writes a new keyring file; refuses to overwrite one.
pub fn init_keyring(path: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        !path.exists(),
        "{} already exists; use `pressroom keyring rotate` to add a key",
        path.display()
    );
    Keyring::generate()
        .write_file(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
