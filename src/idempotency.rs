//! `Idempotency-Key` on every `POST`: a retry with the same key and the same request gets
//! the first response back (with `Idempotent-Replayed: true`) and does nothing twice; the
//! same key with a different request is 422 `idempotency-key-reused`; a retry while the
//! first is still being served is 409 `idempotency-in-progress`.
//!
//! Keys belong to the caller (staff member or API key), so two callers never share one,
//! and are remembered for `IDEMPOTENCY_KEY_TTL_HOURS`. Only successful (2xx) responses are
//! remembered: a failed request changed nothing (every change is one transaction), so
//! running it again is the right answer to a retry. Login is exempt: it changes nothing
//! worth protecting and its response (a token) must not be stored. Other responses that
//! carry a secret (a new API key, a new access token) are marked [`SecretResponse`] by
//! their handler: what is kept for them is a 409 `idempotency-secret-not-replayed`, so a
//! retry neither repeats the work nor sees the secret again.

use actix_web::{
    Error, HttpMessage, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method, StatusCode,
        header::{self, HeaderName, HeaderValue},
    },
    middleware::Next,
    web,
};
use chrono::{Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::auth;
use crate::db::DbConnection;
use crate::error::{ApiError, FieldError, ProblemKind};
use crate::extract::{content_length, read_body};
use crate::response::SecretResponse;
use crate::schema::idempotency_keys;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 255;
/// A first request that has not finished after this long is taken to have died with its
/// process; a retry then runs again rather than waiting forever.
const ABANDONED_AFTER_SECS: i64 = 300;
/// Response headers a replay repeats.
const REPLAYED_HEADERS: [header::HeaderName; 3] =
    [header::CONTENT_TYPE, header::ETAG, header::LOCATION];
const EXEMPT_PATHS: [&str; 1] = ["/api/v1/auth/login"];

/// What a retry of a secret-bearing request gets instead of the secret.
fn secret_not_replayed() -> StoredResponse {
    let problem = ApiError::conflict(
        ProblemKind::IdempotencySecretNotReplayed,
        "the first request with this Idempotency-Key succeeded; its answer carried a secret \
that is shown only once and cannot be replayed",
    )
    .to_problem();
    StoredResponse {
        status: problem.status,
        headers: vec![(
            header::CONTENT_TYPE.as_str().to_owned(),
            crate::error::PROBLEM_CONTENT_TYPE.to_owned(),
        )],
        body: serde_json::to_string(&problem).unwrap_or_default(),
    }
}

/// What a request's key says to do.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// First time (or expired, or abandoned): serve it; the row id records the outcome.
    Proceed(i64),
    Replay(StoredResponse),
    /// Same key, different request.
    Mismatch,
    InProgress,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Checks a key's syntax: visible ASCII, 1 to 255 characters (a UUID is the usual choice).
pub fn check_key(raw: &[u8]) -> Result<&str, ApiError> {
    let invalid =
        |message: &str| ApiError::Validation(vec![FieldError::new("Idempotency-Key", message)]);
    if raw.is_empty() || raw.len() > MAX_KEY_LEN {
        return Err(invalid("must be 1 to 255 characters"));
    }
    if !raw.iter().all(u8::is_ascii_graphic) {
        return Err(invalid("must be visible ASCII characters (a UUID, say)"));
    }
    std::str::from_utf8(raw).map_err(|_| invalid("must be ASCII"))
}

/// What makes two requests "the same": method, path, query and body.
pub fn fingerprint(method: &str, path: &str, query: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), query.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update(body);
    hex::encode(hasher.finalize())
}

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
pub fn purge_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, ApiError> {
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::expires_at.le(now)))
            .execute(conn)?,
    )
}

fn problem(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    let response = actix_web::ResponseError::error_response(&error);
    req.into_response(response)
}

fn replay(req: ServiceRequest, stored: StoredResponse) -> ServiceResponse<BoxBody> {
    let mut builder =
        HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            builder.insert_header((name, value));
        }
    }
    builder.insert_header((REPLAYED_HEADER, "true"));
    req.into_response(builder.body(stored.body))
}

