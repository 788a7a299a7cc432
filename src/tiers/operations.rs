//! The tier use cases: refresh one customer inside the caller's transaction, and
//! recompute a whole shop in short batches. They join the store's reads, the engine's
//! rules and the webhook outbox; no SQL of their own.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{NaiveDateTime, Utc};
use serde_json::json;

use super::{
    CareEvent, KeyThresholds, Purchase, RecomputeReport, RfmCutoffs, RfmFacts, RfmRow,
    SegmentReport, TierSettings, engine, rfm, store,
};
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

/// What customers are assessed against: the key thresholds and settings, and the RFM
/// cut-offs when there are any yet.
#[derive(Clone, Copy)]
struct Basis<'a> {
    thresholds: KeyThresholds,
    settings: &'a TierSettings,
    rfm: Option<&'a RfmCutoffs>,
}

/// What one batch changed.
#[derive(Debug, Default, Clone, Copy)]
struct Applied {
    /// Customers whose tier, stage or flag moved.
    moved: usize,
    /// Customers whose RFM segment changed.
    segments: usize,
}

/// Assesses `ids` (tiers, and RFM against `rfm` when given) and writes only what changed,
/// set-based: one statement per kind of write per batch, however many customers changed.
fn apply(
    conn: &mut DbConnection,
    shop_id: ShopId,
    ids: &[i64],
    basis: Basis<'_>,
    cause: &str,
    now: NaiveDateTime,
) -> Result<Applied, ApiError> {
    let Basis {
        thresholds,
        settings,
        rfm,
    } = basis;
    let current = store::current_standings(conn, shop_id, ids)?;
    let (mut purchases, purchase_orders) = store::purchases_of(conn, ids)?;
    let tickets = store::ticket_facts(conn, ids)?;
    let mut care: BTreeMap<i64, Vec<CareEvent>> = BTreeMap::new();
    for ticket in &tickets {
        care.entry(ticket.customer_id)
            .or_default()
            .extend(engine::care_events(ticket));
    }
    let (refunds, mut scored) = match rfm {
        Some(_) => (
            engine::refunds_on_purchases(&tickets, &purchase_orders),
            store::rfm_rows(conn, ids)?
                .into_iter()
                .map(|row| (row.customer_id, row))
                .collect(),
        ),
        None => (BTreeMap::new(), BTreeMap::new()),
    };
    let mut assessed = Vec::with_capacity(current.len());
    let mut rfm_writes: Vec<RfmRow> = Vec::new();
    let mut rfm_drops: Vec<i64> = Vec::new();
    let mut segment_changes: Vec<store::SegmentChange> = Vec::new();
    for before in &current {
        let purchases = purchases.remove(&before.id).unwrap_or_default();
        let care = care.remove(&before.id).unwrap_or_default();
        let after = engine::assess(&purchases, &care, thresholds, settings, now);
        if let Some(cutoffs) = rfm {
            let stored = scored.remove(&before.id);
            let facts = rfm_facts(&purchases, refunds.get(&before.id).copied());
            let fresh = match facts {
                Some(facts) if before.archived_at.is_none() => {
                    let a = rfm::assess(&facts, cutoffs, now);
                    Some(RfmRow {
                        customer_id: before.id,
                        shop_id: before.shop_id,
                        recency_score: a.recency,
                        frequency_score: a.frequency,
                        monetary_score: a.monetary,
                        segment: a.segment,
                        last_order_at: facts.last_order_at,
                        order_count: facts.order_count,
                        net_spent_cents: facts.net_spent_cents,
                        reasons: serde_json::to_string(&a.reasons).unwrap_or_else(|_| "[]".into()),
                        computed_at: now,
                    })
                }
                _ => None,
            };
            let (from, to) = (
                stored.as_ref().map(|r| r.segment),
                fresh.as_ref().map(|r| r.segment),
            );
            if from != to {
                segment_changes.push(store::SegmentChange {
                    customer_id: before.id,
                    from,
                    to,
                });
            }
            match (stored, fresh) {
                (Some(_), None) => rfm_drops.push(before.id),
                (None, Some(fresh)) => rfm_writes.push(fresh),
                (Some(stored), Some(fresh)) if !same_rfm(&stored, &fresh) => rfm_writes.push(fresh),
                _ => {}
            }
        }
        assessed.push(after);
    }
    let mut standings = Vec::new();
    let mut events = Vec::new();
    for (before, after) in current.iter().zip(&assessed) {
        let reasons_json = serde_json::to_string(&after.reasons).unwrap_or_else(|_| "[]".into());
        let moved = before.tier != after.tier
            || before.lifecycle_stage != after.stage
            || before.at_risk != after.at_risk;
        if !moved && reasons_json == before.tier_reasons {
            continue;
        }
        if moved {
            events.push(json!({
                "customer_id": before.id,
                // The API's names (`stage`, as in a customer's standing), not the column's.
                "before": {"tier": before.tier, "stage": before.lifecycle_stage, "at_risk": before.at_risk},
                "after": {"tier": after.tier, "stage": after.stage, "at_risk": after.at_risk},
                "reasons": after.reasons,
                "cause": cause,
            }));
        }
        standings.push(store::NewStanding {
            before,
            after,
            reasons_json,
            moved,
        });
    }
    store::save_standings(conn, &standings, cause, now)?;
    webhooks::store::emit_many(conn, shop_id, EventType::CustomerTierChanged, &events, now)?;
    store::save_rfm(conn, &rfm_writes)?;
    store::delete_rfm(conn, &rfm_drops)?;
    store::insert_segment_changes(conn, shop_id, &segment_changes, cause, now)?;
    Ok(Applied {
        moved: events.len(),
        segments: segment_changes.len(),
    })
}

