//! `/api/v1/api-keys`: creating, listing and revoking integrations' keys (admins). HTTP
//! only: the queries are in [`super::store`].

use crate::audit::{AuditAction, store as audit_store};
use crate::auth::authenticate::ClientAddress;
use actix_web::{HttpResponse, http::header, web};
use chrono::Utc;

use super::store::{self, NewApiKey};
use super::{
    ApiKey, ApiKeyView, CreateApiKeyRequest, CreatedApiKey, ListApiKeysQuery, generate, hash,
    scopes_column,
};
use crate::auth::{Caller, roles::Permission};
use crate::error::ApiError;
use crate::extract::NoQuery;
use crate::extract::{Body, Query};
use crate::pagination::PageRequest;
use crate::response::SecretResponse;
use crate::state::AppState;

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

/// API keys of the shop, newest first (admins).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "integrations", security(("bearer" = [])),
    params(ListApiKeysQuery),
    responses(
        (status = 200, body = crate::auth::api_keys::ApiKeyPage),
        (status = 401),
        (status = 403),
        (status = 422),
    ))]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListApiKeysQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let query = query.into_inner();
    let request = PageRequest::<i64>::parse(query.cursor.as_deref(), query.limit, false)?;
    let active_only = query.active_only.unwrap_or(true);
    let page = state
        .db
        .read(move |conn| {
            request.load_uncounted(
                conn,
                |conn, before, n| store::list(conn, caller.shop_id, active_only, before, n),
                |k: &ApiKey| k.id,
                |_, rows| Ok(rows.iter().map(ApiKey::view).collect()),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Create an API key (admins). The response carries the key, once.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "integrations", security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, body = CreatedApiKey, headers(("Location" = String))),
        (status = 401),
        (status = 403),
        (status = 422),
    ))]
pub async fn create_api_key(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    body: Body<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let request = body.into_inner();
    let (prefix, key) = generate();
    let secret_hash = hash(&key);
    let scopes = scopes_column(&request.scopes);
    let now = Utc::now().naive_utc();
    let actor = caller.subject();
    let row: ApiKey = state
        .db
        .write(move |conn| {
            let new = NewApiKey {
                shop_id: caller.shop_id,
                name: &request.name,
                key_prefix: &prefix,
                secret_hash: &secret_hash,
                scopes: &scopes,
                created_by: caller.user_id,
            };
            let row = store::insert(conn, &new, now)?;
            audit_store::record_now(
                conn,
                row.shop_id,
                &actor,
                AuditAction::ApiKeyCreated,
                serde_json::json!({"api_key": format!("api_key:{}", row.id), "scopes": request.scopes}),
                address.as_deref(),
            )?;
            Ok(row)
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
    response.extensions_mut().insert(SecretResponse);
    Ok(response)
}

/// One API key, without its secret (admins).
#[utoipa::path(get, path = "/api/v1/api-keys/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "API key id")),
    responses(
        (status = 200, body = ApiKeyView),
        (status = 403),
        (status = 404),
    ))]
pub async fn get_api_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let id = id.into_inner();
    let row = state
        .db
        .read(move |conn| store::get(conn, caller.shop_id, id))
        .await?;
    Ok(HttpResponse::Ok().json(row.view()))
}

/// Revoke an API key (admins): every later request with it gets 401. Revoking twice is
/// harmless; the key stays listed (with `revoked_at`) for the record.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403),
        (status = 404),
    ))]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let id = id.into_inner();
    let now = Utc::now().naive_utc();
    let actor = caller.subject();
    state
        .db
        .write(move |conn| {
            store::revoke(conn, caller.shop_id, id, now)?;
            audit_store::record_now(
                conn,
                caller.shop_id,
                &actor,
                AuditAction::ApiKeyRevoked,
                serde_json::json!({"api_key": format!("api_key:{id}")}),
                address.as_deref(),
            )
        })
        .await?;
    tracing::info!(api_key_id = id, by = caller.user_id, "API key revoked");
    Ok(HttpResponse::NoContent().finish())
}
