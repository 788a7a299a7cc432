//! `/api/v1/sla/calendar`, `/api/v1/sla/policies` and `/api/v1/tickets/{id}/service-levels`
//! over HTTP. Every staff member reads the service levels (they explain the deadlines in
//! their queue); admins set them. A change applies to deadlines computed afterwards
//! (through another replica: within `store::CACHE_TTL`); targets already started keep
//! the due time they were given.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::calendar::{Calendar, CalendarDoc, FieldError as CalendarFieldError};
use super::policy::{Policies, Reassign};
use super::store::{self, Setting};
use super::{ClockKind, TargetKind, TicketTarget};
use crate::audit::AuditAction;
use crate::auth::{Caller, roles::Permission};
use crate::error::{ApiError, FieldError};
use crate::extract::{Body, NoQuery};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/sla/calendar")
            .route(web::get().to(get_calendar))
            .route(web::put().to(put_calendar)),
    )
    .service(
        web::resource("/sla/policies")
            .route(web::get().to(get_policies))
            .route(web::put().to(put_policies)),
    )
    .service(
        web::resource("/tickets/{id}/service-levels").route(web::get().to(ticket_service_levels)),
    );
}

fn invalid(errors: Vec<CalendarFieldError>) -> ApiError {
    ApiError::Validation(
        errors
            .into_iter()
            .map(|e| FieldError::new(&e.field, e.message))
            .collect(),
    )
}

/// The shop's working calendar: time zone, working hours per weekday, holidays and
/// make-up working days. Until an admin sets one: every hour of every day, Asia/Shanghai.
#[utoipa::path(get, path = "/api/v1/sla/calendar", tag = "service levels", security(("bearer" = [])),
    responses(
        (status = 200, body = CalendarDoc),
        (status = 403, description = "API keys may not read service levels"),
    ))]
pub async fn get_calendar(
    state: web::Data<AppState>,
    caller: Caller,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let doc = state
        .db
        .read(move |conn| store::calendar(conn, caller.shop_id))
        .await?;
    Ok(HttpResponse::Ok().json(doc))
}

/// Set the shop's working calendar (admins). Checked whole: a valid IANA zone, `HH:MM`
/// times (`24:00` as an end; an end before its start runs overnight), no overlapping
/// intervals on a day (an overnight tail included), at most 8 intervals a day, at least
/// one in the week, no date both a holiday and a make-up day. Deadlines computed from now
/// on use it; deadlines already given are kept.
#[utoipa::path(put, path = "/api/v1/sla/calendar", tag = "service levels", security(("bearer" = [])),
    request_body = CalendarDoc,
    responses(
        (status = 200, body = CalendarDoc),
        (status = 403, description = "Only admins set the calendar"),
        (status = 422, description = "The calendar breaks a rule; `errors` names each offending field (e.g. `week.monday[1].start`)"),
    ))]
pub async fn put_calendar(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<CalendarDoc>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageServiceLevels)?;
    let doc = body.into_inner();
    let calendar = Calendar::from_doc(&doc).map_err(invalid)?;
    let stored = calendar.to_doc();
    let shop_id = caller.shop_id;
    let saved = stored.clone();
    state
        .db
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            store::save(
                conn,
                shop_id,
                Setting::Calendar(&saved),
                caller.user_id,
                now,
            )?;
            crate::audit::store::record_now(
                conn,
                shop_id,
                &caller.subject(),
                AuditAction::SlaCalendarSet,
                json!({"time_zone": saved.time_zone}),
                None,
            )
        })
        .await?;
    state.sla.forget(shop_id);
    Ok(HttpResponse::Ok().json(stored))
}

/// The shop's service-level policies: first-call, follow-up and resolution targets per
/// ticket kind and priority, each in business or calendar hours, and escalation. Until an
/// admin sets them: the deadline settings (`FIRST_CALL_HOURS_*`, `FOLLOW_UP_HOURS_*`) in
/// calendar hours, no resolution target, no escalation.
#[utoipa::path(get, path = "/api/v1/sla/policies", tag = "service levels", security(("bearer" = [])),
    responses(
        (status = 200, body = Policies),
        (status = 403, description = "API keys may not read service levels"),
    ))]
