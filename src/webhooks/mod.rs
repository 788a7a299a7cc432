//! Webhooks: events about tickets and customers, pushed to the shop's systems.
//!
//! A change writes its event to the outbox (`webhook_events`) in the change's own
//! transaction, so an event exists exactly when its change committed. The worker
//! ([`worker`]) turns each event into one delivery per subscribed endpoint, claims due
//! deliveries (`FOR UPDATE SKIP LOCKED` on PostgreSQL, plus a lease), posts them signed,
//! and retries failures with exponential backoff until `WEBHOOK_MAX_ATTEMPTS`.
//!
//! Each delivery is a POST of `{"id", "type", "created_at", "data"}` with headers
//! `Aftercare-Event`, `Aftercare-Delivery` (stable across retries: receivers dedupe on it),
//! `Aftercare-Timestamp` (Unix seconds) and `Aftercare-Signature: v1=<hex>`, the
//! HMAC-SHA256 of `<timestamp>.<body>` under the endpoint's secret.
//!
//! Deliveries go to public addresses only ([`rules`], applied by [`destination`] at
//! registration and at every connection), unless `WEBHOOK_ALLOW_PRIVATE` allows internal
//! receivers; a failed attempt is described in a fixed vocabulary ([`DeliveryFailure`]).
//!
//! This file holds the vocabulary (events, endpoint and delivery rows, requests, views) and
//! the pure rules of delivery (signature, backoff, envelope); the address policy is in
//! [`rules`]; every query is in [`store`], including the outbox write ([`store::emit`])
//! other features call in their own transactions.

pub mod destination;
pub mod routes;
pub mod rules;
pub mod store;
pub mod worker;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use clap::Args;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

/// The delivery worker's settings (defaults written once, here).
#[derive(Debug, Clone, Copy, Args)]
pub struct WebhookSettings {
    /// Run the webhook delivery worker in this process (several replicas may all run it).
    #[arg(long = "webhook-worker", env = "WEBHOOK_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub worker: bool,

    /// Attempts at one webhook delivery before it is marked failed.
    #[arg(long = "webhook-max-attempts", env = "WEBHOOK_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(i32).range(1..=50))]
    pub max_attempts: i32,

    /// Wait before the first retry of a failed delivery, in milliseconds; doubled after each
    /// further failure (capped at one hour).
    #[arg(
        long = "webhook-retry-base-ms",
        env = "WEBHOOK_RETRY_BASE_MS",
        default_value_t = 30_000
    )]
    pub retry_base_ms: u64,

    /// How long a receiver gets to answer one delivery, in seconds.
    #[arg(long = "webhook-timeout-secs", env = "WEBHOOK_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub timeout_secs: u64,

    /// How often an idle worker looks for new events, in milliseconds.
    #[arg(long = "webhook-poll-ms", env = "WEBHOOK_POLL_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub poll_ms: u64,

    /// Let webhooks reach loopback, private, link-local and other internal addresses (for
    /// tests and on-premise receivers); refused at registration and at connect time otherwise.
    #[arg(long = "webhook-allow-private", env = "WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_private: bool,
}

use crate::db::text_enum;
use crate::ids::ShopId;
use crate::schema::{webhook_deliveries, webhook_endpoints, webhook_events};

text_enum! {
    pub enum EventType {
        TicketCreated = "ticket.created",
        TicketAssigned = "ticket.assigned",
        TicketStateChanged = "ticket.state_changed",
        TicketContactLogged = "ticket.contact_logged",
        TicketSatisfactionRecorded = "ticket.satisfaction_recorded",
        /// A service-level target passed its due time unmet (`change.details`: `target`, `due_at`).
        TicketSlaBreached = "ticket.sla_breached",
        /// A breach escalated the ticket (`change.details`: `target`, `priority`, `assignee`); for the leads.
        TicketEscalated = "ticket.escalated",
        /// A resolution made a buyer survey (`ticket_id`, `survey`: its `url`, a ready
        /// `message`, `expires_at`): a shop's SMS or WeChat system may send it.
        TicketSurveyCreated = "ticket.survey_created",
        CustomerTierChanged = "customer.tier_changed",
        /// A duplicate customer was merged into another (`survivor_id`, `duplicate_id`).
        CustomerMerged = "customer.merged",
    }
}

