//! Login throttling: after too many failures for one account or from one client address
//! within a window, logins are refused (429 with `Retry-After`) until the window has room.
//! Failures are kept in the database (see [`super::store`]), so several replicas share
//! the same counts; the rules here are plain functions.

use chrono::{Duration, NaiveDateTime};
use clap::Args;

use crate::error::ApiError;

/// How many failed logins are tolerated, and over what window (settings, defaults here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct ThrottlePolicy {
    /// Failed logins for one account within LOGIN_WINDOW_MINUTES before its logins are refused.
    #[arg(long = "login-max-failures-per-account", env = "LOGIN_MAX_FAILURES_PER_ACCOUNT", default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_per_account: i64,

    /// Failed logins from one client address within LOGIN_WINDOW_MINUTES before its logins are refused.
    #[arg(long = "login-max-failures-per-address", env = "LOGIN_MAX_FAILURES_PER_ADDRESS", default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_per_address: i64,

    /// The window failed logins are counted in, in minutes.
    #[arg(long = "login-window-minutes", env = "LOGIN_WINDOW_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(i64).range(1..=1440))]
    pub window_minutes: i64,
}

impl ThrottlePolicy {
    pub fn window(&self) -> Duration {
        Duration::minutes(self.window_minutes)
    }
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

/// 429 if either subject is over its limit, given each subject's failures within the
/// window (oldest first).
pub fn check(
    policy: &ThrottlePolicy,
    account_failures: &[NaiveDateTime],
    address_failures: &[NaiveDateTime],
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let waits = [
        retry_after(
            account_failures,
            policy.max_per_account,
            policy.window(),
            now,
        ),
        retry_after(
            address_failures,
            policy.max_per_address,
            policy.window(),
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
    fn either_subject_over_its_limit_refuses() {
        let policy = ThrottlePolicy {
            max_per_account: 2,
            max_per_address: 3,
            window_minutes: 15,
        };
        assert!(check(&policy, &[at(0)], &[at(0), at(1)], at(2)).is_ok());
        let refused = check(&policy, &[at(0), at(1)], &[], at(2));
        assert!(matches!(
            refused,
            Err(ApiError::TooManyRequests {
                retry_after_secs: 780
            })
        ));
        assert!(check(&policy, &[], &[at(0), at(1), at(2)], at(3)).is_err());
    }

    #[test]
    fn the_wait_is_never_zero() {
        assert_eq!(
            retry_after(&[at(0)], 1, Duration::minutes(15), at(15)),
            Some(Duration::seconds(1))
        );
    }
}
