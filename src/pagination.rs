//! Keyset pagination shared by every list endpoint: stable under concurrent inserts
//! (a page never repeats or skips a row because rows were added before it).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// One page of a list. `next_cursor` is absent on the last page. Each list names its page
/// in the OpenAPI document with [`named_page!`].
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page.
    pub next_cursor: Option<String>,
    /// Rows matching the filters, over all pages (where the list counts them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// Names the page of one list in the OpenAPI document (`named_page!(CustomerPage, CustomerView)`
/// in the module that owns the item, which also declares the alias `CustomerPage`): the schema is `CustomerPage` and its `items` refer to
/// `CustomerView`. A derived schema of the generic `Page<T>` would inline the item under a
/// made-up name (`Page_CustomerView`, items `PageCustomerViewItemsItem` in generated
/// Python), so generated clients would not use the real type names.
macro_rules! named_page {
    ($page:ident, $item:ty) => {
        /// One page of the list (the name the OpenAPI document gives it).
        pub type $page = $crate::pagination::Page<$item>;

        impl utoipa::PartialSchema for $crate::pagination::Page<$item> {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::pagination::page_schema(&<$item as utoipa::ToSchema>::name())
            }
        }

        impl utoipa::ToSchema for $crate::pagination::Page<$item> {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($page))
            }

            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                schemas.push((
                    <$item as utoipa::ToSchema>::name().into_owned(),
                    <$item as utoipa::PartialSchema>::schema(),
                ));
                <$item as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
pub(crate) use named_page;

/// The schema of a page whose items are the schema named `item` (see [`named_page!`]).
pub fn page_schema(item: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::Ref;
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ObjectBuilder::new()
        .description(Some(
            "One page of a list. `next_cursor` is absent on the last page.",
        ))
        .property(
            "items",
            ArrayBuilder::new().items(Ref::from_schema_name(item)),
        )
        .required("items")
        .property(
            "next_cursor",
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                    Type::String,
                    Type::Null,
                ]))
                .description(Some("Pass as `cursor` to get the next page.")),
        )
        .property(
            "total",
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                    Type::Integer,
                    Type::Null,
                ]))
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .description(Some(
                    "Rows matching the filters, over all pages (where the list counts them).",
                )),
        )
        .into()
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

/// What a list request asks for: where to start, how many rows, whether to count them all.
/// Every list endpoint goes through it, so paging works the same way everywhere.
#[derive(Debug, Clone)]
pub struct PageRequest<K> {
    after: Option<K>,
    limit: i64,
    with_total: bool,
}

impl<K: DeserializeOwned> PageRequest<K> {
    /// From a list's `cursor`, `limit` and `with_total` query parameters (422 naming
    /// `cursor` when it is not one this list returned).
    pub fn parse(
        cursor: Option<&str>,
        limit: Option<u32>,
        with_total: bool,
    ) -> Result<Self, ApiError> {
        Ok(PageRequest {
            after: cursor.map(decode_cursor).transpose()?,
            limit: limit_or_default(limit),
            with_total,
        })
    }
}

impl<K> PageRequest<K> {
    /// Refuses, as it refuses a garbled one (422 naming `cursor`), a cursor that decodes but
    /// that the list cannot have returned: `returned` says which it may have (one carrying a
    /// time outside the calendar was forged, and PostgreSQL would fail on it).
    pub fn refusing_unless(self, returned: impl FnOnce(&K) -> bool) -> Result<Self, ApiError> {
        match &self.after {
            Some(key) if !returned(key) => Err(ApiError::field(
                "cursor",
                "is not a cursor returned by this list",
            )),
            _ => Ok(self),
        }
    }
}

impl<K: Serialize> PageRequest<K> {
    /// Loads one page on `conn`: `rows` is asked for one row more than the page holds (the
    /// extra row only says another page follows), `count` runs only when the total was asked
    /// for, and only the rows kept are turned into views, all at once.
    pub fn load<C, R, T>(
        self,
        conn: &mut C,
        rows: impl FnOnce(&mut C, Option<K>, i64) -> Result<Vec<R>, ApiError>,
        count: impl FnOnce(&mut C) -> Result<i64, ApiError>,
        key_of: impl Fn(&R) -> K,
        views: impl FnOnce(&mut C, Vec<R>) -> Result<Vec<T>, ApiError>,
    ) -> Result<Page<T>, ApiError> {
        let fetched = rows(conn, self.after, self.limit + 1)?;
        let total = if self.with_total {
            Some(count(conn)?)
        } else {
            None
        };
        finish_page(fetched, self.limit, total, key_of, |kept| views(conn, kept))
    }
}

impl<K: Serialize> PageRequest<K> {
    /// [`PageRequest::load`] for lists that never report a total (their pages carry none).
    pub fn load_uncounted<C, R, T>(
        mut self,
        conn: &mut C,
        rows: impl FnOnce(&mut C, Option<K>, i64) -> Result<Vec<R>, ApiError>,
        key_of: impl Fn(&R) -> K,
        views: impl FnOnce(&mut C, Vec<R>) -> Result<Vec<T>, ApiError>,
    ) -> Result<Page<T>, ApiError> {
        self.with_total = false;
        self.load(conn, rows, |_| unreachable!("never counted"), key_of, views)
    }
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
    fn a_page_request_fetches_one_more_row_and_counts_only_when_asked() {
        let all: Vec<i64> = (1..=5).collect();
        let fetch = |seen: &mut Vec<i64>, after: Option<i64>, n: i64| {
            seen.push(n);
            Ok(all
                .iter()
                .copied()
                .filter(|r| after.is_none_or(|a| *r > a))
                .take(n as usize)
                .collect())
        };
        let mut seen = Vec::new();
        let first = PageRequest::<i64>::parse(None, Some(2), false)
            .unwrap()
            .load(
                &mut seen,
                fetch,
                |_| panic!("not asked to count"),
                |r| *r,
                |_, rows| Ok(rows),
            )
            .unwrap();
        assert_eq!(first.items, [1, 2]);
        assert_eq!(seen, [3], "one row more than the page");
        assert_eq!(first.total, None);
        let second = PageRequest::<i64>::parse(first.next_cursor.as_deref(), Some(2), true)
            .unwrap()
            .load(&mut seen, fetch, |_| Ok(5), |r| *r, |_, rows| Ok(rows))
            .unwrap();
        assert_eq!(second.items, [3, 4]);
        assert_eq!(second.total, Some(5));
        assert!(PageRequest::<i64>::parse(Some("garbage!"), None, false).is_err());
    }

    #[test]
    fn cursors_the_list_cannot_have_returned_are_refused() {
        let forged = encode_cursor(&-5i64);
        let refused = PageRequest::<i64>::parse(Some(&forged), None, false)
            .unwrap()
            .refusing_unless(|id| *id > 0);
        assert!(matches!(refused, Err(ApiError::Validation(ref e)) if e[0].field == "cursor"));
        let fine = encode_cursor(&5i64);
        assert!(
            PageRequest::<i64>::parse(Some(&fine), None, false)
                .unwrap()
                .refusing_unless(|id| *id > 0)
                .is_ok()
        );
        assert!(
            PageRequest::<i64>::parse(None, None, false)
                .unwrap()
                .refusing_unless(|_| false)
                .is_ok(),
            "no cursor, nothing to refuse"
        );
    }

    #[test]
    fn limit_defaults_and_caps() {
        assert_eq!(limit_or_default(None), 50);
        assert_eq!(limit_or_default(Some(1000)), 200);
        assert_eq!(limit_or_default(Some(0)), 1);
    }
}
