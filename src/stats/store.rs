//! The statistics' SQL: one aggregate per report, written once for both backends (only
//! date arithmetic differs), returning per-group rows.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Double, Nullable, Text, Timestamp};

use super::rules::{average_cents, hours, minutes, ratio, split_sales_months, whole_cents};
use super::{
    Backlog, FirstCallStats, GroupBy, Period, ReasonCounts, ResolveTimeStats, SalesGroupBy,
    SalesRow, SatisfactionBySource, SatisfactionStats, ScoreStats, ServiceLevelStats, SurveyStats,
    TargetStats, TicketStats,
};
use crate::db::{Backend, DbConnection, clamped_sum, raw_sql, sql_list};
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::orders::OrderStatus;
use crate::schema::{products, users};
use crate::sla::TargetKind;
use crate::tickets::{Outcome, SatisfactionReason, State, TicketKind};

/// SQL for `b - a` in seconds, per backend.
fn seconds_between(backend: Backend, a: &str, b: &str) -> String {
    match backend {
        Backend::Postgres => format!("CAST(EXTRACT(EPOCH FROM ({b} - {a})) AS DOUBLE PRECISION)"),
        Backend::Sqlite => format!("((julianday({b}) - julianday({a})) * 86400.0)"),
    }
}

/// A calendar unit figures are grouped by, in the caller's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Day,
    /// The ISO week, named by its Monday.
    Week,
    Month,
    Year,
}

/// SQL naming the local day (`2026-11-23`), ISO week (its Monday), month (`2026-11`) or
/// year (`2026`) of `column`, a UTC timestamp. The offset is an integer the service
/// computed. Shared by every report that groups by time.
fn local_period(backend: Backend, unit: TimeUnit, column: &str, offset_minutes: i32) -> String {
    let local = format!("({column} + INTERVAL '{offset_minutes} minutes')");
    let sqlite_shift = format!("'{offset_minutes:+} minutes'");
    match (unit, backend) {
        (TimeUnit::Day, Backend::Postgres) => format!("to_char({local}, 'YYYY-MM-DD')"),
        (TimeUnit::Week, Backend::Postgres) => {
            format!("to_char(date_trunc('week', {local}), 'YYYY-MM-DD')")
        }
        (TimeUnit::Month, Backend::Postgres) => format!("to_char({local}, 'YYYY-MM')"),
        (TimeUnit::Year, Backend::Postgres) => format!("to_char({local}, 'YYYY')"),
        (TimeUnit::Day, Backend::Sqlite) => format!("date({column}, {sqlite_shift})"),
        (TimeUnit::Week, Backend::Sqlite) => {
            format!("date({column}, {sqlite_shift}, '-6 days', 'weekday 1')")
        }
        (TimeUnit::Month, Backend::Sqlite) => {
            format!("strftime('%Y-%m', {column}, {sqlite_shift})")
        }
        (TimeUnit::Year, Backend::Sqlite) => format!("strftime('%Y', {column}, {sqlite_shift})"),
    }
}

/// SQL naming each ticket's group. The offset is an integer the service computed.
fn group_expression(backend: Backend, group_by: GroupBy, offset_minutes: i32) -> String {
    let period = |unit| local_period(backend, unit, "t.created_at", offset_minutes);
    match group_by {
        GroupBy::None => "'all'".into(),
        GroupBy::Agent => "COALESCE(CAST(t.assignee_id AS TEXT), 'unassigned')".into(),
        GroupBy::Kind => "t.kind".into(),
        // A lookup by primary key only for tickets that have an order (a join would make
        // PostgreSQL hash every order of the shop).
        GroupBy::Channel => {
            "COALESCE((SELECT o.channel FROM orders o WHERE o.id = t.order_id), t.review_platform, 'unknown')".into()
        }
        GroupBy::Day => period(TimeUnit::Day),
        GroupBy::Week => period(TimeUnit::Week),
        GroupBy::Month => period(TimeUnit::Month),
    }
}

/// The tickets opened in the period, one row each, with the measures the figures need.
fn base_cte(backend: Backend, group_by: GroupBy, offset_minutes: i32) -> String {
    format!(
        "WITH base AS (
            SELECT {group} AS grp, t.kind, t.state, t.outcome, t.satisfaction_score AS score,
                   COALESCE(t.satisfaction_source, 'staff') AS source,
                   ' ' || t.satisfaction_reasons || ' ' AS reasons,
                   {first_call} AS first_call_secs,
                   CASE WHEN t.first_contact_at IS NOT NULL AND t.first_contact_at <= t.first_call_due_at THEN 1 ELSE 0 END AS in_time,
                   CASE WHEN t.state = '{resolved}' THEN {resolve} END AS resolve_secs
            FROM tickets t
            WHERE t.shop_id = $1 AND t.created_at >= $2 AND t.created_at < $3
        )",
        group = group_expression(backend, group_by, offset_minutes),
        first_call = seconds_between(backend, "t.created_at", "t.first_contact_at"),
        resolve = seconds_between(backend, "t.created_at", "t.resolved_at"),
        resolved = State::Resolved,
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
    #[diesel(sql_type = BigInt)]
    buyer_scores: i64,
    #[diesel(sql_type = BigInt)]
    buyer_satisfied: i64,
    #[diesel(sql_type = Nullable<Double>)]
    buyer_mean: Option<f64>,
    #[diesel(sql_type = BigInt)]
    staff_scores: i64,
    #[diesel(sql_type = BigInt)]
    staff_satisfied: i64,
    #[diesel(sql_type = Nullable<Double>)]
    staff_mean: Option<f64>,
    #[diesel(sql_type = BigInt)]
    reason_speed: i64,
    #[diesel(sql_type = BigInt)]
    reason_attitude: i64,
    #[diesel(sql_type = BigInt)]
    reason_solution: i64,
    #[diesel(sql_type = BigInt)]
    reason_product_quality: i64,
    #[diesel(sql_type = BigInt)]
    reason_other: i64,
}