pub async fn get_policies(
    state: web::Data<AppState>,
    caller: Caller,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let defaults = state.settings.tickets.deadlines;
    let policies = state
        .db
        .read(move |conn| store::policies(conn, caller.shop_id, &defaults))
        .await?;
    Ok(HttpResponse::Ok().json(policies))
}

/// Set the shop's service-level policies (admins). Checked whole: one rule per kind and
/// priority, a fallback rule (no priority) for every kind, targets of 1 to 43,200
/// minutes, escalation reassignments to active staff of the shop.
#[utoipa::path(put, path = "/api/v1/sla/policies", tag = "service levels", security(("bearer" = [])),
    request_body = Policies,
    responses(
        (status = 200, body = Policies),
        (status = 403, description = "Only admins set the policies"),
        (status = 422, description = "The policies break a rule; `errors` names each offending field (e.g. `rules[2].first_call.minutes`)"),
    ))]
pub async fn put_policies(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<Policies>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageServiceLevels)?;
    let policies = body.into_inner();
    policies.check().map_err(invalid)?;
    let shop_id = caller.shop_id;
    let saved = policies.clone();
    state
        .db
        .write(move |conn| {
            for (i, rule) in saved.rules.iter().enumerate() {
                if let Some(escalation) = &rule.escalation
                    && let Some(Reassign::User { user_id }) = escalation.reassign
                    && crate::tickets::store::check_assignable(conn, shop_id, user_id).is_err()
                {
                    return Err(ApiError::field(
                        format!("rules[{i}].escalation.reassign.user_id"),
                        "is not an active staff member of this shop",
                    ));
                }
            }
            let now = Utc::now().naive_utc();
            store::save(
                conn,
                shop_id,
                Setting::Policies(&saved),
                caller.user_id,
                now,
            )?;
            crate::audit::store::record_now(
                conn,
                shop_id,
                &caller.subject(),
                AuditAction::SlaPoliciesSet,
                json!({"rules": saved.rules.len()}),
                None,
            )
        })
        .await?;
    state.sla.forget(shop_id);
    Ok(HttpResponse::Ok().json(policies))
}

/// One service-level target a ticket was held to, as recorded when it happened.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketTargetView {
    pub target: TargetKind,
    pub clock: ClockKind,
    pub minutes: i32,
    pub started_at: DateTime<Utc>,
    /// Absent while the clock is stopped (the ticket waits on the buyer or the platform).
    pub due_at: Option<DateTime<Utc>>,
    pub met_at: Option<DateTime<Utc>>,
    /// When it was breached (its due time), recorded when the breach was found.
    pub breached_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    /// The ticket settled before this target mattered.
    pub dropped_at: Option<DateTime<Utc>>,
    /// Time the clock counted from start to met, in seconds (business seconds on a
    /// business clock; waits left out of a resolution).
    pub counted_seconds: Option<i64>,
    /// Whose ticket it was when the target was met or breached.
    pub agent_id: Option<i64>,
}

impl TicketTargetView {
    fn of(row: TicketTarget) -> TicketTargetView {
        TicketTargetView {
            target: row.target,
            clock: row.clock,
            minutes: row.minutes,
            started_at: row.started_at.and_utc(),
            due_at: row.due_at.map(|t| t.and_utc()),
            met_at: row.met_at.map(|t| t.and_utc()),
            breached_at: row.breached_at.map(|t| t.and_utc()),
            escalated_at: row.escalated_at.map(|t| t.and_utc()),
            dropped_at: row.dropped_at.map(|t| t.and_utc()),
            counted_seconds: row.counted_seconds,
            agent_id: row.agent_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketTargetList {
    /// Oldest first.
    pub items: Vec<TicketTargetView>,
}

/// The service-level targets a ticket was held to: first call, each follow-up, resolution;
/// when each was due and met or breached.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/service-levels", tag = "service levels", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id")),
    responses(
        (status = 200, body = TicketTargetList),
        (status = 404, description = "No such ticket in this shop"),
    ))]
pub async fn ticket_service_levels(
    state: web::Data<AppState>,
    caller: crate::auth::Principal,
    id: web::Path<i64>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let (id, shop_id) = (id.into_inner(), caller.shop_id());
    let rows = state
        .db
        .read(move |conn| {
            crate::tickets::store::get(conn, shop_id, id)?;
            store::of_ticket(conn, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(TicketTargetList {
        items: rows.into_iter().map(TicketTargetView::of).collect(),
    }))
}
