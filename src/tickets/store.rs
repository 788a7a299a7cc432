//! Queries on tickets, their contact attempts and their timeline.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{Channel, Priority, Ticket, TicketKind};
use super::{EventKind, NewContact, NewTicket, State, TicketSummary};
use crate::auth::roles::Role;
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::schema::{
    customers, surveys, ticket_contacts, ticket_events, ticket_targets, tickets, users,
};
use crate::search::matchers::{Matcher, TicketMatch};
use crate::search::store as search_store;
use crate::search::{Rank, Terms};

pub fn get(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<Ticket, ApiError> {
    tickets::table
        .filter(tickets::shop_id.eq(shop_id))
        .find(id)
        .select(Ticket::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("ticket"))
}

/// Reads the ticket for a change, holding its row until the transaction ends: a no-op
/// update takes PostgreSQL's row lock (SQLite writers already take turns), so two
/// concurrent changes are applied one after the other, never over each other.
pub fn lock(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<Ticket, ApiError> {
    diesel::update(tickets::table.filter(tickets::shop_id.eq(shop_id)).find(id))
        .set(tickets::version.eq(tickets::version))
        .execute(conn)?;
    get(conn, shop_id, id)
}

/// Writes every mutable column of `after` and bumps the version.
pub fn save(conn: &mut DbConnection, after: &Ticket) -> Result<Ticket, ApiError> {
    Ok(diesel::update(tickets::table.find(after.id))
        .set((
            tickets::order_id.eq(after.order_id),
            tickets::title.eq(&after.title),
            tickets::description.eq(&after.description),
            tickets::details.eq(&after.details),
            tickets::review_platform.eq(&after.review_platform),
            tickets::review_external_id.eq(&after.review_external_id),
            tickets::state.eq(&after.state),
            tickets::priority.eq(after.priority),
            tickets::assignee_id.eq(after.assignee_id),
            tickets::first_call_due_at.eq(after.first_call_due_at),
            tickets::first_contact_at.eq(after.first_contact_at),
            tickets::last_contact_at.eq(after.last_contact_at),
            tickets::next_follow_up_at.eq(after.next_follow_up_at),
            tickets::due_at.eq(after.due_at),
            tickets::outcome.eq(&after.outcome),
            tickets::refund_cents.eq(after.refund_cents),
            tickets::resolution_note.eq(&after.resolution_note),
            tickets::close_reason.eq(&after.close_reason),
            tickets::resolved_at.eq(after.resolved_at),
            tickets::closed_at.eq(after.closed_at),
            tickets::satisfaction_score.eq(after.satisfaction_score),
            tickets::satisfaction_comment.eq(&after.satisfaction_comment),
            tickets::satisfaction_at.eq(after.satisfaction_at),
            tickets::satisfaction_source.eq(after.satisfaction_source),
            tickets::satisfaction_reasons.eq(&after.satisfaction_reasons),
            tickets::waiting_on.eq(after.waiting_on),
            tickets::waiting_since.eq(after.waiting_since),
            tickets::platform_deadline_at.eq(after.platform_deadline_at),
            tickets::version.eq(after.version + 1),
            tickets::updated_at.eq(Utc::now().naive_utc()),
        ))
        .returning(tickets::all_columns)
        .get_result(conn)?)
}

pub fn insert(conn: &mut DbConnection, new: &NewTicket<'_>) -> Result<Ticket, ApiError> {
    let ticket: Ticket = diesel::insert_into(tickets::table)
        .values(new)
        .returning(tickets::all_columns)
        .get_result(conn)?;
    search_store::index_tickets(conn, &[ticket.id])?;
    Ok(ticket)
}

pub fn insert_contact(conn: &mut DbConnection, new: &NewContact<'_>) -> Result<(), ApiError> {
    diesel::insert_into(ticket_contacts::table)
        .values(new)
        .execute(conn)?;
    Ok(())
}

/// The ticket a review (platform, review id) already opened, if any: the pair is unique
/// per shop (`tickets_review_key`).
pub fn review_ticket(
    conn: &mut DbConnection,
    shop_id: ShopId,
    platform: Channel,
    review_id: &str,
) -> Result<Option<Ticket>, ApiError> {
    Ok(tickets::table
        .filter(tickets::shop_id.eq(shop_id))
        .filter(tickets::review_platform.eq(platform))
        .filter(tickets::review_external_id.eq(review_id))
        .select(Ticket::as_select())
        .first(conn)
        .optional()?)
}

/// The names a page of tickets or events shows: its buyers and its staff, each read in
/// one query for the whole page.
#[derive(Debug, Default)]
pub struct Names {
    pub customers: BTreeMap<i64, super::TicketCustomer>,
    pub staff: BTreeMap<i64, String>,
}

impl Names {
    pub fn load(
        conn: &mut DbConnection,
        customer_ids: &[i64],
        staff_ids: &[i64],
    ) -> Result<Names, ApiError> {
        let mut names = Names::default();
        if !customer_ids.is_empty() {
            let rows: Vec<(i64, String, Option<String>, crate::tiers::Tier, bool)> =
                customers::table
                    .filter(customers::id.eq_any(customer_ids))
                    .select((
                        customers::id,
                        customers::name,
                        customers::primary_phone,
                        customers::tier,
                        customers::at_risk,
                    ))
                    .load(conn)?;
            for (id, name, phone, tier, at_risk) in rows {
                let brief = super::TicketCustomer {
                    id,
                    name,
                    phone_masked: phone.as_deref().map(crate::search::mask_phone),
                    tier,
                    at_risk,
                };
                names.customers.insert(id, brief);
            }
        }
        names.staff = crate::users::store::display_names(conn, staff_ids)?;
        Ok(names)
    }
}

/// Views of tickets with their buyers' and assignees' names (two queries for the lot).
pub fn views(
    conn: &mut DbConnection,
    list: &[Ticket],
    now: NaiveDateTime,
) -> Result<Vec<super::TicketView>, ApiError> {
    let customer_ids: Vec<i64> = list.iter().map(|t| t.customer_id).collect();
    let staff_ids: Vec<i64> = list.iter().filter_map(|t| t.assignee_id).collect();
    let names = Names::load(conn, &customer_ids, &staff_ids)?;
    list.iter().map(|t| t.view(now, &names)).collect()
}

/// The view of one ticket, with names.
pub fn view(
    conn: &mut DbConnection,
    ticket: &Ticket,
    now: NaiveDateTime,
) -> Result<super::TicketView, ApiError> {
    Ok(views(conn, std::slice::from_ref(ticket), now)?.remove(0))
}

/// Appends one entry to the ticket's timeline.
pub fn insert_event(
    conn: &mut DbConnection,
    ticket: &Ticket,
    actor_id: Option<i64>,
    kind: EventKind,
    (from_state, to_state): (Option<State>, Option<State>),
    data: &Value,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::insert_into(ticket_events::table)
        .values((
            ticket_events::shop_id.eq(ticket.shop_id),
            ticket_events::ticket_id.eq(ticket.id),
            ticket_events::actor_id.eq(actor_id),
            ticket_events::kind.eq(kind),
            ticket_events::from_state.eq(from_state),
            ticket_events::to_state.eq(to_state),
            ticket_events::data.eq(data.to_string()),
            ticket_events::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ticket_events)]
pub struct Event {
    pub id: i64,
    pub shop_id: ShopId,
    pub ticket_id: i64,
    pub actor_id: Option<i64>,
    pub kind: EventKind,
    pub from_state: Option<State>,
    pub to_state: Option<State>,
    pub data: String,
    pub created_at: NaiveDateTime,
}

/// One entry of a ticket's timeline. Documented per kind (`tickets::contract`): `data`
/// follows `kind`.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub id: i64,
    pub kind: EventKind,
    /// Who did it (absent for automatic changes).
    pub actor_id: Option<i64>,
    /// The actor's display name (absent for automatic changes).
    pub actor_name: Option<String>,
    pub from_state: Option<State>,
    pub to_state: Option<State>,
    /// What changed: `before` and `after` values, or the contact attempt.
    pub data: Value,
    pub at: DateTime<Utc>,
}

crate::pagination::named_page!(TicketEventPage, EventView);

/// A ticket's events after the event `after` (oldest first), at most `limit`.
pub fn events(
    conn: &mut DbConnection,
    ticket_id: i64,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Event>, ApiError> {
    let mut query = ticket_events::table
        .filter(ticket_events::ticket_id.eq(ticket_id))
        .order(ticket_events::id.asc())
        .select(Event::as_select())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(ticket_events::id.gt(after));
    }
    Ok(query.load(conn)?)
}

impl Event {
    pub fn view(&self, names: &Names) -> EventView {
        EventView {
            id: self.id,
            kind: self.kind,
            actor_id: self.actor_id,
            actor_name: self.actor_id.and_then(|id| names.staff.get(&id).cloned()),
            from_state: self.from_state,
            to_state: self.to_state,
            data: serde_json::from_str(&self.data).unwrap_or(Value::Null),
            at: self.created_at.and_utc(),
        }
    }
}

/// An active staff member of the shop who may hold tickets, or 422.
pub fn check_assignable(
    conn: &mut DbConnection,
    shop_id: ShopId,
    user_id: i64,
) -> Result<(), ApiError> {
    let found: Option<(String, bool)> = users::table
        .filter(users::shop_id.eq(shop_id))
        .find(user_id)
        .select((users::role, users::active))
        .first(conn)
        .optional()?;
    match found {
        Some((_, true)) => Ok(()),
        Some((_, false)) => Err(ApiError::field(
            "assignee_id",
            "this staff member is deactivated",
        )),
        None => Err(ApiError::field("assignee_id", "no such staff member")),
    }
}

/// The active agent with the fewest open tickets (lowest id on ties), for automatic assignment.
pub fn least_loaded_agent(
    conn: &mut DbConnection,
    shop_id: ShopId,
) -> Result<Option<i64>, ApiError> {
    least_loaded_among(conn, shop_id, None)
}

/// As [`least_loaded_agent`], never choosing `except` (a staff member handing their
/// tickets over).
pub fn least_loaded_agent_other_than(
    conn: &mut DbConnection,
    shop_id: ShopId,
    except: i64,
) -> Result<Option<i64>, ApiError> {
    least_loaded_among(conn, shop_id, Some(except))
}

fn least_loaded_among(
    conn: &mut DbConnection,
    shop_id: ShopId,
    except: Option<i64>,
) -> Result<Option<i64>, ApiError> {
    let agents: Vec<i64> = users::table
        .filter(users::shop_id.eq(shop_id))
        .filter(users::role.eq(Role::Agent))
        .filter(users::active.eq(true))
        .order(users::id.asc())
        .select(users::id)
        .load::<i64>(conn)?
        .into_iter()
        .filter(|id| Some(*id) != except)
        .collect();
    if agents.is_empty() {
        return Ok(None);
    }
    let loads: BTreeMap<i64, i64> = tickets::table
        .filter(tickets::shop_id.eq(shop_id))
        .filter(tickets::state.eq_any(State::OPEN))
        .filter(tickets::assignee_id.eq_any(&agents))
        .group_by(tickets::assignee_id)
        .select((tickets::assignee_id, diesel::dsl::count_star()))
        .load::<(Option<i64>, i64)>(conn)?
        .into_iter()
        .filter_map(|(id, n)| id.map(|id| (id, n)))
        .collect();
    Ok(agents
        .into_iter()
        .min_by_key(|id| (loads.get(id).copied().unwrap_or(0), *id)))
}

/// The ids of the open tickets assigned to `assignee_id`, lowest first (the order they are
/// locked and handed over in). Served by the (shop_id, assignee_id) prefix of
/// `tickets_shop_assignee_due_idx`; one person's tickets are few.
pub fn open_ticket_ids_of(
    conn: &mut DbConnection,
    shop_id: ShopId,
    assignee_id: i64,
) -> Result<Vec<i64>, ApiError> {
    Ok(tickets::table
        .filter(tickets::shop_id.eq(shop_id))
        .filter(tickets::assignee_id.eq(assignee_id))
        .filter(tickets::state.eq_any(State::OPEN))
        .order(tickets::id.asc())
        .select(tickets::id)
        .load(conn)?)
}

/// Whose tickets a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    Nobody,
    Staff(i64),
}

#[derive(Debug, Clone)]
pub struct TicketFilter {
    pub shop_id: ShopId,
    pub states: Vec<State>,
    pub kind: Option<TicketKind>,
    pub assignee: Option<AssigneeFilter>,
    pub customer_id: Option<i64>,
    pub priority: Option<Priority>,
    /// New tickets whose first-call deadline passed before this instant.
    pub first_call_overdue_at: Option<NaiveDateTime>,
    /// Tickets in progress whose next follow-up falls before this instant.
    pub follow_up_due_before: Option<NaiveDateTime>,
    pub created_from: Option<NaiveDateTime>,
    pub created_to: Option<NaiveDateTime>,
    /// Open tickets with no contact attempt since this instant (or, never contacted, opened before it).
    pub no_contact_since: Option<NaiveDateTime>,
    /// `q`: the customer's names and handles, order numbers, review ids, ticket text.
    pub search: Option<Terms>,
    /// Open tickets with a service-level target still pending and due before this instant
    /// ("about to breach": now plus the policies' warning).
    pub target_due_before: Option<NaiveDateTime>,
    /// Open tickets a breach escalated.
    pub escalated: bool,
    /// Open tickets with a breached target.
    pub breached: bool,
    /// The tickets about to breach, once read (`with_due_soon_read`).
    pub due_soon_ids: Option<Vec<i64>>,
    /// Resolved tickets whose buyer survey is still unanswered, made before the first
    /// instant and not expired at the second, and nobody nudged the buyer yet.
    pub survey_unanswered: Option<(NaiveDateTime, NaiveDateTime)>,
}

impl TicketFilter {
    /// Everything in the shop: no condition but the shop's.
    pub fn of_shop(shop_id: ShopId) -> Self {
        TicketFilter {
            shop_id,
            states: Vec::new(),
            kind: None,
            assignee: None,
            customer_id: None,
            priority: None,
            first_call_overdue_at: None,
            follow_up_due_before: None,
            created_from: None,
            created_to: None,
            no_contact_since: None,
            search: None,
            target_due_before: None,
            escalated: false,
            breached: false,
            due_soon_ids: None,
            survey_unanswered: None,
        }
    }
}

type TicketQuery = tickets::BoxedQuery<'static, MultiBackend>;

/// The tickets with a pending target due before `before`, stated like the pending index's
/// condition so both planners use it (a macro: one statement, used as a sub-select and read).
macro_rules! pending_due_before {
    ($shop_id:expr, $before:expr) => {
        ticket_targets::table
            .filter(ticket_targets::due_at.lt($before))
            .filter(ticket_targets::shop_id.eq($shop_id))
            .filter(ticket_targets::met_at.is_null())
            .filter(ticket_targets::breached_at.is_null())
            .filter(ticket_targets::dropped_at.is_null())
            .filter(ticket_targets::due_at.is_not_null())
            .select(ticket_targets::ticket_id)
    };
}

/// At most this many tickets about to breach are read first and looked up by id.
const DUE_SOON_LOOKUP: i64 = 5_000;

/// The filter with its "about to breach" tickets read first: the breach sweep keeps the
/// pending targets due soon few, so reading them from their index and looking their
/// tickets up by id beats walking every open ticket in due order to meet them (25 ms at
/// 1,000,000 tickets on SQLite). A backlog larger than `DUE_SOON_LOOKUP` (the sweep has
/// not run) stays a sub-select.
fn with_due_soon_read<'f>(
    conn: &mut DbConnection,
    filter: &'f TicketFilter,
) -> Result<std::borrow::Cow<'f, TicketFilter>, ApiError> {
    let Some(before) = filter.target_due_before else {
        return Ok(std::borrow::Cow::Borrowed(filter));
    };
    if filter.due_soon_ids.is_some() {
        return Ok(std::borrow::Cow::Borrowed(filter));
    }
    // In due order, so that both planners walk the pending index and stop early.
    // PostgreSQL otherwise takes its estimate (targets neither met, breached nor dropped:
    // the product of three columns' NULL shares, 460,000 of 2,150,000 when 1,600 match)
    // for a reason to scan the table until the LIMIT (375 ms at 1,000,000 tickets).
    let mut ids: Vec<i64> = pending_due_before!(filter.shop_id, before)
        .order(ticket_targets::due_at.asc())
        .limit(DUE_SOON_LOOKUP + 1)
        .load(conn)?;
    if ids.len() as i64 > DUE_SOON_LOOKUP {
        return Ok(std::borrow::Cow::Borrowed(filter));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(std::borrow::Cow::Owned(TicketFilter {
        due_soon_ids: Some(ids),
        ..filter.clone()
    }))
}

