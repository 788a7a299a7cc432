//! The product catalogue: what the shop sells, by SKU, with the typical number of days one
//! purchase lasts (a 30-day face cream), which drives the "probably used up" reminder.
//! Order items refer to a product by SKU; a SKU first seen on an order (the API, the order
//! feed, the CSV import) is added to the catalogue, named after the item, without usage
//! days.
//!
//! This file holds the vocabulary (rows, requests, views); SQL in `store`, HTTP in
//! `routes`.

pub mod routes;
pub mod store;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::extract::{message, present};
use crate::ids::ShopId;
use crate::schema::products;

/// Most days one purchase may be said to last (ten years).
pub const MAX_USAGE_DAYS: i32 = 3650;

/// A row of `products`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = products)]
pub struct Product {
    pub id: i64,
    pub shop_id: ShopId,
    pub sku: String,
    pub name: String,
    pub usage_days: Option<i32>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

fn check_sku(value: &str) -> Result<(), ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 64 || trimmed.chars().any(char::is_control) {
        return Err(message("sku", "must be 1 to 64 printable characters"));
    }
    Ok(())
}

fn check_name(value: &str) -> Result<(), ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control)
    {
        return Err(message("name", "must be 1 to 200 printable characters"));
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "FC-30", "name": "Night face cream 50 ml", "usage_days": 30}))]
pub struct CreateProductRequest {
    /// The shop's SKU, unique in the shop (exact text, trimmed): what order items name.
    #[validate(custom(function = "check_sku"))]
    #[schema(min_length = 1, max_length = 64)]
    pub sku: String,
    #[validate(custom(function = "check_name"))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Typical days until one purchase is used up, 1 to 3650; absent or `null` for products
    /// that are not used up (they never appear in the "probably used up" reminder).
    #[validate(range(min = 1, max = 3650))]
    #[schema(minimum = 1, maximum = 3650)]
    pub usage_days: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({"usage_days": 45}))]
pub struct UpdateProductRequest {
    #[validate(custom(function = "check_name"))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// 1 to 3650; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 3650)]
    #[validate(range(min = 1, max = 3650))]
    pub usage_days: Option<Option<i32>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductView {
    pub id: i64,
    pub sku: String,
    pub name: String,
    /// Typical days until one purchase is used up; `null`: not a consumable.
    pub usage_days: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Product {
    pub fn view(&self) -> ProductView {
        ProductView {
            id: self.id,
            sku: self.sku.clone(),
            name: self.name.clone(),
            usage_days: self.usage_days,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        }
    }
}

crate::pagination::named_page!(ProductPage, ProductView);

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListProductsQuery {
    /// `true`: only products with usage days; `false`: only those without.
    pub consumable: Option<bool>,
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
