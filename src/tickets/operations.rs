//! What can be done to a ticket, each in the caller's transaction: checks (workflow,
//! who may), the change, and its timeline entry. Routes only parse and respond.

use chrono::{NaiveDateTime, Utc};
use diesel::Connection;
use serde_json::{Map, Value, json};

use super::bulk::{
    BulkOutcome, BulkTicketAction, BulkTicketAnswer, BulkTicketReport, BulkTicketReportEntry,
    BulkTicketRequest, BulkTicketResult, OpenTicketsHandover, SetPriority,
};
use super::store;
use super::workflow::{self, AutoAssign};
use super::{Action, EventKind, NewContact, NewTicket, Priority, State};
use super::{
    AssignRequest, Channel, CloseRequest, CreateTicketRequest, LogContactRequest, ReopenRequest,
    ResolveRequest, SatisfactionReason, SatisfactionRequest, SatisfactionSource, Ticket,
    TicketDetails, UpdateTicketRequest, WaitRequest, check_outcome,
};
use crate::auth::{Caller, Principal};
use crate::customers::store as customer_store;
use crate::db::DbConnection;
use crate::error::{ApiError, ProblemKind};
use crate::ids::{CustomerId, OrderId, ShopId, UserId};
use crate::orders::store as orders;
use crate::response::UpsertOutcome;
use crate::sla::policy::TicketTargets;
use crate::sla::rules::Sla;
use crate::sla::store as sla_store;
use crate::sla::{TargetKind, TicketTarget};
use crate::tiers::TierSettings;

/// What every operation needs besides its request.
pub struct Context<'a> {
    pub caller: &'a Principal,
    pub now: NaiveDateTime,
    /// The shop's service levels, as cached (`sla::store::SlaCache`).
    pub sla: std::sync::Arc<Sla>,
    pub tiers: TierSettings,
    /// What a resolution needs to make its buyer survey (`None` where nothing resolves:
    /// bulk changes, feeds, merges, hand-overs; resolving without it is refused).
    pub surveys: Option<crate::surveys::SurveyIssuer>,
}

impl Context<'_> {
    /// The staff member acting: working a ticket is people's work, never an API key's.
    fn staff(&self) -> Result<&Caller, ApiError> {
        self.caller.require_staff("work tickets")
    }

    fn actor_id(&self) -> Option<i64> {
        self.caller.staff_id()
    }

    /// The service-level targets of a ticket of `kind` and `priority` for this customer
    /// (stricter for key and at-risk buyers).
    fn targets(
        &self,
        conn: &mut DbConnection,
        customer_id: i64,
        kind: super::TicketKind,
        priority: Priority,
    ) -> Result<TicketTargets, ApiError> {
        let (tier, at_risk) = crate::tiers::store::standing_of(conn, customer_id)?;
        let priority_customer = crate::tiers::engine::is_priority_customer(tier, at_risk);
        Ok(self.sla.policies.targets(kind, priority, priority_customer))
    }

    /// The customer's tier follows what just happened on their ticket.
    fn refresh_tier(
        &self,
        conn: &mut DbConnection,
        ticket: &Ticket,
        cause: &str,
    ) -> Result<(), ApiError> {
        crate::tiers::operations::refresh(
            conn,
            ticket.shop_id,
            CustomerId(ticket.customer_id),
            &self.tiers,
            cause,
        )
    }
}

/// Appends one entry to the ticket's timeline and puts the webhook events it stands for in
/// the outbox, in the caller's transaction: an event is sent exactly when its change committed.
fn record_event(
    conn: &mut DbConnection,
    ticket: &Ticket,
    actor_id: Option<i64>,
    kind: EventKind,
    from_state: Option<State>,
    to_state: Option<State>,
    data: Value,
) -> Result<(), ApiError> {
    let now = Utc::now().naive_utc();
    store::insert_event(
        conn,
        ticket,
        actor_id,
        kind,
        (from_state, to_state),
        &data,
        now,
    )?;
    let moved = from_state.is_some() && from_state != to_state;
    let events = kind.webhook_events(moved);
    if !events.is_empty() {
        let document = json!({
            "ticket": store::view(conn, ticket, now)?,
            "change": {"kind": kind, "actor_id": actor_id, "from_state": from_state, "to_state": to_state, "details": data},
        });
        for &event in events {
            crate::webhooks::store::emit(conn, ticket.shop_id, event, &document, now)?;
        }
    }
    Ok(())
}

fn invalid_transition(from: State, action: Action) -> ApiError {
    let allowed = workflow::allowed_from(from);
    let mut extensions = Map::new();
    extensions.insert("current_state".into(), json!(from));
    extensions.insert(
        "allowed_next_states".into(),
        json!(allowed.iter().map(|(_, s)| *s).collect::<Vec<_>>()),
    );
    extensions.insert(
        "allowed_actions".into(),
        json!(allowed.iter().map(|(a, _)| *a).collect::<Vec<_>>()),
    );
    let action = serde_json::to_value(action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    ApiError::Conflict {
        kind: ProblemKind::InvalidTransition,
        detail: format!(
            "a ticket in state {} does not allow {action}",
            from.as_str()
        ),
        extensions,
    }
}

/// The state `action` leads to, or 409 naming the current state and what is allowed.
fn transition(ticket: &Ticket, action: Action) -> Result<(State, State), ApiError> {
    let from = ticket.state;
    workflow::next_state(from, action)
        .map(|to| (from, to))
        .ok_or_else(|| invalid_transition(from, action))
}

fn ensure_may_work(ctx: &Context<'_>, ticket: &Ticket) -> Result<(), ApiError> {
    let staff = ctx.staff()?;
    if workflow::may_work_on(
        staff.role,
        UserId(staff.user_id),
        ticket.assignee_id.map(UserId),
    ) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "ticket {} is not assigned to you; take it if it is unassigned, or ask a lead",
            ticket.id
        )))
    }
}

