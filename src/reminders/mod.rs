//! `/api/v1/reminders`: who needs a call. Agents see their own tickets and the customers of
//! those tickets; leads and admins see the whole team's.
//!
//! Reminders have no table of their own: [`operations`] reads them through the ticket and
//! customer queries; this file holds the request and response types.

pub mod operations;
pub mod routes;

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::customers::Customer;
use crate::tickets::TicketView;
use crate::tiers::{Segment, Stage, Tier};

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemindersQuery {
    /// Open tickets with no contact attempt for this many days (default 3).
    #[validate(range(min = 1, max = 365))]
    #[param(minimum = 1, maximum = 365)]
    pub no_contact_days: Option<u32>,
    /// Customers contacted before, but not for this many days (default 30).
    #[validate(range(min = 1, max = 3650))]
    #[param(minimum = 1, maximum = 3650)]
    pub not_contacted_days: Option<u32>,
    /// Customers who bought before, but not for this many days (default 90).
    #[validate(range(min = 1, max = 3650))]
    #[param(minimum = 1, maximum = 3650)]
    pub no_purchase_days: Option<u32>,
    /// Birthdays today or in the next N days (default 7).
    #[validate(range(min = 0, max = 366))]
    #[param(minimum = 0, maximum = 366)]
    pub birthday_days: Option<u32>,
    /// Products probably used up today or in the next N days (default 7).
    #[validate(range(min = 0, max = 366))]
    #[param(minimum = 0, maximum = 366)]
    pub used_up_days: Option<u32>,
    /// Greetings: birthdays and occasions today or in the next N days (default 7).
    #[validate(range(min = 0, max = 366))]
    #[param(minimum = 0, maximum = 366)]
    pub greeting_days: Option<u32>,
    /// Greetings: only buyers of this tier (default: every tier).
    pub greeting_tier: Option<Tier>,
    /// Greetings: only buyers in this RFM segment (default: every buyer, scored or not).
    pub greeting_segment: Option<Segment>,
    /// Items listed per section, 1 to 100 (default 20); `count` always gives the full number.
    #[validate(range(min = 1, max = 100))]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The caller's UTC offset, which decides where "today" ends (default `+08:00`).
    #[param(pattern = r"^[+ -](0[0-9]|1[0-4]):[0-5][0-9]$", example = "+08:00")]
    pub utc_offset: Option<String>,
}

/// A customer in a reminder list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerBrief {
    pub id: i64,
    pub name: String,
    pub tier: Tier,
    pub stage: Stage,
    pub at_risk: bool,
    pub birthday: Option<NaiveDate>,
    pub last_contacted_at: Option<chrono::DateTime<Utc>>,
    pub last_order_at: Option<chrono::DateTime<Utc>>,
}

impl CustomerBrief {
    pub fn of(c: &Customer) -> CustomerBrief {
        CustomerBrief {
            id: c.id,
            name: c.name.clone(),
            tier: c.tier,
            stage: c.lifecycle_stage,
            at_risk: c.at_risk,
            birthday: c.birthday,
            last_contacted_at: c.last_contacted_at.map(|t| t.and_utc()),
            last_order_at: c.last_order_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketReminders {
    /// All that match; `items` lists the first `limit`, most pressing first.
    pub count: i64,
    pub items: Vec<TicketView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerReminders {
    pub count: i64,
    pub items: Vec<CustomerBrief>,
}

/// A buyer whose purchase of a product is probably used up.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsedUpItem {
    pub customer: CustomerBrief,
    pub sku: String,
    /// The product's name in the catalogue.
    pub product_name: String,
    /// The product's usage days.
    pub usage_days: i32,
    /// The buyer's last purchase of it (a `paid` or `partially_refunded` order).
    pub last_purchased_at: chrono::DateTime<Utc>,
    /// The local day it is probably used up: the last purchase plus the usage days.
    pub used_up_on: NaiveDate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsedUpReminders {
    /// All that match; `items` lists the first `limit`, soonest first.
    pub count: i64,
    pub items: Vec<UsedUpItem>,
}

/// Whom to greet in the coming days.
#[derive(Debug, Serialize, ToSchema)]
pub struct Greetings {
    /// `greeting_days`: today and the next N days.
    pub days: u32,
    /// The tier asked for (`greeting_tier`), or `null` for every tier.
    pub tier: Option<Tier>,
    /// The RFM segment asked for (`greeting_segment`), or `null` for every buyer.
    pub segment: Option<Segment>,
    /// The shop's occasions (`/api/v1/occasions`) on those days, by day.
    pub occasions: Vec<crate::occasions::OccasionView>,
    /// Buyers (at least one purchase) of the tier and segment whose birthday falls on
    /// those days.
    pub birthdays: CustomerReminders,
    /// Buyers of the tier and segment to greet for the occasions: every one of them when an
    /// occasion
    /// falls on those days, none otherwise.
    pub occasion_buyers: CustomerReminders,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Reminders {
    /// `own` (an agent's tickets and their customers) or `team`.
    pub scope: String,
    /// New tickets past their first-call deadline.
    pub overdue_first_calls: TicketReminders,
    /// Tickets in progress whose next follow-up falls before the end of today.
    pub follow_ups_due: TicketReminders,
    /// Open tickets with no contact attempt for `no_contact_days`.
    pub no_contact_tickets: TicketReminders,
    /// Open tickets with a service-level target due within the policies'
    /// `about_to_breach_minutes` (or already past it, not yet recorded as breached).
    pub about_to_breach: TicketReminders,
    /// Open tickets a breach escalated (an agent's own; the team's for leads).
    pub escalated: TicketReminders,
    /// Resolved tickets whose buyer survey is unanswered `SURVEY_NUDGE_AFTER_HOURS` after
    /// it was made (and not expired): nudge the buyer once, then say so
    /// (`POST /tickets/{id}/survey/nudge`) and the ticket leaves this list.
    pub unanswered_surveys: TicketReminders,
    pub never_contacted_customers: CustomerReminders,
    pub not_contacted_customers: CustomerReminders,
    pub no_purchase_customers: CustomerReminders,
    /// Customers who never bought (no `paid` or `partially_refunded` order).
    pub never_purchased_customers: CustomerReminders,
    pub upcoming_birthdays: CustomerReminders,
    /// Buyers whose last purchase of a product with usage days (`/api/v1/products`), plus
    /// those days, falls today or in the next `used_up_days` days, and who have not bought
    /// it again since: the moment for a friendly follow-up.
    pub probably_used_up: UsedUpReminders,
    /// Birthdays and occasions of the next `greeting_days` days, for `greeting_tier`.
    pub greetings: Greetings,
}
