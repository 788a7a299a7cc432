//! Idempotency keys in the database: claiming a key for a request, recording its answer,
//! releasing it after a failure, and purging expired ones.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{Map, Value};

use super::{ABANDONED_AFTER_SECS, Decision, StoredResponse};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::idempotency_keys;

type KeyRow = (
    i64,
    String,
    Option<i32>,
    Option<String>,
    Option<String>,
    NaiveDateTime,
    NaiveDateTime,
);

/// Claims the key for this request, or says why not. Runs in its own transaction, which
/// commits before the request is served so that concurrent retries see the claim.
pub fn begin(
    conn: &mut DbConnection,
    subject: &str,
    key: &str,
    request_hash: &str,
    now: NaiveDateTime,
    ttl: Duration,
) -> Result<Decision, ApiError> {
    let row: Option<KeyRow> = idempotency_keys::table
        .filter(idempotency_keys::subject.eq(subject))
        .filter(idempotency_keys::idempotency_key.eq(key))
        .select((
            idempotency_keys::id,
            idempotency_keys::request_hash,
            idempotency_keys::response_status,
            idempotency_keys::response_headers,
            idempotency_keys::response_body,
            idempotency_keys::created_at,
            idempotency_keys::expires_at,
        ))
        .first(conn)
        .optional()?;
    if let Some((id, stored_hash, status, headers, body, created_at, expires_at)) = row {
        let abandoned =
            status.is_none() && now - created_at > Duration::seconds(ABANDONED_AFTER_SECS);
        if expires_at > now && !abandoned {
            if stored_hash != request_hash {
                return Ok(Decision::Mismatch);
            }
            return Ok(match status {
                None => Decision::InProgress,
                Some(status) => Decision::Replay(StoredResponse {
                    status: u16::try_from(status).unwrap_or(200),
                    headers: headers
                        .and_then(|h| serde_json::from_str::<Map<String, Value>>(&h).ok())
                        .map(|map| {
                            map.into_iter()
                                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                                .collect()
                        })
                        .unwrap_or_default(),
                    body: body.unwrap_or_default(),
                }),
            });
        }
        diesel::delete(idempotency_keys::table.find(id)).execute(conn)?;
    }
    // In a savepoint: on PostgreSQL a refused insert would otherwise poison the transaction.
    let inserted = conn.transaction(|c| {
        diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::subject.eq(subject),
                idempotency_keys::idempotency_key.eq(key),
                idempotency_keys::request_hash.eq(request_hash),
                idempotency_keys::created_at.eq(now),
                idempotency_keys::expires_at.eq(now + ttl),
            ))
            .returning(idempotency_keys::id)
            .get_result::<i64>(c)
    });
    match inserted {
        Ok(id) => Ok(Decision::Proceed(id)),
        // A concurrent first request claimed it between our read and insert.
        Err(e) => match ApiError::from(e) {
            ApiError::Conflict { .. } => Ok(Decision::InProgress),
            other => Err(other),
        },
    }
}

pub fn finish(conn: &mut DbConnection, id: i64, response: &StoredResponse) -> Result<(), ApiError> {
    let headers: Map<String, Value> = response
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    diesel::update(idempotency_keys::table.find(id))
        .set((
            idempotency_keys::response_status.eq(i32::from(response.status)),
            idempotency_keys::response_headers.eq(Value::Object(headers).to_string()),
            idempotency_keys::response_body.eq(&response.body),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets a claim whose request failed, so that a retry runs it again.
pub fn release(conn: &mut DbConnection, id: i64) -> Result<(), ApiError> {
    diesel::delete(idempotency_keys::table.find(id)).execute(conn)?;
    Ok(())
}

/// Deletes expired keys; returns how many.
pub fn purge_expired(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<usize, ApiError> {
    let ids: Vec<i64> = idempotency_keys::table
        .filter(idempotency_keys::expires_at.le(now))
        .order((idempotency_keys::expires_at, idempotency_keys::id))
        .select(idempotency_keys::id)
        .limit(limit)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::id.eq_any(ids)))
            .execute(conn)?,
    )
}
