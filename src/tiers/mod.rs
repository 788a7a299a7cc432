//! Value tiers: kept current on every order and ticket change (in the same transaction),
//! recomputed in full on demand, and every change recorded with its reasons.
//!
//! This file is the vocabulary: tiers, stages, reasons, settings, the rows the engine
//! reads, and which orders and ticket endings count, named from the enums that own them.
//! [`engine`] holds the rules (plain functions), [`store`] every query, [`operations`] the
//! refresh and full recomputation built from both, [`routes`] the HTTP side.

pub mod engine;
pub mod operations;
pub mod rfm;
pub mod routes;
pub mod store;

use chrono::{DateTime, NaiveDateTime, Utc};
use clap::Args;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::text_enum;
use crate::ids::ShopId;
use crate::orders::OrderStatus;
use crate::schema::tier_changes;
use crate::tickets::{CloseReason, Outcome};
use crate::tickets::{State, TicketKind};

/// Order statuses that count as purchases: exactly those `OrderStatus` itself says count.
pub fn purchase_statuses() -> Vec<OrderStatus> {
    OrderStatus::ALL
        .into_iter()
        .filter(|status| status.counts_as_purchase())
        .collect()
}

/// Ways of closing a ticket that leave the buyer unhappy. Duplicates and invalid tickets
/// say nothing about the buyer's experience.
pub const UNHAPPY_CLOSE_REASONS: [CloseReason; 2] =
    [CloseReason::Unreachable, CloseReason::Refused];

/// Resolutions that leave the buyer unhappy: the review stays, the return or the repair
/// was refused.
pub const UNHAPPY_OUTCOMES: [Outcome; 3] = [
    Outcome::ReviewKeptUnresolved,
    Outcome::ReturnRejected,
    Outcome::NotRepairable,
];

text_enum! {
    pub enum Tier {
        /// Top contributors (VIP).
        Key = "key",
        Regular = "regular",
        Small = "small",
    }
}

text_enum! {
    pub enum Stage {
        /// Contact known, never bought.
        Potential = "potential",
        /// One purchase.
        New = "new",
        /// Several purchases.
        Returning = "returning",
        /// Many purchases and recent activity.
        Loyal = "loyal",
        /// No purchase for a long time.
        Dormant = "dormant",
    }
}

text_enum! {
    /// A buyer's RFM segment, from the recency score and the mean of the frequency and
    /// monetary scores (`rfm::segment`, a table after Putler's R × FM grid).
    pub enum Segment {
        /// Bought recently, often and much.
        Champions = "champions",
        /// Buy regularly and spend well; fairly recent.
        Loyal = "loyal",
        /// Recent buyers with average frequency and spend.
        PotentialLoyalist = "potential_loyalist",
        /// Bought very recently, once or for little.
        New = "new",
        /// Recent, with little frequency and spend yet.
        Promising = "promising",
        /// Middling on every score.
        NeedsAttention = "needs_attention",
        /// Below average recency, frequency and spend.
        AboutToSleep = "about_to_sleep",
        /// Used to buy often or much, not recently.
        AtRisk = "at_risk",
        /// Big spenders and frequent buyers gone quiet for long.
        CannotLose = "cannot_lose",
        /// Long gone, little frequency and spend.
        Hibernating = "hibernating",
        /// The least recent, least frequent and smallest.
        Lost = "lost",
    }
}

/// The shop's quintile cut-offs, taken at a full recomputation among its live buyers
/// (`rfm::cutoffs`). A score is 1 plus the number of cut-offs the customer beats: score
/// `s + 1` means at least `s` fifths of the buyers are strictly worse on that measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct RfmCutoffs {
    /// Buyers the cut-offs were taken among.
    pub buyers: i64,
    /// Days since the last purchase: fewer than `recency_days[k]` beats cut-off `k`.
    pub recency_days: [i64; 4],
    /// Counted orders: more than `order_count[k]` beats cut-off `k`.
    pub order_count: [i64; 4],
    /// Net spend in cents: more than `net_spent_cents[k]` beats cut-off `k`.
    pub net_spent_cents: [i64; 4],
}

/// What RFM reads of one buyer: the last counted purchase, how many, and what they
/// brought net of refunds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfmFacts {
    pub last_order_at: NaiveDateTime,
    pub order_count: i64,
    pub net_spent_cents: i64,
}

/// A buyer's scores (1-5), segment and reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfmAssessment {
    pub recency: i32,
    pub frequency: i32,
    pub monetary: i32,
    pub segment: Segment,
    pub reasons: Vec<Reason>,
}

/// A row of `customer_rfm`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = crate::schema::customer_rfm)]
pub struct RfmRow {
    pub customer_id: i64,
    pub shop_id: ShopId,
    pub recency_score: i32,
    pub frequency_score: i32,
    pub monetary_score: i32,
    pub segment: Segment,
    pub last_order_at: NaiveDateTime,
    pub order_count: i64,
    pub net_spent_cents: i64,
    pub reasons: String,
    pub computed_at: NaiveDateTime,
}

