//! `/api/v1/stats`: the ticket and backlog reports (leads and admins, or keys with
//! `stats:read`). HTTP only: the figures come from [`super::store`].

use actix_web::{HttpResponse, web};
use chrono::Utc;

use super::rules::period;
use super::{BacklogQuery, BacklogReport, StatsQuery, TicketStatsReport, store};
use crate::auth::{Principal, roles::Permission};
use crate::error::ApiError;
use crate::extract::{Query, utc_offset};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/stats/tickets").route(web::get().to(tickets_report)))
        .service(web::resource("/stats/backlog").route(web::get().to(backlog_report)));
}

/// Ticket figures for a period, per group (leads and admins).
///
/// The tickets counted are those **opened** in the period (local days `from` to `to`,
/// included). Of them: `resolved` and `closed_unresolved` are those now in that state;
/// `resolution_rate` = resolved / (resolved + closed unresolved); first-call speed is the
/// time from opening to the first contact attempt (median and 90th percentile, nearest
/// rank) and `within_deadline_share` the share of opened tickets whose first attempt came by
/// `first_call_due_at`; time to resolve runs from opening to resolution; the review revision
/// rate is the share of resolved negative-review tickets with outcome `review_revised` or
/// `review_withdrawn`; satisfaction is the mean score and CSAT the share of scores 4-5,
/// also `by_source` (`buyer`: answered on the survey page; `staff`: typed in), with the
/// `reasons` given counted; `surveys` counts the buyer surveys of these tickets (one per
/// resolution: sent, answered, expired, withdrawn by a reopening) and the response rate,
/// answered / (sent - withdrawn).
/// `service_levels` counts the recorded targets of these tickets per kind (first call,
/// follow-ups, resolution): met within target, breached, escalated, the median and 90th
/// percentile of the time the clock counted (business hours on business clocks), and the
/// hours spent waiting on the buyer or the platform.
#[utoipa::path(get, path = "/api/v1/stats/tickets", tag = "stats", security(("bearer" = []), ("api_key" = [])),
    params(StatsQuery),
    responses(
        (status = 200, body = TicketStatsReport),
        (status = 403),
        (status = 422),
    ))]
pub async fn tickets_report(
    state: web::Data<AppState>,
    caller: Principal,
    query: Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTeamStats)?;
    let offset = utc_offset(query.utc_offset.as_deref(), "utc_offset")?;
    let today = Utc::now().with_timezone(&offset).date_naive();
    let p = period(query.from, query.to, offset, today)?;
    let group_by = query.group_by.unwrap_or_default();
    let (from, to) = (p.from, p.to);
    let groups = state
        .db
        .read(move |conn| {
            store::ticket_stats(conn, caller.shop_id(), &p, group_by, Utc::now().naive_utc())
        })
        .await?;
    Ok(HttpResponse::Ok().json(TicketStatsReport {
        from,
        to,
        utc_offset: offset.to_string(),
        group_by,
        groups,
    }))
}

/// Open tickets by state, overdue first calls and follow-ups, stale tickets, tickets about
/// to breach a service-level target and past their platform deadline, in total and per
/// assignee (leads and admins).
#[utoipa::path(get, path = "/api/v1/stats/backlog", tag = "stats", security(("bearer" = []), ("api_key" = [])),
    params(BacklogQuery),
    responses(
        (status = 200, body = BacklogReport),
        (status = 403),
        (status = 422),
    ))]
pub async fn backlog_report(
    state: web::Data<AppState>,
    caller: Principal,
    query: Query<BacklogQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTeamStats)?;
    let no_contact_days = query.no_contact_days.unwrap_or(3);
    let now = Utc::now().naive_utc();
    let sla = state.sla.clone();
    let (total, by_agent) = state
        .db
        .read(move |conn| {
            let shop_id = caller.shop_id();
            let warning_until = now + sla.get(conn, shop_id)?.warning();
            store::backlog(conn, shop_id, now, no_contact_days, warning_until)
        })
        .await?;
    Ok(HttpResponse::Ok().json(BacklogReport {
        no_contact_days,
        total,
        by_agent,
    }))
}
