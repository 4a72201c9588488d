//! Pulling a diffusers-layout model from a Hugging Face-compatible hub: the revision API names
//! the commit and its files, only the files the engine loads are fetched (one safetensors file
//! per component, saved under the plain name), each one resumable and verified against the
//! hub's hashes, and the folder is moved into place only once all of it is there.

mod client;
mod download;
#[cfg(feature = "fake-hub")]
pub mod fake;
mod progress;
mod pull;
mod select;
mod space;

use secrecy::SecretString;

use crate::error::{ModelError, Result};
use crate::store::ModelStore;

pub use progress::ProgressMode;
pub use pull::pull;

/// The public hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// What `pressroom model pull` was asked for.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// `OWNER/NAME` on the hub.
    pub repo: String,
    /// A branch, tag or commit; the hub resolves it to one commit, which every file is then
    /// fetched from.
    pub revision: String,
    /// The model's name in the store; `None`: derived from the repo (see [`default_name`]).
    pub name: Option<String>,
    /// Weights variant to prefer (`fp16`); `None`: full precision.
    pub variant: Option<String>,
    /// Replace a model of the same name (once the new one is complete).
    pub force: bool,
    /// The hub's base URL, e.g. `https://huggingface.co`.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer` to the hub (never to the CDN it redirects to).
    pub token: Option<SecretString>,
    pub store: ModelStore,
    pub progress: ProgressMode,
}

/// `REPO[@REVISION]` as typed on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubRef {
    pub repo: String,
    pub revision: String,
}

impl HubRef {
    /// Parses `OWNER/NAME[@REVISION]`; the revision defaults to `main`.
    pub fn parse(text: &str) -> Result<HubRef> {
        let (repo, revision) = match text.split_once('@') {
            Some((repo, revision)) => (repo, revision),
            None => (text, "main"),
        };
        validate_repo(repo)?;
        validate_revision(revision)?;
        Ok(HubRef {
            repo: repo.to_string(),
            revision: revision.to_string(),
        })
    }
}

/// A repo id as the hub has them: `NAME` or `OWNER/NAME`, of letters, digits, `-`, `_`, `.`.
pub fn validate_repo(repo: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(ModelError::Hub(format!(
            "`{repo}` is not a hub repo id: {reason} (expected OWNER/NAME, e.g. stabilityai/sd-turbo)"
        )))
    };
    if repo.contains("://") {
        return bad("give the repo id, not its URL");
    }
    let segments: Vec<&str> = repo.split('/').collect();
    if segments.len() > 2 {
        return bad("more than one `/`");
    }
    for s in segments {
        if s.is_empty() || s.len() > 96 {
            return bad("each part must be 1 to 96 characters long");
        }
        if s.starts_with('.') || s.contains("..") {
            return bad("a part starts with `.` or contains `..`");
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return bad("use only letters, digits, `-`, `_` and `.`");
        }
    }
    Ok(())
}

fn validate_revision(revision: &str) -> Result<()> {
    if revision.is_empty()
        || revision.len() > 256
        || revision
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ModelError::Hub(format!(
            "`{revision}` is not a revision: give a branch, tag or commit after `@` (e.g. main)"
        )));
    }
    Ok(())
}

/// A variant is part of a file name (`model.fp16.safetensors`).
pub(crate) fn validate_variant(variant: &str) -> Result<()> {
    let ok = !variant.is_empty()
        && variant.len() <= 32
        && variant
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ModelError::Hub(format!(
            "--variant `{variant}`: use the name the repo's files carry, e.g. fp16"
        )))
    }
}

/// The store name a repo gets by default: its last path segment, lower-cased, with anything
/// the store does not allow turned into `-` (`stabilityai/SD-Turbo` -> `sd-turbo`).
pub fn default_name(repo: &str) -> Result<String> {
    let last = repo.rsplit('/').next().unwrap_or(repo);
    let mapped: String = last
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let name: String = trimmed.chars().take(64).collect();
    ModelStore::validate_name(&name).map_err(|_| {
        ModelError::Hub(format!(
            "no model name can be made from `{repo}`: pass --name NAME"
        ))
    })?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_with_main_by_default() {
        let r = HubRef::parse("stabilityai/sd-turbo").expect("valid");
        assert_eq!(
            (r.repo.as_str(), r.revision.as_str()),
            ("stabilityai/sd-turbo", "main")
        );
        let r = HubRef::parse("runwayml/stable-diffusion-v1-5@refs/pr/1").expect("valid");
        assert_eq!(r.revision, "refs/pr/1");
        assert!(HubRef::parse("gpt2").is_ok(), "legacy ids have no owner");
        for bad in [
            "",
            "a/b/c",
            "https://huggingface.co/stabilityai/sd-turbo",
            "a/../b",
            "a b/c",
            "owner/name@",
            "owner/name@has space",
        ] {
            assert!(HubRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_names_follow_the_store_rules() {
        let cases = [
            ("stabilityai/sd-turbo", "sd-turbo"),
            ("stabilityai/SDXL-Turbo", "sdxl-turbo"),
            ("someone/My Model+v2", "my-model-v2"),
            ("someone/_private.v1", "private.v1"),
        ];
        for (repo, name) in cases {
            assert_eq!(default_name(repo).expect(repo), name);
        }
        assert!(default_name("someone/___").is_err());
        assert_eq!(
            default_name(&format!("o/{}", "x".repeat(90)))
                .expect("long")
                .len(),
            64
        );
    }

    #[test]
    fn variants_are_file_name_parts() {
        assert!(validate_variant("fp16").is_ok());
        assert!(validate_variant("bf16").is_ok());
        for bad in ["", "FP16", "fp16.x", "../x"] {
            assert!(validate_variant(bad).is_err(), "{bad}");
        }
    }
}
