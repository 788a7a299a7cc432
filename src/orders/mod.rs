//! Orders: a customer's purchase history. Amounts are integer cents (fen), never floats.
//! Every change refreshes the customer's order summary in the same transaction.
//!
//! This module holds the vocabulary (channels, statuses, rows, requests, views); pure
//! rules are in `rules`, SQL in `store`, HTTP in `routes`.

pub mod operations;
pub mod routes;
pub mod rules;
pub mod store;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::db::text_enum;
use crate::error::ApiError;
use crate::extract::{check_instant, message, present};
use crate::ids::ShopId;
use crate::schema::{order_items, orders};

text_enum! {
    /// Where a buyer bought, and where they reviewed: one vocabulary for orders and reviews,
    /// so that a review on a platform can name an order from the same platform. The major
    /// Chinese marketplaces and social-commerce platforms, the shop's own WeChat shop and
    /// physical store, and `other`.
    pub enum Channel {
        Taobao = "taobao",
        Tmall = "tmall",
        Jd = "jd",
        Pinduoduo = "pinduoduo",
        Douyin = "douyin",
        Kuaishou = "kuaishou",
        Xiaohongshu = "xiaohongshu",
        Dianping = "dianping",
        Wechat = "wechat",
        Store = "store",
        Other = "other",
    }
}

text_enum! {
    pub enum OrderStatus {
        Paid = "paid",
        Refunded = "refunded",
        PartiallyRefunded = "partially_refunded",
        Cancelled = "cancelled",
    }
}

impl OrderStatus {
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
    pub shop_id: ShopId,
    pub customer_id: i64,
    pub channel: Channel,
    pub external_order_no: String,
    pub status: OrderStatus,
    pub total_cents: i64,
    pub ordered_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The staff member who sold it.
    pub salesperson_id: Option<i64>,
    /// The store or platform shop it was sold through.
    pub outlet: Option<String>,
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
    #[schema(min_length = 1, max_length = 200)]
    #[schema(example = "Ceramic teapot 600 ml")]
    pub product_name: String,
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    /// The product's SKU in the shop's catalogue (`/api/v1/products`); a SKU not in the
    /// catalogue is added to it, named after this item, without usage days.
    pub sku: Option<String>,
    /// 1 to 100,000 (`rules::MAX_QUANTITY`).
    pub quantity: i32,
    /// Price of one unit in cents (fen), 0 to 100,000,000,000 (¥1,000,000,000.00,
    /// `rules::MAX_UNIT_PRICE_CENTS`).
    #[schema(example = 12990)]
    pub unit_price_cents: i64,
}

/// Longest outlet name, in characters.
pub const MAX_OUTLET_CHARS: usize = 100;

/// An outlet is 1 to 100 printable characters once trimmed (stored trimmed).
pub fn validate_outlet(value: &str) -> Result<(), ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > MAX_OUTLET_CHARS
        || trimmed.chars().any(char::is_control)
    {
        return Err(message(
            "outlet",
            "must be 1 to 100 printable characters (leading and trailing spaces are dropped)",
        ));
    }
    Ok(())
}

fn validate_order_no(value: &str) -> Result<(), ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 64 || trimmed.chars().any(char::is_control) {
        return Err(message("order_no", "must be 1 to 64 printable characters"));
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
    /// 1 to 200 items; quantities, unit prices and the order's total are capped by
    /// `orders::rules` (a 422 names the field, e.g. `items[3].quantity`).
    #[validate(nested)]
    pub items: Vec<OrderItemInput>,
    /// Amount paid in cents, 0 to 100,000,000,000,000 (¥1,000,000,000,000.00); defaults to the
    /// sum of the items (discounts and shipping make them differ), which may not exceed it either.
    pub total_cents: Option<i64>,
    /// When the buyer ordered: not after now (a few minutes of clock difference allowed).
    #[validate(custom(function = "check_order_time"))]
    pub ordered_at: DateTime<Utc>,
    /// The staff member who sold the order: the id of a staff account of the shop (of any
    /// role; a deactivated account too, for past orders). Another id is a 422.
    #[serde(default)]
    pub salesperson_id: Option<i64>,
    /// The outlet it was sold through: a physical store or a platform shop's name, 1 to 100
    /// characters, stored trimmed.
    #[serde(default)]
    #[validate(custom(function = "validate_outlet"))]
    #[schema(min_length = 1, max_length = 100, example = "朝阳大悦城店")]
    pub outlet: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "partially_refunded"}))]
