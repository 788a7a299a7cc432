//! Login throttling: after too many failures for one account or from one client address
//! within a window, logins are refused (429 with `Retry-After`) until the window has room.
//! Failures are kept in the database, so several replicas share the same counts.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::login_failures;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_per_account: i64,
    pub max_per_address: i64,
    pub window: Duration,
}

pub fn account_subject(email: &str) -> String {
    format!("account:{email}")
}

pub fn address_subject(address: &str) -> String {
    format!("address:{address}")
}

/// When a subject with these failure times (oldest first, all within the window) may try
/// again: `None` while under the limit, else when the oldest counted failure leaves the window.
pub fn retry_after(
    failures: &[NaiveDateTime],
    max: i64,
    window: Duration,
    now: NaiveDateTime,
) -> Option<Duration> {
    let count = failures.len() as i64;
    if count < max {
        return None;
    }
    // The (count - max + 1)-th oldest must expire before the count drops under the limit.
    let index = usize::try_from(count - max).unwrap_or(0);
    let frees_at = failures[index] + window;
    Some((frees_at - now).max(Duration::seconds(1)))
}

fn recent(
    conn: &mut DbConnection,
    subject: &str,
    since: NaiveDateTime,
) -> Result<Vec<NaiveDateTime>, ApiError> {
    Ok(login_failures::table
        .filter(login_failures::subject.eq(subject))
        .filter(login_failures::failed_at.gt(since))
        .order(login_failures::failed_at.asc())
        .select(login_failures::failed_at)
        .load(conn)?)
}

/// 429 if either subject is over its limit.
pub fn check(
    conn: &mut DbConnection,
    policy: &ThrottlePolicy,
    account: &str,
    address: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let since = now - policy.window;
    let waits = [
        retry_after(
            &recent(conn, account, since)?,
            policy.max_per_account,
            policy.window,
            now,
        ),
        retry_after(
            &recent(conn, address, since)?,
            policy.max_per_address,
            policy.window,
            now,
        ),
    ];
    match waits.into_iter().flatten().max() {
        None => Ok(()),
        Some(wait) => Err(ApiError::TooManyRequests {
            retry_after_secs: u64::try_from(wait.num_seconds()).unwrap_or(1).max(1),
        }),
    }
}

/// Records a failure for both subjects and forgets their failures older than the window.
pub fn record_failure(
    conn: &mut DbConnection,
    policy: &ThrottlePolicy,
    account: &str,
    address: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::delete(
        login_failures::table
            .filter(login_failures::subject.eq_any([account, address]))
            .filter(login_failures::failed_at.le(now - policy.window)),
    )
    .execute(conn)?;
    for subject in [account, address] {
        diesel::insert_into(login_failures::table)
            .values((
                login_failures::subject.eq(subject),
                login_failures::failed_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A successful login clears the account's failures (not the address's).
pub fn clear_account(conn: &mut DbConnection, account: &str) -> Result<(), ApiError> {
    diesel::delete(login_failures::table.filter(login_failures::subject.eq(account)))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> NaiveDateTime {
        NaiveDateTime::parse_from_str("2026-11-23 10:00", "%Y-%m-%d %H:%M").unwrap()
            + Duration::minutes(minute)
    }

    #[test]
    fn under_the_limit_nothing_waits() {
        assert_eq!(
            retry_after(&[at(0), at(1)], 3, Duration::minutes(15), at(2)),
            None
        );
    }

    #[test]
    fn at_the_limit_wait_for_the_oldest_to_expire() {
        let failures = [at(0), at(1), at(2)];
        assert_eq!(
            retry_after(&failures, 3, Duration::minutes(15), at(5)),
            Some(Duration::minutes(10))
        );
        // Two over the limit: the second-oldest must expire too.
        let failures = [at(0), at(1), at(2), at(3)];
        assert_eq!(
            retry_after(&failures, 3, Duration::minutes(15), at(5)),
            Some(Duration::minutes(11))
        );
    }

    #[test]
    fn the_wait_is_never_zero() {
        assert_eq!(
            retry_after(&[at(0)], 1, Duration::minutes(15), at(15)),
            Some(Duration::seconds(1))
        );
    }
}
