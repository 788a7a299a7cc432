//! The SQL of search: keeping the gram tables in step with the text they index (called
//! by the customer and ticket writes, inside their transactions), rebuilding them when the
//! rules change, and the ranked, paged walk over the match sources.

use std::collections::{BTreeSet, HashMap, HashSet};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::matchers::Matcher;
use super::{INDEX_VERSION, Rank, buyer_grams, name_grams, start_grams, tail_key, text_grams};
use crate::customers::contacts::ContactKind;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{
    customer_contacts, customer_search_grams, customers, notes, search_index_state,
    ticket_search_grams, tickets,
};

/// Rows of one multi-row INSERT while rebuilding.
const REBUILD_BATCH: i64 = 2_000;

/// A SQL string literal. Grams hold only letters and digits, so nothing needs escaping in
/// practice; quotes are doubled anyway, so the statement is safe whatever the rules become.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn insert_grams(
    conn: &mut DbConnection,
    table: &str,
    id_column: &str,
    rows: &[(i64, String, i64)],
) -> Result<(), ApiError> {
    for chunk in rows.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(shop, gram, id)| format!("({shop}, {}, {id})", literal(gram)))
            .collect();
        conn.batch_execute(&format!(
            "INSERT INTO {table} (shop_id, gram, {id_column}) VALUES {}",
            values.join(",")
        ))?;
    }
    Ok(())
}

/// The grams of a customer: their name and their shop-platform nicknames.
fn customer_gram_rows(
    conn: &mut DbConnection,
    ids: &[i64],
) -> Result<Vec<(i64, String, i64)>, ApiError> {
    let names: Vec<(i64, i64, String)> = customers::table
        .filter(customers::id.eq_any(ids))
        .select((customers::id, customers::shop_id, customers::name))
        .load(conn)?;
    let nicknames: Vec<(i64, String)> = customer_contacts::table
        .filter(customer_contacts::customer_id.eq_any(ids))
        .filter(customer_contacts::kind.eq(ContactKind::ShopAccount))
        .select((customer_contacts::customer_id, customer_contacts::value))
        .load(conn)?;
    let mut rows = Vec::new();
    for (id, shop, name) in names {
        let mut grams = name_grams(&name);
        grams.extend(start_grams(&name));
        for (_, nickname) in nicknames.iter().filter(|(owner, _)| *owner == id) {
            grams.extend(name_grams(nickname));
        }
        rows.extend(grams.into_iter().map(|g| (shop, g, id)));
    }
    Ok(rows)
}

/// Re-indexes customers after their name or handles changed (same transaction), and
/// their tickets, which carry their buyer's grams.
pub fn index_customers(conn: &mut DbConnection, ids: &[i64]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    index_customer_grams(conn, ids)?;
    let their_tickets: Vec<i64> = tickets::table
        .filter(tickets::customer_id.eq_any(ids))
        .select(tickets::id)
        .load(conn)?;
    for chunk in their_tickets.chunks(REBUILD_BATCH as usize) {
        index_tickets(conn, chunk)?;
    }
    Ok(())
}

fn index_customer_grams(conn: &mut DbConnection, ids: &[i64]) -> Result<(), ApiError> {
    diesel::delete(
        customer_search_grams::table.filter(customer_search_grams::customer_id.eq_any(ids)),
    )
    .execute(conn)?;
    let rows = customer_gram_rows(conn, ids)?;
    insert_grams(conn, "customer_search_grams", "customer_id", &rows)
}

/// The grams each of `customers` lends their tickets (`search::buyer_grams`).
fn buyers_grams(
    conn: &mut DbConnection,
    customer_ids: &[i64],
) -> Result<HashMap<i64, BTreeSet<String>>, ApiError> {
    let names: Vec<(i64, String)> = customers::table
        .filter(customers::id.eq_any(customer_ids))
        .select((customers::id, customers::name))
        .load(conn)?;
    let handles: Vec<(i64, ContactKind, String)> = customer_contacts::table
        .filter(customer_contacts::customer_id.eq_any(customer_ids))
        .filter(customer_contacts::kind.eq_any([ContactKind::ShopAccount, ContactKind::Phone]))
        .select((
            customer_contacts::customer_id,
            customer_contacts::kind,
            customer_contacts::value,
        ))
        .load(conn)?;
    Ok(names
        .into_iter()
        .map(|(id, name)| {
            let of_kind = |kind: ContactKind| {
                handles
                    .iter()
                    .filter(move |(owner, k, _)| *owner == id && *k == kind)
                    .map(|(_, _, value)| value.as_str())
            };
            let grams = buyer_grams(
                &name,
                of_kind(ContactKind::ShopAccount),
                of_kind(ContactKind::Phone),
            );
            (id, grams)
        })
        .collect())
}