impl TicketFilter {
    /// Whether only open tickets can match, which all have a due time: the due-order then
    /// needs no NULL handling and the (state, due_at) indexes serve it directly.
    fn only_open(&self) -> bool {
        let open_states = !self.states.is_empty() && self.states.iter().all(|s| s.is_open());
        open_states
            || self.first_call_overdue_at.is_some()
            || self.follow_up_due_before.is_some()
            || self.no_contact_since.is_some()
            || self.target_due_before.is_some()
            || self.escalated
            || self.breached
    }
}

fn filtered(filter: &TicketFilter) -> TicketQuery {
    let mut query = tickets::table
        .filter(tickets::shop_id.eq(filter.shop_id))
        .into_boxed();
    if !filter.states.is_empty() {
        query = query.filter(tickets::state.eq_any(filter.states.clone()));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(tickets::kind.eq(kind));
    }
    match filter.assignee {
        Some(AssigneeFilter::Nobody) => query = query.filter(tickets::assignee_id.is_null()),
        Some(AssigneeFilter::Staff(id)) => query = query.filter(tickets::assignee_id.eq(id)),
        None => {}
    }
    if let Some(customer_id) = filter.customer_id {
        query = query.filter(tickets::customer_id.eq(customer_id));
    }
    if let Some(priority) = filter.priority {
        query = query.filter(tickets::priority.eq(priority.rank()));
    }
    if let Some(now) = filter.first_call_overdue_at {
        query = query
            .filter(tickets::state.eq(State::New))
            .filter(tickets::first_call_due_at.lt(now));
    }
    if let Some(before) = filter.follow_up_due_before {
        query = query
            .filter(tickets::state.eq_any([State::FirstCall.as_str(), State::FollowUp.as_str()]))
            .filter(tickets::next_follow_up_at.lt(before));
    }
    if let Some(since) = filter.no_contact_since {
        query = query.filter(tickets::state.eq_any(State::OPEN)).filter(
            tickets::last_contact_at
                .lt(since)
                .or(tickets::last_contact_at
                    .is_null()
                    .and(tickets::created_at.lt(since))),
        );
    }
    if let Some(ids) = &filter.due_soon_ids {
        query = query
            .filter(tickets::state.eq_any(State::OPEN))
            .filter(tickets::id.eq_any(ids.clone()));
    } else if let Some(before) = filter.target_due_before {
        query = query
            .filter(tickets::state.eq_any(State::OPEN))
            .filter(tickets::id.eq_any(pending_due_before!(filter.shop_id, before)));
    }
    // Breaches and escalations pile up over the years, mostly on settled tickets: the
    // open tickets are walked in the list's order and each probed by its targets' index,
    // rather than every breach read first.
    if filter.escalated {
        query = query
            .filter(tickets::state.eq_any(State::OPEN))
            .filter(diesel::dsl::exists(
                ticket_targets::table
                    .filter(ticket_targets::ticket_id.eq(tickets::id))
                    .filter(ticket_targets::escalated_at.is_not_null()),
            ));
    }
    if filter.breached {
        query = query
            .filter(tickets::state.eq_any(State::OPEN))
            .filter(diesel::dsl::exists(
                ticket_targets::table
                    .filter(ticket_targets::ticket_id.eq(tickets::id))
                    .filter(ticket_targets::breached_at.is_not_null()),
            ));
    }
    if let Some((made_before, now)) = filter.survey_unanswered {
        // Stated like the unanswered index's condition, so both planners use it.
        let unanswered = surveys::table
            .filter(surveys::shop_id.eq(filter.shop_id))
            .filter(surveys::answered_at.is_null())
            .filter(surveys::withdrawn_at.is_null())
            .filter(surveys::nudged_at.is_null())
            .filter(surveys::created_at.lt(made_before))
            .filter(surveys::expires_at.gt(now))
            .select(surveys::ticket_id);
        query = query
            .filter(tickets::state.eq(State::Resolved))
            .filter(tickets::id.eq_any(unanswered));
    }
    if let Some(from) = filter.created_from {
        query = query.filter(tickets::created_at.ge(from));
    }
    if let Some(to) = filter.created_to {
        query = query.filter(tickets::created_at.lt(to));
    }
    query
}

