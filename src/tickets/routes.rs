//! `/api/v1/tickets` and `/api/v1/me/queue`.
//!
//! Every change answers with the ticket and its `ETag`; sending that back as `If-Match`
//! makes the change conditional (412 if someone changed the ticket in between). Opening a
//! ticket with an API key that cannot read tickets answers a receipt instead of the ticket.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::State;
use super::bulk::{BulkTicketAnswer, BulkTicketRequest};
use super::operations::{self, Context, check_version};
use super::store::{self, AssigneeFilter, TicketCursor, TicketFilter, TicketSort};
use super::{
    AssignRequest, CloseRequest, CreateTicketRequest, LogContactRequest, Priority, ReopenRequest,
    ResolveRequest, SatisfactionRequest, Ticket, TicketAnswer, TicketKind, TicketView,
    UpdateTicketRequest, WaitRequest,
};
use crate::auth::{Caller, Principal, roles::Permission};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::extract::NoQuery;
use crate::extract::{Body, Query, check_instant, utc_offset};
use crate::pagination::PageRequest;
use crate::response::UpsertOutcome;
use crate::sla::SlaStanding;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tickets")
            .route(web::get().to(list_tickets))
            .route(web::post().to(create_ticket)),
    )
    // Before `/tickets/{id}`, which would take `bulk` for an id.
    .service(web::resource("/tickets/bulk").route(web::post().to(bulk_change)))
    .service(
        web::resource("/tickets/{id}")
            .route(web::get().to(get_ticket))
            .route(web::patch().to(update_ticket)),
    )
    .service(web::resource("/tickets/{id}/contacts").route(web::post().to(log_contact)))
    .service(web::resource("/tickets/{id}/resolve").route(web::post().to(resolve_ticket)))
    .service(web::resource("/tickets/{id}/close").route(web::post().to(close_ticket)))
    .service(web::resource("/tickets/{id}/reopen").route(web::post().to(reopen_ticket)))
    .service(
        web::resource("/tickets/{id}/wait")
            .route(web::post().to(start_waiting))
            .route(web::delete().to(end_waiting)),
    )
    .service(web::resource("/tickets/{id}/assignee").route(web::put().to(assign_ticket)))
    .service(web::resource("/tickets/{id}/satisfaction").route(web::put().to(record_satisfaction)))
    .service(web::resource("/tickets/{id}/events").route(web::get().to(ticket_events)))
    .service(web::resource("/me/queue").route(web::get().to(my_queue)));
}

/// The versions an `If-Match` header accepts (`None`: no header or `*`, no condition);
/// a malformed header is a 422 naming it.
fn if_match(req: &HttpRequest) -> Result<Option<Vec<i64>>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = value.to_str().unwrap_or("");
    super::parse_if_match(raw).map_err(|why| ApiError::field("If-Match", why))
}

fn with_etag(
    (ticket, view): &(Ticket, TicketView),
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::build(status)
        .insert_header((header::ETAG, ticket.etag()))
        .json(view))
}

/// The ticket and its view (with names), read on the same connection.
fn with_view(conn: &mut DbConnection, ticket: Ticket) -> Result<(Ticket, TicketView), ApiError> {
    let view = store::view(conn, &ticket, Utc::now().naive_utc())?;
    Ok((ticket, view))
}

