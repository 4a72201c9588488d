//! Image Story / Saved Story through the Public Profile API (PLATFORMS.md §5.3).
//!
//! prepare: `my_profile` (profile id and user name), encrypt the rendition (AES-256-CBC),
//! create the media object with key + IV, upload the ciphertext (multipart ADD, one part: images
//! are ≤ 20 MB, parts may be 32 MB), FINALIZE. The media id is the checkpoint; a media object
//! lives 24 h, so a checkpoint older than 23 h is redone. After the create and after the upload
//! prepare saves how far it got ([`Upload`]), so a failed step is the only one the next try
//! repeats (four calls in a row, each of which may fail, otherwise start over from the first).
//! commit: post the story (or saved story). reconcile: list the profile's stories and look for
//! this attempt's media id.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use pressroom_connector::{ConnectorError, PostDraft, Prepared, PublishCtx, Published, Reconciled};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::Client;
use crate::config::PostAs;
use crate::encrypt;
use crate::errors::Phase;

/// Saved Story titles are limited to 45 characters.
pub const SAVED_STORY_TITLE_MAX: usize = 45;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub profile_id: String,
    pub user_name: String,
    pub media_id: String,
    pub post_as: PostAs,
    pub title: String,
    pub media_created_at: DateTime<Utc>,
}

/// How far `prepare` got, saved as the attempt's checkpoint while it is preparing.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Upload {
    stage: UploadStage,
    profile_id: String,
    user_name: String,
    media_id: String,
    add_path: String,
    finalize_path: String,
    /// The media object's key and IV (base64): a repeated part upload must use them.
    key: String,
    iv: String,
    media_created_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum UploadStage {
    /// The media object exists; its part is not uploaded yet.
    Created,
    /// The part is uploaded; FINALIZE is next.
    Uploaded,
}

#[derive(Deserialize)]
struct MyProfile {
    public_profile: Profile,
}

#[derive(Deserialize)]
struct Profile {
    id: String,
    #[serde(default)]
    snap_user_name: String,
}

#[derive(Deserialize)]
struct MediaCreated {
    media_id: String,
    add_path: String,
    finalize_path: String,
}

pub async fn prepare(
    client: &Client,
    ctx: &PublishCtx,
    draft: &PostDraft,
) -> Result<Prepared, ConnectorError> {
    // A story target is always a Story; a single post goes as the config says (a Story by
    // default, or a Saved Story with the caption as its title).
    let post_as = match draft.format {
        pressroom_connector::PostFormat::Story => PostAs::Story,
        pressroom_connector::PostFormat::Single | pressroom_connector::PostFormat::Carousel => {
            client.cfg.post_as
        }
    };
    let title: String = draft.caption.chars().take(SAVED_STORY_TITLE_MAX).collect();
    if let Some(cp) = ctx
        .checkpoint
        .as_ref()
        .and_then(|v| serde_json::from_value::<Checkpoint>(v.clone()).ok())
        .filter(|cp| Utc::now() - cp.media_created_at < chrono::Duration::hours(23))
    {
        return to_prepared(Checkpoint {
            post_as,
            title,
            ..cp
        });
    }
    let media = draft
        .media
        .first()
        .ok_or_else(|| ConnectorError::Rejected("a Snapchat Story takes one image".into()))?;
    let token = &ctx.credentials.access_token;
    let resumed = ctx
        .checkpoint
        .as_ref()
        .and_then(|v| serde_json::from_value::<Upload>(v.clone()).ok())
        .filter(|u| Utc::now() - u.media_created_at < chrono::Duration::hours(23));
    let mut upload = match resumed {
        Some(upload) => upload,
        None => create_media(client, ctx, token).await?,
    };
    if upload.stage == UploadStage::Created {
        let plain = tokio::fs::read(&media.path).await.map_err(|e| {
            ConnectorError::transient(format!("reading rendition {}: {e}", media.path.display()))
        })?;
        let key = decode_fixed::<32>(&upload.key)?;
        let iv = decode_fixed::<16>(&upload.iv)?;
        let part = Part::bytes(encrypt::encrypt(&plain, key, iv))
            .file_name("media.enc")
            .mime_str("application/octet-stream")
            .map_err(ConnectorError::transient)?;
        let add = Form::new()
            .text("action", "ADD")
            .text("part_number", "1")
            .part("file", part);
        upload_step(client, &upload.add_path, token, add).await?;
        upload.stage = UploadStage::Uploaded;
        save(ctx, &upload).await?;
    }
    let fin = Form::new().text("action", "FINALIZE");
    upload_step(client, &upload.finalize_path, token, fin).await?;

    to_prepared(Checkpoint {
        profile_id: upload.profile_id,
        user_name: upload.user_name,
        media_id: upload.media_id,
        post_as,
        title,
        media_created_at: upload.media_created_at,
    })
}

