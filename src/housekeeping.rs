//! Periodic clean-up that no request waits for: expired idempotency keys, login attempts
//! too old to count for any throttling rule, and webhook deliveries and events past their
//! retention. The ticket timeline, tier history and audit log are kept forever.
//!
//! It runs on its own thread in every server process, apart from the webhook worker, so
//! that turning the worker off on a replica (`WEBHOOK_WORKER=false`) does not leave the
//! tables growing. Each task deletes in bounded batches, each batch its own short
//! transaction, so writers (on SQLite, the one writer at a time) get their turn between
//! batches; and each is safe on every replica at once: a row deleted by one process is
//! simply not there for the others.

use std::time::Duration;

use chrono::{NaiveDateTime, Utc};

use crate::auth::throttle::ThrottlePolicy;
use crate::db::{Db, DbConnection};
use crate::error::ApiError;

/// How often the tasks run. Expired rows are ignored by every lookup, so this only bounds
/// how long they take up space.
pub const INTERVAL: Duration = Duration::from_secs(300);

/// How long finished webhook work is kept, and how much is deleted per transaction.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct RetentionSettings {
    /// Days a delivered webhook delivery (and then its event) is kept, for the deliveries list.
    #[arg(long = "retention-webhook-delivered-days", env = "RETENTION_WEBHOOK_DELIVERED_DAYS", default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub webhook_delivered_days: i64,
    /// Days a failed webhook delivery (one that gave up) is kept, to be re-sent by an admin.
    #[arg(long = "retention-webhook-failed-days", env = "RETENTION_WEBHOOK_FAILED_DAYS", default_value_t = 90, value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub webhook_failed_days: i64,
    /// Rows deleted per transaction by the clean-up (other writers get a turn between batches).
    #[arg(long = "housekeeping-batch-rows", env = "HOUSEKEEPING_BATCH_ROWS", default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub purge_batch_rows: i64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        crate::defaults::defaults()
    }
}

/// Rows deleted by one round, per task.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_keys: usize,
    pub login_attempts: usize,
    pub webhook_deliveries: usize,
    pub webhook_events: usize,
}

/// Deletes in batches of `batch` rows until a batch comes back short; a failure ends the
/// task for this round (logged; the next round tries again).
fn in_batches(
    db: &Db,
    task: &str,
    batch: i64,
    mut purge: impl FnMut(&mut DbConnection, i64) -> Result<usize, ApiError>,
) -> usize {
    let mut total = 0;
    loop {
        match db.write_blocking(|conn| purge(conn, batch)) {
            Ok(purged) => {
                total += purged;
                if i64::try_from(purged).unwrap_or(i64::MAX) < batch {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, task, "housekeeping task failed");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(purged = total, task, "housekeeping purged rows");
    }
    total
}

/// Runs every task once, as of `now`.
pub fn run_at(
    db: &Db,
    login_throttle: &ThrottlePolicy,
    retention: &RetentionSettings,
    now: NaiveDateTime,
) -> Purged {
    let batch = retention.purge_batch_rows;
    let forgotten = now - login_throttle.memory();
    let delivered_before = now - chrono::Duration::days(retention.webhook_delivered_days);
    let failed_before = now - chrono::Duration::days(retention.webhook_failed_days);
    Purged {
        idempotency_keys: in_batches(db, "idempotency keys", batch, |conn, n| {
            crate::idempotency::store::purge_expired(conn, now, n)
        }),
        login_attempts: in_batches(db, "login attempts", batch, |conn, n| {
            crate::auth::store::purge_attempts(conn, forgotten, n)
        }),
        webhook_deliveries: in_batches(db, "webhook deliveries", batch, |conn, n| {
            crate::webhooks::store::purge_finished_deliveries(
                conn,
                delivered_before,
                failed_before,
                n,
            )
        }),
        // After the deliveries, so that events whose deliveries just went follow them.
        webhook_events: in_batches(db, "webhook events", batch, |conn, n| {
            crate::webhooks::store::purge_dispatched_events(conn, delivered_before, n)
        }),
    }
}

/// Runs every task once, now.
pub fn run_once(db: &Db, login_throttle: &ThrottlePolicy, retention: &RetentionSettings) -> Purged {
    run_at(db, login_throttle, retention, Utc::now().naive_utc())
}

/// Starts the housekeeping thread for the life of the process.
pub fn spawn(
    db: Db,
    login_throttle: ThrottlePolicy,
    retention: RetentionSettings,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("housekeeping".into())
        .spawn(move || {
            loop {
                run_once(&db, &login_throttle, &retention);
                std::thread::sleep(INTERVAL);
            }
        })
}
