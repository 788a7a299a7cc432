//! Customers (buyers): the vocabulary of the customer file (profile, contact handles,
//! views, requests and their validation). SQL lives in `store`, HTTP in `routes`, pure
//! rules in `rules`; tags, orders and CSV import/export are features of their own.

pub mod contacts;
pub mod merge;
pub mod operations;
pub mod routes;
pub mod rules;
pub mod store;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::error::{ApiError, ProblemKind};
use crate::extract::{message, present};
use crate::ids::ShopId;
use crate::tags::TagView;
use crate::tiers::{Stage, Tier};
// The contact-handle vocabulary is a leaf: it imports nothing from this module.
use crate::db::text_enum;
use contacts::ContactKind;

text_enum! {
    /// Where the shop first met the buyer.
    pub enum Source {
        InStore = "in_store",
        Online = "online",
    }
}

/// A row of `customers`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::customers)]
pub struct Customer {
    pub id: i64,
    pub shop_id: ShopId,
    pub name: String,
    pub name_key: String,
    pub address: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub birthday_mmdd: Option<i32>,
    pub source: Source,
    pub notes: String,
    pub order_count: i64,
    pub total_spent_cents: i64,
    pub first_order_at: Option<NaiveDateTime>,
    pub last_order_at: Option<NaiveDateTime>,
    pub last_contacted_at: Option<NaiveDateTime>,
    pub archived_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub tier: Tier,
    pub lifecycle_stage: Stage,
    pub at_risk: bool,
    pub tier_reasons: String,
    pub tier_computed_at: Option<NaiveDateTime>,
    /// The first phone handle, kept by the handle writes (lists show it masked).
    pub primary_phone: Option<String>,
    /// Set when this customer was a duplicate merged into another (and archived).
    pub merged_into_id: Option<i64>,
}

impl Customer {
    /// Edits go to live customers only: an archived file is read-only until restored.
    pub fn ensure_live(&self) -> Result<(), ApiError> {
        match self.archived_at {
            None => Ok(()),
            Some(_) => Err(ApiError::conflict(
                ProblemKind::CustomerArchived,
                format!("customer {} is archived; restore it first", self.id),
            )),
        }
    }
}

/// A contact handle. Documented per kind (`contacts::ContactHandleByKind`): what `value`
/// may be depends on `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactHandle {
    pub kind: ContactKind,
    /// Phone numbers are stored as digits (mainland numbers without +86), emails and
    /// WeChat IDs lower-cased.
    pub value: String,
}

/// A handle's value is checked against its kind, and a bad one is named by its own path
/// (`contacts[1].value`), not by the whole list.
impl Validate for ContactHandle {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        let mut errors = validator::ValidationErrors::new();
        if let Err(reason) = contacts::normalize(self.kind, &self.value) {
            errors.add("value", message("contact_invalid", &reason));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Purchase history in brief. Refunded and cancelled orders do not count.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderSummary {
    pub count: i64,
    /// Sum of counted orders' totals, in cents (fen).
    pub total_spent_cents: i64,
    pub first_order_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerView {
    pub id: i64,
    pub name: String,
    pub contacts: Vec<ContactHandle>,
    pub address: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub source: Source,
    pub notes: String,
    pub tags: Vec<TagView>,
    pub orders: OrderSummary,
    pub tickets: crate::tickets::TicketSummary,
    /// Value tier, lifecycle stage and at-risk flag, with the reasons; computed, never edited.
    pub standing: crate::tiers::Standing,
    /// RFM scores and segment with their reasons, recomputed with the tiers; `null` for
    /// customers who never bought (counted orders only) and before the first recomputation.
    pub rfm: Option<crate::tiers::RfmView>,
    /// The latest tier changes, newest first (the single-customer view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier_history: Option<Vec<crate::tiers::TierChangeView>>,
    /// Last contact attempt on any of the customer's tickets.
    pub last_contacted_at: Option<DateTime<Utc>>,
    /// Set when the customer was archived (soft-deleted).
    pub archived_at: Option<DateTime<Utc>>,
    /// Set when this customer was a duplicate merged into another: the one to open instead.
    pub merged_into_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::pagination::named_page!(CustomerPage, CustomerView);

crate::response::answer!(
    /// The answer to creating or editing a customer: the customer for callers who may read
    /// customers (staff; API keys with `customers:read`), a `Receipt` for the others.
    CustomerAnswer(CustomerView)
);

fn check_name(name: &str) -> Result<(), ValidationError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 100 {
        return Err(message("name_length", "must be 1 to 100 characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(message("name_chars", "must not contain control characters"));
    }
    Ok(())
}

fn check_birthday(date: &NaiveDate) -> Result<(), ValidationError> {
    let today = Utc::now().date_naive();
    if *date > today || date.year() < 1900 {
        return Err(message(
            "birthday_range",
            "must be between 1900-01-01 and today",
        ));
    }
    Ok(())
}

fn check_contacts(list: &[ContactHandle]) -> Result<(), ValidationError> {
    if list.is_empty() {
        return Err(message(
            "contacts_empty",
            "at least one contact handle is required",
        ));
    }
    if list.len() > 20 {
        return Err(message("contacts_many", "at most 20 contact handles"));
    }
    Ok(())
}

fn check_tag_names(list: &[String]) -> Result<(), ValidationError> {
    if list.len() > 50 {
        return Err(message("tags_many", "at most 50 tags at once"));
    }
    for name in list {
        if let Err(reason) = crate::tags::check_tag_name(name) {
            return Err(message("tag_invalid", &format!("{name:?} {reason}")));
        }
    }
    Ok(())
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "李娜",
    "contacts": [{"kind": "phone", "value": "138 0013 8000"}, {"kind": "shop_account", "value": "lina的小店"}],
    "address": "北京市朝阳区建国路 88 号",
    "birthday": "1990-05-17",
    "source": "online",
    "notes": "Prefers WeChat after 18:00",
    "tags": ["key customer", "Beijing"]
}))]
pub struct CreateCustomerRequest {
    #[validate(custom(function = "check_name"))]
    pub name: String,
    /// One or more handles; each is unique per kind within the shop.
    #[validate(custom(function = "check_contacts"), nested)]
    pub contacts: Vec<ContactHandle>,
    #[validate(length(max = 500))]
    pub address: Option<String>,
    #[validate(custom(function = "check_birthday"))]
    pub birthday: Option<NaiveDate>,
    pub source: Source,
    #[serde(default)]
    #[validate(length(max = 5000))]
    pub notes: String,
    /// Tag names; unknown tags are created.
    #[serde(default)]
    #[validate(custom(function = "check_tag_names"))]
    pub tags: Vec<String>,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({"address": null, "notes": "Moved; address unknown"}))]
pub struct UpdateCustomerRequest {
    #[validate(custom(function = "check_name"))]
    pub name: Option<String>,
    /// Replaces the whole set of handles.
    #[validate(custom(function = "check_contacts"), nested)]
    pub contacts: Option<Vec<ContactHandle>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub address: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<NaiveDate>)]
    #[validate(custom(function = "check_birthday"))]
    pub birthday: Option<Option<NaiveDate>>,
    pub source: Option<Source>,
    #[validate(length(max = 5000))]
    #[schema(max_length = 5000)]
    pub notes: Option<String>,
}

