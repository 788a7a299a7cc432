//! The audit log's SQL: entries are only ever added and read, never changed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AuditAction, AuditEntry, NewAuditEntry};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::schema::audit_log;

/// Adds an entry, in the caller's transaction.
pub fn record(
    conn: &mut DbConnection,
    entry: &NewAuditEntry<'_>,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::shop_id.eq(entry.shop_id),
            audit_log::actor.eq(entry.actor),
            audit_log::action.eq(entry.action),
            audit_log::details.eq(entry.details.to_string()),
            audit_log::row_count.eq(entry.row_count),
            audit_log::at.eq(at),
            audit_log::address.eq(entry.address),
        ))
        .execute(conn)?;
    Ok(())
}

/// Adds an entry of `action` by `actor` now, in the caller's transaction: the short form
/// for the changes that record themselves.
pub fn record_now(
    conn: &mut DbConnection,
    shop_id: ShopId,
    actor: &str,
    action: AuditAction,
    details: serde_json::Value,
    address: Option<&str>,
) -> Result<(), ApiError> {
    record(
        conn,
        &NewAuditEntry {
            shop_id,
            actor,
            action,
            details: &details,
            row_count: None,
            address,
        },
        chrono::Utc::now().naive_utc(),
    )
}

/// Up to `limit` of the shop's entries with ids below `before`, newest first.
pub fn list(
    conn: &mut DbConnection,
    shop_id: ShopId,
    action: Option<AuditAction>,
    actor: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, ApiError> {
    let mut list = audit_log::table
        .filter(audit_log::shop_id.eq(shop_id))
        .select(AuditEntry::as_select())
        .order(audit_log::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(action) = action {
        list = list.filter(audit_log::action.eq(action));
    }
    if let Some(actor) = actor {
        list = list.filter(audit_log::actor.eq(actor.to_owned()));
    }
    if let Some(before) = before {
        list = list.filter(audit_log::id.lt(before));
    }
    Ok(list.load(conn)?)
}
