//! Greeting occasions: the holidays and shopping festivals a shop greets its buyers on
//! (春节, 中秋, 618, 双11...). Lunar holidays move from year to year, so each entry is one
//! dated day; the migration adds defaults for 2026 and 2027, admins keep the list. The
//! greetings reminder (`reminders`) lists the occasions of the coming days.
//!
//! Not the service-level calendar's holidays (`sla::calendar`), which are days off work.
//!
//! This file holds the vocabulary; SQL in `store`, HTTP in `routes`.

pub mod routes;
pub mod store;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::extract::{FIRST_DAY, LAST_DAY, message};
use crate::ids::ShopId;
use crate::schema::occasions;

/// A row of `occasions`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = occasions)]
pub struct Occasion {
    pub id: i64,
    pub shop_id: ShopId,
    pub name: String,
    pub day: NaiveDate,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

fn check_name(value: &str) -> Result<(), ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 50 || trimmed.chars().any(char::is_control) {
        return Err(message("name", "must be 1 to 50 printable characters"));
    }
    Ok(())
}

fn check_day(day: &NaiveDate) -> Result<(), ValidationError> {
    if (FIRST_DAY..=LAST_DAY).contains(day) {
        Ok(())
    } else {
        Err(message("day", "must be between 1970-01-01 and 9999-12-30"))
    }
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "春节", "day": "2028-01-26"}))]
pub struct CreateOccasionRequest {
    /// 1 to 50 characters, trimmed.
    #[validate(custom(function = "check_name"))]
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    /// The day (in the shop's calendar). One occasion of a name per day.
    #[validate(custom(function = "check_day"))]
    pub day: NaiveDate,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({"day": "2028-01-27"}))]
pub struct UpdateOccasionRequest {
    #[validate(custom(function = "check_name"))]
    #[schema(min_length = 1, max_length = 50)]
    pub name: Option<String>,
    #[validate(custom(function = "check_day"))]
    pub day: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OccasionView {
    pub id: i64,
    #[schema(example = "双11")]
    pub name: String,
    pub day: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Occasion {
    pub fn view(&self) -> OccasionView {
        OccasionView {
            id: self.id,
            name: self.name.clone(),
            day: self.day,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OccasionList {
    /// By day, then name.
    pub items: Vec<OccasionView>,
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListOccasionsQuery {
    /// Only the occasions of this year (1970 to 9999); default: all.
    #[validate(range(min = 1970, max = 9999))]
    #[param(minimum = 1970, maximum = 9999)]
    pub year: Option<i32>,
}
