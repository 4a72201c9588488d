//! Blobs as objects in an S3-compatible bucket (AWS S3, MinIO, R2, Ceph, ...), through the
//! `object_store` crate: what lets several instances on several machines share one set of
//! images. Keys are the same as [`super::LocalBlobs`]'s (checked by [`super::check_key`]),
//! under an optional prefix (`s3://bucket/prefix` stores `prefix/assets/ab/<sha>.png`).
//!
//! Integrity, at each step where it can be checked:
//! - every upload carries `x-amz-checksum-sha256` (object_store's SHA-256 checksum
//!   algorithm): S3 and the servers that implement additional checksums refuse a body that
//!   does not hash to it, so a damaged upload is never stored; then the stored object's size
//!   is read back (a HEAD) and compared with what was sent, for servers that ignore the
//!   header;
//! - a content-addressed blob (`<prefix>/<sha[..2]>/<sha>.<ext>`) read whole (`get`,
//!   `local_file`) is hashed and compared with its name: [`BlobError::Corrupt`] otherwise.
//!   Streams ([`BlobStore::open`]) are not checked: their bytes are on their way before
//!   the last one is read;
//! - `pressroom storage migrate` reads every copy back and compares size and SHA-256.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, Checksum};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use secrecy::{ExposeSecret, SecretString};
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use super::{BlobConfigError, BlobError, BlobStore, OpenBlob, check_key, content_address};

/// How to reach the bucket (`[storage]` besides `url`). Empty values fall back to the
/// standard AWS environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, ...),
/// then to AWS's own defaults (region us-east-1, credentials from the instance or container).
#[derive(Clone, Debug)]
pub struct S3Options {
    /// The S3 API's base URL, for servers other than AWS (`http://127.0.0.1:9000`).
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Allows an `http://` endpoint (a server on the same host or network).
    pub allow_http: bool,
}

impl Default for S3Options {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            region: String::new(),
            access_key_id: String::new(),
            secret_access_key: SecretString::from(""),
            allow_http: false,
        }
    }
}

impl S3Options {
    /// Checks what can be checked without a network: the endpoint's form and the credentials
    /// given in pairs. The error names the setting.
    pub fn validate(&self) -> Result<(), BlobConfigError> {
        let endpoint = self.endpoint.trim();
        if !endpoint.is_empty() {
            let Some(rest) = endpoint
                .strip_prefix("https://")
                .or_else(|| endpoint.strip_prefix("http://"))
            else {
                return Err(BlobConfigError {
                    field: "endpoint",
                    reason: format!("{endpoint:?} is not an http(s) URL"),
                });
            };
            if rest.is_empty() || rest.starts_with('/') {
                return Err(BlobConfigError {
                    field: "endpoint",
                    reason: format!("{endpoint:?} names no host"),
                });
            }
            if endpoint.starts_with("http://") && !self.allow_http {
                return Err(BlobConfigError {
                    field: "endpoint",
                    reason: format!(
                        "{endpoint:?} is plain HTTP: set storage.allow_http = true for a server on your own network"
                    ),
                });
            }
        }
        let key = !self.access_key_id.is_empty();
        let secret = !self.secret_access_key.expose_secret().is_empty();
        if key != secret {
            return Err(BlobConfigError {
                field: if key {
                    "secret_access_key"
                } else {
                    "access_key_id"
                },
                reason: "set access_key_id and secret_access_key together (or neither, to use the AWS environment)".into(),
            });
        }
        Ok(())
    }
}

/// Downloaded copies unused for this long are removed (a later `local_file` downloads again):
/// they serve a connector's upload, minutes at most, and must not long outlive an erasure made
/// by another instance (which deletes only its own copy).
pub const CACHE_MAX_AGE: Duration = Duration::from_secs(6 * 3600);

/// How often `local_file` looks for such copies.
const TRIM_EVERY: Duration = Duration::from_secs(3600);