/// Runs one change on the locked ticket, honouring `If-Match`.
async fn change<F>(
    state: &AppState,
    caller: Caller,
    id: i64,
    req: &HttpRequest,
    operation: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConnection, &Context<'_>, Ticket) -> Result<Ticket, ApiError> + Send + 'static,
{
    change_checked(state, caller, id, req, |_| Ok(()), operation).await
}

/// [`change`], with the request first checked against the ticket (`check`), so that a
/// body that cannot apply to it is a 422 whatever version `If-Match` names: a request
/// that could never succeed is refused as such, not as merely stale.
async fn change_checked<C, F>(
    state: &AppState,
    caller: Caller,
    id: i64,
    req: &HttpRequest,
    check: C,
    operation: F,
) -> Result<HttpResponse, ApiError>
where
    C: FnOnce(&Ticket) -> Result<(), ApiError> + Send + 'static,
    F: FnOnce(&mut DbConnection, &Context<'_>, Ticket) -> Result<Ticket, ApiError> + Send + 'static,
{
    caller.require(Permission::WorkTickets)?;
    let expected = if_match(req)?;
    let sla = state.sla.clone();
    let tiers = state.settings.tiers;
    let surveys = state.surveys.clone();
    let ticket = state
        .db
        .write(move |conn| {
            let ticket = store::lock(conn, caller.shop_id, id)?;
            check(&ticket)?;
            check_version(&ticket, &expected)?;
            let ctx = Context {
                sla: sla.get(conn, caller.shop_id)?,
                caller: &Principal::Staff(caller),
                now: Utc::now().naive_utc(),
                tiers,
                surveys: Some(surveys),
            };
            let ticket = operation(conn, &ctx, ticket)?;
            with_view(conn, ticket)
        })
        .await?;
    with_etag(&ticket, actix_web::http::StatusCode::OK)
}

const PRECONDITION: &str = "If-Match names a version the ticket no longer has";

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTicketsQuery {
    /// Search as staff ask: the customer's name or a handle (start), an order number or
    /// review id (exact): these rank first; then words of the title, review text,
    /// description and notes (two characters or more), any part of the customer's name or
    /// shop nickname, the last 4 or more digits of their phone. Results come by relevance
    /// (`sort` may not be given; `with_total` is not available).
    #[validate(length(min = 1, max = 64))]
    #[param(min_length = 1, max_length = 64)]
    pub q: Option<String>,
    /// Comma-separated states, e.g. `new,first_call`.
    #[validate(length(min = 1, max = 100))]
    #[param(
        min_length = 1,
        max_length = 100,
        pattern = r"^ *(new|first_call|follow_up|resolved|closed) *(, *(new|first_call|follow_up|resolved|closed) *)*$"
    )]
    pub state: Option<String>,
    pub kind: Option<TicketKind>,
    /// `me`, `none` (unassigned) or a staff id.
    #[validate(length(min = 1, max = 20))]
    #[param(min_length = 1, max_length = 20, pattern = r"^(me|none|[0-9]{1,18})$")]
    pub assignee: Option<String>,
    pub customer_id: Option<i64>,
    pub priority: Option<Priority>,
    /// `true`: only new tickets whose first-call deadline has passed.
    pub overdue_first_call: Option<bool>,
    /// Tickets in progress whose next follow-up is due before this time (between
    /// 1970-01-01 and 9999-12-30, as every time below).
    #[validate(custom(function = "check_instant"))]
    pub follow_up_due_before: Option<DateTime<Utc>>,
    /// Opened at or after this time.
    #[validate(custom(function = "check_instant"))]
    pub created_from: Option<DateTime<Utc>>,
    /// Opened before this time.
    #[validate(custom(function = "check_instant"))]
    pub created_to: Option<DateTime<Utc>>,
    /// Open tickets by where they stand against their service-level targets:
    /// `about_to_breach` (a target due within the policies' warning), `breached`,
    /// `escalated`.
    pub sla: Option<crate::sla::SlaStanding>,
    pub sort: Option<TicketSort>,
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Also count all matching tickets.
    pub with_total: Option<bool>,
}

