//! The tier use cases: refresh one customer inside the caller's transaction, and
//! recompute a whole shop in short batches. They join the store's reads, the engine's
//! rules and the webhook outbox; no SQL of their own.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{NaiveDateTime, Utc};
use serde_json::json;

use super::{CareEvent, KeyThresholds, RecomputeReport, TierSettings, engine, store};
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::ids::{CustomerId, ShopId};
use crate::webhooks::{self, EventType};

/// Batch size of a full recomputation: each batch is its own short transaction, so
/// writers are never held up for long.
pub const RECOMPUTE_BATCH: i64 = 1000;

/// The stored cut-offs while usable; computed (and stored) again when missing, older than
/// an hour, or taken when the shop had no buyers yet.
fn thresholds(
    conn: &mut DbConnection,
    shop_id: ShopId,
    settings: &TierSettings,
    now: NaiveDateTime,
) -> Result<KeyThresholds, ApiError> {
    match store::stored_thresholds(conn, shop_id)? {
        Some((stored, at)) if engine::thresholds_usable(stored, at, now) => Ok(stored),
        _ => {
            let computed = store::compute_thresholds(conn, shop_id, settings, now)?;
            store::save_thresholds(conn, shop_id, computed, now)?;
            Ok(computed)
        }
    }
}

/// Assesses `ids` and writes what changed; returns how many customers changed.
fn apply(
    conn: &mut DbConnection,
    shop_id: ShopId,
    ids: &[i64],
    thresholds: KeyThresholds,
    settings: &TierSettings,
    cause: &str,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let current = store::current_standings(conn, shop_id, ids)?;
    let mut purchases = store::purchases_of(conn, ids)?;
    let mut care: BTreeMap<i64, Vec<CareEvent>> = BTreeMap::new();
    for ticket in store::ticket_facts(conn, ids)? {
        care.entry(ticket.customer_id)
            .or_default()
            .extend(engine::care_events(&ticket));
    }
    let mut changed = 0;
    for before in current {
        let purchases = purchases.remove(&before.id).unwrap_or_default();
        let care = care.remove(&before.id).unwrap_or_default();
        let after = engine::assess(&purchases, &care, thresholds, settings, now);
        let reasons_json = serde_json::to_string(&after.reasons).unwrap_or_else(|_| "[]".into());
        let moved = before.tier != after.tier
            || before.lifecycle_stage != after.stage
            || before.at_risk != after.at_risk;
        if !moved && reasons_json == before.tier_reasons {
            continue;
        }
        store::save_standing(conn, before.id, &after, &reasons_json, now)?;
        if moved {
            store::insert_change(conn, &before, &after, &reasons_json, cause, now)?;
            let event = json!({
                "customer_id": before.id,
                // The API's names (`stage`, as in a customer's standing), not the column's.
                "before": {"tier": before.tier, "stage": before.lifecycle_stage, "at_risk": before.at_risk},
                "after": {"tier": after.tier, "stage": after.stage, "at_risk": after.at_risk},
                "reasons": after.reasons,
                "cause": cause,
            });
            webhooks::store::emit(
                conn,
                before.shop_id,
                EventType::CustomerTierChanged,
                &event,
                now,
            )?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Recomputes one customer in the caller's transaction, after `cause` changed their history.
pub fn refresh(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: CustomerId,
    settings: &TierSettings,
    cause: &str,
) -> Result<(), ApiError> {
    let started = Instant::now();
    let now = Utc::now().naive_utc();
    let thresholds = thresholds(conn, shop_id, settings, now)?;
    apply(
        conn,
        shop_id,
        &[customer_id.0],
        thresholds,
        settings,
        cause,
        now,
    )?;
    crate::metrics::record_tier_recompute("customer", started.elapsed().as_secs_f64());
    Ok(())
}

/// Recomputes the shop's thresholds and every customer's tier (blocking; run it off the
/// async workers).
pub fn recompute_all(
    db: &Db,
    shop_id: ShopId,
    settings: &TierSettings,
) -> Result<RecomputeReport, ApiError> {
    let started = Instant::now();
    let now = Utc::now().naive_utc();
    let thresholds = db.write_blocking(|conn| {
        let t = store::compute_thresholds(conn, shop_id, settings, now)?;
        store::save_thresholds(conn, shop_id, t, now)?;
        Ok(t)
    })?;
    let mut after = 0i64;
    let (mut customers_seen, mut changed) = (0usize, 0usize);
    loop {
        let ids: Vec<i64> = {
            let mut conn = db.conn()?;
            store::customer_ids_after(&mut conn, shop_id, after, RECOMPUTE_BATCH)?
        };
        let Some(&last) = ids.last() else { break };
        changed += db.write_blocking(|conn| {
            apply(conn, shop_id, &ids, thresholds, settings, "recompute", now)
        })?;
        customers_seen += ids.len();
        after = last;
    }
    crate::metrics::record_tier_recompute("all", started.elapsed().as_secs_f64());
    Ok(RecomputeReport {
        customers: customers_seen,
        changed,
        key_spend_cents: thresholds.spend_cents,
        key_order_count: thresholds.order_count,
        elapsed_ms: started.elapsed().as_millis(),
    })
}
