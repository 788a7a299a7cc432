//! Changes to staff accounts that a rule guards: the shop keeps an active admin, and a
//! deactivation revokes the account's tokens for good.

use chrono::Utc;

use super::store::{self, UserChanges};
use super::{UpdateUserRequest, User, removes_active_admin};
use crate::db::DbConnection;
use crate::error::{ApiError, ProblemKind};
use crate::ids::ShopId;

/// Applies an admin's change to a staff account, keeping at least one active admin.
///
/// The admins are locked before anything is read: two admins removing each other at the
/// same moment are then served one after the other, and the second sees that it would
/// remove the last one.
pub fn apply_update(
    conn: &mut DbConnection,
    shop_id: ShopId,
    id: i64,
    request: &UpdateUserRequest,
) -> Result<User, ApiError> {
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
    store::update(
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
    )
}