/// Queue order. Ties are broken by id, so pages are stable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketSort {
    /// Soonest due first (default); settled tickets, which are due never, last.
    #[default]
    Due,
    /// Most pressing priority first, then oldest.
    Priority,
    /// Most recently opened first.
    Newest,
}

/// Where a page starts: the sort key of the last ticket served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "s")]
pub enum TicketCursor {
    Due {
        due: Option<NaiveDateTime>,
        id: i64,
    },
    /// A search page: the rank and id of the last match served.
    Ranked {
        rank: Rank,
        id: i64,
    },
    Priority {
        rank: i32,
        id: i64,
    },
    Newest {
        id: i64,
    },
}

impl TicketCursor {
    pub fn of(sort: TicketSort, ticket: &Ticket) -> TicketCursor {
        match sort {
            TicketSort::Due => TicketCursor::Due {
                due: ticket.due_at,
                id: ticket.id,
            },
            TicketSort::Priority => TicketCursor::Priority {
                rank: ticket.priority.rank(),
                id: ticket.id,
            },
            TicketSort::Newest => TicketCursor::Newest { id: ticket.id },
        }
    }

    /// Whether the time it carries, if any, is one a ticket can have (a cursor is a
    /// parameter like any other: forged far years are refused, not sent to the database).
    pub fn within_calendar(&self) -> bool {
        match self {
            TicketCursor::Due { due: Some(due), .. } => crate::extract::within_calendar(*due),
            _ => true,
        }
    }
}

