//! The breach sweep: pending targets past their due time are recorded as breached, once,
//! at the moment they are found (timeline, `ticket.sla_breached`), and escalated when the
//! shop's policy says so. It runs on its own thread in every server process; two
//! processes sweeping at once record each breach once (`store::mark_breached` only
//! succeeds for one of them).

use chrono::{NaiveDateTime, Utc};
use diesel::Connection;

use super::store::{self, SlaCache};
use crate::db::Db;
use crate::error::ApiError;

/// How often the sweep looks for breaches: the longest a breach waits to be recorded.
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Targets handled per transaction.
const BATCH: i64 = 200;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub breached: usize,
    pub escalated: usize,
}

/// Records every breach due by `now` (and escalates), in batches, each target in its own
/// short transaction with its ticket locked.
pub fn sweep(db: &Db, cache: &SlaCache, now: NaiveDateTime) -> Result<Swept, ApiError> {
    let mut swept = Swept::default();
    loop {
        let due = db.write_blocking(|conn| store::due_by(conn, None, now, BATCH))?;
        let batch = due.len();
        for target in due {
            let escalated = db.write_blocking(|conn| {
                conn.transaction(|conn| {
                    let ticket =
                        crate::tickets::store::lock(conn, target.shop_id, target.ticket_id)?;
                    if !store::mark_breached(conn, &target, ticket.assignee_id)? {
                        return Ok(None);
                    }
                    crate::tickets::operations::record_breach(conn, &ticket, &target)?;
                    let sla = cache.get(conn, target.shop_id)?;
                    let (tier, at_risk) =
                        crate::tiers::store::standing_of(conn, ticket.customer_id)?;
                    let priority_customer =
                        crate::tiers::engine::is_priority_customer(tier, at_risk);
                    let targets =
                        sla.policies
                            .targets(ticket.kind, ticket.priority, priority_customer);
                    let Some(escalation) = targets.escalation else {
                        return Ok(Some(false));
                    };
                    crate::tickets::operations::escalate(conn, ticket, &target, &escalation)?;
                    store::mark_escalated(conn, target.id, now)?;
                    Ok(Some(true))
                })
            })?;
            match escalated {
                Some(true) => {
                    swept.breached += 1;
                    swept.escalated += 1;
                }
                Some(false) => swept.breached += 1,
                None => {}
            }
        }
        if (batch as i64) < BATCH {
            return Ok(swept);
        }
    }
}

/// Starts the sweep thread for the life of the process.
pub fn spawn(db: Db, cache: SlaCache) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sla-sweep".into())
        .spawn(move || {
            loop {
                match sweep(&db, &cache, Utc::now().naive_utc()) {
                    Ok(swept) if swept.breached > 0 => {
                        tracing::info!(
                            breached = swept.breached,
                            escalated = swept.escalated,
                            "service-level breaches recorded"
                        );
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "service-level sweep failed"),
                }
                std::thread::sleep(SWEEP_INTERVAL);
            }
        })
}
