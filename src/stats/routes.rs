//! `/api/v1/stats`: the ticket and backlog reports (leads and admins, or keys with
//! `stats:read`). HTTP only: the figures come from [`super::store`].

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use chrono::Utc;

use super::rules::period;
use super::{
    BacklogQuery, BacklogReport, SalesFormat, SalesQuery, SalesReport, SalesRow, StatsQuery,
    TicketStatsReport, store,
};
use crate::auth::{Principal, roles::Permission};
use crate::error::ApiError;
use crate::extract::{Query, utc_offset};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/stats/tickets").route(web::get().to(tickets_report)))
        .service(web::resource("/stats/backlog").route(web::get().to(backlog_report)))
        .service(web::resource("/stats/sales").route(web::get().to(sales_report)));
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

/// Sales figures for a period, per group (leads and admins, or keys with `stats:read`).
///
/// The orders read are those **placed** (`ordered_at`) in the period (local days `from` to
/// `to`, included), of every status but `cancelled`. Per group: `orders` counts purchases
/// (`paid` and `partially_refunded`; a refunded order is no purchase), `buyers` the distinct
/// customers with a purchase, `new_buyers` those whose first purchase ever falls in the
/// group's time span (its day, week, month or year when grouped by time, the period
/// otherwise), `repeat_buyers` those with two purchases or more in the group and
/// `repeat_buyer_share` = repeat_buyers / buyers. Money, in cents: `gross_cents` is the
/// amount of the paid, partially refunded and refunded orders, `refunded_cents` what went
/// back (a refunded order's amount; a partially refunded order's refunds by its resolved
/// tickets, at most its amount), `revenue_cents` = gross - refunded, and
/// `average_order_value_cents` = revenue / orders. Refunds count in the period of their
/// order. `group_by=product` groups order items by SKU, or by product name for items
/// without one, sharing each order's amount and refunds among its items in proportion to
/// quantity × unit price; `tier` groups by the buyer's tier now. Rows come sorted by group.
/// `?format=csv` or `Accept: text/csv` sends the same table as a CSV file (UTF-8 with a
/// byte-order mark, amounts in yuan with two decimals).
#[utoipa::path(get, path = "/api/v1/stats/sales", tag = "stats", security(("bearer" = []), ("api_key" = [])),
    params(SalesQuery),
    responses(
        (status = 200, description = "The report, as JSON or (asked for) CSV", content(
            (SalesReport = "application/json"),
            (String = "text/csv", example = "group,salesperson_name,sku,product_name,orders,buyers,new_buyers,repeat_buyers,repeat_buyer_share,gross,refunded,revenue,average_order_value\n2026-11,,,,120,97,31,18,0.1856,35200.00,1200.00,34000.00,283.33\n"),
        )),
        (status = 403),
        (status = 422),
    ))]
pub async fn sales_report(
    state: web::Data<AppState>,
    caller: Principal,
    request: HttpRequest,
    query: Query<SalesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTeamStats)?;
    let offset = utc_offset(query.utc_offset.as_deref(), "utc_offset")?;
    let today = Utc::now().with_timezone(&offset).date_naive();
    let p = period(query.from, query.to, offset, today)?;
    let group_by = query.group_by.unwrap_or_default();
    let csv = match query.format {
        Some(format) => format == SalesFormat::Csv,
        None => wants_csv(&request),
    };
    let (from, to) = (p.from, p.to);
    let groups = state
        .db
        .read(move |conn| store::sales(conn, caller.shop_id(), &p, group_by))
        .await?;
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"sales-{from}-{to}.csv\""),
            ))
            .body(sales_csv(&groups)?));
    }
    Ok(HttpResponse::Ok().json(SalesReport {
        from,
        to,
        utc_offset: offset.to_string(),
        group_by,
        groups,
    }))
}

/// Whether the `Accept` header asks for CSV before JSON: `text/csv` listed, and ranked
/// above `application/json` when both are (by quality, then order).
fn wants_csv(request: &HttpRequest) -> bool {
    let Some(accept) = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let rank = |wanted: &str| {
        accept.split(',').enumerate().find_map(|(i, part)| {
            let mut pieces = part.split(';');
            let media = pieces.next()?.trim();
            if !media.eq_ignore_ascii_case(wanted) {
                return None;
            }
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((q, i))
        })
    };
    match (rank("text/csv"), rank("application/json")) {
        (Some((q, _)), _) if q <= 0.0 => false,
        (Some(_), None) => true,
        (Some((qc, ic)), Some((qj, ij))) => qc > qj || (qc == qj && ic < ij),
        (None, _) => false,
    }
}

fn yuan(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// The report's rows as CSV, with the byte-order mark spreadsheet programs need to read
/// UTF-8; cells a spreadsheet would run as formulas are neutralised as in the customer
/// export.
fn sales_csv(rows: &[SalesRow]) -> Result<Vec<u8>, ApiError> {
    use crate::ingestion::csv::neutralise_formula;
    let failed = |e: csv::Error| ApiError::Internal(format!("csv: {e}"));
    let mut writer = csv::WriterBuilder::new().from_writer(b"\xEF\xBB\xBF".to_vec());
    writer
        .write_record([
            "group",
            "salesperson_name",
            "sku",
            "product_name",
            "orders",
            "buyers",
            "new_buyers",
            "repeat_buyers",
            "repeat_buyer_share",
            "gross",
            "refunded",
            "revenue",
            "average_order_value",
        ])
        .map_err(failed)?;
    for row in rows {
        let text =
            |cell: &Option<String>| neutralise_formula(cell.as_deref().unwrap_or("")).into_owned();
        writer
            .write_record([
                neutralise_formula(&row.group).into_owned(),
                text(&row.salesperson_name),
                text(&row.sku),
                text(&row.product_name),
                row.orders.to_string(),
                row.buyers.to_string(),
                row.new_buyers.to_string(),
                row.repeat_buyers.to_string(),
                row.repeat_buyer_share
                    .map(|s| format!("{s:.4}"))
                    .unwrap_or_default(),
                yuan(row.gross_cents),
                yuan(row.refunded_cents),
                yuan(row.revenue_cents),
                row.average_order_value_cents.map(yuan).unwrap_or_default(),
            ])
            .map_err(failed)?;
    }
    writer
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))
}
