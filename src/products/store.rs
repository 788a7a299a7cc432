//! All SQL of the product catalogue.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::{CreateProductRequest, Product, UpdateProductRequest};
use crate::db::{DbConnection, raw_sql};
use crate::error::{ApiError, ProblemKind};
use crate::ids::ShopId;
use crate::schema::products;

/// Adds the SKUs of `items` (sku, item name) the catalogue does not hold yet, named after
/// the item, without usage days; a SKU on file is left as it is.
pub fn add_unknown<'a>(
    conn: &mut DbConnection,
    shop_id: ShopId,
    items: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(), ApiError> {
    let now = Utc::now().naive_utc();
    let backend = conn.backend();
    for (sku, name) in items {
        diesel::sql_query(raw_sql(
            backend,
            "INSERT INTO products (shop_id, sku, name, usage_days, created_at, updated_at)
             VALUES ($1, $2, $3, NULL, $4, $4)
             ON CONFLICT (shop_id, sku) DO NOTHING",
        ))
        .bind::<BigInt, _>(shop_id)
        .bind::<Text, _>(sku)
        .bind::<Text, _>(name)
        .bind::<Timestamp, _>(now)
        .execute(conn)?;
    }
    Ok(())
}

pub fn get(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<Product, ApiError> {
    products::table
        .filter(products::shop_id.eq(shop_id))
        .find(id)
        .select(Product::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("product"))
}

/// Up to `limit` products after the SKU `after`, by SKU.
pub fn list(
    conn: &mut DbConnection,
    shop_id: ShopId,
    consumable: Option<bool>,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<Product>, ApiError> {
    let mut rows = products::table
        .filter(products::shop_id.eq(shop_id))
        .select(Product::as_select())
        .order(products::sku.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        rows = rows.filter(products::sku.gt(after));
    }
    match consumable {
        Some(true) => rows = rows.filter(products::usage_days.is_not_null()),
        Some(false) => rows = rows.filter(products::usage_days.is_null()),
        None => {}
    }
    Ok(rows.load(conn)?)
}

pub fn insert(
    conn: &mut DbConnection,
    shop_id: ShopId,
    request: &CreateProductRequest,
) -> Result<Product, ApiError> {
    let sku = request.sku.trim();
    let exists = products::table
        .filter(products::shop_id.eq(shop_id))
        .filter(products::sku.eq(sku))
        .select(products::id)
        .first::<i64>(conn)
        .optional()?;
    if exists.is_some() {
        return Err(ApiError::conflict(
            ProblemKind::Duplicate,
            format!("a product with SKU {sku} is already in the catalogue"),
        ));
    }
    let now = Utc::now().naive_utc();
    Ok(diesel::insert_into(products::table)
        .values((
            products::shop_id.eq(shop_id),
            products::sku.eq(sku),
            products::name.eq(request.name.trim()),
            products::usage_days.eq(request.usage_days),
            products::created_at.eq(now),
            products::updated_at.eq(now),
        ))
        .returning(products::all_columns)
        .get_result(conn)?)
}

pub fn update(
    conn: &mut DbConnection,
    product: &Product,
    request: &UpdateProductRequest,
) -> Result<Product, ApiError> {
    let name = request
        .name
        .as_deref()
        .map(str::trim)
        .unwrap_or(&product.name);
    let usage_days = request.usage_days.unwrap_or(product.usage_days);
    if name == product.name && usage_days == product.usage_days {
        return Ok(product.clone());
    }
    Ok(diesel::update(products::table.find(product.id))
        .set((
            products::name.eq(name),
            products::usage_days.eq(usage_days),
            products::updated_at.eq(Utc::now().naive_utc()),
        ))
        .returning(products::all_columns)
        .get_result(conn)?)
}

pub fn delete(conn: &mut DbConnection, product: &Product) -> Result<(), ApiError> {
    diesel::delete(products::table.find(product.id)).execute(conn)?;
    Ok(())
}

/// A buyer's last purchase of a consumable product.
#[derive(Debug, Clone, QueryableByName)]
pub struct LastPurchase {
    #[diesel(sql_type = BigInt)]
    pub customer_id: i64,
    #[diesel(sql_type = Text)]
    pub sku: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub usage_days: i32,
    #[diesel(sql_type = Timestamp)]
    pub last_purchased_at: chrono::NaiveDateTime,
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Which buyers' purchases are probably used up: live customers whose last purchase
/// (a `paid` or `partially_refunded` order) of a product with usage days, plus those days,
/// falls in [`due_from`, `due_until`). A later purchase of the product moves its due time,
/// so a buyer who bought again is not due. `assignee`: only customers with a ticket
/// assigned to this staff member. Returns the count and the first `limit`, soonest due
/// first. Walks the consumables (`products_usage_idx`) and their items by SKU
/// (`order_items_sku_idx`).
pub fn probably_used_up(
    conn: &mut DbConnection,
    shop_id: ShopId,
    due_from: chrono::NaiveDateTime,
    due_until: chrono::NaiveDateTime,
    assignee: Option<i64>,
    limit: i64,
) -> Result<(i64, Vec<LastPurchase>), ApiError> {
    use crate::db::{Backend, sql_list};
    use crate::orders::OrderStatus;
    use diesel::sql_types::Nullable;
    let backend = conn.backend();
    let due = match backend {
        Backend::Postgres => "MAX(o.ordered_at) + p.usage_days * INTERVAL '1 day'".to_owned(),
        Backend::Sqlite => "julianday(MAX(o.ordered_at)) + p.usage_days".to_owned(),
    };
    let bound = |n: u8| match backend {
        Backend::Postgres => format!("${n}"),
        Backend::Sqlite => format!("julianday(${n})"),
    };
    let matching = format!(
        "SELECT o.customer_id AS customer_id, p.sku AS sku, p.name AS name,
                p.usage_days AS usage_days, MAX(o.ordered_at) AS last_purchased_at,
                {due} AS due
         FROM products p
         JOIN order_items i ON i.sku = p.sku
         JOIN orders o ON o.id = i.order_id
         JOIN customers c ON c.id = o.customer_id
         WHERE p.shop_id = $1 AND p.usage_days IS NOT NULL AND o.shop_id = $1
           AND o.status IN {purchases} AND c.archived_at IS NULL
           AND ($4 IS NULL OR o.customer_id IN
                (SELECT t.customer_id FROM tickets t WHERE t.shop_id = $1 AND t.assignee_id = $4))
         GROUP BY o.customer_id, p.sku, p.name, p.usage_days
         HAVING {due} >= {from} AND {due} < {until}",
        purchases =
            sql_list([OrderStatus::Paid, OrderStatus::PartiallyRefunded].map(OrderStatus::as_str)),
        from = bound(2),
        until = bound(3),
    );
    let count: Counted = diesel::sql_query(raw_sql(
        backend,
        &format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM ({matching}) m"),
    ))
    .bind::<BigInt, _>(shop_id)
    .bind::<Timestamp, _>(due_from)
    .bind::<Timestamp, _>(due_until)
    .bind::<Nullable<BigInt>, _>(assignee)
    .get_result(conn)?;
    let items: Vec<LastPurchase> = diesel::sql_query(raw_sql(
        backend,
        &format!(
            "SELECT customer_id, sku, name, usage_days, last_purchased_at FROM ({matching}) m
             ORDER BY due, customer_id, sku LIMIT $5"
        ),
    ))
    .bind::<BigInt, _>(shop_id)
    .bind::<Timestamp, _>(due_from)
    .bind::<Timestamp, _>(due_until)
    .bind::<Nullable<BigInt>, _>(assignee)
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    Ok((count.n, items))
}