/// The middleware (wrapped around `/api/v1`).
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let key = match req.headers().get(HEADER) {
        Some(value) if req.method() == Method::POST && !EXEMPT_PATHS.contains(&req.path()) => {
            match check_key(value.as_bytes()) {
                Ok(key) => key.to_owned(),
                Err(error) => return Ok(problem(req, error)),
            }
        }
        _ => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body);
        }
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // Unauthenticated requests go on to be refused by the endpoint itself.
    let Ok(principal) = auth::authenticate::authenticate(req.request()).await else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let limit = state
        .settings
        .server
        .import_max_bytes
        .max(state.settings.server.max_body_bytes);
    let declared = content_length(req.request());
    let mut payload = req.take_payload();
    let body = match read_body(&mut payload, declared, limit).await {
        Ok(body) => body.freeze(),
        Err(error) => return Ok(problem(req, error)),
    };
    let request_hash = fingerprint(req.method().as_str(), req.path(), req.query_string(), &body);
    let subject = principal.subject();
    let ttl = Duration::hours(state.settings.idempotency.key_ttl_hours);
    let claim = {
        let key = key.clone();
        state
            .db
            .write(move |conn| {
                begin(
                    conn,
                    &subject,
                    &key,
                    &request_hash,
                    Utc::now().naive_utc(),
                    ttl,
                )
            })
            .await
    };
    let row_id = match claim {
        Ok(Decision::Proceed(id)) => id,
        Ok(Decision::Replay(stored)) => return Ok(replay(req, stored)),
        Ok(Decision::Mismatch) => {
            return Ok(problem(
                req,
                ApiError::Unprocessable {
                    kind: ProblemKind::IdempotencyKeyReused,
                    detail: format!(
                        "Idempotency-Key {key:?} was used for a different request; use a new key for a new request"
                    ),
                    extensions: Map::new(),
                },
            ));
        }
        Ok(Decision::InProgress) => {
            return Ok(problem(
                req,
                ApiError::conflict(
                    ProblemKind::IdempotencyInProgress,
                    format!(
                        "a request with Idempotency-Key {key:?} is still being served; retry shortly"
                    ),
                ),
            ));
        }
        Err(error) => return Ok(problem(req, error)),
    };
    req.set_payload(actix_web::dev::Payload::from(body));
    let release_claim = |state: web::Data<AppState>| async move {
        if let Err(error) = state.db.write(move |conn| release(conn, row_id)).await {
            tracing::warn!(%error, "could not release an idempotency key");
        }
    };
    let response = match next.call(req).await {
        Ok(response) => response,
        Err(error) => {
            release_claim(state).await;
            return Err(error);
        }
    };
    let status = response.status();
    if !status.is_success() {
        release_claim(state).await;
        return Ok(response.map_into_boxed_body());
    }
    if response
        .response()
        .extensions()
        .get::<SecretResponse>()
        .is_some()
    {
        let stored = secret_not_replayed();
        if let Err(error) = state
            .db
            .write(move |conn| finish(conn, row_id, &stored))
            .await
        {
            tracing::error!(%error, "could not store an idempotent response");
        }
        return Ok(response.map_into_boxed_body());
    }
    let (http_req, res) = response.into_parts();
    let (head, body) = res.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            release_claim(state).await;
            return Err(actix_web::error::ErrorInternalServerError(
                "response body could not be read",
            ));
        }
    };
    let stored = StoredResponse {
        status: status.as_u16(),
        headers: REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                head.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| (name.as_str().to_owned(), v.to_owned()))
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    if let Err(error) = state
        .db
        .write(move |conn| finish(conn, row_id, &stored))
        .await
    {
        // The work is done and answered, but a retry finds only the claim: 409 until the
        // claim counts as abandoned (ABANDONED_AFTER_SECS), then the work runs again.
        tracing::error!(%error, "could not store an idempotent response");
    }
    let res = head.set_body(bytes).map_into_boxed_body();
    Ok(ServiceResponse::new(http_req, res))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert!(check_key(b"9b2f6c1e-6d3c-4a8f-9e0a-2f1d3c4b5a69").is_ok());
        assert!(check_key(b"").is_err());
        assert!(check_key(b"has space").is_err());
        assert!(check_key("键".as_bytes()).is_err());
        assert!(check_key(&[b'a'; 256]).is_err());
        assert!(check_key(&[b'a'; 255]).is_ok());
    }

    #[test]
    fn fingerprint_covers_method_path_query_and_body() {
        let base = fingerprint("POST", "/a", "x=1", b"{}");
        assert_eq!(base, fingerprint("POST", "/a", "x=1", b"{}"));
        assert_ne!(base, fingerprint("POST", "/b", "x=1", b"{}"));
        assert_ne!(base, fingerprint("POST", "/a", "x=2", b"{}"));
        assert_ne!(base, fingerprint("POST", "/a", "x=1", b"{ }"));
        // Parts are length-prefixed: moving a boundary changes the fingerprint.
        assert_ne!(
            fingerprint("POST", "/ab", "", b""),
            fingerprint("POST", "/a", "b", b"")
        );
    }
}