/// The searchable text of a ticket's `details`: the review text, the return reason, the
/// fault, the items' names.
fn details_text(details: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(details).unwrap_or_default();
    let mut parts = Vec::new();
    for key in ["review_text", "reason", "fault"] {
        if let Some(text) = value.get(key).and_then(|v| v.as_str()) {
            parts.push(text.to_owned());
        }
    }
    if let Some(items) = value.get("items").and_then(|v| v.as_array()) {
        for item in items {
            if let Some(name) = item.get("product_name").and_then(|v| v.as_str()) {
                parts.push(name.to_owned());
            }
        }
    }
    parts.join(" ")
}

fn ticket_gram_rows(
    conn: &mut DbConnection,
    ids: &[i64],
) -> Result<Vec<(i64, String, i64)>, ApiError> {
    let texts: Vec<(i64, i64, i64, String, String, String)> = tickets::table
        .filter(tickets::id.eq_any(ids))
        .select((
            tickets::id,
            tickets::shop_id,
            tickets::customer_id,
            tickets::title,
            tickets::description,
            tickets::details,
        ))
        .load(conn)?;
    let mut buyer_ids: Vec<i64> = texts.iter().map(|t| t.2).collect();
    buyer_ids.sort_unstable();
    buyer_ids.dedup();
    let buyers = buyers_grams(conn, &buyer_ids)?;
    let note_bodies: Vec<(Option<i64>, String)> = notes::table
        .filter(notes::ticket_id.eq_any(ids))
        .select((notes::ticket_id, notes::body))
        .load(conn)?;
    let mut rows = Vec::new();
    for (id, shop, buyer, title, description, details) in texts {
        let mut grams: BTreeSet<String> = text_grams(&title);
        if let Some(buyer_grams) = buyers.get(&buyer) {
            grams.extend(buyer_grams.iter().cloned());
        }
        grams.extend(text_grams(&description));
        grams.extend(text_grams(&details_text(&details)));
        for (_, body) in note_bodies.iter().filter(|(t, _)| *t == Some(id)) {
            grams.extend(text_grams(body));
        }
        rows.extend(grams.into_iter().map(|g| (shop, g, id)));
    }
    Ok(rows)
}

/// Re-indexes tickets after their title, description, details or notes changed.
pub fn index_tickets(conn: &mut DbConnection, ids: &[i64]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::delete(ticket_search_grams::table.filter(ticket_search_grams::ticket_id.eq_any(ids)))
        .execute(conn)?;
    let rows = ticket_gram_rows(conn, ids)?;
    insert_grams(conn, "ticket_search_grams", "ticket_id", &rows)
}

/// Brings the search index up to `INDEX_VERSION` (see `rebuild`). Runs in the caller's
/// transaction, which holds the writer lock on SQLite and, on PostgreSQL, locks the state
/// row, so replicas starting together rebuild once. Returns the entities indexed.
pub fn rebuild_if_stale(conn: &mut DbConnection) -> Result<u64, ApiError> {
    // A no-op update takes the row lock (FOR UPDATE is not in diesel's MultiBackend).
    diesel::update(search_index_state::table)
        .set(search_index_state::version.eq(search_index_state::version))
        .execute(conn)?;
    let version: i32 = search_index_state::table
        .select(search_index_state::version)
        .first(conn)?;
    if version >= INDEX_VERSION {
        return Ok(0);
    }
    rebuild(conn)
}

/// Rebuilds the phone tail keys and both gram tables from the rows, and records
/// `INDEX_VERSION`. For rows written around the application (the benchmarks' seeding).
pub fn rebuild(conn: &mut DbConnection) -> Result<u64, ApiError> {
    tracing::info!(version = INDEX_VERSION, "rebuilding the search index");
    let mut indexed = 0u64;
    let mut after = 0i64;
    loop {
        let phones: Vec<(i64, String)> = customer_contacts::table
            .filter(customer_contacts::id.gt(after))
            .filter(customer_contacts::kind.eq(ContactKind::Phone))
            .order(customer_contacts::id.asc())
            .limit(REBUILD_BATCH)
            .select((customer_contacts::id, customer_contacts::value))
            .load(conn)?;
        let Some(&(last, _)) = phones.last() else {
            break;
        };
        for (id, value) in &phones {
            diesel::update(customer_contacts::table.find(id))
                .set(customer_contacts::tail_key.eq(tail_key(value)))
                .execute(conn)?;
        }
        after = last;
    }
    for (table, ids_of) in [
        ("customers", customer_ids_after as IdsAfter),
        ("tickets", ticket_ids_after as IdsAfter),
    ] {
        let mut after = 0i64;
        loop {
            let ids = ids_of(conn, after)?;
            let Some(&last) = ids.last() else { break };
            match table {
                "customers" => index_customer_grams(conn, &ids)?,
                _ => index_tickets(conn, &ids)?,
            }
            indexed += ids.len() as u64;
            after = last;
        }
    }
    diesel::update(search_index_state::table)
        .set(search_index_state::version.eq(INDEX_VERSION))
        .execute(conn)?;
    Ok(indexed)
}

