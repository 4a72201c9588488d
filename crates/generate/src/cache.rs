//! The generation cache: `<key>.png` files in a directory. A repeat request returns the
//! stored image without running the model; concurrent identical requests run it once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::GenerateError;
use crate::generator::Generator;
use crate::key::generation_key;
use crate::request::{GeneratedImage, GenerationRequest, ProgressFn, image_dimensions};

pub struct CachedGenerator<G> {
    inner: G,
    dir: PathBuf,
    /// One async lock per key in flight (single flight for identical requests).
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl<G: Generator> CachedGenerator<G> {
    /// Caches `inner`'s images under `dir` (created if missing).
    pub fn new(inner: G, dir: impl Into<PathBuf>) -> Result<Self, GenerateError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| GenerateError::Cache {
            path: dir.clone(),
            source,
        })?;
        Ok(Self {
            inner,
            dir,
            in_flight: Mutex::default(),
        })
    }

    pub fn inner(&self) -> &G {
        &self.inner
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the image for `key` is (or would be) stored.
    pub fn path_for(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.png"))
    }

    async fn lookup(&self, key: &str) -> Result<Option<GeneratedImage>, GenerateError> {
        let path = self.path_for(key);
        match tokio::fs::read(&path).await {
            Ok(png) => match image_dimensions(&png) {
                Ok((width, height)) => Ok(Some(GeneratedImage {
                    png,
                    width,
                    height,
                    cache_hit: true,
                    generation_key: key.to_string(),
                })),
                Err(e) => {
                    // A torn or foreign file: regenerate rather than fail forever.
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable cache entry");
                    Ok(None)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(GenerateError::Cache { path, source }),
        }
    }

    /// Writes durably through a temporary file and a rename ([`write_durably`]), so readers
    /// never see half an image and a crash never leaves one under the final name.
    async fn store(&self, key: &str, png: &[u8]) -> Result<(), GenerateError> {
        let path = self.path_for(key);
        let (target, bytes) = (path.clone(), png.to_vec());
        tokio::task::spawn_blocking(move || write_durably(&target, &bytes))
            .await
            .map_err(std::io::Error::other)
            .and_then(|written| written)
            .map_err(|source| GenerateError::Cache { path, source })
    }

    fn key_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(key.to_string()).or_default().clone()
    }

    fn release(&self, key: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut map = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        drop(lock);
        // Only the map's own reference left: nobody is waiting on this key.
        if map.get(key).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(key);
        }
    }
}

/// Writes `bytes` to `path` durably: a temporary file in the same directory (unique per
/// write), synced, renamed into place, then the directory synced; a failed write removes its
/// temporary file. (The same as `pressroom_store::LocalBlobs` writes, which this crate does
/// not depend on.)
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    #[cfg(unix)]
    std::fs::File::open(&dir)?.sync_all()?;
    Ok(())
}

#[async_trait::async_trait]
impl<G: Generator> Generator for CachedGenerator<G> {
    fn identity(&self) -> String {
        self.inner.identity()
    }

    fn negative_prompt_is_prompt_text(&self) -> bool {
        self.inner.negative_prompt_is_prompt_text()
    }

    fn native_size(&self) -> Option<crate::NativeSize> {
        self.inner.native_size()
    }

    fn admit(&self, req: &GenerationRequest) -> Result<(), GenerateError> {
        self.inner.admit(req)
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        self.generate_for("", req, progress).await
    }

    async fn generate_for(
        &self,
        tenant: &str,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        req.validate()?;
        let key = generation_key(&self.inner.identity(), &req);
        if let Some(hit) = self.lookup(&key).await? {
            tracing::debug!(key = %key, "generation cache hit");
            return Ok(hit);
        }
        let lock = self.key_lock(&key);
        let result = async {
            let _guard = lock.lock().await;
            if let Some(hit) = self.lookup(&key).await? {
                return Ok(hit);
            }
            let mut img = self.inner.generate_for(tenant, req, progress).await?;
            self.store(&key, &img.png).await?;
            img.cache_hit = false;
            img.generation_key = key.clone();
            Ok(img)
        }
        .await;
        self.release(&key, lock);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Never;

    #[async_trait::async_trait]
    impl Generator for Never {
        fn identity(&self) -> String {
            "never".into()
        }

        async fn generate(
            &self,
            _req: GenerationRequest,
            _progress: Option<ProgressFn>,
        ) -> Result<GeneratedImage, GenerateError> {
            Err(GenerateError::Image("not used".into()))
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A stored entry is the whole image under its final name, with nothing else beside it;
    /// a store that fails leaves no temporary file behind either.
    #[tokio::test]
    async fn store_leaves_the_entry_and_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CachedGenerator::new(Never, dir.path()).expect("cache");
        cache.store("k1", b"png bytes").await.expect("store");
        cache.store("k1", b"png bytes 2").await.expect("overwrite");
        assert_eq!(
            std::fs::read(cache.path_for("k1")).expect("read"),
            b"png bytes 2"
        );
        assert_eq!(names(dir.path()), ["k1.png"]);

        // The rename fails: a non-empty directory stands where the entry should go.
        std::fs::create_dir_all(cache.path_for("k2").join("inside")).expect("mkdir");
        assert!(cache.store("k2", b"png").await.is_err());
        assert_eq!(names(dir.path()), ["k1.png", "k2.png"]);
    }
}
