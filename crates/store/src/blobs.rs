//! Where the files that rows point at live (generated images and their renditions), behind
//! one interface so that another store (object storage, for several instances) can take the
//! local directory's place without its callers changing. A blob is named by a key: a relative
//! path of plain components (`assets/ab/<sha256>.png`, `renditions/<run>/<preset>.jpg`).
//! Images are content-addressed ([`BlobStore::put_content`]): their key is their SHA-256, so
//! an identical image is stored once and a key never names two contents.
//!
//! Every write is durable before it answers: a row is only written after its blob, so the
//! blob must survive any crash that the row survives.
//!
//! Two stores: [`LocalBlobs`] (files under the data directory, the default) and
//! [`ObjectBlobs`] (an S3-compatible bucket, for several instances on several machines),
//! chosen by `[storage] url` ([`BlobLocation`], [`open_blobs`]). `pressroom storage migrate`
//! copies one into the other ([`migrate`]).

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

pub mod migrate;
mod object;

pub use object::{ObjectBlobs, S3Options};

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
    /// The bytes read back are not the ones written: a size or a SHA-256 that does not match.
    #[error("blob {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    /// The object store failed (network, credentials, the server's answer).
    #[error("blob {key}: object storage: {source}")]
    Remote {
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A blob opened for reading: its size (a response's Content-Length) and its bytes as they
/// arrive, so a large file is never held in memory whole.
pub struct OpenBlob {
    pub size: u64,
    pub stream: BoxStream<'static, Result<Bytes, BlobError>>,
}

impl std::fmt::Debug for OpenBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBlob")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Checks that `key` is a relative path of plain `/`-separated components (no empty, `.` or
/// `..` component, no backslash or NUL): the one rule both stores apply, so a key a row holds
/// names the same blob in either and never anything outside it.
pub fn check_key(key: &str) -> Result<&str, BlobError> {
    let plain = !key.is_empty()
        && !key.contains(['\\', '\0'])
        && key
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && Path::new(key)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(key)
    } else {
        Err(BlobError::BadKey(key.to_string()))
    }
}

/// The SHA-256 a content-addressed key names (`<prefix>/<sha[..2]>/<sha>.<ext>`, as
/// [`BlobStore::put_content`] writes them), if `key` is one.
pub fn content_address(key: &str) -> Option<&str> {
    let mut parts = key.rsplit('/');
    let file = parts.next()?;
    let shard = parts.next()?;
    let sha = file.split_once('.').map_or(file, |(stem, _)| stem);
    let hex = sha.len() == 64
        && sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex && sha.starts_with(shard) && shard.len() == 2).then_some(sha)
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
    /// connector's upload): the file itself for a local store, a cached download for object
    /// storage.
    async fn local_file(&self, key: &str) -> Result<PathBuf, BlobError>;

    /// The blob's size and its bytes as a stream (media links serve files this way, without
    /// buffering them). The default reads the whole blob with [`BlobStore::get`].
    async fn open(&self, key: &str) -> Result<OpenBlob, BlobError> {
        let bytes = Bytes::from(self.get(key).await?);
        Ok(OpenBlob {
            size: bytes.len() as u64,
            stream: futures::stream::once(async move { Ok(bytes) }).boxed(),
        })
    }

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
        Ok(self.root.join(check_key(key)?))
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

    async fn open(&self, key: &str) -> Result<OpenBlob, BlobError> {
        let file = tokio::fs::File::open(self.path(key)?)
            .await
            .map_err(|e| io(key, e))?;
        let meta = file.metadata().await.map_err(|e| io(key, e))?;
        if !meta.is_file() {
            return Err(BlobError::Missing(key.to_string()));
        }
        let owned = key.to_string();
        // 64 KiB reads: a few syscalls per image instead of one per 4 KiB.
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024)
            .map(move |chunk| chunk.map_err(|e| io(&owned, e)));
        Ok(OpenBlob {
            size: meta.len(),
            stream: stream.boxed(),
        })
    }
}

/// Where `[storage] url` puts the blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// Files under a directory ([`LocalBlobs`]).
    Local(PathBuf),
    /// Objects in an S3-compatible bucket, under `prefix` (empty: the bucket's root).
    S3 { bucket: String, prefix: String },
}