/// 412 unless the client's `If-Match` names the current version (absent: no condition).
pub fn check_version(ticket: &Ticket, if_match: &Option<Vec<i64>>) -> Result<(), ApiError> {
    match if_match {
        Some(versions) if !versions.contains(&ticket.version) => {
            Err(ApiError::PreconditionFailed(format!(
                "the ticket has changed (now version {}); fetch it again and retry",
                ticket.version
            )))
        }
        _ => Ok(()),
    }
}

fn with_due(mut ticket: Ticket) -> Result<Ticket, ApiError> {
    ticket.due_at = workflow::due_at(
        ticket.state,
        ticket.first_call_due_at,
        ticket.next_follow_up_at,
        ticket.platform_deadline_at,
    );
    Ok(ticket)
}

fn check_order(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: CustomerId,
    order_id: OrderId,
) -> Result<(), ApiError> {
    match orders::get(conn, shop_id, order_id.0) {
        Ok(order) if order.customer_id == customer_id.0 => Ok(()),
        Ok(_) => Err(ApiError::field(
            "order_id",
            "is an order of another customer",
        )),
        Err(ApiError::NotFound(_)) => Err(ApiError::field("order_id", "no such order")),
        Err(other) => Err(other),
    }
}

fn duplicate_review(existing: i64, platform: Channel, review_id: &str) -> ApiError {
    let mut extensions = Map::new();
    extensions.insert("existing_ticket_id".into(), existing.into());
    ApiError::Conflict {
        kind: ProblemKind::DuplicateReview,
        detail: format!("review {review_id} on {platform} already has ticket {existing}"),
        extensions,
    }
}

pub fn create(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    request: &CreateTicketRequest,
    auto_assign: AutoAssign,
) -> Result<Ticket, ApiError> {
    let shop_id = ctx.caller.shop_id();
    let customer = match customer_store::get(conn, shop_id, request.customer_id) {
        Err(ApiError::NotFound(_)) => {
            return Err(ApiError::field("customer_id", "no such customer"));
        }
        other => other?,
    };
    customer.ensure_live()?;
    if let Some(order_id) = request.order_id {
        check_order(conn, shop_id, CustomerId(customer.id), OrderId(order_id))?;
    }
    let details = TicketDetails::parse(request.kind, request.details.clone())?;
    if let Some(why) = details.refuses_opening() {
        return Err(ApiError::field("details.rating", why));
    }
    let review_key = details.review_key();
    if let Some((platform, review_id)) = &review_key
        && let Some(existing) = store::review_ticket(conn, shop_id, *platform, review_id)?
    {
        return Err(duplicate_review(existing.id, *platform, review_id));
    }
    let (assignee, automatic) = match request.assignee_id {
        Some(id) => {
            let staff = ctx.caller.require_staff("assign tickets")?;
            if !workflow::may_assign(staff.role, UserId(staff.user_id), None, Some(UserId(id))) {
                return Err(ApiError::Forbidden(
                    "agents may only assign tickets to themselves".into(),
                ));
            }
            store::check_assignable(conn, shop_id, id)?;
            (Some(id), false)
        }
        None if auto_assign == AutoAssign::LeastLoaded => {
            (store::least_loaded_agent(conn, shop_id)?, true)
        }
        None => (None, false),
    };
    // Key and at-risk customers go first: a tighter first-call deadline and a higher default priority.
    let (tier, at_risk) = crate::tiers::store::standing_of(conn, customer.id)?;
    let priority_customer = crate::tiers::engine::is_priority_customer(tier, at_risk);
    let default_priority = request.kind.default_priority();
    let priority = request.priority.unwrap_or(if priority_customer {
        default_priority.raised()
    } else {
        default_priority
    });
    let targets = ctx
        .sla
        .policies
        .targets(request.kind, priority, priority_customer);
    let first_call_due_at = ctx.sla.due_from(targets.first_call, ctx.now);
    let platform_deadline_at = request.platform_deadline_at.map(|at| at.naive_utc());
    let (review_platform, review_external_id) = review_key.unzip();
    let ticket = store::insert(
        conn,
        &NewTicket {
            shop_id,
            customer_id: customer.id,
            order_id: request.order_id,
            kind: request.kind,
            title: request.title.trim(),
            description: request.description.trim(),
            details: details.to_json(),
            review_platform,
            review_external_id,
            state: State::New,
            priority,
            assignee_id: assignee,
            first_call_due_at,
            due_at: workflow::due_at(State::New, first_call_due_at, None, platform_deadline_at),
            platform_deadline_at,
            created_by: ctx.actor_id(),
            created_at: ctx.now,
            updated_at: ctx.now,
        },
    )?;
    sla_store::start_target(
        conn,
        &ticket,
        TargetKind::FirstCall,
        targets.first_call,
        ctx.now,
        Some(first_call_due_at),
    )?;
    if let Some(resolution) = targets.resolution {
        let due = ctx.sla.due_from(resolution, ctx.now);
        sla_store::start_target(
            conn,
            &ticket,
            TargetKind::Resolution,
            resolution,
            ctx.now,
            Some(due),
        )?;
    }
    let mut created = json!({"kind": request.kind, "title": ticket.title, "priority": priority, "first_call_due_at": first_call_due_at.and_utc()});
    if let Principal::Integration(key) = ctx.caller {
        created["api_key"] = json!({"id": key.key_id, "name": key.name});
    }
    record_event(
        conn,
        &ticket,
        ctx.actor_id(),
        EventKind::Created,
        None,
        Some(State::New),
        created,
    )?;
    if let Some(assignee) = assignee {
        let actor = if automatic { None } else { ctx.actor_id() };
        record_event(
            conn,
            &ticket,
            actor,
            EventKind::Assigned,
            None,
            None,
            json!({"before": null, "after": assignee, "automatic": automatic}),
        )?;
    }
    ctx.refresh_tier(conn, &ticket, "ticket")?;
    Ok(ticket)
}

