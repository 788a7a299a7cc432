//! A shop's service-level settings as stored: the calendar and the policies as the JSON
//! the API takes, one row per shop (none: the defaults).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::calendar::{Calendar, CalendarDoc, Pause};
use super::policy::{Policies, Target};
use super::rules::Sla;
use super::{TargetKind, TicketTarget};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::schema::{sla_settings, ticket_targets, ticket_waits};
use crate::tickets::workflow::DeadlinePolicy;
use crate::tickets::{Ticket, WaitingOn};

/// The stored documents (`None`: the default).
fn stored(
    conn: &mut DbConnection,
    shop_id: ShopId,
) -> Result<(Option<String>, Option<String>), ApiError> {
    Ok(sla_settings::table
        .filter(sla_settings::shop_id.eq(shop_id))
        .select((sla_settings::calendar, sla_settings::policies))
        .first(conn)
        .optional()?
        .unwrap_or((None, None)))
}

/// A stored document that no longer reads (written by a newer version, edited by hand)
/// is a server fault, named, not a silent fallback to defaults.
fn corrupt(what: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!(
        "the stored service-level {what} cannot be read: {why}"
    ))
}

/// The shop's calendar as set (or the default).
pub fn calendar(conn: &mut DbConnection, shop_id: ShopId) -> Result<CalendarDoc, ApiError> {
    match stored(conn, shop_id)?.0 {
        Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("calendar", e)),
        None => Ok(CalendarDoc::default()),
    }
}

/// The shop's policies as set (or the defaults, from the deadline settings).
pub fn policies(
    conn: &mut DbConnection,
    shop_id: ShopId,
    defaults: &DeadlinePolicy,
) -> Result<Policies, ApiError> {
    match stored(conn, shop_id)?.1 {
        Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("policies", e)),
        None => Ok(Policies::from_settings(defaults)),
    }
}

