//! All SQL of attachments: the rows (metadata), and the blobs kept apart from them
//! (database storage's bytes and every thumbnail), so that listing never reads bytes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Attachment, AttachmentView, StorageKind};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::schema::{attachment_blobs, attachments};

/// The bytes of a database-stored file.
pub const FILE: &str = "file";
/// A thumbnail (any storage).
pub const THUMBNAIL: &str = "thumbnail";

#[derive(Debug, Insertable)]
#[diesel(table_name = attachments)]
pub struct NewAttachment<'a> {
    pub shop_id: ShopId,
    pub ticket_id: i64,
    pub note_id: Option<i64>,
    pub uploader_id: Option<i64>,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size: i64,
    pub sha256: &'a str,
    pub storage: StorageKind,
    pub storage_key: &'a str,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub has_thumbnail: bool,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &NewAttachment) -> Result<Attachment, ApiError> {
    Ok(diesel::insert_into(attachments::table)
        .values(row)
        .returning(attachments::all_columns)
        .get_result(conn)?)
}

pub fn insert_blob(
    conn: &mut DbConnection,
    attachment_id: i64,
    part: &str,
    bytes: &[u8],
) -> Result<(), ApiError> {
    diesel::insert_into(attachment_blobs::table)
        .values((
            attachment_blobs::attachment_id.eq(attachment_id),
            attachment_blobs::part.eq(part),
            attachment_blobs::bytes.eq(bytes),
        ))
        .execute(conn)?;
    Ok(())
}

/// A blob, if it is there.
pub fn blob(
    conn: &mut DbConnection,
    attachment_id: i64,
    part: &str,
) -> Result<Option<Vec<u8>>, ApiError> {
    Ok(attachment_blobs::table
        .filter(attachment_blobs::attachment_id.eq(attachment_id))
        .filter(attachment_blobs::part.eq(part))
        .select(attachment_blobs::bytes)
        .first(conn)
        .optional()?)
}

pub fn delete_blobs(conn: &mut DbConnection, attachment_id: i64) -> Result<(), ApiError> {
    diesel::delete(
        attachment_blobs::table.filter(attachment_blobs::attachment_id.eq(attachment_id)),
    )
    .execute(conn)?;
    Ok(())
}

/// A live attachment of the shop (404 for another shop's, an unknown id or a deleted one).
pub fn get(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<Attachment, ApiError> {
    attachments::table
        .filter(attachments::shop_id.eq(shop_id))
        .filter(attachments::deleted_at.is_null())
        .find(id)
        .select(Attachment::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("attachment"))
}

/// A ticket's live attachments after `after` (oldest first), at most `limit`.
pub fn list(
    conn: &mut DbConnection,
    ticket_id: i64,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Attachment>, ApiError> {
    let mut query = attachments::table
        .filter(attachments::ticket_id.eq(ticket_id))
        .filter(attachments::deleted_at.is_null())
        .select(Attachment::as_select())
        .order(attachments::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(attachments::id.gt(after));
    }
    Ok(query.load(conn)?)
}

/// Bytes held by a ticket's live attachments.
pub fn ticket_usage(conn: &mut DbConnection, ticket_id: i64) -> Result<u64, ApiError> {
    let sizes: Vec<i64> = attachments::table
        .filter(attachments::ticket_id.eq(ticket_id))
        .filter(attachments::deleted_at.is_null())
        .select(attachments::size)
        .load(conn)?;
    Ok(sizes.into_iter().map(|s| s.max(0) as u64).sum())
}

/// Makes the row a tombstone: who deleted it, when and why.
pub fn mark_deleted(
    conn: &mut DbConnection,
    id: i64,
    by: i64,
    reason: &str,
    at: NaiveDateTime,
) -> Result<Attachment, ApiError> {
    Ok(diesel::update(attachments::table.find(id))
        .set((
            attachments::deleted_at.eq(at),
            attachments::deleted_by.eq(by),
            attachments::delete_reason.eq(reason),
            attachments::has_thumbnail.eq(false),
        ))
        .returning(attachments::all_columns)
        .get_result(conn)?)
}

/// Live rows whose bytes are stored under `key` (content-addressed files are shared).
pub fn live_references(
    conn: &mut DbConnection,
    storage: StorageKind,
    key: &str,
) -> Result<i64, ApiError> {
    Ok(attachments::table
        .filter(attachments::storage.eq(storage))
        .filter(attachments::storage_key.eq(key))
        .filter(attachments::deleted_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Views with their uploaders' names (one query for the lot).
pub fn views(
    conn: &mut DbConnection,
    rows: &[Attachment],
) -> Result<Vec<AttachmentView>, ApiError> {
    let uploaders: Vec<i64> = rows.iter().filter_map(|a| a.uploader_id).collect();
    let names = crate::tickets::store::Names::load(conn, &[], &uploaders)?;
    Ok(rows
        .iter()
        .map(|a| a.view(a.uploader_id.and_then(|id| names.staff.get(&id).cloned())))
        .collect())
}