/// A ticket's stored `details` as JSON, for comparing and for the timeline.
fn stored_details(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or(Value::Null)
}

pub fn edit(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    ticket: Ticket,
    request: &UpdateTicketRequest,
) -> Result<Ticket, ApiError> {
    ensure_may_work(ctx, &ticket)?;
    let mut after = ticket.clone();
    let mut before_values = Map::new();
    let mut after_values = Map::new();
    let mut note = |field: &str, before: Value, after: Value| {
        if before != after {
            before_values.insert(field.into(), before);
            after_values.insert(field.into(), after);
        }
    };
    if let Some(title) = &request.title {
        after.title = title.trim().to_owned();
        note("title", json!(ticket.title), json!(after.title));
    }
    if let Some(description) = &request.description {
        after.description = description.trim().to_owned();
        note(
            "description",
            json!(ticket.description),
            json!(after.description),
        );
    }
    if let Some(priority) = request.priority {
        after.priority = priority;
        note("priority", json!(ticket.priority), json!(priority));
    }
    if let Some(order_id) = request.order_id {
        if let Some(order_id) = order_id {
            check_order(
                conn,
                ticket.shop_id,
                CustomerId(ticket.customer_id),
                OrderId(order_id),
            )?;
        }
        after.order_id = order_id;
        note("order_id", json!(ticket.order_id), json!(order_id));
    }
    if let Some(details) = &request.details {
        let details = TicketDetails::parse(ticket.kind, details.clone())?;
        after.details = details.to_json();
        let key = details.review_key();
        if let Some((platform, review_id)) = &key {
            let other = store::review_ticket(conn, ticket.shop_id, *platform, review_id)?
                .filter(|other| other.id != ticket.id);
            if let Some(other) = other {
                return Err(duplicate_review(other.id, *platform, review_id));
            }
        }
        (after.review_platform, after.review_external_id) = key.unzip();
        note(
            "details",
            stored_details(&ticket.details),
            stored_details(&after.details),
        );
    }
    if let Some(deadline) = request.platform_deadline_at {
        after.platform_deadline_at = deadline.map(|at| at.naive_utc());
        note(
            "platform_deadline_at",
            json!(ticket.platform_deadline_at.map(|t| t.and_utc())),
            json!(after.platform_deadline_at.map(|t| t.and_utc())),
        );
    }
    if after_values.is_empty() {
        return Ok(ticket);
    }
    let stored = store::save(conn, &with_due(after)?)?;
    crate::search::store::index_tickets(conn, &[stored.id])?;
    record_event(
        conn,
        &stored,
        ctx.actor_id(),
        EventKind::Edited,
        None,
        None,
        json!({"before": before_values, "after": after_values}),
    )?;
    // A resolved ticket's refund counts against the order it names: naming another order
    // moves it, and the buyer's RFM spend with it.
    if stored.order_id != ticket.order_id {
        ctx.refresh_tier(conn, &stored, "ticket_edited")?;
    }
    Ok(stored)
}

pub fn log_contact(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    ticket: Ticket,
    request: &LogContactRequest,
) -> Result<Ticket, ApiError> {
    ensure_may_work(ctx, &ticket)?;
    let (from, to) = transition(&ticket, Action::LogContact)?;
    let targets = ctx.targets(conn, ticket.customer_id, ticket.kind, ticket.priority)?;
    let target = if request.reached {
        targets.follow_up_reached
    } else {
        targets.follow_up_unreached
    };
    // An agreed time (the buyer asked to be called then) is the follow-up's due time;
    // otherwise the policy's.
    let next = match request.next_follow_up_at {
        Some(at) if at.naive_utc() <= ctx.now => {
            return Err(ApiError::field(
                "next_follow_up_at",
                "must be in the future",
            ));
        }
        Some(at) => at.naive_utc(),
        None => ctx.sla.due_from(target, ctx.now),
    };
    store::insert_contact(
        conn,
        &NewContact {
            shop_id: ticket.shop_id,
            ticket_id: ticket.id,
            staff_id: ctx.staff()?.user_id,
            channel: request.channel,
            reached: request.reached,
            note: request.note.trim(),
            next_follow_up_at: next,
            created_at: ctx.now,
        },
    )?;
    customer_store::touch_last_contacted(conn, ticket.customer_id, ctx.now)?;
    let mut after = ticket.clone();
    after.state = to;
    after.first_contact_at = ticket.first_contact_at.or(Some(ctx.now));
    after.last_contact_at = Some(ctx.now);
    after.next_follow_up_at = Some(next);
    // A contact attempt ends a wait: the buyer (or the platform) has moved.
    let stored = save_ending_wait(conn, ctx, after)?;
    let late = sla_store::meet(
        conn,
        &ctx.sla,
        &stored,
        &[TargetKind::FirstCall, TargetKind::FollowUp],
        ctx.now,
    )?;
    record_late(conn, &stored, &late)?;
    sla_store::start_target(
        conn,
        &stored,
        TargetKind::FollowUp,
        target,
        ctx.now,
        Some(next),
    )?;
    record_event(
        conn,
        &stored,
        ctx.actor_id(),
        EventKind::ContactLogged,
        Some(from),
        Some(to),
        json!({"channel": request.channel, "reached": request.reached, "note": request.note.trim(), "next_follow_up_at": next.and_utc(),
               "first_contact": ticket.first_contact_at.is_none()}),
    )?;
    Ok(stored)
}

