//! Attaching and deleting, each in the caller's transaction: the rows, database-stored
//! bytes and thumbnails, the ticket's limit and its timeline entries together.

use chrono::{Duration, NaiveDateTime};
use serde_json::json;

use super::storage::{Inspection, Placed};
use super::store::{self, FILE, NewAttachment, THUMBNAIL};
use super::{Attachment, FileType, StorageKind, rules};
use crate::auth::roles::Role;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::tickets::{EventKind, store as ticket_store};

/// A received, checked and placed file, ready for its row.
pub struct Ready {
    pub filename: String,
    pub file_type: FileType,
    pub size: u64,
    pub sha256: String,
    pub inspection: Inspection,
    pub placed: Placed,
}

/// Where an upload goes: a ticket, and maybe one of its notes.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub shop_id: ShopId,
    pub ticket_id: i64,
    pub note_id: Option<i64>,
}

/// The ticket (and note) an upload names, and the room its attachments have left:
/// checked before the bytes are read, and again when they are attached.
pub fn room_left(
    conn: &mut DbConnection,
    target: Target,
    max_ticket_bytes: u64,
) -> Result<u64, ApiError> {
    let ticket = ticket_store::get(conn, target.shop_id, target.ticket_id)?;
    if let Some(note_id) = target.note_id {
        let note = crate::notes::store::get(conn, target.shop_id, note_id)?;
        if note.ticket_id != Some(ticket.id) {
            return Err(ApiError::not_found("note"));
        }
    }
    Ok(max_ticket_bytes.saturating_sub(store::ticket_usage(conn, ticket.id)?))
}

/// Writes the rows of an upload, with their blobs and one `attachment_added` timeline
/// entry each; refused whole (413) when the ticket's attachments would exceed
/// `max_ticket_bytes`. The ticket's row is held so that concurrent uploads count in turn.
pub fn attach(
    conn: &mut DbConnection,
    target: Target,
    uploader_id: i64,
    files: &[Ready],
    (storage, max_ticket_bytes): (StorageKind, u64),
    now: NaiveDateTime,
) -> Result<Vec<Attachment>, ApiError> {
    let ticket = ticket_store::lock(conn, target.shop_id, target.ticket_id)?;
    let room = room_left(conn, target, max_ticket_bytes)?;
    let adding: u64 = files.iter().map(|f| f.size).sum();
    if adding > room {
        return Err(ApiError::TooLarge(format!(
            "the ticket's attachments may hold {max_ticket_bytes} bytes together; {room} are left and these files have {adding}"
        )));
    }
    let mut rows = Vec::with_capacity(files.len());
    for file in files {
        let key = match &file.placed {
            Placed::Database(_) => "",
            Placed::Stored(key) => key.as_str(),
        };
        let row = store::insert(
            conn,
            &NewAttachment {
                shop_id: target.shop_id,
                ticket_id: ticket.id,
                note_id: target.note_id,
                uploader_id: Some(uploader_id),
                filename: &file.filename,
                content_type: file.file_type.content_type(),
                size: i64::try_from(file.size).unwrap_or(i64::MAX),
                sha256: &file.sha256,
                storage,
                storage_key: key,
                width: file.inspection.width,
                height: file.inspection.height,
                has_thumbnail: file.inspection.thumbnail.is_some(),
                created_at: now,
            },
        )?;
        if let Placed::Database(received) = &file.placed {
            let bytes = super::storage::read_whole(received)?;
            store::insert_blob(conn, row.id, FILE, &bytes)?;
        }
        if let Some(thumbnail) = &file.inspection.thumbnail {
            store::insert_blob(conn, row.id, THUMBNAIL, thumbnail)?;
        }
        ticket_store::insert_event(
            conn,
            &ticket,
            Some(uploader_id),
            EventKind::AttachmentAdded,
            (None, None),
            &json!({
                "attachment_id": row.id, "note_id": row.note_id, "filename": row.filename,
                "content_type": row.content_type, "size": row.size, "sha256": row.sha256,
            }),
            now,
        )?;
        rows.push(row);
    }
    Ok(rows)
}

/// What a deletion leaves to do outside the transaction: the stored bytes to remove, if
/// no other live row shares them.
pub struct Deleted {
    pub attachment: Attachment,
    pub remove_bytes: Option<(StorageKind, String)>,
}

/// Deletes an attachment: its uploader within `window`, or a lead or admin at any time.
/// The row stays as a tombstone (who, when, why) and the timeline records
/// `attachment_deleted`; database-stored bytes and the thumbnail go with the transaction.
pub fn delete(
    conn: &mut DbConnection,
    (shop_id, id): (ShopId, i64),
    (actor_id, role): (i64, Role),
    reason: &str,
    window: Duration,
    now: NaiveDateTime,
) -> Result<Deleted, ApiError> {
    let attachment = store::get(conn, shop_id, id)?;
    rules::may_delete(
        (actor_id, role),
        attachment.uploader_id,
        attachment.created_at,
        now,
        window,
    )
    .map_err(ApiError::Forbidden)?;
    let ticket = ticket_store::lock(conn, shop_id, attachment.ticket_id)?;
    let deleted = store::mark_deleted(conn, attachment.id, actor_id, reason, now)?;
    store::delete_blobs(conn, attachment.id)?;
    ticket_store::insert_event(
        conn,
        &ticket,
        Some(actor_id),
        EventKind::AttachmentDeleted,
        (None, None),
        &json!({
            "attachment_id": deleted.id, "filename": deleted.filename,
            "content_type": deleted.content_type, "size": deleted.size,
            "sha256": deleted.sha256, "reason": reason,
        }),
        now,
    )?;
    let remove_bytes = match deleted.storage {
        StorageKind::Database => None,
        StorageKind::Filesystem => {
            (store::live_references(conn, StorageKind::Filesystem, &deleted.storage_key)? == 0)
                .then(|| (StorageKind::Filesystem, deleted.storage_key.clone()))
        }
        StorageKind::S3 => Some((StorageKind::S3, deleted.storage_key.clone())),
    };
    Ok(Deleted {
        attachment: deleted,
        remove_bytes,
    })
}

/// Whether stored bytes may go: no live row refers to them (checked again just before a
/// file is removed, outside the deleting transaction).
pub fn unreferenced(
    conn: &mut DbConnection,
    storage: StorageKind,
    key: &str,
) -> Result<bool, ApiError> {
    Ok(storage != StorageKind::Filesystem || store::live_references(conn, storage, key)? == 0)
}
