//! Every query of the tiers feature: the key thresholds (computed by the database), the
//! purchases and ticket facts the engine reads, the customers' stored standing, and the
//! record of tier changes.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::engine::top_share_of_buyers;
use super::{
    Assessment, CurrentStanding, KeyThresholds, Purchase, RfmCutoffs, RfmFacts, RfmRow, Segment,
    TicketFacts, Tier, TierChange, TierChangeView, TierSettings, purchase_statuses,
};
use crate::db::{DbConnection, clamped_sum, raw_sql, sql_or_null, sql_text, sql_timestamp};
use crate::error::ApiError;
use crate::ids::{CustomerId, ShopId};
use crate::schema::{
    customer_rfm, customers, orders, rfm_runs, tickets, tier_changes, tier_thresholds,
};

/// The purchase statuses as an SQL list, `('paid', 'partially_refunded')`.
fn purchase_statuses_sql() -> String {
    crate::db::sql_list(purchase_statuses().into_iter().map(|s| s.as_str()))
}

/// The 12-month cut-offs for the key tier, computed by the database.
pub fn compute_thresholds(
    conn: &mut DbConnection,
    shop_id: ShopId,
    settings: &TierSettings,
    now: NaiveDateTime,
) -> Result<KeyThresholds, ApiError> {
    let since = now - chrono::Duration::days(365);
    let backend = conn.backend();
    // Orders stored before totals were capped can add up past a BIGINT: the sum is
    // clamped, so they cannot make every later order or ticket write fail.
    let buyers = format!(
        "SELECT customer_id, {} AS spend, CAST(COUNT(*) AS BIGINT) AS orders \
         FROM orders WHERE shop_id = $1 AND status IN {} AND ordered_at >= $2 GROUP BY customer_id",
        clamped_sum(backend, "total_cents"),
        purchase_statuses_sql()
    );
    // One pass: the cut-offs are taken in Rust, rather than by three passes (a count, then
    // an ORDER BY ... OFFSET per column) over the same year of orders.
    let buyers: Vec<BuyerYear> = diesel::sql_query(raw_sql(backend, &buyers))
        .bind::<BigInt, _>(shop_id)
        .bind::<Timestamp, _>(since)
        .load(conn)?;
    let cutoff = |value: fn(&BuyerYear) -> i64| {
        let mut values: Vec<i64> = buyers.iter().map(value).collect();
        top_share_of_buyers(&mut values, settings.key_share).unwrap_or(i64::MAX)
    };
    Ok(KeyThresholds {
        spend_cents: cutoff(|b| b.spend),
        order_count: cutoff(|b| b.orders),
    })
}

#[derive(QueryableByName)]
struct BuyerYear {
    #[diesel(sql_type = BigInt)]
    spend: i64,
    #[diesel(sql_type = BigInt)]
    orders: i64,
}