/// Stores a change of state, puts it in the timeline and lets the customer's tier follow.
fn settle(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    after: Ticket,
    (from, to): (State, State),
    data: Value,
) -> Result<Ticket, ApiError> {
    let stored = save_ending_wait(conn, ctx, after)?;
    record_event(
        conn,
        &stored,
        ctx.actor_id(),
        EventKind::StateChanged,
        Some(from),
        Some(to),
        data,
    )?;
    follow_targets(conn, ctx, &stored, to)?;
    ctx.refresh_tier(conn, &stored, "ticket")?;
    Ok(stored)
}

/// The service-level targets follow a change of state: resolving meets the resolution
/// target and drops the call targets; closing drops them all; reopening starts the new
/// episode's targets (a call within the first-call target, and a resolution target).
fn follow_targets(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    ticket: &Ticket,
    to: State,
) -> Result<(), ApiError> {
    let calls = [TargetKind::FirstCall, TargetKind::FollowUp];
    match to {
        State::Resolved => {
            let late = sla_store::meet(conn, &ctx.sla, ticket, &[TargetKind::Resolution], ctx.now)?;
            record_late(conn, ticket, &late)?;
            sla_store::drop_pending(conn, ticket.id, &calls, ctx.now)
        }
        State::Closed => sla_store::drop_pending(
            conn,
            ticket.id,
            &[
                TargetKind::FirstCall,
                TargetKind::FollowUp,
                TargetKind::Resolution,
            ],
            ctx.now,
        ),
        State::FollowUp => {
            let targets = ctx.targets(conn, ticket.customer_id, ticket.kind, ticket.priority)?;
            let call = targets.first_call;
            let due = ctx.sla.due_from(call, ctx.now);
            sla_store::start_target(conn, ticket, TargetKind::FollowUp, call, ctx.now, Some(due))?;
            if let Some(resolution) = targets.resolution {
                let due = ctx.sla.due_from(resolution, ctx.now);
                sla_store::start_target(
                    conn,
                    ticket,
                    TargetKind::Resolution,
                    resolution,
                    ctx.now,
                    Some(due),
                )?;
            }
            Ok(())
        }
        State::New | State::FirstCall => Ok(()),
    }
}

/// Saves `after` (its due time recomputed), ending its wait first if it waits; the
/// `wait_ended` entry follows the save.
fn save_ending_wait(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    mut after: Ticket,
) -> Result<Ticket, ApiError> {
    let ended = end_any_wait(conn, ctx, &mut after)?;
    let stored = store::save(conn, &with_due(after)?)?;
    if let Some(data) = ended {
        record_event(
            conn,
            &stored,
            ctx.actor_id(),
            EventKind::WaitEnded,
            None,
            None,
            data,
        )?;
    }
    Ok(stored)
}

/// Ends the ticket's wait, if it waits, and returns the `wait_ended` entry's data.
fn end_any_wait(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    ticket: &mut Ticket,
) -> Result<Option<Value>, ApiError> {
    let (Some(on), Some(since)) = (ticket.waiting_on, ticket.waiting_since) else {
        return Ok(None);
    };
    sla_store::end_wait(conn, &ctx.sla, ticket, ctx.now)?;
    ticket.waiting_on = None;
    ticket.waiting_since = None;
    Ok(Some(json!({
        "waiting_on": on,
        "waited_seconds": (ctx.now - since).num_seconds().max(0),
    })))
}

/// A target met after its due time is a breach the sweep had not seen yet: recorded now,
/// as the sweep would have (timeline and `ticket.sla_breached`), without escalating a
/// ticket that was just handled.
fn record_late(
    conn: &mut DbConnection,
    ticket: &Ticket,
    late: &[TicketTarget],
) -> Result<(), ApiError> {
    for target in late {
        if sla_store::mark_breached(conn, target, ticket.assignee_id)? {
            record_breach(conn, ticket, target)?;
        }
    }
    Ok(())
}

/// The timeline entry and webhook of a breach.
pub fn record_breach(
    conn: &mut DbConnection,
    ticket: &Ticket,
    target: &TicketTarget,
) -> Result<(), ApiError> {
    record_event(
        conn,
        ticket,
        None,
        EventKind::SlaBreached,
        None,
        None,
        json!({"target": target.target, "due_at": target.due_at.map(|t| t.and_utc()),
               "minutes": target.minutes, "clock": target.clock}),
    )
}

/// A breached ticket escalated by its policy: priority raised and reassigned as the
/// policy says (a reassignment to someone no longer active is skipped, and said), on the
/// timeline and in `ticket.escalated` for the leads.
pub fn escalate(
    conn: &mut DbConnection,
    ticket: Ticket,
    target: &TicketTarget,
    escalation: &crate::sla::policy::Escalation,
) -> Result<Ticket, ApiError> {
    use crate::sla::policy::Reassign;
    let mut after = ticket.clone();
    if escalation.raise_priority {
        after.priority = ticket.priority.raised();
    }
    let mut skipped = None;
    match escalation.reassign {
        Some(Reassign::Unassigned) => after.assignee_id = None,
        Some(Reassign::User { user_id }) => {
            match store::check_assignable(conn, ticket.shop_id, user_id) {
                Ok(()) => after.assignee_id = Some(user_id),
                Err(ApiError::Validation(_)) => {
                    skipped = Some(format!("staff member {user_id} is not active in this shop"))
                }
                Err(other) => return Err(other),
            }
        }
        None => {}
    }
    let stored = store::save(conn, &after)?;
    record_event(
        conn,
        &stored,
        None,
        EventKind::Escalated,
        None,
        None,
        json!({"target": target.target,
               "priority": {"before": ticket.priority, "after": stored.priority},
               "assignee": {"before": ticket.assignee_id, "after": stored.assignee_id},
               "reassignment_skipped": skipped}),
    )?;
    Ok(stored)
}

