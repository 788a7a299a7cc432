//! Merging duplicate buyers: the same buyer arrived twice (a Taobao account and a WeChat
//! ID). Everything the duplicate has moves to the survivor (handles, tags, orders, tickets,
//! notes, tier history); the duplicate is archived with a pointer to the survivor; both
//! files get a note saying so; the survivor's summary and tier are recomputed; integrations
//! hear `customer.merged`. One transaction; a preview (`dry_run`) runs the same merge and
//! rolls it back, so it shows exactly what would happen.
//!
//! Conflicts are settled by rule, not by chance:
//! - handles are unique per kind in a shop, so the two never share one; the survivor keeps
//!   its first phone as the primary one and gains the duplicate's handles after its own;
//! - the survivor's profile wins; an empty address or birthday is filled from the
//!   duplicate, and the duplicate's free-text notes are appended;
//! - two open tickets of the same kind about the same case (the same complaint opened once
//!   per account: the same order, or both without one; for negative reviews also the same
//!   platform) become one: the duplicate's ticket is closed as `duplicate`, with a note
//!   naming the survivor's oldest such ticket, through the ordinary close operation. (A
//!   review with a review id is on one ticket only, by the unique review key.)

use std::collections::BTreeMap;

use chrono::Utc;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use validator::Validate;

use super::{Customer, CustomerView, store};
use crate::audit::{AuditAction, NewAuditEntry, store as audit_store};
use crate::auth::Principal;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::ids::CustomerId;
use crate::schema::{
    customer_contacts, customer_tags, customers, notes, orders, tickets, tier_changes,
};
use crate::tickets::{CloseReason, CloseRequest, TicketKind};
use crate::webhooks::EventType;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"duplicate_id": 1043}))]
pub struct MergeRequest {
    /// The customer merged into this one (archived afterwards, pointing here).
    pub duplicate_id: i64,
}

#[derive(Debug, Default, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MergeQuery {
    /// `true`: show what would move and change nothing.
    pub dry_run: Option<bool>,
}

/// How many rows of each kind moved (or would move) to the survivor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct MergeCounts {
    pub handles: i64,
    pub tags: i64,
    pub orders: i64,
    pub tickets: i64,
    pub notes: i64,
    pub tier_changes: i64,
}

/// What a merge did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MergeReport {
    pub survivor_id: i64,
    pub duplicate_id: i64,
    /// `true`: a preview; nothing was changed.
    pub dry_run: bool,
    pub moved: MergeCounts,
    /// The duplicate's open tickets closed as `duplicate` of a survivor's ticket about the
    /// same order (`{"closed": id, "kept": id}`).
    pub closed_as_duplicate: Vec<ClosedDuplicate>,
    /// The survivor after the merge (as it would be, for a preview).
    pub survivor: CustomerView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClosedDuplicate {
    pub closed: i64,
    pub kept: i64,
}

/// An open ticket, as the duplicate-ticket rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTicket {
    pub id: i64,
    pub kind: TicketKind,
    pub order_id: Option<i64>,
    /// A negative review's platform.
    pub platform: Option<String>,
}

impl OpenTicket {
    fn case(&self) -> (TicketKind, Option<i64>, Option<String>) {
        (self.kind, self.order_id, self.platform.clone())
    }
}

/// The duplicate's open tickets that repeat a survivor's open ticket (same kind, same order
/// or both without one, same review platform), each with the survivor's oldest such ticket.
pub fn repeated_tickets(survivor: &[OpenTicket], duplicate: &[OpenTicket]) -> Vec<ClosedDuplicate> {
    let mut kept: BTreeMap<(TicketKind, Option<i64>, Option<String>), i64> = BTreeMap::new();
    for t in survivor {
        kept.entry(t.case())
            .and_modify(|id| *id = (*id).min(t.id))
            .or_insert(t.id);
    }
    duplicate
        .iter()
        .filter_map(|t| {
            kept.get(&t.case()).map(|&keep| ClosedDuplicate {
                closed: t.id,
                kept: keep,
            })
        })
        .collect()
}

