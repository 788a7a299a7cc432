//! Reading the reminder lists: each is a count and the first `limit` items of a ticket or
//! customer filter, through those features' queries. No SQL of its own.

use chrono::{Duration, FixedOffset, NaiveDate, NaiveDateTime};

use super::{
    CustomerBrief, CustomerReminders, Greetings, Reminders, TicketReminders, UsedUpItem,
    UsedUpReminders,
};
use crate::customers::CustomerSort;
use crate::customers::store::{self as customer_store, CustomerFilter, RfmFilter};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::tickets::store::{self as ticket_store, TicketFilter, TicketSort};

/// What to remind of, worked out from the request: whose tickets and customers, and the
/// cut-off instants of each list.
pub struct ReminderPlan {
    pub team: bool,
    pub tickets: TicketFilter,
    pub customers: CustomerFilter,
    pub limit: i64,
    pub now: NaiveDateTime,
    pub end_of_today: NaiveDateTime,
    pub no_contact_since: NaiveDateTime,
    pub contacted_before: NaiveDateTime,
    pub bought_before: NaiveDateTime,
    pub birthdays: Vec<(i32, i32)>,
    /// The end of the "about to breach" window: now plus the policies' warning.
    pub breach_warning_until: NaiveDateTime,
    /// Surveys made before this and still unanswered are due a nudge.
    pub surveys_made_before: NaiveDateTime,
    /// The caller's offset, which names the local day a purchase is used up on.
    pub offset: FixedOffset,
    /// Purchases probably used up from this instant (the start of today)...
    pub used_up_from: NaiveDateTime,
    /// ...to this one (the end of the last day of the window), excluded.
    pub used_up_until: NaiveDateTime,
    /// The greetings' window: local days, both included.
    pub greeting_days: (NaiveDate, NaiveDate),
    pub greeting_tier: Option<crate::tiers::Tier>,
    pub greeting_segment: Option<crate::tiers::Segment>,
    /// `birthday_mmdd` ranges of the greetings' window.
    pub greeting_birthdays: Vec<(i32, i32)>,
}

/// The buyers whose purchases are probably used up in the plan's window.
fn used_up_section(
    conn: &mut DbConnection,
    customers: &CustomerFilter,
    plan: (NaiveDateTime, NaiveDateTime, FixedOffset),
    limit: i64,
) -> Result<UsedUpReminders, ApiError> {
    let (from, until, offset) = plan;
    let (count, due) = crate::products::store::probably_used_up(
        conn,
        customers.shop_id,
        from,
        until,
        customers.ticket_assignee,
        limit,
    )?;
    let ids: Vec<i64> = due.iter().map(|d| d.customer_id).collect();
    let briefs: std::collections::BTreeMap<i64, CustomerBrief> =
        customer_store::by_ids(conn, customers.shop_id, &ids)?
            .iter()
            .map(|c| (c.id, CustomerBrief::of(c)))
            .collect();
    let items = due
        .into_iter()
        .filter_map(|d| {
            let customer = briefs.get(&d.customer_id)?.clone();
            let used_up_at = d.last_purchased_at + Duration::days(i64::from(d.usage_days));
            Some(UsedUpItem {
                customer,
                used_up_on: used_up_at.and_utc().with_timezone(&offset).date_naive(),
                last_purchased_at: d.last_purchased_at.and_utc(),
                sku: d.sku,
                product_name: d.name,
                usage_days: d.usage_days,
            })
        })
        .collect();
    Ok(UsedUpReminders { count, items })
}

/// Birthdays and occasions of the greetings' window, for the buyers of the tier and RFM
/// segment asked.
fn greetings_section(
    conn: &mut DbConnection,
    customers: &CustomerFilter,
    days: (NaiveDate, NaiveDate),
    (tier, segment): (Option<crate::tiers::Tier>, Option<crate::tiers::Segment>),
    birthdays: Vec<(i32, i32)>,
    limit: i64,
) -> Result<Greetings, ApiError> {
    let buyers = CustomerFilter {
        never_purchased: Some(false),
        tier,
        rfm: segment.map(|segment| RfmFilter {
            segment: Some(segment),
            ..RfmFilter::ANY
        }),
        ..customers.clone()
    };
    let occasions = crate::occasions::store::between(conn, customers.shop_id, days.0, days.1)?;
    let occasion_buyers = if occasions.is_empty() {
        CustomerReminders {
            count: 0,
            items: Vec::new(),
        }
    } else {
        customer_section(conn, buyers.clone(), limit)?
    };
    Ok(Greetings {
        days: u32::try_from((days.1 - days.0).num_days()).unwrap_or_default(),
        tier,
        segment,
        occasions: occasions.iter().map(|o| o.view()).collect(),
        birthdays: customer_section(
            conn,
            CustomerFilter {
                birthday_ranges: birthdays,
                ..buyers
            },
            limit,
        )?,
        occasion_buyers,
    })
}