/// `my_profile` (checks the token is this account's), then a media object with a fresh key
/// and IV; saved as the attempt's checkpoint before the upload.
async fn create_media(
    client: &Client,
    ctx: &PublishCtx,
    token: &secrecy::SecretString,
) -> Result<Upload, ConnectorError> {
    let me: MyProfile = client
        .send(
            client.request(Method::GET, "/v1/public_profiles/my_profile", token),
            Phase::Safe,
        )
        .await?;
    let profile_id = me.public_profile.id;
    if !ctx.account.external_id.is_empty() && ctx.account.external_id != profile_id {
        return Err(ConnectorError::Disconnected(format!(
            "the token belongs to Snapchat profile {profile_id}, not {}; reconnect the account",
            ctx.account.external_id
        )));
    }
    let key: [u8; 32] = rand::random();
    let iv: [u8; 16] = rand::random();
    let create = client
        .request(
            Method::POST,
            &format!("/v1/public_profiles/{profile_id}/media"),
            token,
        )
        .json(&json!({
            "type": "IMAGE",
            "name": format!("pressroom-{}", ctx.attempt_id),
            "key": STANDARD.encode(key),
            "iv": STANDARD.encode(iv),
        }));
    let created: MediaCreated = client.send(create, Phase::Safe).await?;
    let upload = Upload {
        stage: UploadStage::Created,
        profile_id,
        user_name: me.public_profile.snap_user_name,
        media_id: created.media_id,
        add_path: created.add_path,
        finalize_path: created.finalize_path,
        key: STANDARD.encode(key),
        iv: STANDARD.encode(iv),
        media_created_at: Utc::now(),
    };
    save(ctx, &upload).await?;
    Ok(upload)
}

/// One multipart call of the media upload (ADD or FINALIZE) on the path the create answered.
async fn upload_step(
    client: &Client,
    path: &str,
    token: &secrecy::SecretString,
    form: Form,
) -> Result<(), ConnectorError> {
    let _: Value = client
        .send(
            client.request(Method::POST, path, token).multipart(form),
            Phase::Safe,
        )
        .await?;
    Ok(())
}

/// Saves how far prepare got (where the runtime keeps checkpoints; elsewhere a failed step
/// starts over, as before).
async fn save(ctx: &PublishCtx, upload: &Upload) -> Result<(), ConnectorError> {
    let value = serde_json::to_value(upload)
        .map_err(|e| ConnectorError::transient(format!("encoding checkpoint: {e}")))?;
    ctx.save_checkpoint(&value).await.map(|_| ())
}

fn decode_fixed<const N: usize>(b64: &str) -> Result<[u8; N], ConnectorError> {
    STANDARD
        .decode(b64)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
        .ok_or_else(|| ConnectorError::transient("unreadable media key in the checkpoint"))
}

