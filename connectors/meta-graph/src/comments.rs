//! Looking for our own comment in a page of a Graph `/{object}/comments` listing: what the
//! Instagram and Facebook first-comment reconciles share (PLATFORMS.md §8.1c, §8.2c).

use std::future::Future;

use pressroom_connector::ConnectorError;
use serde_json::Value;

/// Walks `object`'s comment listing, one page per `list(after)` call (the `after` cursor of
/// the page before, none for the first), until `author`'s comment with exactly `text` in
/// `text_field` is found or the listing ends; past [`MAX_PAGES`] it cannot tell (transient).
///
/// # Errors
/// What `list` answers, or "cannot tell" past [`MAX_PAGES`].
pub async fn search<F, Fut>(
    object: &str,
    text_field: &str,
    author: &str,
    text: &str,
    mut list: F,
) -> Result<Option<String>, ConnectorError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Value, ConnectorError>>,
{
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = list(after.take()).await?;
        if let Some(id) = find_own(&page, text_field, author, text) {
            return Ok(Some(id));
        }
        after = next_cursor(&page);
        if after.is_none() {
            return Ok(None);
        }
    }
    Err(ConnectorError::transient(format!(
        "too many comments on {object} to tell whether ours is there"
    )))
}

/// The query of one listing page: `fields`, `limit`, and the cursor after the page before.
pub fn page_query(fields: &str, limit: &str, after: Option<String>) -> Vec<(&'static str, String)> {
    let mut query = vec![("fields", fields.to_owned()), ("limit", limit.to_owned())];
    if let Some(cursor) = after {
        query.push(("after", cursor));
    }
    query
}

/// The id of the comment on this listing page written by `author` with exactly `text` in
/// `text_field` (`text` on Instagram, `message` on Facebook). A comment without `from` (not
/// granted to this token) counts as the author's: taking a stranger's identical text for
/// ours loses a comment, never doubles one.
pub fn find_own(page: &Value, text_field: &str, author: &str, text: &str) -> Option<String> {
    page.get("data")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| {
            let by_author = c
                .pointer("/from/id")
                .and_then(Value::as_str)
                .is_none_or(|from| from == author);
            by_author && c.get(text_field).and_then(Value::as_str) == Some(text)
        })
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// The `after` cursor of the next page, when the listing says there is one.
pub fn next_cursor(page: &Value) -> Option<String> {
    page.pointer("/paging/next")?;
    page.pointer("/paging/cursors/after")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Pages read before giving up with "cannot tell" (a first comment is among a post's
/// earliest, so this is far more than it needs).
pub const MAX_PAGES: usize = 10;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_only_the_authors_comment_with_that_text() {
        let page = json!({"data": [
            {"id": "1", "text": "hi", "from": {"id": "someone"}},
            {"id": "2", "text": "hi", "from": {"id": "me"}},
        ], "paging": {"cursors": {"after": "c2"}, "next": "https://graph/next"}});
        assert_eq!(find_own(&page, "text", "me", "hi").as_deref(), Some("2"));
        assert_eq!(find_own(&page, "text", "me", "bye"), None);
        assert_eq!(next_cursor(&page).as_deref(), Some("c2"));
        assert_eq!(next_cursor(&json!({"data": []})), None);
    }
}
