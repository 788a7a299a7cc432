//! Team statistics for leads. Every figure is an aggregate computed by the database
//! (window functions give the percentiles on both backends); only the per-group result
//! rows reach the service.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::{Principal, roles::Permission};
use crate::db::{Backend, DbConnection, raw_sql};
use crate::error::{ApiError, Problem};
use crate::extract::{Query, utc_offset};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One row for the whole period.
    #[default]
    None,
    /// By assignee (`unassigned` for tickets nobody holds).
    Agent,
    Kind,
    /// By the sales channel of the ticket's order, else the review's platform, else `unknown`.
    Channel,
    /// By the local day the ticket was opened.
    Day,
    /// By the local ISO week (its Monday) the ticket was opened.
    Week,
    /// By the local month the ticket was opened.
    Month,
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First local day of the period (default: 29 days before `to`).
    pub from: Option<NaiveDate>,
    /// Last local day of the period, included (default: today).
    pub to: Option<NaiveDate>,
    /// The time zone's UTC offset, which decides where days begin (default `+08:00`).
    pub utc_offset: Option<String>,
    pub group_by: Option<GroupBy>,
}

/// The period as UTC instants [start, end) and the offset in minutes.
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub offset_minutes: i32,
}

pub fn period(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    offset: FixedOffset,
    today: NaiveDate,
) -> Result<Period, ApiError> {
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to - Duration::days(29));
    if from > to {
        return Err(ApiError::field("from", "must not be after to"));
    }
    if (to - from).num_days() > 3660 {
        return Err(ApiError::field(
            "from",
            "the period may span at most ten years",
        ));
    }
    let midnight = |day: NaiveDate| {
        offset
            .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
            .single()
            .map(|t| t.naive_utc())
            .ok_or_else(|| ApiError::field("from", "is out of range"))
    };
    Ok(Period {
        from,
        to,
        start: midnight(from)?,
        end: midnight(to + Duration::days(1))?,
        offset_minutes: offset.local_minus_utc() / 60,
    })
}

/// SQL for `b - a` in seconds, per backend.
fn seconds_between(backend: Backend, a: &str, b: &str) -> String {
    match backend {
        Backend::Postgres => format!("CAST(EXTRACT(EPOCH FROM ({b} - {a})) AS DOUBLE PRECISION)"),
        Backend::Sqlite => format!("((julianday({b}) - julianday({a})) * 86400.0)"),
    }
}

/// SQL naming each ticket's group. The offset is an integer the service computed.
fn group_expression(backend: Backend, group_by: GroupBy, offset_minutes: i32) -> String {
    let local = |column: &str| match backend {
        Backend::Postgres => format!("({column} + INTERVAL '{offset_minutes} minutes')"),
        Backend::Sqlite => column.to_owned(),
    };
    let sqlite_shift = format!("'{offset_minutes:+} minutes'");
    match (group_by, backend) {
        (GroupBy::None, _) => "'all'".into(),
        (GroupBy::Agent, _) => "COALESCE(CAST(t.assignee_id AS TEXT), 'unassigned')".into(),
        (GroupBy::Kind, _) => "t.kind".into(),
        // A lookup by primary key only for tickets that have an order (a join would make
        // PostgreSQL hash every order of the shop).
        (GroupBy::Channel, _) => {
            "COALESCE((SELECT o.channel FROM orders o WHERE o.id = t.order_id), t.review_platform, 'unknown')".into()
        }
        (GroupBy::Day, Backend::Postgres) => {
            format!("to_char({}, 'YYYY-MM-DD')", local("t.created_at"))
        }
        (GroupBy::Week, Backend::Postgres) => format!(
            "to_char(date_trunc('week', {}), 'YYYY-MM-DD')",
            local("t.created_at")
        ),
        (GroupBy::Month, Backend::Postgres) => {
            format!("to_char({}, 'YYYY-MM')", local("t.created_at"))
        }
        (GroupBy::Day, Backend::Sqlite) => format!("date(t.created_at, {sqlite_shift})"),
        (GroupBy::Week, Backend::Sqlite) => {
            format!("date(t.created_at, {sqlite_shift}, '-6 days', 'weekday 1')")
        }
        (GroupBy::Month, Backend::Sqlite) => {
            format!("strftime('%Y-%m', t.created_at, {sqlite_shift})")
        }
    }
}

