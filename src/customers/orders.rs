//! Orders: a customer's purchase history. Amounts are integer cents (fen), never floats.
//! Every change refreshes the customer's order summary in the same transaction.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, http::header, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::queries as customer_queries;
use crate::app::AppState;
use crate::auth::{Principal, roles::Permission};
use crate::db::DbConnection;
use crate::error::{ApiError, Problem};
use crate::extract::{Body, Query};
use crate::pagination::{Page, decode_cursor, finish_page, limit_or_default};
use crate::schema::{customers, order_items, orders};
use crate::tiers::engine::TierSettings;

/// Where the order was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Taobao,
    Tmall,
    Wechat,
    Store,
    Other,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Taobao,
        Channel::Tmall,
        Channel::Wechat,
        Channel::Store,
        Channel::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Taobao => "taobao",
            Channel::Tmall => "tmall",
            Channel::Wechat => "wechat",
            Channel::Store => "store",
            Channel::Other => "other",
        }
    }

    pub fn parse(value: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Paid,
    Refunded,
    PartiallyRefunded,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 4] = [
        OrderStatus::Paid,
        OrderStatus::Refunded,
        OrderStatus::PartiallyRefunded,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Paid => "paid",
            OrderStatus::Refunded => "refunded",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Whether the order counts as a purchase in the customer's history and value:
    /// a fully refunded or cancelled order brought nothing.
    pub fn counts_as_purchase(self) -> bool {
        matches!(self, OrderStatus::Paid | OrderStatus::PartiallyRefunded)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = orders)]
pub struct Order {
    pub id: i64,
    pub shop_id: i64,
    pub customer_id: i64,
    pub channel: String,
    pub external_order_no: String,
    pub status: String,
    pub total_cents: i64,
    pub ordered_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = order_items)]
pub struct OrderItem {
    pub id: i64,
    pub order_id: i64,
    pub product_name: String,
    pub sku: Option<String>,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItemInput {
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "Ceramic teapot 600 ml")]
    pub product_name: String,
    #[validate(length(min = 1, max = 64))]
    pub sku: Option<String>,
    #[validate(range(min = 1, max = 100000))]
    pub quantity: i32,
    /// Price of one unit in cents (fen).
    #[validate(range(min = 0, max = 100000000000_i64))]
    #[schema(example = 12990)]
    pub unit_price_cents: i64,
}

fn validate_items(items: &[OrderItemInput]) -> Result<(), ValidationError> {
    if items.is_empty() || items.len() > 200 {
        return Err(super::message("items", "an order has 1 to 200 items"));
    }
    Ok(())
}

fn validate_order_no(value: &str) -> Result<(), ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 64 || trimmed.chars().any(char::is_control) {
        return Err(super::message(
            "order_no",
            "must be 1 to 64 printable characters",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "channel": "taobao",
    "external_order_no": "3345678901234567",
    "status": "paid",
    "items": [{"product_name": "Ceramic teapot 600 ml", "sku": "TP-600", "quantity": 2, "unit_price_cents": 12990}],
    "ordered_at": "2026-11-20T13:45:00+08:00"
}))]
pub struct CreateOrderRequest {
    pub channel: Channel,
    /// The platform's order number; unique per channel.
    #[validate(custom(function = "validate_order_no"))]
    pub external_order_no: String,
    /// Defaults to `paid`.
    pub status: Option<OrderStatus>,
    #[validate(custom(function = "validate_items"), nested)]
    pub items: Vec<OrderItemInput>,
    /// Amount paid in cents; defaults to the sum of the items (discounts and shipping make them differ).
    #[validate(range(min = 0, max = 100000000000000_i64))]
    pub total_cents: Option<i64>,
    pub ordered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "partially_refunded"}))]
