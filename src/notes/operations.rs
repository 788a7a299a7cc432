//! Writing and correcting notes: the note, its timeline entry on a ticket and the ticket's
//! search index, in one transaction. No state, deadline or version moves.

use chrono::NaiveDateTime;
use serde_json::json;

use super::{Note, store};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::search::store::index_tickets;
use crate::tickets::{EventKind, store as ticket_store};

pub fn add_to_ticket(
    conn: &mut DbConnection,
    shop_id: ShopId,
    ticket_id: i64,
    author_id: i64,
    body: &str,
    now: NaiveDateTime,
) -> Result<Note, ApiError> {
    let ticket = ticket_store::get(conn, shop_id, ticket_id)?;
    let note = store::insert(
        conn,
        shop_id,
        ticket.customer_id,
        Some(ticket.id),
        author_id,
        body.trim(),
        now,
    )?;
    ticket_store::insert_event(
        conn,
        &ticket,
        Some(author_id),
        EventKind::NoteAdded,
        (None, None),
        &json!({"note_id": note.id, "body": note.body}),
        now,
    )?;
    index_tickets(conn, &[ticket.id])?;
    Ok(note)
}

pub fn add_to_customer(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: i64,
    author_id: i64,
    body: &str,
    now: NaiveDateTime,
) -> Result<Note, ApiError> {
    let customer = crate::customers::store::get(conn, shop_id, customer_id)?;
    customer.ensure_live()?;
    store::insert(
        conn,
        shop_id,
        customer.id,
        None,
        author_id,
        body.trim(),
        now,
    )
}

/// The author's correction within the edit window; the earlier text is kept, and on a
/// ticket the timeline records before and after.
pub fn correct(
    conn: &mut DbConnection,
    shop_id: ShopId,
    note_id: i64,
    editor: i64,
    body: &str,
    now: NaiveDateTime,
) -> Result<Note, ApiError> {
    let note = store::get(conn, shop_id, note_id)?;
    note.check_editable(editor, now)?;
    let body = body.trim();
    if body == note.body {
        return Ok(note);
    }
    let corrected = store::correct(conn, &note, body, now)?;
    if let Some(ticket_id) = note.ticket_id {
        let ticket = ticket_store::get(conn, shop_id, ticket_id)?;
        ticket_store::insert_event(
            conn,
            &ticket,
            Some(editor),
            EventKind::NoteEdited,
            (None, None),
            &json!({"note_id": note.id, "before": note.body, "after": corrected.body}),
            now,
        )?;
        index_tickets(conn, &[ticket_id])?;
    }
    Ok(corrected)
}
