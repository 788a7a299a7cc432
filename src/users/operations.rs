//! Changes to staff accounts that a rule guards: the shop keeps an active admin, a
//! deactivation revokes the account's tokens for good, and nobody leaves with open
//! tickets nobody will work.

use chrono::Utc;

use super::store::{self, UserChanges};
use super::{UpdateUserRequest, User, removes_active_admin};
use crate::db::DbConnection;
use crate::error::{ApiError, ProblemKind};
use crate::tickets::bulk::OpenTicketsHandover;
use crate::tickets::operations::{Context, hand_over_open_tickets};
use crate::tickets::store as ticket_store;

/// What an admin's change did.
pub struct UserUpdate {
    pub user: User,
    /// Where the staff member's open tickets went, and how many there were.
    pub handover: Option<(OpenTicketsHandover, usize)>,
}

/// Applies an admin's change to a staff account, keeping at least one active admin, and
/// moves a leaving staff member's open tickets as the admin chose.
///
/// The admins are locked before anything is read: two admins removing each other at the
/// same moment are then served one after the other, and the second sees that it would
/// remove the last one.
pub fn apply_update(
    conn: &mut DbConnection,
    ctx: &Context<'_>,
    id: i64,
    request: &UpdateUserRequest,
) -> Result<UserUpdate, ApiError> {
    let shop_id = ctx.caller.shop_id();
    let handover = request
        .open_tickets
        .clone()
        .filter(|value| !value.is_null())
        .map(OpenTicketsHandover::parse)
        .transpose()?;
    if handover.is_some() && request.active != Some(false) {
        return Err(ApiError::field(
            "open_tickets",
            "goes with \"active\": false: it says where a leaving staff member's open tickets go",
        ));
    }
    let active_admins = store::lock_active_admins(conn, shop_id)?;
    let user = store::get_in_shop(conn, shop_id, id)?;
    let before = (user.role, user.active);
    let after = (
        request.role.unwrap_or(before.0),
        request.active.unwrap_or(before.1),
    );
    if removes_active_admin(before, after) && active_admins.len() <= 1 {
        return Err(ApiError::conflict(
            ProblemKind::LastAdmin,
            "this is the shop's last active admin; make another admin first",
        ));
    }
    let deactivated = before.1 && !after.1;
    if deactivated && handover.is_none() {
        let open = ticket_store::open_ticket_ids_of(conn, shop_id, id)?.len();
        if open > 0 {
            return Err(ApiError::field(
                "open_tickets",
                format!(
                    "staff member {id} holds {open} open ticket{}; say where they go: {{\"action\": \"unassign\"}}, {{\"action\": \"reassign\", \"to\": <staff id>}} or {{\"action\": \"least_loaded\"}}",
                    if open == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    // Deactivated first: a staff member who is leaving can then take none of the tickets.
    let user = store::update(
        conn,
        id,
        &UserChanges {
            display_name: request.display_name.as_ref().map(|n| n.trim().to_owned()),
            role: request.role,
            active: request.active,
            // Deactivation revokes tokens for good: reactivating must not revive them.
            token_generation: deactivated.then_some(user.token_generation + 1),
            updated_at: Some(Utc::now().naive_utc()),
            ..Default::default()
        },
    )?;
    let handover = match handover {
        Some(handover) => Some((handover, hand_over_open_tickets(conn, ctx, id, handover)?)),
        None => None,
    };
    Ok(UserUpdate { user, handover })
}
