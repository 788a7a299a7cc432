//! `/api/v1/reminders`: who needs a call. Agents see their own tickets and the customers of
//! those tickets; leads and admins see the whole team's.

use actix_web::{HttpResponse, web};
use chrono::{Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::{Caller, roles::Permission};
use crate::customers::rules::birthday_windows;
use crate::customers::store::{self as customer_queries, CustomerFilter};
use crate::customers::{Customer, CustomerSort};
use crate::db::DbConnection;
use crate::error::{ApiError, Problem};
use crate::extract::{Query, utc_offset};
use crate::state::AppState;
use crate::tickets::TicketView;
use crate::tickets::store::{self as ticket_queries, AssigneeFilter, TicketFilter, TicketSort};
use crate::tiers::engine::{Stage, Tier};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/reminders").route(web::get().to(reminders)));
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemindersQuery {
    /// Open tickets with no contact attempt for this many days (default 3).
    #[validate(range(min = 1, max = 365))]
    pub no_contact_days: Option<u32>,
    /// Customers contacted before, but not for this many days (default 30).
    #[validate(range(min = 1, max = 3650))]
    pub not_contacted_days: Option<u32>,
    /// Customers who bought before, but not for this many days (default 90).
    #[validate(range(min = 1, max = 3650))]
    pub no_purchase_days: Option<u32>,
    /// Birthdays today or in the next N days (default 7).
    #[validate(range(min = 0, max = 366))]
    pub birthday_days: Option<u32>,
    /// Items listed per section, 1 to 100 (default 20); `count` always gives the full number.
    #[validate(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// The caller's UTC offset, which decides where "today" ends (default `+08:00`).
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
    fn of(c: &Customer) -> CustomerBrief {
        CustomerBrief {
            id: c.id,
            name: c.name.clone(),
            tier: Tier::parse(&c.tier).unwrap_or(Tier::Small),
            stage: Stage::parse(&c.lifecycle_stage).unwrap_or(Stage::Potential),
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
    pub never_contacted_customers: CustomerReminders,
    pub not_contacted_customers: CustomerReminders,
    pub no_purchase_customers: CustomerReminders,
    pub upcoming_birthdays: CustomerReminders,
}

fn ticket_section(
    conn: &mut DbConnection,
    filter: TicketFilter,
    limit: i64,
    now: NaiveDateTime,
) -> Result<TicketReminders, ApiError> {
    let count = ticket_queries::count(conn, &filter)?;
    let items = ticket_queries::list(conn, &filter, TicketSort::Due, None, limit)?
        .iter()
        .map(|t| t.view(now))
        .collect::<Result<_, _>>()?;
    Ok(TicketReminders { count, items })
}

fn customer_section(
    conn: &mut DbConnection,
    filter: CustomerFilter,
    limit: i64,
) -> Result<CustomerReminders, ApiError> {
    let count = customer_queries::count(conn, &filter)?;
    let items = customer_queries::list(conn, &filter, CustomerSort::Oldest, None, limit)?
        .iter()
        .map(CustomerBrief::of)
        .collect();
    Ok(CustomerReminders { count, items })
}

/// What needs doing: overdue first calls, follow-ups due today, tickets without contact,
/// and customers to call (never contacted, not contacted for a while, not buying any more,
/// birthdays coming up). Agents get their own; leads and admins the team's.
#[utoipa::path(get, path = "/api/v1/reminders", tag = "reminders", security(("bearer" = [])),
    params(RemindersQuery),
    responses(
        (status = 200, body = Reminders),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reminders(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<RemindersQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::WorkTickets)?;
    let offset = utc_offset(query.utc_offset.as_deref(), "utc_offset")?;
    let now_utc = Utc::now();
    let today = now_utc.with_timezone(&offset).date_naive();
    let end_of_today = offset
        .from_local_datetime(
            &(today + Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default(),
        )
        .single()
        .map(|t| t.naive_utc())
        .ok_or_else(|| ApiError::Internal("end of day out of range".into()))?;
    let now = now_utc.naive_utc();
    let team = caller.require(Permission::ViewTeamStats).is_ok();
    let mine = (!team).then_some(caller.user_id);
    let limit = i64::from(query.limit.unwrap_or(20));
    let days_ago = |days: u32| now - Duration::days(i64::from(days));
    let tickets = TicketFilter {
        shop_id: caller.shop_id,
        assignee: mine.map(AssigneeFilter::Staff),
        ..TicketFilter::default()
    };
    let customers = CustomerFilter {
        shop_id: caller.shop_id,
        ticket_assignee: mine,
        ..CustomerFilter::default()
    };
    let no_contact_since = days_ago(query.no_contact_days.unwrap_or(3));
    let contacted_before = days_ago(query.not_contacted_days.unwrap_or(30));
    let bought_before = days_ago(query.no_purchase_days.unwrap_or(90));
    let birthdays = birthday_windows(today, query.birthday_days.unwrap_or(7));
    let result = state
        .db
        .read(move |conn| {
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
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}
