//! Publishing on a Page: refresh (re-derive the Page token), prepare (token and throttle
//! check), commit (`POST /{page-id}/photos` with the image bytes, caption and alt text),
//! reconcile (find the post among the Page's recent posts by caption and time). A Page
//! story (PLATFORMS.md §8.2b) uploads its photo unpublished in prepare (kept in the
//! checkpoint), publishes it with `POST /{page-id}/photo_stories` in commit, and is found by
//! that photo's id among the Page's stories in reconcile.

use chrono::{DateTime, Utc};
use pressroom_connector::{
    ConnectorError, Credentials, PostDraft, PostFormat, Prepared, PublishCtx, Published, Reconciled,
};
use secrecy::SecretString;
use serde_json::{Value, json};

use connector_meta_graph::comments;

use crate::client::GraphClient;

/// Clock skew allowed when matching a post's `created_time` against `committing_since`.
const SKEW_SECS: i64 = 300;
/// Pages of `/published_posts` reconcile reads before giving up with "unknown".
const RECONCILE_PAGES: usize = 10;
/// Posts per listing page (the Graph API's largest `limit` for this edge).
const RECONCILE_PAGE_SIZE: &str = "100";

fn page_id(ctx: &PublishCtx) -> &str {
    ctx.credentials
        .extra
        .get("page_id")
        .and_then(Value::as_str)
        .unwrap_or(&ctx.account.external_id)
}

fn str_field<'a>(v: &'a Value, f: &str) -> Option<&'a str> {
    v.get(f).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Re-derives the Page token from the long-lived user token (`GET /{page-id}?fields=access_token`).
/// Any auth failure of the user token means a person must log in again.
pub(crate) async fn refresh(
    client: &GraphClient,
    creds: &Credentials,
) -> Result<Credentials, ConnectorError> {
    let user = creds.refresh_token.as_ref().ok_or_else(|| {
        ConnectorError::Disconnected("no user token stored; reconnect the Facebook Page".into())
    })?;
    let page = str_field(&creds.extra, "page_id").ok_or_else(|| {
        ConnectorError::Disconnected("no page_id stored; reconnect the Facebook Page".into())
    })?;
    let req = client
        .graph
        .get(page, user)
        .query(&[("fields", "id,access_token")]);
    let v = match client.call(page, req, false).await {
        Ok(v) => v,
        Err(ConnectorError::AuthExpired) => {
            return Err(ConnectorError::Disconnected(
                "the Facebook user token expired or was revoked; reconnect".into(),
            ));
        }
        Err(e) => return Err(e),
    };
    let token = str_field(&v, "access_token").ok_or_else(|| {
        ConnectorError::Disconnected("the user no longer manages this Page; reconnect".into())
    })?;
    Ok(Credentials {
        access_token: SecretString::from(token.to_owned()),
        refresh_token: None,
        expires_at: None,
        extra: creds.extra.clone(),
    })
}