fn ticket_filter(
    caller: &Principal,
    query: &ListTicketsQuery,
    now: NaiveDateTime,
) -> Result<TicketFilter, ApiError> {
    let states = match &query.state {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| {
                // Spaces around a name are allowed (`new, first_call`), as documented.
                State::parse(s.trim_matches(' '))
                    .ok_or_else(|| ApiError::field("state", format!("{s:?} is not a ticket state")))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let assignee = match query.assignee.as_deref() {
        None => None,
        Some("me") => match caller.staff_id() {
            Some(id) => Some(AssigneeFilter::Staff(id)),
            None => {
                return Err(ApiError::field(
                    "assignee",
                    "me names a staff member; an API key has no tickets of its own",
                ));
            }
        },
        Some("none") => Some(AssigneeFilter::Nobody),
        Some(id) => Some(AssigneeFilter::Staff(
            // Digits only, as documented (`+5` or `-5` would parse, but no staff id is either).
            Some(id)
                .filter(|id| id.len() <= 18 && id.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| ApiError::field("assignee", "must be me, none or a staff id"))?,
        )),
    };
    if let (Some(from), Some(to)) = (query.created_from, query.created_to)
        && from > to
    {
        return Err(ApiError::field(
            "created_to",
            "must not be before created_from",
        ));
    }
    Ok(TicketFilter {
        shop_id: caller.shop_id(),
        states,
        kind: query.kind,
        assignee,
        customer_id: query.customer_id,
        priority: query.priority,
        first_call_overdue_at: query.overdue_first_call.unwrap_or(false).then_some(now),
        follow_up_due_before: query.follow_up_due_before.map(|t| t.naive_utc()),
        created_from: query.created_from.map(|t| t.naive_utc()),
        created_to: query.created_to.map(|t| t.naive_utc()),
        no_contact_since: None,
        // `about_to_breach` needs the shop's warning, read with the list (`list_tickets`).
        target_due_before: None,
        escalated: query.sla == Some(SlaStanding::Escalated),
        breached: query.sla == Some(SlaStanding::Breached),
        due_soon_ids: None,
        survey_unanswered: None,
        search: query
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| {
                use crate::customers::rules::{handle_search_key, name_key};
                crate::search::Terms::new(q, name_key(q), handle_search_key(q))
            }),
    })
}

/// Tickets, filtered and sorted for a queue. Filters combine; pages are stable under inserts.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", security(("bearer" = []), ("api_key" = [])),
    params(ListTicketsQuery),
    responses(
        (status = 200, body = crate::tickets::TicketPage),
        (status = 401),
        (status = 422),
    ))]
