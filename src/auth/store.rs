//! Queries of authentication itself: the login attempts that throttling counts. (Staff
//! accounts are read through `crate::users::store`, API keys through `api_keys::store`.)

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use sha2::{Digest, Sha256};

use super::throttle::LoginAttempt;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::login_attempts;

/// Whose attempts to count.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// The attempt's account from the attempt's address.
    Pair(&'a LoginAttempt),
    /// The attempt's account from any address.
    Account(&'a LoginAttempt),
    /// Any account from the attempt's address.
    Address(&'a LoginAttempt),
}

/// Makes the rest of the caller's write transaction the only one counting or adding
/// attempts of this account or this address, on every replica, until it ends. PostgreSQL
/// takes a transaction-scoped advisory lock per subject, in ascending key order so that
/// two attempts sharing both subjects cannot wait for each other; on SQLite the write
/// transaction already excludes every other writer.
pub fn lock_subjects(conn: &mut DbConnection, attempt: &LoginAttempt) -> Result<(), ApiError> {
    let DbConnection::Pg(pg) = conn else {
        return Ok(());
    };
    let mut keys = [
        lock_key("account", &attempt.account),
        lock_key("address", &attempt.address),
    ];
    keys.sort_unstable();
    for key in keys {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(key)
            .execute(pg)?;
    }
    Ok(())
}

/// A stable 64-bit key for a subject: the same in every process and build (unlike std's
/// hasher), so replicas lock the same thing.
fn lock_key(kind: &str, value: &str) -> i64 {
    let digest = Sha256::digest(format!("aftercare login {kind}:{value}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The newest `limit` attempts of a subject after `since`, newest first.
pub fn recent_attempts(
    conn: &mut DbConnection,
    subject: Subject<'_>,
    since: NaiveDateTime,
    limit: i64,
) -> Result<Vec<NaiveDateTime>, ApiError> {
    let mut query = login_attempts::table
        .filter(login_attempts::attempted_at.gt(since))
        .select(login_attempts::attempted_at)
        .order((
            login_attempts::attempted_at.desc(),
            login_attempts::id.desc(),
        ))
        .limit(limit)
        .into_boxed();
    query = match subject {
        Subject::Pair(attempt) => query
            .filter(login_attempts::account.eq(attempt.account.clone()))
            .filter(login_attempts::address.eq(attempt.address.clone())),
        Subject::Account(attempt) => {
            query.filter(login_attempts::account.eq(attempt.account.clone()))
        }
        Subject::Address(attempt) => {
            query.filter(login_attempts::address.eq(attempt.address.clone()))
        }
    };
    Ok(query.load(conn)?)
}

/// Records an attempt (as a failure until [`clear_pair`] or [`delete_attempt`] removes
/// it); returns its id.
pub fn insert_attempt(
    conn: &mut DbConnection,
    attempt: &LoginAttempt,
    at: NaiveDateTime,
) -> Result<i64, ApiError> {
    Ok(diesel::insert_into(login_attempts::table)
        .values((
            login_attempts::account.eq(&attempt.account),
            login_attempts::address.eq(&attempt.address),
            login_attempts::attempted_at.eq(at),
        ))
        .returning(login_attempts::id)
        .get_result(conn)?)
}

/// Takes back one attempt whose password was never checked.
pub fn delete_attempt(conn: &mut DbConnection, id: i64) -> Result<(), ApiError> {
    diesel::delete(login_attempts::table.find(id)).execute(conn)?;
    Ok(())
}

/// Forgets the failures of an account from an address (after it proved the password):
/// the owner's own typos. Failures from other addresses stay counted.
pub fn clear_pair(conn: &mut DbConnection, attempt: &LoginAttempt) -> Result<(), ApiError> {
    diesel::delete(
        login_attempts::table
            .filter(login_attempts::account.eq(&attempt.account))
            .filter(login_attempts::address.eq(&attempt.address)),
    )
    .execute(conn)?;
    Ok(())
}

/// Deletes attempts from `before` or earlier (too old to count for any subject).
pub fn purge_attempts(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    limit: i64,
) -> Result<usize, ApiError> {
    let ids: Vec<i64> = login_attempts::table
        .filter(login_attempts::attempted_at.le(before))
        .order((login_attempts::attempted_at, login_attempts::id))
        .select(login_attempts::id)
        .limit(limit)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::delete(login_attempts::table.filter(login_attempts::id.eq_any(ids)))
            .execute(conn)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_tell_subjects_apart() {
        // Replicas of other builds must compute the same key: it is pinned here.
        assert_eq!(
            lock_key("account", "admin@shop.example"),
            -4_202_258_345_839_669_663
        );
        assert_ne!(
            lock_key("account", "10.0.0.1"),
            lock_key("address", "10.0.0.1")
        );
    }
}
