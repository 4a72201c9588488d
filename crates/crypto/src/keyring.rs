//! The keyring: one active key that seals, older keys that only open. Rotation adds a key and
//! makes it active; records sealed with an older key are re-sealed lazily on read or refresh
//! (see `needs_rotation`) or all at once by `pressroom keyring rotate`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::{CryptoError, random_bytes};

/// A key's public name, stored in every sealed record. Short, `[A-Za-z0-9_-]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn new(id: impl Into<String>) -> Result<Self, CryptoError> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 32
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ok {
            Ok(Self(id))
        } else {
            Err(CryptoError::BadKey(format!(
                "key id {id:?} must be 1-32 chars of [A-Za-z0-9_-]"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 32-byte key, zeroized on drop, never printed.
pub(crate) type KeyBytes = SecretBox<[u8; 32]>;

/// Active key + decrypt-only keys.
pub struct Keyring {
    active: KeyId,
    keys: BTreeMap<KeyId, KeyBytes>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn parse_key(hex_key: &str) -> Result<KeyBytes, CryptoError> {
    let bytes = hex::decode(hex_key.trim())
        .map_err(|_| CryptoError::BadKey("key must be 64 hex characters".into()))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| CryptoError::BadKey("key must be 32 bytes (64 hex characters)".into()))?;
    Ok(SecretBox::new(Box::new(arr)))
}

impl Keyring {
    /// A keyring with one key, active.
    pub fn single(id: KeyId, key_hex: &SecretString) -> Result<Self, CryptoError> {
        let key = parse_key(key_hex.expose_secret())?;
        Ok(Self {
            active: id.clone(),
            keys: BTreeMap::from([(id, key)]),
        })
    }

    /// Parses the keyring text format: entries `id:64-hex` separated by commas, semicolons or
    /// newlines; the **first** entry is the active key, the rest decrypt only. `#` starts a
    /// comment line. This is what the key file and the `PRESSROOM__SECURITY__KEYS`-style env var hold.
    pub fn parse(text: &SecretString) -> Result<Self, CryptoError> {
        let mut active = None;
        let mut keys = BTreeMap::new();
        let entries = text
            .expose_secret()
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split([',', ';']))
            .map(str::trim)
            .filter(|e| !e.is_empty());
        for entry in entries {
            let (id, key) = entry
                .split_once(':')
                .ok_or_else(|| CryptoError::BadKey("entry must be id:hexkey".into()))?;
            let id = KeyId::new(id.trim())?;
            if keys.contains_key(&id) {
                return Err(CryptoError::BadKey(format!("key id {id} appears twice")));
            }
            keys.insert(id.clone(), parse_key(key)?);
            active.get_or_insert(id);
        }
        let active = active.ok_or(CryptoError::NoKey)?;
        Ok(Self { active, keys })
    }

    /// Loads from the first source that is set: an inline value (config / env, already read
    /// into a secret), else a key file. Neither set is [`CryptoError::NoKey`]: the daemon must
    /// refuse to start (demo mode uses [`Keyring::load_or_generate`] instead).
    pub fn load(inline: Option<&SecretString>, file: Option<&Path>) -> Result<Self, CryptoError> {
        match (
            inline.filter(|s| !s.expose_secret().trim().is_empty()),
            file,
        ) {
            (Some(text), _) => Self::parse(text),
            (None, Some(path)) => Self::load_file(path),
            (None, None) => Err(CryptoError::NoKey),
        }
    }

    /// Reads a key file (same format as [`Keyring::parse`]).
    pub fn load_file(path: &Path) -> Result<Self, CryptoError> {
        let text = SecretString::from(std::fs::read_to_string(path)?);
        Self::parse(&text)
    }

    /// A new random single-key keyring (demo mode; `keyring rotate` builds on it).
    pub fn generate() -> Self {
        let (id, key) = fresh_key();
        Self {
            active: id.clone(),
            keys: BTreeMap::from([(id, key)]),
        }
    }

    /// Loads the key file at `path`, or, if it does not exist, generates a keyring and writes it
    /// there with owner-only permissions. Only for demo mode: returns `true` when it generated,
    /// so the caller can say so loudly.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), CryptoError> {
        if path.exists() {
            return Ok((Self::load_file(path)?, false));
        }
        let ring = Self::generate();
        ring.write_file(path)?;
        Ok((ring, true))
    }

    /// Writes the keyring (all keys, active first) to `path`, mode 0600 on Unix, durably: a
    /// temporary file in the same directory is synced, renamed into place and the directory
    /// synced, so a crash leaves the old file or the new one, never half of one, and a failed
    /// write leaves no temporary file (it holds every key).
    pub fn write_file(&self, path: &Path) -> Result<(), CryptoError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)?;
        let name = path.file_name().ok_or_else(|| {
            CryptoError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not a file path", path.display()),
            ))
        })?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            name.to_string_lossy(),
            hex::encode(random_bytes::<8>())
        ));
        let written = write_new_private(&tmp, self.export().expose_secret().as_bytes())
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        sync_dir(&dir)?;
        Ok(())
    }

    /// The keyring in text format (active first). Secret: write it only to the key file.
    pub fn export(&self) -> SecretString {
        let mut out =
            String::from("# pressroom token keys: first entry is active, the rest decrypt only\n");
        let ids =
            std::iter::once(&self.active).chain(self.keys.keys().filter(|k| **k != self.active));
        for id in ids {
            if let Some(k) = self.keys.get(id) {
                out.push_str(&format!("{id}:{}\n", hex::encode(k.expose_secret())));
            }
        }
        SecretString::from(out)
    }

    /// A new keyring whose active key is freshly generated; every current key stays for
    /// decryption. Write it with [`Keyring::write_file`], then re-seal records.
    pub fn rotated(&self) -> Self {
        let mut keys: BTreeMap<KeyId, KeyBytes> = self
            .keys
            .iter()
            .map(|(id, k)| (id.clone(), SecretBox::new(Box::new(*k.expose_secret()))))
            .collect();
        let (id, key) = fresh_key();
        keys.insert(id.clone(), key);
        Self { active: id, keys }
    }

    /// Drops a decrypt-only key once no record uses it. The active key cannot be removed.
    pub fn retire(&mut self, id: &KeyId) -> Result<(), CryptoError> {
        if *id == self.active {
            return Err(CryptoError::BadKey("cannot retire the active key".into()));
        }
        self.keys
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| CryptoError::UnknownKey(id.to_string()))
    }

    pub fn active_id(&self) -> &KeyId {
        &self.active
    }

    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.keys()
    }

    /// True when a record sealed under `key_id` should be re-sealed with the active key.
    pub fn needs_rotation(&self, key_id: &str) -> bool {
        key_id != self.active.as_str()
    }

    /// A 32-byte key for another purpose (e.g. signing media links), derived from the active
    /// key with HMAC-SHA256 so every instance sharing the keyring derives the same one and no
    /// second secret has to be distributed. Rotating the keyring changes it.
    pub fn derive_key(&self, purpose: &str) -> Result<[u8; 32], CryptoError> {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.active_key()?.expose_secret())
            .map_err(|_| CryptoError::NoKey)?;
        mac.update(b"pressroom-derive/v1\n");
        mac.update(purpose.as_bytes());
        Ok(mac.finalize().into_bytes().into())
    }

    pub(crate) fn key(&self, id: &str) -> Option<&KeyBytes> {
        self.keys.get(&KeyId(id.to_owned()))
    }

    pub(crate) fn active_key(&self) -> Result<&KeyBytes, CryptoError> {
        self.keys.get(&self.active).ok_or(CryptoError::NoKey)
    }
}

/// Creates `path` (owner-only on Unix) holding `bytes`, synced to disk.
fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Makes a rename in `dir` durable (directories cannot be opened for syncing on Windows).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// A random key with a random id (`k` + 8 hex digits).
fn fresh_key() -> (KeyId, KeyBytes) {
    let id = KeyId(format!("k{}", hex::encode(random_bytes::<4>())));
    (id, SecretBox::new(Box::new(random_bytes::<32>())))
}