pub fn list(
    conn: &mut DbConnection,
    filter: &TicketFilter,
    sort: TicketSort,
    cursor: Option<TicketCursor>,
    limit: i64,
) -> Result<Vec<Ticket>, ApiError> {
    let filter = &*with_due_soon_read(conn, filter)?;
    let mut query = filtered(filter).select(Ticket::as_select()).limit(limit);
    if sort == TicketSort::Due && filter.only_open() {
        // Always true for open tickets; it lets the partial (shop_id, due_at) index serve the order.
        query = query.filter(tickets::due_at.is_not_null());
    }
    query = match sort {
        TicketSort::Due if filter.only_open() => {
            query.order((tickets::due_at.asc(), tickets::id.asc()))
        }
        // `due_at IS NULL` first in the key puts settled tickets last on both backends,
        // which otherwise disagree on where NULLs sort.
        TicketSort::Due => query.order((
            tickets::due_at.is_null().asc(),
            tickets::due_at.asc(),
            tickets::id.asc(),
        )),
        TicketSort::Priority => query.order((tickets::priority.asc(), tickets::id.asc())),
        TicketSort::Newest => query.order(tickets::id.desc()),
    };
    query = match (sort, cursor) {
        (_, None) => query,
        (TicketSort::Due, Some(TicketCursor::Due { due: Some(due), id })) => query.filter(
            tickets::due_at
                .gt(due)
                .or(tickets::due_at.eq(due).and(tickets::id.gt(id)))
                .or(tickets::due_at.is_null()),
        ),
        (TicketSort::Due, Some(TicketCursor::Due { due: None, id })) => {
            query.filter(tickets::due_at.is_null().and(tickets::id.gt(id)))
        }
        (TicketSort::Priority, Some(TicketCursor::Priority { rank, id })) => query.filter(
            tickets::priority
                .gt(rank)
                .or(tickets::priority.eq(rank).and(tickets::id.gt(id))),
        ),
        (TicketSort::Newest, Some(TicketCursor::Newest { id })) => query.filter(tickets::id.lt(id)),
        _ => {
            return Err(ApiError::field(
                "cursor",
                "belongs to a list with another sort",
            ));
        }
    };
    Ok(query.load(conn)?)
}

