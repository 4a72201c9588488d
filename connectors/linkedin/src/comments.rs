//! The first comment (PLATFORMS.md §8.3c): `POST /rest/socialActions/{post URN}/comments`
//! by the post's author, and that list read back to find a comment an earlier try posted
//! (comment creation is not idempotent).

use pressroom_connector::{ConnectorError, PublishCtx};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;
use crate::errors::Phase;
use crate::publish::{author, encode};

pub async fn post(
    client: &Client,
    ctx: &PublishCtx,
    post_urn: &str,
    text: &str,
) -> Result<String, ConnectorError> {
    let (actor, _) = author(&ctx.account.external_id)?;
    let path = format!("/rest/socialActions/{}/comments", encode(post_urn));
    let req = client
        .rest(Method::POST, &path, &ctx.credentials.access_token)
        .json(&json!({
            "actor": actor,
            "object": post_urn,
            "message": { "text": text },
        }));
    let resp = client.send(req, Phase::Commit).await?;
    let header = resp
        .headers()
        .get("x-restli-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The id's place in the answer is UNVERIFIED (§8.3c): the header, else the body's.
    let id = match header {
        Some(id) => Some(id),
        None => {
            let body: Value = Client::json(resp, Phase::Commit)
                .await
                .unwrap_or(Value::Null);
            comment_id(&body)
        }
    };
    let id = id.ok_or_else(|| {
        ConnectorError::OutcomeUnknown("LinkedIn answered the comment without its id".into())
    })?;
    tracing::info!(post = post_urn, comment = %id, "linkedin comment posted");
    Ok(id)
}

/// Comments read per page, and pages read before giving up with "cannot tell" (a first
/// comment is among a post's earliest).
const PAGE: usize = 100;
const PAGES: usize = 10;

pub async fn find(
    client: &Client,
    ctx: &PublishCtx,
    post_urn: &str,
    text: &str,
) -> Result<Option<String>, ConnectorError> {
    let (actor, _) = author(&ctx.account.external_id)?;
    for page in 0..PAGES {
        let path = format!(
            "/rest/socialActions/{}/comments?start={}&count={PAGE}",
            encode(post_urn),
            page * PAGE
        );
        let req = client.rest(Method::GET, &path, &ctx.credentials.access_token);
        let body: Value = Client::json(client.send(req, Phase::Safe).await?, Phase::Safe).await?;
        let elements = body
            .get("elements")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(id) = elements
            .iter()
            .find(|c| {
                c.get("actor").and_then(Value::as_str) == Some(actor.as_str())
                    && c.pointer("/message/text").and_then(Value::as_str) == Some(text)
            })
            .and_then(comment_id)
        {
            return Ok(Some(id));
        }
        if elements.len() < PAGE {
            return Ok(None);
        }
    }
    Err(ConnectorError::transient(format!(
        "more than {} comments on {post_urn}; cannot tell whether ours is there",
        PAGE * PAGES
    )))
}

fn comment_id(comment: &Value) -> Option<String> {
    ["commentUrn", "$URN", "id"]
        .into_iter()
        .find_map(|k| comment.get(k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
