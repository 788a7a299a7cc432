//! The surveys' SQL: making one for a resolution (with its webhook event), finding one by
//! its token's hash or its ticket, withdrawing, answering and nudging, and what the page
//! shows of the shop, the buyer and the ticket.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Value, json};

use super::rules::{self, Lang};
use super::{NewSurvey, Survey, SurveyAnswer, SurveyIssuer, SurveyStatus, SurveyView};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{customers, shops, surveys, tickets};
use crate::tickets::{SatisfactionReason, Ticket, TicketKind};
use crate::webhooks::EventType;

/// Makes the survey of a resolution and puts `ticket.survey_created` (with the link) in
/// the outbox, in the caller's transaction.
pub fn open(
    conn: &mut DbConnection,
    issuer: &SurveyIssuer,
    ticket: &Ticket,
    now: NaiveDateTime,
) -> Result<Survey, ApiError> {
    let nonce = rules::new_nonce();
    let token = rules::token_for(&issuer.link_key, &nonce);
    let hash = rules::token_hash(&token);
    let survey: Survey = diesel::insert_into(surveys::table)
        .values(&NewSurvey {
            shop_id: ticket.shop_id,
            ticket_id: ticket.id,
            token_hash: &hash,
            nonce: &nonce,
            created_at: now,
            expires_at: now + issuer.ttl,
        })
        .returning(surveys::all_columns)
        .get_result(conn)?;
    let view = view(conn, issuer, &survey, now)?;
    crate::webhooks::store::emit(
        conn,
        ticket.shop_id,
        EventType::TicketSurveyCreated,
        &json!({"ticket_id": ticket.id, "customer_id": ticket.customer_id, "survey": view}),
        now,
    )?;
    Ok(survey)
}

pub fn by_token_hash(conn: &mut DbConnection, hash: &str) -> Result<Option<Survey>, ApiError> {
    Ok(surveys::table
        .filter(surveys::token_hash.eq(hash))
        .select(Survey::as_select())
        .first(conn)
        .optional()?)
}

/// The survey of the ticket's latest resolution.
pub fn latest_of_ticket(
    conn: &mut DbConnection,
    ticket_id: i64,
) -> Result<Option<Survey>, ApiError> {
    Ok(surveys::table
        .filter(surveys::ticket_id.eq(ticket_id))
        .order(surveys::id.desc())
        .select(Survey::as_select())
        .first(conn)
        .optional()?)
}

/// A reopened ticket's unanswered surveys record nothing any more.
pub fn withdraw_pending(
    conn: &mut DbConnection,
    ticket_id: i64,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(
        surveys::table
            .filter(surveys::ticket_id.eq(ticket_id))
            .filter(surveys::answered_at.is_null())
            .filter(surveys::withdrawn_at.is_null()),
    )
    .set(surveys::withdrawn_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Records the answer on a survey still pending; `false` when it no longer was (answered
/// a moment ago, withdrawn or expired), and then nothing is written.
pub fn mark_answered(
    conn: &mut DbConnection,
    id: i64,
    score: i32,
    reasons: &[SatisfactionReason],
    comment: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, ApiError> {
    let changed = diesel::update(
        surveys::table
            .find(id)
            .filter(surveys::answered_at.is_null())
            .filter(surveys::withdrawn_at.is_null())
            .filter(surveys::expires_at.gt(now)),
    )
    .set((
        surveys::answered_at.eq(now),
        surveys::score.eq(score),
        surveys::reasons.eq(SatisfactionReason::store(reasons)),
        surveys::comment.eq(comment),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

pub fn mark_nudged(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<(), ApiError> {
    diesel::update(surveys::table.find(id).filter(surveys::nudged_at.is_null()))
        .set(surveys::nudged_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// What the page and the message show: the shop's name, the buyer's first name, and what
/// the ticket was about.
pub struct PageFacts {
    pub shop_name: String,
    pub first_name: String,
    pub kind: TicketKind,
    pub details: Value,
}

impl PageFacts {
    pub fn about(&self, lang: Lang) -> String {
        rules::about_line(self.kind, &self.details, lang)
    }
}

/// One statement: the survey's ticket with its shop and customer.
pub fn page_facts(conn: &mut DbConnection, survey: &Survey) -> Result<PageFacts, ApiError> {
    let (shop_name, customer_name, kind, details): (String, String, TicketKind, String) =
        tickets::table
            .inner_join(customers::table)
            .inner_join(shops::table.on(shops::id.eq(tickets::shop_id)))
            .filter(tickets::id.eq(survey.ticket_id))
            .filter(tickets::shop_id.eq(survey.shop_id))
            .select((
                shops::name,
                customers::name,
                tickets::kind,
                tickets::details,
            ))
            .first(conn)?;
    Ok(PageFacts {
        shop_name,
        first_name: rules::first_name(&customer_name),
        kind,
        details: serde_json::from_str(&details).unwrap_or(Value::Null),
    })
}

/// The survey as staff see it, with its link rebuilt from the nonce (when the key still
/// gives the stored hash) and the ready message.
pub fn view(
    conn: &mut DbConnection,
    issuer: &SurveyIssuer,
    survey: &Survey,
    now: NaiveDateTime,
) -> Result<SurveyView, ApiError> {
    let token = rules::token_for(&issuer.link_key, &survey.nonce);
    let url = (rules::token_hash(&token) == survey.token_hash)
        .then(|| rules::survey_url(&issuer.base_url, &token));
    let message = match &url {
        Some(url) => {
            let facts = page_facts(conn, survey)?;
            Some(rules::message(
                &facts.shop_name,
                &facts.first_name,
                url,
                (survey.expires_at - survey.created_at).num_days(),
            ))
        }
        None => None,
    };
    let status = rules::status(survey, now);
    Ok(SurveyView {
        id: survey.id,
        ticket_id: survey.ticket_id,
        status,
        url,
        message,
        created_at: survey.created_at.and_utc(),
        expires_at: survey.expires_at.and_utc(),
        nudged_at: survey.nudged_at.map(|t| t.and_utc()),
        answer: match (status, survey.answered_at, survey.score) {
            (SurveyStatus::Answered, Some(at), Some(score)) => Some(SurveyAnswer {
                score,
                reasons: SatisfactionReason::parse_stored(survey.reasons.as_deref()),
                comment: survey.comment.clone(),
                answered_at: at.and_utc(),
            }),
            _ => None,
        },
    })
}