/// The shop's service levels, validated.
pub fn load(
    conn: &mut DbConnection,
    shop_id: ShopId,
    defaults: &DeadlinePolicy,
) -> Result<Sla, ApiError> {
    let doc = calendar(conn, shop_id)?;
    let calendar = Calendar::from_doc(&doc).map_err(|errors| {
        corrupt(
            "calendar",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    Ok(Sla {
        calendar,
        policies: policies(conn, shop_id, defaults)?,
    })
}

/// Which document a write replaces.
pub enum Setting<'a> {
    Calendar(&'a CalendarDoc),
    Policies(&'a Policies),
}

fn to_json(doc: &impl serde::Serialize) -> Result<String, ApiError> {
    serde_json::to_string(doc)
        .map_err(|e| ApiError::Internal(format!("service levels to JSON: {e}")))
}

/// Stores one document (checked by the caller), keeping the other.
pub fn save(
    conn: &mut DbConnection,
    shop_id: ShopId,
    setting: Setting<'_>,
    by: i64,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let (calendar, policies) = stored(conn, shop_id)?;
    let (calendar, policies) = match setting {
        Setting::Calendar(doc) => (Some(to_json(doc)?), policies),
        Setting::Policies(doc) => (calendar, Some(to_json(doc)?)),
    };
    let updated = diesel::update(sla_settings::table.filter(sla_settings::shop_id.eq(shop_id)))
        .set((
            sla_settings::calendar.eq(&calendar),
            sla_settings::policies.eq(&policies),
            sla_settings::updated_at.eq(now),
            sla_settings::updated_by.eq(Some(by)),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(sla_settings::table)
            .values((
                sla_settings::shop_id.eq(shop_id),
                sla_settings::calendar.eq(&calendar),
                sla_settings::policies.eq(&policies),
                sla_settings::updated_at.eq(now),
                sla_settings::updated_by.eq(Some(by)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// How long a replica trusts its copy of a shop's service levels: a change made through
/// another replica applies to deadlines computed there at most this much later (through
/// this replica, at once).
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// A shop's service levels and when they were read.
type Cached = (Instant, Arc<Sla>);

/// Each shop's service levels, read once per `CACHE_TTL` rather than on every write.
#[derive(Clone)]
pub struct SlaCache {
    defaults: DeadlinePolicy,
    shops: Arc<Mutex<HashMap<ShopId, Cached>>>,
}

impl SlaCache {
    pub fn new(defaults: DeadlinePolicy) -> SlaCache {
        SlaCache {
            defaults,
            shops: Arc::default(),
        }
    }

    /// The shop's service levels, from the cache or the database.
    pub fn get(&self, conn: &mut DbConnection, shop_id: ShopId) -> Result<Arc<Sla>, ApiError> {
        if let Some((read_at, sla)) = self.shops.lock().expect("cache lock").get(&shop_id)
            && read_at.elapsed() < CACHE_TTL
        {
            return Ok(Arc::clone(sla));
        }
        let sla = Arc::new(load(conn, shop_id, &self.defaults)?);
        self.shops
            .lock()
            .expect("cache lock")
            .insert(shop_id, (Instant::now(), Arc::clone(&sla)));
        Ok(sla)
    }

    /// Forgets a shop's copy after a change, so the next deadline uses the change.
    pub fn forget(&self, shop_id: ShopId) {
        self.shops.lock().expect("cache lock").remove(&shop_id);
    }

    pub fn defaults(&self) -> &DeadlinePolicy {
        &self.defaults
    }
}

// ---- The targets each ticket is held to (`ticket_targets`) and its waits (`ticket_waits`).

/// The waits of a ticket, as stretches its resolution clock stood still.
pub fn waits(conn: &mut DbConnection, ticket_id: i64) -> Result<Vec<Pause>, ApiError> {
    let rows: Vec<(NaiveDateTime, Option<NaiveDateTime>)> = ticket_waits::table
        .filter(ticket_waits::ticket_id.eq(ticket_id))
        .order(ticket_waits::started_at.asc())
        .select((ticket_waits::started_at, ticket_waits::ended_at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(from, until)| Pause {
            from: from.and_utc(),
            until: until.map(|t| t.and_utc()),
        })
        .collect())
}

/// Opens a wait (the ticket's own columns are the caller's).
pub fn start_wait(
    conn: &mut DbConnection,
    ticket: &Ticket,
    on: WaitingOn,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::insert_into(ticket_waits::table)
        .values((
            ticket_waits::shop_id.eq(ticket.shop_id),
            ticket_waits::ticket_id.eq(ticket.id),
            ticket_waits::waiting_on.eq(on),
            ticket_waits::started_at.eq(at),
        ))
        .execute(conn)?;
    // The resolution clock stops.
    let running = pending(conn, ticket.id, &[TargetKind::Resolution])?;
    diesel::update(ticket_targets::table.filter(ticket_targets::id.eq_any(ids(&running))))
        .set(ticket_targets::due_at.eq(None::<NaiveDateTime>))
        .execute(conn)?;
    Ok(())
}

/// Ends the open wait; the resolution clock runs again, its due time moved by the waits.
pub fn end_wait(
    conn: &mut DbConnection,
    sla: &Sla,
    ticket: &Ticket,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(
        ticket_waits::table
            .filter(ticket_waits::ticket_id.eq(ticket.id))
            .filter(ticket_waits::ended_at.is_null()),
    )
    .set(ticket_waits::ended_at.eq(Some(at)))
    .execute(conn)?;
    let waits = waits(conn, ticket.id)?;
    for target in pending(conn, ticket.id, &[TargetKind::Resolution])? {
        let due = sla.due(
            Target {
                minutes: u32::try_from(target.minutes).unwrap_or(0),
                clock: target.clock,
            },
            target.started_at,
            &waits,
        );
        diesel::update(ticket_targets::table.find(target.id))
            .set(ticket_targets::due_at.eq(due))
            .execute(conn)?;
    }
    Ok(())
}

/// The pending targets of `kinds` of a ticket.
fn pending(
    conn: &mut DbConnection,
    ticket_id: i64,
    kinds: &[TargetKind],
) -> Result<Vec<TicketTarget>, ApiError> {
    Ok(ticket_targets::table
        .filter(ticket_targets::ticket_id.eq(ticket_id))
        .filter(ticket_targets::target.eq_any(kinds.to_vec()))
        .filter(ticket_targets::met_at.is_null())
        .filter(ticket_targets::breached_at.is_null())
        .filter(ticket_targets::dropped_at.is_null())
        .select(TicketTarget::as_select())
        .load(conn)?)
}

fn ids(targets: &[TicketTarget]) -> Vec<i64> {
    targets.iter().map(|t| t.id).collect()
}

/// Starts a target, due at `due` (`None`: its clock is stopped).
pub fn start_target(
    conn: &mut DbConnection,
    ticket: &Ticket,
    kind: TargetKind,
    target: Target,
    started_at: NaiveDateTime,
    due: Option<NaiveDateTime>,
) -> Result<(), ApiError> {
    diesel::insert_into(ticket_targets::table)
        .values((
            ticket_targets::shop_id.eq(ticket.shop_id),
            ticket_targets::ticket_id.eq(ticket.id),
            ticket_targets::target.eq(kind),
            ticket_targets::clock.eq(target.clock),
            ticket_targets::minutes.eq(i32::try_from(target.minutes).unwrap_or(i32::MAX)),
            ticket_targets::started_at.eq(started_at),
            ticket_targets::due_at.eq(due),
        ))
        .execute(conn)?;
    Ok(())
}

/// A ticket's targets of `kinds` that were still pending: met at `at` (with
/// the time their clock counted and whose ticket it was). Returns those met late: their
/// breach is recorded by the caller (`sla::operations`), as the sweep would have.
pub fn meet(
    conn: &mut DbConnection,
    sla: &Sla,
    ticket: &Ticket,
    kinds: &[TargetKind],
    at: NaiveDateTime,
) -> Result<Vec<TicketTarget>, ApiError> {
    let open = pending(conn, ticket.id, kinds)?;
    let waits = if open.is_empty() {
        Vec::new()
    } else {
        waits(conn, ticket.id)?
    };
    let mut late = Vec::new();
    for target in open {
        let counted_waits: &[Pause] = if target.target == TargetKind::Resolution {
            &waits
        } else {
            &[]
        };
        let counted = sla.counted(target.clock, target.started_at, at, counted_waits);
        diesel::update(ticket_targets::table.find(target.id))
            .set((
                ticket_targets::met_at.eq(Some(at)),
                ticket_targets::counted_seconds.eq(Some(counted)),
                ticket_targets::agent_id.eq(ticket.assignee_id),
            ))
            .execute(conn)?;
        if target.due_at.is_some_and(|due| due < at) {
            late.push(target);
        }
    }
    Ok(late)
}

/// Drops the pending targets of `kinds`: the ticket settled before they mattered.
pub fn drop_pending(
    conn: &mut DbConnection,
    ticket_id: i64,
    kinds: &[TargetKind],
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    let open = pending(conn, ticket_id, kinds)?;
    diesel::update(ticket_targets::table.filter(ticket_targets::id.eq_any(ids(&open))))
        .set(ticket_targets::dropped_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}

/// Records a target's breach (at its due time) unless another process did; whether this
/// call recorded it.
pub fn mark_breached(
    conn: &mut DbConnection,
    target: &TicketTarget,
    agent_id: Option<i64>,
) -> Result<bool, ApiError> {
    let Some(due) = target.due_at else {
        return Ok(false);
    };
    let marked = diesel::update(
        ticket_targets::table
            .filter(ticket_targets::id.eq(target.id))
            .filter(ticket_targets::breached_at.is_null()),
    )
    .set((
        ticket_targets::breached_at.eq(Some(due)),
        ticket_targets::agent_id.eq(agent_id),
    ))
    .execute(conn)?;
    Ok(marked == 1)
}

pub fn mark_escalated(
    conn: &mut DbConnection,
    target_id: i64,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(ticket_targets::table.find(target_id))
        .set(ticket_targets::escalated_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}

/// Pending targets due by `until`, soonest first (the breach sweep: `until` = now; the
/// "about to breach" list: now + the warning), from the pending index.
pub fn due_by(
    conn: &mut DbConnection,
    shop_id: Option<ShopId>,
    until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<TicketTarget>, ApiError> {
    let mut query = ticket_targets::table
        .filter(ticket_targets::due_at.le(until))
        .filter(ticket_targets::met_at.is_null())
        .filter(ticket_targets::breached_at.is_null())
        .filter(ticket_targets::dropped_at.is_null())
        .order(ticket_targets::due_at.asc())
        .select(TicketTarget::as_select())
        .limit(limit)
        .into_boxed();
    if let Some(shop_id) = shop_id {
        query = query.filter(ticket_targets::shop_id.eq(shop_id));
    }
    Ok(query.load(conn)?)
}

/// A ticket's targets, oldest first (the ticket view's service levels).
pub fn of_ticket(conn: &mut DbConnection, ticket_id: i64) -> Result<Vec<TicketTarget>, ApiError> {
    Ok(ticket_targets::table
        .filter(ticket_targets::ticket_id.eq(ticket_id))
        .order(ticket_targets::id.asc())
        .select(TicketTarget::as_select())
        .load(conn)?)
}
