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

pub mod routes;
pub mod worker;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::webhook_events;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum EventType {
    #[serde(rename = "ticket.created")]
    TicketCreated,
    #[serde(rename = "ticket.assigned")]
    TicketAssigned,
    #[serde(rename = "ticket.state_changed")]
    TicketStateChanged,
    #[serde(rename = "ticket.contact_logged")]
    TicketContactLogged,
    #[serde(rename = "ticket.satisfaction_recorded")]
    TicketSatisfactionRecorded,
    #[serde(rename = "customer.tier_changed")]
    CustomerTierChanged,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::TicketCreated,
        EventType::TicketAssigned,
        EventType::TicketStateChanged,
        EventType::TicketContactLogged,
        EventType::TicketSatisfactionRecorded,
        EventType::CustomerTierChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TicketCreated => "ticket.created",
            EventType::TicketAssigned => "ticket.assigned",
            EventType::TicketStateChanged => "ticket.state_changed",
            EventType::TicketContactLogged => "ticket.contact_logged",
            EventType::TicketSatisfactionRecorded => "ticket.satisfaction_recorded",
            EventType::CustomerTierChanged => "customer.tier_changed",
        }
    }

    pub fn parse(value: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == value)
    }

    /// The webhook events a ticket timeline entry stands for. A contact attempt that moves
    /// the ticket (new → first_call) is also a state change.
    pub fn for_ticket_event(kind: &str, state_moved: bool) -> Vec<EventType> {
        match kind {
            "created" => vec![EventType::TicketCreated],
            "assigned" => vec![EventType::TicketAssigned],
            "state_changed" => vec![EventType::TicketStateChanged],
            "contact_logged" if state_moved => vec![
                EventType::TicketContactLogged,
                EventType::TicketStateChanged,
            ],
            "contact_logged" => vec![EventType::TicketContactLogged],
            "satisfaction_recorded" | "satisfaction_corrected" => {
                vec![EventType::TicketSatisfactionRecorded]
            }
            _ => Vec::new(),
        }
    }
}

/// Writes an event to the outbox, in the caller's transaction.
pub fn emit(
    conn: &mut DbConnection,
    shop_id: i64,
    event: EventType,
    data: &Value,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::insert_into(webhook_events::table)
        .values((
            webhook_events::shop_id.eq(shop_id),
            webhook_events::event_type.eq(event.as_str()),
            webhook_events::payload.eq(data.to_string()),
            webhook_events::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
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
    fn ticket_timeline_entries_map_to_webhook_events() {
        assert_eq!(
            EventType::for_ticket_event("contact_logged", true),
            [
                EventType::TicketContactLogged,
                EventType::TicketStateChanged
            ]
        );
        assert_eq!(
            EventType::for_ticket_event("satisfaction_corrected", false),
            [EventType::TicketSatisfactionRecorded]
        );
        assert!(EventType::for_ticket_event("edited", false).is_empty());
    }

    #[test]
    fn event_names_round_trip() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
            assert_eq!(serde_json::to_value(event).unwrap(), event.as_str());
        }
    }
}