/// A page of a ticket search (`filter.search` set): leading matches first, then the
/// others, newest first within each; every other filter of the list holds.
pub fn search(
    conn: &mut DbConnection,
    filter: &TicketFilter,
    cursor: Option<(Rank, i64)>,
    limit: i64,
) -> Result<Vec<(Rank, Ticket)>, ApiError> {
    let Some(terms) = filter.search.clone() else {
        return Ok(Vec::new());
    };
    let plain = TicketFilter {
        search: None,
        ..filter.clone()
    };
    let boxed = |ways: Vec<TicketMatch>| -> Vec<Box<dyn Matcher>> {
        ways.into_iter()
            .map(|way| Box::new(way.of(filter.shop_id)) as Box<dyn Matcher>)
            .collect()
    };
    let ranks = vec![
        (Rank::Leading, boxed(TicketMatch::leading(&terms))),
        (Rank::Inside, boxed(TicketMatch::inside(&terms))),
    ];
    let mut keep = |conn: &mut DbConnection, batch: &[i64]| {
        Ok(filtered(&plain)
            .filter(tickets::id.eq_any(batch.to_vec()))
            .select(tickets::id)
            .load(conn)?
            .into_iter()
            .collect())
    };
    let page = search_store::ranked_page(
        conn,
        ranks,
        &mut keep,
        cursor,
        usize::try_from(limit).unwrap_or(0),
    )?;
    let ids = search_store::page_ids(&page);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Ticket> = tickets::table
        .filter(tickets::id.eq_any(ids))
        .select(Ticket::as_select())
        .load(conn)?;
    Ok(search_store::in_page_order(page, rows, |row| row.id))
}