/// Checks the Page token and usage with one cheap read; nothing to upload ahead of time
/// (the photo goes up with the publish call), so this is safe to repeat.
pub(crate) async fn prepare(
    client: &GraphClient,
    ctx: &PublishCtx,
    draft: &PostDraft,
) -> Result<Prepared, ConnectorError> {
    let page = page_id(ctx);
    client.check_throttle(page)?;
    let media = draft
        .media
        .first()
        .ok_or_else(|| ConnectorError::Rejected("no image".into()))?;
    let req = client
        .graph
        .get(page, &ctx.credentials.access_token)
        .query(&[("fields", "id,name")]);
    client.call(page, req, false).await?;
    let mut checkpoint = json!({
        "page_id": page,
        "path": media.path,
        "mime": media.mime,
        "sha256": media.sha256,
        "caption": draft.caption,
        "alt_text": media.alt_text,
    });
    if draft.format == PostFormat::Carousel {
        // Each photo goes up unpublished, with its alt text; the ids are saved as they come,
        // so a prepare after a restart uploads only the rest.
        let mut photos: Vec<String> = ctx
            .checkpoint
            .as_ref()
            .and_then(|c| c.get("photo_ids"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        photos.truncate(draft.media.len());
        for media in &draft.media[photos.len()..] {
            photos.push(upload_unpublished(client, ctx, page, media).await?);
            checkpoint["carousel"] = true.into();
            checkpoint["photo_ids"] = json!(photos);
            ctx.save_checkpoint(&checkpoint).await?;
        }
        checkpoint["carousel"] = true.into();
        checkpoint["photo_ids"] = json!(photos);
    }
    if draft.format == PostFormat::Story {
        // The story's photo goes up unpublished first; an earlier prepare's upload is reused
        // (an unused unpublished photo is harmless, a second one only clutter).
        let photo_id = match ctx
            .checkpoint
            .as_ref()
            .and_then(|c| str_field(c, "photo_id"))
        {
            Some(id) => id.to_owned(),
            None => upload_unpublished(client, ctx, page, media).await?,
        };
        checkpoint["story"] = true.into();
        checkpoint["photo_id"] = photo_id.into();
        ctx.save_checkpoint(&checkpoint).await?;
    }
    Ok(Prepared { checkpoint })
}

/// `POST /{page-id}/photos` with `published=false`: the photo a story is made of.
async fn upload_unpublished(
    client: &GraphClient,
    ctx: &PublishCtx,
    page: &str,
    media: &pressroom_connector::MediaRef,
) -> Result<String, ConnectorError> {
    let bytes = tokio::fs::read(&media.path)
        .await
        .map_err(|e| ConnectorError::transient(format!("reading {}: {e}", media.path.display())))?;
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("image")
        .mime_str(&media.mime)
        .map_err(|e| ConnectorError::Rejected(format!("bad mime type {}: {e}", media.mime)))?;
    let mut form = reqwest::multipart::Form::new()
        .part("source", part)
        .text("published", "false");
    if let Some(alt) = media.alt_text.as_deref() {
        form = form.text("alt_text_custom", alt.to_owned());
    }
    let req = client
        .graph
        .post(&format!("{page}/photos"), &ctx.credentials.access_token)
        .multipart(form);
    let v = client.call(page, req, false).await?;
    let id = str_field(&v, "id")
        .ok_or_else(|| ConnectorError::transient("photo upload answer without an id"))?;
    tracing::info!(
        page,
        photo_id = id,
        "facebook story photo uploaded (unpublished)"
    );
    Ok(id.to_owned())
}

fn is_story(checkpoint: &Value) -> bool {
    checkpoint.get("story").and_then(Value::as_bool) == Some(true)
}

/// `POST /{page-id}/photo_stories` with the unpublished photo: `{"success":true,"post_id"}`.
async fn commit_story(
    client: &GraphClient,
    ctx: &PublishCtx,
    page: &str,
    photo_id: &str,
) -> Result<Published, ConnectorError> {
    let req = client
        .graph
        .post(
            &format!("{page}/photo_stories"),
            &ctx.credentials.access_token,
        )
        .form(&[("photo_id", photo_id)]);
    let v = client.call(page, req, true).await?;
    let post_id = str_field(&v, "post_id").ok_or_else(|| {
        ConnectorError::OutcomeUnknown("photo_stories answer without a post_id".into())
    })?;
    tracing::info!(page, post_id, "facebook story published");
    Ok(Published {
        remote_id: post_id.to_owned(),
        url: Some(format!("https://www.facebook.com/stories/{post_id}")),
    })
}

/// `POST /{page-id}/feed` with the message and the unpublished photos as `attached_media`
/// (PLATFORMS.md §8.2a); found afterwards like any feed post, by its message.
async fn commit_multi_photo(
    client: &GraphClient,
    ctx: &PublishCtx,
    page: &str,
    cp: &Value,
) -> Result<Published, ConnectorError> {
    let caption = cp
        .get("caption")
        .and_then(Value::as_str)
        .unwrap_or(&ctx.caption);
    let attached: Vec<Value> = cp
        .get("photo_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|id| json!({ "media_fbid": id }))
        .collect();
    if attached.is_empty() {
        return Err(ConnectorError::Rejected("checkpoint has no photos".into()));
    }
    let req = client
        .graph
        .post(&format!("{page}/feed"), &ctx.credentials.access_token)
        .json(&json!({ "message": caption, "attached_media": attached }));
    let v = client.call(page, req, true).await?;
    let post_id = str_field(&v, "id")
        .ok_or_else(|| ConnectorError::OutcomeUnknown("feed answer without an id".into()))?;
    tracing::info!(
        page,
        post_id,
        photos = attached.len(),
        "facebook multi-photo post published"
    );
    Ok(Published {
        remote_id: post_id.to_owned(),
        url: Some(format!("https://www.facebook.com/{post_id}")),
    })
}

/// The Page's stories, looked through for the one made of `photo_id`. Listing needs the
/// Page's story archive; without it the answer is an error, and the outcome stays unknown.
async fn reconcile_story(
    client: &GraphClient,
    ctx: &PublishCtx,
    page: &str,
    photo_id: &str,
) -> Result<Reconciled, ConnectorError> {
    let req = client
        .graph
        .get(&format!("{page}/stories"), &ctx.credentials.access_token)
        .query(&[("fields", "post_id,media_id,status,creation_time")]);
    let v = client.call(page, req, false).await?;
    let found = v
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| s.get("media_id").and_then(Value::as_str) == Some(photo_id))
        .and_then(|s| str_field(s, "post_id"));
    Ok(match found {
        Some(post_id) => Reconciled::Landed(Published {
            remote_id: post_id.to_owned(),
            url: Some(format!("https://www.facebook.com/stories/{post_id}")),
        }),
        None => Reconciled::Absent,
    })
}

pub(crate) async fn commit(
    client: &GraphClient,
    ctx: &PublishCtx,
    prepared: &Prepared,
) -> Result<Published, ConnectorError> {
    let cp = &prepared.checkpoint;
    let page = str_field(cp, "page_id").unwrap_or(page_id(ctx));
    client.check_throttle(page)?;
    if is_story(cp) {
        let photo_id = str_field(cp, "photo_id")
            .ok_or_else(|| ConnectorError::Rejected("checkpoint has no story photo".into()))?;
        return commit_story(client, ctx, page, photo_id).await;
    }
    if cp.get("carousel").and_then(Value::as_bool) == Some(true) {
        return commit_multi_photo(client, ctx, page, cp).await;
    }
    let path = str_field(cp, "path")
        .ok_or_else(|| ConnectorError::Rejected("checkpoint has no image path".into()))?;
    let mime = str_field(cp, "mime").unwrap_or("image/jpeg");
    let caption = cp
        .get("caption")
        .and_then(Value::as_str)
        .unwrap_or(&ctx.caption);
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| ConnectorError::transient(format!("reading {path}: {e}")))?;
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("image")
        .mime_str(mime)
        .map_err(|e| ConnectorError::Rejected(format!("bad mime type {mime}: {e}")))?;
    let mut form = reqwest::multipart::Form::new()
        .part("source", part)
        .text("caption", caption.to_owned())
        .text("published", "true");
    if let Some(alt) = str_field(cp, "alt_text") {
        // The person-written description; `alt_text` is Facebook's own (§8.2d).
        form = form.text("alt_text_custom", alt.to_owned());
    }
    let req = client
        .graph
        .post(&format!("{page}/photos"), &ctx.credentials.access_token)
        .multipart(form);
    let v = client.call(page, req, true).await?;
    let post_id = str_field(&v, "post_id").or_else(|| str_field(&v, "id"));
    let post_id = post_id
        .ok_or_else(|| ConnectorError::OutcomeUnknown("publish answer without an id".into()))?;
    tracing::info!(page, post_id, "facebook photo published");
    Ok(Published {
        remote_id: post_id.to_owned(),
        url: Some(format!("https://www.facebook.com/{post_id}")),
    })
}

/// Lists the Page's posts since the commit started and matches the caption, skipping posts
/// that other posts of ours already hold (`PublishCtx::taken_remote_ids`). Absent only
/// when the listing covered the whole window (the runtime takes it as final only after
/// `Connector::absent_final_after`).
pub(crate) async fn reconcile(
    client: &GraphClient,
    ctx: &PublishCtx,
    prepared: Option<&Prepared>,
) -> Result<Reconciled, ConnectorError> {
    let page = prepared
        .and_then(|p| str_field(&p.checkpoint, "page_id"))
        .unwrap_or(page_id(ctx))
        .to_owned();
    if let Some(cp) = prepared.map(|p| &p.checkpoint).filter(|cp| is_story(cp)) {
        return match str_field(cp, "photo_id") {
            Some(photo_id) => reconcile_story(client, ctx, &page, photo_id).await,
            None => Ok(Reconciled::Absent),
        };
    }
    let caption = prepared
        .and_then(|p| p.checkpoint.get("caption"))
        .and_then(Value::as_str)
        .unwrap_or(&ctx.caption);
    let Some(since) = ctx
        .committing_since
        .map(|t| t - chrono::Duration::seconds(SKEW_SECS))
    else {
        return Ok(Reconciled::Unknown("no commit start time recorded".into()));
    };
    let mut req = client
        .graph
        .get(
            &format!("{page}/published_posts"),
            &ctx.credentials.access_token,
        )
        .query(&[
            ("fields", "id,message,created_time,permalink_url"),
            ("since", &since.timestamp().to_string()),
            ("limit", RECONCILE_PAGE_SIZE),
        ]);
    for _ in 0..RECONCILE_PAGES {
        let v = client.call(&page, req, false).await?;
        for post in v
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let created = str_field(post, "created_time").and_then(parse_graph_time);
            let in_window = created.is_none_or(|c| c >= since);
            if in_window && post.get("message").and_then(Value::as_str) == Some(caption) {
                // Another post of ours with the same caption is not this one.
                let Some(id) = str_field(post, "id").filter(|id| !ctx.is_taken(id)) else {
                    continue;
                };
                let url = str_field(post, "permalink_url")
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("https://www.facebook.com/{id}"));
                return Ok(Reconciled::Landed(Published {
                    remote_id: id.to_owned(),
                    url: Some(url),
                }));
            }
        }
        match v.pointer("/paging/next").and_then(Value::as_str) {
            Some(next) if !client.graph.is_own_url(next) => {
                return Ok(Reconciled::Unknown(
                    "the listing's next page is on another host; not sending the token there"
                        .into(),
                ));
            }
            Some(next) => {
                req = client
                    .graph
                    .http
                    .get(crate::client::strip_token(next))
                    .bearer_auth(secrecy::ExposeSecret::expose_secret(
                        &ctx.credentials.access_token,
                    ))
            }
            None => return Ok(Reconciled::Absent),
        }
    }
    Ok(Reconciled::Unknown(
        "too many posts in the window to be sure".into(),
    ))
}