/// Blobs in a bucket; see the module's documentation.
#[derive(Clone)]
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    /// Prepended to every key (no slashes at its ends; empty: none).
    prefix: String,
    /// Where [`BlobStore::local_file`] keeps downloaded copies.
    cache: PathBuf,
    /// `s3://bucket/prefix`, for messages.
    url: String,
    /// When the cache was last trimmed ([`ObjectBlobs::trim_cache`]).
    trimmed: Arc<Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for ObjectBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlobs")
            .field("url", &self.url)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl ObjectBlobs {
    /// The bucket `bucket` under `prefix`, reached with `options` over the AWS environment
    /// ([`AmazonS3Builder::from_env`], then the options that are set). Nothing is sent
    /// before the first call.
    pub fn s3(
        bucket: &str,
        prefix: &str,
        options: &S3Options,
        cache: PathBuf,
    ) -> Result<Self, BlobConfigError> {
        options.validate()?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_checksum_algorithm(Checksum::SHA256);
        if !options.endpoint.trim().is_empty() {
            builder = builder.with_endpoint(options.endpoint.trim());
        }
        if !options.region.is_empty() {
            builder = builder.with_region(&options.region);
        }
        if !options.access_key_id.is_empty() {
            builder = builder
                .with_access_key_id(&options.access_key_id)
                .with_secret_access_key(options.secret_access_key.expose_secret());
        }
        if options.allow_http {
            builder = builder.with_allow_http(true);
        }
        let store = builder.build().map_err(|e| BlobConfigError {
            field: "url",
            reason: format!("s3://{bucket}: {e}"),
        })?;
        let url = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        Ok(Self::new(Arc::new(store), prefix, cache, url))
    }

    /// Over any object store (tests use an in-memory one); `url` names it in messages.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        cache: PathBuf,
        url: impl Into<String>,
    ) -> Self {
        Self {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            cache,
            url: url.into(),
            trimmed: Arc::new(Mutex::new(None)),
        }
    }

    /// Removes downloaded copies not used for `max_age`; answers how many. Errors are
    /// skipped: a copy left behind is only space, and the next trim tries again.
    pub async fn trim_cache(&self, max_age: Duration) -> u64 {
        let root = self.cache.clone();
        tokio::task::spawn_blocking(move || trim_dir(&root, max_age))
            .await
            .unwrap_or(0)
    }

    /// Starts a trim in the background when the last one is older than [`TRIM_EVERY`].
    fn trim_now_and_then(&self) {
        let due = {
            let mut last = self.trimmed.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= TRIM_EVERY);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            let this = self.clone();
            tokio::spawn(async move {
                let removed = this.trim_cache(CACHE_MAX_AGE).await;
                if removed > 0 {
                    tracing::info!(removed, cache = %this.cache.display(), "blob cache: removed old downloads");
                }
            });
        }
    }

    /// `s3://bucket[/prefix]`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The directory of downloaded copies ([`BlobStore::local_file`]).
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    fn location(&self, key: &str) -> Result<ObjectPath, BlobError> {
        let key = check_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        ObjectPath::parse(full).map_err(|_| BlobError::BadKey(key.to_string()))
    }

    fn cached(&self, key: &str) -> Result<PathBuf, BlobError> {
        Ok(self.cache.join(check_key(key)?))
    }

    async fn head_size(&self, key: &str, location: &ObjectPath) -> Result<u64, BlobError> {
        self.store
            .head(location)
            .await
            .map(|meta| meta.size)
            .map_err(|e| remote(key, e))
    }

    /// Streams the object into a new file beside `dest`, checking size and (for a
    /// content-addressed key) SHA-256, then renames it into place.
    async fn download(&self, key: &str, dest: &Path) -> Result<(), BlobError> {
        let location = self.location(key)?;
        let got = self
            .store
            .get(&location)
            .await
            .map_err(|e| remote(key, e))?;
        let size = got.meta.size;
        let dir = dest.parent().unwrap_or(&self.cache);
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io_err(key, e))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp-{}", pressroom_core::new_id()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| io_err(key, e))?;
            let mut hasher = sha2::Sha256::new();
            let mut written = 0u64;
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| remote(key, e))?;
                hasher.update(&chunk);
                written += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(|e| io_err(key, e))?;
            }
            file.flush().await.map_err(|e| io_err(key, e))?;
            drop(file);
            if written != size {
                return Err(corrupt(
                    key,
                    format!("{written} bytes arrived, the object has {size}"),
                ));
            }
            let sha = hex::encode(hasher.finalize());
            check_content(key, &sha)?;
            tokio::fs::rename(&tmp, dest)
                .await
                .map_err(|e| io_err(key, e))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }
}

