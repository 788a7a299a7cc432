//! Login throttling: how long an attempt at an account from an address must wait, given the
//! failures before it. Three subjects are counted, each for its own threat:
//!
//! - the **pair** (this account from this address): a few failures are free, then each
//!   further one makes the next attempt wait, doubling up to a cap. This is what slows a
//!   guesser at one account, and it is all a person who mistypes their password meets;
//! - the **account** from every address: a higher limit in a shorter window, so that
//!   guessing from many addresses is bounded too, while an anonymous caller elsewhere
//!   cannot lock the account's owner out for long with a handful of guesses;
//! - the **address** at every account: one client spraying guesses over many accounts.
//!
//! An attempt is counted *before* its password is checked (see `super::operations`), so
//! guesses sent at once are refused once the limit is reserved. Failures are kept in the
//! database, so every replica sees the same counts; the rules here are plain functions.

use chrono::{Duration, NaiveDateTime};
use clap::Args;
use std::net::IpAddr;

use crate::error::ApiError;

/// The address a login attempt is counted against. An IPv4 address as itself (also when it
/// arrives IPv4-mapped); an IPv6 address by its /64, since one host usually holds a whole
/// /64 and rotating through it must not reset the counts.
pub fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

/// The client a request comes from: its TCP peer, unless the peer is one of the
/// `trusted` reverse proxies, in which case `X-Forwarded-For` (each proxy appends the
/// address it received from) is read from the right, past every trusted proxy, to the
/// first address a trusted proxy received from. A client writes whatever it likes at the
/// left of that header, so nothing left of the first untrusted hop is believed, and a
/// garbled entry ends the walk at the hop that wrote it.
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    let mut client = peer?;
    if !is_trusted(&client) {
        return Some(client);
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .rev();
    for hop in hops {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// How many failed logins are tolerated, and for how long they count (settings, defaults here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct ThrottlePolicy {
    /// Failed attempts at one account from one address before further ones must wait.
    #[arg(long = "login-free-failures", env = "LOGIN_FREE_FAILURES", default_value_t = 3, value_parser = clap::value_parser!(i64).range(1..))]
    pub free_failures: i64,

    /// The wait after the first failure beyond the free ones, in seconds; it doubles with each further failure.
    #[arg(long = "login-backoff-secs", env = "LOGIN_BACKOFF_SECS", default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=3600))]
    pub backoff_secs: i64,

    /// The longest wait between attempts at one account from one address, in seconds.
    #[arg(long = "login-backoff-max-secs", env = "LOGIN_BACKOFF_MAX_SECS", default_value_t = 900, value_parser = clap::value_parser!(i64).range(1..=86_400))]
    pub backoff_max_secs: i64,

    /// How long a failure counts towards its account-and-address back-off, in minutes.
    #[arg(long = "login-backoff-window-minutes", env = "LOGIN_BACKOFF_WINDOW_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=1440))]
    pub backoff_window_minutes: i64,

    /// Failed logins for one account, from any address, within LOGIN_ACCOUNT_WINDOW_MINUTES before its logins are refused.
    #[arg(long = "login-max-failures-per-account", env = "LOGIN_MAX_FAILURES_PER_ACCOUNT", default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_per_account: i64,

    /// The window failed logins for one account are counted in, in minutes.
    #[arg(long = "login-account-window-minutes", env = "LOGIN_ACCOUNT_WINDOW_MINUTES", default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..=1440))]
    pub account_window_minutes: i64,

    /// Failed logins from one client address, at any account, within LOGIN_WINDOW_MINUTES before its logins are refused.
    #[arg(long = "login-max-failures-per-address", env = "LOGIN_MAX_FAILURES_PER_ADDRESS", default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_per_address: i64,

    /// The window failed logins from one client address are counted in, in minutes.
    #[arg(long = "login-window-minutes", env = "LOGIN_WINDOW_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(i64).range(1..=1440))]
    pub address_window_minutes: i64,
}

/// Doublings after which every wait is at its cap: a wait of at least one second doubled
/// this often exceeds any cap the settings allow (a day).
const DOUBLINGS_TO_ANY_CAP: i64 = 17;

impl ThrottlePolicy {
    pub fn backoff_window(&self) -> Duration {
        Duration::minutes(self.backoff_window_minutes)
    }

    pub fn account_window(&self) -> Duration {
        Duration::minutes(self.account_window_minutes)
    }

    pub fn address_window(&self) -> Duration {
        Duration::minutes(self.address_window_minutes)
    }

    /// How long any failure can matter: older ones may be purged.
    pub fn memory(&self) -> Duration {
        self.backoff_window()
            .max(self.account_window())
            .max(self.address_window())
    }

    /// The newest pair failures the back-off can tell apart: beyond these the wait is capped.
    pub fn pair_failures_that_count(&self) -> i64 {
        self.free_failures.saturating_add(DOUBLINGS_TO_ANY_CAP)
    }
}

/// One attempt to prove a password: at an account (the normalised email, known or not),
/// from a client address (the TCP peer, never a header the client writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    pub account: String,
    pub address: String,
}