pub async fn list_tickets(
    state: web::Data<AppState>,
    caller: Principal,
    query: Query<ListTicketsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let query = query.into_inner();
    let now = Utc::now().naive_utc();
    let filter = ticket_filter(&caller, &query, now)?;
    let sort = query.sort.unwrap_or_default();
    let request = PageRequest::parse(
        query.cursor.as_deref(),
        query.limit,
        query.with_total.unwrap_or(false),
    )?
    .refusing_unless(TicketCursor::within_calendar)?;
    let viewer = caller.clone();
    let about_to_breach = query.sla == Some(SlaStanding::AboutToBreach);
    let sla = state.sla.clone();
    if filter.search.is_some() {
        if query.sort.is_some() {
            return Err(ApiError::field(
                "sort",
                "a search (q) is ordered by relevance: leading matches first, then newest first",
            ));
        }
        if query.with_total == Some(true) {
            return Err(ApiError::field("with_total", "is not available with q"));
        }
    }
    let page = state
        .db
        .read(move |conn| {
            let mut filter = filter;
            if about_to_breach {
                filter.target_due_before = Some(now + sla.get(conn, filter.shop_id)?.warning());
            }
            if filter.search.is_some() {
                return request.load_uncounted(
                    conn,
                    |conn, after, n| {
                        let cursor = match after {
                            None => None,
                            Some(TicketCursor::Ranked { rank, id }) => Some((rank, id)),
                            Some(_) => {
                                return Err(ApiError::field(
                                    "cursor",
                                    "belongs to a list with another sort",
                                ));
                            }
                        };
                        store::search(conn, &filter, cursor, n)
                    },
                    |(rank, t)| TicketCursor::Ranked {
                        rank: *rank,
                        id: t.id,
                    },
                    |conn, rows| {
                        let rows: Vec<Ticket> = rows.into_iter().map(|(_, t)| t).collect();
                        Ok(store::views(conn, &rows, now)?
                            .into_iter()
                            .map(|v| v.shown_to(&viewer))
                            .collect())
                    },
                );
            }
            request.load(
                conn,
                |conn, after, n| store::list(conn, &filter, sort, after, n),
                |conn| store::count(conn, &filter),
                |t| TicketCursor::of(sort, t),
                |conn, rows| {
                    Ok(store::views(conn, &rows, now)?
                        .into_iter()
                        .map(|v| v.shown_to(&viewer))
                        .collect())
                },
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Open a ticket. The first-call deadline comes from the policy for its kind. A negative
/// review with a `review_id` already on a ticket is a 409 `duplicate-review`.
///
/// The answer is the ticket when the caller may read tickets (staff; API keys with
/// `tickets:read`), otherwise a `Receipt` (`{"id", "outcome": "created"}`).
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", security(("bearer" = []), ("api_key" = [])),
    request_body = CreateTicketRequest,
    responses(
        (status = 201, body = TicketAnswer, headers(("Location" = String), ("ETag" = String)),
            description = "Opened: the ticket, or a receipt for callers who may not read tickets"),
        (status = 403, description = "Agents may assign only themselves"),
        (status = 409, description = "Customer archived (`customer-archived`), or the review already has a ticket (`duplicate-review`)"),
        (status = 422),
    ))]
pub async fn create_ticket(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<CreateTicketRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OpenTickets)?;
    let shows_record = caller.sees_what_it_writes(Permission::OpenTickets);
    let viewer = caller.clone();
    let request = body.into_inner();
    let sla = state.sla.clone();
    let auto_assign = state.settings.tickets.auto_assign;
    let tiers = state.settings.tiers;
    let ticket = state
        .db
        .write(move |conn| {
            let ctx = Context {
                sla: sla.get(conn, caller.shop_id())?,
                caller: &caller,
                now: Utc::now().naive_utc(),
                tiers,
                surveys: None,
            };
            let ticket = operations::create(conn, &ctx, &request, auto_assign)?;
            with_view(conn, ticket)
        })
        .await?;
    let (ticket, view) = ticket;
    let view = view.shown_to(&viewer);
    let answer = TicketAnswer::of(shows_record, ticket.id, UpsertOutcome::Created, || {
        Ok::<_, ApiError>(view)
    })?;
    Ok(HttpResponse::Created()
        .insert_header((header::ETAG, ticket.etag()))
        .insert_header((header::LOCATION, format!("/api/v1/tickets/{}", ticket.id)))
        .json(answer))
}

/// One ticket, with its `ETag`.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Ticket id")),
    responses(
        (status = 200, body = TicketView, headers(("ETag" = String))),
        (status = 404),
    ))]
pub async fn get_ticket(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let id = id.into_inner();
    let viewer = caller.clone();
    let (ticket, view) = state
        .db
        .read(move |conn| {
            let ticket = store::get(conn, caller.shop_id(), id)?;
            with_view(conn, ticket)
        })
        .await?;
    with_etag(
        &(ticket, view.shown_to(&viewer)),
        actix_web::http::StatusCode::OK,
    )
}

/// Edit title, description, details, priority or order. Each change is in the timeline
/// with its before and after.
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id"), ("If-Match" = Option<String>, Header, description = "ETag the change is based on (e.g. `\"3\"`), or `*`; anything else is a 422")),
    request_body = UpdateTicketRequest,
    responses(
        (status = 200, body = TicketView, headers(("ETag" = String))),
        (status = 403),
        (status = 404),
        (status = 412, description = PRECONDITION),
        (status = 422),
    ))]
pub async fn update_ticket(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
    body: Body<UpdateTicketRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    if request.title.is_none()
        && request.description.is_none()
        && request.details.is_none()
        && request.priority.is_none()
        && request.order_id.is_none()
        && request.platform_deadline_at.is_none()
    {
        return Err(ApiError::field("body", "name at least one field to change"));
    }
    let details = request.details.clone();
    change_checked(
        &state,
        caller,
        id.into_inner(),
        &req,
        move |ticket| match details {
            Some(details) => super::TicketDetails::parse(ticket.kind, details).map(|_| ()),
            None => Ok(()),
        },
        move |conn, ctx, ticket| operations::edit(conn, ctx, ticket, &request),
    )
    .await
}