/// Removes files under `dir` last modified more than `max_age` ago (temporary files of
/// downloads that died included).
fn trim_dir(dir: &Path, max_age: Duration) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            removed += trim_dir(&entry.path(), max_age);
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > max_age);
        if old && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn remote(key: &str, e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::Missing(key.to_string()),
        e => BlobError::Remote {
            key: key.to_string(),
            source: Box::new(e),
        },
    }
}

/// A failed write: a 404 there means the bucket, not the object, is missing.
fn remote_write(key: &str, e: object_store::Error) -> BlobError {
    BlobError::Remote {
        key: key.to_string(),
        source: Box::new(e),
    }
}

fn io_err(key: &str, source: std::io::Error) -> BlobError {
    BlobError::Io {
        key: key.to_string(),
        source,
    }
}

fn corrupt(key: &str, reason: String) -> BlobError {
    BlobError::Corrupt {
        key: key.to_string(),
        reason,
    }
}

/// A content-addressed key's bytes must hash to its name.
fn check_content(key: &str, sha256: &str) -> Result<(), BlobError> {
    match content_address(key) {
        Some(named) if named != sha256 => Err(corrupt(
            key,
            format!("its SHA-256 is {sha256}, its name says {named}"),
        )),
        _ => Ok(()),
    }
}

#[async_trait]
impl BlobStore for ObjectBlobs {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BlobError> {
        let location = self.location(key)?;
        self.store
            .put(&location, PutPayload::from(bytes.to_vec()))
            .await
            .map_err(|e| remote_write(key, e))?;
        let stored = self.head_size(key, &location).await?;
        if stored != bytes.len() as u64 {
            return Err(corrupt(
                key,
                format!("{} bytes were sent, {stored} were stored", bytes.len()),
            ));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        let location = self.location(key)?;
        let got = self
            .store
            .get(&location)
            .await
            .map_err(|e| remote(key, e))?;
        let size = got.meta.size;
        let bytes = got.bytes().await.map_err(|e| remote(key, e))?;
        if bytes.len() as u64 != size {
            return Err(corrupt(
                key,
                format!("{} bytes arrived, the object has {size}", bytes.len()),
            ));
        }
        check_content(key, &super::sha256_hex(&bytes))?;
        Ok(bytes.to_vec())
    }

    async fn size(&self, key: &str) -> Result<u64, BlobError> {
        let location = self.location(key)?;
        self.head_size(key, &location).await
    }