impl BlobLocation {
    /// Reads `url`: empty (the data directory), `file://PATH` or a plain directory path
    /// (`file://data` is the relative `data`, `file:///srv/data` the absolute `/srv/data`),
    /// or `s3://BUCKET[/PREFIX]`. The error says what is wrong, for the caller to prefix with
    /// the setting's name.
    pub fn parse(url: &str, data_dir: &Path) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(Self::Local(data_dir.to_path_buf()));
        }
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(format!("{url:?} names no directory (file://PATH)"));
            }
            return Ok(Self::Local(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let prefix = prefix.trim_end_matches('/');
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                })
                && !bucket.starts_with(['.', '-'])
                && !bucket.ends_with(['.', '-']);
            if !bucket_ok {
                return Err(format!(
                    "{url:?}: the bucket name {bucket:?} is not a valid S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
                ));
            }
            if !prefix.is_empty() && check_key(prefix).is_err() {
                return Err(format!(
                    "{url:?}: the prefix {prefix:?} must be plain path components (no empty, . or .. parts)"
                ));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        if url.contains("://") {
            return Err(format!(
                "{url:?} is not s3://BUCKET[/PREFIX], file://PATH or a directory"
            ));
        }
        Ok(Self::Local(PathBuf::from(url)))
    }

    /// The location as a URL, for messages.
    pub fn to_url(&self) -> String {
        match self {
            Self::Local(dir) => format!("file://{}", dir.display()),
            Self::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Self::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// Why a blob store could not be built from the configuration: the setting and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct BlobConfigError {
    /// The setting's name within `[storage]` (`url`, `endpoint`, ...).
    pub field: &'static str,
    pub reason: String,
}

/// The store at `location`. Object storage takes its connection from `s3` (and the standard
/// AWS environment variables under it) and keeps downloaded copies for
/// [`BlobStore::local_file`] under `<data_dir>/blob-cache`.
pub fn open_blobs(
    location: &BlobLocation,
    s3: &S3Options,
    data_dir: &Path,
) -> Result<Arc<dyn BlobStore>, BlobConfigError> {
    Ok(match location {
        BlobLocation::Local(dir) => Arc::new(LocalBlobs::new(dir.clone())),
        BlobLocation::S3 { bucket, prefix } => Arc::new(ObjectBlobs::s3(
            bucket,
            prefix,
            s3,
            data_dir.join("blob-cache"),
        )?),
    })
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
        for key in [
            "../secret",
            "/etc/passwd",
            "",
            "assets/../../secret",
            "./a",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
        ] {
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

    #[tokio::test]
    async fn a_local_blob_is_streamed_with_its_size() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let blobs = LocalBlobs::new(dir.path());
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        blobs.put("renditions/r/big.png", &big).await?;
        let opened = blobs.open("renditions/r/big.png").await?;
        assert_eq!(opened.size, big.len() as u64);
        let chunks: Vec<Bytes> = opened.stream.map(|c| c.expect("chunk")).collect().await;
        assert!(chunks.len() > 1, "read in one piece: {}", chunks.len());
        assert_eq!(chunks.concat(), big);
        assert!(matches!(
            blobs.open("renditions/r/none.png").await,
            Err(BlobError::Missing(_))
        ));
        assert!(matches!(
            blobs.open("../x").await,
            Err(BlobError::BadKey(_))
        ));
        Ok(())
    }

    #[test]
    fn locations_are_read_from_the_url() {
        let data = Path::new("pressroom-data");
        assert_eq!(
            BlobLocation::parse("", data),
            Ok(BlobLocation::Local(data.to_path_buf()))
        );
        assert_eq!(
            BlobLocation::parse("file:///srv/blobs", data),
            Ok(BlobLocation::Local(PathBuf::from("/srv/blobs")))
        );
        assert_eq!(
            BlobLocation::parse("/srv/blobs", data),
            Ok(BlobLocation::Local(PathBuf::from("/srv/blobs")))
        );
        assert_eq!(
            BlobLocation::parse("s3://press-room/prod/images/", data),
            Ok(BlobLocation::S3 {
                bucket: "press-room".into(),
                prefix: "prod/images".into()
            })
        );
        assert_eq!(
            BlobLocation::parse("s3://press-room", data),
            Ok(BlobLocation::S3 {
                bucket: "press-room".into(),
                prefix: String::new()
            })
        );
        for bad in [
            "s3://",
            "s3://Bucket",
            "s3://b",
            "s3://bucket/../x",
            "s3://bucket/a//b",
            "gs://bucket",
            "file://",
        ] {
            assert!(BlobLocation::parse(bad, data).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn content_addresses_are_recognised() {
        let sha = sha256_hex(b"x");
        let key = format!("assets/{}/{sha}.png", &sha[..2]);
        assert_eq!(content_address(&key), Some(sha.as_str()));
        assert_eq!(content_address(&format!("assets/zz/{sha}.png")), None);
        assert_eq!(content_address("renditions/r/a/square-cover.jpg"), None);
        assert_eq!(content_address("assets/ab12.png"), None);
    }
}
