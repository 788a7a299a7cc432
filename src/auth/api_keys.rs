//! API keys: how integrations (shop back offices, chat tools, order feeds) authenticate.
//!
//! A key reads `ak_<prefix>_<secret>`. The prefix finds the row and lets people tell keys
//! apart in lists; only a SHA-256 hash of the whole key is stored, and the key itself is
//! shown once, when it is created. A key carries scopes (`roles::Scope`) instead of a role.

use actix_web::{HttpResponse, http::header, web};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::roles::{Permission, Scope};
use super::{Caller, KeyCaller};
use crate::db::DbConnection;
use crate::error::{ApiError, Problem};
use crate::extract::{Body, Query};
use crate::pagination::{Page, decode_cursor, finish_page, limit_or_default};
use crate::schema::api_keys;
use crate::state::AppState;

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
    pub shop_id: i64,
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
    pub name: String,
    #[validate(custom(function = "check_scopes"))]
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
fn prefix_of(key: &str) -> Option<&str> {
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

fn invalid_key() -> ApiError {
    ApiError::Unauthenticated("the API key is unknown or revoked".into())
}

/// The integration `key` authenticates, if it is a valid, unrevoked key, and whether its
/// `last_used_at` is stale (then [`touch`] it: reads stay reads most of the time).
pub fn authenticate(
    conn: &mut DbConnection,
    key: &str,
    now: NaiveDateTime,
) -> Result<(KeyCaller, bool), ApiError> {
    let prefix = prefix_of(key).ok_or_else(invalid_key)?;
    let row: ApiKey = api_keys::table
        .filter(api_keys::key_prefix.eq(prefix))
        .select(ApiKey::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(invalid_key)?;
    if row.revoked_at.is_some() || !same_hash(&row.secret_hash, &hash(key)) {
        return Err(invalid_key());
    }
    let stale = row
        .last_used_at
        .is_none_or(|at| now - at >= Duration::seconds(LAST_USED_GRANULARITY_SECS));
    let caller = KeyCaller {
        key_id: row.id,
        shop_id: row.shop_id,
        name: row.name,
        scopes: parse_scopes(&row.scopes),
    };
    Ok((caller, stale))
}

/// Records that the key was just used.
pub fn touch(conn: &mut DbConnection, key_id: i64, now: NaiveDateTime) -> Result<(), ApiError> {
    diesel::update(api_keys::table.find(key_id))
        .set(api_keys::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api-keys")
            .route(web::get().to(list_api_keys))
            .route(web::post().to(create_api_key)),
    )
    .service(
        web::resource("/api-keys/{id}")
            .route(web::get().to(get_api_key))
            .route(web::delete().to(revoke_api_key)),
    );
}

fn get(conn: &mut DbConnection, shop_id: i64, id: i64) -> Result<ApiKey, ApiError> {
    api_keys::table
        .filter(api_keys::shop_id.eq(shop_id))
        .find(id)
        .select(ApiKey::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("API key"))
}

/// API keys of the shop, newest first (admins).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "integrations", security(("bearer" = [])),
    params(ListApiKeysQuery),
    responses(
        (status = 200, body = Page<ApiKeyView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListApiKeysQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let query = query.into_inner();
    let before = query
        .cursor
        .as_deref()
        .map(decode_cursor::<i64>)
        .transpose()?;
    let limit = limit_or_default(query.limit);
    let active_only = query.active_only.unwrap_or(true);
    let rows = state
        .db
        .read(move |conn| {
            let mut list = api_keys::table
                .filter(api_keys::shop_id.eq(caller.shop_id))
                .select(ApiKey::as_select())
                .order(api_keys::id.desc())
                .limit(limit + 1)
                .into_boxed();
            if active_only {
                list = list.filter(api_keys::revoked_at.is_null());
            }
            if let Some(before) = before {
                list = list.filter(api_keys::id.lt(before));
            }
            Ok(list.load(conn)?)
        })
        .await?;
    let page = finish_page(
        rows,
        limit,
        None,
        |k: &ApiKey| k.id,
        |rows| Ok::<_, ApiError>(rows.iter().map(ApiKey::view).collect()),
    )?;
    Ok(HttpResponse::Ok().json(page))
}

/// Create an API key (admins). The response carries the key, once.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "integrations", security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, body = CreatedApiKey, headers(("Location" = String))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_api_key(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let request = body.into_inner();
    let (prefix, key) = generate();
    let secret_hash = hash(&key);
    let mut scopes = request.scopes.clone();
    scopes.sort();
    scopes.dedup();
    let scopes: Vec<&str> = scopes.into_iter().map(Scope::as_str).collect();
    let scopes = scopes.join(" ");
    let now = Utc::now().naive_utc();
    let row: ApiKey = state
        .db
        .write(move |conn| {
            Ok(diesel::insert_into(api_keys::table)
                .values((
                    api_keys::shop_id.eq(caller.shop_id),
                    api_keys::name.eq(request.name.trim()),
                    api_keys::key_prefix.eq(&prefix),
                    api_keys::secret_hash.eq(&secret_hash),
                    api_keys::scopes.eq(&scopes),
                    api_keys::created_by.eq(caller.user_id),
                    api_keys::created_at.eq(now),
                ))
                .returning(api_keys::all_columns)
                .get_result(conn)?)
        })
        .await?;
    tracing::info!(api_key_id = row.id, prefix = %row.key_prefix, by = caller.user_id, "API key created");
    let mut response = HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/api-keys/{}", row.id)))
        .json(CreatedApiKey {
            api_key: row.view(),
            key,
        });
    // The key is shown once: an idempotent retry must not store or replay it.
    response
        .extensions_mut()
        .insert(crate::idempotency::SecretResponse);
    Ok(response)
}

/// One API key, without its secret (admins).
#[utoipa::path(get, path = "/api/v1/api-keys/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "API key id")),
    responses(
        (status = 200, body = ApiKeyView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_api_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let id = id.into_inner();
    let row = state
        .db
        .read(move |conn| get(conn, caller.shop_id, id))
        .await?;
    Ok(HttpResponse::Ok().json(row.view()))
}

/// Revoke an API key (admins): every later request with it gets 401. Revoking twice is
/// harmless; the key stays listed (with `revoked_at`) for the record.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let id = id.into_inner();
    let now = Utc::now().naive_utc();
    state
        .db
        .write(move |conn| {
            let row = get(conn, caller.shop_id, id)?;
            if row.revoked_at.is_none() {
                diesel::update(api_keys::table.find(row.id))
                    .set(api_keys::revoked_at.eq(now))
                    .execute(conn)?;
            }
            Ok(())
        })
        .await?;
    tracing::info!(api_key_id = id, by = caller.user_id, "API key revoked");
    Ok(HttpResponse::NoContent().finish())
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
    fn stored_scopes_ignore_unknown_words() {
        assert_eq!(
            parse_scopes("customers:read bogus tickets:write"),
            [Scope::CustomersRead, Scope::TicketsWrite]
        );
    }
}