/// The tickets opened in the period, one row each, with the measures the figures need.
fn base_cte(backend: Backend, group_by: GroupBy, offset_minutes: i32) -> String {
    format!(
        "WITH base AS (
            SELECT {group} AS grp, t.kind, t.state, t.outcome, t.satisfaction_score AS score,
                   {first_call} AS first_call_secs,
                   CASE WHEN t.first_contact_at IS NOT NULL AND t.first_contact_at <= t.first_call_due_at THEN 1 ELSE 0 END AS in_time,
                   CASE WHEN t.state = 'resolved' THEN {resolve} END AS resolve_secs
            FROM tickets t
            WHERE t.shop_id = $1 AND t.created_at >= $2 AND t.created_at < $3
        )",
        group = group_expression(backend, group_by, offset_minutes),
        first_call = seconds_between(backend, "t.created_at", "t.first_contact_at"),
        resolve = seconds_between(backend, "t.created_at", "t.resolved_at"),
    )
}

#[derive(QueryableByName)]
struct CountsRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = BigInt)]
    opened: i64,
    #[diesel(sql_type = BigInt)]
    resolved: i64,
    #[diesel(sql_type = BigInt)]
    closed: i64,
    #[diesel(sql_type = BigInt)]
    first_calls: i64,
    #[diesel(sql_type = BigInt)]
    first_calls_in_time: i64,
    #[diesel(sql_type = BigInt)]
    reviews_resolved: i64,
    #[diesel(sql_type = BigInt)]
    reviews_revised: i64,
    #[diesel(sql_type = BigInt)]
    scores: i64,
    #[diesel(sql_type = BigInt)]
    satisfied: i64,
    #[diesel(sql_type = Nullable<Double>)]
    mean_score: Option<f64>,
}

#[derive(QueryableByName)]
struct PercentileRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = Nullable<Double>)]
    p50: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    p90: Option<f64>,
}

/// Median and 90th percentile, in the column's unit.
type Quantiles = (Option<f64>, Option<f64>);

/// Median and 90th percentile (nearest rank) of `column` per group.
fn percentiles(
    conn: &mut DbConnection,
    base: &str,
    column: &str,
    shop_id: i64,
    p: &Period,
) -> Result<BTreeMap<String, Quantiles>, ApiError> {
    let sql = format!(
        "{base}, ranked AS (
            SELECT grp, {column} AS v,
                   ROW_NUMBER() OVER (PARTITION BY grp ORDER BY {column}) AS rn,
                   COUNT(*) OVER (PARTITION BY grp) AS n
            FROM base WHERE {column} IS NOT NULL
        )
        SELECT grp,
               CAST(MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN v END) AS DOUBLE PRECISION) AS p50,
               CAST(MAX(CASE WHEN rn = (90 * n + 99) / 100 THEN v END) AS DOUBLE PRECISION) AS p90
        FROM ranked GROUP BY grp"
    );
    let rows: Vec<PercentileRow> = diesel::sql_query(raw_sql(conn.backend(), &sql))
        .bind::<BigInt, _>(shop_id)
        .bind::<Timestamp, _>(p.start)
        .bind::<Timestamp, _>(p.end)
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.grp, (r.p50, r.p90))).collect())
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn minutes(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|s| (s / 60.0 * 10.0).round() / 10.0)
}

