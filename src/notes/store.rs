//! All SQL of notes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Note, NoteEdit, NoteView};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::schema::notes;

pub fn insert(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: i64,
    ticket_id: Option<i64>,
    author_id: i64,
    body: &str,
    at: NaiveDateTime,
) -> Result<Note, ApiError> {
    Ok(diesel::insert_into(notes::table)
        .values((
            notes::shop_id.eq(shop_id),
            notes::customer_id.eq(customer_id),
            notes::ticket_id.eq(ticket_id),
            notes::author_id.eq(author_id),
            notes::body.eq(body),
            notes::edits.eq("[]"),
            notes::created_at.eq(at),
        ))
        .returning(notes::all_columns)
        .get_result(conn)?)
}

pub fn get(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<Note, ApiError> {
    notes::table
        .filter(notes::shop_id.eq(shop_id))
        .find(id)
        .select(Note::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("note"))
}

/// Replaces the text, keeping the one it replaces.
pub fn correct(
    conn: &mut DbConnection,
    note: &Note,
    body: &str,
    at: NaiveDateTime,
) -> Result<Note, ApiError> {
    let mut edits = note.edits();
    edits.push(NoteEdit {
        body: note.body.clone(),
        replaced_at: at.and_utc(),
    });
    let edits = serde_json::to_string(&edits).unwrap_or_else(|_| "[]".into());
    Ok(diesel::update(notes::table.find(note.id))
        .set((
            notes::body.eq(body),
            notes::edits.eq(edits),
            notes::edited_at.eq(at),
        ))
        .returning(notes::all_columns)
        .get_result(conn)?)
}

/// Whose notes a list shows.
#[derive(Debug, Clone, Copy)]
pub enum NotesOf {
    /// A ticket's notes.
    Ticket(i64),
    /// All notes about a customer: on the file and on their tickets.
    Customer(i64),
}

/// Notes after `after` (oldest first), at most `limit`.
pub fn list(
    conn: &mut DbConnection,
    of: NotesOf,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Note>, ApiError> {
    let mut query = notes::table
        .select(Note::as_select())
        .order(notes::id.asc())
        .limit(limit)
        .into_boxed();
    query = match of {
        NotesOf::Ticket(id) => query.filter(notes::ticket_id.eq(id)),
        NotesOf::Customer(id) => query.filter(notes::customer_id.eq(id)),
    };
    if let Some(after) = after {
        query = query.filter(notes::id.gt(after));
    }
    Ok(query.load(conn)?)
}

/// Views of notes with their authors' names (one query for the lot).
pub fn views(conn: &mut DbConnection, list: &[Note]) -> Result<Vec<NoteView>, ApiError> {
    let authors: Vec<i64> = list.iter().filter_map(|n| n.author_id).collect();
    let names = crate::tickets::store::Names::load(conn, &[], &authors)?;
    Ok(list
        .iter()
        .map(|n| n.view(n.author_id.and_then(|id| names.staff.get(&id).cloned())))
        .collect())
}
