//! The delivery worker. Every server process may run one; they share the work through the
//! database, so each event reaches each endpoint once however many replicas run:
//!
//! 1. *dispatch*: claim undispatched outbox events and write one delivery per subscribed
//!    endpoint, in one transaction (an event is dispatched once);
//! 2. *claim*: take due deliveries with a lease (`locked_until`); on PostgreSQL the
//!    candidate rows are locked `FOR UPDATE SKIP LOCKED`, so two workers never take the
//!    same row, and the lease keeps it theirs while the HTTP call runs outside any
//!    transaction;
//! 3. *send* and *record*: 2xx marks it delivered; anything else schedules a retry with
//!    exponential backoff, or marks it failed after the last attempt.
//!
//! A process that dies mid-call leaves its lease to expire; the delivery is then retried
//! (at-least-once at worst, and `Aftercare-Delivery` lets receivers drop the repeat).
//!
//! The SQL of each step is in [`super::store`]; this file sends and schedules.

use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime, SubsecRound, Utc};

use super::destination::{AddressNotAllowed, PublicOnlyResolver};
use super::{Attempt, Claimed, DeliveryFailure, WebhookSettings, envelope, signature, store};
use crate::db::Db;
use crate::error::ApiError;

const CLAIM_BATCH: i64 = 20;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub max_attempts: i32,
    pub retry_base: Duration,
    pub timeout: StdDuration,
    pub poll: StdDuration,
    /// Connect to internal addresses too (`WEBHOOK_ALLOW_PRIVATE`).
    pub allow_private: bool,
}

impl WorkerSettings {
    pub fn from_settings(settings: &WebhookSettings) -> WorkerSettings {
        WorkerSettings {
            max_attempts: settings.max_attempts,
            retry_base: Duration::milliseconds(
                i64::try_from(settings.retry_base_ms).unwrap_or(i64::MAX / 2),
            ),
            timeout: StdDuration::from_secs(settings.timeout_secs),
            poll: StdDuration::from_millis(settings.poll_ms),
            allow_private: settings.allow_private,
        }
    }

    /// How long a claim holds: past the longest a whole claimed batch can take (each call
    /// up to the timeout, one after another), so that a live worker's delivery is never
    /// taken from it. Whole seconds, so the stored value compares equal on both backends.
    fn lease_until(&self, now: NaiveDateTime) -> NaiveDateTime {
        let calls = u32::try_from(CLAIM_BATCH).unwrap_or(20) + 1;
        let lease = Duration::from_std(self.timeout * calls).unwrap_or(Duration::minutes(10))
            + Duration::seconds(30);
        (now + lease).trunc_subsecs(0)
    }
}

/// Posts one delivery, signed.
pub fn send(agent: &ureq::Agent, claimed: &Claimed) -> Attempt {
    let body = envelope(
        claimed.event_id,
        &claimed.event_type,
        claimed.event_created_at,
        &claimed.payload,
    )
    .to_string();
    let timestamp = Utc::now().timestamp();
    let result = agent
        .post(&claimed.url)
        .header("content-type", "application/json")
        .header("user-agent", "Aftercare-Webhooks/1")
        .header("aftercare-event", &claimed.event_type)
        .header("aftercare-delivery", claimed.delivery_id.to_string())
        .header("aftercare-timestamp", timestamp.to_string())
        .header(
            "aftercare-signature",
            signature(&claimed.secret, timestamp, body.as_bytes()),
        )
        .send(body.as_bytes());
    match result {
        Ok(response) if response.status().is_success() => Attempt::Delivered {
            status: response.status().as_u16(),
        },
        Ok(response) => Attempt::Failed {
            status: Some(response.status().as_u16()),
            error: DeliveryFailure::HttpStatus(response.status().as_u16()),
        },
        Err(error) => {
            // The library's words stay in the server's log.
            tracing::debug!(delivery_id = claimed.delivery_id, %error, "webhook attempt failed");
            Attempt::Failed {
                status: None,
                error: failure_of(&error),
            }
        }
    }
}