/// The failures that bear on an attempt, each list newest first and within its window
/// (attempts whose check is still running count as failures).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentFailures {
    /// At the same account from the same address, within the back-off window.
    pub pair: Vec<NaiveDateTime>,
    /// At the same account from any address, within the account window.
    pub account: Vec<NaiveDateTime>,
    /// From the same address at any account, within the address window.
    pub address: Vec<NaiveDateTime>,
}

/// The back-off of one account from one address: `None` while the failures are within the
/// free ones or the wait after the newest has passed, else how much longer to wait.
pub fn backoff_wait(
    policy: &ThrottlePolicy,
    pair_newest_first: &[NaiveDateTime],
    now: NaiveDateTime,
) -> Option<Duration> {
    let count = pair_newest_first.len() as i64;
    let beyond_free = count - policy.free_failures;
    if beyond_free < 0 {
        return None;
    }
    let doublings = u32::try_from(beyond_free.min(DOUBLINGS_TO_ANY_CAP)).unwrap_or(0);
    let wait_secs = policy
        .backoff_secs
        .saturating_mul(1_i64 << doublings)
        .min(policy.backoff_max_secs);
    let allowed_at = pair_newest_first[0] + Duration::seconds(wait_secs);
    (allowed_at > now).then(|| allowed_at - now)
}

/// A limit of `max` failures within `window`: `None` while under it, else how long until
/// the oldest failure that keeps the count at the limit leaves the window (at least 1 s).
pub fn limit_wait(
    failures_newest_first: &[NaiveDateTime],
    max: i64,
    window: Duration,
    now: NaiveDateTime,
) -> Option<Duration> {
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    if failures_newest_first.len() < limit {
        return None;
    }
    // The max-th newest must leave the window before the count drops under the limit.
    let frees_at = failures_newest_first[limit - 1] + window;
    Some((frees_at - now).max(Duration::seconds(1)))
}

