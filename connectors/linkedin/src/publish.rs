//! prepare and reconcile against the Images API and the Posts API (commit: `commit.rs`).
//!
//! prepare: initializeUpload → PUT the bytes → (organizations: wait for AVAILABLE); the image
//! URN is the checkpoint. reconcile: list the author's recent posts and look for our image URN
//! (unique to this attempt's upload); without a checkpoint, for the same commentary inside the
//! commit window.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pressroom_connector::{
    ConnectorError, MediaRef, PostDraft, PostFormat, Prepared, PublishCtx, Published, Reconciled,
};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::Client;
use crate::errors::Phase;

/// What `prepare` stores and `commit`/`reconcile` read back.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    /// `urn:li:person:…` or `urn:li:organization:…`.
    pub author: String,
    /// `urn:li:image:…`, uploaded and ready.
    pub image: String,
    /// The commentary exactly as sent (little-text escaped).
    pub commentary: String,
    /// The image's alt text (`content.media.altText`; absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
    /// A MultiImage post's images in order (`image` is the first), with their alt texts;
    /// empty for a one-image post.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alt_texts: Vec<Option<String>>,
}

/// Who posts: a member or an organization the member administers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthorKind {
    Member,
    Organization,
}

/// Checks the account's external id is an author URN LinkedIn accepts.
pub fn author(external_id: &str) -> Result<(String, AuthorKind), ConnectorError> {
    if external_id
        .strip_prefix("urn:li:person:")
        .is_some_and(|id| !id.is_empty())
    {
        return Ok((external_id.to_owned(), AuthorKind::Member));
    }
    if external_id
        .strip_prefix("urn:li:organization:")
        .is_some_and(|id| !id.is_empty())
    {
        return Ok((external_id.to_owned(), AuthorKind::Organization));
    }
    Err(ConnectorError::Rejected(format!(
        "LinkedIn account id {external_id:?} is not urn:li:person:… or urn:li:organization:…"
    )))
}

/// Escapes LinkedIn's "little" text format reserved characters. Unescaped, LinkedIn answers
/// 201 and silently truncates the commentary at the first one.
pub fn escape_little_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '|'
                | '{'
                | '}'
                | '@'
                | '['
                | ']'
                | '('
                | ')'
                | '<'
                | '>'
                | '#'
                | '*'
                | '_'
                | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Deserialize)]
