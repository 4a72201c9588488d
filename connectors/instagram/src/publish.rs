//! Publishing: container in `prepare` (reused from the checkpoint after a restart), status
//! and quota checks then `media_publish` in `commit`, container status in `reconcile`.

use chrono::{DateTime, Utc};
use pressroom_connector::{
    ConnectorError, PostDraft, PostFormat, Prepared, PublishCtx, Published, Reconciled,
};
use serde_json::{Value, json};

use crate::InstagramConnector;
use crate::status::ContainerStatus;

/// Clock skew allowed when matching a media's timestamp against `committing_since`.
const SKEW_SECS: i64 = 300;

pub(crate) fn str_field<'a>(v: &'a Value, f: &str) -> Option<&'a str> {
    v.get(f).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Whether a checkpoint is a story's (checkpoints written before stories have no flag).
fn is_story(checkpoint: &Value) -> bool {
    checkpoint.get("story").and_then(Value::as_bool) == Some(true)
}

pub(crate) fn ig_user(ctx: &PublishCtx) -> &str {
    str_field(&ctx.credentials.extra, "ig_user_id").unwrap_or(&ctx.account.external_id)
}

/// Graph timestamps look like `2026-11-25T08:00:00+0000`.
fn parse_graph_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl InstagramConnector {
    pub(crate) async fn status(
        &self,
        ctx: &PublishCtx,
        container: &str,
    ) -> Result<(ContainerStatus, String), ConnectorError> {
        let req = self
            .client
            .graph
            .get(container, &ctx.credentials.access_token)
            .query(&[("fields", "status_code,status")]);
        let v = self.client.call(req, false).await?;
        let code = v
            .get("status_code")
            .cloned()
            .map(serde_json::from_value)
            .and_then(Result::ok);
        Ok((
            code.unwrap_or(ContainerStatus::Unknown),
            str_field(&v, "status").unwrap_or("").to_owned(),
        ))
    }

    /// Polls while the container is processing, within the configured budget.
    pub(crate) async fn wait_ready(
        &self,
        ctx: &PublishCtx,
        container: &str,
    ) -> Result<(ContainerStatus, String), ConnectorError> {
        let mut last = self.status(ctx, container).await?;
        for _ in 1..self.cfg.status_poll_max.max(1) {
            if !matches!(
                last.0,
                ContainerStatus::InProgress | ContainerStatus::Unknown
            ) {
                break;
            }
            tokio::time::sleep(self.cfg.poll_interval()).await;
            last = self.status(ctx, container).await?;
        }
        Ok(last)
    }

    /// A feed image container (caption, alt text) or a story container, which takes
    /// neither (PLATFORMS.md §8.1b, d).
    async fn create_container(
        &self,
        ctx: &PublishCtx,
        image_url: &str,
        draft: &PostDraft,
    ) -> Result<String, ConnectorError> {
        let mut form = vec![("image_url", image_url)];
        if draft.format == PostFormat::Story {
            form.push(("media_type", "STORIES"));
        } else {
            form.push(("caption", &draft.caption));
            if let Some(alt) = draft.media.first().and_then(|m| m.alt_text.as_deref()) {
                form.push(("alt_text", alt));
            }
        }
        let id = self.post_container(ctx, &form).await?;
        tracing::info!(
            container = id,
            ig_user = ig_user(ctx),
            "instagram container created"
        );
        Ok(id)
    }

    /// `POST /{ig-user-id}/media` with `form`: any container (feed image, story, carousel
    /// child or parent); its id.
    pub(crate) async fn post_container(
        &self,
        ctx: &PublishCtx,
        form: &[(&str, &str)],
    ) -> Result<String, ConnectorError> {
        let req = self
            .client
            .graph
            .post(
                &format!("{}/media", ig_user(ctx)),
                &ctx.credentials.access_token,
            )
            .form(form);
        let v = self.client.call(req, false).await?;
        str_field(&v, "id")
            .map(str::to_owned)
            .ok_or_else(|| ConnectorError::transient("container answer without an id"))
    }

    /// Uses left in the rolling 24 h window: `(quota_usage, quota_total)`.
    async fn quota(&self, ctx: &PublishCtx) -> Result<(u64, u64), ConnectorError> {
        let req = self
            .client
            .graph
            .get(
                &format!("{}/content_publishing_limit", ig_user(ctx)),
                &ctx.credentials.access_token,
            )
            .query(&[("fields", "quota_usage,config")]);
        let v = self.client.call(req, false).await?;
        let entry = v.pointer("/data/0").cloned().unwrap_or(Value::Null);
        let used = entry
            .get("quota_usage")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let total = entry
            .pointer("/config/quota_total")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        Ok((used, total))
    }

    /// Finds the published media among the account's recent media by caption and time; a
    /// story (no caption) among the account's live stories by time alone. The container
    /// said PUBLISHED, so the story exists: two stories of one account published within the
    /// same window can at worst swap their ids, never make one count as published twice
    /// (ids other posts hold are skipped).
    async fn find_media(
        &self,
        ctx: &PublishCtx,
        caption: &str,
        story: bool,
    ) -> Result<Option<Published>, ConnectorError> {
        let since = ctx
            .committing_since
            .unwrap_or_else(|| Utc::now() - chrono::Duration::hours(24))
            - chrono::Duration::seconds(SKEW_SECS);
        let edge = if story { "stories" } else { "media" };
        let req = self
            .client
            .graph
            .get(
                &format!("{}/{edge}", ig_user(ctx)),
                &ctx.credentials.access_token,
            )
            .query(&[
                ("fields", "id,caption,timestamp,permalink"),
                ("limit", "50"),
            ]);
        let v = self.client.call(req, false).await?;
        for m in v
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let recent = str_field(m, "timestamp")
                .and_then(parse_graph_time)
                .is_none_or(|t| t >= since);
            if recent
                && (story || m.get("caption").and_then(Value::as_str).unwrap_or("") == caption)
                && let Some(id) = str_field(m, "id")
                && !ctx.is_taken(id)
            {
                return Ok(Some(Published {
                    remote_id: id.to_owned(),
                    url: str_field(m, "permalink").map(str::to_owned),
                }));
            }
        }
        Ok(None)
    }

    fn container_of<'a>(ctx: &'a PublishCtx, prepared: Option<&'a Prepared>) -> Option<&'a str> {
        prepared
            .map(|p| &p.checkpoint)
            .or(ctx.checkpoint.as_ref())
            .and_then(|c| str_field(c, "container_id"))
    }
}

