//! Team statistics for leads. Every figure is an aggregate computed by the database
//! (window functions give the percentiles on both backends); only the per-group result
//! rows reach the service.
//!
//! This file holds the queries' parameters and the reports' types; [`rules`] the period
//! and unit arithmetic, [`store`] the SQL, [`routes`] the handlers.

pub mod routes;
pub mod rules;
pub mod store;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

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
    #[param(pattern = r"^[+ -](0[0-9]|1[0-4]):[0-5][0-9]$", example = "+08:00")]
    pub utc_offset: Option<String>,
    pub group_by: Option<GroupBy>,
}

/// The period as UTC instants [start, end) and the offset in minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub offset_minutes: i32,
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
    /// The same figures by who gave the score: the buyer through the survey, or staff.
    pub by_source: SatisfactionBySource,
    /// How often each reason was given with these scores.
    pub reasons: ReasonCounts,
    /// The buyer surveys of these tickets (one per resolution).
    pub surveys: SurveyStats,
}

/// Scores of one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ScoreStats {
    pub responses: i64,
    /// Mean score, 1 to 5.
    pub mean: Option<f64>,
    /// Share of scores of 4 or 5.
    pub csat: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct SatisfactionBySource {
    /// Answered by the buyer on the survey page.
    pub buyer: ScoreStats,
    /// Typed in by staff.
    pub staff: ScoreStats,
}

/// Each reason, counted once per score it came with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ReasonCounts {
    pub speed: i64,
    pub attitude: i64,
    pub solution: i64,
    pub product_quality: i64,
    pub other: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct SurveyStats {
    /// Surveys made (one per resolution).
    pub sent: i64,
    pub answered: i64,
    /// Not answered in time.
    pub expired: i64,
    /// Withdrawn unanswered when their ticket was reopened.
    pub withdrawn: i64,
    /// answered / (sent - withdrawn).
    pub response_rate: Option<f64>,
}

/// The figures for one group of tickets opened in the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TicketStats {
    /// The group: `all`, a staff id or `unassigned`, a kind, a channel, or a local date.
    pub group: String,
    /// Grouped by agent: the staff member's display name (deactivated staff keep theirs);
    /// `null` for `unassigned` and for the other groupings.
    #[schema(example = "王静")]
    pub agent_name: Option<String>,
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
    /// The service-level targets of these tickets, as recorded when each was met or
    /// breached (`GET /tickets/{id}/service-levels`, which also says who held the ticket
    /// then). Grouped like the other figures.
    pub service_levels: ServiceLevelStats,
}

