//! Where the files that rows point at live (generated images and their renditions), behind
//! one interface so that another store (object storage, for several instances) can take the
//! local directory's place without its callers changing. A blob is named by a key: a relative
//! path of plain components (`assets/ab/<sha256>.png`, `renditions/<run>/<preset>.jpg`).
//! Images are content-addressed ([`BlobStore::put_content`]): their key is their SHA-256, so
//! an identical image is stored once and a key never names two contents.
//!
//! Every write is durable before it answers: a row is only written after its blob, so the
//! blob must survive any crash that the row survives.

use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;

/// Why a blob could not be read, written or deleted.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The key is not a relative path of plain components (it came from a corrupt or
    /// tampered row): nothing outside the store is touched.
    #[error("blob key {0:?} is not a relative path inside the blob store")]
    BadKey(String),
    /// No blob under this key.
    #[error("blob {0} is missing")]
    Missing(String),
    #[error("blob {key}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

/// A content-addressed blob's key and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The store of image files.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Writes `bytes` under `key`, durably and atomically (a reader sees the old blob or the
    /// whole new one, never part of one).
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BlobError>;
    /// The blob's bytes.
    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError>;
    /// The blob's size in bytes.
    async fn size(&self, key: &str) -> Result<u64, BlobError>;
    /// Deletes the blob; false when there was none.
    async fn delete(&self, key: &str) -> Result<bool, BlobError>;
    /// A local file holding the blob, for callers that hand a file to a library (a
    /// connector's upload): the file itself for a local store.
    async fn local_file(&self, key: &str) -> Result<PathBuf, BlobError>;

    /// Whether a blob is stored under `key` (an unreadable one counts as absent).
    async fn exists(&self, key: &str) -> bool {
        self.size(key).await.is_ok()
    }

    /// Stores `bytes` content-addressed under `prefix/<sha[..2]>/<sha>.<ext>`.
    async fn put_content(
        &self,
        prefix: &str,
        ext: &str,
        bytes: &[u8],
    ) -> Result<Stored, BlobError> {
        let sha256 = sha256_hex(bytes);
        let key = format!("{prefix}/{}/{sha256}.{ext}", &sha256[..2]);
        self.put(&key, bytes).await?;
        Ok(Stored { key, sha256 })
    }
}

/// Blobs as files under one directory (the data directory), written through
/// [`crate::files::write_durably`].
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory the blobs live under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        let rel = Path::new(key);
        let plain = !key.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err(BlobError::BadKey(key.to_string()));
        }
        Ok(self.root.join(rel))
    }
}

fn io(key: &str, source: std::io::Error) -> BlobError {
    if source.kind() == std::io::ErrorKind::NotFound {
        return BlobError::Missing(key.to_string());
    }
    BlobError::Io {
        key: key.to_string(),
        source,
    }
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BlobError> {
        let path = self.path(key)?;
        crate::files::write_durably_async(path, bytes.to_vec())
            .await
            .map_err(|e| BlobError::Io {
                key: key.to_string(),
                source: e,
            })
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        tokio::fs::read(self.path(key)?)
            .await
            .map_err(|e| io(key, e))
    }

    async fn size(&self, key: &str) -> Result<u64, BlobError> {
        let meta = tokio::fs::metadata(self.path(key)?)
            .await
            .map_err(|e| io(key, e))?;
        if !meta.is_file() {
            return Err(BlobError::Missing(key.to_string()));
        }
        Ok(meta.len())
    }

    async fn delete(&self, key: &str) -> Result<bool, BlobError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(key, e)),
        }
    }

    async fn local_file(&self, key: &str) -> Result<PathBuf, BlobError> {
        self.path(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn content_is_stored_once_under_its_hash_and_read_back() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let blobs = LocalBlobs::new(dir.path());
        let a = blobs.put_content("assets", "png", b"one image").await?;
        let again = blobs.put_content("assets", "png", b"one image").await?;
        assert_eq!(a, again);
        assert_eq!(a.sha256, sha256_hex(b"one image"));
        assert_eq!(a.key, format!("assets/{}/{}.png", &a.sha256[..2], a.sha256));
        assert_eq!(blobs.get(&a.key).await?, b"one image");
        assert_eq!(blobs.size(&a.key).await?, 9);
        assert!(blobs.exists(&a.key).await);
        assert!(blobs.delete(&a.key).await?);
        assert!(!blobs.delete(&a.key).await?);
        assert!(matches!(
            blobs.get(&a.key).await,
            Err(BlobError::Missing(_))
        ));
        assert!(!blobs.exists(&a.key).await);
        Ok(())
    }

    #[tokio::test]
    async fn keys_outside_the_store_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let blobs = LocalBlobs::new(dir.path().join("data"));
        std::fs::write(dir.path().join("secret"), b"x")?;
        for key in ["../secret", "/etc/passwd", "", "assets/../../secret", "./a"] {
            assert!(
                matches!(blobs.get(key).await, Err(BlobError::BadKey(_))),
                "{key:?} was not refused"
            );
            assert!(matches!(
                blobs.put(key, b"y").await,
                Err(BlobError::BadKey(_))
            ));
            assert!(matches!(blobs.delete(key).await, Err(BlobError::BadKey(_))));
        }
        assert_eq!(std::fs::read(dir.path().join("secret"))?, b"x");
        Ok(())
    }
}