#[derive(QueryableByName)]
struct SurveyRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = BigInt)]
    sent: i64,
    #[diesel(sql_type = BigInt)]
    answered: i64,
    #[diesel(sql_type = BigInt)]
    expired: i64,
    #[diesel(sql_type = BigInt)]
    withdrawn: i64,
}

/// The survey figures per group: the surveys of the tickets opened in the period.
fn survey_stats(
    conn: &mut DbConnection,
    shop_id: ShopId,
    p: &Period,
    group_by: GroupBy,
    now: NaiveDateTime,
) -> Result<BTreeMap<String, SurveyStats>, ApiError> {
    let backend = conn.backend();
    let rows: Vec<SurveyRow> = diesel::sql_query(raw_sql(
        backend,
        &format!(
            "SELECT grp,
                    CAST(COUNT(*) AS BIGINT) AS sent,
                    CAST(SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS answered,
                    CAST(SUM(CASE WHEN answered_at IS NULL AND withdrawn_at IS NULL
                                  AND expires_at <= $4 THEN 1 ELSE 0 END) AS BIGINT) AS expired,
                    CAST(SUM(CASE WHEN answered_at IS NULL AND withdrawn_at IS NOT NULL
                                  THEN 1 ELSE 0 END) AS BIGINT) AS withdrawn
             FROM (SELECT {group} AS grp, s.answered_at, s.withdrawn_at, s.expires_at
                   FROM tickets t JOIN surveys s ON s.ticket_id = t.id
                   WHERE t.shop_id = $1 AND t.created_at >= $2 AND t.created_at < $3) sv
             GROUP BY grp",
            group = group_expression(backend, group_by, p.offset_minutes),
        ),
    ))
    .bind::<BigInt, _>(shop_id)
    .bind::<Timestamp, _>(p.start)
    .bind::<Timestamp, _>(p.end)
    .bind::<Timestamp, _>(now)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let stats = SurveyStats {
                response_rate: ratio(r.answered, r.sent - r.withdrawn),
                sent: r.sent,
                answered: r.answered,
                expired: r.expired,
                withdrawn: r.withdrawn,
            };
            (r.grp, stats)
        })
        .collect())
}

fn mean(m: Option<f64>) -> Option<f64> {
    m.map(|m| (m * 100.0).round() / 100.0)
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

/// The display names of the staff members the groups name (a group is an agent's id, or
/// `unassigned`), in one query for the whole answer: a lead reads names, not ids. Staff
/// deactivated since keep their names, their tickets still count.
fn agent_names<'a>(
    conn: &mut DbConnection,
    shop_id: ShopId,
    groups: impl Iterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let ids: Vec<i64> = groups.filter_map(|g| g.parse().ok()).collect();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    Ok(users::table
        .filter(users::shop_id.eq(shop_id))
        .filter(users::id.eq_any(&ids))
        .select((users::id, users::display_name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect())
}

/// Median and 90th percentile, in the column's unit.
type Quantiles = (Option<f64>, Option<f64>);

/// Median and 90th percentile (nearest rank) of `column` per group.
fn percentiles(
    conn: &mut DbConnection,
    base: &str,
    column: &str,
    shop_id: ShopId,
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

#[derive(QueryableByName)]
struct TargetRow {
    /// `<group>|<target>`.
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = BigInt)]
    finished: i64,
    #[diesel(sql_type = BigInt)]
    within_target: i64,
    #[diesel(sql_type = BigInt)]
    breaches: i64,
    #[diesel(sql_type = BigInt)]
    escalations: i64,
}

#[derive(QueryableByName)]
struct WaitedRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = Nullable<Double>)]
    waited_secs: Option<f64>,
}

/// The targets of the tickets opened in the period, one row each; `grp` is the group and
/// the target kind (`<group>|<target>`), so the percentiles partition by both. Grouped
/// like the other figures (by agent: the ticket's assignee now; who held it when each
/// target was met or breached is on the target, `GET /tickets/{id}/service-levels`).
fn targets_cte(backend: Backend, group_by: GroupBy, offset_minutes: i32) -> String {
    let group = group_expression(backend, group_by, offset_minutes);
    format!(
        "WITH base AS (
            SELECT CAST({group} AS TEXT) || '|' || g.target AS grp,
                   CASE WHEN g.met_at IS NOT NULL OR g.breached_at IS NOT NULL THEN 1 ELSE 0 END AS finished,
                   CASE WHEN g.met_at IS NOT NULL AND g.breached_at IS NULL THEN 1 ELSE 0 END AS within_target,
                   CASE WHEN g.breached_at IS NOT NULL THEN 1 ELSE 0 END AS breached,
                   CASE WHEN g.escalated_at IS NOT NULL THEN 1 ELSE 0 END AS escalated,
                   CASE WHEN g.met_at IS NOT NULL THEN g.counted_seconds END AS counted_seconds
            FROM tickets t JOIN ticket_targets g ON g.ticket_id = t.id
            WHERE t.shop_id = $1 AND t.created_at >= $2 AND t.created_at < $3
        )"
    )
}

