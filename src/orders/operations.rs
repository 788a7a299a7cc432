//! What can be done to a customer's purchase history: each change checked, stored, and
//! followed by the customer's tier, in the caller's transaction.

use super::rules;
use super::store;
use super::{CreateOrderRequest, Order, UpdateOrderRequest};
use crate::customers::store as customer_store;
use crate::db::DbConnection;
use crate::error::{ApiError, ProblemKind};
use crate::ids::{CustomerId, ShopId};
use crate::tiers::TierSettings;

/// Records an order of a live customer (409 `duplicate` when the channel already has that
/// order number). Every way in (the API, the order feed, the CSV import) comes through
/// here, so the caps of `rules` hold for every stored order.
pub fn create(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: CustomerId,
    request: &CreateOrderRequest,
    tiers: &TierSettings,
) -> Result<Order, ApiError> {
    let customer = customer_store::get(conn, shop_id, customer_id.0)?;
    customer.ensure_live()?;
    let total = rules::order_total(&request.items, request.total_cents)?;
    check_salesperson(conn, shop_id, request.salesperson_id)?;
    let order_no = request.external_order_no.trim();
    if store::find_by_external(conn, shop_id, request.channel, order_no)?.is_some() {
        return Err(ApiError::conflict(
            ProblemKind::Duplicate,
            format!(
                "{} order {order_no} is already recorded",
                request.channel.as_str()
            ),
        ));
    }
    let order = store::insert(conn, shop_id, customer_id, request, total)?;
    crate::tiers::operations::refresh(conn, shop_id, customer_id, tiers, "order")?;
    Ok(order)
}

/// Applies a change to an order of a live customer; `None` when nothing would change (so
/// re-imports are no-ops).
pub fn update(
    conn: &mut DbConnection,
    order: &Order,
    request: &UpdateOrderRequest,
    tiers: &TierSettings,
) -> Result<Option<Order>, ApiError> {
    if let Some(items) = &request.items {
        rules::check_items(items)?;
    }
    if let Some(total) = request.total_cents {
        rules::check_total(total)?;
    }
    ensure_customer_live(conn, order)?;
    check_salesperson(conn, order.shop_id, request.salesperson_id.flatten())?;
    let updated = store::update(conn, order, request)?;
    if updated.is_some() {
        refresh_tier(conn, order, tiers)?;
    }
    Ok(updated)
}

/// Deletes an order; the customer's summary and tier follow.
pub fn delete(
    conn: &mut DbConnection,
    order: &Order,
    tiers: &TierSettings,
) -> Result<(), ApiError> {
    ensure_customer_live(conn, order)?;
    // A ticket's evidence may not vanish under it: say which tickets hold the order.
    let tickets = store::referring_tickets(conn, order.id)?;
    if !tickets.is_empty() {
        let mut extensions = serde_json::Map::new();
        extensions.insert("ticket_ids".into(), tickets.clone().into());
        let listed: Vec<String> = tickets.iter().map(i64::to_string).collect();
        return Err(ApiError::Conflict {
            kind: ProblemKind::Reference,
            detail: format!(
                "order {} is linked to ticket {}; it cannot be deleted while a ticket refers to it",
                order.id,
                listed.join(", ")
            ),
            extensions,
        });
    }
    store::delete(conn, order)?;
    refresh_tier(conn, order, tiers)
}

/// A salesperson is a staff account of the shop (of any role, active or not: past orders
/// name staff who have left); anything else is a 422 on `salesperson_id`.
fn check_salesperson(
    conn: &mut DbConnection,
    shop_id: ShopId,
    salesperson_id: Option<i64>,
) -> Result<(), ApiError> {
    let Some(id) = salesperson_id else {
        return Ok(());
    };
    match crate::users::store::get_in_shop(conn, shop_id, id) {
        Ok(_) => Ok(()),
        Err(ApiError::NotFound(_)) => Err(ApiError::field(
            "salesperson_id",
            format!("no staff member {id} in this shop"),
        )),
        Err(other) => Err(other),
    }
}

/// An archived customer's file is read-only, orders included.
fn ensure_customer_live(conn: &mut DbConnection, order: &Order) -> Result<(), ApiError> {
    customer_store::get(conn, order.shop_id, order.customer_id)?.ensure_live()
}

fn refresh_tier(
    conn: &mut DbConnection,
    order: &Order,
    tiers: &TierSettings,
) -> Result<(), ApiError> {
    crate::tiers::operations::refresh(
        conn,
        order.shop_id,
        CustomerId(order.customer_id),
        tiers,
        "order",
    )
}
