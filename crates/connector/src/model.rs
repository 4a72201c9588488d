use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pressroom_core::PostFormat;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// What a platform accepts. Checked by `validate` before any network call.
#[derive(Clone, Debug, Serialize)]
pub struct Capabilities {
    /// Maximum caption length in characters (Unicode scalar values).
    pub max_caption_chars: usize,
    /// MIME types of images the platform accepts.
    pub media_types: Vec<&'static str>,
    /// Largest accepted image in bytes.
    pub max_media_bytes: u64,
    /// Accepted width/height range.
    pub aspect_range: (f32, f32),
    /// Publish calls allowed per account per 24 h, if the platform caps them.
    pub daily_cap: Option<u32>,
    /// True when the platform needs a prepare phase (upload, container) before commit.
    pub two_phase: bool,
    /// True when the platform fetches media from a public URL instead of an upload.
    pub needs_public_url: bool,
}

/// One image ready for a platform: the rendition file and, where the platform pulls media,
/// a short-lived signed public URL.
#[derive(Clone, Debug)]
pub struct MediaRef {
    pub path: PathBuf,
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// sha256 of the file, hex; lets reconcile match a post by content.
    pub sha256: String,
    pub public_url: Option<String>,
    /// Alt text for this image, sent where the platform takes it (PLATFORMS.md §8).
    pub alt_text: Option<String>,
}

/// The post as the runtime hands it to a connector.
#[derive(Clone, Debug)]
pub struct PostDraft {
    /// Ignored by stories (they carry none).
    pub caption: String,
    pub media: Vec<MediaRef>,
    /// A feed post or a story; a connector refuses (in `validate`) what its platform lacks.
    pub format: PostFormat,
    /// Which image of a carousel is its cover (0-based), where the platform takes one.
    pub cover: usize,
}

impl PostDraft {
    /// A feed post of `media` with `caption`.
    pub fn single(caption: impl Into<String>, media: Vec<MediaRef>) -> Self {
        Self {
            caption: caption.into(),
            media,
            format: PostFormat::Single,
            cover: 0,
        }
    }
}

/// Access and refresh tokens; held in `secrecy` types so they never reach logs.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Platform-specific extras (page id, person URN, scopes...). Not secret.
    pub extra: serde_json::Value,
}

/// The account a post goes to.
#[derive(Clone, Debug)]
pub struct AccountRef {
    pub id: String,
    pub workspace_id: String,
    /// The platform's id for the account (page id, IG user id, person/org URN...).
    pub external_id: String,
}

/// Everything a publish phase may need besides the draft.
#[derive(Clone, Debug)]
pub struct PublishCtx {
    pub account: AccountRef,
    pub credentials: Credentials,
    /// The attempt's id; stable across retries, usable as an idempotency hint.
    pub attempt_id: String,
    /// What an earlier `prepare` of this attempt stored, if any.
    pub checkpoint: Option<serde_json::Value>,
    /// When `commit` was first called for this attempt; bounds reconcile's search window.
    pub committing_since: Option<DateTime<Utc>>,
    /// Caption and media hash, so reconcile can match the post on the platform.
    pub caption: String,
    pub media_sha256: Vec<String>,
    /// Remote ids that other posts to this account already hold (filled for reconcile). A
    /// reconcile that finds the post by its content (caption, title) skips these: two posts
    /// with the same caption are two posts on the platform, and taking an earlier one for
    /// this one would mark this one published without sending it.
    pub taken_remote_ids: Vec<String>,
    /// Lets `commit` store what the platform answered before the outcome is final (TikTok's
    /// `publish_id`) as the attempt's checkpoint, so a reconcile after a crash can ask about
    /// it, and `prepare` the steps of a multi-call upload done so far (the next `prepare` finds
    /// them in `checkpoint`). `None` where nothing durable is behind the attempt.
    pub checkpointer: Option<Checkpointer>,
}

/// The durable side of [`Checkpointer`]: the runtime writes the attempt's checkpoint column.
#[async_trait::async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Replaces the attempt's checkpoint; returns once it is durable.
    async fn save(&self, checkpoint: &serde_json::Value) -> Result<(), crate::ConnectorError>;
}

/// A handle on the attempt's checkpoint, for `prepare` and `commit` (see
/// [`PublishCtx::checkpointer`]).
#[derive(Clone)]
pub struct Checkpointer(Arc<dyn CheckpointStore>);

impl Checkpointer {
    pub fn new(store: Arc<dyn CheckpointStore>) -> Self {
        Self(store)
    }

