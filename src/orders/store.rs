//! All SQL of orders and their items, including the customer's order summary, which
//! follows every change in the same transaction.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::rules::{SALES_MONTH_OFFSET_MINUTES, items_total, sales_months, summarize};
use super::{
    Channel, CreateOrderRequest, Order, OrderItem, OrderItemInput, OrderStatus, OrderView,
    UpdateOrderRequest,
};
use crate::db::{Backend, DbConnection, clamped_sum};
use crate::error::ApiError;
use crate::ids::{CustomerId, ShopId};
use crate::schema::{customer_sales_months, customers, order_items, orders, tickets};

/// Recomputes `customers.order_count`, `total_spent_cents`, `first_order_at`, `last_order_at`
/// and the buyer's monthly sales (`customer_sales_months`, which the sales report reads).
pub fn refresh_summary(conn: &mut DbConnection, customer_id: CustomerId) -> Result<(), ApiError> {
    // The buyer's row first: a no-op update takes PostgreSQL's row lock (SQLite writers
    // already take turns), so two transactions writing orders of one buyer at once refresh
    // one after the other, each reading the other's order, instead of the later one
    // writing a summary and monthly sales without the earlier one's order.
    diesel::update(customers::table.find(customer_id))
        .set(customers::order_count.eq(customers::order_count))
        .execute(conn)?;
    let rows: Vec<(i64, OrderStatus, i64, NaiveDateTime)> = orders::table
        .filter(orders::customer_id.eq(customer_id))
        .select((
            orders::shop_id,
            orders::status,
            orders::total_cents,
            orders::ordered_at,
        ))
        .load(conn)?;
    let facts: Vec<(OrderStatus, i64, NaiveDateTime)> = rows
        .iter()
        .map(|&(_, status, total, at)| (status, total, at))
        .collect();
    let (count, spent, first, last) = summarize(&facts);
    diesel::update(customers::table.find(customer_id))
        .set((
            customers::order_count.eq(count),
            customers::total_spent_cents.eq(spent),
            customers::first_order_at.eq(first),
            customers::last_order_at.eq(last),
        ))
        .execute(conn)?;
    diesel::delete(
        customer_sales_months::table.filter(customer_sales_months::customer_id.eq(customer_id)),
    )
    .execute(conn)?;
    let Some(&(shop_id, ..)) = rows.first() else {
        return Ok(());
    };
    // One multi-row insert (diesel's batch insert does not go through `MultiConnection`);
    // every value is a number, a date or a boolean the service computed.
    let months: Vec<String> = sales_months(&facts)
        .into_iter()
        .map(|m| {
            format!(
                "({shop_id}, '{}', {}, {}, {}, {}, {})",
                m.month.format("%Y-%m-%d"),
                customer_id.0,
                m.purchases,
                m.gross_cents,
                m.refunded_cents,
                if m.first_purchase { "TRUE" } else { "FALSE" },
            )
        })
        .collect();
    if !months.is_empty() {
        diesel::sql_query(format!(
            "INSERT INTO customer_sales_months
                 (shop_id, month, customer_id, purchases, gross_cents, refunded_cents, first_purchase)
             VALUES {}",
            months.join(", ")
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Rebuilds every buyer's monthly sales from the orders and the customers' summaries, for
/// orders written in bulk without `refresh_summary` (the benchmark's seed). The same
/// statement as migration 000026's backfill.
pub fn rebuild_sales_months(conn: &mut DbConnection) -> Result<(), ApiError> {
    let backend = conn.backend();
    let month = |column: &str| match backend {
        Backend::Sqlite => {
            format!("date({column}, '{SALES_MONTH_OFFSET_MINUTES:+} minutes', 'start of month')")
        }
        Backend::Postgres => format!(
            "CAST(date_trunc('month', {column} + INTERVAL '{SALES_MONTH_OFFSET_MINUTES} minutes') AS DATE)"
        ),
    };
    let sum = |column: &str| clamped_sum(backend, column);
    let (no, yes) = match backend {
        Backend::Sqlite => ("0", "1"),
        Backend::Postgres => ("FALSE", "TRUE"),
    };
    let sql = format!(
        "DELETE FROM customer_sales_months;
         INSERT INTO customer_sales_months
             (shop_id, month, customer_id, purchases, gross_cents, refunded_cents, first_purchase)
         SELECT o.shop_id, {order_month}, o.customer_id,
                SUM(CASE WHEN o.status IN ('paid', 'partially_refunded') THEN 1 ELSE 0 END),
                {gross}, {refunded}, {no}
         FROM orders o
         WHERE o.status IN ('paid', 'partially_refunded', 'refunded')
         GROUP BY 1, 2, 3;
         UPDATE customer_sales_months SET first_purchase = {yes}
         FROM customers c
         WHERE c.id = customer_sales_months.customer_id AND c.first_order_at IS NOT NULL
           AND customer_sales_months.month = {first_month};",
        order_month = month("o.ordered_at"),
        first_month = month("c.first_order_at"),
        gross = sum("o.total_cents"),
        refunded = sum("CASE WHEN o.status = 'refunded' THEN o.total_cents ELSE 0 END"),
    );
    conn.batch_execute(&sql)?;
    Ok(())
}

/// Writes an order's items; a SKU the shop's catalogue does not hold yet is added to it
/// (named after the item, without usage days).
fn insert_items(
    conn: &mut DbConnection,
    shop_id: ShopId,
    order_id: i64,
    items: &[OrderItemInput],
) -> Result<(), ApiError> {
    crate::products::store::add_unknown(
        conn,
        shop_id,
        items.iter().filter_map(|item| {
            let sku = item.sku.as_deref()?.trim();
            Some((sku, item.product_name.trim()))
        }),
    )?;
    for item in items {
        diesel::insert_into(order_items::table)
            .values((
                order_items::order_id.eq(order_id),
                order_items::product_name.eq(item.product_name.trim()),
                order_items::sku.eq(item.sku.as_deref().map(str::trim)),
                order_items::quantity.eq(item.quantity),
                order_items::unit_price_cents.eq(item.unit_price_cents),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn find_by_external(
    conn: &mut DbConnection,
    shop_id: ShopId,
    channel: Channel,
    external_order_no: &str,
) -> Result<Option<Order>, ApiError> {
    Ok(orders::table
        .filter(orders::shop_id.eq(shop_id))
        .filter(orders::channel.eq(channel))
        .filter(orders::external_order_no.eq(external_order_no))
        .select(Order::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts an order with its items and refreshes the customer's summary.
pub fn insert(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: CustomerId,
    request: &CreateOrderRequest,
    total_cents: i64,
) -> Result<Order, ApiError> {
    let now = Utc::now().naive_utc();
    let order: Order = diesel::insert_into(orders::table)
        .values((
            orders::shop_id.eq(shop_id),
            orders::customer_id.eq(customer_id),
            orders::channel.eq(request.channel),
            orders::external_order_no.eq(request.external_order_no.trim()),
            orders::status.eq(request.status.unwrap_or(OrderStatus::Paid)),
            orders::total_cents.eq(total_cents),
            orders::ordered_at.eq(request.ordered_at.naive_utc()),
            orders::created_at.eq(now),
            orders::updated_at.eq(now),
            orders::salesperson_id.eq(request.salesperson_id),
            orders::outlet.eq(request.outlet.as_deref().map(str::trim)),
        ))
        .returning(orders::all_columns)
        .get_result(conn)?;
    insert_items(conn, shop_id, order.id, &request.items)?;
    refresh_summary(conn, customer_id)?;
    Ok(order)
}

pub fn get(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<Order, ApiError> {
    orders::table
        .filter(orders::shop_id.eq(shop_id))
        .find(id)
        .select(Order::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("order"))
}

/// Applies a change; `None` when nothing would change (so re-imports are no-ops).
pub fn update(
    conn: &mut DbConnection,
    order: &Order,
    request: &UpdateOrderRequest,
) -> Result<Option<Order>, ApiError> {
    let current_items = items_of(conn, &[order.id])?
        .remove(&order.id)
        .unwrap_or_default();
    let items_change = request
        .items
        .as_ref()
        .filter(|items| **items != current_items);
    let total = match (request.total_cents, items_change) {
        (Some(total), _) => total,
        (None, Some(items)) => items_total(items)?,
        (None, None) => order.total_cents,
    };
    let status = request.status.unwrap_or(order.status);
    let ordered_at = request
        .ordered_at
        .map(|t| t.naive_utc())
        .unwrap_or(order.ordered_at);
    let salesperson_id = request.salesperson_id.unwrap_or(order.salesperson_id);
    let outlet = match &request.outlet {
        Some(outlet) => outlet.as_deref().map(|o| o.trim().to_owned()),
        None => order.outlet.clone(),
    };
    if items_change.is_none()
        && total == order.total_cents
        && status == order.status
        && ordered_at == order.ordered_at
        && salesperson_id == order.salesperson_id
        && outlet == order.outlet
    {
        return Ok(None);
    }
    if let Some(items) = items_change {
        diesel::delete(order_items::table.filter(order_items::order_id.eq(order.id)))
            .execute(conn)?;
        insert_items(conn, order.shop_id, order.id, items)?;
    }
    let updated: Order = diesel::update(orders::table.find(order.id))
        .set((
            orders::status.eq(status),
            orders::total_cents.eq(total),
            orders::ordered_at.eq(ordered_at),
            orders::updated_at.eq(Utc::now().naive_utc()),
            orders::salesperson_id.eq(salesperson_id),
            orders::outlet.eq(outlet),
        ))
        .returning(orders::all_columns)
        .get_result(conn)?;
    refresh_summary(conn, CustomerId(order.customer_id))?;
    Ok(Some(updated))
}

fn items_of(
    conn: &mut DbConnection,
    order_ids: &[i64],
) -> Result<BTreeMap<i64, Vec<OrderItemInput>>, ApiError> {
    let rows: Vec<OrderItem> = order_items::table
        .filter(order_items::order_id.eq_any(order_ids))
        .order((order_items::order_id, order_items::id))
        .select(OrderItem::as_select())
        .load(conn)?;
    let mut by_order: BTreeMap<i64, Vec<OrderItemInput>> = BTreeMap::new();
    for item in rows {
        by_order
            .entry(item.order_id)
            .or_default()
            .push(OrderItemInput {
                product_name: item.product_name,
                sku: item.sku,
                quantity: item.quantity,
                unit_price_cents: item.unit_price_cents,
            });
    }
    Ok(by_order)
}

pub fn views(conn: &mut DbConnection, list: Vec<Order>) -> Result<Vec<OrderView>, ApiError> {
    let ids: Vec<i64> = list.iter().map(|o| o.id).collect();
    let mut items = items_of(conn, &ids)?;
    list.into_iter()
        .map(|order| {
            let order_items = items.remove(&order.id).unwrap_or_default();
            order.view(order_items)
        })
        .collect()
}

/// Up to `limit` of the customer's orders after `after` (ordered_at, id), newest first.
pub fn list_of_customer(
    conn: &mut DbConnection,
    customer_id: i64,
    after: Option<(NaiveDateTime, i64)>,
    limit: i64,
) -> Result<Vec<Order>, ApiError> {
    let mut rows = orders::table
        .filter(orders::customer_id.eq(customer_id))
        .select(Order::as_select())
        .order((orders::ordered_at.desc(), orders::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, last_id)) = after {
        rows = rows.filter(
            orders::ordered_at
                .lt(at)
                .or(orders::ordered_at.eq(at).and(orders::id.lt(last_id))),
        );
    }
    Ok(rows.load(conn)?)
}

pub fn count_of_customer(conn: &mut DbConnection, customer_id: i64) -> Result<i64, ApiError> {
    Ok(orders::table
        .filter(orders::customer_id.eq(customer_id))
        .count()
        .get_result(conn)?)
}

/// Deletes an order and refreshes the customer's summary.
/// Tickets about an order (a return, a repair, a review of it), oldest first.
pub fn referring_tickets(conn: &mut DbConnection, order_id: i64) -> Result<Vec<i64>, ApiError> {
    Ok(tickets::table
        .filter(tickets::order_id.eq(order_id))
        .order(tickets::id.asc())
        .select(tickets::id)
        .load(conn)?)
}

pub fn delete(conn: &mut DbConnection, order: &Order) -> Result<(), ApiError> {
    diesel::delete(orders::table.find(order.id)).execute(conn)?;
    refresh_summary(conn, CustomerId(order.customer_id))
}
