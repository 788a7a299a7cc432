//! What can be done to a customer as a whole, beyond editing their file: archiving and
//! restoring, each followed by the customer's tier and RFM score, in the caller's
//! transaction. (Merging lives in `merge`.)

use super::{Customer, store};
use crate::db::DbConnection;
use crate::error::{ApiError, ProblemKind};
use crate::ids::{CustomerId, ShopId};
use crate::tiers::TierSettings;

/// Archives a customer (already archived: left as is). An archived buyer is no longer
/// RFM-scored, from now on rather than from the next full recomputation.
pub fn archive(
    conn: &mut DbConnection,
    shop_id: ShopId,
    id: i64,
    tiers: &TierSettings,
) -> Result<Customer, ApiError> {
    let customer = store::get(conn, shop_id, id)?;
    let archived = store::set_archived(conn, &customer, true)?;
    crate::tiers::operations::refresh(conn, shop_id, CustomerId(id), tiers, "archived")?;
    Ok(archived)
}

/// Brings an archived customer back, scored again as of now; a customer merged into
/// another cannot come back (409): their handles, orders and tickets live on the survivor.
pub fn restore(
    conn: &mut DbConnection,
    shop_id: ShopId,
    id: i64,
    tiers: &TierSettings,
) -> Result<Customer, ApiError> {
    let customer = store::get(conn, shop_id, id)?;
    if let Some(survivor) = customer.merged_into_id {
        return Err(ApiError::conflict(
            ProblemKind::CustomerArchived,
            format!("customer {id} was merged into customer {survivor}; open that one"),
        ));
    }
    store::set_archived(conn, &customer, false)?;
    crate::tiers::operations::refresh(conn, shop_id, CustomerId(id), tiers, "restored")?;
    // Read again: the refresh may have moved the standing the view shows.
    store::get(conn, shop_id, id)
}