/// A buyer's RFM standing as the customer file shows it; `null` for customers who never
/// bought (or whose purchases were all refunded or cancelled) and until the first
/// recomputation scores them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RfmView {
    /// 1-5: 5 is the shop's most recent fifth of buyers.
    #[schema(minimum = 1, maximum = 5)]
    pub recency_score: i32,
    /// 1-5: 5 is the fifth with the most counted orders.
    #[schema(minimum = 1, maximum = 5)]
    pub frequency_score: i32,
    /// 1-5: 5 is the fifth with the highest spend net of refunds.
    #[schema(minimum = 1, maximum = 5)]
    pub monetary_score: i32,
    pub segment: Segment,
    pub last_order_at: DateTime<Utc>,
    /// Counted (paid or partially refunded) orders.
    pub order_count: i64,
    /// Counted orders' totals less the refunds of resolved tickets on them, in cents.
    pub net_spent_cents: i64,
    /// Why: one reason per score (`rfm_recency`, `rfm_frequency`, `rfm_monetary`) and the
    /// segment (`rfm_segment`).
    pub reasons: Vec<Reason>,
    pub computed_at: DateTime<Utc>,
}

impl RfmRow {
    pub fn view(&self) -> RfmView {
        RfmView {
            recency_score: self.recency_score,
            frequency_score: self.frequency_score,
            monetary_score: self.monetary_score,
            segment: self.segment,
            last_order_at: self.last_order_at.and_utc(),
            order_count: self.order_count,
            net_spent_cents: self.net_spent_cents,
            reasons: serde_json::from_str(&self.reasons).unwrap_or_default(),
            computed_at: self.computed_at.and_utc(),
        }
    }
}

/// One segment's count now and at `since`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentCount {
    pub segment: Segment,
    /// Scored buyers in the segment now.
    pub customers: i64,
    /// Scored buyers in the segment at `since` (now, less those who came in since, plus
    /// those who left since).
    pub customers_at_since: i64,
    /// `customers - customers_at_since`.
    pub change: i64,
}

/// Customers who were in `from` at `since` and are in `to` now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentFlow {
    /// `null`: not a scored buyer then (never bought, or not scored yet).
    pub from: Option<Segment>,
    /// `null`: no longer a scored buyer (purchases refunded or cancelled, archived).
    pub to: Option<Segment>,
    pub customers: i64,
}

/// The RFM segments now, at `since`, and the moves between them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentReport {
    /// The latest full recomputation; `null` before the first.
    pub computed_at: Option<DateTime<Utc>>,
    /// What the counts are compared with: the `since` asked for, else the full
    /// recomputation before the latest; `null` (the beginning) when there was none.
    pub since: Option<DateTime<Utc>>,
    /// Scored buyers now.
    pub buyers: i64,
    /// Every segment, in the order of the segment list, with its count now and at `since`.
    pub segments: Vec<SegmentCount>,
    /// Where the customers whose segment differs from the one they had at `since` went,
    /// largest flows first; a customer who moved and came back is in none.
    pub flows: Vec<SegmentFlow>,
}

/// Why a customer has their tier, stage or flag: a stable `code` and a readable `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    #[schema(example = "top_spend")]
    pub code: String,
    #[schema(example = "top 20% by 12-month spend")]
    pub detail: String,
}

/// Thresholds, all settings with defaults written once here (README).
#[derive(Debug, Clone, Copy, PartialEq, Args)]
pub struct TierSettings {
    /// Share of buying customers in the key tier, by 12-month spend and (separately) by
    /// 12-month order count; 0 to 1.
    #[arg(long = "tier-key-share", env = "TIER_KEY_SHARE", default_value_t = 0.2, value_parser = share)]
    pub key_share: f64,

    /// Purchases that make a customer loyal (with one within TIER_LOYAL_RECENT_DAYS).
    #[arg(
        long = "tier-loyal-min-orders",
        env = "TIER_LOYAL_MIN_ORDERS",
        default_value_t = 10
    )]
    pub loyal_min_orders: i64,

    /// Days since the last purchase within which a many-time buyer counts as loyal.
    #[arg(
        long = "tier-loyal-recent-days",
        env = "TIER_LOYAL_RECENT_DAYS",
        default_value_t = 180
    )]
    pub loyal_recent_days: i64,

    /// Days without a purchase after which a customer is dormant.
    #[arg(
        long = "tier-dormant-days",
        env = "TIER_DORMANT_DAYS",
        default_value_t = 365
    )]
    pub dormant_days: i64,

    /// Satisfaction at or below this puts a valuable customer at risk.
    #[arg(
        long = "tier-at-risk-max-score",
        env = "TIER_AT_RISK_MAX_SCORE",
        default_value_t = 2
    )]
    pub at_risk_max_score: i32,

    /// Days a low score or an unresolved ending keeps a customer at risk.
    #[arg(
        long = "tier-at-risk-days",
        env = "TIER_AT_RISK_DAYS",
        default_value_t = 90
    )]
    pub at_risk_days: i64,
}