/// What RFM reads of a customer's counted purchases and refunds; `None` without any.
fn rfm_facts(purchases: &[Purchase], refunds: Option<i64>) -> Option<RfmFacts> {
    let last_order_at = purchases.iter().map(|p| p.at).max()?;
    let spend = purchases
        .iter()
        .fold(0i64, |sum, p| sum.saturating_add(p.total_cents));
    Some(RfmFacts {
        last_order_at,
        order_count: purchases.len() as i64,
        net_spent_cents: store::net(spend, refunds),
    })
}

/// Whether a stored RFM row already says what a fresh one says (its time aside): then it
/// is not written again.
fn same_rfm(stored: &RfmRow, fresh: &RfmRow) -> bool {
    RfmRow {
        computed_at: fresh.computed_at,
        ..stored.clone()
    } == *fresh
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
    // Scored against the last full recomputation's cut-offs; none before the first one.
    let cutoffs = store::latest_rfm_runs(conn, shop_id, 1)?
        .into_iter()
        .next()
        .map(|(_, cutoffs)| cutoffs);
    apply(
        conn,
        shop_id,
        &[customer_id.0],
        Basis {
            thresholds,
            settings,
            rfm: cutoffs.as_ref(),
        },
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
    let (thresholds, cutoffs) = db.write_blocking(|conn| {
        let t = store::compute_thresholds(conn, shop_id, settings, now)?;
        store::save_thresholds(conn, shop_id, t, now)?;
        let cutoffs = rfm::cutoffs(&store::rfm_buyers(conn, shop_id)?, now);
        store::insert_rfm_run(conn, shop_id, &cutoffs, now)?;
        Ok((t, cutoffs))
    })?;
    let mut after = 0i64;
    let (mut customers_seen, mut changed, mut segment_changes) = (0usize, 0usize, 0usize);
    loop {
        let ids: Vec<i64> = {
            let mut conn = db.conn()?;
            store::customer_ids_after(&mut conn, shop_id, after, RECOMPUTE_BATCH)?
        };
        let Some(&last) = ids.last() else { break };
        let applied = db.write_blocking(|conn| {
            apply(
                conn,
                shop_id,
                &ids,
                Basis {
                    thresholds,
                    settings,
                    rfm: Some(&cutoffs),
                },
                "recompute",
                now,
            )
        })?;
        changed += applied.moved;
        segment_changes += applied.segments;
        customers_seen += ids.len();
        after = last;
    }
    crate::metrics::record_tier_recompute("all", started.elapsed().as_secs_f64());
    Ok(RecomputeReport {
        customers: customers_seen,
        changed,
        key_spend_cents: thresholds.spend_cents,
        key_order_count: thresholds.order_count,
        rfm_buyers: cutoffs.buyers,
        segment_changes,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// The segment counts now and at `since` (default: the full recomputation before the
/// latest), and the flows between them.
pub fn segment_report(
    conn: &mut DbConnection,
    shop_id: ShopId,
    since: Option<NaiveDateTime>,
) -> Result<SegmentReport, ApiError> {
    let runs = store::latest_rfm_runs(conn, shop_id, 2)?;
    let since = since.or_else(|| runs.get(1).map(|(at, _)| *at));
    let now_counts = store::segment_counts(conn, shop_id)?;
    let beginning = NaiveDateTime::default();
    let flows = store::segment_flows(conn, shop_id, since.unwrap_or(beginning))?;
    let (segments, flows) = rfm::segment_movements(&now_counts, flows);
    Ok(SegmentReport {
        computed_at: runs.first().map(|(at, _)| at.and_utc()),
        since: since.map(|t| t.and_utc()),
        buyers: now_counts.values().sum(),
        segments,
        flows,
    })
}
