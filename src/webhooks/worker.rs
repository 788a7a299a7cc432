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

use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::{envelope, retry_delay, signature};
use crate::config::Settings;
use crate::db::{Backend, Db, DbConnection, raw_sql};
use crate::error::ApiError;
use crate::schema::{webhook_deliveries, webhook_endpoints, webhook_events};

const DISPATCH_BATCH: i64 = 200;
const CLAIM_BATCH: i64 = 20;
/// Longest stored `last_error`.
const MAX_ERROR_LEN: usize = 500;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub max_attempts: i32,
    pub retry_base: Duration,
    pub timeout: StdDuration,
    pub poll: StdDuration,
}

impl WorkerSettings {
    pub fn from_settings(settings: &Settings) -> WorkerSettings {
        WorkerSettings {
            max_attempts: settings.webhook_max_attempts,
            retry_base: Duration::milliseconds(
                i64::try_from(settings.webhook_retry_base_ms).unwrap_or(i64::MAX / 2),
            ),
            timeout: StdDuration::from_secs(settings.webhook_timeout_secs),
            poll: StdDuration::from_millis(settings.webhook_poll_ms),
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

fn skip_locked(backend: Backend) -> &'static str {
    match backend {
        // SQLite runs one writer at a time: the UPDATE is already exclusive.
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
    }
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Turns undispatched events into deliveries; returns how many events it took.
pub fn dispatch(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, ApiError> {
    let backend = conn.backend();
    let sql = format!(
        "UPDATE webhook_events SET dispatched_at = $1 WHERE id IN (
            SELECT id FROM webhook_events WHERE dispatched_at IS NULL
            ORDER BY id LIMIT $2{}) RETURNING id",
        skip_locked(backend)
    );
    let ids: Vec<i64> = diesel::sql_query(raw_sql(backend, &sql))
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(DISPATCH_BATCH)
        .load::<IdRow>(conn)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let events: Vec<(i64, i64, String)> = webhook_events::table
        .filter(webhook_events::id.eq_any(&ids))
        .select((
            webhook_events::id,
            webhook_events::shop_id,
            webhook_events::event_type,
        ))
        .order(webhook_events::id)
        .load(conn)?;
    let shops: Vec<i64> = events.iter().map(|e| e.1).collect();
    let endpoints: Vec<(i64, i64, String)> = webhook_endpoints::table
        .filter(webhook_endpoints::shop_id.eq_any(&shops))
        .filter(webhook_endpoints::active.eq(true))
        .select((
            webhook_endpoints::id,
            webhook_endpoints::shop_id,
            webhook_endpoints::events,
        ))
        .load(conn)?;
    for (event_id, shop_id, event_type) in &events {
        for (endpoint_id, _, _) in endpoints.iter().filter(|(_, shop, subscribed)| {
            shop == shop_id && subscribed.split_whitespace().any(|e| e == event_type)
        }) {
            diesel::insert_into(webhook_deliveries::table)
                .values((
                    webhook_deliveries::shop_id.eq(shop_id),
                    webhook_deliveries::endpoint_id.eq(endpoint_id),
                    webhook_deliveries::event_id.eq(event_id),
                    webhook_deliveries::status.eq("pending"),
                    webhook_deliveries::attempts.eq(0),
                    webhook_deliveries::next_attempt_at.eq(now),
                    webhook_deliveries::created_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    Ok(events.len())
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

type ClaimedRow = (i64, i32, String, String, i64, String, NaiveDateTime, String);

/// Takes up to `limit` due deliveries until `lease_until`.
pub fn claim(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Claimed>, ApiError> {
    let backend = conn.backend();
    let sql = format!(
        "UPDATE webhook_deliveries SET locked_until = $1 WHERE id IN (
            SELECT id FROM webhook_deliveries
            WHERE status = 'pending' AND next_attempt_at <= $2
              AND (locked_until IS NULL OR locked_until <= $2)
              AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE active)
            ORDER BY next_attempt_at, id LIMIT $3{}) RETURNING id",
        skip_locked(backend)
    );
    let ids: Vec<i64> = diesel::sql_query(raw_sql(backend, &sql))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<IdRow>(conn)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<ClaimedRow> = webhook_deliveries::table
        .inner_join(webhook_endpoints::table)
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::id.eq_any(&ids))
        .select((
            webhook_deliveries::id,
            webhook_deliveries::attempts,
            webhook_endpoints::url,
            webhook_endpoints::secret,
            webhook_events::id,
            webhook_events::event_type,
            webhook_events::created_at,
            webhook_events::payload,
        ))
        .order(webhook_deliveries::id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(delivery_id, attempts, url, secret, event_id, event_type, created_at, payload)| {
                Claimed {
                    delivery_id,
                    locked_until: lease_until,
                    attempts,
                    url,
                    secret,
                    event_id,
                    event_type,
                    event_created_at: created_at,
                    payload,
                }
            },
        )
        .collect())
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered { status: u16 },
    Failed { status: Option<u16>, error: String },
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
            error: format!("receiver answered {}", response.status()),
        },
        Err(error) => Attempt::Failed {
            status: None,
            error: error.to_string(),
        },
    }
}

/// Stores an attempt's result and what comes next.
pub fn record(
    conn: &mut DbConnection,
    claimed: &Claimed,
    attempt: &Attempt,
    now: NaiveDateTime,
    settings: &WorkerSettings,
) -> Result<(), ApiError> {
    let attempts = claimed.attempts + 1;
    // Only while the claim is still ours: a worker whose lease ran out must not overwrite
    // the result of the worker that took the delivery over.
    let row = webhook_deliveries::table
        .filter(webhook_deliveries::id.eq(claimed.delivery_id))
        .filter(webhook_deliveries::locked_until.eq(claimed.locked_until));
    let updated = match attempt {
        Attempt::Delivered { status } => diesel::update(row)
            .set((
                webhook_deliveries::status.eq("delivered"),
                webhook_deliveries::attempts.eq(attempts),
                webhook_deliveries::next_attempt_at.eq(None::<NaiveDateTime>),
                webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
                webhook_deliveries::last_attempt_at.eq(now),
                webhook_deliveries::last_status_code.eq(Some(i32::from(*status))),
                webhook_deliveries::last_error.eq(None::<String>),
                webhook_deliveries::delivered_at.eq(now),
            ))
            .execute(conn)?,
        Attempt::Failed { status, error } => {
            let give_up = attempts >= settings.max_attempts;
            let next = (!give_up).then(|| now + retry_delay(settings.retry_base, attempts));
            let error: String = error.chars().take(MAX_ERROR_LEN).collect();
            diesel::update(row)
                .set((
                    webhook_deliveries::status.eq(if give_up { "failed" } else { "pending" }),
                    webhook_deliveries::attempts.eq(attempts),
                    webhook_deliveries::next_attempt_at.eq(next),
                    webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
                    webhook_deliveries::last_attempt_at.eq(now),
                    webhook_deliveries::last_status_code.eq(status.map(i32::from)),
                    webhook_deliveries::last_error.eq(Some(error)),
                ))
                .execute(conn)?
        }
    };
    if updated == 0 {
        tracing::warn!(
            delivery_id = claimed.delivery_id,
            "webhook delivery's lease ran out before its result was recorded"
        );
    }
    Ok(())
}

pub fn agent(settings: &WorkerSettings) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(settings.timeout))
        .max_redirects(0)
        .build()
        .into()
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
    let dispatched = db.write_blocking(|conn| dispatch(conn, now))?;
    let claimed =
        db.write_blocking(|conn| claim(conn, now, settings.lease_until(now), CLAIM_BATCH))?;
    let mut round = Round {
        dispatched,
        ..Round::default()
    };
    for delivery in &claimed {
        let attempt = send(agent, delivery);
        match &attempt {
            Attempt::Delivered { .. } => round.delivered += 1,
            Attempt::Failed { error, .. } => {
                round.failed_attempts += 1;
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
            record(conn, delivery, &attempt, Utc::now().naive_utc(), settings)
        })?;
    }
    Ok(round)
}

/// Runs the worker on its own thread for the life of the process; also purges expired
/// idempotency keys now and then.
pub fn spawn(db: Db, settings: WorkerSettings) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("webhook-worker".into())
        .spawn(move || {
            let agent = agent(&settings);
            let mut last_purge = std::time::Instant::now();
            loop {
                let busy = match run_once(&db, &settings, &agent) {
                    Ok(round) => round.dispatched + round.delivered + round.failed_attempts > 0,
                    Err(error) => {
                        tracing::error!(%error, "webhook worker round failed");
                        false
                    }
                };
                if last_purge.elapsed() > StdDuration::from_secs(300) {
                    last_purge = std::time::Instant::now();
                    let now = Utc::now().naive_utc();
                    match db.write_blocking(|conn| crate::idempotency::purge_expired(conn, now)) {
                        Ok(n) if n > 0 => {
                            tracing::info!(purged = n, "expired idempotency keys purged")
                        }
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "idempotency purge failed"),
                    }
                }
                if !busy {
                    std::thread::sleep(settings.poll);
                }
            }
        })
}