/// Stores the shop's cut-offs, computed at `now`.
pub fn save_thresholds(
    conn: &mut DbConnection,
    shop_id: ShopId,
    t: KeyThresholds,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let values = (
        tier_thresholds::key_spend_cents.eq(t.spend_cents),
        tier_thresholds::key_order_count.eq(t.order_count),
        tier_thresholds::computed_at.eq(now),
    );
    let updated = diesel::update(tier_thresholds::table.find(shop_id))
        .set(values)
        .execute(conn)?;
    if updated == 0 {
        // In a savepoint: a concurrent transaction may insert the shop's row first, and
        // then its fresh values are as good as ours.
        let inserted = conn.transaction(|c| {
            diesel::insert_into(tier_thresholds::table)
                .values((tier_thresholds::shop_id.eq(shop_id), values))
                .execute(c)
                .map_err(ApiError::from)
        });
        match inserted {
            Ok(_) | Err(ApiError::Conflict { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// The shop's stored cut-offs and when they were computed, if any.
pub fn stored_thresholds(
    conn: &mut DbConnection,
    shop_id: ShopId,
) -> Result<Option<(KeyThresholds, NaiveDateTime)>, ApiError> {
    let stored: Option<(i64, i64, NaiveDateTime)> = tier_thresholds::table
        .find(shop_id)
        .select((
            tier_thresholds::key_spend_cents,
            tier_thresholds::key_order_count,
            tier_thresholds::computed_at,
        ))
        .first(conn)
        .optional()?;
    Ok(stored.map(|(spend_cents, order_count, at)| {
        (
            KeyThresholds {
                spend_cents,
                order_count,
            },
            at,
        )
    }))
}

/// Purchases per customer, and the ids of those orders.
pub type PurchasesByCustomer = (BTreeMap<i64, Vec<Purchase>>, HashSet<i64>);

/// The purchases of each of `ids` (customers without any are left out), and the ids of
/// those orders.
pub fn purchases_of(conn: &mut DbConnection, ids: &[i64]) -> Result<PurchasesByCustomer, ApiError> {
    let statuses: Vec<&str> = purchase_statuses()
        .into_iter()
        .map(|status| status.as_str())
        .collect();
    let rows: Vec<(i64, i64, i64, NaiveDateTime)> = orders::table
        .filter(orders::customer_id.eq_any(ids))
        .filter(orders::status.eq_any(statuses))
        .select((
            orders::id,
            orders::customer_id,
            orders::total_cents,
            orders::ordered_at,
        ))
        .load(conn)?;
    let mut out: BTreeMap<i64, Vec<Purchase>> = BTreeMap::new();
    let mut order_ids = HashSet::with_capacity(rows.len());
    for (order_id, customer_id, total_cents, at) in rows {
        order_ids.insert(order_id);
        out.entry(customer_id)
            .or_default()
            .push(Purchase { total_cents, at });
    }
    Ok((out, order_ids))
}

/// The value-bearing facts of every ticket of `ids`.
pub fn ticket_facts(conn: &mut DbConnection, ids: &[i64]) -> Result<Vec<TicketFacts>, ApiError> {
    Ok(tickets::table
        .filter(tickets::customer_id.eq_any(ids))
        .select((
            tickets::id,
            tickets::customer_id,
            tickets::kind,
            tickets::state,
            tickets::outcome,
            tickets::close_reason,
            tickets::satisfaction_score,
            tickets::satisfaction_at,
            tickets::resolved_at,
            tickets::closed_at,
            tickets::created_at,
            tickets::order_id,
            tickets::refund_cents,
        ))
        .load(conn)?)
}

/// The stored standing of those of `ids` in `shop_id`.
pub fn current_standings(
    conn: &mut DbConnection,
    shop_id: ShopId,
    ids: &[i64],
) -> Result<Vec<CurrentStanding>, ApiError> {
    Ok(customers::table
        .filter(customers::shop_id.eq(shop_id))
        .filter(customers::id.eq_any(ids))
        .select((
            customers::id,
            customers::shop_id,
            customers::tier,
            customers::lifecycle_stage,
            customers::at_risk,
            customers::tier_reasons,
            customers::tier_computed_at,
            customers::archived_at,
        ))
        .load(conn)?)
}

/// A customer's new standing, to write.
pub struct NewStanding<'a> {
    pub before: &'a CurrentStanding,
    pub after: &'a Assessment,
    pub reasons_json: String,
    /// Tier, stage or flag moved (else only the reasons' text changed).
    pub moved: bool,
}

/// Writes the new standings in one statement (`WITH v(...) AS (VALUES ...) UPDATE
/// customers ... FROM v`, the same on both backends), and records the moves in one
/// multi-row insert: two statements per batch however many customers changed, instead
/// of one or two per customer.
pub fn save_standings(
    conn: &mut DbConnection,
    rows: &[NewStanding<'_>],
    cause: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    if rows.is_empty() {
        return Ok(());
    }
    let backend = conn.backend();
    let at = sql_timestamp(backend, now);
    let values: Vec<String> = rows
        .iter()
        .map(|row| {
            format!(
                "({}, {}, {}, {}, {})",
                row.before.id,
                sql_text(row.after.tier.as_str()),
                sql_text(row.after.stage.as_str()),
                if row.after.at_risk { "TRUE" } else { "FALSE" },
                sql_text(&row.reasons_json),
            )
        })
        .collect();
    diesel::sql_query(format!(
        "WITH v (id, tier, stage, at_risk, reasons) AS (VALUES {}) \
         UPDATE customers SET tier = v.tier, lifecycle_stage = v.stage, at_risk = v.at_risk, \
         tier_reasons = v.reasons, tier_computed_at = {at} FROM v WHERE customers.id = v.id",
        values.join(", ")
    ))
    .execute(conn)?;
    let moves: Vec<String> = rows
        .iter()
        .filter(|row| row.moved)
        .map(|row| {
            let (before, after) = (row.before, row.after);
            let flag = |b: bool| if b { "TRUE" } else { "FALSE" };
            format!(
                "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                before.shop_id.0,
                before.id,
                sql_text(before.tier.as_str()),
                sql_text(after.tier.as_str()),
                sql_text(before.lifecycle_stage.as_str()),
                sql_text(after.stage.as_str()),
                flag(before.at_risk),
                flag(after.at_risk),
                sql_text(&row.reasons_json),
                sql_text(cause),
                at,
                sql_text(&before.tier_reasons),
                sql_or_null(before.tier_computed_at, |t| sql_timestamp(backend, t)),
            )
        })
        .collect();
    if !moves.is_empty() {
        diesel::sql_query(format!(
            "INSERT INTO tier_changes (shop_id, customer_id, from_tier, to_tier, from_stage, \
             to_stage, from_at_risk, to_at_risk, reasons, cause, created_at, from_reasons, \
             from_computed_at) VALUES {}",
            moves.join(", ")
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// A live buyer's purchases as RFM reads them, before refunds.
#[derive(QueryableByName)]
pub struct BuyerFacts {
    #[diesel(sql_type = BigInt)]
    customer_id: i64,
    #[diesel(sql_type = Timestamp)]
    last_at: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    spend: i64,
}

#[derive(QueryableByName)]
struct Refunds {
    #[diesel(sql_type = BigInt)]
    customer_id: i64,
    #[diesel(sql_type = BigInt)]
    refunds: i64,
}

/// Refunds of resolved tickets on the shop's counted orders, summed per customer.
pub fn shop_refunds(
    conn: &mut DbConnection,
    shop_id: ShopId,
) -> Result<BTreeMap<i64, i64>, ApiError> {
    let backend = conn.backend();
    let sql = format!(
        "SELECT o.customer_id AS customer_id, {} AS refunds \
         FROM tickets t JOIN orders o ON o.id = t.order_id \
         WHERE o.shop_id = $1 AND t.state = 'resolved' AND t.refund_cents IS NOT NULL \
         AND o.status IN {} GROUP BY o.customer_id",
        clamped_sum(backend, "t.refund_cents"),
        purchase_statuses_sql()
    );
    Ok(diesel::sql_query(raw_sql(backend, &sql))
        .bind::<BigInt, _>(shop_id)
        .load::<Refunds>(conn)?
        .into_iter()
        .map(|r| (r.customer_id, r.refunds))
        .collect())
}

/// The counted purchases of every live buyer of the shop (the RFM cut-offs are taken
/// among them), computed by the database in one pass over the shop's orders; their
/// refunds are read apart (`shop_refunds`), so the two passes can run at once.
pub fn rfm_buyers(conn: &mut DbConnection, shop_id: ShopId) -> Result<Vec<BuyerFacts>, ApiError> {
    let backend = conn.backend();
    let sql = format!(
        "SELECT o.customer_id AS customer_id, MAX(o.ordered_at) AS last_at, \
         CAST(COUNT(*) AS BIGINT) AS n, {} AS spend \
         FROM orders o JOIN customers c ON c.id = o.customer_id \
         WHERE o.shop_id = $1 AND c.archived_at IS NULL AND o.status IN {} \
         GROUP BY o.customer_id",
        clamped_sum(backend, "o.total_cents"),
        purchase_statuses_sql()
    );
    Ok(diesel::sql_query(raw_sql(backend, &sql))
        .bind::<BigInt, _>(shop_id)
        .load(conn)?)
}

/// The buyers' RFM facts: their spend less what `refunds` says went back to them.
pub fn net_of_refunds(buyers: Vec<BuyerFacts>, refunds: &BTreeMap<i64, i64>) -> Vec<RfmFacts> {
    buyers
        .into_iter()
        .map(|b| RfmFacts {
            last_order_at: b.last_at,
            order_count: b.n,
            net_spent_cents: net(b.spend, refunds.get(&b.customer_id).copied()),
        })
        .collect()
}

/// Spend less refunds, never below zero.
pub fn net(spend: i64, refunds: Option<i64>) -> i64 {
    spend.saturating_sub(refunds.unwrap_or(0)).max(0)
}

/// The stored RFM rows of those of `ids` that have one.
pub fn rfm_rows(conn: &mut DbConnection, ids: &[i64]) -> Result<Vec<RfmRow>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(customer_rfm::table
        .filter(customer_rfm::customer_id.eq_any(ids))
        .select(RfmRow::as_select())
        .load(conn)?)
}

/// Writes new or changed RFM rows in one upsert.
pub fn save_rfm(conn: &mut DbConnection, rows: &[RfmRow]) -> Result<(), ApiError> {
    if rows.is_empty() {
        return Ok(());
    }
    let backend = conn.backend();
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                r.customer_id,
                r.shop_id.0,
                r.recency_score,
                r.frequency_score,
                r.monetary_score,
                sql_text(r.segment.as_str()),
                sql_timestamp(backend, r.last_order_at),
                r.order_count,
                r.net_spent_cents,
                sql_text(&r.reasons),
                sql_timestamp(backend, r.computed_at),
            )
        })
        .collect();
    diesel::sql_query(format!(
        "INSERT INTO customer_rfm (customer_id, shop_id, recency_score, frequency_score, \
         monetary_score, segment, last_order_at, order_count, net_spent_cents, reasons, \
         computed_at) VALUES {} ON CONFLICT (customer_id) DO UPDATE SET \
         recency_score = excluded.recency_score, frequency_score = excluded.frequency_score, \
         monetary_score = excluded.monetary_score, segment = excluded.segment, \
         last_order_at = excluded.last_order_at, order_count = excluded.order_count, \
         net_spent_cents = excluded.net_spent_cents, reasons = excluded.reasons, \
         computed_at = excluded.computed_at",
        values.join(", ")
    ))
    .execute(conn)?;
    Ok(())
}

/// Drops the RFM rows of customers who are no longer scored buyers.
pub fn delete_rfm(conn: &mut DbConnection, ids: &[i64]) -> Result<(), ApiError> {
    if !ids.is_empty() {
        diesel::delete(customer_rfm::table.filter(customer_rfm::customer_id.eq_any(ids)))
            .execute(conn)?;
    }
    Ok(())
}

/// A change of a customer's segment (`None`: not a scored buyer).
pub struct SegmentChange {
    pub customer_id: i64,
    pub from: Option<Segment>,
    pub to: Option<Segment>,
}

/// Records segment changes in one multi-row insert.
pub fn insert_segment_changes(
    conn: &mut DbConnection,
    shop_id: ShopId,
    changes: &[SegmentChange],
    cause: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    if changes.is_empty() {
        return Ok(());
    }
    let at = sql_timestamp(conn.backend(), now);
    let cause = sql_text(cause);
    let segment = |s: Option<Segment>| sql_or_null(s, |s| sql_text(s.as_str()));
    let values: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "({}, {}, {}, {}, {cause}, {at})",
                shop_id.0,
                c.customer_id,
                segment(c.from),
                segment(c.to)
            )
        })
        .collect();
    diesel::sql_query(format!(
        "INSERT INTO rfm_segment_changes (shop_id, customer_id, from_segment, to_segment, \
         cause, created_at) VALUES {}",
        values.join(", ")
    ))
    .execute(conn)?;
    Ok(())
}

/// Records a full recomputation's cut-offs.
pub fn insert_rfm_run(
    conn: &mut DbConnection,
    shop_id: ShopId,
    cutoffs: &RfmCutoffs,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::insert_into(rfm_runs::table)
        .values((
            rfm_runs::shop_id.eq(shop_id),
            rfm_runs::computed_at.eq(now),
            rfm_runs::buyers.eq(cutoffs.buyers),
            rfm_runs::cutoffs.eq(serde_json::to_string(cutoffs).unwrap_or_default()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The latest full recomputations' times and cut-offs, newest first.
pub fn latest_rfm_runs(
    conn: &mut DbConnection,
    shop_id: ShopId,
    limit: i64,
) -> Result<Vec<(NaiveDateTime, RfmCutoffs)>, ApiError> {
    let rows: Vec<(NaiveDateTime, String)> = rfm_runs::table
        .filter(rfm_runs::shop_id.eq(shop_id))
        .order(rfm_runs::id.desc())
        .limit(limit)
        .select((rfm_runs::computed_at, rfm_runs::cutoffs))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(at, json)| serde_json::from_str(&json).ok().map(|c| (at, c)))
        .collect())
}

/// The RFM row of one customer, if scored.
pub fn rfm_of(conn: &mut DbConnection, customer_id: i64) -> Result<Option<RfmRow>, ApiError> {
    Ok(customer_rfm::table
        .find(customer_id)
        .select(RfmRow::as_select())
        .first(conn)
        .optional()?)
}

/// Scored customers per segment now (archived ones drop out at the next recomputation).
pub fn segment_counts(
    conn: &mut DbConnection,
    shop_id: ShopId,
) -> Result<BTreeMap<Segment, i64>, ApiError> {
    Ok(customer_rfm::table
        .filter(customer_rfm::shop_id.eq(shop_id))
        .group_by(customer_rfm::segment)
        .select((customer_rfm::segment, diesel::dsl::count_star()))
        .load::<(Segment, i64)>(conn)?
        .into_iter()
        .collect())
}

#[derive(QueryableByName)]
struct FlowRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    from_segment: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    to_segment: Option<String>,
    #[diesel(sql_type = BigInt)]
    customers: i64,
}

/// Customers who moved from one segment (`None`: not scored) to another, and how many.
pub type SegmentFlowCount = (Option<Segment>, Option<Segment>, i64);

/// Customers whose segment differs now from what it was at `since`, by (then, now): each
/// customer's first recorded change after `since` says where they were, the last where
/// they are. Customers who moved and came back are not counted.
pub fn segment_flows(
    conn: &mut DbConnection,
    shop_id: ShopId,
    since: NaiveDateTime,
) -> Result<Vec<SegmentFlowCount>, ApiError> {
    let backend = conn.backend();
    let differs = match backend {
        crate::db::Backend::Postgres => "f.from_segment IS DISTINCT FROM l.to_segment",
        crate::db::Backend::Sqlite => "f.from_segment IS NOT l.to_segment",
    };
    let sql = format!(
        "SELECT f.from_segment AS from_segment, l.to_segment AS to_segment, \
         CAST(COUNT(*) AS BIGINT) AS customers \
         FROM (SELECT customer_id, MIN(id) AS first_id, MAX(id) AS last_id \
               FROM rfm_segment_changes WHERE shop_id = $1 AND created_at > $2 \
               GROUP BY customer_id) c \
         JOIN rfm_segment_changes f ON f.id = c.first_id \
         JOIN rfm_segment_changes l ON l.id = c.last_id \
         WHERE {differs} GROUP BY f.from_segment, l.to_segment"
    );
    let rows: Vec<FlowRow> = diesel::sql_query(raw_sql(backend, &sql))
        .bind::<BigInt, _>(shop_id)
        .bind::<Timestamp, _>(since)
        .load(conn)?;
    let parse = |s: Option<String>| s.as_deref().and_then(Segment::parse);
    Ok(rows
        .into_iter()
        .map(|r| (parse(r.from_segment), parse(r.to_segment), r.customers))
        .collect())
}

/// Every customer id of the shop, in id order (a full recomputation's work list).
pub fn customer_ids(conn: &mut DbConnection, shop_id: ShopId) -> Result<Vec<i64>, ApiError> {
    Ok(customers::table
        .filter(customers::shop_id.eq(shop_id))
        .order(customers::id.asc())
        .select(customers::id)
        .load(conn)?)
}

/// The customer's stored tier and at-risk flag.
pub fn standing_of(conn: &mut DbConnection, customer_id: i64) -> Result<(Tier, bool), ApiError> {
    Ok(customers::table
        .find(customer_id)
        .select((customers::tier, customers::at_risk))
        .first(conn)?)
}

/// A customer's latest tier changes, newest first.
pub fn history(
    conn: &mut DbConnection,
    customer_id: i64,
    limit: i64,
) -> Result<Vec<TierChangeView>, ApiError> {
    Ok(tier_changes::table
        .filter(tier_changes::customer_id.eq(customer_id))
        .order(tier_changes::id.desc())
        .limit(limit)
        .select(TierChange::as_select())
        .load(conn)?
        .iter()
        .map(TierChange::view)
        .collect())
}

/// Up to `limit` of the shop's tier changes with ids below `before`, newest first,
/// optionally of one customer.
pub fn list_changes(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: Option<CustomerId>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<TierChange>, ApiError> {
    let mut rows = tier_changes::table
        .filter(tier_changes::shop_id.eq(shop_id))
        .order(tier_changes::id.desc())
        .limit(limit)
        .select(TierChange::as_select())
        .into_boxed();
    if let Some(customer_id) = customer_id {
        rows = rows.filter(tier_changes::customer_id.eq(customer_id));
    }
    if let Some(before) = before {
        rows = rows.filter(tier_changes::id.lt(before));
    }
    Ok(rows.load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchase_statuses_make_the_sql_list_they_always_made() {
        assert_eq!(purchase_statuses_sql(), "('paid', 'partially_refunded')");
    }
}