pub struct UpdateOrderRequest {
    pub status: Option<OrderStatus>,
    /// Replaces all items.
    #[validate(custom(function = "validate_items"), nested)]
    pub items: Option<Vec<OrderItemInput>>,
    #[validate(range(min = 0, max = 100000000000000_i64))]
    pub total_cents: Option<i64>,
    pub ordered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub customer_id: i64,
    pub channel: Channel,
    pub external_order_no: String,
    pub status: OrderStatus,
    /// Amount paid, in cents (fen).
    pub total_cents: i64,
    pub items: Vec<OrderItemInput>,
    pub ordered_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Sum of quantity × unit price, refusing amounts that do not fit.
pub fn items_total(items: &[OrderItemInput]) -> Result<i64, ApiError> {
    items
        .iter()
        .try_fold(0i64, |sum, item| {
            i64::from(item.quantity)
                .checked_mul(item.unit_price_cents)
                .and_then(|line| sum.checked_add(line))
        })
        .ok_or_else(|| ApiError::field("items", "the order total is too large"))
}

/// The customer's order summary from (status, total, ordered_at) of all their orders.
pub fn summarize(
    orders: &[(OrderStatus, i64, NaiveDateTime)],
) -> (i64, i64, Option<NaiveDateTime>, Option<NaiveDateTime>) {
    let counted = orders
        .iter()
        .filter(|(status, _, _)| status.counts_as_purchase());
    let mut summary = (0i64, 0i64, None::<NaiveDateTime>, None::<NaiveDateTime>);
    for (_, total, at) in counted {
        summary.0 += 1;
        summary.1 = summary.1.saturating_add(*total);
        summary.2 = Some(summary.2.map_or(*at, |first| first.min(*at)));
        summary.3 = Some(summary.3.map_or(*at, |last| last.max(*at)));
    }
    summary
}

// ---- queries -------------------------------------------------------------------------

/// Recomputes `customers.order_count`, `total_spent_cents`, `first_order_at`, `last_order_at`.
pub fn refresh_summary(conn: &mut DbConnection, customer_id: i64) -> Result<(), ApiError> {
    let rows: Vec<(String, i64, NaiveDateTime)> = orders::table
        .filter(orders::customer_id.eq(customer_id))
        .select((orders::status, orders::total_cents, orders::ordered_at))
        .load(conn)?;
    let parsed: Vec<(OrderStatus, i64, NaiveDateTime)> = rows
        .into_iter()
        .filter_map(|(status, total, at)| OrderStatus::parse(&status).map(|s| (s, total, at)))
        .collect();
    let (count, spent, first, last) = summarize(&parsed);
    diesel::update(customers::table.find(customer_id))
        .set((
            customers::order_count.eq(count),
            customers::total_spent_cents.eq(spent),
            customers::first_order_at.eq(first),
            customers::last_order_at.eq(last),
        ))
        .execute(conn)?;
    Ok(())
}

fn insert_items(
    conn: &mut DbConnection,
    order_id: i64,
    items: &[OrderItemInput],
) -> Result<(), ApiError> {
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
    shop_id: i64,
    channel: Channel,
    external_order_no: &str,
) -> Result<Option<Order>, ApiError> {
    Ok(orders::table
        .filter(orders::shop_id.eq(shop_id))
        .filter(orders::channel.eq(channel.as_str()))
        .filter(orders::external_order_no.eq(external_order_no))
        .select(Order::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts an order for a live customer and refreshes the customer's summary.
pub fn create(
    conn: &mut DbConnection,
    shop_id: i64,
    customer_id: i64,
    request: &CreateOrderRequest,
    tiers: &TierSettings,
) -> Result<Order, ApiError> {
    let customer = customer_queries::get(conn, shop_id, customer_id)?;
    customer.ensure_live()?;
    let total = match request.total_cents {
        Some(total) => total,
        None => items_total(&request.items)?,
    };
    let order_no = request.external_order_no.trim();
    if find_by_external(conn, shop_id, request.channel, order_no)?.is_some() {
        return Err(ApiError::conflict(
            "duplicate",
            format!(
                "{} order {order_no} is already recorded",
                request.channel.as_str()
            ),
        ));
    }
    let now = Utc::now().naive_utc();
    let order: Order = diesel::insert_into(orders::table)
        .values((
            orders::shop_id.eq(shop_id),
            orders::customer_id.eq(customer_id),
            orders::channel.eq(request.channel.as_str()),
            orders::external_order_no.eq(order_no),
            orders::status.eq(request.status.unwrap_or(OrderStatus::Paid).as_str()),
            orders::total_cents.eq(total),
            orders::ordered_at.eq(request.ordered_at.naive_utc()),
            orders::created_at.eq(now),
            orders::updated_at.eq(now),
        ))
        .returning(orders::all_columns)
        .get_result(conn)?;
    insert_items(conn, order.id, &request.items)?;
    refresh_summary(conn, customer_id)?;
    crate::tiers::operations::refresh(conn, shop_id, customer_id, tiers, "order")?;
    Ok(order)
}

pub fn get(conn: &mut DbConnection, shop_id: i64, id: i64) -> Result<Order, ApiError> {
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
    tiers: &TierSettings,
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
    let status = request
        .status
        .map(OrderStatus::as_str)
        .unwrap_or(&order.status);
    let ordered_at = request
        .ordered_at
        .map(|t| t.naive_utc())
        .unwrap_or(order.ordered_at);
    if items_change.is_none()
        && total == order.total_cents
        && status == order.status
        && ordered_at == order.ordered_at
    {
        return Ok(None);
    }
    if let Some(items) = items_change {
        diesel::delete(order_items::table.filter(order_items::order_id.eq(order.id)))
            .execute(conn)?;
        insert_items(conn, order.id, items)?;
    }
    let updated: Order = diesel::update(orders::table.find(order.id))
        .set((
            orders::status.eq(status),
            orders::total_cents.eq(total),
            orders::ordered_at.eq(ordered_at),
            orders::updated_at.eq(Utc::now().naive_utc()),
        ))
        .returning(orders::all_columns)
        .get_result(conn)?;
    refresh_summary(conn, order.customer_id)?;
    crate::tiers::operations::refresh(conn, order.shop_id, order.customer_id, tiers, "order")?;
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

fn view(order: Order, items: Vec<OrderItemInput>) -> Result<OrderView, ApiError> {
    let corrupt = || {
        ApiError::Internal(format!(
            "order {} has an unknown channel or status",
            order.id
        ))
    };
    Ok(OrderView {
        id: order.id,
        customer_id: order.customer_id,
        channel: Channel::parse(&order.channel).ok_or_else(corrupt)?,
        external_order_no: order.external_order_no.clone(),
        status: OrderStatus::parse(&order.status).ok_or_else(corrupt)?,
        total_cents: order.total_cents,
        items,
        ordered_at: order.ordered_at.and_utc(),
        created_at: order.created_at.and_utc(),
        updated_at: order.updated_at.and_utc(),
    })
}

pub fn views(conn: &mut DbConnection, list: Vec<Order>) -> Result<Vec<OrderView>, ApiError> {
    let ids: Vec<i64> = list.iter().map(|o| o.id).collect();
    let mut items = items_of(conn, &ids)?;
    list.into_iter()
        .map(|order| {
            let order_items = items.remove(&order.id).unwrap_or_default();
            view(order, order_items)
        })
        .collect()
}

// ---- routes --------------------------------------------------------------------------

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/customers/{id}/orders")
            .route(web::get().to(list_orders))
            .route(web::post().to(create_order)),
    )
    .service(
        web::resource("/orders/{id}")
            .route(web::get().to(get_order))
            .route(web::patch().to(update_order))
            .route(web::delete().to(delete_order)),
    );
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListOrdersQuery {
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A customer's orders, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/orders", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Customer id"), ListOrdersQuery),
    responses(
        (status = 200, body = Page<OrderView>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_orders(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    query: Query<ListOrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let id = id.into_inner();
    let query = query.into_inner();
    let after = query
        .cursor
        .as_deref()
        .map(decode_cursor::<(NaiveDateTime, i64)>)
        .transpose()?;
    let limit = limit_or_default(query.limit);
    let page = state
        .db
        .read(move |conn| {
            let customer = customer_queries::get(conn, caller.shop_id(), id)?;
            let mut rows = orders::table
                .filter(orders::customer_id.eq(customer.id))
                .select(Order::as_select())
                .order((orders::ordered_at.desc(), orders::id.desc()))
                .limit(limit + 1)
                .into_boxed();
            if let Some((at, last_id)) = after {
                rows = rows.filter(
                    orders::ordered_at
                        .lt(at)
                        .or(orders::ordered_at.eq(at).and(orders::id.lt(last_id))),
                );
            }
            let rows = rows.load(conn)?;
            let total = orders::table
                .filter(orders::customer_id.eq(customer.id))
                .count()
                .get_result(conn)?;
            finish_page(
                rows,
                limit,
                Some(total),
                |o| (o.ordered_at, o.id),
                |rows| views(conn, rows),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Record an order for a customer.
#[utoipa::path(post, path = "/api/v1/customers/{id}/orders", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    request_body = CreateOrderRequest,
    responses(
        (status = 201, body = OrderView, headers(("Location" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Order number already recorded for the channel, or customer archived", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_order(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    body: Body<CreateOrderRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::RecordOrders)?;
    let customer_id = id.into_inner();
    let request = body.into_inner();
    let tiers = state.settings.tier_settings();
    let view = state
        .db
        .write(move |conn| {
            let order = create(conn, caller.shop_id(), customer_id, &request, &tiers)?;
            Ok(views(conn, vec![order])?.remove(0))
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/orders/{}", view.id)))
        .json(view))
}

/// One order with its items.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Order id")),
    responses(
        (status = 200, body = OrderView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_order(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let id = id.into_inner();
    let view = state
        .db
        .read(move |conn| {
            let order = get(conn, caller.shop_id(), id)?;
            Ok(views(conn, vec![order])?.remove(0))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Change an order's status, items, total or date. The customer's summary follows.
#[utoipa::path(patch, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Order id")),
    request_body = UpdateOrderRequest,
    responses(
        (status = 200, body = OrderView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Customer archived", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_order(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    body: Body<UpdateOrderRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::RecordOrders)?;
    let id = id.into_inner();
    let request = body.into_inner();
    let tiers = state.settings.tier_settings();
    let view = state
        .db
        .write(move |conn| {
            let order = get(conn, caller.shop_id(), id)?;
            customer_queries::get(conn, caller.shop_id(), order.customer_id)?.ensure_live()?;
            let order = update(conn, &order, &request, &tiers)?.unwrap_or(order);
            Ok(views(conn, vec![order])?.remove(0))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Delete an order entered by mistake. The customer's summary follows.
#[utoipa::path(delete, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Order id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Customer archived, or tickets refer to the order", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_order(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::RecordOrders)?;
    let id = id.into_inner();
    let tiers = state.settings.tier_settings();
    state
        .db
        .write(move |conn| {
            let order = get(conn, caller.shop_id(), id)?;
            customer_queries::get(conn, caller.shop_id(), order.customer_id)?.ensure_live()?;
            diesel::delete(orders::table.find(order.id)).execute(conn)?;
            refresh_summary(conn, order.customer_id)?;
            crate::tiers::operations::refresh(
                conn,
                order.shop_id,
                order.customer_id,
                &tiers,
                "order",
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn refunded_and_cancelled_orders_do_not_count() {
        let summary = summarize(&[
            (OrderStatus::Paid, 1000, at("2026-01-05 10:00")),
            (OrderStatus::Refunded, 5000, at("2025-01-01 10:00")),
            (OrderStatus::PartiallyRefunded, 300, at("2026-03-01 10:00")),
            (OrderStatus::Cancelled, 9000, at("2026-06-01 10:00")),
        ]);
        assert_eq!(
            summary,
            (
                2,
                1300,
                Some(at("2026-01-05 10:00")),
                Some(at("2026-03-01 10:00"))
            )
        );
        assert_eq!(summarize(&[]), (0, 0, None, None));
    }

    #[test]
    fn item_totals_are_exact_and_overflow_is_refused() {
        let item = |quantity, unit_price_cents| OrderItemInput {
            product_name: "x".into(),
            sku: None,
            quantity,
            unit_price_cents,
        };
        assert_eq!(items_total(&[item(3, 1999), item(1, 1)]).unwrap(), 5998);
        assert!(items_total(&[item(100000, i64::MAX / 2)]).is_err());
    }
}