/// Log a contact attempt. The first moves the ticket from `new` to `first_call` and
/// stamps `first_contact_at`; later ones keep it in `follow_up`. `next_follow_up_at`
/// defaults to 24 h after an unreached attempt and 72 h after a reached one.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/contacts", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id"), ("If-Match" = Option<String>, Header, description = "ETag the change is based on (e.g. `\"3\"`), or `*`; anything else is a 422")),
    request_body = LogContactRequest,
    responses(
        (status = 200, body = TicketView, headers(("ETag" = String))),
        (status = 403),
        (status = 409, description = "Ticket is resolved or closed (`invalid-transition`, with `current_state` and `allowed_next_states`)"),
        (status = 412, description = PRECONDITION),
        (status = 422),
    ))]
pub async fn log_contact(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
    body: Body<LogContactRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    change(
        &state,
        caller,
        id.into_inner(),
        &req,
        move |conn, ctx, ticket| operations::log_contact(conn, ctx, ticket, &request),
    )
    .await
}

/// Resolve with an outcome valid for the ticket's kind (`first_call` or `follow_up` only).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/resolve", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id"), ("If-Match" = Option<String>, Header, description = "ETag the change is based on (e.g. `\"3\"`), or `*`; anything else is a 422")),
    request_body = ResolveRequest,
    responses(
        (status = 200, body = TicketView, headers(("ETag" = String))),
        (status = 403),
        (status = 409, description = "Not allowed from the current state (`invalid-transition`)"),
        (status = 412, description = PRECONDITION),
        (status = 422, description = "Outcome of another kind, or refund missing"),
    ))]
pub async fn resolve_ticket(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
    body: Body<ResolveRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    change(
        &state,
        caller,
        id.into_inner(),
        &req,
        move |conn, ctx, ticket| operations::resolve(conn, ctx, ticket, &request),
    )
    .await
}

/// Close without resolution, with a reason (any open state).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/close", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id"), ("If-Match" = Option<String>, Header, description = "ETag the change is based on (e.g. `\"3\"`), or `*`; anything else is a 422")),
    request_body = CloseRequest,
    responses(
        (status = 200, body = TicketView, headers(("ETag" = String))),
        (status = 403),
        (status = 409, description = "Already resolved or closed (`invalid-transition`)"),
        (status = 412, description = PRECONDITION),
        (status = 422),
    ))]
pub async fn close_ticket(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
    body: Body<CloseRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    change(
        &state,
        caller,
        id.into_inner(),
        &req,
        move |conn, ctx, ticket| operations::close(conn, ctx, ticket, &request),
    )
    .await
}

/// Wait on the buyer (e.g. the item is on its way back) or on the platform (an
/// arbitration, a refund in progress): the resolution clock stops until the next contact
/// attempt, resolving, closing or `DELETE .../wait`. The ticket stays in its state
/// (`first_call` or `follow_up`); the wait is on the timeline.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/wait", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id"), ("If-Match" = Option<String>, Header, description = "ETag the change is based on (e.g. `\"3\"`), or `*`; anything else is a 422")),
    request_body = WaitRequest,
    responses(
        (status = 200, body = TicketView, headers(("ETag" = String))),
        (status = 403),
        (status = 409, description = "The ticket is new (call the buyer first), settled, or already waiting (`invalid-transition`)"),
        (status = 412, description = PRECONDITION),
        (status = 422),
    ))]
pub async fn start_waiting(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
    body: Body<WaitRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    change(
        &state,
        caller,
        id.into_inner(),
        &req,
        move |conn, ctx, ticket| operations::wait(conn, ctx, ticket, &request),
    )
    .await
}

