//! Value tiers: kept current on every order and ticket change (in the same transaction),
//! recomputed in full on demand, and every change recorded with its reasons.

pub mod engine;
pub mod routes;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{Db, DbConnection, raw_sql};
use crate::error::ApiError;
use crate::schema::{customers, tickets, tier_changes, tier_thresholds};
use crate::webhooks::EventType;
use engine::{
    Assessment, CareEvent, CareKind, KeyThresholds, Purchase, Reason, Stage, Tier, TierSettings,
};

/// Order statuses that count as purchases (see `OrderStatus::counts_as_purchase`).
const PURCHASE_STATUSES: &str = "('paid', 'partially_refunded')";

#[derive(QueryableByName)]
struct Value64 {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

/// The 12-month cut-offs for the key tier, computed by the database.
pub fn compute_thresholds(
    conn: &mut DbConnection,
    shop_id: i64,
    settings: &TierSettings,
    now: NaiveDateTime,
) -> Result<KeyThresholds, ApiError> {
    let since = now - chrono::Duration::days(365);
    let buyers = format!(
        "SELECT customer_id, CAST(SUM(total_cents) AS BIGINT) AS spend, CAST(COUNT(*) AS BIGINT) AS orders \
         FROM orders WHERE shop_id = $1 AND status IN {PURCHASE_STATUSES} AND ordered_at >= $2 GROUP BY customer_id"
    );
    let backend = conn.backend();
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

fn store_thresholds(
    conn: &mut DbConnection,
    shop_id: i64,
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

/// How long stored key thresholds serve single-customer refreshes before they are
/// computed again (a full recomputation always computes them).
const THRESHOLDS_MAX_AGE_MINUTES: i64 = 60;

/// The stored cut-offs while fresh; computed (and stored) again when missing, older than
/// an hour, or taken when the shop had no buyers yet.
fn thresholds(
    conn: &mut DbConnection,
    shop_id: i64,
    settings: &TierSettings,
    now: NaiveDateTime,
) -> Result<KeyThresholds, ApiError> {
    let stored: Option<(i64, i64, NaiveDateTime)> = tier_thresholds::table
        .find(shop_id)
        .select((
            tier_thresholds::key_spend_cents,
            tier_thresholds::key_order_count,
            tier_thresholds::computed_at,
        ))
        .first(conn)
        .optional()?;
    let fresh =
        |at: NaiveDateTime| now - at < chrono::Duration::minutes(THRESHOLDS_MAX_AGE_MINUTES);
    match stored {
        Some((spend_cents, order_count, at)) if fresh(at) && spend_cents != i64::MAX => {
            Ok(KeyThresholds {
                spend_cents,
                order_count,
            })
        }
        _ => {
            let computed = compute_thresholds(conn, shop_id, settings, now)?;
            store_thresholds(conn, shop_id, computed, now)?;
            Ok(computed)
        }
    }
}

fn purchases_of(
    conn: &mut DbConnection,
    ids: &[i64],
) -> Result<BTreeMap<i64, Vec<Purchase>>, ApiError> {
    use crate::schema::orders;
    let rows: Vec<(i64, i64, NaiveDateTime)> = orders::table
        .filter(orders::customer_id.eq_any(ids))
        .filter(orders::status.eq_any(["paid", "partially_refunded"]))
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

type TicketFacts = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    NaiveDateTime,
);

/// After-sales facts that bear on value: satisfaction, open bad reviews, unhappy endings.
fn care_of(
    conn: &mut DbConnection,
    ids: &[i64],
) -> Result<BTreeMap<i64, Vec<CareEvent>>, ApiError> {
    let rows: Vec<TicketFacts> = tickets::table
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
        .load(conn)?;
    let mut out: BTreeMap<i64, Vec<CareEvent>> = BTreeMap::new();
    for (
        ticket_id,
        customer_id,
        kind,
        state,
        outcome,
        close_reason,
        score,
        score_at,
        resolved_at,
        closed_at,
        created_at,
    ) in rows
    {
        let events = out.entry(customer_id).or_default();
        if let (Some(score), Some(at)) = (score, score_at) {
            events.push(CareEvent {
                ticket_id,
                kind: CareKind::Satisfaction(score),
                at,
            });
        }
        let open = matches!(state.as_str(), "new" | "first_call" | "follow_up");
        if open && kind == "negative_review" {
            events.push(CareEvent {
                ticket_id,
                kind: CareKind::OpenNegativeReview,
                at: created_at,
            });
        }
        // Duplicates and invalid tickets say nothing about the buyer's experience.
        if let (Some(reason @ ("unreachable" | "refused")), Some(at)) =
            (close_reason.as_deref(), closed_at)
        {
            events.push(CareEvent {
                ticket_id,
                kind: CareKind::EndedUnresolved(reason.to_owned()),
                at,
            });
        }
        if let (
            Some(outcome @ ("review_kept_unresolved" | "return_rejected" | "not_repairable")),
            Some(at),
        ) = (outcome.as_deref(), resolved_at)
        {
            events.push(CareEvent {
                ticket_id,
                kind: CareKind::EndedUnresolved(outcome.to_owned()),
                at,
            });
        }
    }
    Ok(out)
}

type CurrentTier = (i64, i64, String, String, bool, String);

/// Assesses `ids` and writes what changed; returns how many customers changed.
fn apply(
    conn: &mut DbConnection,
    shop_id: i64,
    ids: &[i64],
    thresholds: KeyThresholds,
    settings: &TierSettings,
    cause: &str,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let current: Vec<CurrentTier> = customers::table
        .filter(customers::shop_id.eq(shop_id))
        .filter(customers::id.eq_any(ids))
        .select((
            customers::id,
            customers::shop_id,
            customers::tier,
            customers::lifecycle_stage,
            customers::at_risk,
            customers::tier_reasons,
        ))
        .load(conn)?;
    let mut purchases = purchases_of(conn, ids)?;
    let mut care = care_of(conn, ids)?;
    let mut changed = 0;
    for (id, shop_id, tier, stage, at_risk, old_reasons) in current {
        let purchases = purchases.remove(&id).unwrap_or_default();
        let care = care.remove(&id).unwrap_or_default();
        let Assessment {
            tier: new_tier,
            stage: new_stage,
            at_risk: new_risk,
            reasons,
        } = engine::assess(&purchases, &care, thresholds, settings, now);
        let reasons_json = serde_json::to_string(&reasons).unwrap_or_else(|_| "[]".into());
        let moved = tier != new_tier.as_str() || stage != new_stage.as_str() || at_risk != new_risk;
        if !moved && reasons_json == old_reasons {
            continue;
        }
        diesel::update(customers::table.find(id))
            .set((
                customers::tier.eq(new_tier.as_str()),
                customers::lifecycle_stage.eq(new_stage.as_str()),
                customers::at_risk.eq(new_risk),
                customers::tier_reasons.eq(&reasons_json),
                customers::tier_computed_at.eq(now),
            ))
            .execute(conn)?;
        if moved {
            diesel::insert_into(tier_changes::table)
                .values((
                    tier_changes::shop_id.eq(shop_id),
                    tier_changes::customer_id.eq(id),
                    tier_changes::from_tier.eq(&tier),
                    tier_changes::to_tier.eq(new_tier.as_str()),
                    tier_changes::from_stage.eq(&stage),
                    tier_changes::to_stage.eq(new_stage.as_str()),
                    tier_changes::from_at_risk.eq(at_risk),
                    tier_changes::to_at_risk.eq(new_risk),
                    tier_changes::reasons.eq(&reasons_json),
                    tier_changes::cause.eq(cause),
                    tier_changes::created_at.eq(now),
                ))
                .execute(conn)?;
            let event = serde_json::json!({
                "customer_id": id,
                "before": {"tier": tier, "lifecycle_stage": stage, "at_risk": at_risk},
                "after": {"tier": new_tier, "lifecycle_stage": new_stage, "at_risk": new_risk},
                "reasons": reasons,
                "cause": cause,
            });
            crate::webhooks::store::emit(
                conn,
                shop_id,
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
    shop_id: i64,
    customer_id: i64,
    settings: &TierSettings,
    cause: &str,
) -> Result<(), ApiError> {
    let now = Utc::now().naive_utc();
    let thresholds = thresholds(conn, shop_id, settings, now)?;
    apply(
        conn,
        shop_id,
        &[customer_id],
        thresholds,
        settings,
        cause,
        now,
    )?;
    Ok(())
}

/// Whether a customer's tickets go first: key customers and those at risk.
pub fn is_priority_customer(conn: &mut DbConnection, customer_id: i64) -> Result<bool, ApiError> {
    let (tier, at_risk): (String, bool) = customers::table
        .find(customer_id)
        .select((customers::tier, customers::at_risk))
        .first(conn)?;
    Ok(tier == Tier::Key.as_str() || at_risk)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecomputeReport {
    pub customers: usize,
    /// Customers whose tier, stage or at-risk flag changed.
    pub changed: usize,
    /// 12-month spend (cents) that makes the key tier.
    pub key_spend_cents: i64,
    /// 12-month order count that makes the key tier.
    pub key_order_count: i64,
    pub elapsed_ms: u128,
}

/// Batch size of a full recomputation: each batch is its own short transaction, so
/// writers are never held up for long.
pub const RECOMPUTE_BATCH: i64 = 1000;

/// Recomputes the shop's thresholds and every customer's tier (blocking; run it off the
/// async workers).
pub fn recompute_all(
    db: &Db,
    shop_id: i64,
    settings: &TierSettings,
) -> Result<RecomputeReport, ApiError> {
    let started = Instant::now();
    let now = Utc::now().naive_utc();
    let thresholds = db.write_blocking(|conn| {
        let t = compute_thresholds(conn, shop_id, settings, now)?;
        store_thresholds(conn, shop_id, t, now)?;
        Ok(t)
    })?;
    let mut after = 0i64;
    let (mut customers_seen, mut changed) = (0usize, 0usize);
    loop {
        let ids: Vec<i64> = {
            let mut conn = db.conn()?;
            customers::table
                .filter(customers::shop_id.eq(shop_id))
                .filter(customers::id.gt(after))
                .order(customers::id.asc())
                .limit(RECOMPUTE_BATCH)
                .select(customers::id)
                .load(&mut conn)?
        };
        let Some(&last) = ids.last() else { break };
        changed += db.write_blocking(|conn| {
            apply(conn, shop_id, &ids, thresholds, settings, "recompute", now)
        })?;
        customers_seen += ids.len();
        after = last;
    }
    Ok(RecomputeReport {
        customers: customers_seen,
        changed,
        key_spend_cents: thresholds.spend_cents,
        key_order_count: thresholds.order_count,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// A customer's standing as the customer file shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Standing {
    pub tier: Tier,
    pub stage: Stage,
    pub at_risk: bool,
    pub reasons: Vec<Reason>,
    pub computed_at: Option<DateTime<Utc>>,
}

pub fn standing(
    tier: &str,
    stage: &str,
    at_risk: bool,
    reasons: &str,
    computed_at: Option<NaiveDateTime>,
) -> Standing {
    Standing {
        tier: Tier::parse(tier).unwrap_or(Tier::Small),
        stage: Stage::parse(stage).unwrap_or(Stage::Potential),
        at_risk,
        reasons: serde_json::from_str(reasons).unwrap_or_default(),
        computed_at: computed_at.map(|t| t.and_utc()),
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tier_changes)]
pub struct TierChange {
    pub id: i64,
    pub shop_id: i64,
    pub customer_id: i64,
    pub from_tier: String,
    pub to_tier: String,
    pub from_stage: String,
    pub to_stage: String,
    pub from_at_risk: bool,
    pub to_at_risk: bool,
    pub reasons: String,
    pub cause: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TierChangeView {
    pub id: i64,
    pub customer_id: i64,
    pub from: Standing,
    pub to: Standing,
    /// `order`, `ticket`, `satisfaction` or `recompute`.
    pub cause: String,
    pub at: DateTime<Utc>,
}

impl TierChange {
    pub fn view(&self) -> TierChangeView {
        TierChangeView {
            id: self.id,
            customer_id: self.customer_id,
            from: standing(
                &self.from_tier,
                &self.from_stage,
                self.from_at_risk,
                "[]",
                None,
            ),
            to: standing(
                &self.to_tier,
                &self.to_stage,
                self.to_at_risk,
                &self.reasons,
                Some(self.created_at),
            ),
            cause: self.cause.clone(),
            at: self.created_at.and_utc(),
        }
    }
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
