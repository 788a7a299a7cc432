//! Every query of the tiers feature: the key thresholds (computed by the database), the
//! purchases and ticket facts the engine reads, the customers' stored standing, and the
//! record of tier changes.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::{
    Assessment, CurrentStanding, KeyThresholds, Purchase, TicketFacts, Tier, TierChange,
    TierChangeView, TierSettings, purchase_statuses,
};
use crate::db::{DbConnection, clamped_sum, raw_sql};
use crate::error::ApiError;
use crate::ids::{CustomerId, ShopId};
use crate::schema::{customers, orders, tickets, tier_changes, tier_thresholds};

/// The purchase statuses as an SQL list, `('paid', 'partially_refunded')`.
fn purchase_statuses_sql() -> String {
    crate::db::sql_list(purchase_statuses().into_iter().map(|s| s.as_str()))
}

#[derive(QueryableByName)]
struct Value64 {
    #[diesel(sql_type = BigInt)]
    v: i64,
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
    let n: i64 = diesel::sql_query(raw_sql(
        backend,
        &format!("SELECT CAST(COUNT(*) AS BIGINT) AS v FROM ({buyers}) b"),
    ))
    .bind::<BigInt, _>(shop_id)
    .bind::<Timestamp, _>(since)
    .get_result::<Value64>(conn)?
    .v;
    if n == 0 {
        return Ok(KeyThresholds {
            spend_cents: i64::MAX,
            order_count: i64::MAX,
        });
    }
    let offset = (((n as f64) * settings.key_share).ceil() as i64).clamp(1, n) - 1;
    let mut cutoff = |column: &str| -> Result<i64, ApiError> {
        Ok(diesel::sql_query(raw_sql(
            backend,
            &format!(
                "SELECT {column} AS v FROM ({buyers}) b ORDER BY {column} DESC LIMIT 1 OFFSET $3"
            ),
        ))
        .bind::<BigInt, _>(shop_id)
        .bind::<Timestamp, _>(since)
        .bind::<BigInt, _>(offset)
        .get_result::<Value64>(conn)?
        .v)
    };
    Ok(KeyThresholds {
        spend_cents: cutoff("spend")?,
        order_count: cutoff("orders")?,
    })
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

/// The purchases of each of `ids` (customers without any are left out).
pub fn purchases_of(
    conn: &mut DbConnection,
    ids: &[i64],
) -> Result<BTreeMap<i64, Vec<Purchase>>, ApiError> {
    let statuses: Vec<&str> = purchase_statuses()
        .into_iter()
        .map(|status| status.as_str())
        .collect();
    let rows: Vec<(i64, i64, NaiveDateTime)> = orders::table
        .filter(orders::customer_id.eq_any(ids))
        .filter(orders::status.eq_any(statuses))
        .select((orders::customer_id, orders::total_cents, orders::ordered_at))
        .load(conn)?;
    let mut out: BTreeMap<i64, Vec<Purchase>> = BTreeMap::new();
    for (customer_id, total_cents, at) in rows {
        out.entry(customer_id)
            .or_default()
            .push(Purchase { total_cents, at });
    }
    Ok(out)
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
        ))
        .load(conn)?)
}

/// Writes a customer's new standing.
pub fn save_standing(
    conn: &mut DbConnection,
    customer_id: i64,
    assessment: &Assessment,
    reasons_json: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(customers::table.find(customer_id))
        .set((
            customers::tier.eq(assessment.tier),
            customers::lifecycle_stage.eq(assessment.stage),
            customers::at_risk.eq(assessment.at_risk),
            customers::tier_reasons.eq(reasons_json),
            customers::tier_computed_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records that a customer moved from `before` to `after` because of `cause`.
pub fn insert_change(
    conn: &mut DbConnection,
    before: &CurrentStanding,
    after: &Assessment,
    reasons_json: &str,
    cause: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::insert_into(tier_changes::table)
        .values((
            tier_changes::shop_id.eq(before.shop_id),
            tier_changes::customer_id.eq(before.id),
            tier_changes::from_tier.eq(&before.tier),
            tier_changes::to_tier.eq(after.tier),
            tier_changes::from_stage.eq(&before.lifecycle_stage),
            tier_changes::to_stage.eq(after.stage),
            tier_changes::from_at_risk.eq(before.at_risk),
            tier_changes::to_at_risk.eq(after.at_risk),
            tier_changes::reasons.eq(reasons_json),
            tier_changes::cause.eq(cause),
            tier_changes::created_at.eq(now),
            tier_changes::from_reasons.eq(&before.tier_reasons),
            tier_changes::from_computed_at.eq(before.tier_computed_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Up to `limit` of the shop's customer ids after `after`, in id order.
pub fn customer_ids_after(
    conn: &mut DbConnection,
    shop_id: ShopId,
    after: i64,
    limit: i64,
) -> Result<Vec<i64>, ApiError> {
    Ok(customers::table
        .filter(customers::shop_id.eq(shop_id))
        .filter(customers::id.gt(after))
        .order(customers::id.asc())
        .limit(limit)
        .select(customers::id)
        .load(conn)?)
}

/// Whether a customer's tickets go first: key customers and those at risk.
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