impl UpdateCustomerRequest {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.contacts.is_none()
            && self.address.is_none()
            && self.birthday.is_none()
            && self.source.is_none()
            && self.notes.is_none()
    }
}

/// List order. Each is stable: ties are broken by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerSort {
    /// Most recently created first (default).
    #[default]
    Newest,
    Oldest,
    /// By name (code-point order), then id.
    Name,
}

#[derive(Debug, Default, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCustomersQuery {
    /// Search as staff ask: the start of a name or of any contact handle (phone numbers in
    /// any notation), an exact order number or review id (these rank first, then the
    /// others); any part of a name or shop nickname (Chinese included: `王`, `小姐`); the
    /// last 4 or more digits of a phone. Results come by relevance (`sort` may only be
    /// `newest`, the order within each rank).
    #[validate(length(min = 1, max = 64))]
    #[param(min_length = 1, max_length = 64)]
    pub q: Option<String>,
    /// Comma-separated tag names: customers carrying all of them.
    #[validate(length(max = 1000))]
    #[param(max_length = 1000)]
    pub tags_all: Option<String>,
    /// Comma-separated tag names: customers carrying at least one of them.
    #[validate(length(max = 1000))]
    #[param(max_length = 1000)]
    pub tags_any: Option<String>,
    pub source: Option<Source>,
    /// Contacted before, but not in the last N days.
    #[validate(range(min = 1, max = 3650))]
    #[param(minimum = 1, maximum = 3650)]
    pub not_contacted_days: Option<u32>,
    /// `true`: never contacted; `false`: contacted at least once.
    pub never_contacted: Option<bool>,
    /// Bought before, but not in the last N days (refunded and cancelled orders do not count).
    #[validate(range(min = 1, max = 3650))]
    #[param(minimum = 1, maximum = 3650)]
    pub no_purchase_days: Option<u32>,
    /// `true`: never bought (potential customers); `false`: bought at least once.
    pub never_purchased: Option<bool>,
    /// Birthday today or within the next N days (0 = today).
    #[validate(range(min = 0, max = 366))]
    #[param(minimum = 0, maximum = 366)]
    pub birthday_within_days: Option<u32>,
    pub tier: Option<crate::tiers::Tier>,
    pub stage: Option<crate::tiers::Stage>,
    pub at_risk: Option<bool>,
    /// Buyers in this RFM segment (as of the last recomputation or refresh).
    pub segment: Option<crate::tiers::Segment>,
    /// Buyers with an RFM recency score of at least this (1-5).
    #[validate(range(min = 1, max = 5))]
    #[param(minimum = 1, maximum = 5)]
    pub recency_score_min: Option<i32>,
    /// Buyers with an RFM recency score of at most this (1-5).
    #[validate(range(min = 1, max = 5))]
    #[param(minimum = 1, maximum = 5)]
    pub recency_score_max: Option<i32>,
    /// Buyers with an RFM frequency score of at least this (1-5).
    #[validate(range(min = 1, max = 5))]
    #[param(minimum = 1, maximum = 5)]
    pub frequency_score_min: Option<i32>,
    /// Buyers with an RFM frequency score of at most this (1-5).
    #[validate(range(min = 1, max = 5))]
    #[param(minimum = 1, maximum = 5)]
    pub frequency_score_max: Option<i32>,
    /// Buyers with an RFM monetary score of at least this (1-5).
    #[validate(range(min = 1, max = 5))]
    #[param(minimum = 1, maximum = 5)]
    pub monetary_score_min: Option<i32>,
    /// Buyers with an RFM monetary score of at most this (1-5).
    #[validate(range(min = 1, max = 5))]
    #[param(minimum = 1, maximum = 5)]
    pub monetary_score_max: Option<i32>,
    /// `true` lists archived customers instead of live ones.
    pub archived: Option<bool>,
    pub sort: Option<CustomerSort>,
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (with the same filters and sort).
    pub cursor: Option<String>,
    /// Also count all matching customers (`total`); costs a count over the filter.
    pub with_total: Option<bool>,
}
