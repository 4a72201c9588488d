//! The first comment (PLATFORMS.md §8.1c): `POST /{ig-media-id}/comments?message=` on the
//! published media (never a container), and the media's comments listed to find one an
//! earlier try posted (comment creation is not idempotent).

use connector_meta_graph::comments;
use pressroom_connector::{ConnectorError, PublishCtx};

use crate::InstagramConnector;
use crate::publish::{ig_user, str_field};

/// Comments read when looking for ours: a first comment is among a post's earliest.
const LISTED: &str = "50";

pub(crate) async fn post(
    ig: &InstagramConnector,
    ctx: &PublishCtx,
    media_id: &str,
    text: &str,
) -> Result<String, ConnectorError> {
    let req = ig
        .client
        .graph
        .post(
            &format!("{media_id}/comments"),
            &ctx.credentials.access_token,
        )
        .form(&[("message", text)]);
    let v = ig.client.call(req, true).await?;
    let id = str_field(&v, "id")
        .ok_or_else(|| ConnectorError::OutcomeUnknown("the comment answer has no id".into()))?;
    tracing::info!(media_id, comment = id, "instagram comment posted");
    Ok(id.to_owned())
}

pub(crate) async fn find(
    ig: &InstagramConnector,
    ctx: &PublishCtx,
    media_id: &str,
    text: &str,
) -> Result<Option<String>, ConnectorError> {
    let own = ig_user(ctx);
    comments::search(media_id, "text", own, text, |after| async move {
        let query = comments::page_query("id,text,from,timestamp", LISTED, after);
        let req = ig
            .client
            .graph
            .get(
                &format!("{media_id}/comments"),
                &ctx.credentials.access_token,
            )
            .query(&query);
        ig.client.call(req, false).await
    })
    .await
}