type IdsAfter = fn(&mut DbConnection, i64) -> Result<Vec<i64>, ApiError>;

fn customer_ids_after(conn: &mut DbConnection, after: i64) -> Result<Vec<i64>, ApiError> {
    Ok(customers::table
        .filter(customers::id.gt(after))
        .order(customers::id.asc())
        .limit(REBUILD_BATCH / 4)
        .select(customers::id)
        .load(conn)?)
}

fn ticket_ids_after(conn: &mut DbConnection, after: i64) -> Result<Vec<i64>, ApiError> {
    Ok(tickets::table
        .filter(tickets::id.gt(after))
        .order(tickets::id.asc())
        .limit(REBUILD_BATCH / 4)
        .select(tickets::id)
        .load(conn)?)
}

/// The first `n` ids of the union of `ways` below `after`, newest first: every way gives
/// its own first `n`, so the first `n` of their union are exact.
fn merged(
    conn: &mut DbConnection,
    ways: &mut [Box<dyn Matcher>],
    after: Option<i64>,
    n: i64,
) -> Result<Vec<i64>, ApiError> {
    let mut all = BTreeSet::new();
    for way in ways.iter_mut() {
        all.extend(way.walk(conn, after, n)?);
    }
    Ok(all.into_iter().rev().take(n as usize).collect())
}

/// Which of a batch of candidates a list keeps by its other filters (state, tier...).
pub type Keep<'a> = dyn FnMut(&mut DbConnection, &[i64]) -> Result<HashSet<i64>, ApiError> + 'a;

/// A page of a ranked search: the ways of each rank, walked in rank order and newest
/// first within a rank. Each batch of candidates passes the list's filters (`keep`), and
/// a candidate that a way of an earlier rank matches is left out: it was served there.
/// Starts after `cursor`.
pub fn ranked_page(
    conn: &mut DbConnection,
    mut ranks: Vec<(Rank, Vec<Box<dyn Matcher>>)>,
    keep: &mut Keep<'_>,
    cursor: Option<(Rank, i64)>,
    limit: usize,
) -> Result<Vec<(Rank, i64)>, ApiError> {
    let mut page = Vec::with_capacity(limit);
    'ranks: for at in 0..ranks.len() {
        let (earlier, rest) = ranks.split_at_mut(at);
        let (rank, ways) = &mut rest[0];
        let rank = *rank;
        let mut after = match cursor {
            Some((at, _)) if at > rank => continue,
            Some((at, id)) if at == rank => Some(id),
            _ => None,
        };
        loop {
            let wanted = limit - page.len();
            if wanted == 0 {
                break 'ranks;
            }
            let batch_size = (wanted * 2).max(20) as i64;
            if ways.is_empty() {
                break;
            }
            let batch = merged(conn, ways, after, batch_size)?;
            let Some(&last) = batch.last() else { break };
            let mut kept = keep(conn, &batch)?;
            for (_, earlier_ways) in earlier.iter() {
                let candidates: Vec<i64> = kept.iter().copied().collect();
                for way in earlier_ways {
                    for id in way.holds(conn, &candidates)? {
                        kept.remove(&id);
                    }
                }
            }
            for id in &batch {
                if kept.contains(id) {
                    page.push((rank, *id));
                    if page.len() == limit {
                        break 'ranks;
                    }
                }
            }
            if (batch.len() as i64) < batch_size {
                break;
            }
            after = Some(last);
        }
    }
    Ok(page)
}

/// The ids of a page, for loading its rows in one query.
pub fn page_ids(page: &[(Rank, i64)]) -> Vec<i64> {
    page.iter().map(|(_, id)| *id).collect()
}

/// A page's rows in the page's order, each with its rank (a row that vanished meanwhile
/// is left out).
pub fn in_page_order<T>(
    page: Vec<(Rank, i64)>,
    rows: Vec<T>,
    id_of: impl Fn(&T) -> i64,
) -> Vec<(Rank, T)> {
    let mut by_id: std::collections::BTreeMap<i64, T> =
        rows.into_iter().map(|row| (id_of(&row), row)).collect();
    page.into_iter()
        .filter_map(|(rank, id)| by_id.remove(&id).map(|row| (rank, row)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_keep_their_order_and_ranks() {
        let page = vec![(Rank::Leading, 9), (Rank::Leading, 4), (Rank::Inside, 7)];
        let rows = vec![4, 7, 9];
        assert_eq!(
            in_page_order(page, rows, |r| *r),
            vec![(Rank::Leading, 9), (Rank::Leading, 4), (Rank::Inside, 7)]
        );
        let gone = in_page_order(vec![(Rank::Inside, 1), (Rank::Inside, 2)], vec![2], |r| *r);
        assert_eq!(gone, vec![(Rank::Inside, 2)]);
    }
}
