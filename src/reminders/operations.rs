//! Reading the reminder lists: each is a count and the first `limit` items of a ticket or
//! customer filter, through those features' queries. No SQL of its own.

use chrono::NaiveDateTime;

use super::{CustomerBrief, CustomerReminders, Reminders, TicketReminders};
use crate::customers::CustomerSort;
use crate::customers::store::{self as customer_store, CustomerFilter};
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
        upcoming_birthdays: customer_section(
            conn,
            CustomerFilter {
                birthday_ranges: birthdays,
                ..customers
            },
            limit,
        )?,
    })
}
