//! The survey's use cases, each in the caller's transaction: the buyer's answer (recorded
//! through the ticket's own satisfaction operation) and an agent's nudge.

use std::sync::Arc;

use chrono::NaiveDateTime;

use super::store::{self, PageFacts};
use super::{Survey, SurveyIssuer, SurveyStatus, SurveyView, rules};
use crate::auth::{BuyerCaller, Caller, Principal};
use crate::db::DbConnection;
use crate::error::{ApiError, ProblemKind};
use crate::ids::{ShopId, UserId};
use crate::sla::rules::Sla;
use crate::tickets::operations::{Context, record_satisfaction};
use crate::tickets::{SatisfactionReason, SatisfactionRequest, store as tickets, workflow};
use crate::tiers::TierSettings;

/// A survey found by its link, with its status now and what its page shows.
pub struct Found {
    pub survey: Survey,
    pub status: SurveyStatus,
    pub facts: PageFacts,
}

/// The survey a link token names (`None`: no such survey).
pub fn find(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<Found>, ApiError> {
    let Some(survey) = store::by_token_hash(conn, token_hash)? else {
        return Ok(None);
    };
    let facts = store::page_facts(conn, &survey)?;
    Ok(Some(Found {
        status: rules::status(&survey, now),
        survey,
        facts,
    }))
}

/// What the buyer gave.
pub struct BuyerAnswer {
    pub score: i32,
    pub reasons: Vec<SatisfactionReason>,
    pub comment: Option<String>,
}

/// The buyer's answer: recorded on the ticket exactly as a staff entry is (satisfaction,
/// timeline entry, tier, webhook), with `source: buyer`, and the survey closed, all in
/// one transaction. Returns the survey's status: `Answered` when this answer was
/// recorded, or why it was not (already answered, expired, withdrawn).
pub fn answer(
    conn: &mut DbConnection,
    found: &Survey,
    answer: &BuyerAnswer,
    (sla, tiers): (Arc<Sla>, TierSettings),
    now: NaiveDateTime,
) -> Result<(SurveyStatus, bool), ApiError> {
    // The ticket first (the row lock every ticket change takes), then the survey again:
    // two answers sent at once are recorded once.
    let ticket = tickets::lock(conn, found.shop_id, found.ticket_id)?;
    let Some(survey) = store::by_token_hash(conn, &found.token_hash)? else {
        return Err(ApiError::NotFound("no such survey".into()));
    };
    let status = rules::status(&survey, now);
    if status != SurveyStatus::Pending {
        return Ok((status, false));
    }
    let buyer = Principal::Buyer(BuyerCaller {
        shop_id: survey.shop_id,
        survey_id: survey.id,
    });
    let ctx = Context {
        caller: &buyer,
        now,
        sla,
        tiers,
        surveys: None,
    };
    let request = SatisfactionRequest {
        score: answer.score,
        comment: answer.comment.clone(),
        reasons: Some(answer.reasons.clone()),
    };
    record_satisfaction(conn, &ctx, ticket, &request)?;
    if !store::mark_answered(
        conn,
        survey.id,
        answer.score,
        &answer.reasons,
        answer.comment.as_deref(),
        now,
    )? {
        // Cannot happen under the ticket's lock; refuse rather than record twice.
        return Err(ApiError::Internal(
            "a pending survey could not be marked answered".into(),
        ));
    }
    Ok((SurveyStatus::Answered, true))
}

/// The survey of the ticket's latest resolution, as staff see it (404 when it was never resolved).
pub fn of_ticket(
    conn: &mut DbConnection,
    issuer: &SurveyIssuer,
    shop_id: ShopId,
    ticket_id: i64,
    now: NaiveDateTime,
) -> Result<SurveyView, ApiError> {
    // The ticket must be the caller's shop's (404 otherwise).
    tickets::get(conn, shop_id, ticket_id)?;
    let survey = store::latest_of_ticket(conn, ticket_id)?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "ticket {ticket_id} has no survey: one is made when it is resolved"
        ))
    })?;
    store::view(conn, issuer, &survey, now)
}

/// An agent nudged the buyer (once): the survey leaves the reminders. Only for a pending
/// survey, by whoever may work the ticket; a second nudge changes nothing.
pub fn nudge(
    conn: &mut DbConnection,
    issuer: &SurveyIssuer,
    caller: &Caller,
    ticket_id: i64,
    now: NaiveDateTime,
) -> Result<SurveyView, ApiError> {
    let ticket = tickets::get(conn, caller.shop_id, ticket_id)?;
    if !workflow::may_work_on(
        caller.role,
        UserId(caller.user_id),
        ticket.assignee_id.map(UserId),
    ) {
        return Err(ApiError::Forbidden(format!(
            "ticket {ticket_id} is not assigned to you; its assignee or a lead nudges the buyer"
        )));
    }
    let survey = store::latest_of_ticket(conn, ticket_id)?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "ticket {ticket_id} has no survey: one is made when it is resolved"
        ))
    })?;
    let status = rules::status(&survey, now);
    if status != SurveyStatus::Pending {
        return Err(ApiError::conflict(
            ProblemKind::SurveyNotPending,
            format!(
                "the survey is {}; only a pending survey can be nudged",
                serde_json::to_value(status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        ));
    }
    store::mark_nudged(conn, survey.id, now)?;
    let survey = store::latest_of_ticket(conn, ticket_id)?
        .ok_or_else(|| ApiError::Internal("the nudged survey went away".into()))?;
    store::view(conn, issuer, &survey, now)
}
