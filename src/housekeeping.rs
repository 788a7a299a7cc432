//! Periodic clean-up that no request waits for: purging expired idempotency keys and login
//! attempts too old to count for any throttling rule.
//!
//! It runs on its own thread in every server process, apart from the webhook worker, so
//! that turning the worker off on a replica (`WEBHOOK_WORKER=false`) does not leave the
//! table growing. Each task is one bounded statement that is safe on every replica at once:
//! a row deleted by one process is simply not there for the others.

use std::time::Duration;

use chrono::Utc;

use crate::auth::throttle::ThrottlePolicy;
use crate::db::Db;

/// How often the tasks run. Expired rows are ignored by every lookup, so this only bounds
/// how long they take up space.
pub const INTERVAL: Duration = Duration::from_secs(300);

/// Runs every task once; errors are logged, never fatal (the next round tries again).
pub fn run_once(db: &Db, login_throttle: &ThrottlePolicy) {
    let now = Utc::now().naive_utc();
    match db.write_blocking(|conn| crate::idempotency::store::purge_expired(conn, now)) {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "expired idempotency keys purged"),
        Err(error) => tracing::warn!(?error, "idempotency purge failed"),
    }
    let forgotten = now - login_throttle.memory();
    match db.write_blocking(|conn| crate::auth::store::purge_attempts(conn, forgotten)) {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "old login attempts purged"),
        Err(error) => tracing::warn!(%error, "login attempt purge failed"),
    }
}

/// Starts the housekeeping thread for the life of the process.
pub fn spawn(
    db: Db,
    login_throttle: ThrottlePolicy,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("housekeeping".into())
        .spawn(move || {
            loop {
                run_once(&db, &login_throttle);
                std::thread::sleep(INTERVAL);
            }
        })
}
