//! A keyring that a long-running daemon re-reads from its file. `keyring rotate` writes a new
//! active key to the file and re-seals the stored tokens with it while daemons run: a daemon
//! holding the old keyring would fail on every re-sealed token (`UnknownKey`). So the file is
//! re-read on demand ([`KeyringFile::reload`], on SIGHUP), once when a record names a key id
//! this keyring does not hold, and before sealing when the file was replaced since it was read
//! (a daemon that kept sealing with the old key would undo the re-seal behind `keyring rotate`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use secrecy::SecretString;

use crate::{Aad, CryptoError, KeyId, Keyring, SealedToken};

/// The keyring of a key file, swapped whole when the file is re-read.
#[derive(Debug)]
pub struct KeyringFile {
    path: PathBuf,
    ring: RwLock<Arc<Keyring>>,
    /// The version of the file last read (or last found unreadable).
    seen: Mutex<Option<Stamp>>,
}

/// One version of the key file, told apart without reading it: `keyring rotate` writes a new
/// file and renames it into place, which changes the inode and the modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode,
    })
}

impl KeyringFile {
    /// Reads the key file.
    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        let seen = stamp(path);
        let ring = Keyring::load_file(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            ring: RwLock::new(Arc::new(ring)),
            seen: Mutex::new(seen),
        })
    }

    /// A keyring already read from `path` (demo mode generates the file first).
    pub fn new(path: &Path, ring: Keyring) -> Self {
        Self {
            path: path.to_path_buf(),
            ring: RwLock::new(Arc::new(ring)),
            seen: Mutex::new(stamp(path)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keyring as last read.
    pub fn current(&self) -> Arc<Keyring> {
        self.ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the file; a file that no longer parses leaves the keyring in use unchanged.
    /// Returns the active key id now in use.
    pub fn reload(&self) -> Result<KeyId, CryptoError> {
        let seen = stamp(&self.path);
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = seen;
        let ring = Keyring::load_file(&self.path)?;
        let active = ring.active_id().clone();
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
        Ok(active)
    }

    /// Re-reads the file when it was replaced since it was last read (one `stat`). A new
    /// version that does not parse is not retried until the file changes again; the keyring
    /// in use stays (SIGHUP's [`KeyringFile::reload`] reports the error).
    fn reload_if_replaced(&self) {
        let now = stamp(&self.path);
        let changed = {
            let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            now.is_some() && now != *seen
        };
        if changed {
            let _ = self.reload();
        }
    }

    /// Seals with the active key of the file as it is now; returns the key id used with the
    /// sealed text.
    pub fn seal_str(
        &self,
        plaintext: &SecretString,
        aad: &Aad<'_>,
    ) -> Result<(KeyId, String), CryptoError> {
        self.reload_if_replaced();
        let ring = self.current();
        Ok((ring.active_id().clone(), ring.seal_str(plaintext, aad)?))
    }

    /// Opens a record; when it names a key id this keyring lacks, re-reads the file once and
    /// tries again (the key may have been added by `keyring rotate` since we read it).
    pub fn open_str(&self, sealed: &str, aad: &Aad<'_>) -> Result<SecretString, CryptoError> {
        let token = SealedToken::decode(sealed)?;
        match self.current().open(&token, aad) {
            Err(CryptoError::UnknownKey(_)) => {
                self.reload()?;
                self.current().open(&token, aad)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aad() -> Aad<'static> {
        Aad {
            workspace_id: "ws",
            table: "accounts",
            column: "access_token_sealed",
            row_id: "a1",
        }
    }

    /// The daemon read the file before `keyring rotate` ran; a token the rotation re-sealed
    /// with the new key opens after one re-read, and the next seal uses the new key.
    #[test]
    fn learns_a_key_added_to_the_file_after_loading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyring");
        let old = Keyring::generate();
        old.write_file(&path).expect("write");
        let daemon = KeyringFile::load(&path).expect("load");
        let stale = Keyring::load_file(&path).expect("load");

        let rotated = old.rotated();
        rotated.write_file(&path).expect("rewrite");
        let sealed = rotated
            .seal_str(&SecretString::from("tok"), &aad())
            .expect("seal");

        // Without a re-read, the new key id is unknown (what the daemon used to hit).
        assert!(matches!(
            stale.open_str(&sealed, &aad()),
            Err(CryptoError::UnknownKey(_))
        ));
        let opened = daemon
            .open_str(&sealed, &aad())
            .expect("opens after re-read");
        assert_eq!(secrecy::ExposeSecret::expose_secret(&opened), "tok");
        let (key, _) = daemon
            .seal_str(&SecretString::from("x"), &aad())
            .expect("seal");
        assert_eq!(&key, rotated.active_id());
    }

    /// SIGHUP: `reload` switches the active key; a file that no longer parses keeps the old
    /// keyring.
    #[test]
    fn reload_switches_the_active_key_and_survives_a_bad_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyring");
        let old = Keyring::generate();
        old.write_file(&path).expect("write");
        let daemon = KeyringFile::load(&path).expect("load");
        let rotated = old.rotated();
        rotated.write_file(&path).expect("rewrite");
        assert_eq!(&daemon.reload().expect("reload"), rotated.active_id());
        std::fs::write(&path, "garbage").expect("write");
        assert!(daemon.reload().is_err());
        assert_eq!(daemon.current().active_id(), rotated.active_id());
    }

    /// Nobody signalled the daemon: after `keyring rotate` replaced the file, the next seal
    /// already uses the new active key (a seal with the old one would land after the re-seal
    /// and stay under the old key).
    #[test]
    fn seals_with_the_new_key_once_the_file_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyring");
        let old = Keyring::generate();
        old.write_file(&path).expect("write");
        let daemon = KeyringFile::load(&path).expect("load");
        let (key, _) = daemon
            .seal_str(&SecretString::from("x"), &aad())
            .expect("seal");
        assert_eq!(&key, old.active_id());

        let rotated = old.rotated();
        rotated.write_file(&path).expect("rewrite");
        let (key, sealed) = daemon
            .seal_str(&SecretString::from("x"), &aad())
            .expect("seal");
        assert_eq!(&key, rotated.active_id());
        assert!(rotated.open_str(&sealed, &aad()).is_ok());

        // A replacement that does not parse keeps the keyring in use.
        let tmp = dir.path().join("garbage");
        std::fs::write(&tmp, "garbage").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        let (key, _) = daemon
            .seal_str(&SecretString::from("x"), &aad())
            .expect("seal");
        assert_eq!(&key, rotated.active_id());
    }

    /// A truly unknown key id still fails after the one re-read.
    #[test]
    fn an_unknown_key_fails_after_one_reread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyring");
        Keyring::generate().write_file(&path).expect("write");
        let daemon = KeyringFile::load(&path).expect("load");
        let sealed = Keyring::generate()
            .seal_str(&SecretString::from("tok"), &aad())
            .expect("seal");
        assert!(matches!(
            daemon.open_str(&sealed, &aad()),
            Err(CryptoError::UnknownKey(_))
        ));
    }
}
