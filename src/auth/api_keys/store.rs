//! Queries on `api_keys`. All take a connection so callers choose the transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{ApiKey, invalid_key, prefix_of, verify};
use crate::auth::KeyCaller;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::schema::api_keys;

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
    verify(row, key, now)
}

/// Records that the key was just used.
pub fn touch(conn: &mut DbConnection, key_id: i64, now: NaiveDateTime) -> Result<(), ApiError> {
    diesel::update(api_keys::table.find(key_id))
        .set(api_keys::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// The key `id` of `shop_id`, or 404: other shops' keys do not exist for the caller.
pub fn get(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<ApiKey, ApiError> {
    api_keys::table
        .filter(api_keys::shop_id.eq(shop_id))
        .find(id)
        .select(ApiKey::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("API key"))
}

/// Up to `limit` of the shop's keys with ids below `before`, newest first; revoked ones
/// only unless `active_only`.
pub fn list(
    conn: &mut DbConnection,
    shop_id: ShopId,
    active_only: bool,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ApiKey>, ApiError> {
    let mut list = api_keys::table
        .filter(api_keys::shop_id.eq(shop_id))
        .select(ApiKey::as_select())
        .order(api_keys::id.desc())
        .limit(limit)
        .into_boxed();
    if active_only {
        list = list.filter(api_keys::revoked_at.is_null());
    }
    if let Some(before) = before {
        list = list.filter(api_keys::id.lt(before));
    }
    Ok(list.load(conn)?)
}

/// What a new key is stored with: never the key itself, only its hash.
pub struct NewApiKey<'a> {
    pub shop_id: ShopId,
    pub name: &'a str,
    pub key_prefix: &'a str,
    pub secret_hash: &'a str,
    pub scopes: &'a str,
    pub created_by: i64,
}

pub fn insert(
    conn: &mut DbConnection,
    new: &NewApiKey<'_>,
    now: NaiveDateTime,
) -> Result<ApiKey, ApiError> {
    Ok(diesel::insert_into(api_keys::table)
        .values((
            api_keys::shop_id.eq(new.shop_id),
            api_keys::name.eq(new.name.trim()),
            api_keys::key_prefix.eq(new.key_prefix),
            api_keys::secret_hash.eq(new.secret_hash),
            api_keys::scopes.eq(new.scopes),
            api_keys::created_by.eq(new.created_by),
            api_keys::created_at.eq(now),
        ))
        .returning(api_keys::all_columns)
        .get_result(conn)?)
}

/// Revokes the shop's key `id` (404 if it has none); revoking twice keeps the first time.
pub fn revoke(
    conn: &mut DbConnection,
    shop_id: ShopId,
    id: i64,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let row = get(conn, shop_id, id)?;
    if row.revoked_at.is_none() {
        diesel::update(api_keys::table.find(row.id))
            .set(api_keys::revoked_at.eq(now))
            .execute(conn)?;
    }
    Ok(())
}