fn open_tickets(conn: &mut DbConnection, customer_id: i64) -> Result<Vec<OpenTicket>, ApiError> {
    let rows: Vec<(i64, TicketKind, Option<i64>, String)> = tickets::table
        .filter(tickets::customer_id.eq(customer_id))
        .filter(tickets::state.eq_any(crate::tickets::State::OPEN))
        .order(tickets::id.asc())
        .select((
            tickets::id,
            tickets::kind,
            tickets::order_id,
            tickets::details,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, order_id, details)| {
            let platform = (kind == TicketKind::NegativeReview)
                .then(|| serde_json::from_str::<serde_json::Value>(&details).ok())
                .flatten()
                .and_then(|d| {
                    d.get("platform")
                        .and_then(|p| p.as_str())
                        .map(str::to_owned)
                });
            OpenTicket {
                id,
                kind,
                order_id,
                platform,
            }
        })
        .collect())
}

/// Merges `duplicate_id` into `survivor_id` in the caller's transaction.
pub fn merge(
    conn: &mut DbConnection,
    caller: &Principal,
    settings: &crate::config::Settings,
    survivor_id: i64,
    duplicate_id: i64,
    dry_run: bool,
) -> Result<MergeReport, ApiError> {
    let shop_id = caller.shop_id();
    let staff = caller.require_staff("merge customers")?;
    if survivor_id == duplicate_id {
        return Err(ApiError::field(
            "duplicate_id",
            "must be another customer than the one it is merged into",
        ));
    }
    let survivor = store::get(conn, shop_id, survivor_id)?;
    let duplicate = store::get(conn, shop_id, duplicate_id)
        .map_err(|_| ApiError::field("duplicate_id", "no such customer"))?;
    survivor.ensure_live()?;
    duplicate.ensure_live()?;
    let now = Utc::now().naive_utc();

    // Which tickets repeat each other, told while both customers still own their own;
    // they are closed once they are the survivor's (its tier then follows).
    let closing = repeated_tickets(
        &open_tickets(conn, survivor.id)?,
        &open_tickets(conn, duplicate.id)?,
    );
    let mut moved = MergeCounts::default();
    // Handles: after the survivor's own, so its primary phone stays first.
    let mut handles: Vec<(super::contacts::ContactKind, String)> = Vec::new();
    for of in [survivor.id, duplicate.id] {
        let rows: Vec<(super::contacts::ContactKind, String)> = customer_contacts::table
            .filter(customer_contacts::customer_id.eq(of))
            .order(customer_contacts::id.asc())
            .select((customer_contacts::kind, customer_contacts::value))
            .load(conn)?;
        if of == duplicate.id {
            moved.handles = rows.len() as i64;
        }
        handles.extend(rows);
    }
    diesel::delete(
        customer_contacts::table.filter(customer_contacts::customer_id.eq(duplicate.id)),
    )
    .execute(conn)?;
    store::set_contacts(conn, shop_id, CustomerId(survivor.id), &handles)?;

    // Tags: the union, except that in a single-choice group the survivor's own tag stays
    // and the duplicate's is dropped (a customer holds one tag of such a group).
    let theirs: Vec<crate::tags::Tag> = customer_tags::table
        .inner_join(crate::schema::tags::table)
        .filter(customer_tags::customer_id.eq(duplicate.id))
        .select(crate::tags::Tag::as_select())
        .load(conn)?;
    let groups: Vec<String> = theirs.iter().filter_map(|t| t.tag_group.clone()).collect();
    let single: Vec<String> = crate::tags::store::single_choice_among(conn, shop_id, &groups)?
        .into_iter()
        .collect();
    let held: Vec<String> =
        crate::tags::store::held_in_groups(conn, shop_id, &[CustomerId(survivor.id)], &single)?
            .into_iter()
            .filter_map(|(_, tag)| tag.tag_group)
            .collect();
    let theirs: Vec<crate::ids::TagId> = theirs
        .iter()
        .filter(|t| !t.tag_group.as_ref().is_some_and(|g| held.contains(g)))
        .map(|t| crate::ids::TagId(t.id))
        .collect();
    moved.tags = crate::tags::store::attach(conn, &theirs, &[CustomerId(survivor.id)])? as i64;
    diesel::delete(customer_tags::table.filter(customer_tags::customer_id.eq(duplicate.id)))
        .execute(conn)?;

    moved.orders = diesel::update(orders::table.filter(orders::customer_id.eq(duplicate.id)))
        .set(orders::customer_id.eq(survivor.id))
        .execute(conn)? as i64;
    moved.tickets = diesel::update(tickets::table.filter(tickets::customer_id.eq(duplicate.id)))
        .set(tickets::customer_id.eq(survivor.id))
        .execute(conn)? as i64;
    moved.notes = diesel::update(notes::table.filter(notes::customer_id.eq(duplicate.id)))
        .set(notes::customer_id.eq(survivor.id))
        .execute(conn)? as i64;
    moved.tier_changes =
        diesel::update(tier_changes::table.filter(tier_changes::customer_id.eq(duplicate.id)))
            .set(tier_changes::customer_id.eq(survivor.id))
            .execute(conn)? as i64;

    let ctx = crate::tickets::operations::Context {
        caller,
        now,
        sla: std::sync::Arc::new(crate::sla::store::load(
            conn,
            shop_id,
            &settings.tickets.deadlines,
        )?),
        tiers: settings.tiers,
        surveys: None,
    };
    for pair in &closing {
        let ticket = crate::tickets::store::lock(conn, shop_id, pair.closed)?;
        let request = CloseRequest {
            reason: CloseReason::Duplicate,
            note: Some(format!(
                "customer {} merged into {}: ticket {} is the same case",
                duplicate.id, survivor.id, pair.kept
            )),
        };
        crate::tickets::operations::close(conn, &ctx, ticket, &request)?;
    }

    // The survivor's profile wins; gaps are filled from the duplicate.
    let notes_text = match (survivor.notes.trim(), duplicate.notes.trim()) {
        (own, "") => own.to_owned(),
        ("", theirs) => theirs.to_owned(),
        (own, theirs) => format!("{own}\n{theirs}"),
    };
    diesel::update(customers::table.find(survivor.id))
        .set((
            customers::address.eq(survivor.address.clone().or(duplicate.address.clone())),
            customers::birthday.eq(survivor.birthday.or(duplicate.birthday)),
            customers::birthday_mmdd.eq(survivor.birthday_mmdd.or(duplicate.birthday_mmdd)),
            customers::notes.eq(notes_text),
            customers::last_contacted_at.eq(later(
                survivor.last_contacted_at,
                duplicate.last_contacted_at,
            )),
            customers::updated_at.eq(now),
        ))
        .execute(conn)?;
    diesel::update(customers::table.find(duplicate.id))
        .set((
            customers::archived_at.eq(now),
            customers::merged_into_id.eq(survivor.id),
            customers::primary_phone.eq(None::<String>),
            customers::updated_at.eq(now),
        ))
        .execute(conn)?;
    crate::search::store::index_customers(conn, &[survivor.id, duplicate.id])?;
    crate::orders::store::refresh_summary(conn, CustomerId(survivor.id))?;
    crate::orders::store::refresh_summary(conn, CustomerId(duplicate.id))?;
    // Both: the duplicate, archived and without purchases now, is no longer scored.
    for id in [survivor.id, duplicate.id] {
        crate::tiers::operations::refresh(conn, shop_id, CustomerId(id), &settings.tiers, "merge")?;
    }

    // Both files say what happened.
    let said = format!(
        "customer {} merged into {}: {} handles, {} orders, {} tickets, {} notes moved",
        duplicate.id, survivor.id, moved.handles, moved.orders, moved.tickets, moved.notes
    );
    for on in [survivor.id, duplicate.id] {
        crate::notes::store::insert(conn, shop_id, on, None, staff.user_id, &said, now)?;
    }
    let payload = json!({
        "survivor_id": survivor.id,
        "duplicate_id": duplicate.id,
        "moved": moved,
        "closed_as_duplicate": closing,
    });
    crate::webhooks::store::emit(conn, shop_id, EventType::CustomerMerged, &payload, now)?;
    if !dry_run {
        audit_store::record(
            conn,
            &NewAuditEntry {
                shop_id,
                actor: &caller.subject(),
                action: AuditAction::CustomersMerged,
                details: &json!({"survivor_id": survivor.id, "duplicate_id": duplicate.id, "moved": moved}),
                row_count: Some(moved.orders + moved.tickets),
                address: None,
            },
            now,
        )?;
    }
    let after: Customer = store::get(conn, shop_id, survivor.id)?;
    let view = store::views(conn, vec![after])?.remove(0);
    Ok(MergeReport {
        survivor_id: survivor.id,
        duplicate_id: duplicate.id,
        dry_run,
        moved,
        closed_as_duplicate: closing,
        survivor: view,
    })
}