/// The service-level figures per group (the group's name as in the ticket figures).
fn service_levels(
    conn: &mut DbConnection,
    shop_id: ShopId,
    p: &Period,
    group_by: GroupBy,
    now: NaiveDateTime,
) -> Result<BTreeMap<String, ServiceLevelStats>, ApiError> {
    let backend = conn.backend();
    let base = targets_cte(backend, group_by, p.offset_minutes);
    let rows: Vec<TargetRow> = diesel::sql_query(raw_sql(
        backend,
        &format!(
            "{base}
            SELECT grp,
                   CAST(SUM(finished) AS BIGINT) AS finished,
                   CAST(SUM(within_target) AS BIGINT) AS within_target,
                   CAST(SUM(breached) AS BIGINT) AS breaches,
                   CAST(SUM(escalated) AS BIGINT) AS escalations
            FROM base GROUP BY grp"
        ),
    ))
    .bind::<BigInt, _>(shop_id)
    .bind::<Timestamp, _>(p.start)
    .bind::<Timestamp, _>(p.end)
    .load(conn)?;
    let counted = percentiles(conn, &base, "counted_seconds", shop_id, p)?;
    let mut stats: BTreeMap<String, ServiceLevelStats> = BTreeMap::new();
    for row in rows {
        let Some((group, target)) = row.grp.rsplit_once('|') else {
            continue;
        };
        let (p50, p90) = counted.get(&row.grp).copied().unwrap_or((None, None));
        let figures = TargetStats {
            finished: row.finished,
            within_target: row.within_target,
            within_target_share: ratio(row.within_target, row.finished),
            breaches: row.breaches,
            escalations: row.escalations,
            median_hours: hours(p50),
            p90_hours: hours(p90),
        };
        let entry = stats.entry(group.to_owned()).or_default();
        match TargetKind::parse(target) {
            Some(TargetKind::FirstCall) => entry.first_call = figures,
            Some(TargetKind::FollowUp) => entry.follow_up = figures,
            Some(TargetKind::Resolution) => entry.resolution = figures,
            None => {}
        }
    }
    let waited: Vec<WaitedRow> = diesel::sql_query(raw_sql(
        backend,
        &format!(
            "SELECT grp, CAST(SUM(waited) AS DOUBLE PRECISION) AS waited_secs
             FROM (SELECT {group} AS grp, {waited} AS waited
                   FROM tickets t JOIN ticket_waits w ON w.ticket_id = t.id
                   WHERE t.shop_id = $1 AND t.created_at >= $2 AND t.created_at < $3) waits
             GROUP BY grp",
            group = group_expression(backend, group_by, p.offset_minutes),
            waited = seconds_between(backend, "w.started_at", "COALESCE(w.ended_at, $4)"),
        ),
    ))
    .bind::<BigInt, _>(shop_id)
    .bind::<Timestamp, _>(p.start)
    .bind::<Timestamp, _>(p.end)
    .bind::<Timestamp, _>(now)
    .load(conn)?;
    for row in waited {
        stats.entry(row.grp).or_default().waited_hours = hours(row.waited_secs).unwrap_or(0.0);
    }
    Ok(stats)
}

