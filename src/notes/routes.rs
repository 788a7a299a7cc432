//! `/api/v1/tickets/{id}/notes`, `/api/v1/customers/{id}/notes` and `/api/v1/notes/{id}`:
//! staff only (notes are internal; no API key scope reads or writes them).

use actix_web::{HttpResponse, http::header, web};
use chrono::Utc;
use serde::Deserialize;
use validator::Validate;

use super::store::{self, NotesOf};
use super::{NoteRequest, operations};
use crate::auth::{Caller, roles::Permission};
use crate::error::ApiError;
use crate::extract::{Body, Query};
use crate::pagination::PageRequest;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tickets/{id}/notes")
            .route(web::get().to(ticket_notes))
            .route(web::post().to(add_ticket_note)),
    )
    .service(
        web::resource("/customers/{id}/notes")
            .route(web::get().to(customer_notes))
            .route(web::post().to(add_customer_note)),
    )
    .service(web::resource("/notes/{id}").route(web::patch().to(correct_note)));
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotesQuery {
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

async fn page(
    state: &AppState,
    caller: Caller,
    of: NotesOf,
    query: NotesQuery,
) -> Result<HttpResponse, ApiError> {
    let request = PageRequest::<i64>::parse(query.cursor.as_deref(), query.limit, false)?;
    let page = state
        .db
        .read(move |conn| {
            // The ticket or customer must be the caller's shop's (404 otherwise).
            match of {
                NotesOf::Ticket(id) => {
                    crate::tickets::store::get(conn, caller.shop_id, id)?;
                }
                NotesOf::Customer(id) => {
                    crate::customers::store::get(conn, caller.shop_id, id)?;
                }
            }
            request.load_uncounted(
                conn,
                |conn, after, n| store::list(conn, of, after, n),
                |note| note.id,
                |conn, rows| store::views(conn, &rows),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

fn created(state_note: (i64, super::NoteView)) -> HttpResponse {
    let (id, view) = state_note;
    HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/notes/{id}")))
        .json(view)
}

/// A ticket's internal notes, oldest first. Each is also on the ticket's timeline.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/notes", tag = "notes", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id"), NotesQuery),
    responses(
        (status = 200, body = super::NotePage),
        (status = 403, description = "API keys may not read internal notes"),
        (status = 404),
        (status = 422),
    ))]
pub async fn ticket_notes(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: Query<NotesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    page(
        &state,
        caller,
        NotesOf::Ticket(id.into_inner()),
        query.into_inner(),
    )
    .await
}

/// Write a note on a ticket (any staff member, whoever holds the ticket). The ticket's
/// state, deadlines and version do not move; the note is a `note_added` timeline entry and
/// its words are found by the ticket search.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/notes", tag = "notes", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id")),
    request_body = NoteRequest,
    responses(
        (status = 201, body = super::NoteView, headers(("Location" = String))),
        (status = 403, description = "API keys may not write internal notes"),
        (status = 404),
        (status = 422),
    ))]
pub async fn add_ticket_note(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<NoteRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::WorkTickets)?;
    let (id, request) = (id.into_inner(), body.into_inner());
    let answer = state
        .db
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            let note = operations::add_to_ticket(
                conn,
                caller.shop_id,
                id,
                caller.user_id,
                &request.body,
                now,
            )?;
            Ok((note.id, store::views(conn, &[note])?.remove(0)))
        })
        .await?;
    Ok(created(answer))
}

/// Every internal note about a customer, on the file and on their tickets (`ticket_id`
/// set), oldest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/notes", tag = "notes", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id"), NotesQuery),
    responses(
        (status = 200, body = super::NotePage),
        (status = 403, description = "API keys may not read internal notes"),
        (status = 404),
        (status = 422),
    ))]
pub async fn customer_notes(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: Query<NotesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    page(
        &state,
        caller,
        NotesOf::Customer(id.into_inner()),
        query.into_inner(),
    )
    .await
}

/// Write a note on a customer's file (any staff member). Nothing else about the customer
/// changes. An archived customer is read-only (409 `customer-archived`).
#[utoipa::path(post, path = "/api/v1/customers/{id}/notes", tag = "notes", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    request_body = NoteRequest,
    responses(
        (status = 201, body = super::NoteView, headers(("Location" = String))),
        (status = 403, description = "API keys may not write internal notes"),
        (status = 404),
        (status = 409, description = "The customer is archived (`customer-archived`)"),
        (status = 422),
    ))]
pub async fn add_customer_note(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<NoteRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let (id, request) = (id.into_inner(), body.into_inner());
    let answer = state
        .db
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            let note = operations::add_to_customer(
                conn,
                caller.shop_id,
                id,
                caller.user_id,
                &request.body,
                now,
            )?;
            Ok((note.id, store::views(conn, &[note])?.remove(0)))
        })
        .await?;
    Ok(created(answer))
}

/// Correct a note: its author only, within 15 minutes of writing it (then 409
/// `note-locked`: write a new note). Every earlier text is kept in `edits`; on a ticket the
/// timeline records the correction (`note_edited`, before and after).
#[utoipa::path(patch, path = "/api/v1/notes/{id}", tag = "notes", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Note id")),
    request_body = NoteRequest,
    responses(
        (status = 200, body = super::NoteView),
        (status = 403, description = "Not the note's author, or an API key"),
        (status = 404),
        (status = 409, description = "The edit window has closed (`note-locked`)"),
        (status = 422),
    ))]
pub async fn correct_note(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<NoteRequest>,
) -> Result<HttpResponse, ApiError> {
    let (id, request) = (id.into_inner(), body.into_inner());
    let view = state
        .db
        .write(move |conn| {
            let note = operations::correct(
                conn,
                caller.shop_id,
                id,
                caller.user_id,
                &request.body,
                Utc::now().naive_utc(),
            )?;
            Ok(store::views(conn, &[note])?.remove(0))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