    /// Stores `checkpoint` as the attempt's checkpoint (the whole value, not a patch).
    pub async fn save(&self, checkpoint: &serde_json::Value) -> Result<(), crate::ConnectorError> {
        self.0.save(checkpoint).await
    }
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpointer")
    }
}

impl PublishCtx {
    /// Whether another post of this account already holds `remote_id` (see
    /// [`PublishCtx::taken_remote_ids`]).
    pub fn is_taken(&self, remote_id: &str) -> bool {
        self.taken_remote_ids.iter().any(|t| t == remote_id)
    }

    /// Saves `checkpoint` through the runtime when it provides a store; `Ok(false)` when it
    /// does not (tests, one-shot tools), so callers can decide whether that matters.
    pub async fn save_checkpoint(
        &self,
        checkpoint: &serde_json::Value,
    ) -> Result<bool, crate::ConnectorError> {
        match &self.checkpointer {
            Some(c) => c.save(checkpoint).await.map(|()| true),
            None => Ok(false),
        }
    }
}

/// Output of `prepare`, stored as the attempt's checkpoint (JSON) before `commit` runs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Prepared {
    pub checkpoint: serde_json::Value,
}

/// A post that exists on the platform.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Published {
    pub remote_id: String,
    pub url: Option<String>,
}

/// Answer of `reconcile`.
#[derive(Clone, Debug, PartialEq)]
pub enum Reconciled {
    /// The platform has the post.
    Landed(Published),
    /// The platform confirms there is no such post; committing again is safe.
    Absent,
    /// The platform cannot tell (yet); a person or a later reconcile must decide.
    Unknown(String),
}

/// One problem found by `validate`, naming the field and the rule.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ValidationIssue {
    pub field: String,
    pub rule: String,
    pub message: String,
}

impl ValidationIssue {
    pub fn new(field: impl Into<String>, rule: impl Into<String>, message: String) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
            message,
        }
    }
}

impl std::fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.rule)
    }
}

/// OAuth2 authorization-code endpoints for a platform.
#[derive(Clone, Debug)]
pub struct OAuthSpec {
    pub authorize_url: String,
    pub token_url: String,
    pub scopes: Vec<String>,
    pub pkce: bool,
}

impl Credentials {
    /// The credentials to store after a refresh: `fresh`, except that a missing or empty refresh
    /// token never overwrites the stored one (several platforms omit it when it did not rotate),
    /// and a `null` extra keeps the stored extra.
    pub fn merge_refreshed(&self, fresh: Credentials) -> Credentials {
        let extra = if fresh.extra.is_null() {
            self.extra.clone()
        } else {
            fresh.extra.clone()
        };
        Credentials {
            refresh_token: if fresh.rotates_refresh_token() {
                fresh.refresh_token
            } else {
                self.refresh_token.clone()
            },
            extra,
            ..fresh
        }
    }

    /// True when these (freshly refreshed) credentials carry a new, non-empty refresh token
    /// that must replace the stored one.
    pub fn rotates_refresh_token(&self) -> bool {
        use secrecy::ExposeSecret;
        self.refresh_token
            .as_ref()
            .is_some_and(|t| !t.expose_secret().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn creds(refresh: Option<&str>, extra: serde_json::Value) -> Credentials {
        Credentials {
            access_token: SecretString::from("new-access"),
            refresh_token: refresh.map(SecretString::from),
            expires_at: None,
            extra,
        }
    }

    fn refresh_of(c: &Credentials) -> Option<&str> {
        c.refresh_token.as_ref().map(|t| t.expose_secret())
    }

    #[test]
    fn merge_keeps_the_stored_refresh_token_unless_a_new_one_came() {
        let stored = creds(Some("rt-1"), serde_json::json!({"a": 1}));
        for fresh in [None, Some("")] {
            let merged = stored.merge_refreshed(creds(fresh, serde_json::Value::Null));
            assert_eq!(refresh_of(&merged), Some("rt-1"), "{fresh:?}");
            assert_eq!(merged.access_token.expose_secret(), "new-access");
            assert_eq!(merged.extra, serde_json::json!({"a": 1}));
        }
        let merged = stored.merge_refreshed(creds(Some("rt-2"), serde_json::json!({"a": 2})));
        assert_eq!(refresh_of(&merged), Some("rt-2"));
        assert_eq!(merged.extra, serde_json::json!({"a": 2}));
        assert!(!creds(Some(""), serde_json::Value::Null).rotates_refresh_token());
        assert!(creds(Some("x"), serde_json::Value::Null).rotates_refresh_token());
    }
}