fn later(
    a: Option<chrono::NaiveDateTime>,
    b: Option<chrono::NaiveDateTime>,
) -> Option<chrono::NaiveDateTime> {
    a.max(b)
}

/// Why the merge's savepoint was rolled back: a failure, or a preview that must leave
/// nothing behind.
enum Rollback {
    Failed(ApiError),
    Preview,
}

impl From<diesel::result::Error> for Rollback {
    fn from(e: diesel::result::Error) -> Self {
        Rollback::Failed(e.into())
    }
}

/// The merge in a savepoint of the caller's transaction: kept, or (`dry_run`) rolled back
/// after it ran, so the preview is exactly what the merge would do.
pub fn merge_or_preview(
    conn: &mut DbConnection,
    caller: &Principal,
    settings: &crate::config::Settings,
    survivor_id: i64,
    duplicate_id: i64,
    dry_run: bool,
) -> Result<MergeReport, ApiError> {
    let mut report = None;
    let outcome = conn.transaction::<(), Rollback, _>(|conn| {
        let done = merge(conn, caller, settings, survivor_id, duplicate_id, dry_run)
            .map_err(Rollback::Failed)?;
        report = Some(done);
        if dry_run {
            Err(Rollback::Preview)
        } else {
            Ok(())
        }
    });
    match (outcome, report) {
        (Ok(()) | Err(Rollback::Preview), Some(report)) => Ok(report),
        (Err(Rollback::Failed(e)), _) => Err(e),
        _ => Err(ApiError::Internal("merge left no report".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: i64, kind: TicketKind, order_id: Option<i64>, platform: Option<&str>) -> OpenTicket {
        OpenTicket {
            id,
            kind,
            order_id,
            platform: platform.map(str::to_owned),
        }
    }

    #[test]
    fn the_same_complaint_is_kept_once_on_the_survivors_oldest_ticket() {
        use TicketKind::*;
        let survivor = [
            t(1, Return, Some(7), None),
            t(2, Return, Some(7), None),
            t(3, Repair, None, None),
            t(4, NegativeReview, None, Some("taobao")),
        ];
        let duplicate = [
            t(10, Return, Some(7), None),
            t(11, Repair, Some(7), None),
            t(12, Repair, None, None),
            t(13, NegativeReview, None, Some("wechat")),
            t(14, NegativeReview, None, Some("taobao")),
            t(15, Return, Some(8), None),
        ];
        assert_eq!(
            repeated_tickets(&survivor, &duplicate),
            vec![
                ClosedDuplicate {
                    closed: 10,
                    kept: 1
                },
                ClosedDuplicate {
                    closed: 12,
                    kept: 3
                },
                ClosedDuplicate {
                    closed: 14,
                    kept: 4
                },
            ]
        );
        assert!(repeated_tickets(&[], &duplicate).is_empty());
    }
}
