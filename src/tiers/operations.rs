//! The tier use cases: refresh one customer inside the caller's transaction, and
//! recompute a whole shop in short batches. They join the store's reads, the engine's
//! rules and the webhook outbox; no SQL of their own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use diesel::connection::{Connection, SimpleConnection};
use serde_json::json;

use super::{
    CareEvent, KeyThresholds, Purchase, RecomputeReport, RfmCutoffs, RfmFacts, RfmRow,
    SegmentReport, TierSettings, engine, rfm, store,
};
use crate::db::{Backend, Db, DbConnection};
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

/// What one batch (or several, added up) changed, and where its time went.
#[derive(Debug, Default, Clone, Copy)]
struct Applied {
    /// Customers whose tier, stage or flag moved.
    moved: usize,
    /// Customers whose RFM segment changed.
    segments: usize,
    /// Reading the customers' standings, purchases, tickets and RFM rows.
    reading: Duration,
    /// Assessing them.
    assessing: Duration,
    /// Writing what changed.
    writing: Duration,
}

impl std::ops::AddAssign for Applied {
    fn add_assign(&mut self, other: Applied) {
        self.moved += other.moved;
        self.segments += other.segments;
        self.reading += other.reading;
        self.assessing += other.assessing;
        self.writing += other.writing;
    }
}

/// What a pass over a batch does with its assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Writes what changed, in the caller's write transaction.
    Write,
    /// Only finds who would change, on any connection: writes nothing.
    FindChanges,
}

