//! Post metrics fetch-back (PLATFORMS.md §9.3): the account's author URN picks the API.
//! Organizations read `organizationalEntityShareStatistics` (many posts per call), members
//! `memberCreatorPostAnalytics` (one metric of one post per call). An absent element or empty
//! `elements` is "no observation yet", never zero.

mod member;
mod organization;

use pressroom_connector::{ConnectorError, MetricsCtx, MetricsQuery, MetricsReport};
use serde_json::Value;

use crate::client::{Client, ErrorAnswer};
use crate::errors::LinkedInError;
use crate::publish::{AuthorKind, author, encode};

/// Posts per `fetch_metrics` call. Organizations: one statistics call per URN kind; members:
/// up to six analytics calls per post, so the batch also caps a member's calls per fetch.
pub const BATCH: usize = 20;

/// What a person must do when the member analytics scope is missing.
pub const MEMBER_SCOPE: &str = "reconnect LinkedIn and grant r_member_postAnalytics";
/// What a person must do when the organization statistics are refused (scope or role).
pub const ORG_SCOPE: &str =
    "reconnect LinkedIn as an ADMINISTRATOR of the organization and grant rw_organization_admin";

pub async fn fetch(
    client: &Client,
    ctx: &MetricsCtx,
    posts: &[MetricsQuery],
) -> Result<MetricsReport, ConnectorError> {
    let (author, kind) = author(&ctx.account.external_id)?;
    match kind {
        AuthorKind::Member => member::fetch(client, ctx, posts).await,
        AuthorKind::Organization => organization::fetch(client, ctx, &author, posts).await,
    }
}

/// The two kinds of post URN LinkedIn measures; each goes in its own request parameter
/// (`shares=` / `ugcPosts=`, `(share:…)` / `(ugc:…)`), and the wrong one is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrnKind {
    Share,
    UgcPost,
}

pub fn urn_kind(urn: &str) -> Option<UrnKind> {
    let id = |prefix: &str| urn.strip_prefix(prefix).is_some_and(|id| !id.is_empty());
    if id("urn:li:share:") {
        Some(UrnKind::Share)
    } else if id("urn:li:ugcPost:") {
        Some(UrnKind::UgcPost)
    } else {
        None
    }
}

/// A URN as Rest.li 2.0 wants it inside a query value: `:` and the rest percent-encoded, so
/// the `List(…)` and `(key:value)` syntax around it stays literal.
pub fn restli(urn: &str) -> String {
    encode(urn)
}

/// LinkedIn's error body of a refusal (empty when it is not JSON).
pub fn error_body(answer: &ErrorAnswer) -> LinkedInError {
    serde_json::from_slice(&answer.body).unwrap_or_default()
}

/// LinkedIn's message, or the status when the body has none.
pub fn error_message(answer: &ErrorAnswer) -> String {
    error_body(answer)
        .message
        .unwrap_or_else(|| format!("LinkedIn answered {}", answer.status))
}

/// The refusal's body as JSON, kept as the post's raw answer (`null` when not JSON).
pub fn error_raw(answer: &ErrorAnswer) -> Value {
    serde_json::from_slice(&answer.body).unwrap_or(Value::Null)
}

/// A JSON count (LinkedIn's longs); negative or fractional values are not counts.
pub fn count(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urns_are_told_apart_and_encoded_for_restli() {
        assert_eq!(urn_kind("urn:li:share:987"), Some(UrnKind::Share));
        assert_eq!(urn_kind("urn:li:ugcPost:654"), Some(UrnKind::UgcPost));
        assert_eq!(urn_kind("urn:li:share:"), None);
        assert_eq!(urn_kind("urn:li:activity:1"), None);
        assert_eq!(restli("urn:li:share:987"), "urn%3Ali%3Ashare%3A987");
    }
}
