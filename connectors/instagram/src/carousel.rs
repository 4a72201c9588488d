//! A carousel (PLATFORMS.md §8.1a): one child container per image (`is_carousel_item=true`,
//! alt text but never a caption), each polled until FINISHED, then the parent
//! (`media_type=CAROUSEL`, `children=id1,id2,…`, the caption), which `media_publish`
//! publishes like any container. Children are saved in the attempt's checkpoint as they are
//! made, so a prepare after a restart reuses them instead of making more.

use pressroom_connector::{ConnectorError, PostDraft, PublishCtx};
use serde_json::{Value, json};

use crate::InstagramConnector;
use crate::publish::ig_user;
use crate::status::ContainerStatus;

/// Makes (or reuses) the children, waits for each, then creates the parent; returns its id.
pub(crate) async fn create_parent(
    ig: &InstagramConnector,
    ctx: &PublishCtx,
    draft: &PostDraft,
) -> Result<String, ConnectorError> {
    let mut children: Vec<String> = ctx
        .checkpoint
        .as_ref()
        .and_then(|c| c.get("children"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    children.truncate(draft.media.len());
    for (index, media) in draft.media.iter().enumerate() {
        if let Some(existing) = children.get(index) {
            match ig.status(ctx, existing).await?.0 {
                ContainerStatus::Expired | ContainerStatus::Error => {
                    children.truncate(index);
                }
                _ => continue,
            }
        }
        let url = media.public_url.as_deref().ok_or_else(|| {
            ConnectorError::Rejected(
                "Instagram fetches images by URL; no public URL (set the public base URL)".into(),
            )
        })?;
        let mut form = vec![("image_url", url), ("is_carousel_item", "true")];
        if let Some(alt) = media.alt_text.as_deref() {
            form.push(("alt_text", alt));
        }
        children.push(ig.post_container(ctx, &form).await?);
        ctx.save_checkpoint(&json!({ "children": children, "ig_user_id": ig_user(ctx) }))
            .await?;
    }
    for child in &children {
        match ig.wait_ready(ctx, child).await? {
            (ContainerStatus::Finished, _) => {}
            (ContainerStatus::Error, text) => {
                return Err(ConnectorError::Rejected(format!(
                    "Instagram could not process a carousel image: {text}"
                )));
            }
            (status, _) => {
                return Err(ConnectorError::transient(format!(
                    "carousel child {child} still {status:?}"
                )));
            }
        }
    }
    let list = children.join(",");
    let form = [
        ("media_type", "CAROUSEL"),
        ("children", list.as_str()),
        ("caption", draft.caption.as_str()),
    ];
    let id = ig.post_container(ctx, &form).await?;
    tracing::info!(
        container = id,
        children = children.len(),
        "instagram carousel container created"
    );
    ctx.save_checkpoint(&json!({ "children": children, "container_id": id, "ig_user_id": ig_user(ctx), "caption": draft.caption }))
        .await?;
    Ok(id)
}
