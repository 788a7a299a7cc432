//! Pure rules of the customer file: search keys, birthday windows, tag lists and handle
//! normalisation. No HTTP, no database, so they are unit-tested directly.

use chrono::{Datelike, NaiveDate};

use serde_json::{Map, Value, json};

use super::contacts::{self, ContactKind};
use super::{ContactHandle, ListCustomersQuery};
use crate::error::ApiError;

/// Month and day as one sortable number (May 17 is 517), the key of the birthday index.
pub fn birthday_mmdd(date: NaiveDate) -> i32 {
    date.month() as i32 * 100 + date.day() as i32
}

/// The `birthday_mmdd` ranges covering `today` and the next `days` days, split in two
/// where the window crosses the new year.
pub fn birthday_windows(today: NaiveDate, days: u32) -> Vec<(i32, i32)> {
    if days >= 365 {
        return vec![(101, 1231)];
    }
    let end = today + chrono::Duration::days(i64::from(days));
    let (from, to) = (birthday_mmdd(today), birthday_mmdd(end));
    if end.year() == today.year() {
        vec![(from, to)]
    } else {
        vec![(from, 1231), (101, to)]
    }
}

/// Splits a comma-separated list of tag names, or names what is wrong with it.
pub fn tag_list(field: &str, raw: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() || names.len() > 20 {
        return Err(ApiError::field(
            field,
            "name 1 to 20 tags, separated by commas",
        ));
    }
    Ok(names)
}

