//! Upserts by natural key, shared by the CSV import and the integration feeds: customers
//! by contact handle, orders by channel + external order number. Run each in its own
//! savepoint: a refused upsert leaves nothing behind.

use std::collections::BTreeSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::contacts::ContactKind;
use super::orders::{self, CreateOrderRequest, UpdateOrderRequest};
use super::{CreateCustomerRequest, UpdateCustomerRequest, queries, tags};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::tiers::engine::TierSettings;

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpsertOutcome {
    Created,
    Updated,
    /// Identical to what is on file: nothing written.
    Unchanged,
}

/// Normalised contact handles naming a customer.
pub type Handles = Vec<(ContactKind, String)>;

/// The one customer `handles` point to: `None` when none does, 409 `duplicate-contact`
/// when they point to several.
pub fn owner_by_handles(
    conn: &mut DbConnection,
    shop_id: i64,
    handles: &[(ContactKind, String)],
) -> Result<Option<i64>, ApiError> {
    let mut owners = BTreeSet::new();
    for (kind, value) in handles {
        if let Some(owner) = queries::owner_of(conn, shop_id, *kind, value)? {
            owners.insert(owner);
        }
    }
    if owners.len() > 1 {
        let ids: Vec<String> = owners.iter().map(i64::to_string).collect();
        return Err(ApiError::conflict(
            "duplicate-contact",
            format!(
                "the handles belong to different customers ({})",
                ids.join(", ")
            ),
        ));
    }
    Ok(owners.into_iter().next())
}

/// Creates the customer, or merges the row into the one its handles point to: fields
/// given in the row replace those on file, handles and tags are added, nothing is removed.
pub fn upsert_customer(
    conn: &mut DbConnection,
    shop_id: i64,
    request: &CreateCustomerRequest,
) -> Result<(UpsertOutcome, i64), ApiError> {
    let handles = queries::normalized_handles(&request.contacts)?;
    let Some(owner) = owner_by_handles(conn, shop_id, &handles)? else {
        let customer = queries::create(conn, shop_id, request)?;
        return Ok((UpsertOutcome::Created, customer.id));
    };
    let customer = queries::get(conn, shop_id, owner)?;
    let mut all_handles = queries::contacts_of(conn, &[owner])?
        .remove(&owner)
        .unwrap_or_default();
    for handle in &request.contacts {
        all_handles.push(handle.clone());
    }
    let update = UpdateCustomerRequest {
        name: Some(request.name.clone()),
        contacts: Some(all_handles),
        address: request.address.clone().map(Some),
        birthday: request.birthday.map(Some),
        source: Some(request.source),
        notes: Some(request.notes.clone()).filter(|n| !n.is_empty()),
    };
    let (_, changed) = queries::update(conn, &customer, &update)?;
    let tag_ids: Vec<i64> = tags::ensure(conn, shop_id, &request.tags)?
        .iter()
        .map(|t| t.id)
        .collect();
    let tagged = tags::attach(conn, &tag_ids, &[owner])? > 0;
    if tagged && !changed {
        queries::touch(conn, &[owner])?;
    }
    let outcome = if changed || tagged {
        UpsertOutcome::Updated
    } else {
        UpsertOutcome::Unchanged
    };
    Ok((outcome, owner))
}

/// Creates the order, or updates the one on file with the same channel and number; the
/// customer is the one `customer_handles` all point to.
pub fn upsert_order(
    conn: &mut DbConnection,
    shop_id: i64,
    customer_handles: &[(ContactKind, String)],
    request: &CreateOrderRequest,
    tiers: &TierSettings,
) -> Result<(UpsertOutcome, i64), ApiError> {
    let mut owners = BTreeSet::new();
    for (kind, value) in customer_handles {
        match queries::owner_of(conn, shop_id, *kind, value)? {
            Some(owner) => {
                owners.insert(owner);
            }
            None => {
                return Err(ApiError::NotFound(format!(
                    "no customer with {} {value}; import customers first",
                    kind.as_str()
                )));
            }
        }
    }
    if owners.len() != 1 {
        return Err(ApiError::conflict(
            "duplicate-contact",
            "the customer handles point to different customers",
        ));
    }
    let customer_id = owners.into_iter().next().unwrap_or_default();
    match orders::find_by_external(
        conn,
        shop_id,
        request.channel,
        request.external_order_no.trim(),
    )? {
        None => {
            let order = orders::create(conn, shop_id, customer_id, request, tiers)?;
            Ok((UpsertOutcome::Created, order.id))
        }
        Some(existing) if existing.customer_id != customer_id => Err(ApiError::conflict(
            "duplicate",
            format!(
                "order {} is recorded for customer {}",
                existing.external_order_no, existing.customer_id
            ),
        )),
        Some(existing) => {
            queries::get(conn, shop_id, customer_id)?.ensure_live()?;
            let change = UpdateOrderRequest {
                status: request.status,
                items: Some(request.items.clone()),
                total_cents: request.total_cents,
                ordered_at: Some(request.ordered_at),
            };
            let outcome = match orders::update(conn, &existing, &change, tiers)? {
                Some(_) => UpsertOutcome::Updated,
                None => UpsertOutcome::Unchanged,
            };
            Ok((outcome, existing.id))
        }
    }
}