/// `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`. Receivers recompute it with their copy
/// of the secret and reject stale timestamps (replays).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Wait before the attempt after `failed_attempts` failures: base, 2×base, 4×base, ...
/// capped at one hour.
pub fn retry_delay(base: Duration, failed_attempts: i32) -> Duration {
    let cap = Duration::hours(1);
    let exponent = u32::try_from(failed_attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    base.checked_mul(1 << exponent)
        .filter(|d| *d <= cap)
        .unwrap_or(cap)
}

/// The document a receiver gets.
pub fn envelope(event_id: i64, event_type: &str, created_at: NaiveDateTime, data: &str) -> Value {
    serde_json::json!({
        "id": format!("evt_{event_id}"),
        "type": event_type,
        "created_at": created_at.and_utc(),
        "data": serde_json::from_str::<Value>(data).unwrap_or(Value::Null),
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    pub id: i64,
    pub shop_id: ShopId,
    pub url: String,
    pub events: String,
    pub secret: String,
    pub description: String,
    pub active: bool,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A registered endpoint. The secret is never shown back.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: String,
    /// Inactive endpoints get no new deliveries.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    pub fn view(&self) -> WebhookView {
        WebhookView {
            id: self.id,
            url: self.url.clone(),
            events: parse_events(&self.events),
            description: self.description.clone(),
            active: self.active,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        }
    }
}

pub fn parse_events(stored: &str) -> Vec<EventType> {
    stored
        .split_whitespace()
        .filter_map(EventType::parse)
        .collect()
}

pub fn store_events(events: &[EventType]) -> String {
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    events
        .into_iter()
        .map(EventType::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// http(s) with a host; where it may point is checked by [`destination`], which resolves it.
fn check_url(url: &str) -> Result<(), ValidationError> {
    let invalid =
        || ValidationError::new("url").with_message("must be an http:// or https:// URL".into());
    let uri: actix_web::http::Uri = url.parse().map_err(|_| invalid())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        _ => Err(invalid()),
    }
}

fn check_events(events: &[EventType]) -> Result<(), ValidationError> {
    if events.is_empty() {
        return Err(
            ValidationError::new("events").with_message("subscribe to at least one event".into())
        );
    }
    Ok(())
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://erp.example.com/hooks/aftercare", "events": ["ticket.created", "ticket.state_changed"], "secret": "whsec-3f9a7c1e5b2d4f60", "description": "ERP"}))]
pub struct CreateWebhookRequest {
    /// The receiver: an http:// or https:// URL on a public address. Hosts that are, or
    /// resolve to, loopback, private, link-local, multicast or other internal addresses are
    /// refused (unless the server allows them, `WEBHOOK_ALLOW_PRIVATE`).
    #[validate(length(max = 2000), custom(function = "check_url"))]
    pub url: String,
    #[validate(custom(function = "check_events"))]
    #[schema(min_items = 1)]
    pub events: Vec<EventType>,
    /// Signs deliveries (HMAC-SHA256); 16 to 200 characters. Keep a copy: it is never shown back.
    #[validate(length(min = 16, max = 200))]
    #[schema(min_length = 16, max_length = 200)]
    pub secret: String,
    #[serde(default)]
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub description: String,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    /// As on registration: a public http(s) address.
    #[validate(length(max = 2000), custom(function = "check_url"))]
    pub url: Option<String>,
    #[validate(custom(function = "check_events"))]
    #[schema(min_items = 1)]
    pub events: Option<Vec<EventType>>,
    #[validate(length(min = 16, max = 200))]
    #[schema(min_length = 16, max_length = 200)]
    pub secret: Option<String>,
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    pub active: Option<bool>,
}

text_enum! {
    pub enum DeliveryStatus {
        /// Waiting for its first or next attempt.
        Pending = "pending",
        Delivered = "delivered",
        /// Gave up after WEBHOOK_MAX_ATTEMPTS; can be re-sent.
        Failed = "failed",
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Sent as `Aftercare-Delivery`; the same on every retry.
    pub id: i64,
    pub endpoint_id: i64,
    /// Sent as the body's `id` (`evt_<event_id>`).
    pub event_id: i64,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status on the last attempt (absent: no answer).
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed, in fixed words: `timeout`, `dns lookup failed`,
    /// `address not allowed` (the host is or resolves to an internal address),
    /// `connection refused`, `connection reset`, `connection failed`, `tls error`,
    /// `invalid response`, `redirect not followed`, `http <status>` (the receiver answered
    /// with a status other than 2xx) or `delivery failed`.
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

crate::pagination::named_page!(DeliveryPage, DeliveryView);

/// A delivery with its event's type, as listed.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub endpoint_id: i64,
    pub event_id: i64,
    #[diesel(select_expression = webhook_events::event_type)]
    #[diesel(select_expression_type = webhook_events::event_type)]
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

impl DeliveryRow {
    pub fn view(self) -> DeliveryView {
        DeliveryView {
            id: self.id,
            endpoint_id: self.endpoint_id,
            event_id: self.event_id,
            event_type: self.event_type.to_string(),
            status: self.status,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at.map(|t| t.and_utc()),
            last_attempt_at: self.last_attempt_at.map(|t| t.and_utc()),
            last_status_code: self.last_status_code,
            last_error: self.last_error,
            delivered_at: self.delivered_at.map(|t| t.and_utc()),
            created_at: self.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveriesQuery {
    pub status: Option<DeliveryStatus>,
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A delivery this worker holds, with what it takes to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: i64,
    /// This worker's lease: its result is recorded only while the lease is still its own.
    pub locked_until: NaiveDateTime,
    pub attempts: i32,
    pub url: String,
    pub secret: String,
    pub event_id: i64,
    pub event_type: String,
    pub event_created_at: NaiveDateTime,
    pub payload: String,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        status: u16,
    },
    Failed {
        status: Option<u16>,
        error: DeliveryFailure,
    },
}

/// Why an attempt failed, in the fixed words the delivery list shows. Never the HTTP
/// library's own text: that would tell an admin how hosts behind the server answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryFailure {
    Timeout,
    DnsLookupFailed,
    /// The host is, or resolves only to, addresses the policy refuses.
    AddressNotAllowed,
    ConnectionRefused,
    ConnectionReset,
    ConnectionFailed,
    TlsError,
    InvalidResponse,
    /// The receiver redirected; deliveries do not follow redirects.
    RedirectNotFollowed,
    /// The receiver answered with a status other than 2xx.
    HttpStatus(u16),
    Other,
}

impl std::fmt::Display for DeliveryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words = match self {
            DeliveryFailure::Timeout => "timeout",
            DeliveryFailure::DnsLookupFailed => "dns lookup failed",
            DeliveryFailure::AddressNotAllowed => "address not allowed",
            DeliveryFailure::ConnectionRefused => "connection refused",
            DeliveryFailure::ConnectionReset => "connection reset",
            DeliveryFailure::ConnectionFailed => "connection failed",
            DeliveryFailure::TlsError => "tls error",
            DeliveryFailure::InvalidResponse => "invalid response",
            DeliveryFailure::RedirectNotFollowed => "redirect not followed",
            DeliveryFailure::HttpStatus(status) => return write!(f, "http {status}"),
            DeliveryFailure::Other => "delivery failed",
        };
        f.write_str(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Reference value from Python: hmac.new(b"s3cret", b"1700000000.{}", sha256).hexdigest()
        assert_eq!(
            signature("s3cret", 1_700_000_000, b"{}"),
            "v1=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf"
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        let base = Duration::seconds(30);
        assert_eq!(retry_delay(base, 1), Duration::seconds(30));
        assert_eq!(retry_delay(base, 2), Duration::seconds(60));
        assert_eq!(retry_delay(base, 3), Duration::seconds(120));
        assert_eq!(retry_delay(base, 8), Duration::seconds(3600));
        assert_eq!(retry_delay(base, 40), Duration::hours(1));
    }

    #[test]
    fn event_names_round_trip() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
            assert_eq!(serde_json::to_value(event).unwrap(), event.as_str());
        }
    }
}