/// 429 with the longest wait if any subject must wait, given its recent failures.
pub fn check(
    policy: &ThrottlePolicy,
    failures: &RecentFailures,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let waits = [
        backoff_wait(policy, &failures.pair, now),
        limit_wait(
            &failures.account,
            policy.max_per_account,
            policy.account_window(),
            now,
        ),
        limit_wait(
            &failures.address,
            policy.max_per_address,
            policy.address_window(),
            now,
        ),
    ];
    match waits.into_iter().flatten().max() {
        None => Ok(()),
        Some(wait) => Err(ApiError::TooManyRequests {
            // Rounded up: a client that waits exactly this long is let in.
            retry_after_secs: u64::try_from((wait + Duration::milliseconds(999)).num_seconds())
                .unwrap_or(1)
                .max(1),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:10.0.0.1"), "10.0.0.1");
        assert_eq!(key("10.0.0.1"), "10.0.0.1");
    }
    use crate::defaults::defaults;

    fn at(second: i64) -> NaiveDateTime {
        NaiveDateTime::parse_from_str("2026-11-23 10:00", "%Y-%m-%d %H:%M").unwrap()
            + Duration::seconds(second)
    }

    /// Failures at these seconds, newest first as the store returns them.
    fn failures(seconds: &[i64]) -> Vec<NaiveDateTime> {
        let mut times: Vec<NaiveDateTime> = seconds.iter().map(|&s| at(s)).collect();
        times.sort_by(|a, b| b.cmp(a));
        times
    }

    fn policy() -> ThrottlePolicy {
        defaults()
    }

    #[test]
    fn the_defaults_are_the_documented_policy() {
        let policy = policy();
        assert_eq!(policy.free_failures, 3);
        assert_eq!(policy.backoff_secs, 30);
        assert_eq!(policy.backoff_max_secs, 900);
        assert_eq!(policy.backoff_window_minutes, 60);
        assert_eq!(policy.max_per_account, 20);
        assert_eq!(policy.account_window_minutes, 5);
        assert_eq!(policy.max_per_address, 20);
        assert_eq!(policy.address_window_minutes, 15);
        assert_eq!(policy.memory(), Duration::minutes(60));
    }

    #[test]
    fn the_first_failures_of_a_pair_are_free() {
        let policy = policy();
        assert_eq!(backoff_wait(&policy, &[], at(0)), None);
        assert_eq!(backoff_wait(&policy, &failures(&[0, 1]), at(1)), None);
    }

    #[test]
    fn beyond_the_free_failures_the_wait_doubles_up_to_the_cap() {
        let policy = policy();
        // Three failures: 30 s after the newest.
        assert_eq!(
            backoff_wait(&policy, &failures(&[0, 1, 2]), at(2)),
            Some(Duration::seconds(30))
        );
        assert_eq!(
            backoff_wait(&policy, &failures(&[0, 1, 2]), at(12)),
            Some(Duration::seconds(20))
        );
        assert_eq!(backoff_wait(&policy, &failures(&[0, 1, 2]), at(32)), None);
        // Four: 60 s; five: 120 s.
        assert_eq!(
            backoff_wait(&policy, &failures(&[0, 1, 2, 40]), at(40)),
            Some(Duration::seconds(60))
        );
        assert_eq!(
            backoff_wait(&policy, &failures(&[0, 1, 2, 40, 100]), at(100)),
            Some(Duration::seconds(120))
        );
        // Never more than the cap, however many failures.
        let many: Vec<i64> = (0..40).collect();
        assert_eq!(
            backoff_wait(&policy, &failures(&many), at(39)),
            Some(Duration::seconds(900))
        );
    }

    #[test]
    fn a_limit_waits_for_the_failure_that_keeps_it_full() {
        let window = Duration::minutes(5);
        assert_eq!(limit_wait(&failures(&[0, 60]), 3, window, at(60)), None);
        // At the limit: until the oldest leaves the window.
        assert_eq!(
            limit_wait(&failures(&[0, 60, 120]), 3, window, at(120)),
            Some(Duration::seconds(180))
        );
        // One over: the second-oldest must leave too.
        assert_eq!(
            limit_wait(&failures(&[0, 60, 120, 180]), 3, window, at(180)),
            Some(Duration::seconds(180))
        );
        // Never zero.
        assert_eq!(
            limit_wait(&failures(&[0]), 1, window, at(300)),
            Some(Duration::seconds(1))
        );
    }

    #[test]
    fn an_account_is_not_locked_by_a_few_guesses_from_elsewhere() {
        let policy = policy();
        // Five failures from another address are only the account's count, far under its
        // limit; the owner's own pair has none.
        let from_elsewhere = RecentFailures {
            pair: vec![],
            account: failures(&[0, 1, 2, 3, 4]),
            address: vec![],
        };
        assert!(check(&policy, &from_elsewhere, at(5)).is_ok());
        // The guesser's own pair must wait.
        let guesser = RecentFailures {
            pair: failures(&[0, 1, 2, 3, 4]),
            ..from_elsewhere
        };
        assert!(check(&policy, &guesser, at(5)).is_err());
    }

    #[test]
    fn the_longest_wait_of_any_subject_is_the_answer() {
        let policy = policy();
        let account_full: Vec<i64> = (0..20).collect();
        let refused = check(
            &policy,
            &RecentFailures {
                pair: failures(&[0, 1, 2]),
                account: failures(&account_full),
                address: vec![],
            },
            at(19),
        );
        // The pair waits 30 s after its newest (13 s left); the account until its oldest
        // leaves the 5-minute window (281 s).
        assert!(matches!(
            refused,
            Err(ApiError::TooManyRequests {
                retry_after_secs: 281
            })
        ));
        let address_full: Vec<i64> = (0..20).collect();
        assert!(
            check(
                &policy,
                &RecentFailures {
                    address: failures(&address_full),
                    ..Default::default()
                },
                at(20),
            )
            .is_err()
        );
    }

    #[test]
    fn forwarded_addresses_count_only_through_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted: Vec<ipnet::IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        let peer = Some(ip("127.0.0.1"));
        // No proxies trusted: the peer, whatever the header says.
        assert_eq!(client_address(peer, &["203.0.113.7"], &[]), peer);
        // From a stranger, the header is ignored.
        assert_eq!(
            client_address(Some(ip("198.51.100.1")), &["203.0.113.7"], &trusted),
            Some(ip("198.51.100.1"))
        );
        // Through the proxy: the address it received from.
        assert_eq!(
            client_address(peer, &["203.0.113.7"], &trusted),
            Some(ip("203.0.113.7"))
        );
        // A client's own entries at the left are not believed; chained trusted proxies are
        // walked past, across repeated headers too.
        assert_eq!(
            client_address(peer, &["1.2.3.4, 203.0.113.7", "10.1.2.3"], &trusted),
            Some(ip("203.0.113.7"))
        );
        // A garbled entry stops the walk at the proxy that wrote it.
        assert_eq!(
            client_address(peer, &["203.0.113.7, not-an-ip"], &trusted),
            peer
        );
        // No header at all through a proxy: the proxy.
        assert_eq!(client_address(peer, &[], &trusted), peer);
        // IPv4-mapped peers are trusted as their IPv4 selves.
        assert_eq!(
            client_address(Some(ip("::ffff:127.0.0.1")), &["203.0.113.9"], &trusted),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn retry_after_is_rounded_up() {
        let policy = policy();
        let refused = check(
            &policy,
            &RecentFailures {
                pair: failures(&[0, 1, 2]),
                ..Default::default()
            },
            at(2) + Duration::milliseconds(500),
        );
        assert!(matches!(
            refused,
            Err(ApiError::TooManyRequests {
                retry_after_secs: 30
            })
        ));
    }
}
