//! The outbox directory: the sandbox's "platform".
//!
//! `commits.jsonl` is the source of truth: one line appended (O_APPEND, fsync) per commit.
//! Everything else — `posts/<attempt>.json`, `media/`, `index.html` — is derived from it and
//! can be rebuilt, so a crash half-way through a commit never makes the record ambiguous.

use std::path::{Path, PathBuf};

use pressroom_connector::{Prepared, PublishCtx, Published};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

/// One line of `commits.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CommitRecord {
    pub attempt_id: String,
    pub account: String,
    pub caption: String,
    pub media: String,
    pub committed_at: String,
    /// The preset the rendition was made for (`instagram-square`), when known; absent in
    /// lines written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// The platform of that preset (`instagram`): what the sandbox stands in for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// A carousel's other images, in order after `media`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_media: Vec<String>,
    /// `story` or `carousel`; absent for a feed post (and in older lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Each image's alt text, where given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alt_texts: Vec<String>,
}

/// The preset (and its platform, for bundled presets) a rendition file was made for, read
/// from its name: the render job writes `renditions/<run>/<asset>/<preset>-<fit>.<ext>`. A file named
/// otherwise (a test's, an upload's) gives `(None, None)`.
pub fn rendition_preset(path: &Path) -> (Option<String>, Option<String>) {
    let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
        return (None, None);
    };
    let preset = ["-cover", "-contain", "-native"]
        .iter()
        .find_map(|fit| stem.strip_suffix(fit))
        .filter(|p| !p.is_empty());
    match preset {
        Some(name) => (
            Some(name.to_owned()),
            pressroom_media::preset(name).map(|p| p.platform.clone()),
        ),
        None => (None, None),
    }
}

impl CommitRecord {
    pub fn published(&self) -> Published {
        Published {
            remote_id: format!("sandbox-{}", self.attempt_id),
            url: Some(format!("sandbox://posts/{}", self.attempt_id)),
        }
    }
}

/// Handle on an outbox directory.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    /// Serializes index rebuilds within this process.
    index_lock: tokio::sync::Mutex<()>,
}

