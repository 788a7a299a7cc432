//! Reserving a login attempt: the throttle's check and the count it is made on as one
//! atomic step. Checking first and counting the failure afterwards, as separate steps,
//! lets every guess of a burst pass the check before any of them is counted.

use chrono::NaiveDateTime;

use super::store::{self, Subject};
use super::throttle::{self, LoginAttempt, RecentFailures, ThrottlePolicy};
use crate::db::DbConnection;
use crate::error::ApiError;

/// In the caller's write transaction: locks the attempt's subjects, counts their recent
/// failures, and either refuses (429) or records the attempt up front, as a failure until
/// the password proves right. Returns the recorded attempt's id, so that exactly this
/// reservation can be taken back if its password is never checked.
pub fn reserve_attempt(
    conn: &mut DbConnection,
    policy: &ThrottlePolicy,
    attempt: &LoginAttempt,
    now: NaiveDateTime,
) -> Result<i64, ApiError> {
    store::lock_subjects(conn, attempt)?;
    let failures = RecentFailures {
        pair: store::recent_attempts(
            conn,
            Subject::Pair(attempt),
            now - policy.backoff_window(),
            policy.pair_failures_that_count(),
        )?,
        account: store::recent_attempts(
            conn,
            Subject::Account(attempt),
            now - policy.account_window(),
            policy.max_per_account,
        )?,
        address: store::recent_attempts(
            conn,
            Subject::Address(attempt),
            now - policy.address_window(),
            policy.max_per_address,
        )?,
    };
    throttle::check(policy, &failures, now).inspect_err(|_| crate::metrics::record_throttled())?;
    store::insert_attempt(conn, attempt, now)
}