    /// Deletes the object and its downloaded copy. S3 answers a DELETE the same whether or not
    /// the object was there, so a HEAD first tells which it was.
    async fn delete(&self, key: &str) -> Result<bool, BlobError> {
        let location = self.location(key)?;
        let existed = match self.store.head(&location).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(remote(key, e)),
        };
        if existed {
            match self.store.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(remote_write(key, e)),
            }
        }
        match tokio::fs::remove_file(self.cached(key)?).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(key, e)),
        }
        Ok(existed)
    }

    /// A downloaded copy under the cache directory, reused while its size is the object's
    /// (a content-addressed key never changes content; a rendition is cut again under the
    /// same key only from the same image and preset).
    async fn local_file(&self, key: &str) -> Result<PathBuf, BlobError> {
        let location = self.location(key)?;
        let dest = self.cached(key)?;
        self.trim_now_and_then();
        let size = self.head_size(key, &location).await?;
        if let Ok(meta) = tokio::fs::metadata(&dest).await
            && meta.is_file()
            && meta.len() == size
        {
            // Used again: it stays for another CACHE_MAX_AGE.
            if let Ok(file) = std::fs::File::options().append(true).open(&dest) {
                let _ = file.set_modified(std::time::SystemTime::now());
            }
            return Ok(dest);
        }
        self.download(key, &dest).await?;
        Ok(dest)
    }

    async fn open(&self, key: &str) -> Result<OpenBlob, BlobError> {
        let location = self.location(key)?;
        let got = self
            .store
            .get(&location)
            .await
            .map_err(|e| remote(key, e))?;
        let size = got.meta.size;
        let owned = key.to_string();
        let stream = got
            .into_stream()
            .map(move |chunk| chunk.map_err(|e| remote(&owned, e)));
        Ok(OpenBlob {
            size,
            stream: stream.boxed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_the_setting_they_get_wrong() {
        let ok = S3Options {
            endpoint: "http://127.0.0.1:9000".into(),
            allow_http: true,
            access_key_id: "key".into(),
            secret_access_key: SecretString::from("secret"),
            ..S3Options::default()
        };
        assert!(ok.validate().is_ok());
        assert!(S3Options::default().validate().is_ok());
        let cases = [
            (
                S3Options {
                    allow_http: false,
                    ..ok.clone()
                },
                "endpoint",
                "allow_http",
            ),
            (
                S3Options {
                    endpoint: "minio:9000".into(),
                    ..ok.clone()
                },
                "endpoint",
                "http(s)",
            ),
            (
                S3Options {
                    secret_access_key: SecretString::from(""),
                    ..ok.clone()
                },
                "secret_access_key",
                "together",
            ),
            (
                S3Options {
                    access_key_id: String::new(),
                    ..ok.clone()
                },
                "access_key_id",
                "together",
            ),
        ];
        for (options, field, needle) in cases {
            let err = options.validate().expect_err(field);
            assert_eq!(err.field, field, "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[tokio::test]
    async fn old_downloads_are_trimmed_and_used_ones_kept() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Arc::new(object_store::memory::InMemory::new());
        let blobs = ObjectBlobs::new(store, "", dir.path().join("cache"), "memory://");
        blobs.put("renditions/r/a.jpg", b"cut").await?;
        blobs.put("renditions/r/b.jpg", b"other cut").await?;
        let a = blobs.local_file("renditions/r/a.jpg").await?;
        let b = blobs.local_file("renditions/r/b.jpg").await?;
        let long_ago = std::time::SystemTime::now() - Duration::from_secs(7 * 3600);
        for file in [&a, &b] {
            std::fs::File::options()
                .append(true)
                .open(file)?
                .set_modified(long_ago)?;
        }
        // Used again: its clock restarts.
        assert_eq!(blobs.local_file("renditions/r/a.jpg").await?, a);
        assert_eq!(blobs.trim_cache(CACHE_MAX_AGE).await, 1);
        assert!(a.exists() && !b.exists());
        assert_eq!(
            std::fs::read(blobs.local_file("renditions/r/b.jpg").await?)?,
            b"other cut"
        );
        Ok(())
    }

    #[tokio::test]
    async fn keys_outside_the_store_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let blobs = ObjectBlobs::new(
            Arc::new(object_store::memory::InMemory::new()),
            "prod",
            dir.path().join("cache"),
            "memory://",
        );
        for key in ["../x", "/etc/passwd", "", "a//b", "a/./b", "./a"] {
            assert!(
                matches!(blobs.put(key, b"y").await, Err(BlobError::BadKey(_))),
                "{key:?}"
            );
            assert!(matches!(blobs.get(key).await, Err(BlobError::BadKey(_))));
            assert!(matches!(
                blobs.local_file(key).await,
                Err(BlobError::BadKey(_))
            ));
        }
        Ok(())
    }
}