pub struct UpdateOrderRequest {
    pub status: Option<OrderStatus>,
    /// Replaces all items (capped as on creation).
    #[validate(nested)]
    pub items: Option<Vec<OrderItemInput>>,
    /// 0 to 100,000,000,000,000 cents.
    pub total_cents: Option<i64>,
    /// When the buyer ordered: not after now (a few minutes of clock difference allowed).
    #[validate(custom(function = "check_order_time"))]
    pub ordered_at: Option<DateTime<Utc>>,
    /// The staff member who sold it (a staff account of the shop); `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub salesperson_id: Option<Option<i64>>,
    /// The outlet (1 to 100 characters, trimmed); `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    #[validate(custom(function = "validate_outlet"))]
    pub outlet: Option<Option<String>>,
}

/// How far ahead of this server's clock an order time may be. The clocks of shop systems
/// and platforms drift by seconds to a few minutes; a time further ahead is a mistake (a
/// wrong year or time zone), and an order "from the future" would make its buyer look
/// recent, and keep them in a higher tier, for as long as it stays ahead.
pub const ORDER_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(10);

/// Whether an order placed `at` is acceptable `now`: not more than [`ORDER_CLOCK_SKEW`]
/// ahead.
pub fn order_time_is_past(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    at <= now + ORDER_CLOCK_SKEW
}

/// `#[validate]` rule for `ordered_at`: within the calendar (`check_instant`) and not in
/// the future.
fn check_order_time(at: &DateTime<Utc>) -> Result<(), ValidationError> {
    check_instant(at)?;
    if order_time_is_past(*at, Utc::now()) {
        Ok(())
    } else {
        Err(message(
            "future",
            "is in the future: an order time may be at most 10 minutes ahead of now (check the year and the UTC offset)",
        ))
    }
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
    /// The staff member who sold it (a staff account id), if recorded.
    pub salesperson_id: Option<i64>,
    /// The store or platform shop it was sold through, if recorded.
    pub outlet: Option<String>,
}

crate::pagination::named_page!(OrderPage, OrderView);

crate::response::answer!(
    /// The answer to recording or correcting an order: the order for callers who may read
    /// customers and their orders (staff; API keys with `customers:read`), a `Receipt` for
    /// the others.
    OrderAnswer(OrderView)
);

impl Order {
    /// The order as clients see it.
    pub fn view(self, items: Vec<OrderItemInput>) -> Result<OrderView, ApiError> {
        Ok(OrderView {
            id: self.id,
            customer_id: self.customer_id,
            channel: self.channel,
            external_order_no: self.external_order_no.clone(),
            status: self.status,
            total_cents: self.total_cents,
            items,
            ordered_at: self.ordered_at.and_utc(),
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
            salesperson_id: self.salesperson_id,
            outlet: self.outlet,
        })
    }
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListOrdersQuery {
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_may_not_come_from_the_future() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .to_utc();
        assert!(order_time_is_past(now - chrono::Duration::days(400), now));
        assert!(order_time_is_past(now, now));
        assert!(order_time_is_past(now + chrono::Duration::minutes(10), now));
        assert!(!order_time_is_past(
            now + chrono::Duration::minutes(11),
            now
        ));
        assert!(!order_time_is_past(now + chrono::Duration::days(3650), now));
    }
}
