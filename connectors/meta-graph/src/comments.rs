//! Looking for our own comment in a page of a Graph `/{object}/comments` listing: what the
//! Instagram and Facebook first-comment reconciles share (PLATFORMS.md §8.1c, §8.2c).

use serde_json::Value;

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
