//! API keys: how integrations (shop back offices, chat tools, order feeds) authenticate.
//!
//! A key reads `ak_<prefix>_<secret>`. The prefix finds the row and lets people tell keys
//! apart in lists; only a SHA-256 hash of the whole key is stored, and the key itself is
//! shown once, when it is created. A key carries scopes (`roles::Scope`) instead of a role.
//!
//! This file holds the key's types and its format and hash rules; the queries are in
//! [`store`], the handlers in [`routes`].

pub mod routes;
pub mod store;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::KeyCaller;
use super::roles::Scope;
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::schema::api_keys;

const KEY_MARK: &str = "ak_";
const PREFIX_LEN: usize = 10;
const SECRET_LEN: usize = 40;
const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// `last_used_at` is refreshed at most this often, so that a busy integration does not
/// turn every read into a write.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: i64,
    pub shop_id: ShopId,
    pub name: String,
    pub key_prefix: String,
    pub secret_hash: String,
    pub scopes: String,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

/// An API key as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: i64,
    pub name: String,
    /// The key's public part: keys start with `ak_<prefix>_`.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// The admin who created it.
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// Last request made with the key (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set once revoked; a revoked key is refused (401).
    pub revoked_at: Option<DateTime<Utc>>,
}

crate::pagination::named_page!(ApiKeyPage, ApiKeyView);

/// A key just created: the only response that carries the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    /// The key to send as `X-API-Key` (or `Authorization: Bearer`). Shown once: it is
    /// stored only as a hash and cannot be shown again.
    pub key: String,
}

fn check_scopes(scopes: &[Scope]) -> Result<(), ValidationError> {
    if scopes.is_empty() {
        return Err(ValidationError::new("scopes").with_message("grant at least one scope".into()));
    }
    Ok(())
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for, e.g. "Tmall order feed".
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[validate(custom(function = "check_scopes"))]
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListApiKeysQuery {
    /// `false`: also list revoked keys (default: only usable ones).
    pub active_only: Option<bool>,
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub fn parse_scopes(stored: &str) -> Vec<Scope> {
    stored.split_whitespace().filter_map(Scope::parse).collect()
}

impl ApiKey {
    pub fn view(&self) -> ApiKeyView {
        ApiKeyView {
            id: self.id,
            name: self.name.clone(),
            prefix: self.key_prefix.clone(),
            scopes: parse_scopes(&self.scopes),
            created_by: self.created_by,
            created_at: self.created_at.and_utc(),
            last_used_at: self.last_used_at.map(|t| t.and_utc()),
            revoked_at: self.revoked_at.map(|t| t.and_utc()),
        }
    }
}

fn random_text(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A new key and its prefix. The secret part carries 40 * log2(57) ≈ 233 random bits.
pub fn generate() -> (String, String) {
    let prefix = random_text(PREFIX_LEN);
    let key = format!("{KEY_MARK}{prefix}_{}", random_text(SECRET_LEN));
    (prefix, key)
}

pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether a credential looks like an API key rather than an access token.
pub fn looks_like_key(credential: &str) -> bool {
    credential.starts_with(KEY_MARK)
}

/// The prefix of a well-formed key.
pub fn prefix_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_MARK)?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == PREFIX_LEN && secret.len() == SECRET_LEN).then_some(prefix)
}

/// Compares two hashes in time independent of where they differ.
fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub fn invalid_key() -> ApiError {
    ApiError::Unauthenticated("the API key is unknown or revoked".into())
}

/// Scopes as stored: sorted, without repeats, space-separated.
pub fn scopes_column(scopes: &[Scope]) -> String {
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let scopes: Vec<&str> = scopes.into_iter().map(Scope::as_str).collect();
    scopes.join(" ")
}

/// Checks `key` against the row its prefix found: the integration it authenticates, if
/// the key is unrevoked and its hash matches, and whether its `last_used_at` is stale
/// (then touch it: reads stay reads most of the time).
pub fn verify(row: ApiKey, key: &str, now: NaiveDateTime) -> Result<(KeyCaller, bool), ApiError> {
    if row.revoked_at.is_some() || !same_hash(&row.secret_hash, &hash(key)) {
        return Err(invalid_key());
    }
    let stale = row
        .last_used_at
        .is_none_or(|at| now - at >= Duration::seconds(LAST_USED_GRANULARITY_SECS));
    Ok((
        KeyCaller {
            key_id: row.id,
            shop_id: row.shop_id,
            name: row.name,
            scopes: parse_scopes(&row.scopes),
        },
        stale,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let (prefix, key) = generate();
        assert_eq!(prefix_of(&key), Some(prefix.as_str()));
        assert!(looks_like_key(&key));
        let (_, other) = generate();
        assert_ne!(key, other);
        assert_ne!(hash(&key), hash(&other));
    }

    #[test]
    fn malformed_keys_have_no_prefix() {
        for bad in [
            "",
            "ak_",
            "ak_short_secret",
            "eyJhbGciOi.x.y",
            "ak_abcdefghij_",
        ] {
            assert_eq!(prefix_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn hashes_compare_exactly() {
        assert!(same_hash("abc", "abc"));
        assert!(!same_hash("abc", "abd"));
        assert!(!same_hash("abc", "abcd"));
    }

    #[test]
    fn scopes_are_stored_sorted_once() {
        assert_eq!(
            scopes_column(&[
                Scope::TicketsWrite,
                Scope::CustomersRead,
                Scope::TicketsWrite
            ]),
            "customers:read tickets:write"
        );
    }

    #[test]
    fn stored_scopes_ignore_unknown_words() {
        assert_eq!(
            parse_scopes("customers:read bogus tickets:write"),
            [Scope::CustomersRead, Scope::TicketsWrite]
        );
    }
}