pub fn ticket_stats(
    conn: &mut DbConnection,
    shop_id: ShopId,
    p: &Period,
    group_by: GroupBy,
    now: NaiveDateTime,
) -> Result<Vec<TicketStats>, ApiError> {
    let backend = conn.backend();
    let base = base_cte(backend, group_by, p.offset_minutes);
    let counts: Vec<CountsRow> = diesel::sql_query(raw_sql(backend, &format!(
        "{base}
        SELECT grp,
               CAST(COUNT(*) AS BIGINT) AS opened,
               CAST(SUM(CASE WHEN state = '{resolved}' THEN 1 ELSE 0 END) AS BIGINT) AS resolved,
               CAST(SUM(CASE WHEN state = '{closed}' THEN 1 ELSE 0 END) AS BIGINT) AS closed,
               CAST(SUM(CASE WHEN first_call_secs IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS first_calls,
               CAST(SUM(in_time) AS BIGINT) AS first_calls_in_time,
               CAST(SUM(CASE WHEN kind = '{review}' AND state = '{resolved}' THEN 1 ELSE 0 END) AS BIGINT) AS reviews_resolved,
               CAST(SUM(CASE WHEN kind = '{review}' AND state = '{resolved}'
                             AND outcome IN {revised} THEN 1 ELSE 0 END) AS BIGINT) AS reviews_revised,
               CAST(COUNT(score) AS BIGINT) AS scores,
               CAST(SUM(CASE WHEN score >= 4 THEN 1 ELSE 0 END) AS BIGINT) AS satisfied,
               CAST(AVG(score) AS DOUBLE PRECISION) AS mean_score,
               CAST(COUNT(CASE WHEN source = 'buyer' THEN score END) AS BIGINT) AS buyer_scores,
               CAST(SUM(CASE WHEN source = 'buyer' AND score >= 4 THEN 1 ELSE 0 END) AS BIGINT) AS buyer_satisfied,
               CAST(AVG(CASE WHEN source = 'buyer' THEN score END) AS DOUBLE PRECISION) AS buyer_mean,
               CAST(COUNT(CASE WHEN source = 'staff' THEN score END) AS BIGINT) AS staff_scores,
               CAST(SUM(CASE WHEN source = 'staff' AND score >= 4 THEN 1 ELSE 0 END) AS BIGINT) AS staff_satisfied,
               CAST(AVG(CASE WHEN source = 'staff' THEN score END) AS DOUBLE PRECISION) AS staff_mean,
               {reasons}
        FROM base GROUP BY grp ORDER BY grp",
        resolved = State::Resolved,
        closed = State::Closed,
        review = TicketKind::NegativeReview,
        revised = sql_list(Outcome::REVISES_REVIEW.map(Outcome::as_str)),
        reasons = SatisfactionReason::ALL
            .map(|r| format!(
                "CAST(SUM(CASE WHEN score IS NOT NULL AND reasons LIKE '% {r} %' THEN 1 ELSE 0 END) AS BIGINT) AS reason_{r}",
                r = r.as_str()
            ))
            .join(",\n               "),
    )))
    .bind::<BigInt, _>(shop_id)
    .bind::<Timestamp, _>(p.start)
    .bind::<Timestamp, _>(p.end)
    .load(conn)?;
    let first_call = percentiles(conn, &base, "first_call_secs", shop_id, p)?;
    let resolve = percentiles(conn, &base, "resolve_secs", shop_id, p)?;
    let mut service_levels = service_levels(conn, shop_id, p, group_by, now)?;
    let mut surveys = survey_stats(conn, shop_id, p, group_by, now)?;
    let names = match group_by {
        GroupBy::Agent => agent_names(conn, shop_id, counts.iter().map(|c| c.grp.as_str()))?,
        _ => BTreeMap::new(),
    };
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
                    mean: mean(c.mean_score),
                    csat: ratio(c.satisfied, c.scores),
                    by_source: SatisfactionBySource {
                        buyer: ScoreStats {
                            responses: c.buyer_scores,
                            mean: mean(c.buyer_mean),
                            csat: ratio(c.buyer_satisfied, c.buyer_scores),
                        },
                        staff: ScoreStats {
                            responses: c.staff_scores,
                            mean: mean(c.staff_mean),
                            csat: ratio(c.staff_satisfied, c.staff_scores),
                        },
                    },
                    reasons: ReasonCounts {
                        speed: c.reason_speed,
                        attitude: c.reason_attitude,
                        solution: c.reason_solution,
                        product_quality: c.reason_product_quality,
                        other: c.reason_other,
                    },
                    surveys: surveys.remove(&c.grp).unwrap_or_default(),
                },
                agent_name: names.get(&c.grp).cloned(),
                service_levels: service_levels.remove(&c.grp).unwrap_or_default(),
                group: c.grp,
                opened: c.opened,
                resolved: c.resolved,
                closed_unresolved: c.closed,
            }
        })
        .collect())
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
    #[diesel(sql_type = BigInt)]
    about_to_breach: i64,
    #[diesel(sql_type = BigInt)]
    past_platform_deadline: i64,
}

