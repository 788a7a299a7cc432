//! `GET /api/v1/reminders`. HTTP only: the request becomes a [`ReminderPlan`], read by
//! [`super::operations`].

use actix_web::{HttpResponse, web};
use chrono::{Duration, TimeZone, Utc};

use super::operations::{self, ReminderPlan};
use super::{Reminders, RemindersQuery};
use crate::auth::{Caller, roles::Permission};
use crate::customers::rules::birthday_windows;
use crate::customers::store::CustomerFilter;
use crate::error::ApiError;
use crate::extract::{Query, utc_offset};
use crate::state::AppState;
use crate::tickets::store::{AssigneeFilter, TicketFilter};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/reminders").route(web::get().to(reminders)));
}

/// What needs doing: overdue first calls, follow-ups due today, tickets without contact,
/// service-level targets about to breach, escalated tickets, buyer surveys unanswered for
/// `SURVEY_NUDGE_AFTER_HOURS`, and customers to call (never contacted, not contacted for a while, not buying any more,
/// never bought, birthdays coming up, a product probably used up) and to greet (birthdays and
/// the shop's occasions of the coming days, by tier). Agents get their own (customers with a
/// ticket assigned to them); leads and admins the team's.
#[utoipa::path(get, path = "/api/v1/reminders", tag = "reminders", security(("bearer" = [])),
    params(RemindersQuery),
    responses(
        (status = 200, body = Reminders),
        (status = 401),
        (status = 422),
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
    let midnight = |day: chrono::NaiveDate| {
        offset
            .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
            .single()
            .map(|t| t.naive_utc())
            .ok_or_else(|| ApiError::Internal("day out of range".into()))
    };
    let end_of_today = midnight(today + Duration::days(1))?;
    let used_up_days = i64::from(query.used_up_days.unwrap_or(7));
    let used_up_from = midnight(today)?;
    let used_up_until = midnight(today + Duration::days(used_up_days + 1))?;
    let greeting_days = query.greeting_days.unwrap_or(7);
    let greeting_window = (today, today + Duration::days(i64::from(greeting_days)));
    let greeting_birthdays = birthday_windows(today, greeting_days);
    let now = now_utc.naive_utc();
    let team = caller.require(Permission::ViewTeamStats).is_ok();
    let mine = (!team).then_some(caller.user_id);
    let limit = i64::from(query.limit.unwrap_or(20));
    let days_ago = |days: u32| now - Duration::days(i64::from(days));
    let tickets = TicketFilter {
        assignee: mine.map(AssigneeFilter::Staff),
        ..TicketFilter::of_shop(caller.shop_id)
    };
    let customers = CustomerFilter {
        ticket_assignee: mine,
        ..CustomerFilter::of_shop(caller.shop_id)
    };
    let no_contact_since = days_ago(query.no_contact_days.unwrap_or(3));
    let contacted_before = days_ago(query.not_contacted_days.unwrap_or(30));
    let bought_before = days_ago(query.no_purchase_days.unwrap_or(90));
    let birthdays = birthday_windows(today, query.birthday_days.unwrap_or(7));
    let surveys_made_before =
        now - Duration::hours(i64::from(state.settings.surveys.survey_nudge_after_hours));
    let greeting_tier = query.greeting_tier;
    let greeting_segment = query.greeting_segment;
    let sla = state.sla.clone();
    let shop_id = caller.shop_id;
    let result = state
        .db
        .read(move |conn| {
            let breach_warning_until = now + sla.get(conn, shop_id)?.warning();
            operations::reminders(
                conn,
                ReminderPlan {
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
                    greeting_days: greeting_window,
                    greeting_tier,
                    greeting_segment,
                    greeting_birthdays,
                },
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}
