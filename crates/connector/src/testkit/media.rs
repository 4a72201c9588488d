//! Real image bytes over real loopback HTTP, for fakes of platforms that pull media by URL
//! (Instagram, TikTok) and for drafts that need a file on disk.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::MediaRef;

/// A JPEG of the given size (a gradient, so it is not trivially compressible to nothing).
pub fn sample_jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    // Encoding an in-memory RGB buffer cannot fail short of allocation failure.
    if let Err(e) = img.write_to(&mut out, image::ImageFormat::Jpeg) {
        panic!("encoding a sample JPEG failed: {e}");
    }
    out.into_inner()
}

/// A PNG of the given size, for "wrong format" cases.
pub fn sample_png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([10, 20, 30]));
    let mut out = std::io::Cursor::new(Vec::new());
    if let Err(e) = img.write_to(&mut out, image::ImageFormat::Png) {
        panic!("encoding a sample PNG failed: {e}");
    }
    out.into_inner()
}

#[derive(Default)]
struct Shared {
    files: Mutex<HashMap<String, (Vec<u8>, String)>>,
    fetches: AtomicUsize,
}

/// An HTTP server on 127.0.0.1 serving hosted files at unguessable paths, counting fetches.
/// Files are also written to a temp dir so `MediaRef::path` points at real bytes.
pub struct ImageServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl ImageServer {
    /// Binds 127.0.0.1:0 and serves until dropped.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .route("/media/{name}", axum::routing::get(serve))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "image server stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            dir: tempfile::tempdir()?,
            task,
        })
    }

    /// Hosts `bytes` and returns its public URL.
    pub fn host(&self, bytes: Vec<u8>, content_type: &str) -> String {
        let name = format!("{:032x}", rand::rng().random::<u128>());
        let url = format!("http://{}/media/{name}", self.addr);
        if let Ok(mut files) = self.shared.files.lock() {
            files.insert(name, (bytes, content_type.to_owned()));
        }
        url
    }

    /// Hosts a JPEG and describes it as the runtime would: file on disk, size, hash, URL.
    pub fn jpeg_media(&self, width: u32, height: u32) -> std::io::Result<MediaRef> {
        self.media(sample_jpeg(width, height), "image/jpeg", width, height)
    }

    /// Hosts arbitrary bytes as a `MediaRef`.
    pub fn media(
        &self,
        bytes: Vec<u8>,
        mime: &str,
        width: u32,
        height: u32,
    ) -> std::io::Result<MediaRef> {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let path: PathBuf = self.dir.path().join(&sha256);
        std::fs::write(&path, &bytes)?;
        let len = bytes.len() as u64;
        let url = self.host(bytes, mime);
        Ok(MediaRef {
            alt_text: None,
            path,
            mime: mime.to_owned(),
            width,
            height,
            bytes: len,
            sha256,
            public_url: Some(url),
        })
    }

    /// How many times any hosted file was fetched.
    pub fn fetches(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ImageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    shared.fetches.fetch_add(1, Ordering::SeqCst);
    let found = shared.files.lock().ok().and_then(|f| f.get(&name).cloned());
    match found {
        Some((bytes, ct)) => ([(header::CONTENT_TYPE, ct)], bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