#[derive(QueryableByName)]
struct GroupCount {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

pub fn backlog(
    conn: &mut DbConnection,
    shop_id: ShopId,
    now: NaiveDateTime,
    no_contact_days: u32,
    breach_warning_until: NaiveDateTime,
) -> Result<(Backlog, Vec<Backlog>), ApiError> {
    let stale_before = now - Duration::days(i64::from(no_contact_days));
    let sql = raw_sql(
        conn.backend(),
        &format!(
            "SELECT COALESCE(CAST(assignee_id AS TEXT), 'unassigned') AS grp,
                CAST(SUM(CASE WHEN state = '{new}' THEN 1 ELSE 0 END) AS BIGINT) AS new,
                CAST(SUM(CASE WHEN state = '{first_call}' THEN 1 ELSE 0 END) AS BIGINT) AS first_call,
                CAST(SUM(CASE WHEN state = '{follow_up}' THEN 1 ELSE 0 END) AS BIGINT) AS follow_up,
                CAST(SUM(CASE WHEN state = '{new}' AND first_call_due_at < $2 THEN 1 ELSE 0 END) AS BIGINT) AS overdue_first_calls,
                CAST(SUM(CASE WHEN state <> '{new}' AND next_follow_up_at < $2 THEN 1 ELSE 0 END) AS BIGINT) AS overdue_follow_ups,
                CAST(SUM(CASE WHEN COALESCE(last_contact_at, created_at) < $3 THEN 1 ELSE 0 END) AS BIGINT) AS no_contact,
                CAST(0 AS BIGINT) AS about_to_breach,
                CAST(SUM(CASE WHEN platform_deadline_at < $2 THEN 1 ELSE 0 END) AS BIGINT) AS past_platform_deadline
         FROM tickets
         WHERE shop_id = $1 AND state IN {open}
         GROUP BY COALESCE(CAST(assignee_id AS TEXT), 'unassigned')
         ORDER BY grp",
            new = State::New,
            first_call = State::FirstCall,
            follow_up = State::FollowUp,
            open = sql_list(State::OPEN.map(State::as_str)),
        ),
    );
    let mut rows: Vec<BacklogRow> = diesel::sql_query(sql)
        .bind::<BigInt, _>(shop_id)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(stale_before)
        .load(conn)?;
    // Counted from the pending targets' index, which the breach sweep keeps small, rather
    // than probed for every open ticket (7 s at 1,000,000 tickets on SQLite).
    let due_soon = raw_sql(
        conn.backend(),
        &format!(
            "SELECT COALESCE(CAST(t.assignee_id AS TEXT), 'unassigned') AS grp,
                CAST(COUNT(DISTINCT t.id) AS BIGINT) AS n
         FROM ticket_targets g JOIN tickets t ON t.id = g.ticket_id
         WHERE g.due_at < $2 AND g.shop_id = $1 AND g.met_at IS NULL
           AND g.breached_at IS NULL AND g.dropped_at IS NULL AND g.due_at IS NOT NULL
           AND t.state IN {open}
         GROUP BY COALESCE(CAST(t.assignee_id AS TEXT), 'unassigned')",
            open = sql_list(State::OPEN.map(State::as_str)),
        ),
    );
    let due_soon: Vec<GroupCount> = diesel::sql_query(due_soon)
        .bind::<BigInt, _>(shop_id)
        .bind::<Timestamp, _>(breach_warning_until)
        .load(conn)?;
    for row in &mut rows {
        row.about_to_breach = due_soon
            .iter()
            .find(|d| d.grp == row.grp)
            .map_or(0, |d| d.n);
    }
    let names = agent_names(conn, shop_id, rows.iter().map(|r| r.grp.as_str()))?;
    let mut total = Backlog {
        group: "all".into(),
        ..Backlog::default()
    };
    let by_agent: Vec<Backlog> = rows
        .into_iter()
        .map(|r| Backlog {
            agent_name: names.get(&r.grp).cloned(),
            group: r.grp,
            new: r.new,
            first_call: r.first_call,
            follow_up: r.follow_up,
            overdue_first_calls: r.overdue_first_calls,
            overdue_follow_ups: r.overdue_follow_ups,
            no_contact: r.no_contact,
            about_to_breach: r.about_to_breach,
            past_platform_deadline: r.past_platform_deadline,
        })
        .collect();
    for b in &by_agent {
        total.new += b.new;
        total.first_call += b.first_call;
        total.follow_up += b.follow_up;
        total.overdue_first_calls += b.overdue_first_calls;
        total.overdue_follow_ups += b.overdue_follow_ups;
        total.no_contact += b.no_contact;
        total.about_to_breach += b.about_to_breach;
        total.past_platform_deadline += b.past_platform_deadline;
    }
    Ok((total, by_agent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_sql_shifts_local_time() {
        assert!(group_expression(Backend::Sqlite, GroupBy::Day, 480).contains("'+480 minutes'"));
        assert!(group_expression(Backend::Sqlite, GroupBy::Day, -300).contains("'-300 minutes'"));
        assert!(
            group_expression(Backend::Postgres, GroupBy::Week, 480).contains("date_trunc('week'")
        );
    }
}

// ---- sales ---------------------------------------------------------------------------

#[derive(QueryableByName)]
struct SalesSqlRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = BigInt)]
    orders: i64,
    #[diesel(sql_type = BigInt)]
    buyers: i64,
    #[diesel(sql_type = BigInt)]
    new_buyers: i64,
    #[diesel(sql_type = BigInt)]
    repeat_buyers: i64,
    #[diesel(sql_type = BigInt)]
    gross: i64,
    #[diesel(sql_type = BigInt)]
    refunded: i64,
}

#[derive(QueryableByName)]
struct ProductSqlRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = BigInt)]
    by_sku: i64,
    #[diesel(sql_type = Text)]
    item_name: String,
    #[diesel(sql_type = BigInt)]
    orders: i64,
    #[diesel(sql_type = BigInt)]
    buyers: i64,
    #[diesel(sql_type = BigInt)]
    new_buyers: i64,
    #[diesel(sql_type = BigInt)]
    repeat_buyers: i64,
    #[diesel(sql_type = Nullable<Double>)]
    gross: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    refunded: Option<f64>,
}

/// SQL for what went back on order `o`: a refunded order's whole amount; a partially
/// refunded order's refunds by its resolved tickets (`partial_refund_expression`); nothing
/// on a paid order.
fn refunded_expression(backend: Backend) -> String {
    format!(
        "CASE WHEN o.status = '{refunded}' THEN o.total_cents
              WHEN o.status = '{partially}' THEN {partial}
              ELSE 0 END",
        refunded = OrderStatus::Refunded,
        partially = OrderStatus::PartiallyRefunded,
        partial = partial_refund_expression(backend),
    )
}

/// SQL for what went back on partially refunded order `o`: the refunds of its resolved
/// tickets, at most its amount (looked up by `tickets_order_idx` for these orders only; the
/// state is tested on the order's tickets, not in the WHERE clause, so no index by state is
/// preferred). It reads no column of the order but its id and amount, so the partially
/// refunded orders of a period come from their covering index alone.
fn partial_refund_expression(backend: Backend) -> String {
    let (least, by_order) = match backend {
        Backend::Postgres => ("LEAST", ""),
        // Most tickets link no order: SQLite's statistics then rate the index by order as
        // useless (every NULL counts as one key) and it would scan every ticket per order.
        Backend::Sqlite => ("MIN", " INDEXED BY tickets_order_idx"),
    };
    format!(
        "{least}(o.total_cents,
             (SELECT COALESCE(SUM(CASE WHEN t.state = '{resolved}' THEN t.refund_cents END), 0)
              FROM tickets t{by_order} WHERE t.order_id = o.id))",
        resolved = State::Resolved,
    )
}