/// Waits on the buyer or the platform: the resolution clock stops.
pub fn wait(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    ticket: Ticket,
    request: &WaitRequest,
) -> Result<Ticket, ApiError> {
    ensure_may_work(ctx, &ticket)?;
    if !workflow::may_wait(ticket.state) {
        return Err(ApiError::Conflict {
            kind: ProblemKind::InvalidTransition,
            detail: format!(
                "a ticket in state {} cannot wait: it waits once the buyer was called (first_call or follow_up)",
                ticket.state.as_str()
            ),
            extensions: Map::new(),
        });
    }
    if let Some(on) = ticket.waiting_on {
        return Err(ApiError::Conflict {
            kind: ProblemKind::InvalidTransition,
            detail: format!("the ticket already waits on the {on}; end that wait first"),
            extensions: Map::new(),
        });
    }
    sla_store::start_wait(conn, &ticket, request.on, ctx.now)?;
    let mut after = ticket;
    after.waiting_on = Some(request.on);
    after.waiting_since = Some(ctx.now);
    let stored = store::save(conn, &after)?;
    record_event(
        conn,
        &stored,
        ctx.actor_id(),
        EventKind::WaitStarted,
        None,
        None,
        json!({"waiting_on": request.on, "note": request.note.trim()}),
    )?;
    Ok(stored)
}

/// Ends a wait by hand: the resolution clock runs again.
pub fn end_wait(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    ticket: Ticket,
) -> Result<Ticket, ApiError> {
    ensure_may_work(ctx, &ticket)?;
    if ticket.waiting_on.is_none() {
        return Err(ApiError::Conflict {
            kind: ProblemKind::InvalidTransition,
            detail: "the ticket is not waiting".into(),
            extensions: Map::new(),
        });
    }
    save_ending_wait(conn, ctx, ticket)
}

/// How a ticket's refund leaves its order: the order and the status it takes when
/// `refunded_cents` (by every resolved ticket of the order) went back.
struct OrderAfterRefunds {
    order: crate::orders::Order,
    refunded_cents: i64,
    status: crate::orders::OrderStatus,
}

impl OrderAfterRefunds {
    /// For the timeline: which order, its status now and all refunded on it.
    fn recorded(&self) -> Value {
        json!({"id": self.order.id, "status": self.status, "refunded_cents": self.refunded_cents})
    }

    /// Sets the order's status where it changed; its customer's summary and tier follow
    /// (`orders::operations::update`, in the ticket's transaction).
    fn apply(&self, conn: &mut DbConnection, ctx: &Context<'_>) -> Result<(), ApiError> {
        if self.status != self.order.status {
            let change = crate::orders::UpdateOrderRequest {
                status: Some(self.status),
                items: None,
                total_cents: None,
                ordered_at: None,
                salesperson_id: None,
                outlet: None,
            };
            crate::orders::operations::update(conn, &self.order, &change, &ctx.tiers)?;
        }
        Ok(())
    }
}

fn yuan(cents: i64) -> String {
    format!("¥{}.{:02}", cents / 100, cents % 100)
}

/// A refund may not exceed what is left to refund on the linked order (its total less what
/// other resolved tickets refunded), or, without an order, what the buyer asked for
/// (`requested_refund_cents`, when the return says). Returns how the order changes.
fn check_refund(
    conn: &mut DbConnection,
    ticket: &Ticket,
    refund_cents: Option<i64>,
) -> Result<Option<OrderAfterRefunds>, ApiError> {
    let Some(refund) = refund_cents else {
        return Ok(None);
    };
    match ticket.order_id {
        Some(order_id) => {
            let order = orders::get(conn, ticket.shop_id, order_id)?;
            let others = store::refunds_on_order(conn, order_id, ticket.id)?;
            let left = crate::orders::rules::refundable_cents(order.total_cents, others);
            if refund > left {
                return Err(ApiError::field(
                    "refund_cents",
                    format!(
                        "may be at most {} ({left} cents): order {} was paid {} and other tickets refunded {}",
                        yuan(left),
                        order.external_order_no,
                        yuan(order.total_cents),
                        yuan(others)
                    ),
                ));
            }
            let refunded_cents = others.saturating_add(refund);
            let status = crate::orders::rules::status_after_refunds(
                order.status,
                order.total_cents,
                refunded_cents,
            );
            Ok(Some(OrderAfterRefunds {
                order,
                refunded_cents,
                status,
            }))
        }
        None => {
            let claimed = serde_json::from_str::<Value>(&ticket.details)
                .ok()
                .and_then(|details| details["requested_refund_cents"].as_i64());
            match claimed {
                Some(claimed) if refund > claimed => Err(ApiError::field(
                    "refund_cents",
                    format!(
                        "may be at most {} ({claimed} cents), what the buyer asked for; link the order to refund more",
                        yuan(claimed)
                    ),
                )),
                _ => Ok(None),
            }
        }
    }
}

pub fn resolve(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    ticket: Ticket,
    request: &ResolveRequest,
) -> Result<Ticket, ApiError> {
    ensure_may_work(ctx, &ticket)?;
    let (from, to) = transition(&ticket, Action::Resolve)?;
    check_outcome(ticket.kind, request.outcome, request.refund_cents)?;
    let order = check_refund(conn, &ticket, request.refund_cents)?;
    let mut after = ticket.clone();
    after.state = to;
    after.outcome = Some(request.outcome);
    after.refund_cents = request.refund_cents;
    after.resolution_note = request.note.as_deref().map(str::trim).map(str::to_owned);
    after.resolved_at = Some(ctx.now);
    after.next_follow_up_at = None;
    let mut data = json!({"action": Action::Resolve, "outcome": request.outcome, "refund_cents": request.refund_cents, "note": request.note});
    if let Some(order) = &order {
        // Before the ticket settles, so that the tier it refreshes sees the order's status.
        order.apply(conn, ctx)?;
        data["order"] = order.recorded();
    }
    let issuer = ctx.surveys.as_ref().ok_or_else(|| {
        ApiError::Internal("a resolution was attempted without the survey settings".into())
    })?;
    let stored = settle(conn, ctx, after, (from, to), data)?;
    // The buyer's survey of this resolution, in the same transaction (and its webhook).
    crate::surveys::store::open(conn, issuer, &stored, ctx.now)?;
    Ok(stored)
}