impl Default for TierSettings {
    fn default() -> Self {
        crate::defaults::defaults()
    }
}

/// A share between 0 and 1 (a value outside used to be clamped silently; a typo such as
/// `20` for 20% now stops start-up instead).
fn share(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("{raw:?} is not a share between 0 and 1 (e.g. 0.2)")),
    }
}

/// Shop-wide cut-offs for the key tier: the smallest 12-month spend and order count that
/// are within the top `key_share` of buying customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyThresholds {
    pub spend_cents: i64,
    pub order_count: i64,
}

/// One purchase that counts (paid or partially refunded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purchase {
    pub total_cents: i64,
    pub at: NaiveDateTime,
}

/// What happened on one of the customer's tickets, as far as value is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareEvent {
    pub ticket_id: i64,
    pub kind: CareKind,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CareKind {
    Satisfaction(i32),
    /// A negative-review ticket still open.
    OpenNegativeReview,
    /// Closed without resolution, or resolved with the review kept and the buyer unhappy.
    EndedUnresolved(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub tier: Tier,
    pub stage: Stage,
    pub at_risk: bool,
    pub reasons: Vec<Reason>,
}

/// The facts of one ticket that bear on value, as [`store::ticket_facts`] reads them.
#[derive(Debug, Clone, Queryable)]
pub struct TicketFacts {
    pub ticket_id: i64,
    pub customer_id: i64,
    pub kind: TicketKind,
    pub state: State,
    pub outcome: Option<Outcome>,
    pub close_reason: Option<CloseReason>,
    pub satisfaction_score: Option<i32>,
    pub satisfaction_at: Option<NaiveDateTime>,
    pub resolved_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// The ticket's order: always one of its own customer's (a ticket cannot name another
    /// customer's order, and a merge moves both).
    pub order_id: Option<i64>,
    pub refund_cents: Option<i64>,
}

/// A customer's stored tier, stage, flag and reasons, before a recomputation.
#[derive(Debug, Clone, Queryable)]
pub struct CurrentStanding {
    pub id: i64,
    pub shop_id: ShopId,
    pub tier: Tier,
    pub lifecycle_stage: Stage,
    pub at_risk: bool,
    pub tier_reasons: String,
    pub tier_computed_at: Option<NaiveDateTime>,
    /// Archived customers keep a tier but get no RFM scores.
    pub archived_at: Option<NaiveDateTime>,
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
    /// Buyers given RFM scores (live customers with a counted order).
    pub rfm_buyers: i64,
    /// Customers whose RFM segment changed (including first scored and no longer scored).
    pub segment_changes: usize,
    pub elapsed_ms: u128,
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
    tier: Tier,
    stage: Stage,
    at_risk: bool,
    reasons: &str,
    computed_at: Option<NaiveDateTime>,
) -> Standing {
    Standing {
        tier,
        stage,
        at_risk,
        reasons: serde_json::from_str(reasons).unwrap_or_default(),
        computed_at: computed_at.map(|t| t.and_utc()),
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tier_changes)]
pub struct TierChange {
    pub id: i64,
    pub shop_id: ShopId,
    pub customer_id: i64,
    pub from_tier: Tier,
    pub to_tier: Tier,
    pub from_stage: Stage,
    pub to_stage: Stage,
    pub from_at_risk: bool,
    pub to_at_risk: bool,
    pub reasons: String,
    pub cause: String,
    pub created_at: NaiveDateTime,
    pub from_reasons: String,
    pub from_computed_at: Option<NaiveDateTime>,
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

crate::pagination::named_page!(TierChangePage, TierChangeView);

impl TierChange {
    pub fn view(&self) -> TierChangeView {
        TierChangeView {
            id: self.id,
            customer_id: self.customer_id,
            from: standing(
                self.from_tier,
                self.from_stage,
                self.from_at_risk,
                &self.from_reasons,
                self.from_computed_at,
            ),
            to: standing(
                self.to_tier,
                self.to_stage,
                self.to_at_risk,
                &self.reasons,
                Some(self.created_at),
            ),
            cause: self.cause.clone(),
            at: self.created_at.and_utc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchases_are_paid_and_partially_refunded_orders() {
        let names: Vec<&str> = purchase_statuses()
            .into_iter()
            .map(OrderStatus::as_str)
            .collect();
        assert_eq!(names, ["paid", "partially_refunded"]);
    }

    #[test]
    fn unhappy_endings_are_named_by_their_enums() {
        let reasons: Vec<&str> = UNHAPPY_CLOSE_REASONS
            .into_iter()
            .map(CloseReason::as_str)
            .collect();
        assert_eq!(reasons, ["unreachable", "refused"]);
        let outcomes: Vec<&str> = UNHAPPY_OUTCOMES.into_iter().map(Outcome::as_str).collect();
        assert_eq!(
            outcomes,
            [
                "review_kept_unresolved",
                "return_rejected",
                "not_repairable"
            ]
        );
    }
}
