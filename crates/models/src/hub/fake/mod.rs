//! A local Hugging Face-compatible hub (feature `fake-hub`) serving model folders from disk
//! the real hub's way, for tests here and end to end:
//!
//! - `GET /api/models/{repo}/revision/{rev}[?blobs=true]`: `sha` and `siblings` (with `size`,
//!   `blobId` and, for LFS files, `lfs.sha256` only when `blobs=true`, as the hub does);
//! - `GET|HEAD /{repo}/resolve/{rev}/{path}`: small files served directly (`ETag` = git blob
//!   id), LFS files (`*.safetensors`, `*.bin`, `*.ckpt`, ...) answered 302 to a CDN on another
//!   port (`X-Linked-Etag`, `X-Linked-Size`), which refuses requests that carry
//!   `Authorization` (as a presigned URL does); `X-Repo-Commit` on every file answer;
//! - `Range` (206 with `Content-Range`, 416 past the end);
//! - 401/404 with the hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`,
//!   `EntryNotFound`) and gated repos (`GatedRepo`: 401 without a token, 403 with another one);
//! - failure injection: cut the connection after N bytes of a file, serve it corrupted;
//! - a log of every request (server, file, `Range`, whether `Authorization` came, bytes sent).

mod routes;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use sha1::Digest as _;
use sha2::Sha256;

/// Which of the fake's two servers answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    Hub,
    Cdn,
}

/// One request the fake answered.
#[derive(Clone, Debug)]
pub struct Logged {
    pub server: Server,
    pub method: String,
    /// The raw request path (and query).
    pub uri: String,
    /// The repo file the request was for, when it was for one.
    pub file: Option<String>,
    pub range: Option<String>,
    pub authorization: bool,
    pub status: u16,
    /// Body bytes sent (fewer than announced when the connection was cut).
    pub body_bytes: u64,
}

/// A failure to inject when a file's bytes are served (by the hub or the CDN).
#[derive(Clone, Debug)]
enum Fault {
    /// Send this many bytes of the answer, then drop the connection; `times` answers.
    Cut { after: u64, times: u32 },
    /// Flip a byte in the middle of the file, every time.
    Corrupt,
}

#[derive(Debug)]
pub(crate) struct Blob {
    pub bytes: Bytes,
    pub sha256: String,
    /// git blob sha1 of the content (a small file's `ETag` and `blobId`).
    pub git_sha1: String,
    pub lfs: bool,
}

#[derive(Debug)]
pub(crate) struct Repo {
    pub commit: String,
    pub files: BTreeMap<String, Arc<Blob>>,
    /// Gated: the one token that accepted the licence.
    pub gate: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub endpoint: String,
    pub cdn: String,
    pub repos: HashMap<String, Repo>,
    /// By sha256: what the CDN serves.
    pub blobs: HashMap<String, (String, Arc<Blob>)>,
    /// By sha256 of the file.
    faults: HashMap<String, Fault>,
    pub log: Vec<Logged>,
    /// Answer `blobs=true` with file names only (a mirror without file metadata).
    pub no_blob_metadata: bool,
}

/// What a file answer must do, decided under the lock.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Serve {
    Whole,
    CutAfter(u64),
    Corrupt,
}

impl State {
    pub(crate) fn take_fault(&mut self, sha256: &str) -> Serve {
        match self.faults.get_mut(sha256) {
            Some(Fault::Corrupt) => Serve::Corrupt,
            Some(Fault::Cut { after, times }) if *times > 0 => {
                *times -= 1;
                Serve::CutAfter(*after)
            }
            _ => Serve::Whole,
        }
    }
}

/// Handle to a running fake hub; its servers stop with the runtime that started them.
#[derive(Clone)]
pub struct FakeHub {
    endpoint: String,
    state: Arc<Mutex<State>>,
}

/// Extensions the real hub's default `.gitattributes` stores with LFS.
const LFS_EXTENSIONS: [&str; 9] = [
    ".safetensors",
    ".bin",
    ".ckpt",
    ".pt",
    ".pth",
    ".onnx",
    ".msgpack",
    ".h5",
    ".model",
];