pub fn ticket_section(
    conn: &mut DbConnection,
    filter: TicketFilter,
    limit: i64,
    now: NaiveDateTime,
) -> Result<TicketReminders, ApiError> {
    let count = ticket_store::count(conn, &filter)?;
    let due = ticket_store::list(conn, &filter, TicketSort::Due, None, limit)?;
    let items = ticket_store::views(conn, &due, now)?;
    Ok(TicketReminders { count, items })
}

pub fn customer_section(
    conn: &mut DbConnection,
    filter: CustomerFilter,
    limit: i64,
) -> Result<CustomerReminders, ApiError> {
    let count = customer_store::count(conn, &filter)?;
    let items = customer_store::list(conn, &filter, CustomerSort::Oldest, None, limit)?
        .iter()
        .map(CustomerBrief::of)
        .collect();
    Ok(CustomerReminders { count, items })
}

/// Every reminder list of the plan.
pub fn reminders(conn: &mut DbConnection, plan: ReminderPlan) -> Result<Reminders, ApiError> {
    let ReminderPlan {
        team,
        tickets,
        customers,
        limit,
        now,
        end_of_today,
        no_contact_since,
        contacted_before,
        bought_before,
        birthdays,
        breach_warning_until,
        surveys_made_before,
        offset,
        used_up_from,
        used_up_until,
        greeting_days,
        greeting_tier,
        greeting_segment,
        greeting_birthdays,
    } = plan;
    Ok(Reminders {
        scope: if team { "team" } else { "own" }.into(),
        overdue_first_calls: ticket_section(
            conn,
            TicketFilter {
                first_call_overdue_at: Some(now),
                ..tickets.clone()
            },
            limit,
            now,
        )?,
        follow_ups_due: ticket_section(
            conn,
            TicketFilter {
                follow_up_due_before: Some(end_of_today),
                ..tickets.clone()
            },
            limit,
            now,
        )?,
        no_contact_tickets: ticket_section(
            conn,
            TicketFilter {
                no_contact_since: Some(no_contact_since),
                ..tickets.clone()
            },
            limit,
            now,
        )?,
        about_to_breach: ticket_section(
            conn,
            TicketFilter {
                target_due_before: Some(breach_warning_until),
                ..tickets.clone()
            },
            limit,
            now,
        )?,
        escalated: ticket_section(
            conn,
            TicketFilter {
                escalated: true,
                ..tickets.clone()
            },
            limit,
            now,
        )?,
        unanswered_surveys: ticket_section(
            conn,
            TicketFilter {
                survey_unanswered: Some((surveys_made_before, now)),
                ..tickets.clone()
            },
            limit,
            now,
        )?,
        never_contacted_customers: customer_section(
            conn,
            CustomerFilter {
                never_contacted: Some(true),
                ..customers.clone()
            },
            limit,
        )?,
        not_contacted_customers: customer_section(
            conn,
            CustomerFilter {
                contacted_before: Some(contacted_before),
                ..customers.clone()
            },
            limit,
        )?,
        no_purchase_customers: customer_section(
            conn,
            CustomerFilter {
                bought_before: Some(bought_before),
                ..customers.clone()
            },
            limit,
        )?,
        never_purchased_customers: customer_section(
            conn,
            CustomerFilter {
                never_purchased: Some(true),
                ..customers.clone()
            },
            limit,
        )?,
        upcoming_birthdays: customer_section(
            conn,
            CustomerFilter {
                birthday_ranges: birthdays,
                ..customers.clone()
            },
            limit,
        )?,
        probably_used_up: used_up_section(
            conn,
            &customers,
            (used_up_from, used_up_until, offset),
            limit,
        )?,
        greetings: greetings_section(
            conn,
            &customers,
            greeting_days,
            (greeting_tier, greeting_segment),
            greeting_birthdays,
            limit,
        )?,
    })
}
