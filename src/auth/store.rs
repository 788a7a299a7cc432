//! Queries of authentication itself: the login failures that throttling counts. (Staff
//! accounts are read through `crate::users::store`, API keys through `api_keys::store`.)

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::login_failures;

/// A subject's failures after `since`, oldest first.
pub fn recent_login_failures(
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

/// Records a failure for both subjects and forgets their failures from `forget_before`
/// or earlier (those outside the window).
pub fn record_login_failure(
    conn: &mut DbConnection,
    account: &str,
    address: &str,
    forget_before: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::delete(
        login_failures::table
            .filter(login_failures::subject.eq_any([account, address]))
            .filter(login_failures::failed_at.le(forget_before)),
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

/// Forgets a subject's failures (a successful login clears its account's, not its address's).
pub fn clear_login_failures(conn: &mut DbConnection, subject: &str) -> Result<(), ApiError> {
    diesel::delete(login_failures::table.filter(login_failures::subject.eq(subject)))
        .execute(conn)?;
    Ok(())
}
