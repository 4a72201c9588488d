//! A local S3-compatible server for the object-storage tests: moto's server (PyPI
//! `moto[server]`, installed into `.venv` by `scripts/setup.sh`), one per test, on a port the
//! system picks, killed when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::blobs::{ObjectBlobs, S3Options};

/// Why the server could not be had.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(
        "moto's S3 server is not installed ({0} is missing): run scripts/setup.sh, which \
         installs moto[server] into .venv (CI does); the object-storage tests need it"
    )]
    NotInstalled(String),
    #[error("starting {bin}: {source}")]
    Spawn {
        bin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("moto's server did not start within {secs} s; its output:\n{output}")]
    NoStart { secs: u64, output: String },
    #[error("creating bucket {bucket}: {reason}")]
    Bucket { bucket: String, reason: String },
}

/// A running moto server with one bucket.
pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    pub bucket: String,
    output: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for MotoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotoServer")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// `MOTO_SERVER`, else `.venv/bin/moto_server` in the repository.
fn moto_bin() -> Result<PathBuf, MotoError> {
    let bin = match std::env::var_os("MOTO_SERVER") {
        Some(bin) => PathBuf::from(bin),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .unwrap_or(Path::new("."))
            .join(".venv/bin/moto_server"),
    };
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(MotoError::NotInstalled(bin.display().to_string()))
    }
}

impl MotoServer {
    /// Starts a server on 127.0.0.1 (port chosen by the system, read from its banner) and
    /// creates `bucket` in it. Blocks for a second or two.
    pub fn start(bucket: &str) -> Result<Self, MotoError> {
        let bin = moto_bin()?;
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| MotoError::Spawn {
                bin: bin.display().to_string(),
                source,
            })?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            let output = Arc::clone(&output);
            // Drains the server's log for its whole life (a full pipe would stall it), keeping
            // the last lines for error messages.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(port) = line
                        .split("http://127.0.0.1:")
                        .nth(1)
                        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|p| p.parse::<u16>().ok())
                    {
                        let _ = port_tx.send(port);
                    }
                    let mut kept = output.lock().unwrap_or_else(|p| p.into_inner());
                    kept.push(line);
                    if kept.len() > 60 {
                        kept.remove(0);
                    }
                }
            });
        }
        let limit = Duration::from_secs(60);
        let started = Instant::now();
        let server = |child: Child, endpoint: String| Self {
            child,
            endpoint,
            bucket: bucket.to_string(),
            output: Arc::clone(&output),
        };
        let port = loop {
            match port_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(port) => break port,
                Err(_) if started.elapsed() > limit => {
                    let s = server(child, String::new());
                    return Err(MotoError::NoStart {
                        secs: limit.as_secs(),
                        output: s.output(),
                    });
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        std::thread::sleep(Duration::from_millis(200));
                        let s = server(child, String::new());
                        return Err(MotoError::NoStart {
                            secs: started.elapsed().as_secs(),
                            output: format!("(exited: {status})\n{}", s.output()),
                        });
                    }
                }
            }
        };
        let s = server(child, format!("http://127.0.0.1:{port}"));
        s.create_bucket(bucket)?;
        Ok(s)
    }

    /// The last lines the server logged.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// Creates another bucket (moto takes unsigned requests).
    pub fn create_bucket(&self, bucket: &str) -> Result<(), MotoError> {
        let fail = |reason: String| MotoError::Bucket {
            bucket: bucket.to_string(),
            reason,
        };
        let addr = self.endpoint.trim_start_matches("http://").to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match http_put(&addr, &format!("/{bucket}")) {
                Ok(status) if (200..300).contains(&status) => return Ok(()),
                Ok(status) => return Err(fail(format!("moto answered {status}"))),
                Err(e) if Instant::now() > deadline => {
                    return Err(fail(format!("{e}; server output:\n{}", self.output())));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The connection settings (`[storage]` besides `url`) for this server.
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: self.endpoint.clone(),
            region: "us-east-1".into(),
            access_key_id: "testing".into(),
            secret_access_key: secrecy::SecretString::from("testing"),
            allow_http: true,
        }
    }

    /// `s3://BUCKET[/PREFIX]`.
    pub fn url(&self, prefix: &str) -> String {
        if prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{prefix}", self.bucket)
        }
    }

    /// A `[storage]` section for a configuration file; `url` empty leaves the store local
    /// (the connection settings still serve `pressroom storage migrate --to`).
    pub fn storage_toml(&self, url: &str) -> String {
        format!(
            "[storage]\nurl = {url:?}\nendpoint = {:?}\nregion = \"us-east-1\"\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\nallow_http = true\n",
            self.endpoint
        )
    }

    /// The bucket as a blob store under `prefix`, caching downloads in `cache`.
    pub fn blobs(&self, prefix: &str, cache: PathBuf) -> ObjectBlobs {
        ObjectBlobs::s3(&self.bucket, prefix, &self.options(), cache)
            .unwrap_or_else(|e| panic!("a blob store on moto: {e}"))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `PUT path` without a body; the answer's status.
fn http_put(addr: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {answer:.200}")))
}
