//! The statistics' SQL: one aggregate per report, written once for both backends (only
//! date arithmetic differs), returning per-group rows.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamp};

use super::rules::{hours, minutes, ratio};
use super::{
    Backlog, FirstCallStats, GroupBy, Period, ResolveTimeStats, SatisfactionStats, TicketStats,
};
use crate::db::{Backend, DbConnection, raw_sql, sql_list};
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::schema::users;
use crate::tickets::{Outcome, State, TicketKind};

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

pub fn ticket_stats(
    conn: &mut DbConnection,
    shop_id: ShopId,
    p: &Period,
    group_by: GroupBy,
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
               CAST(AVG(score) AS DOUBLE PRECISION) AS mean_score
        FROM base GROUP BY grp ORDER BY grp",
        resolved = State::Resolved,
        closed = State::Closed,
        review = TicketKind::NegativeReview,
        revised = sql_list(Outcome::REVISES_REVIEW.map(Outcome::as_str)),
    )))
    .bind::<BigInt, _>(shop_id)
    .bind::<Timestamp, _>(p.start)
    .bind::<Timestamp, _>(p.end)
    .load(conn)?;
    let first_call = percentiles(conn, &base, "first_call_secs", shop_id, p)?;
    let resolve = percentiles(conn, &base, "resolve_secs", shop_id, p)?;
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
                    mean: c.mean_score.map(|m| (m * 100.0).round() / 100.0),
                    csat: ratio(c.satisfied, c.scores),
                },
                agent_name: names.get(&c.grp).cloned(),
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
}

pub fn backlog(
    conn: &mut DbConnection,
    shop_id: ShopId,
    now: NaiveDateTime,
    no_contact_days: u32,
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
                CAST(SUM(CASE WHEN COALESCE(last_contact_at, created_at) < $3 THEN 1 ELSE 0 END) AS BIGINT) AS no_contact
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
    let rows: Vec<BacklogRow> = diesel::sql_query(sql)
        .bind::<BigInt, _>(shop_id)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(stale_before)
        .load(conn)?;
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
