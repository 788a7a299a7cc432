//! The audit log: security-relevant actions and bulk work on the shop's data, for the
//! record. An entry names the actor (`user:<id>`, `api_key:<id>`, or `anonymous` for a
//! failed login), the action, the client address it came from, what it was applied to and
//! how many rows; it never holds personal data or secrets (a search text is recorded as "a
//! text search was used", a failed login's account by id only when it exists, a webhook by
//! its host), so the log can be kept and shown longer than the data. It is append-only: the
//! database refuses to change or delete an entry (migration `000015_audit_trail`).
//!
//! This file holds the vocabulary; queries are in [`store`], `GET /api/v1/audit` in
//! [`routes`]. Each entry is written in the transaction of the change it records.

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
        /// A CSV file of customers or orders was imported (counts in `details`).
        CustomersImport = "customers.import",
        /// A duplicate customer was merged into another (ids and what moved).
        CustomersMerged = "customers.merged",
        /// Tags were added to or removed from many customers at once.
        TagsBulk = "tags.bulk",
        /// A tag of a single-choice group replaced another of the group on customers
        /// (`group`, `from`, `to`, `customer_ids`).
        TagsReplaced = "tags.replaced",
        /// A tag group was made single-choice or multiple-choice (`group`, `single_choice`).
        TagGroupSet = "tags.group_set",
        /// A staff member logged in.
        Login = "auth.login",
        /// A login was refused (wrong password, unknown or inactive account, throttled).
        LoginFailed = "auth.login_failed",
        /// A staff member changed their own password.
        PasswordChanged = "auth.password_changed",
        /// An admin created a staff account.
        UserCreated = "users.created",
        /// An admin changed a staff account's role, name or active flag (`from`, `to`).
        UserChanged = "users.changed",
        /// An admin set a new password for a staff account.
        PasswordReset = "users.password_reset",
        /// An API key was created (its scopes; never the key).
        ApiKeyCreated = "api_keys.created",
        /// An API key was revoked.
        ApiKeyRevoked = "api_keys.revoked",
        /// A webhook endpoint was registered (its host and events; never the secret).
        WebhookCreated = "webhooks.created",
        /// A webhook endpoint was changed (which fields).
        WebhookChanged = "webhooks.changed",
        /// A webhook endpoint was deleted.
        WebhookDeleted = "webhooks.deleted",
        /// An admin set the shop's working calendar (its time zone).
        SlaCalendarSet = "sla.calendar_set",
        /// An admin set the shop's service-level policies (how many rules).
        SlaPoliciesSet = "sla.policies_set",
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
    /// The client address (by the login-throttling rule: the TCP peer, or the client a
    /// trusted proxy names); absent for entries written before it was recorded.
    pub address: Option<String>,
}

/// An entry to record.
pub struct NewAuditEntry<'a> {
    pub shop_id: ShopId,
    /// `user:<id>`, `api_key:<id>` or `anonymous`.
    pub actor: &'a str,
    pub action: AuditAction,
    /// What the action was applied to; never personal data.
    pub details: &'a serde_json::Value,
    pub row_count: Option<i64>,
    /// Where the request came from (`auth::ClientAddress`).
    pub address: Option<&'a str>,
}

/// One entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 7, "actor": "user:3", "action": "customers.export",
    "details": {"tags_any": ["key customer"], "text_search": true, "archived": false},
    "row_count": 1250, "at": "2026-11-24T09:30:00Z", "address": "203.0.113.7"
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
    /// The client address the request came from (an IPv6 address by its /64).
    pub address: Option<String>,
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
            address: self.address.clone(),
        }
    }
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAuditQuery {
    /// Only entries of this action.
    pub action: Option<AuditAction>,
    /// Only entries of this actor (`user:3`, `api_key:2`, `anonymous`).
    #[validate(length(min = 1, max = 40))]
    #[param(min_length = 1, max_length = 40)]
    pub actor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