impl FakeHub {
    /// Binds the hub and its CDN on two free ports of 127.0.0.1 (two origins, as on the real
    /// hub, so a client must drop `Authorization` when redirected).
    pub async fn start() -> std::io::Result<FakeHub> {
        let hub = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let cdn = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", hub.local_addr()?);
        let state = Arc::new(Mutex::new(State {
            endpoint: endpoint.clone(),
            cdn: format!("http://{}", cdn.local_addr()?),
            ..State::default()
        }));
        let (hub_app, cdn_app) = routes::apps(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(hub, hub_app).await;
        });
        tokio::spawn(async move {
            let _ = axum::serve(cdn, cdn_app).await;
        });
        Ok(FakeHub { endpoint, state })
    }

    /// The hub's base URL (what `HF_ENDPOINT` is set to).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Serves the files under `dir` as repo `repo` (replacing what it served before), branch
    /// `main` at a commit named after the content. Returns the commit.
    pub fn add_repo(&self, repo: &str, dir: &Path) -> std::io::Result<String> {
        let mut files = BTreeMap::new();
        read_tree(dir, dir, &mut files)?;
        let mut commit = sha1::Sha1::new();
        for (path, blob) in &files {
            commit.update(format!("{path} {}\n", blob.sha256).as_bytes());
        }
        let commit = hex::encode(commit.finalize());
        let mut state = self.lock();
        for blob in files.values() {
            state
                .blobs
                .insert(blob.sha256.clone(), (repo.to_string(), blob.clone()));
        }
        state.repos.insert(
            repo.to_string(),
            Repo {
                commit: commit.clone(),
                files,
                gate: None,
            },
        );
        Ok(commit)
    }

    /// Makes `repo` gated: its files are served only with `Authorization: Bearer {token}`.
    pub fn gate(&self, repo: &str, token: &str) {
        if let Some(r) = self.lock().repos.get_mut(repo) {
            r.gate = Some(token.to_string());
        }
    }

    fn sha_of(&self, repo: &str, path: &str) -> String {
        let state = self.lock();
        state
            .repos
            .get(repo)
            .and_then(|r| r.files.get(path))
            .map(|b| b.sha256.clone())
            .unwrap_or_else(|| panic!("the fake hub serves no {repo}/{path}"))
    }

    /// The next `times` answers with `path`'s bytes stop after `after` bytes (the connection
    /// is dropped).
    pub fn cut_after(&self, repo: &str, path: &str, after: u64, times: u32) {
        let sha = self.sha_of(repo, path);
        self.lock().faults.insert(sha, Fault::Cut { after, times });
    }

    /// `path` is served with one byte changed, until [`FakeHub::clear_faults`].
    pub fn corrupt(&self, repo: &str, path: &str) {
        let sha = self.sha_of(repo, path);
        self.lock().faults.insert(sha, Fault::Corrupt);
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Answer the revision API without sizes and hashes (clients must ask `HEAD`).
    pub fn without_blob_metadata(&self) {
        self.lock().no_blob_metadata = true;
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// The `GET`s that carried a file's bytes (hub or CDN).
    pub fn file_gets(&self, path: &str) -> Vec<Logged> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.file.as_deref() == Some(path) && r.status < 300)
            .collect()
    }

    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    /// The sha256 the hub gives for a file.
    pub fn sha256(&self, repo: &str, path: &str) -> String {
        self.sha_of(repo, path)
    }
}

fn read_tree(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, Arc<Blob>>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            read_tree(root, &path, out)?;
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .map_err(std::io::Error::other)?
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let bytes = std::fs::read(&path)?;
        let mut git = sha1::Sha1::new();
        git.update(format!("blob {}\0", bytes.len()).as_bytes());
        git.update(&bytes);
        let blob = Blob {
            sha256: hex::encode(Sha256::digest(&bytes)),
            git_sha1: hex::encode(git.finalize()),
            lfs: LFS_EXTENSIONS.iter().any(|e| rel.ends_with(e)),
            bytes: Bytes::from(bytes),
        };
        out.insert(rel, Arc::new(blob));
    }
    Ok(())
}