/// Assesses `ids` (tiers, and RFM against `rfm` when given) and, in a `Write` pass,
/// writes only what changed, set-based: one statement per kind of write per batch, however
/// many customers changed. Returns the ids of the customers with something to write.
fn apply(
    conn: &mut DbConnection,
    shop_id: ShopId,
    ids: &[i64],
    basis: Basis<'_>,
    pass: Pass,
    cause: &str,
    now: NaiveDateTime,
) -> Result<(Applied, Vec<i64>), ApiError> {
    let Basis {
        thresholds,
        settings,
        rfm,
    } = basis;
    let reading = Instant::now();
    let current = store::current_standings(conn, shop_id, ids)?;
    let (mut purchases, purchase_orders) = store::purchases_of(conn, ids)?;
    let tickets = store::ticket_facts(conn, ids)?;
    let stored_rfm = match rfm {
        Some(_) => store::rfm_rows(conn, ids)?,
        None => Vec::new(),
    };
    let reading = reading.elapsed();
    let assessing = Instant::now();
    let mut care: BTreeMap<i64, Vec<CareEvent>> = BTreeMap::new();
    for ticket in &tickets {
        care.entry(ticket.customer_id)
            .or_default()
            .extend(engine::care_events(ticket));
    }
    let (refunds, mut scored) = match rfm {
        Some(_) => (
            engine::refunds_on_purchases(&tickets, &purchase_orders),
            stored_rfm
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
    let assessing = assessing.elapsed();
    let mut changed: Vec<i64> = standings
        .iter()
        .map(|s| s.before.id)
        .chain(rfm_writes.iter().map(|r| r.customer_id))
        .chain(rfm_drops.iter().copied())
        .chain(segment_changes.iter().map(|c| c.customer_id))
        .collect();
    changed.sort_unstable();
    changed.dedup();
    if pass == Pass::FindChanges {
        let found = Applied {
            reading,
            assessing,
            ..Applied::default()
        };
        return Ok((found, changed));
    }
    let writing = Instant::now();
    store::save_standings(conn, &standings, cause, now)?;
    webhooks::store::emit_many(conn, shop_id, EventType::CustomerTierChanged, &events, now)?;
    store::save_rfm(conn, &rfm_writes)?;
    store::delete_rfm(conn, &rfm_drops)?;
    store::insert_segment_changes(conn, shop_id, &segment_changes, cause, now)?;
    let applied = Applied {
        moved: events.len(),
        segments: segment_changes.len(),
        reading,
        assessing,
        writing: writing.elapsed(),
    };
    Ok((applied, changed))
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
    refresh_at(
        conn,
        shop_id,
        customer_id,
        settings,
        cause,
        Utc::now().naive_utc(),
    )
}

/// [`refresh`] as of `now` (tests compare it with a full recomputation at the same moment:
/// reasons count days).
pub fn refresh_at(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: CustomerId,
    settings: &TierSettings,
    cause: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let started = Instant::now();
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
        Pass::Write,
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
    recompute_all_at(db, shop_id, settings, Utc::now().naive_utc())
}

/// [`recompute_all`] as of `now`.
pub fn recompute_all_at(
    db: &Db,
    shop_id: ShopId,
    settings: &TierSettings,
    now: NaiveDateTime,
) -> Result<RecomputeReport, ApiError> {
    let started = Instant::now();
    // The shop-wide passes are plain reads, outside any writer's turn: the cut-offs are
    // statistics of the shop, and a purchase committed meanwhile is assessed by its own
    // refresh anyway.
    let parallel = spare_connections(db);
    let ((thresholds, refunds), buyers) = both(
        db,
        parallel,
        |conn| {
            let thresholds = store::compute_thresholds(conn, shop_id, settings, now)?;
            Ok((thresholds, store::shop_refunds(conn, shop_id)?))
        },
        |conn| store::rfm_buyers(conn, shop_id),
    )?;
    let cutoffs = rfm::cutoffs(&store::net_of_refunds(buyers, &refunds), now);
    db.write_blocking(|conn| {
        store::save_thresholds(conn, shop_id, thresholds, now)?;
        store::insert_rfm_run(conn, shop_id, &cutoffs, now)
    })?;
    let passes = started.elapsed();
    let ids = store::customer_ids(&mut *db.conn()?, shop_id)?;
    let basis = Basis {
        thresholds,
        settings,
        rfm: Some(&cutoffs),
    };
    let workers = recompute_workers(db);
    let applied = in_batches(db, &ids, workers, |conn, batch, pass| {
        apply(conn, shop_id, batch, basis, pass, "recompute", now)
    })?;
    tracing::info!(
        shop_id = shop_id.0,
        customers = ids.len(),
        changed = applied.moved,
        workers,
        passes_ms = passes.as_millis() as u64,
        batches_ms = (started.elapsed() - passes).as_millis() as u64,
        // Summed over the batches, which overlap when several workers run.
        reading_ms = applied.reading.as_millis() as u64,
        assessing_ms = applied.assessing.as_millis() as u64,
        writing_ms = applied.writing.as_millis() as u64,
        "tiers and RFM recomputed"
    );
    crate::metrics::record_tier_recompute("all", started.elapsed().as_secs_f64());
    Ok(RecomputeReport {
        customers: ids.len(),
        changed: applied.moved,
        key_spend_cents: thresholds.spend_cents,
        key_order_count: thresholds.order_count,
        rfm_buyers: cutoffs.buyers,
        segment_changes: applied.segments,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// Whether a full recomputation may take two connections at once and still leave the
/// pool at least as many for requests.
fn spare_connections(db: &Db) -> bool {
    db.pool_size() >= 4
}

/// Runs `a` and `b`, each on a connection of its own and at once when `parallel`, else
/// one after the other on one connection.
fn both<A, B>(
    db: &Db,
    parallel: bool,
    a: impl FnOnce(&mut DbConnection) -> Result<A, ApiError> + Send,
    b: impl FnOnce(&mut DbConnection) -> Result<B, ApiError>,
) -> Result<(A, B), ApiError>
where
    A: Send,
{
    if !parallel {
        let mut conn = db.conn()?;
        return Ok((a(&mut conn)?, b(&mut conn)?));
    }
    std::thread::scope(|scope| {
        let a = scope.spawn(|| a(&mut *db.conn()?));
        let b = b(&mut *db.conn()?);
        let a = a
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok((a?, b?))
    })
}

/// How many batches of a full recomputation are assessed at once: two, so that one
/// batch's reads overlap another's assessment or writes (the machine this is sized for has
/// two cores), when the pool can spare the connections.
fn recompute_workers(db: &Db) -> usize {
    if spare_connections(db) { 2 } else { 1 }
}

/// Sets its flag when dropped while its thread panics.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs read-only `work` in one snapshot of the database, so that what it reads of
/// different tables belongs together: a read-only repeatable-read transaction on
/// PostgreSQL, a deferred one on SQLite (which in WAL mode waits for no writer).
fn in_snapshot<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    conn.transaction(|conn| {
        if conn.backend() == Backend::Postgres {
            conn.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        work(conn)
    })
}

/// Runs `work` over each batch of `ids`, `workers` batches at once, and adds up what they
/// changed. Each batch is first assessed in a read-only snapshot (`FindChanges`: batches
/// read at once even on SQLite, where writers take turns); only the customers it finds
/// changed are then assessed again and written in a write transaction of their own
/// (`Write`), so what is written was read in the transaction that writes it. A customer
/// the snapshot found unchanged was right as of the snapshot, and an order or ticket
/// committed since refreshed them in its own transaction. The first error stops the
/// batches not yet begun and is returned; batches already committed stay (each is whole on
/// its own).
fn in_batches<F>(db: &Db, ids: &[i64], workers: usize, work: F) -> Result<Applied, ApiError>
where
    F: Fn(&mut DbConnection, &[i64], Pass) -> Result<(Applied, Vec<i64>), ApiError> + Sync,
{
    let batches: Vec<&[i64]> = ids.chunks(RECOMPUTE_BATCH as usize).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let one_batch = |batch: &[i64]| -> Result<Applied, ApiError> {
        let (found, changed) = in_snapshot(&mut *db.conn()?, |conn| {
            work(conn, batch, Pass::FindChanges)
        })?;
        if changed.is_empty() {
            return Ok(found);
        }
        let (mut written, _) = db.write_blocking(|conn| work(conn, &changed, Pass::Write))?;
        written.reading += found.reading;
        written.assessing += found.assessing;
        Ok(written)
    };
    let worker = || -> Result<Applied, ApiError> {
        // A worker that panics stops the others too, as an error does.
        let _stop_on_panic = StopOnPanic(&failed);
        let mut total = Applied::default();
        while !failed.load(Ordering::Relaxed) {
            let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            match one_batch(batch) {
                Ok(applied) => total += applied,
                Err(error) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(error);
                }
            }
        }
        Ok(total)
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..workers.max(1)).map(|_| scope.spawn(worker)).collect();
        let mut total = worker()?;
        for handle in handles {
            total += handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        }
        Ok(total)
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
