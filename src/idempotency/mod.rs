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

//!
//! `mod.rs` holds the vocabulary and the pure rules (key syntax, request fingerprint),
//! `store.rs` the claims in the database, `middleware.rs` the HTTP side.

pub mod middleware;
pub mod store;

use actix_web::http::header;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, FieldError, ProblemKind};

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
    let mut hasher = request_hasher(method, path, query);
    hasher.update(body);
    hex::encode(hasher.finalize())
}

/// The same fingerprint as [`fingerprint`], of a body read from `body` (a spooled upload).
pub fn fingerprint_reader(
    method: &str,
    path: &str,
    query: &str,
    body: &mut impl std::io::Read,
) -> std::io::Result<String> {
    let mut hasher = request_hasher(method, path, query);
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn request_hasher(method: &str, path: &str, query: &str) -> Sha256 {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), query.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spooled_body_has_the_fingerprint_of_the_same_bytes() {
        let body = vec![7u8; 200_000];
        assert_eq!(
            fingerprint_reader("POST", "/a", "q=1", &mut body.as_slice()).unwrap(),
            fingerprint("POST", "/a", "q=1", &body)
        );
        assert_ne!(
            fingerprint("POST", "/a", "q=1", &body),
            fingerprint("POST", "/a", "q=2", &body)
        );
    }

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