pub fn close(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    ticket: Ticket,
    request: &CloseRequest,
) -> Result<Ticket, ApiError> {
    ensure_may_work(ctx, &ticket)?;
    let (from, to) = transition(&ticket, Action::Close)?;
    let mut after = ticket.clone();
    after.state = to;
    after.close_reason = Some(request.reason);
    after.resolution_note = request.note.as_deref().map(str::trim).map(str::to_owned);
    after.closed_at = Some(ctx.now);
    after.next_follow_up_at = None;
    settle(
        conn,
        ctx,
        after,
        (from, to),
        json!({"action": Action::Close, "reason": request.reason, "note": request.note}),
    )
}

pub fn reopen(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    ticket: Ticket,
    request: &ReopenRequest,
) -> Result<Ticket, ApiError> {
    if !workflow::may_reopen(ctx.staff()?.role) {
        return Err(ApiError::Forbidden("only leads may reopen a ticket".into()));
    }
    let (from, to) = transition(&ticket, Action::Reopen)?;
    let mut after = ticket.clone();
    after.state = to;
    // The previous ending stays in the timeline; the ticket itself is open again and due now.
    after.outcome = None;
    after.refund_cents = None;
    after.close_reason = None;
    after.resolution_note = None;
    after.resolved_at = None;
    after.closed_at = None;
    // The buyer's satisfaction belonged to the episode that ended: the next resolution gets
    // its own score, and the old one stays in the timeline (here and in its own event).
    after.satisfaction_score = None;
    after.satisfaction_comment = None;
    after.satisfaction_at = None;
    after.satisfaction_source = None;
    after.satisfaction_reasons = None;
    after.next_follow_up_at = Some(ctx.now);
    let previous_satisfaction = ticket.satisfaction_score.map(|score| {
        json!({"score": score, "comment": ticket.satisfaction_comment,
               "source": ticket.satisfaction_source.unwrap_or(SatisfactionSource::Staff),
               "reasons": SatisfactionReason::parse_stored(ticket.satisfaction_reasons.as_deref())})
    });
    // An unanswered survey of the ended episode records nothing any more.
    crate::surveys::store::withdraw_pending(conn, ticket.id, ctx.now)?;
    let mut data = json!({"action": Action::Reopen, "reason": request.reason.trim(),
           "previous": {"outcome": ticket.outcome, "refund_cents": ticket.refund_cents,
                        "close_reason": ticket.close_reason, "satisfaction": previous_satisfaction}});
    // A reopened ticket's refund no longer counts on its order until it is resolved again:
    // the order shows what the tickets that stand refunded.
    if let (Some(_), Some(order_id)) = (ticket.refund_cents, ticket.order_id) {
        let order = orders::get(conn, ticket.shop_id, order_id)?;
        let refunded_cents = store::refunds_on_order(conn, order_id, ticket.id)?;
        let status = crate::orders::rules::status_after_refunds(
            order.status,
            order.total_cents,
            refunded_cents,
        );
        let order = OrderAfterRefunds {
            order,
            refunded_cents,
            status,
        };
        order.apply(conn, ctx)?;
        data["order"] = order.recorded();
    }
    settle(conn, ctx, after, (from, to), data)
}

pub fn assign(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    ticket: Ticket,
    request: &AssignRequest,
) -> Result<Ticket, ApiError> {
    let staff = ctx.staff()?;
    if !workflow::may_assign(
        staff.role,
        UserId(staff.user_id),
        ticket.assignee_id.map(UserId),
        request.assignee_id.map(UserId),
    ) {
        return Err(ApiError::Forbidden(
            "agents may only take unassigned tickets for themselves; leads assign and reassign"
                .into(),
        ));
    }
    if request.assignee_id == ticket.assignee_id {
        return Ok(ticket);
    }
    if let Some(id) = request.assignee_id {
        store::check_assignable(conn, ticket.shop_id, id)?;
    }
    let mut after = ticket.clone();
    after.assignee_id = request.assignee_id;
    let stored = store::save(conn, &after)?;
    record_event(
        conn,
        &stored,
        ctx.actor_id(),
        EventKind::Assigned,
        None,
        None,
        json!({"before": ticket.assignee_id, "after": request.assignee_id, "automatic": false}),
    )?;
    Ok(stored)
}