/// The statuses a report reads: purchases and fully refunded orders (whose amount came in
/// and went back); cancelled orders brought nothing.
fn sales_statuses() -> String {
    sql_list(
        [
            OrderStatus::Paid,
            OrderStatus::PartiallyRefunded,
            OrderStatus::Refunded,
        ]
        .map(OrderStatus::as_str),
    )
}

fn purchases() -> String {
    sql_list([OrderStatus::Paid, OrderStatus::PartiallyRefunded].map(OrderStatus::as_str))
}

/// The sales figures of the orders placed in the period, per group (see `SalesRow` for
/// every definition).
pub fn sales(
    conn: &mut DbConnection,
    shop_id: ShopId,
    p: &Period,
    group_by: SalesGroupBy,
) -> Result<Vec<SalesRow>, ApiError> {
    if group_by == SalesGroupBy::Product {
        return product_sales(conn, shop_id, p);
    }
    // By month at the default offset, the common report, whole months read the kept
    // monthly sales; only the cut months at either end read the orders.
    let rows = match (group_by, split_sales_months(p)) {
        (SalesGroupBy::Month, Some(split)) => {
            let mut rows = Vec::new();
            if let Some(head) = &split.head {
                let first = FirstPurchases::KeptMonth {
                    month: first_of_month(head.from),
                    starts_mid_month: true,
                };
                rows.extend(sales_from_orders(conn, shop_id, head, group_by, first)?);
            }
            rows.extend(sales_from_kept_months(conn, shop_id, &split.whole)?);
            if let Some(tail) = &split.tail {
                let first = FirstPurchases::KeptMonth {
                    month: first_of_month(tail.from),
                    starts_mid_month: false,
                };
                rows.extend(sales_from_orders(conn, shop_id, tail, group_by, first)?);
            }
            rows
        }
        _ => sales_from_orders(conn, shop_id, p, group_by, FirstPurchases::Summaries)?,
    };
    let names = match group_by {
        SalesGroupBy::Salesperson => {
            agent_names(conn, shop_id, rows.iter().map(|r| r.grp.as_str()))?
        }
        _ => BTreeMap::new(),
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let revenue = r.gross.saturating_sub(r.refunded);
            SalesRow {
                salesperson_name: names.get(&r.grp).cloned(),
                group: r.grp,
                sku: None,
                product_name: None,
                orders: r.orders,
                buyers: r.buyers,
                new_buyers: r.new_buyers,
                repeat_buyers: r.repeat_buyers,
                repeat_buyer_share: ratio(r.repeat_buyers, r.buyers),
                gross_cents: r.gross,
                refunded_cents: r.refunded,
                revenue_cents: revenue,
                average_order_value_cents: average_cents(revenue, r.orders),
            }
        })
        .collect())
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// Where a report read from the orders learns whether a buyer's first purchase ever fell
/// in its period (a new buyer).
#[derive(Debug, Clone, Copy)]
enum FirstPurchases {
    /// From the buyers' summaries (`customers.first_order_at`): any period and offset.
    Summaries,
    /// From the kept month the period is a cut part of (a month report's head or tail,
    /// see `split_sales_months`; grouped by month, so no buyer column is needed), which
    /// flags the month of the buyer's first purchase and counts the month's purchases. A
    /// buyer of the tail (which starts with its month) is new when the month holds their
    /// first purchase: it came before their purchase in the tail. A buyer of the head
    /// (which starts mid-month and ends with its month) is new when, besides, every
    /// purchase of the month is in the head: none came before it. This reads the month's
    /// first purchases (a few thousand rows) instead of joining every customer.
    KeptMonth {
        month: NaiveDate,
        starts_mid_month: bool,
    },
}

