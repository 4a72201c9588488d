//! Cursor pagination: `?limit=&cursor=`. Ids are UUIDv7 (time-ordered), so "newest first" is
//! `ORDER BY id DESC` and the cursor is the last id returned, made opaque so clients do not
//! build their own.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::errors::ApiError;

const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 200;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct PageQuery {
    /// Accepted as a number or a numeric string: inside a `#[serde(flatten)]` filter,
    /// serde_urlencoded hands every value over as a string.
    #[serde(default, deserialize_with = "number_or_string")]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(n)),
        Some(Raw::Text(t)) => {
            t.trim().parse().map(Some).map_err(|_| {
                serde::de::Error::custom(format!("limit: {t:?} is not a whole number"))
            })
        }
    }
}

impl PageQuery {
    /// Requested page size, clamped to 1..=200.
    pub fn limit(&self) -> u64 {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    /// The id to continue after, decoded from the cursor.
    pub fn after(&self) -> Result<Option<String>, ApiError> {
        let Some(c) = self.cursor.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let bad = || ApiError::invalid("cursor is not one this API returned");
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
            limit: Some(2),
            cursor: page.next_cursor.clone(),
        };
        assert_eq!(q.after().expect("decodes").as_deref(), Some("b"));
        let bad = PageQuery {
            limit: None,
            cursor: Some("!!".into()),
        };
        assert!(bad.after().is_err());
        assert_eq!(PageQuery::default().limit(), 50);
        assert!(Page::from_rows(vec!["a"], 2, |s| s).next_cursor.is_none());
    }
}