/// End the ticket's wait by hand: the resolution clock runs again, its due time moved by
/// the time waited.
#[utoipa::path(delete, path = "/api/v1/tickets/{id}/wait", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id"), ("If-Match" = Option<String>, Header, description = "ETag the change is based on (e.g. `\"3\"`), or `*`; anything else is a 422")),
    responses(
        (status = 200, body = TicketView, headers(("ETag" = String))),
        (status = 403),
        (status = 409, description = "The ticket is not waiting (`invalid-transition`)"),
        (status = 412, description = PRECONDITION),
    ))]
pub async fn end_waiting(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    change(&state, caller, id.into_inner(), &req, operations::end_wait).await
}

/// Reopen a resolved or closed ticket into `follow_up` (leads), with a reason. It is due at once.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/reopen", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id"), ("If-Match" = Option<String>, Header, description = "ETag the change is based on (e.g. `\"3\"`), or `*`; anything else is a 422")),
    request_body = ReopenRequest,
    responses(
        (status = 200, body = TicketView, headers(("ETag" = String))),
        (status = 403, description = "Agents may not reopen"),
        (status = 409, description = "Ticket is still open (`invalid-transition`)"),
        (status = 412, description = PRECONDITION),
        (status = 422),
    ))]
pub async fn reopen_ticket(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
    body: Body<ReopenRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    change(
        &state,
        caller,
        id.into_inner(),
        &req,
        move |conn, ctx, ticket| operations::reopen(conn, ctx, ticket, &request),
    )
    .await
}

/// Assign, reassign or unassign (leads); an agent may take an unassigned ticket for themselves.
#[utoipa::path(put, path = "/api/v1/tickets/{id}/assignee", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id"), ("If-Match" = Option<String>, Header, description = "ETag the change is based on (e.g. `\"3\"`), or `*`; anything else is a 422")),
    request_body = AssignRequest,
    responses(
        (status = 200, body = TicketView, headers(("ETag" = String))),
        (status = 403),
        (status = 412, description = PRECONDITION),
        (status = 422, description = "No such active staff member"),
    ))]
pub async fn assign_ticket(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
    body: Body<AssignRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    change(
        &state,
        caller,
        id.into_inner(),
        &req,
        move |conn, ctx, ticket| operations::assign(conn, ctx, ticket, &request),
    )
    .await
}

/// Record the buyer's satisfaction (1-5) on a resolved ticket, once; a lead may correct it
/// later (the correction is in the timeline).
#[utoipa::path(put, path = "/api/v1/tickets/{id}/satisfaction", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id"), ("If-Match" = Option<String>, Header, description = "ETag the change is based on (e.g. `\"3\"`), or `*`; anything else is a 422")),
    request_body = SatisfactionRequest,
    responses(
        (status = 200, body = TicketView, headers(("ETag" = String))),
        (status = 403),
        (status = 409, description = "Not resolved (`not-resolved`), or already recorded (`satisfaction-recorded`)"),
        (status = 412, description = PRECONDITION),
        (status = 422),
    ))]
pub async fn record_satisfaction(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
    body: Body<SatisfactionRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    change(
        &state,
        caller,
        id.into_inner(),
        &req,
        move |conn, ctx, ticket| operations::record_satisfaction(conn, ctx, ticket, &request),
    )
    .await
}

/// Change many tickets at once (leads and admins): assign or unassign them, close them with
/// a reason, or set their priority.
///
/// Each ticket goes through the same operation as its single-ticket endpoint (`PUT
/// .../assignee`, `POST .../close`, `PATCH` with `priority`): the same workflow rules, one
/// timeline entry and the same webhook events per changed ticket. All or nothing: if any
/// ticket cannot take the action (no such ticket, a closed ticket cannot be closed, ...),
/// nothing is changed and the answer is 422 `bulk-rejected` with a `report` naming each
/// ticket and why. A ticket that already is as asked (same assignee, same priority) is
/// `unchanged`. API keys may not: working tickets is people's work (no scope allows it).
#[utoipa::path(post, path = "/api/v1/tickets/bulk", tag = "tickets", security(("bearer" = [])),
    request_body = BulkTicketRequest,
    responses(
        (status = 200, body = BulkTicketAnswer, description = "Every ticket took the action; one entry per ticket, in the order of `ticket_ids`"),
        (status = 403, description = "Agents may not change tickets in bulk"),
        (status = 422, description = "A field is invalid (`validation`: 1 to 500 ticket ids, each once; an assignee who is no active staff member), or a ticket cannot take the action (`bulk-rejected`, with a `report` per ticket); nothing was changed"),
    ))]