/// Creates the container (or reuses the checkpoint's) and waits for processing within the
/// poll budget. Once a container exists, polling trouble never loses its id.
pub(crate) async fn prepare(
    ig: &InstagramConnector,
    ctx: &PublishCtx,
    draft: &PostDraft,
) -> Result<Prepared, ConnectorError> {
    let media = draft
        .media
        .first()
        .ok_or_else(|| ConnectorError::Rejected("no image".into()))?;
    let image_url = media.public_url.as_deref().ok_or_else(|| {
        ConnectorError::Rejected(
            "Instagram fetches images by URL; no public URL (set the public base URL)".into(),
        )
    })?;
    let mut container = None;
    if let Some(id) = ctx
        .checkpoint
        .as_ref()
        .and_then(|c| str_field(c, "container_id"))
    {
        match ig.status(ctx, id).await?.0 {
            // Dead containers can never be published; a new one is safe.
            ContainerStatus::Expired | ContainerStatus::Error => {}
            _ => container = Some(id.to_owned()),
        }
    }
    let container = match container {
        Some(c) => c,
        None if draft.format == PostFormat::Carousel => {
            crate::carousel::create_parent(ig, ctx, draft).await?
        }
        None => ig.create_container(ctx, image_url, draft).await?,
    };
    let story = draft.format == PostFormat::Story;
    let checkpoint = |status: &str| json!({"container_id": container, "ig_user_id": ig_user(ctx), "caption": draft.caption, "story": story, "status": status});
    match ig.wait_ready(ctx, &container).await {
        Ok((ContainerStatus::Error, text)) => Err(ConnectorError::Rejected(format!(
            "Instagram could not process the image: {text}"
        ))),
        Ok((status, _)) => Ok(Prepared {
            checkpoint: checkpoint(&format!("{status:?}")),
        }),
        Err(e) => {
            tracing::warn!(error = %e, container, "container status unknown after creation; commit will re-check");
            Ok(Prepared {
                checkpoint: checkpoint("Unknown"),
            })
        }
    }
}

