//! `/api/v1/tickets/{id}/survey`: the buyer survey of a ticket's latest resolution, for
//! staff (the link, a message to paste, its status and the answer), and the nudge that
//! takes an unanswered survey off the reminders. Staff only: API keys get 403.

use actix_web::{HttpResponse, web};
use chrono::Utc;

use super::{SurveyView, operations};
use crate::auth::{Caller, roles::Permission};
use crate::error::ApiError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tickets/{id}/survey").route(web::get().to(ticket_survey)))
        .service(web::resource("/tickets/{id}/survey/nudge").route(web::post().to(nudge)));
}

/// The buyer survey of the ticket's latest resolution: its link, a ready message with the
/// link to paste into WeChat or an SMS, its status and, once given, the buyer's answer.
///
/// A survey is made each time the ticket is resolved (reopening withdraws an unanswered
/// one). The link is `PUBLIC_BASE_URL` + `/s/{token}`; it can be answered once, until
/// `expires_at` (`SURVEY_TTL_DAYS`). The page is for the buyer and needs no login.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/survey", tag = "surveys", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id")),
    responses(
        (status = 200, body = SurveyView),
        (status = 403, description = "API keys may not read survey links"),
        (status = 404, description = "No such ticket, or it was never resolved (no survey)"),
        (status = 422),
    ))]
pub async fn ticket_survey(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::WorkTickets)?;
    let id = id.into_inner();
    let issuer = state.surveys.clone();
    let view = state
        .db
        .read(move |conn| {
            operations::of_ticket(conn, &issuer, caller.shop_id, id, Utc::now().naive_utc())
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Say that the buyer was nudged about an unanswered survey (once): it leaves the
/// reminders' `unanswered_surveys`.
///
/// The ticket's assignee, or a lead or admin. A survey already nudged stays as it was
/// (the first nudge's time is kept).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/survey/nudge", tag = "surveys", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id")),
    responses(
        (status = 200, body = SurveyView),
        (status = 403, description = "An agent may nudge only about their own tickets; API keys may not"),
        (status = 404, description = "No such ticket, or it was never resolved (no survey)"),
        (status = 409, description = "The survey was answered, expired or withdrawn (`survey-not-pending`)"),
        (status = 422),
    ))]
pub async fn nudge(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::WorkTickets)?;
    let id = id.into_inner();
    let issuer = state.surveys.clone();
    let view: SurveyView = state
        .db
        .write(move |conn| operations::nudge(conn, &issuer, &caller, id, Utc::now().naive_utc()))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
