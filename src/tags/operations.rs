//! Tag use cases that also touch the customer file: putting tags on and taking them off
//! customers, one or many at once. Each runs in the caller's transaction.

use std::collections::BTreeSet;

use super::{BulkTagRequest, BulkTagResult, TagView, store};
use crate::customers::store as customer_store;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::ids::{CustomerId, ShopId, TagId};

/// Adds and removes tags on many customers. All or nothing: an unknown or archived
/// customer refuses the whole request before anything is written.
pub fn bulk(
    conn: &mut DbConnection,
    shop_id: ShopId,
    request: &BulkTagRequest,
) -> Result<BulkTagResult, ApiError> {
    let ids: Vec<i64> = request
        .customer_ids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let live: BTreeSet<i64> = customer_store::live_ids(conn, shop_id, &ids)?
        .into_iter()
        .collect();
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| !live.contains(id))
        .map(|id| id.to_string())
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::field(
            "customer_ids",
            format!("unknown or archived customers: {}", unknown.join(", ")),
        ));
    }
    let customers: Vec<CustomerId> = ids.iter().copied().map(CustomerId).collect();
    let to_add: Vec<TagId> = store::ensure(conn, shop_id, &request.add)?
        .iter()
        .map(|t| TagId(t.id))
        .collect();
    let added = store::attach(conn, &to_add, &customers)?;
    let mut to_remove = Vec::new();
    for name in &request.remove {
        if let Some(tag) = store::find_by_name(conn, shop_id, name.trim())? {
            to_remove.push(TagId(tag.id));
        }
    }
    let removed = store::detach(conn, &to_remove, &customers)?;
    customer_store::touch(conn, &ids)?;
    Ok(BulkTagResult {
        customers: ids.len(),
        added,
        removed,
    })
}

/// Puts tags on one live customer (unknown tags are created); returns the customer's tags.
pub fn add_to_customer(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: CustomerId,
    names: &[String],
) -> Result<Vec<TagView>, ApiError> {
    let customer = customer_store::get(conn, shop_id, customer_id.0)?;
    customer.ensure_live()?;
    let tag_ids: Vec<TagId> = store::ensure(conn, shop_id, names)?
        .iter()
        .map(|t| TagId(t.id))
        .collect();
    store::attach(conn, &tag_ids, &[customer_id])?;
    customer_store::touch(conn, &[customer_id.0])?;
    Ok(store::of_customers(conn, &[customer_id.0])?
        .remove(&customer_id.0)
        .unwrap_or_default())
}

/// Takes one tag off one live customer; the customer counts as changed only if it had it.
pub fn remove_from_customer(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: CustomerId,
    tag_id: TagId,
) -> Result<(), ApiError> {
    let customer = customer_store::get(conn, shop_id, customer_id.0)?;
    customer.ensure_live()?;
    let tag = store::get(conn, shop_id, tag_id.0)?;
    if store::detach(conn, &[TagId(tag.id)], &[customer_id])? > 0 {
        customer_store::touch(conn, &[customer_id.0])?;
    }
    Ok(())
}