pub(crate) async fn commit(
    ig: &InstagramConnector,
    ctx: &PublishCtx,
    prepared: &Prepared,
) -> Result<Published, ConnectorError> {
    let container = InstagramConnector::container_of(ctx, Some(prepared))
        .ok_or_else(|| ConnectorError::Rejected("checkpoint has no container".into()))?;
    let caption = str_field(&prepared.checkpoint, "caption").unwrap_or(&ctx.caption);
    let story = is_story(&prepared.checkpoint);
    match ig.wait_ready(ctx, container).await? {
        (ContainerStatus::Finished, _) => {}
        (ContainerStatus::Published, _) => {
            // An earlier commit took effect: never publish again.
            return match ig.find_media(ctx, caption, story).await? {
                Some(p) => Ok(p),
                None => Err(ConnectorError::OutcomeUnknown(
                    "container is PUBLISHED but the media is not listed yet".into(),
                )),
            };
        }
        (ContainerStatus::Error, text) => {
            return Err(ConnectorError::Rejected(format!(
                "Instagram could not process the image: {text}"
            )));
        }
        (ContainerStatus::Expired, _) => {
            return Err(ConnectorError::Rejected(
                "the media container expired (24 h) before publishing".into(),
            ));
        }
        (status, _) => {
            return Err(ConnectorError::transient(format!(
                "container still {status:?}"
            )));
        }
    }
    let (used, total) = ig.quota(ctx).await?;
    if used >= total {
        tracing::info!(
            used,
            total,
            "instagram 24 h publishing quota used up; deferring"
        );
        return Err(ConnectorError::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(
                ig.cfg.quota_retry_minutes * 60,
            )),
        });
    }
    let req = ig
        .client
        .graph
        .post(
            &format!("{}/media_publish", ig_user(ctx)),
            &ctx.credentials.access_token,
        )
        .form(&[("creation_id", container)]);
    let v = ig.client.call(req, true).await?;
    let media_id = str_field(&v, "id").ok_or_else(|| {
        ConnectorError::OutcomeUnknown("media_publish answer without an id".into())
    })?;
    tracing::info!(media_id, container, "instagram media published");
    // The permalink is a nicety; failing to read it does not un-publish anything.
    let permalink = match ig
        .client
        .call(
            ig.client
                .graph
                .get(media_id, &ctx.credentials.access_token)
                .query(&[("fields", "permalink")]),
            false,
        )
        .await
    {
        Ok(v) => str_field(&v, "permalink").map(str::to_owned),
        Err(_) => None,
    };
    Ok(Published {
        remote_id: media_id.to_owned(),
        url: permalink,
    })
}

/// The container knows: PUBLISHED means landed (then found among recent media), anything
/// else means `media_publish` never took effect for it.
pub(crate) async fn reconcile(
    ig: &InstagramConnector,
    ctx: &PublishCtx,
    prepared: Option<&Prepared>,
) -> Result<Reconciled, ConnectorError> {
    let Some(container) = InstagramConnector::container_of(ctx, prepared) else {
        // Without a container nothing can have been published.
        return Ok(Reconciled::Absent);
    };
    let caption = prepared
        .and_then(|p| str_field(&p.checkpoint, "caption"))
        .unwrap_or(&ctx.caption);
    let story = prepared
        .map(|p| &p.checkpoint)
        .or(ctx.checkpoint.as_ref())
        .is_some_and(is_story);
    match ig.status(ctx, container).await?.0 {
        ContainerStatus::Published => Ok(match ig.find_media(ctx, caption, story).await? {
            Some(p) => Reconciled::Landed(p),
            None => Reconciled::Unknown(format!(
                "container {container} is PUBLISHED but its media is not listed yet"
            )),
        }),
        ContainerStatus::Finished
        | ContainerStatus::InProgress
        | ContainerStatus::Error
        | ContainerStatus::Expired => Ok(Reconciled::Absent),
        ContainerStatus::Unknown => Ok(Reconciled::Unknown(format!(
            "container {container} reports an unknown status"
        ))),
    }
}