/// The search key for a customer name: trimmed and lower-cased.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// A search term as contact handles are stored: phone-like input loses its separators and
/// mainland country code, everything else is lower-cased.
pub fn handle_search_key(q: &str) -> String {
    let q = q.trim();
    let phone_like = q.chars().any(|c| c.is_ascii_digit())
        && q.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.' | '+'));
    if !phone_like {
        return q.to_lowercase();
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    match digits.as_str() {
        d if q.starts_with('+') && d.starts_with("86") && d.len() > 2 => d[2..].to_owned(),
        d if q.starts_with('+') => format!("+{d}"),
        d if d.starts_with("0086") && d.len() > 4 => d[4..].to_owned(),
        d => d.to_owned(),
    }
}

/// Normalised, de-duplicated handles (validation has already accepted each).
pub fn normalized_handles(
    handles: &[ContactHandle],
) -> Result<Vec<(ContactKind, String)>, ApiError> {
    let mut out: Vec<(ContactKind, String)> = Vec::with_capacity(handles.len());
    for (i, handle) in handles.iter().enumerate() {
        let value = contacts::normalize(handle.kind, &handle.value)
            .map_err(|reason| ApiError::field(format!("contacts[{i}].value"), reason))?;
        if !out.iter().any(|(k, v)| *k == handle.kind && *v == value) {
            out.push((handle.kind, value));
        }
    }
    Ok(out)
}

/// A list filter as the audit log records it: every filter by name with its value, except
/// the text search, whose text is a buyer's name or phone number and is recorded only as
/// having been used. Paging (`sort`, `limit`, `cursor`, `with_total`) is left out: a cursor
/// holds a row's sort key, a name when sorted by name.
pub fn filter_for_audit(query: &ListCustomersQuery) -> Value {
    // No `..`: a new filter does not compile until it is decided here whether its value
    // may be kept.
    let ListCustomersQuery {
        q,
        tags_all,
        tags_any,
        source,
        not_contacted_days,
        never_contacted,
        no_purchase_days,
        never_purchased,
        birthday_within_days,
        tier,
        stage,
        at_risk,
        segment,
        recency_score_min,
        recency_score_max,
        frequency_score_min,
        frequency_score_max,
        monetary_score_min,
        monetary_score_max,
        archived,
        sort: _,
        limit: _,
        cursor: _,
        with_total: _,
    } = query;
    let tags = |field: &str, raw: &Option<String>| {
        raw.as_ref()
            .map(|_| json!(tag_list(field, raw.as_deref()).unwrap_or_default()))
    };
    let entries = [
        ("text_search", q.as_ref().map(|_| json!(true))),
        ("tags_all", tags("tags_all", tags_all)),
        ("tags_any", tags("tags_any", tags_any)),
        ("source", source.map(|v| json!(v))),
        ("not_contacted_days", not_contacted_days.map(|v| json!(v))),
        ("never_contacted", never_contacted.map(|v| json!(v))),
        ("no_purchase_days", no_purchase_days.map(|v| json!(v))),
        ("never_purchased", never_purchased.map(|v| json!(v))),
        (
            "birthday_within_days",
            birthday_within_days.map(|v| json!(v)),
        ),
        ("tier", tier.map(|v| json!(v))),
        ("stage", stage.map(|v| json!(v))),
        ("at_risk", at_risk.map(|v| json!(v))),
        ("segment", segment.map(|v| json!(v))),
        ("recency_score_min", recency_score_min.map(|v| json!(v))),
        ("recency_score_max", recency_score_max.map(|v| json!(v))),
        ("frequency_score_min", frequency_score_min.map(|v| json!(v))),
        ("frequency_score_max", frequency_score_max.map(|v| json!(v))),
        ("monetary_score_min", monetary_score_min.map(|v| json!(v))),
        ("monetary_score_max", monetary_score_max.map(|v| json!(v))),
        ("archived", Some(json!(archived.unwrap_or(false)))),
    ];
    Value::Object(
        entries
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), value?)))
            .collect::<Map<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn birthday_windows_cover_the_next_days() {
        assert_eq!(birthday_windows(date("2026-05-10"), 7), [(510, 517)]);
        assert_eq!(birthday_windows(date("2026-05-10"), 0), [(510, 510)]);
        // Across the new year the window is split in two.
        assert_eq!(
            birthday_windows(date("2026-12-28"), 7),
            [(1228, 1231), (101, 104)]
        );
        // Feb 29 birthdays fall inside a window that spans the end of February.
        let (from, to) = birthday_windows(date("2027-02-27"), 3)[0];
        assert!((from..=to).contains(&229));
        assert_eq!(birthday_windows(date("2026-03-01"), 400), [(101, 1231)]);
    }

    #[test]
    fn tag_lists_are_split_and_bounded() {
        assert_eq!(tag_list("t", Some(" a, b ,,c")).unwrap(), ["a", "b", "c"]);
        assert!(tag_list("t", Some(" , ")).is_err());
        assert!(tag_list("t", None).unwrap().is_empty());
        let many = (0..21).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        assert!(tag_list("t", Some(&many)).is_err());
    }

    #[test]
    fn search_terms_match_stored_handles() {
        assert_eq!(handle_search_key("138 0013"), "1380013");
        assert_eq!(handle_search_key("+86 138"), "138");
        assert_eq!(handle_search_key("+1 415"), "+1415");
        assert_eq!(handle_search_key("Li.Na@"), "li.na@");
        assert_eq!(handle_search_key("小明"), "小明");
        assert_eq!(name_key("  Li Na "), "li na");
    }

    #[test]
    fn an_audited_filter_says_a_text_search_was_used_never_its_text() {
        let query = ListCustomersQuery {
            q: Some("138 0013".into()),
            tags_any: Some("key customer, 北京".into()),
            never_purchased: Some(false),
            cursor: Some("eyJuYW1lIjoi5p2O5aicIn0".into()),
            limit: Some(10),
            ..ListCustomersQuery::default()
        };
        let details = filter_for_audit(&query);
        assert_eq!(
            details,
            json!({
                "text_search": true,
                "tags_any": ["key customer", "北京"],
                "never_purchased": false,
                "archived": false,
            })
        );
        assert!(!details.to_string().contains("138"));
        assert_eq!(
            filter_for_audit(&ListCustomersQuery::default()),
            json!({"archived": false}),
            "a full export"
        );
    }
}