pub async fn bulk_change(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<BulkTicketRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::WorkTicketsInBulk)?;
    let request = body.into_inner();
    let sla = state.sla.clone();
    let tiers = state.settings.tiers;
    let answer = state
        .db
        .write(move |conn| {
            let ctx = Context {
                sla: sla.get(conn, caller.shop_id)?,
                caller: &Principal::Staff(caller),
                now: Utc::now().naive_utc(),
                tiers,
                surveys: None,
            };
            operations::bulk(conn, &ctx, &request)
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The ticket's timeline: every change, oldest first, with who and when, a page at a time.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/events", tag = "tickets", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Ticket id"), EventsQuery),
    responses(
        (status = 200, body = crate::tickets::store::TicketEventPage),
        (status = 404),
        (status = 422),
    ))]
pub async fn ticket_events(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    query: Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let (id, query) = (id.into_inner(), query.into_inner());
    let request = PageRequest::<i64>::parse(query.cursor.as_deref(), query.limit, false)?;
    let page = state
        .db
        .read(move |conn| {
            let ticket = store::get(conn, caller.shop_id(), id)?;
            request.load_uncounted(
                conn,
                |conn, after, n| store::events(conn, ticket.id, after, n),
                |event: &store::Event| event.id,
                |conn, rows| {
                    let actors: Vec<i64> = rows.iter().filter_map(|e| e.actor_id).collect();
                    let names = store::Names::load(conn, &[], &actors)?;
                    Ok(rows.iter().map(|e| e.view(&names)).collect())
                },
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// The caller's UTC offset, which decides where "today" ends (default `+08:00`).
    #[param(pattern = r"^[+ -](0[0-9]|1[0-4]):[0-5][0-9]$", example = "+08:00")]
    pub utc_offset: Option<String>,
}

/// An agent's day.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyQueue {
    /// Past their first-call deadline or follow-up time, most overdue first.
    pub overdue: Vec<TicketView>,
    /// Falling due later today, soonest first.
    pub due_today: Vec<TicketView>,
}

const QUEUE_LIMIT: i64 = 500;

/// The caller's open tickets that are overdue or fall due today.
#[utoipa::path(get, path = "/api/v1/me/queue", tag = "tickets", security(("bearer" = [])),
    params(QueueQuery),
    responses(
        (status = 200, body = MyQueue),
        (status = 422),
    ))]
pub async fn my_queue(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<QueueQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::WorkTickets)?;
    let offset = utc_offset(query.utc_offset.as_deref(), "utc_offset")?;
    let now = Utc::now();
    let local_midnight = (now.with_timezone(&offset).date_naive() + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .and_then(|t| offset.from_local_datetime(&t).single())
        .ok_or_else(|| ApiError::Internal("end of day out of range".into()))?
        .naive_utc();
    let now = now.naive_utc();
    let tickets = state
        .db
        .read(move |conn| {
            let due = store::due_for(
                conn,
                caller.shop_id,
                caller.user_id,
                local_midnight,
                QUEUE_LIMIT,
            )?;
            store::views(conn, &due, now)
        })
        .await?;
    let mut queue = MyQueue {
        overdue: Vec::new(),
        due_today: Vec::new(),
    };
    for view in tickets {
        if view.overdue {
            queue.overdue.push(view);
        } else {
            queue.due_today.push(view);
        }
    }
    Ok(HttpResponse::Ok().json(queue))
}