/// Graph timestamps look like `2026-11-25T08:00:00+0000`.
fn parse_graph_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `POST /{post-id}/comments` with the Page token: the Page comments on its own post
/// (PLATFORMS.md §8.2c).
pub(crate) async fn comment(
    client: &GraphClient,
    ctx: &PublishCtx,
    post_id: &str,
    text: &str,
) -> Result<String, ConnectorError> {
    let page = page_id(ctx);
    client.check_throttle(page)?;
    let req = client
        .graph
        .post(
            &format!("{post_id}/comments"),
            &ctx.credentials.access_token,
        )
        .form(&[("message", text)]);
    let v = client.call(page, req, true).await?;
    let id = str_field(&v, "id")
        .ok_or_else(|| ConnectorError::OutcomeUnknown("the comment answer has no id".into()))?;
    tracing::info!(page, post_id, comment = id, "facebook comment posted");
    Ok(id.to_owned())
}

/// The Page's own comment with exactly `text` on `post_id`, if listed.
pub(crate) async fn find_comment(
    client: &GraphClient,
    ctx: &PublishCtx,
    post_id: &str,
    text: &str,
) -> Result<Option<String>, ConnectorError> {
    let page = page_id(ctx);
    comments::search(post_id, "message", page, text, |after| async move {
        let query = comments::page_query("id,message,from,created_time", "100", after);
        let req = client
            .graph
            .get(
                &format!("{post_id}/comments"),
                &ctx.credentials.access_token,
            )
            .query(&query);
        client.call(page, req, false).await
    })
    .await
}