/// Records the buyer's satisfaction on a resolved ticket: typed in by staff (the
/// assignee once, a lead may correct it) or answered by the buyer through the survey
/// (`ctx.caller` is then `Principal::Buyer`, and the survey, answerable once per
/// resolution, is the permission). A buyer's answer supersedes a staff entry for the same
/// resolution, and no staff member may overwrite it. One path for both: the ticket, the
/// timeline entry, the webhook and the tier follow alike.
pub fn record_satisfaction(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    ticket: Ticket,
    request: &SatisfactionRequest,
) -> Result<Ticket, ApiError> {
    if ticket.state != State::Resolved {
        return Err(ApiError::conflict(
            ProblemKind::NotResolved,
            format!(
                "satisfaction is recorded on resolved tickets; this one is {}",
                ticket.state
            ),
        ));
    }
    let already = ticket.satisfaction_score.is_some();
    let by_buyer = ticket.satisfaction_source == Some(SatisfactionSource::Buyer);
    let source = match ctx.caller {
        Principal::Buyer(_) if already && by_buyer => {
            return Err(ApiError::conflict(
                ProblemKind::SatisfactionRecorded,
                "the buyer already answered for this resolution",
            ));
        }
        Principal::Buyer(_) => SatisfactionSource::Buyer,
        _ => {
            let staff = ctx.staff()?;
            if by_buyer {
                return Err(ApiError::conflict(
                    ProblemKind::SatisfactionRecorded,
                    "the buyer answered the survey for this resolution; their answer stands",
                ));
            }
            if !workflow::may_record_satisfaction(
                staff.role,
                UserId(staff.user_id),
                ticket.assignee_id.map(UserId),
                already,
            ) {
                return Err(if already {
                    ApiError::conflict(
                        ProblemKind::SatisfactionRecorded,
                        "satisfaction is already recorded; a lead may correct it",
                    )
                } else {
                    ApiError::Forbidden(format!("ticket {} is not assigned to you", ticket.id))
                });
            }
            SatisfactionSource::Staff
        }
    };
    let comment = request
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let reasons = SatisfactionReason::store(request.reasons.as_deref().unwrap_or_default());
    if already
        && ticket.satisfaction_score == Some(request.score)
        && ticket.satisfaction_comment == comment
        && ticket.satisfaction_reasons == reasons
        && ticket.satisfaction_source == Some(source)
    {
        return Ok(ticket);
    }
    let mut after = ticket.clone();
    after.satisfaction_score = Some(request.score);
    after.satisfaction_comment = comment.clone();
    after.satisfaction_at = Some(ctx.now);
    after.satisfaction_source = Some(source);
    after.satisfaction_reasons = reasons.clone();
    let stored = store::save(conn, &after)?;
    // A buyer's answer over a staff entry is the buyer's record, not a correction.
    let kind = if already && source == SatisfactionSource::Staff {
        EventKind::SatisfactionCorrected
    } else {
        EventKind::SatisfactionRecorded
    };
    record_event(
        conn,
        &stored,
        ctx.actor_id(),
        kind,
        None,
        None,
        json!({"before": {"score": ticket.satisfaction_score, "comment": ticket.satisfaction_comment,
                          "source": ticket.satisfaction_source,
                          "reasons": SatisfactionReason::parse_stored(ticket.satisfaction_reasons.as_deref())},
               "after": {"score": request.score, "comment": comment, "source": source,
                         "reasons": SatisfactionReason::parse_stored(reasons.as_deref())}}),
    )?;
    ctx.refresh_tier(conn, &stored, "satisfaction")?;
    Ok(stored)
}

/// What the review feed sends for one review.
pub struct ReviewReport<'a> {
    pub customer_id: i64,
    pub order_id: Option<i64>,
    pub title: &'a str,
    pub details: super::NegativeReviewDetails,
    /// The end of the review-revision window, when the platform says.
    pub platform_deadline_at: Option<chrono::DateTime<Utc>>,
}

/// The review feed: opens a negative-review ticket for a review not seen before; for one
/// already on a ticket, brings the ticket's review details up to date (the buyer may have
/// edited the review) without opening a second ticket. Returns the ticket and whether it
/// was created.
pub fn upsert_review(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    report: ReviewReport<'_>,
    auto_assign: AutoAssign,
) -> Result<(Ticket, UpsertOutcome), ApiError> {
    let details = TicketDetails::NegativeReview(report.details);
    let Some((platform, review_id)) = details.review_key() else {
        return Err(ApiError::field("review_id", "is required"));
    };
    let existing = store::review_ticket(conn, ctx.caller.shop_id(), platform, &review_id)?;
    let Some(ticket) = existing else {
        if let Some(why) = details.refuses_opening() {
            return Err(ApiError::field("rating", why));
        }
        let request = CreateTicketRequest {
            kind: super::TicketKind::NegativeReview,
            customer_id: report.customer_id,
            order_id: report.order_id,
            title: report.title.to_owned(),
            description: String::new(),
            details: serde_json::from_str(&details.to_json()).unwrap_or(Value::Null),
            priority: None,
            assignee_id: None,
            platform_deadline_at: report.platform_deadline_at,
        };
        return Ok((
            create(conn, ctx, &request, auto_assign)?,
            UpsertOutcome::Created,
        ));
    };
    let (before, after_details) = (
        stored_details(&ticket.details),
        stored_details(&details.to_json()),
    );
    let deadline = report.platform_deadline_at.map(|at| at.naive_utc());
    let deadline_moved = deadline.is_some() && deadline != ticket.platform_deadline_at;
    if before == after_details && !deadline_moved {
        return Ok((ticket, UpsertOutcome::Unchanged));
    }
    let mut after = store::lock(conn, ticket.shop_id, ticket.id)?;
    let mut changed_before = Map::new();
    let mut changed_after = Map::new();
    if before != after_details {
        after.details = details.to_json();
        changed_before.insert("details".into(), before);
        changed_after.insert("details".into(), after_details);
    }
    if deadline_moved {
        changed_before.insert(
            "platform_deadline_at".into(),
            json!(after.platform_deadline_at.map(|t| t.and_utc())),
        );
        after.platform_deadline_at = deadline;
        changed_after.insert(
            "platform_deadline_at".into(),
            json!(deadline.map(|t| t.and_utc())),
        );
    }
    let stored = store::save(conn, &with_due(after)?)?;
    crate::search::store::index_tickets(conn, &[stored.id])?;
    record_event(
        conn,
        &stored,
        ctx.actor_id(),
        EventKind::Edited,
        None,
        None,
        json!({"before": changed_before, "after": changed_after, "source": "review_feed"}),
    )?;
    Ok((stored, UpsertOutcome::Updated))
}

/// What one ticket of a bulk change came to: its outcome and version, or why it failed.
type BulkItem = Result<(BulkOutcome, i64), ApiError>;