impl Outbox {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("media"))?;
        std::fs::create_dir_all(dir.join("posts"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            index_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir.join("index.html")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("commits.jsonl")
    }

    /// Copies the rendition into `media/` under a name derived from the attempt.
    pub async fn stage_media(
        &self,
        attempt_id: &str,
        source: &Path,
        mime: &str,
    ) -> std::io::Result<String> {
        self.stage_named(attempt_id, source, mime).await
    }

    /// A carousel's image `index` (> 0), staged beside the first.
    pub async fn stage_slide(
        &self,
        attempt_id: &str,
        index: usize,
        source: &Path,
        mime: &str,
    ) -> std::io::Result<String> {
        self.stage_named(&format!("{attempt_id}-{index}"), source, mime)
            .await
    }

    async fn stage_named(&self, stem: &str, source: &Path, mime: &str) -> std::io::Result<String> {
        let ext = match mime {
            "image/png" => "png",
            "image/webp" => "webp",
            _ => "jpg",
        };
        let name = format!("{stem}.{ext}");
        let target = self.dir.join("media").join(&name);
        let tmp = target.with_extension("tmp");
        tokio::fs::copy(source, &tmp).await?;
        tokio::fs::rename(&tmp, &target).await?;
        Ok(format!("media/{name}"))
    }

    /// The irreversible step: appends the commit record, then writes the derived files.
    pub async fn commit(
        &self,
        ctx: &PublishCtx,
        prepared: &Prepared,
    ) -> std::io::Result<CommitRecord> {
        let media = prepared
            .checkpoint
            .get("staged_media")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let text = |key: &str| {
            prepared
                .checkpoint
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let list = |key: &str| -> Vec<String> {
            prepared
                .checkpoint
                .get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let record = CommitRecord {
            attempt_id: ctx.attempt_id.clone(),
            account: ctx.account.external_id.clone(),
            caption: ctx.caption.clone(),
            media,
            committed_at: chrono::Utc::now().to_rfc3339(),
            preset: text("preset"),
            platform: text("platform"),
            more_media: list("more_media"),
            format: text("format").filter(|f| f != "single"),
            alt_texts: list("alt_texts"),
        };
        let mut line = serde_json::to_string(&record).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut log = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .await?;
        // One write of the whole line: appends of this size are not interleaved.
        log.write_all(line.as_bytes()).await?;
        log.sync_data().await?;

        let post = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
        let post_path = self
            .dir
            .join("posts")
            .join(format!("{}.json", record.attempt_id));
        tokio::fs::write(&post_path, post).await?;
        if let Err(e) = self.rebuild_index().await {
            tracing::warn!(error = %e, "sandbox: could not rebuild index.html");
        }
        Ok(record)
    }

    /// Every commit ever made, in order (a torn last line from a crash is ignored).
    pub async fn commits(&self) -> std::io::Result<Vec<CommitRecord>> {
        let text = match tokio::fs::read_to_string(self.log_path()).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// The commit of one attempt, if it happened.
    pub async fn find_commit(&self, attempt_id: &str) -> std::io::Result<Option<CommitRecord>> {
        Ok(self
            .commits()
            .await?
            .into_iter()
            .find(|c| c.attempt_id == attempt_id))
    }

    /// Rewrites `index.html`: every committed post with its image and caption.
    pub async fn rebuild_index(&self) -> std::io::Result<()> {
        let _guard = self.index_lock.lock().await;
        let commits = self.commits().await?;
        let mut html = String::from(
            "<!doctype html><meta charset=utf-8><title>Pressroom sandbox outbox</title>\
             <style>body{font-family:sans-serif;margin:2em;background:#f4f4f4}\
             .post{display:inline-block;vertical-align:top;width:320px;margin:8px;padding:8px;\
             background:#fff;border-radius:8px}img{max-width:100%;max-height:360px}\
             img.slide{max-width:32%;margin-right:1%}\
             .meta{color:#666;font-size:12px}.preset{font-weight:bold;font-size:13px}</style>\
             <h1>Sandbox outbox</h1>",
        );
        html.push_str(&format!("<p>{} committed posts</p>", commits.len()));
        for c in commits.iter().rev() {
            // "instagram-square (instagram)": which platform this rendition stands in for.
            let rendition = match (&c.preset, &c.platform) {
                (Some(preset), Some(platform)) => {
                    format!("{} ({})", escape(preset), escape(platform))
                }
                (Some(preset), None) => escape(preset),
                _ => "unknown preset".to_owned(),
            };
            let alt = |i: usize| c.alt_texts.get(i).map(|a| escape(a)).unwrap_or_default();
            let mut images = format!("<img src=\"{}\" alt=\"{}\">", escape(&c.media), alt(0));
            for (i, more) in c.more_media.iter().enumerate() {
                images.push_str(&format!(
                    "<img class=slide src=\"{}\" alt=\"{}\">",
                    escape(more),
                    alt(i + 1)
                ));
            }
            let rendition = match &c.format {
                Some(format) => format!("{rendition} · {}", escape(format)),
                None => rendition,
            };
            html.push_str(&format!(
                "<div class=post>{images}<div class=preset>{}</div><p>{}</p><div class=meta>{} · {}</div></div>",
                rendition,
                // A story goes out without its caption; say so rather than show it.
                if c.format.as_deref() == Some("story") {
                    "<span class=meta>A story carries no caption.</span>".to_owned()
                } else {
                    escape(&c.caption).replace('\n', "<br>")
                },
                escape(&c.account),
                escape(&c.committed_at)
            ));
        }
        let tmp = self.dir.join(format!("index.{}.tmp", std::process::id()));
        tokio::fs::write(&tmp, html).await?;
        tokio::fs::rename(&tmp, self.index_path()).await
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
