//! Use cases of call scripts, each in the caller's transaction: writing one (the body's
//! placeholders checked, the shop's limit held), editing one, and filling in a ticket's
//! templates from one read of the ticket and one of the scripts.

use chrono::Utc;

use super::rules::{self, Facts, Segment};
use super::store::{self, TicketFacts};
use super::{
    CallScript, CreateCallScriptRequest, MAX_SCRIPTS_PER_SHOP, NewCallScript, RenderedScript,
    TicketTemplates, UpdateCallScriptRequest,
};
use crate::auth::Caller;
use crate::db::DbConnection;
use crate::error::ApiError;

/// The body's pieces, or a 422 naming `body` with what is wrong in it.
fn checked_body(body: &str) -> Result<Vec<Segment>, ApiError> {
    rules::parse(body).map_err(|why| ApiError::field("body", why))
}

pub fn create(
    conn: &mut DbConnection,
    caller: &Caller,
    request: &CreateCallScriptRequest,
) -> Result<CallScript, ApiError> {
    checked_body(&request.body)?;
    store::lock_shop(conn, caller.shop_id)?;
    if store::count(conn, caller.shop_id)? >= MAX_SCRIPTS_PER_SHOP {
        return Err(ApiError::field(
            "call_scripts",
            format!(
                "the shop already keeps {MAX_SCRIPTS_PER_SHOP} call scripts, the most it may; \
delete one it no longer uses first"
            ),
        ));
    }
    let now = Utc::now().naive_utc();
    store::insert(
        conn,
        &NewCallScript {
            shop_id: caller.shop_id,
            ticket_kind: request.ticket_kind,
            situation: request.situation,
            title: request.title.trim(),
            body: &request.body,
            active: request.active,
            created_by: Some(caller.user_id),
            created_at: now,
            updated_at: now,
        },
    )
}

/// Applies an edit: absent fields keep their value, `ticket_kind: null` makes the script
/// fit every kind.
pub fn edit(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    request: &UpdateCallScriptRequest,
) -> Result<CallScript, ApiError> {
    if let Some(body) = &request.body {
        checked_body(body)?;
    }
    let mut script = store::get(conn, caller.shop_id, id)?;
    if let Some(kind) = request.ticket_kind {
        script.ticket_kind = kind;
    }
    if let Some(situation) = request.situation {
        script.situation = situation;
    }
    if let Some(title) = &request.title {
        script.title = title.trim().to_owned();
    }
    if let Some(body) = &request.body {
        script.body = body.clone();
    }
    if let Some(active) = request.active {
        script.active = active;
    }
    store::save(conn, &script)
}

/// What the placeholders of a ticket's templates are filled in with.
pub fn facts_of(ticket: &TicketFacts) -> Facts {
    Facts {
        customer_name: Some(ticket.customer_name.clone()),
        order_no: ticket.order_no.clone(),
        product: rules::product_of(&ticket.details, ticket.order_product.clone()),
        agent_name: ticket.agent_name.clone(),
    }
}

/// The ticket's active templates, filled in for it and for the reader, the current
/// situation's first: two statements, however many scripts there are.
pub fn templates(
    conn: &mut DbConnection,
    caller: &Caller,
    ticket_id: i64,
) -> Result<TicketTemplates, ApiError> {
    let ticket = store::ticket_facts(conn, caller.shop_id, ticket_id, caller.user_id)?;
    let mut scripts = store::active_for_kind(conn, caller.shop_id, ticket.kind)?;
    let current = rules::situation_for(ticket.state);
    scripts.sort_by(|a, b| rules::template_order(current, a, b));
    let facts = facts_of(&ticket);
    let items = scripts
        .into_iter()
        .map(|script| {
            // Bodies are checked when saved; one that no longer reads (a placeholder
            // retired since) is shown as written rather than hiding the others.
            let segments =
                rules::parse(&script.body).unwrap_or_else(|_| vec![Segment::Text(script.body)]);
            let (text, missing) = rules::render(&segments, |p| facts.value_of(p));
            RenderedScript {
                id: script.id,
                situation: script.situation,
                title: script.title,
                text,
                missing,
            }
        })
        .collect();
    Ok(TicketTemplates {
        current_situation: current,
        items,
    })
}