fn hours(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|s| (s / 3600.0 * 100.0).round() / 100.0)
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FirstCallStats {
    /// Tickets with a first contact attempt.
    pub measured: i64,
    /// Median minutes from opening to the first contact attempt.
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
    /// Share of opened tickets whose first attempt came by `first_call_due_at`.
    pub within_deadline_share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ResolveTimeStats {
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SatisfactionStats {
    pub responses: i64,
    /// Mean score, 1 to 5.
    pub mean: Option<f64>,
    /// Share of scores of 4 or 5 (CSAT).
    pub csat: Option<f64>,
}

/// The figures for one group of tickets opened in the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TicketStats {
    /// The group: `all`, a staff id or `unassigned`, a kind, a channel, or a local date.
    pub group: String,
    pub opened: i64,
    pub resolved: i64,
    pub closed_unresolved: i64,
    /// resolved / (resolved + closed unresolved).
    pub resolution_rate: Option<f64>,
    pub first_call: FirstCallStats,
    pub time_to_resolve: ResolveTimeStats,
    /// Share of resolved negative-review tickets whose review was revised or withdrawn.
    pub review_revision_rate: Option<f64>,
    pub satisfaction: SatisfactionStats,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketStatsReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub utc_offset: String,
    pub group_by: GroupBy,
    pub groups: Vec<TicketStats>,
}

pub fn ticket_stats(
    conn: &mut DbConnection,
    shop_id: i64,
    p: &Period,
    group_by: GroupBy,
) -> Result<Vec<TicketStats>, ApiError> {
    let backend = conn.backend();
    let base = base_cte(backend, group_by, p.offset_minutes);
    let counts: Vec<CountsRow> = diesel::sql_query(raw_sql(backend, &format!(
        "{base}
        SELECT grp,
               CAST(COUNT(*) AS BIGINT) AS opened,
               CAST(SUM(CASE WHEN state = 'resolved' THEN 1 ELSE 0 END) AS BIGINT) AS resolved,
               CAST(SUM(CASE WHEN state = 'closed' THEN 1 ELSE 0 END) AS BIGINT) AS closed,
               CAST(SUM(CASE WHEN first_call_secs IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS first_calls,
               CAST(SUM(in_time) AS BIGINT) AS first_calls_in_time,
               CAST(SUM(CASE WHEN kind = 'negative_review' AND state = 'resolved' THEN 1 ELSE 0 END) AS BIGINT) AS reviews_resolved,
               CAST(SUM(CASE WHEN kind = 'negative_review' AND state = 'resolved'
                             AND outcome IN ('review_revised', 'review_withdrawn') THEN 1 ELSE 0 END) AS BIGINT) AS reviews_revised,
               CAST(COUNT(score) AS BIGINT) AS scores,
               CAST(SUM(CASE WHEN score >= 4 THEN 1 ELSE 0 END) AS BIGINT) AS satisfied,
               CAST(AVG(score) AS DOUBLE PRECISION) AS mean_score
        FROM base GROUP BY grp ORDER BY grp"
    )))
    .bind::<BigInt, _>(shop_id)
    .bind::<Timestamp, _>(p.start)
    .bind::<Timestamp, _>(p.end)
    .load(conn)?;
    let first_call = percentiles(conn, &base, "first_call_secs", shop_id, p)?;
    let resolve = percentiles(conn, &base, "resolve_secs", shop_id, p)?;
    Ok(counts
        .into_iter()
        .map(|c| {
            let (fc50, fc90) = first_call.get(&c.grp).copied().unwrap_or((None, None));
            let (r50, r90) = resolve.get(&c.grp).copied().unwrap_or((None, None));
            TicketStats {
                resolution_rate: ratio(c.resolved, c.resolved + c.closed),
                first_call: FirstCallStats {
                    measured: c.first_calls,
                    median_minutes: minutes(fc50),
                    p90_minutes: minutes(fc90),
                    within_deadline_share: ratio(c.first_calls_in_time, c.opened),
                },
                time_to_resolve: ResolveTimeStats {
                    median_hours: hours(r50),
                    p90_hours: hours(r90),
                },
                review_revision_rate: ratio(c.reviews_revised, c.reviews_resolved),
                satisfaction: SatisfactionStats {
                    responses: c.scores,
                    mean: c.mean_score.map(|m| (m * 100.0).round() / 100.0),
                    csat: ratio(c.satisfied, c.scores),
                },
                group: c.grp,
                opened: c.opened,
                resolved: c.resolved,
                closed_unresolved: c.closed,
            }
        })
        .collect())
}

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
/// `review_withdrawn`; satisfaction is the mean score and CSAT the share of scores 4-5.
#[utoipa::path(get, path = "/api/v1/stats/tickets", tag = "stats", security(("bearer" = []), ("api_key" = [])),
    params(StatsQuery),
    responses(
        (status = 200, body = TicketStatsReport),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
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
        .read(move |conn| ticket_stats(conn, caller.shop_id(), &p, group_by))
        .await?;
    Ok(HttpResponse::Ok().json(TicketStatsReport {
        from,
        to,
        utc_offset: offset.to_string(),
        group_by,
        groups,
    }))
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BacklogQuery {
    /// Open tickets without a contact attempt for this many days count as stale (default 3).
    #[validate(range(min = 1, max = 365))]
    pub no_contact_days: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Backlog {
    /// The group: `all`, or a staff id or `unassigned`.
    pub group: String,
    pub new: i64,
    pub first_call: i64,
    pub follow_up: i64,
    /// New tickets past their first-call deadline.
    pub overdue_first_calls: i64,
    /// Tickets in progress past their next follow-up time.
    pub overdue_follow_ups: i64,
    /// Open tickets with no contact attempt (or, never contacted, opened) `no_contact_days` ago or earlier.
    pub no_contact: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BacklogReport {
    pub no_contact_days: u32,
    pub total: Backlog,
    /// The same per assignee.
    pub by_agent: Vec<Backlog>,
}

#[derive(QueryableByName)]
struct BacklogRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = BigInt)]
    new: i64,
    #[diesel(sql_type = BigInt)]
    first_call: i64,
    #[diesel(sql_type = BigInt)]
    follow_up: i64,
    #[diesel(sql_type = BigInt)]
    overdue_first_calls: i64,
    #[diesel(sql_type = BigInt)]
    overdue_follow_ups: i64,
    #[diesel(sql_type = BigInt)]
    no_contact: i64,
}

pub fn backlog(
    conn: &mut DbConnection,
    shop_id: i64,
    now: NaiveDateTime,
    no_contact_days: u32,
) -> Result<(Backlog, Vec<Backlog>), ApiError> {
    let stale_before = now - Duration::days(i64::from(no_contact_days));
    let sql = raw_sql(
        conn.backend(),
        "SELECT COALESCE(CAST(assignee_id AS TEXT), 'unassigned') AS grp,
                CAST(SUM(CASE WHEN state = 'new' THEN 1 ELSE 0 END) AS BIGINT) AS new,
                CAST(SUM(CASE WHEN state = 'first_call' THEN 1 ELSE 0 END) AS BIGINT) AS first_call,
                CAST(SUM(CASE WHEN state = 'follow_up' THEN 1 ELSE 0 END) AS BIGINT) AS follow_up,
                CAST(SUM(CASE WHEN state = 'new' AND first_call_due_at < $2 THEN 1 ELSE 0 END) AS BIGINT) AS overdue_first_calls,
                CAST(SUM(CASE WHEN state <> 'new' AND next_follow_up_at < $2 THEN 1 ELSE 0 END) AS BIGINT) AS overdue_follow_ups,
                CAST(SUM(CASE WHEN COALESCE(last_contact_at, created_at) < $3 THEN 1 ELSE 0 END) AS BIGINT) AS no_contact
         FROM tickets
         WHERE shop_id = $1 AND state IN ('new', 'first_call', 'follow_up')
         GROUP BY COALESCE(CAST(assignee_id AS TEXT), 'unassigned')
         ORDER BY grp",
    );
    let rows: Vec<BacklogRow> = diesel::sql_query(sql)
        .bind::<BigInt, _>(shop_id)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(stale_before)
        .load(conn)?;
    let mut total = Backlog {
        group: "all".into(),
        ..Backlog::default()
    };
    let by_agent: Vec<Backlog> = rows
        .into_iter()
        .map(|r| Backlog {
            group: r.grp,
            new: r.new,
            first_call: r.first_call,
            follow_up: r.follow_up,
            overdue_first_calls: r.overdue_first_calls,
            overdue_follow_ups: r.overdue_follow_ups,
            no_contact: r.no_contact,
        })
        .collect();
    for b in &by_agent {
        total.new += b.new;
        total.first_call += b.first_call;
        total.follow_up += b.follow_up;
        total.overdue_first_calls += b.overdue_first_calls;
        total.overdue_follow_ups += b.overdue_follow_ups;
        total.no_contact += b.no_contact;
    }
    Ok((total, by_agent))
}

/// Open tickets by state, overdue first calls and follow-ups, and stale tickets, in total
/// and per assignee (leads and admins).
#[utoipa::path(get, path = "/api/v1/stats/backlog", tag = "stats", security(("bearer" = []), ("api_key" = [])),
    params(BacklogQuery),
    responses(
        (status = 200, body = BacklogReport),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn backlog_report(
    state: web::Data<AppState>,
    caller: Principal,
    query: Query<BacklogQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTeamStats)?;
    let no_contact_days = query.no_contact_days.unwrap_or(3);
    let now = Utc::now().naive_utc();
    let (total, by_agent) = state
        .db
        .read(move |conn| backlog(conn, caller.shop_id(), now, no_contact_days))
        .await?;
    Ok(HttpResponse::Ok().json(BacklogReport {
        no_contact_days,
        total,
        by_agent,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_local_days_in_utc() {
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let p = period(
            Some(day("2026-11-01")),
            Some(day("2026-11-30")),
            cst,
            day("2026-12-05"),
        )
        .unwrap();
        assert_eq!(p.start.to_string(), "2026-10-31 16:00:00");
        assert_eq!(p.end.to_string(), "2026-11-30 16:00:00");
        assert_eq!(p.offset_minutes, 480);
        let default = period(None, None, cst, day("2026-11-30")).unwrap();
        assert_eq!(default.from, day("2026-11-01"));
        assert!(
            period(
                Some(day("2026-12-01")),
                Some(day("2026-11-01")),
                cst,
                day("2026-12-05")
            )
            .is_err()
        );
    }

    #[test]
    fn ratios_and_units() {
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(0, 0), None);
        assert_eq!(minutes(Some(90.0)), Some(1.5));
        assert_eq!(hours(Some(5400.0)), Some(1.5));
    }

    #[test]
    fn group_sql_shifts_local_time() {
        assert!(group_expression(Backend::Sqlite, GroupBy::Day, 480).contains("'+480 minutes'"));
        assert!(group_expression(Backend::Sqlite, GroupBy::Day, -300).contains("'-300 minutes'"));
        assert!(
            group_expression(Backend::Postgres, GroupBy::Week, 480).contains("date_trunc('week'")
        );
    }
}
