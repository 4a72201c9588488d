use std::path::PathBuf;

use chrono::{DateTime, Utc};
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
}

/// The post as the runtime hands it to a connector.
#[derive(Clone, Debug)]
pub struct PostDraft {
    pub caption: String,
    pub media: Vec<MediaRef>,
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
    /// token never overwrites the stored one (several platforms omit it when it did not rotate).
    pub fn merge_refreshed(&self, fresh: Credentials) -> Credentials {
        use secrecy::ExposeSecret;
        let keep_old = fresh
            .refresh_token
            .as_ref()
            .is_none_or(|t| t.expose_secret().is_empty());
        Credentials {
            refresh_token: if keep_old {
                self.refresh_token.clone()
            } else {
                fresh.refresh_token
            },
            ..fresh
        }
    }
}
