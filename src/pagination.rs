//! Keyset pagination shared by every list endpoint: stable under concurrent inserts
//! (a page never repeats or skips a row because rows were added before it).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// One page of a list. `next_cursor` is absent on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page.
    pub next_cursor: Option<String>,
    /// Rows matching the filters, over all pages (where the list counts them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// An opaque cursor: the sort key of the last row served, base64url-encoded JSON so that
/// each list can use the key it sorts by.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

pub fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, ApiError> {
    let invalid = || ApiError::field("cursor", "is not a cursor returned by this list");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

/// Effective page size for a requested `limit` (range-checked by the query's validation).
pub fn limit_or_default(limit: Option<u32>) -> i64 {
    i64::from(limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT))
}

/// Splits `limit + 1` fetched rows into a page: the extra row only says another page
/// exists. The cursor is the last kept row's key; only kept rows are turned into views
/// (`views` takes them all at once, so it can load what they need in one query).
pub fn finish_page<R, T, K: Serialize, E>(
    mut rows: Vec<R>,
    limit: i64,
    total: Option<i64>,
    key_of: impl Fn(&R) -> K,
    views: impl FnOnce(Vec<R>) -> Result<Vec<T>, E>,
) -> Result<Page<T>, E> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if has_more {
        rows.last().map(|last| encode_cursor(&key_of(last)))
    } else {
        None
    };
    Ok(Page {
        items: views(rows)?,
        next_cursor,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let cursor = encode_cursor(&("2026-01-01", 42i64));
        let key: (String, i64) = decode_cursor(&cursor).unwrap();
        assert_eq!(key, ("2026-01-01".to_owned(), 42));
        assert!(decode_cursor::<i64>("!!!").is_err());
        assert!(decode_cursor::<i64>(&encode_cursor(&"text")).is_err());
    }

    #[test]
    fn extra_row_means_next_page() {
        let page = finish_page(
            vec![1i64, 2, 3],
            2,
            Some(10),
            |r| *r,
            |rows| Ok::<_, ()>(rows.into_iter().map(|r| r * 10).collect()),
        )
        .unwrap();
        assert_eq!(page.items, [10, 20], "the extra row is never viewed");
        assert_eq!(
            decode_cursor::<i64>(page.next_cursor.as_deref().unwrap()).unwrap(),
            2
        );
        let last = finish_page(vec![1i64, 2], 2, None, |r| *r, Ok::<_, ()>).unwrap();
        assert!(last.next_cursor.is_none());
    }

    #[test]
    fn limit_defaults_and_caps() {
        assert_eq!(limit_or_default(None), 50);
        assert_eq!(limit_or_default(Some(1000)), 200);
        assert_eq!(limit_or_default(Some(0)), 1);
    }
}