/// How one kind of target fared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct TargetStats {
    /// Targets met or breached (pending and dropped ones are not counted).
    pub finished: i64,
    /// Met by their due time.
    pub within_target: i64,
    /// within_target / finished.
    pub within_target_share: Option<f64>,
    pub breaches: i64,
    pub escalations: i64,
    /// Median hours the clock counted from start to met: business hours on a business
    /// clock, waits left out of resolutions.
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ServiceLevelStats {
    pub first_call: TargetStats,
    /// Every follow-up after a contact attempt.
    pub follow_up: TargetStats,
    pub resolution: TargetStats,
    /// Hours these tickets spent waiting on the buyer or the platform (a wait still open
    /// counts until now).
    pub waited_hours: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketStatsReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub utc_offset: String,
    pub group_by: GroupBy,
    pub groups: Vec<TicketStats>,
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BacklogQuery {
    /// Open tickets without a contact attempt for this many days count as stale (default 3).
    #[validate(range(min = 1, max = 365))]
    #[param(minimum = 1, maximum = 365)]
    pub no_contact_days: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Backlog {
    /// The group: `all`, or a staff id or `unassigned`.
    pub group: String,
    /// Per assignee: the staff member's display name; `null` for `all` and `unassigned`.
    #[schema(example = "王静")]
    pub agent_name: Option<String>,
    pub new: i64,
    pub first_call: i64,
    pub follow_up: i64,
    /// New tickets past their first-call deadline.
    pub overdue_first_calls: i64,
    /// Tickets in progress past their next follow-up time.
    pub overdue_follow_ups: i64,
    /// Open tickets with no contact attempt (or, never contacted, opened) `no_contact_days` ago or earlier.
    pub no_contact: i64,
    /// Open tickets with a service-level target due within the policies'
    /// `about_to_breach_minutes`, or past due and not yet recorded as breached.
    pub about_to_breach: i64,
    /// Open tickets past the platform's own deadline.
    pub past_platform_deadline: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BacklogReport {
    pub no_contact_days: u32,
    pub total: Backlog,
    /// The same per assignee.
    pub by_agent: Vec<Backlog>,
}

/// How the sales report groups orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SalesGroupBy {
    /// One row for the whole period (`all`).
    #[default]
    None,
    /// By the local day of `ordered_at` (`2026-11-23`).
    Day,
    /// By the local ISO week of `ordered_at`, named by its Monday.
    Week,
    /// By the local month of `ordered_at` (`2026-11`).
    Month,
    /// By the local year of `ordered_at` (`2026`).
    Year,
    /// By the order's sales channel.
    Channel,
    /// By the order's outlet (`""` for orders without one).
    Outlet,
    /// By the order's salesperson: a staff id (`""` for orders without one).
    Salesperson,
    /// By the items' product: the SKU, or the product name for items without a SKU.
    Product,
    /// By the buyer's tier now (`key`, `regular`, `small`).
    Tier,
}

/// What the sales report is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SalesFormat {
    Json,
    Csv,
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesQuery {
    /// First local day of the period (default: 29 days before `to`).
    pub from: Option<NaiveDate>,
    /// Last local day of the period, included (default: today).
    pub to: Option<NaiveDate>,
    /// The time zone's UTC offset, which decides where days begin (default `+08:00`).
    #[param(pattern = r"^[+ -](0[0-9]|1[0-4]):[0-5][0-9]$", example = "+08:00")]
    pub utc_offset: Option<String>,
    pub group_by: Option<SalesGroupBy>,
    /// `csv`: the same table as a CSV file (as `Accept: text/csv` does); default `json`.
    pub format: Option<SalesFormat>,
}

/// The sales figures of one group of orders placed in the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SalesRow {
    /// The group: `all`, a local date, week (its Monday), month or year, a channel, an
    /// outlet, a staff id, a SKU or product name, or a tier; `""` for orders without an
    /// outlet or a salesperson.
    pub group: String,
    /// Grouped by salesperson: the staff member's display name; `null` otherwise.
    #[schema(example = "王静")]
    pub salesperson_name: Option<String>,
    /// Grouped by product: the SKU (`null` for a group of items without one).
    pub sku: Option<String>,
    /// Grouped by product: the catalogue's name for the SKU (else the items' name).
    pub product_name: Option<String>,
    /// Orders counted: `paid` and `partially_refunded` (refunded and cancelled orders are
    /// not purchases). By product: the counted orders holding the product.
    pub orders: i64,
    /// Distinct customers with at least one counted order in the group.
    pub buyers: i64,
    /// Buyers whose first purchase ever (their earliest counted order) falls in the
    /// group's time span: the group's day, week, month or year when grouped by time, the
    /// whole period otherwise.
    pub new_buyers: i64,
    /// Buyers with two or more counted orders in the group.
    pub repeat_buyers: i64,
    /// repeat_buyers / buyers; `null` without buyers.
    pub repeat_buyer_share: Option<f64>,
    /// Amount paid on the group's paid, partially refunded and refunded orders, in cents.
    pub gross_cents: i64,
    /// What went back: a refunded order's whole amount, a partially refunded order's
    /// refunds by resolved tickets linked to it (at most its amount), in cents.
    pub refunded_cents: i64,
    /// Revenue net of refunds: gross_cents - refunded_cents. By product, each order's
    /// figures are shared among its items in proportion to quantity × unit price (equally
    /// when these are all 0), then rounded to the cent.
    pub revenue_cents: i64,
    /// revenue_cents / orders, rounded to the cent; `null` without orders.
    pub average_order_value_cents: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub utc_offset: String,
    pub group_by: SalesGroupBy,
    /// One row per group with orders in the period, sorted by group.
    pub groups: Vec<SalesRow>,
}