/// The sales figures per group and buyer from the orders themselves, then per group, with
/// the buyers' first purchase as `first` says.
fn sales_from_orders(
    conn: &mut DbConnection,
    shop_id: ShopId,
    p: &Period,
    group_by: SalesGroupBy,
    first: FirstPurchases,
) -> Result<Vec<SalesSqlRow>, ApiError> {
    let backend = conn.backend();
    let unit = match group_by {
        SalesGroupBy::Day => Some(TimeUnit::Day),
        SalesGroupBy::Week => Some(TimeUnit::Week),
        SalesGroupBy::Month => Some(TimeUnit::Month),
        SalesGroupBy::Year => Some(TimeUnit::Year),
        _ => None,
    };
    // The inner group (per order) and the outer one (per buyer): the tier is the buyer's.
    let (inner, outer) = match group_by {
        SalesGroupBy::Channel => ("o.channel".to_owned(), "b.grp".to_owned()),
        SalesGroupBy::Outlet => ("COALESCE(o.outlet, '')".to_owned(), "b.grp".to_owned()),
        SalesGroupBy::Salesperson => (
            "COALESCE(CAST(o.salesperson_id AS TEXT), '')".to_owned(),
            "b.grp".to_owned(),
        ),
        SalesGroupBy::Tier => ("'all'".to_owned(), "c.tier".to_owned()),
        _ => match unit {
            Some(unit) => (
                local_period(backend, unit, "o.ordered_at", p.offset_minutes),
                "b.grp".to_owned(),
            ),
            None => ("'all'".to_owned(), "b.grp".to_owned()),
        },
    };
    // New in a time group: the first purchase falls in that day, week, month or year.
    let same_span = unit.map_or(String::new(), |unit| {
        format!(
            " AND {} = b.grp",
            local_period(backend, unit, "c.first_order_at", p.offset_minutes)
        )
    });
    // A cut month's join reads no customer: only a month's groups (`b.grp`) may use it.
    debug_assert!(matches!(first, FirstPurchases::Summaries) || group_by == SalesGroupBy::Month);
    let (is_new, buyer_join, kept_month) = match first {
        FirstPurchases::Summaries => (
            format!("c.first_order_at >= $2 AND c.first_order_at < $3{same_span}"),
            "JOIN customers c ON c.id = b.customer_id",
            None,
        ),
        FirstPurchases::KeptMonth {
            month,
            starts_mid_month,
        } => (
            format!(
                "m.customer_id IS NOT NULL{}",
                if starts_mid_month {
                    " AND m.purchases = b.n"
                } else {
                    ""
                }
            ),
            // Only the month's first purchases (a partial index on PostgreSQL).
            "LEFT JOIN customer_sales_months m
                  ON m.shop_id = $1 AND m.month = $4 AND m.customer_id = b.customer_id
                 AND m.first_purchase",
            Some(month),
        ),
    };
    let sql = format!(
        "WITH per_buyer AS (
            SELECT {inner} AS grp, o.customer_id AS customer_id,
                   SUM(CASE WHEN o.status IN {purchases} THEN 1 ELSE 0 END) AS n,
                   {gross} AS gross,
                   {refunded} AS refunded
            FROM orders o
            WHERE o.shop_id = $1 AND o.ordered_at >= $2 AND o.ordered_at < $3
              AND o.status IN {statuses}
            GROUP BY grp, o.customer_id
        )
        SELECT {outer} AS grp,
               CAST(SUM(b.n) AS BIGINT) AS orders,
               CAST(SUM(CASE WHEN b.n > 0 THEN 1 ELSE 0 END) AS BIGINT) AS buyers,
               CAST(SUM(CASE WHEN b.n > 0 AND {is_new} THEN 1 ELSE 0 END) AS BIGINT) AS new_buyers,
               CAST(SUM(CASE WHEN b.n > 1 THEN 1 ELSE 0 END) AS BIGINT) AS repeat_buyers,
               {gross_total} AS gross,
               {refunded_total} AS refunded
        FROM per_buyer b {buyer_join}
        GROUP BY {outer}
        ORDER BY {outer}",
        purchases = purchases(),
        statuses = sales_statuses(),
        gross = clamped_sum(backend, "o.total_cents"),
        refunded = clamped_sum(backend, &refunded_expression(backend)),
        gross_total = clamped_sum(backend, "b.gross"),
        refunded_total = clamped_sum(backend, "b.refunded"),
    );
    let query = diesel::sql_query(raw_sql(backend, &sql))
        .bind::<BigInt, _>(shop_id)
        .bind::<Timestamp, _>(p.start)
        .bind::<Timestamp, _>(p.end);
    Ok(match kept_month {
        Some(month) => query.bind::<Date, _>(month).load(conn)?,
        None => query.load(conn)?,
    })
}

#[derive(QueryableByName)]
struct PartialRefundSqlRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = BigInt)]
    refunded: i64,
}

/// The sales figures of `p`, whole months at the kept offset, from the kept per-buyer
/// monthly sales (one row per buyer and month instead of every order), plus the partial
/// refunds, which follow the tickets and are read from the partially refunded orders of
/// the period. The same definitions as `sales_from_orders` (a test compares both on
/// random data).
fn sales_from_kept_months(
    conn: &mut DbConnection,
    shop_id: ShopId,
    p: &Period,
) -> Result<Vec<SalesSqlRow>, ApiError> {
    let backend = conn.backend();
    let (first, after) = (p.from, p.to + Duration::days(1));
    let sql = format!(
        "SELECT {month} AS grp,
                CAST(SUM(m.purchases) AS BIGINT) AS orders,
                CAST(SUM(CASE WHEN m.purchases > 0 THEN 1 ELSE 0 END) AS BIGINT) AS buyers,
                CAST(SUM(CASE WHEN m.first_purchase AND m.purchases > 0 THEN 1 ELSE 0 END) AS BIGINT) AS new_buyers,
                CAST(SUM(CASE WHEN m.purchases > 1 THEN 1 ELSE 0 END) AS BIGINT) AS repeat_buyers,
                {gross} AS gross, {refunded} AS refunded
         FROM customer_sales_months m
         WHERE m.shop_id = $1 AND m.month >= $2 AND m.month < $3
         GROUP BY m.month
         ORDER BY m.month",
        // The kept month is a date: named at offset 0, as the orders' months are named.
        month = local_period(backend, TimeUnit::Month, "m.month", 0),
        gross = clamped_sum(backend, "m.gross_cents"),
        refunded = clamped_sum(backend, "m.refunded_cents"),
    );
    let mut months: Vec<SalesSqlRow> = diesel::sql_query(raw_sql(backend, &sql))
        .bind::<BigInt, _>(shop_id)
        .bind::<Date, _>(first)
        .bind::<Date, _>(after)
        .load(conn)?;
    let partial_sql = format!(
        "SELECT {month} AS grp, {refunded} AS refunded
         FROM orders o
         WHERE o.shop_id = $1 AND o.status = '{partially}'
           AND o.ordered_at >= $2 AND o.ordered_at < $3
         GROUP BY grp",
        month = local_period(backend, TimeUnit::Month, "o.ordered_at", p.offset_minutes),
        refunded = clamped_sum(backend, &partial_refund_expression(backend)),
        partially = OrderStatus::PartiallyRefunded,
    );
    let partial: BTreeMap<String, i64> = diesel::sql_query(raw_sql(backend, &partial_sql))
        .bind::<BigInt, _>(shop_id)
        .bind::<Timestamp, _>(p.start)
        .bind::<Timestamp, _>(p.end)
        .load::<PartialRefundSqlRow>(conn)?
        .into_iter()
        .map(|r| (r.grp, r.refunded))
        .collect();
    for month in &mut months {
        let partially_refunded = partial.get(&month.grp).copied().unwrap_or(0);
        month.refunded = month.refunded.saturating_add(partially_refunded);
    }
    Ok(months)
}