pub fn count(conn: &mut DbConnection, filter: &TicketFilter) -> Result<i64, ApiError> {
    let filter = &*with_due_soon_read(conn, filter)?;
    Ok(filtered(filter).count().get_result(conn)?)
}

/// Open tickets assigned to `user_id` that fall due before `until`, soonest first.
pub fn due_for(
    conn: &mut DbConnection,
    shop_id: ShopId,
    user_id: i64,
    until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Ticket>, ApiError> {
    Ok(tickets::table
        .filter(tickets::shop_id.eq(shop_id))
        .filter(tickets::assignee_id.eq(user_id))
        .filter(tickets::due_at.lt(until))
        .order((tickets::due_at.asc(), tickets::id.asc()))
        .limit(limit)
        .select(Ticket::as_select())
        .load(conn)?)
}

pub fn summaries(
    conn: &mut DbConnection,
    customer_ids: &[i64],
) -> Result<BTreeMap<i64, TicketSummary>, ApiError> {
    let rows: Vec<(i64, State, i64, Option<NaiveDateTime>)> = tickets::table
        .filter(tickets::customer_id.eq_any(customer_ids))
        .group_by((tickets::customer_id, tickets::state))
        .select((
            tickets::customer_id,
            tickets::state,
            diesel::dsl::count_star(),
            diesel::dsl::max(tickets::created_at),
        ))
        .load(conn)?;
    let mut out: BTreeMap<i64, TicketSummary> = BTreeMap::new();
    for (customer_id, state, n, last) in rows {
        let summary = out.entry(customer_id).or_default();
        match state {
            State::Resolved => summary.resolved += n,
            State::Closed => summary.closed += n,
            State::New | State::FirstCall | State::FollowUp => summary.open += n,
        }
        let last = last.map(|t| t.and_utc());
        if last > summary.last_opened_at {
            summary.last_opened_at = last;
        }
    }
    Ok(out)
}

/// What resolved tickets other than `except` refunded on `order_id`, in cents (saturating:
/// each refund is capped, and an order has few tickets).
pub fn refunds_on_order(
    conn: &mut DbConnection,
    order_id: i64,
    except: i64,
) -> Result<i64, ApiError> {
    let refunds: Vec<Option<i64>> = tickets::table
        .filter(tickets::order_id.eq(order_id))
        .filter(tickets::id.ne(except))
        .filter(tickets::state.eq(State::Resolved))
        .select(tickets::refund_cents)
        .load(conn)?;
    Ok(refunds
        .into_iter()
        .flatten()
        .fold(0i64, i64::saturating_add))
}
