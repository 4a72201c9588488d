//! Cursor pagination: `?limit=&cursor=`. Ids are UUIDv7 (time-ordered), so "newest first" is
//! `ORDER BY id DESC` and the cursor is the last id returned, made opaque so clients do not
//! build their own.
//!
//! Both parameters are checked, not corrected: a `limit` outside 1..=200 or a cursor this API
//! did not return answers 400 naming the parameter, as the OpenAPI document says, rather than
//! quietly serving a page the caller did not ask for.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::errors::{ApiError, ApiResult};

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: u64 = 50;
/// The largest `limit` accepted (documented as the parameter's `maximum`).
pub const MAX_LIMIT: u64 = 200;

/// `?limit=&cursor=` as sent. Kept as text and checked by [`PageQuery::limit`], so the 400 can
/// say exactly what was wrong, also inside a `#[serde(flatten)]` filter (where
/// serde_urlencoded hands every value over as a string and serde's own error loses the name).
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size (default 50); outside 1 to 200 answers 400 naming `limit`.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<String>,
    /// A page's `next_cursor`, unchanged; anything else answers 400 naming `cursor`.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The requested page size: a whole number in 1..=200, [`DEFAULT_LIMIT`] when absent.
    pub fn limit(&self) -> ApiResult<u64> {
        let Some(raw) = self.limit.as_deref() else {
            return Ok(DEFAULT_LIMIT);
        };
        // Digits only: `u64::from_str` would also take a leading `+`.
        let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
        match raw.parse::<u64>() {
            Ok(n) if digits && (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(format!(
                "limit: must be a whole number from 1 to {MAX_LIMIT} (got {raw:?})"
            ))),
        }
    }

    /// The id to continue after, decoded from the cursor (an empty cursor is the first page).
    pub fn after(&self) -> ApiResult<Option<String>> {
        let Some(c) = self.cursor.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let bad = || {
            ApiError::invalid(
                "cursor: not one this API returned; pass a page's next_cursor unchanged",
            )
        };
        let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
        let id = String::from_utf8(raw).map_err(|_| bad())?;
        let id = id.strip_prefix("c1:").ok_or_else(bad)?;
        if id.is_empty() || id.len() > 64 {
            return Err(bad());
        }
        Ok(Some(id.to_string()))
    }
}

/// A page of results.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows (the extra row says whether more exist).
    pub fn from_rows(mut rows: Vec<T>, limit: u64, id: impl Fn(&T) -> &str) -> Self {
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode(id(r)))
        } else {
            None
        };
        Self {
            data: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

fn encode(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("c1:{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let page = Page::from_rows(vec!["c", "b", "a"], 2, |s| s);
        assert_eq!(page.data, vec!["c", "b"]);
        let q = PageQuery {
            limit: Some("2".into()),
            cursor: page.next_cursor.clone(),
        };
        assert_eq!(q.after().expect("decodes").as_deref(), Some("b"));
        let bad = PageQuery {
            limit: None,
            cursor: Some("!!".into()),
        };
        let err = bad.after().expect_err("garbage cursor");
        assert!(err.detail.starts_with("cursor:"), "{}", err.detail);
        assert!(Page::from_rows(vec!["a"], 2, |s| s).next_cursor.is_none());
    }

    #[test]
    fn limit_is_checked_not_clamped() {
        let q = |l: &str| PageQuery {
            limit: Some(l.into()),
            cursor: None,
        };
        assert_eq!(PageQuery::default().limit().ok(), Some(DEFAULT_LIMIT));
        assert_eq!(q("1").limit().ok(), Some(1));
        assert_eq!(q("200").limit().ok(), Some(MAX_LIMIT));
        for bad in [
            "0",
            "201",
            "-1",
            "+5",
            " 5",
            "",
            "1.5",
            "ten",
            "99999999999999999999999",
        ] {
            let err = q(bad).limit().expect_err(bad);
            assert_eq!(err.code, crate::Code::InvalidRequest);
            assert!(err.detail.starts_with("limit:"), "{bad}: {}", err.detail);
        }
    }
}