/// The sales figures per product: order items grouped by SKU, or by product name for
/// items without one; each order's amount and refunds shared among its items by line
/// amount (window sums per order), counted per product and buyer, then per product.
fn product_sales(
    conn: &mut DbConnection,
    shop_id: ShopId,
    p: &Period,
) -> Result<Vec<SalesRow>, ApiError> {
    let backend = conn.backend();
    let sql = format!(
        "WITH items AS (
            SELECT COALESCE(i.sku, i.product_name) AS grp,
                   CASE WHEN i.sku IS NULL THEN 0 ELSE 1 END AS by_sku,
                   i.product_name AS item_name,
                   o.id AS order_id, o.customer_id AS customer_id, o.status AS status,
                   CAST(o.total_cents AS DOUBLE PRECISION) AS total,
                   CAST({refunded} AS DOUBLE PRECISION) AS refund,
                   CAST(i.quantity AS DOUBLE PRECISION) * i.unit_price_cents AS line,
                   SUM(CAST(i.quantity AS DOUBLE PRECISION) * i.unit_price_cents)
                       OVER (PARTITION BY o.id) AS lines,
                   COUNT(*) OVER (PARTITION BY o.id) AS item_count
            FROM orders o JOIN order_items i ON i.order_id = o.id
            WHERE o.shop_id = $1 AND o.ordered_at >= $2 AND o.ordered_at < $3
              AND o.status IN {statuses}
        ), per_buyer AS (
            SELECT grp, by_sku, customer_id, MIN(item_name) AS item_name,
                   COUNT(DISTINCT CASE WHEN status IN {purchases} THEN order_id END) AS n,
                   SUM(CASE WHEN lines > 0 THEN line / lines ELSE 1.0 / item_count END * total) AS gross,
                   SUM(CASE WHEN lines > 0 THEN line / lines ELSE 1.0 / item_count END * refund) AS refunded
            FROM items
            GROUP BY grp, by_sku, customer_id
        )
        SELECT b.grp AS grp, CAST(b.by_sku AS BIGINT) AS by_sku, MIN(b.item_name) AS item_name,
               CAST(SUM(b.n) AS BIGINT) AS orders,
               CAST(SUM(CASE WHEN b.n > 0 THEN 1 ELSE 0 END) AS BIGINT) AS buyers,
               CAST(SUM(CASE WHEN b.n > 0 AND c.first_order_at >= $2 AND c.first_order_at < $3
                             THEN 1 ELSE 0 END) AS BIGINT) AS new_buyers,
               CAST(SUM(CASE WHEN b.n > 1 THEN 1 ELSE 0 END) AS BIGINT) AS repeat_buyers,
               CAST(SUM(b.gross) AS DOUBLE PRECISION) AS gross,
               CAST(SUM(b.refunded) AS DOUBLE PRECISION) AS refunded
        FROM per_buyer b JOIN customers c ON c.id = b.customer_id
        GROUP BY b.grp, b.by_sku
        ORDER BY b.grp, b.by_sku",
        refunded = refunded_expression(backend),
        statuses = sales_statuses(),
        purchases = purchases(),
    );
    let rows: Vec<ProductSqlRow> = diesel::sql_query(raw_sql(backend, &sql))
        .bind::<BigInt, _>(shop_id)
        .bind::<Timestamp, _>(p.start)
        .bind::<Timestamp, _>(p.end)
        .load(conn)?;
    let skus: Vec<&str> = rows
        .iter()
        .filter(|r| r.by_sku == 1)
        .map(|r| r.grp.as_str())
        .collect();
    let catalogue: BTreeMap<String, String> = if skus.is_empty() {
        BTreeMap::new()
    } else {
        products::table
            .filter(products::shop_id.eq(shop_id))
            .filter(products::sku.eq_any(&skus))
            .select((products::sku, products::name))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let gross = whole_cents(r.gross);
            let refunded = whole_cents(r.refunded).min(gross);
            let revenue = gross - refunded;
            let by_sku = r.by_sku == 1;
            SalesRow {
                salesperson_name: None,
                sku: by_sku.then(|| r.grp.clone()),
                product_name: Some(if by_sku {
                    catalogue.get(&r.grp).cloned().unwrap_or(r.item_name)
                } else {
                    r.grp.clone()
                }),
                group: r.grp,
                orders: r.orders,
                buyers: r.buyers,
                new_buyers: r.new_buyers,
                repeat_buyers: r.repeat_buyers,
                repeat_buyer_share: ratio(r.repeat_buyers, r.buyers),
                gross_cents: gross,
                refunded_cents: refunded,
                revenue_cents: revenue,
                average_order_value_cents: average_cents(revenue, r.orders),
            }
        })
        .collect())
}
