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

    /// Writes through a temporary file and a rename, so readers never see half an image.
    async fn store(&self, key: &str, png: &[u8]) -> Result<(), GenerateError> {
        let path = self.path_for(key);
        let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let io = |source| GenerateError::Cache {
            path: path.clone(),
            source,
        };
        tokio::fs::write(&tmp, png).await.map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)
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

#[async_trait::async_trait]
impl<G: Generator> Generator for CachedGenerator<G> {
    fn identity(&self) -> String {
        self.inner.identity()
    }

    fn negative_prompt_is_prompt_text(&self) -> bool {
        self.inner.negative_prompt_is_prompt_text()
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