struct InitResponse {
    value: InitValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitValue {
    upload_url: String,
    image: String,
}

#[derive(Deserialize)]
struct ImageStatus {
    status: String,
}

pub async fn prepare(
    client: &Client,
    ctx: &PublishCtx,
    draft: &PostDraft,
) -> Result<Prepared, ConnectorError> {
    let (author, kind) = author(&ctx.account.external_id)?;
    let commentary = escape_little_text(&draft.caption);
    if draft.format == PostFormat::Carousel {
        return prepare_multi(client, ctx, draft, author, kind, commentary).await;
    }
    if let Some(cp) = ctx
        .checkpoint
        .as_ref()
        .and_then(|v| serde_json::from_value::<Checkpoint>(v.clone()).ok())
        .filter(|cp| cp.author == author)
    {
        tracing::debug!(image = %cp.image, "Reusing the image uploaded by an earlier prepare.");
        let alt_text = draft.media.first().and_then(|m| m.alt_text.clone());
        return to_prepared(Checkpoint {
            commentary,
            alt_text,
            ..cp
        });
    }
    let media = draft
        .media
        .first()
        .ok_or_else(|| ConnectorError::Rejected("LinkedIn post needs one image".into()))?;
    let image = upload(client, ctx, &author, kind, media).await?;
    to_prepared(Checkpoint {
        author,
        image,
        commentary,
        alt_text: media.alt_text.clone(),
        images: Vec::new(),
        alt_texts: Vec::new(),
    })
}

/// One image through the Images API (PLATFORMS.md §3.3): initialize, upload, and for an
/// organization wait until AVAILABLE. Returns its `urn:li:image:…`.
async fn upload(
    client: &Client,
    ctx: &PublishCtx,
    author: &str,
    kind: AuthorKind,
    media: &MediaRef,
) -> Result<String, ConnectorError> {
    let bytes = tokio::fs::read(&media.path).await.map_err(|e| {
        ConnectorError::transient(format!("reading rendition {}: {e}", media.path.display()))
    })?;
    let token = &ctx.credentials.access_token;
    let init = client
        .rest(Method::POST, "/rest/images?action=initializeUpload", token)
        .json(&json!({ "initializeUploadRequest": { "owner": author } }));
    let init: InitResponse =
        Client::json(client.send(init, Phase::Safe).await?, Phase::Safe).await?;
    let put = client
        .absolute(Method::PUT, &init.value.upload_url, token)
        .header(reqwest::header::CONTENT_TYPE, media.mime.as_str())
        .body(bytes);
    client.send(put, Phase::Safe).await?;
    // Members cannot read image status (Postiz's observation): commit retries the create while
    // LinkedIn refuses it for a processing image. Organizations poll.
    if kind == AuthorKind::Organization {
        wait_available(client, token, &init.value.image).await?;
    }
    Ok(init.value.image)
}

/// A MultiImage post's images (PLATFORMS.md §8.3a), uploaded one by one and saved in the
/// checkpoint as they are, so a prepare after a restart uploads only the rest.
async fn prepare_multi(
    client: &Client,
    ctx: &PublishCtx,
    draft: &PostDraft,
    author: String,
    kind: AuthorKind,
    commentary: String,
) -> Result<Prepared, ConnectorError> {
    let mut images: Vec<String> = ctx
        .checkpoint
        .as_ref()
        .and_then(|v| serde_json::from_value::<Checkpoint>(v.clone()).ok())
        .filter(|cp| cp.author == author)
        .map(|cp| cp.images)
        .unwrap_or_default();
    images.truncate(draft.media.len());
    let alt_texts: Vec<Option<String>> = draft.media.iter().map(|m| m.alt_text.clone()).collect();
    let checkpoint = |images: &[String]| Checkpoint {
        author: author.clone(),
        image: images.first().cloned().unwrap_or_default(),
        commentary: commentary.clone(),
        alt_text: None,
        images: images.to_vec(),
        alt_texts: alt_texts.clone(),
    };
    for media in &draft.media[images.len()..] {
        images.push(upload(client, ctx, &author, kind, media).await?);
        let saved = to_prepared(checkpoint(&images))?;
        ctx.save_checkpoint(&saved.checkpoint).await?;
    }
    to_prepared(checkpoint(&images))
}

async fn wait_available(
    client: &Client,
    token: &secrecy::SecretString,
    image: &str,
) -> Result<(), ConnectorError> {
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(client.cfg.image_ready_timeout_secs);
    let path = format!("/rest/images/{}", encode(image));
    loop {
        match client
            .send(client.rest(Method::GET, &path, token), Phase::Safe)
            .await
        {
            Ok(resp) => {
                let st: ImageStatus = Client::json(resp, Phase::Safe).await?;
                match st.status.as_str() {
                    "AVAILABLE" => return Ok(()),
                    "PROCESSING_FAILED" => {
                        return Err(ConnectorError::Rejected(format!(
                            "LinkedIn could not process image {image} (PROCESSING_FAILED)"
                        )));
                    }
                    _ => {}
                }
            }
            // Not allowed to read images with this token: proceed as members do (commit waits).
            Err(ConnectorError::Disconnected(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ConnectorError::transient(format!(
                "LinkedIn image {image} not AVAILABLE after {}s",
                client.cfg.image_ready_timeout_secs
            )));
        }
        tokio::time::sleep(Duration::from_millis(client.cfg.image_poll_interval_ms)).await;
    }
}

#[derive(Deserialize)]
struct PostList {
    #[serde(default)]
    elements: Vec<PostElement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostElement {
    id: String,
    #[serde(default)]
    commentary: Option<String>,
    #[serde(default)]
    content: Option<serde_json::Value>,
    #[serde(default)]
    created_at: Option<i64>,
}

impl PostElement {
    /// The post's (first) image: `content.media.id`, or a MultiImage's first.
    fn media_id(&self) -> Option<&str> {
        let content = self.content.as_ref()?;
        content
            .pointer("/media/id")
            .or_else(|| content.pointer("/multiImage/images/0/id"))?
            .as_str()
    }
    fn created(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.created_at?)
    }
}

/// Slack for clock skew between us and LinkedIn when matching by time.
const SKEW: chrono::Duration = chrono::Duration::minutes(5);

pub async fn reconcile(
    client: &Client,
    ctx: &PublishCtx,
    prepared: Option<&Prepared>,
) -> Result<Reconciled, ConnectorError> {
    let cp = prepared.map(checkpoint).transpose()?;
    let author = match &cp {
        Some(cp) => cp.author.clone(),
        None => author(&ctx.account.external_id)?.0,
    };
    let count = client.cfg.reconcile_page_size.max(1);
    let pages = client.cfg.reconcile_max_pages.max(1);
    let since = ctx.committing_since.map(|t| t - SKEW);
    let commentary = cp
        .as_ref()
        .map(|cp| cp.commentary.clone())
        .unwrap_or_else(|| escape_little_text(&ctx.caption));
    // Newest first, page by page: a post created while we page pushes older ones to later
    // offsets (we may see one twice, never skip one).
    for page in 0..pages {
        let start = page * count;
        let req = client
            .rest(Method::GET, "/rest/posts", &ctx.credentials.access_token)
            .query(&[
                ("author", author.as_str()),
                ("q", "author"),
                ("start", &start.to_string()),
                ("count", &count.to_string()),
                ("sortBy", "LAST_MODIFIED"),
            ]);
        let list: PostList =
            Client::json(client.send(req, Phase::Safe).await?, Phase::Safe).await?;
        for post in &list.elements {
            // The image URN is this attempt's own upload: with a checkpoint it alone decides.
            // The same commentary may be an earlier post of the same campaign text.
            let found = match &cp {
                Some(cp) => post.media_id() == Some(cp.image.as_str()),
                None => {
                    let in_window = match (since, post.created()) {
                        (Some(since), Some(created)) => created >= since,
                        _ => true,
                    };
                    // Another post of ours with the same text is not this one.
                    in_window
                        && post.commentary.as_deref() == Some(commentary.as_str())
                        && !ctx.is_taken(&post.id)
                }
            };
            if found {
                return Ok(Reconciled::Landed(published(post.id.clone())));
            }
        }
        // "Absent" only if the listing reaches back past the commit: either it ended, or its
        // oldest post predates the window.
        let saw_all = (list.elements.len() as u32) < count;
        let reaches_back = match since {
            Some(since) => list
                .elements
                .iter()
                .filter_map(PostElement::created)
                .any(|c| c < since),
            None => false,
        };
        if saw_all || reaches_back {
            return Ok(Reconciled::Absent);
        }
    }
    Ok(Reconciled::Unknown(format!(
        "no match in the {} most recent posts of {author}, which do not reach back to the commit",
        u64::from(count) * u64::from(pages)
    )))
}

pub(crate) fn published(urn: String) -> Published {
    let url = format!("https://www.linkedin.com/feed/update/{urn}");
    Published {
        remote_id: urn,
        url: Some(url),
    }
}

fn to_prepared(cp: Checkpoint) -> Result<Prepared, ConnectorError> {
    let checkpoint = serde_json::to_value(cp)
        .map_err(|e| ConnectorError::transient(format!("encoding checkpoint: {e}")))?;
    Ok(Prepared { checkpoint })
}

pub(crate) fn checkpoint(prepared: &Prepared) -> Result<Checkpoint, ConnectorError> {
    serde_json::from_value(prepared.checkpoint.clone())
        .map_err(|e| ConnectorError::Rejected(format!("unreadable LinkedIn checkpoint: {e}")))
}

/// Percent-encodes a URN for a path segment (Rest.li 2.0 wants `urn%3Ali%3Aimage%3A…`).
pub(crate) fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_text_reserved_characters_are_escaped() {
        assert_eq!(
            escape_little_text("Launch (today) #news @team [x] a_b *c* ~d <e> {f} |g| \\"),
            "Launch \\(today\\) \\#news \\@team \\[x\\] a\\_b \\*c\\* \\~d \\<e\\> \\{f\\} \\|g\\| \\\\"
        );
        assert_eq!(escape_little_text("plain text."), "plain text.");
    }

    #[test]
    fn authors_must_be_person_or_organization_urns() {
        assert_eq!(
            author("urn:li:person:abc").ok().map(|a| a.1),
            Some(AuthorKind::Member)
        );
        assert_eq!(
            author("urn:li:organization:42").ok().map(|a| a.1),
            Some(AuthorKind::Organization)
        );
        assert!(author("abc").is_err());
        assert!(author("urn:li:person:").is_err());
    }
}
