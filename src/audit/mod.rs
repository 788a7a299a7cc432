//! The audit log: who did what in bulk to the shop's data, for the record. An entry names
//! the actor (`user:<id>`, `api_key:<id>`), the action, what it was applied to and how
//! many rows; it never holds personal data (a search text is recorded as "a text search
//! was used", not as its text), so the log can be kept and shown longer than the data.
//!
//! Today the one action is an export of the customer file; more come as they are audited.
//! This file holds the vocabulary; queries are in [`store`], `GET /api/v1/audit` in
//! [`routes`].

pub mod routes;
pub mod store;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::text_enum;
use crate::ids::ShopId;
use crate::schema::audit_log;

text_enum! {
    /// What was done.
    pub enum AuditAction {
        /// The customer file (or a filtered part of it) was exported as CSV.
        CustomersExport = "customers.export",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub shop_id: ShopId,
    pub actor: String,
    pub action: AuditAction,
    /// A JSON object.
    pub details: String,
    pub row_count: Option<i64>,
    pub at: NaiveDateTime,
}

/// An entry to record.
pub struct NewAuditEntry<'a> {
    pub shop_id: ShopId,
    /// `user:<id>` or `api_key:<id>`.
    pub actor: &'a str,
    pub action: AuditAction,
    /// What the action was applied to; never personal data.
    pub details: &'a serde_json::Value,
    pub row_count: Option<i64>,
}

/// One entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 7, "actor": "user:3", "action": "customers.export",
    "details": {"tags_any": ["key customer"], "text_search": true, "archived": false},
    "row_count": 1250, "at": "2026-11-24T09:30:00Z"
}))]
pub struct AuditEntryView {
    pub id: i64,
    /// Who: `user:<id>` (a staff member) or `api_key:<id>` (an integration).
    pub actor: String,
    pub action: AuditAction,
    /// What the action was applied to, by name (for an export: its filters); never
    /// personal data.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Rows concerned (for an export: customers matching the filter when it began).
    pub row_count: Option<i64>,
    pub at: DateTime<Utc>,
}

crate::pagination::named_page!(AuditEntryPage, AuditEntryView);

impl AuditEntry {
    pub fn view(&self) -> AuditEntryView {
        AuditEntryView {
            id: self.id,
            actor: self.actor.clone(),
            action: self.action,
            // Written by this service from a JSON value; an unreadable one shows as null.
            details: serde_json::from_str(&self.details).unwrap_or_default(),
            row_count: self.row_count,
            at: self.at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAuditQuery {
    /// Only entries of this action.
    pub action: Option<AuditAction>,
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