pub async fn commit(
    client: &Client,
    ctx: &PublishCtx,
    prepared: &Prepared,
) -> Result<Published, ConnectorError> {
    let cp = checkpoint(prepared)?;
    let token = &ctx.credentials.access_token;
    let (path, body) = match cp.post_as {
        PostAs::Story => (
            format!("/v1/public_profiles/{}/stories", cp.profile_id),
            json!({ "media_id": cp.media_id }),
        ),
        PostAs::SavedStory => (
            format!("/v1/public_profiles/{}/saved_stories", cp.profile_id),
            json!({ "saved_stories": [{ "title": cp.title, "snap_sources": [{ "media_id": cp.media_id }] }] }),
        ),
    };
    let answer: Value = client
        .send(
            client.request(Method::POST, &path, token).json(&body),
            Phase::Commit,
        )
        .await?;
    if let Some(item) = answer.pointer("/saved_stories/0")
        && item.get("sub_request_status").and_then(Value::as_str) == Some("ERROR")
    {
        let err: crate::errors::SnapError =
            serde_json::from_value(item.clone()).unwrap_or_default();
        return Err(crate::errors::refused(&err));
    }
    let id = story_id(&answer).unwrap_or_else(|| cp.media_id.clone());
    Ok(published(&cp, id))
}

/// The story id wherever the answer puts it (layouts differ between OSS clients; UNVERIFIED).
fn story_id(v: &Value) -> Option<String> {
    [
        "/story/id",
        "/stories/0/story/id",
        "/stories/0/id",
        "/saved_stories/0/saved_story/id",
        "/saved_stories/0/id",
        "/id",
    ]
    .iter()
    .find_map(|p| v.pointer(p).and_then(Value::as_str).map(str::to_owned))
}

fn published(cp: &Checkpoint, id: String) -> Published {
    let url = (!cp.user_name.is_empty())
        .then(|| format!("https://www.snapchat.com/add/{}", cp.user_name));
    Published { remote_id: id, url }
}

pub async fn reconcile(
    client: &Client,
    ctx: &PublishCtx,
    prepared: Option<&Prepared>,
) -> Result<Reconciled, ConnectorError> {
    let Some(cp) = prepared.map(checkpoint).transpose()? else {
        return Ok(Reconciled::Unknown(
            "no media id for this attempt; check the profile in Snapchat".into(),
        ));
    };
    let collection = match cp.post_as {
        PostAs::Story => "stories",
        PostAs::SavedStory => "saved_stories",
    };
    let path = format!("/v1/public_profiles/{}/{collection}", cp.profile_id);
    let list: Value = client
        .send(
            client.request(Method::GET, &path, &ctx.credentials.access_token),
            Phase::Safe,
        )
        .await?;
    let items = list
        .get(collection)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for item in &items {
        let inner = item
            .get("story")
            .or_else(|| item.get("saved_story"))
            .unwrap_or(item);
        let has_media = inner.get("media_id").and_then(Value::as_str) == Some(cp.media_id.as_str())
            || inner
                .pointer("/snap_sources")
                .and_then(Value::as_array)
                .is_some_and(|s| {
                    s.iter().any(|x| {
                        x.get("media_id").and_then(Value::as_str) == Some(cp.media_id.as_str())
                    })
                });
        if has_media {
            let id = inner
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or(&cp.media_id)
                .to_owned();
            return Ok(Reconciled::Landed(published(&cp, id)));
        }
    }
    // The listing holds every live story of the profile (stories live 24 h; our media object
    // too), so a missing media id means the post was not made.
    Ok(Reconciled::Absent)
}

fn to_prepared(cp: Checkpoint) -> Result<Prepared, ConnectorError> {
    let checkpoint = serde_json::to_value(cp)
        .map_err(|e| ConnectorError::transient(format!("encoding checkpoint: {e}")))?;
    Ok(Prepared { checkpoint })
}

fn checkpoint(prepared: &Prepared) -> Result<Checkpoint, ConnectorError> {
    serde_json::from_value(prepared.checkpoint.clone())
        .map_err(|e| ConnectorError::Rejected(format!("unreadable Snapchat checkpoint: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn story_ids_in_the_known_layouts() {
        assert_eq!(
            story_id(&json!({"story":{"id":"s1"}})).as_deref(),
            Some("s1")
        );
        assert_eq!(
            story_id(&json!({"stories":[{"story":{"id":"s2"}}]})).as_deref(),
            Some("s2")
        );
        assert_eq!(
            story_id(&json!({"saved_stories":[{"saved_story":{"id":"s3"}}]})).as_deref(),
            Some("s3")
        );
        assert_eq!(story_id(&json!({"request_status":"SUCCESS"})), None);
    }
}