/// The fixed word for what went wrong.
pub fn failure_of(error: &ureq::Error) -> DeliveryFailure {
    use std::io::ErrorKind;
    match error {
        ureq::Error::Timeout(_) => DeliveryFailure::Timeout,
        ureq::Error::HostNotFound => DeliveryFailure::DnsLookupFailed,
        ureq::Error::Other(cause) if cause.is::<AddressNotAllowed>() => {
            DeliveryFailure::AddressNotAllowed
        }
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => DeliveryFailure::ConnectionRefused,
            ErrorKind::TimedOut | ErrorKind::WouldBlock => DeliveryFailure::Timeout,
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => DeliveryFailure::ConnectionReset,
            _ => DeliveryFailure::ConnectionFailed,
        },
        ureq::Error::ConnectionFailed => DeliveryFailure::ConnectionFailed,
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => DeliveryFailure::TlsError,
        ureq::Error::Protocol(_) | ureq::Error::Http(_) => DeliveryFailure::InvalidResponse,
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
            DeliveryFailure::RedirectNotFollowed
        }
        _ => DeliveryFailure::Other,
    }
}

/// The worker's HTTP client: no redirects, no proxy (a proxy would resolve the receiver's
/// name itself, out of the policy's reach), and a resolver that keeps deliveries off
/// internal addresses unless they are allowed.
pub fn agent(settings: &WorkerSettings) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(settings.timeout))
        .max_redirects(0)
        .proxy(None)
        .build();
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        PublicOnlyResolver::new(settings.allow_private),
    )
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub dispatched: usize,
    pub delivered: usize,
    pub failed_attempts: usize,
}

/// One round: dispatch, claim, send, record. Blocking; tests call it directly.
pub fn run_once(
    db: &Db,
    settings: &WorkerSettings,
    agent: &ureq::Agent,
) -> Result<Round, ApiError> {
    let now = Utc::now().naive_utc();
    let dispatched = db.write_blocking(|conn| store::dispatch(conn, now))?;
    let claimed =
        db.write_blocking(|conn| store::claim(conn, now, settings.lease_until(now), CLAIM_BATCH))?;
    let mut round = Round {
        dispatched,
        ..Round::default()
    };
    for delivery in &claimed {
        let attempt = send(agent, delivery);
        match &attempt {
            Attempt::Delivered { .. } => {
                round.delivered += 1;
                crate::metrics::record_webhook_attempt("delivered");
            }
            Attempt::Failed { error, .. } => {
                round.failed_attempts += 1;
                crate::metrics::record_webhook_attempt("failed");
                // The host only: a hook URL's path often is a secret of its own.
                let host = delivery
                    .url
                    .parse::<actix_web::http::Uri>()
                    .ok()
                    .and_then(|uri| uri.host().map(str::to_owned))
                    .unwrap_or_default();
                tracing::warn!(delivery_id = delivery.delivery_id, %host, %error, "webhook delivery failed");
            }
        }
        db.write_blocking(|conn| {
            store::record(
                conn,
                delivery,
                &attempt,
                Utc::now().naive_utc(),
                settings.max_attempts,
                settings.retry_base,
            )
        })?;
    }
    Ok(round)
}

/// Runs the worker on its own thread for the life of the process.
pub fn spawn(db: Db, settings: WorkerSettings) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("webhook-worker".into())
        .spawn(move || {
            let agent = agent(&settings);
            loop {
                let busy = match run_once(&db, &settings, &agent) {
                    Ok(round) => round.dispatched + round.delivered + round.failed_attempts > 0,
                    Err(error) => {
                        tracing::error!(?error, "webhook worker round failed");
                        false
                    }
                };
                if !busy {
                    std::thread::sleep(settings.poll);
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn failures_are_told_in_fixed_words_never_the_library_s() {
        let refused = io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111) at 10.0.0.7:6379",
        );
        let cases = [
            (ureq::Error::Io(refused), "connection refused"),
            (
                ureq::Error::Io(io::Error::other("SSH-2.0-OpenSSH_9.2 said hello")),
                "connection failed",
            ),
            (
                ureq::Error::Io(io::ErrorKind::ConnectionReset.into()),
                "connection reset",
            ),
            (ureq::Error::Timeout(ureq::Timeout::Global), "timeout"),
            (ureq::Error::HostNotFound, "dns lookup failed"),
            (
                ureq::Error::Other(Box::new(AddressNotAllowed)),
                "address not allowed",
            ),
            (
                ureq::Error::Other(Box::new(io::Error::other("something else"))),
                "delivery failed",
            ),
            (ureq::Error::ConnectionFailed, "connection failed"),
            (ureq::Error::Tls("certificate expired"), "tls error"),
            (ureq::Error::TooManyRedirects, "redirect not followed"),
            (ureq::Error::BadUri("ftp://x".into()), "delivery failed"),
        ];
        for (error, words) in cases {
            assert_eq!(failure_of(&error).to_string(), words, "{error}");
        }
        assert_eq!(DeliveryFailure::HttpStatus(503).to_string(), "http 503");
    }
}