/// Applies one action to many tickets, each through the operation of its single-ticket
/// endpoint (so the workflow table, the timeline entry, the webhook events and the tier
/// refresh are those of one ticket), in the caller's transaction. All or nothing: a ticket
/// that cannot take the action does not stop the others from being tried, so that the
/// report names every one that failed; then the whole change is refused (422
/// `bulk-rejected`), which rolls the caller's transaction back.
pub fn bulk(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    request: &BulkTicketRequest,
) -> Result<BulkTicketAnswer, ApiError> {
    let shop_id = ctx.caller.shop_id();
    let action = BulkTicketAction::parse(request.action.clone())?;
    // The same assignee for every ticket: a bad one is the request's fault, said once.
    if let BulkTicketAction::Assign(AssignRequest {
        assignee_id: Some(id),
    }) = &action
    {
        store::check_assignable(conn, shop_id, *id).map_err(|error| match error {
            ApiError::Validation(mut errors) => {
                for e in &mut errors {
                    e.field = format!("action.{}", e.field);
                }
                ApiError::Validation(errors)
            }
            other => other,
        })?;
    }
    // Re-prioritising is the edit endpoint's change with only a priority.
    let edit_priority = |priority: Priority| UpdateTicketRequest {
        priority: Some(priority),
        ..Default::default()
    };
    // Tickets are locked in id order, as every other bulk change locks them: two
    // overlapping requests then wait for each other instead of deadlocking.
    let mut in_lock_order = request.ticket_ids.clone();
    in_lock_order.sort_unstable();
    let mut items = std::collections::BTreeMap::new();
    for id in in_lock_order {
        // Each ticket in its own savepoint: a failed statement (PostgreSQL then refuses the
        // rest of its transaction) must not cut the report short.
        let item: BulkItem = conn.transaction(|conn| {
            let ticket = store::lock(conn, shop_id, id)?;
            let version = ticket.version;
            let after = match &action {
                BulkTicketAction::Assign(assignment) => assign(conn, ctx, ticket, assignment)?,
                BulkTicketAction::Close(closing) => close(conn, ctx, ticket, closing)?,
                BulkTicketAction::SetPriority(SetPriority { priority }) => {
                    edit(conn, ctx, ticket, &edit_priority(*priority))?
                }
            };
            let outcome = if after.version == version {
                BulkOutcome::Unchanged
            } else {
                BulkOutcome::Changed
            };
            Ok((outcome, after.version))
        });
        if let Err(unavailable @ ApiError::Unavailable(_)) = item {
            // Every later ticket would fail the same way.
            return Err(unavailable);
        }
        items.insert(id, item);
    }
    let failed = items.values().filter(|item| item.is_err()).count();
    let in_request_order = request
        .ticket_ids
        .iter()
        .filter_map(|id| items.remove(id).map(|item| (*id, item)));
    if failed == 0 {
        return Ok(BulkTicketAnswer {
            results: in_request_order
                .filter_map(|(ticket_id, item)| {
                    item.ok().map(|(outcome, version)| BulkTicketResult {
                        ticket_id,
                        outcome,
                        version,
                    })
                })
                .collect(),
        });
    }
    let report = BulkTicketReport {
        failed,
        results: in_request_order
            .map(|(ticket_id, item)| match item {
                Ok((outcome, _)) => BulkTicketReportEntry {
                    ticket_id,
                    outcome: Some(outcome),
                    error: None,
                },
                Err(error) => {
                    if let ApiError::Internal(cause) = &error {
                        tracing::error!(%cause, ticket_id, "bulk ticket change failed");
                    }
                    BulkTicketReportEntry {
                        ticket_id,
                        outcome: None,
                        error: Some(error.to_problem()),
                    }
                }
            })
            .collect(),
    };
    let mut extensions = Map::new();
    extensions.insert(
        "report".into(),
        serde_json::to_value(&report).unwrap_or_default(),
    );
    Err(ApiError::Unprocessable {
        kind: ProblemKind::BulkRejected,
        detail: format!(
            "{failed} of {} tickets cannot take this action; nothing was changed",
            request.ticket_ids.len()
        ),
        extensions,
    })
}

/// Moves the open tickets of `leaving` (a staff member being deactivated, in the caller's
/// transaction) as the admin chose: each ticket through [`assign`], so each gets its own
/// `assigned` timeline entry and webhook event. Returns how many moved.
///
/// A colleague named to take them must be an active staff member other than the one
/// leaving. `least_loaded` asks again for every ticket, so the tickets spread over the
/// agents instead of all going to whoever had the fewest at the start; the one leaving is
/// never chosen.
pub fn hand_over_open_tickets(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    leaving: i64,
    handover: OpenTicketsHandover,
) -> Result<usize, ApiError> {
    let shop_id = ctx.caller.shop_id();
    if let OpenTicketsHandover::Reassign { to } = handover {
        if to == leaving {
            return Err(ApiError::field(
                "open_tickets.to",
                "must be a colleague, not the staff member who is leaving",
            ));
        }
        store::check_assignable(conn, shop_id, to).map_err(|error| match error {
            ApiError::Validation(errors) => ApiError::Validation(
                errors
                    .into_iter()
                    .map(|e| crate::error::FieldError::new("open_tickets.to", e.message))
                    .collect(),
            ),
            other => other,
        })?;
    }
    let ids = store::open_ticket_ids_of(conn, shop_id, leaving)?;
    for &id in &ids {
        let assignee_id = match handover {
            OpenTicketsHandover::Unassign => None,
            OpenTicketsHandover::Reassign { to } => Some(to),
            OpenTicketsHandover::LeastLoaded => {
                match store::least_loaded_agent_other_than(conn, shop_id, leaving)? {
                    Some(agent) => Some(agent),
                    None => {
                        return Err(ApiError::field(
                            "open_tickets.action",
                            "no other active agent is left to take the tickets; unassign them or reassign them to a colleague",
                        ));
                    }
                }
            }
        };
        let ticket = store::lock(conn, shop_id, id)?;
        assign(conn, ctx, ticket, &AssignRequest { assignee_id })?;
    }
    Ok(ids.len())
}
