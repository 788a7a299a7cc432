//! `/api/v1/webhooks`: endpoints (admins) and their deliveries. HTTP only: the queries
//! are in [`super::store`].

use crate::audit::{AuditAction, store as audit_store};
use crate::auth::authenticate::ClientAddress;
use actix_web::{HttpResponse, http::StatusCode, http::header, web};
use chrono::Utc;

use super::destination;
use super::store::{self, NewEndpoint};
use super::{
    CreateWebhookRequest, DeliveryRow, DeliveryStatus, DeliveryView, Endpoint, ListDeliveriesQuery,
    UpdateWebhookRequest, WebhookView, store_events,
};
use crate::auth::{Caller, roles::Permission};
use crate::error::{ApiError, ProblemKind};
use crate::extract::NoQuery;
use crate::extract::{Body, Query};
use crate::ids::{DeliveryId, EndpointId};
use crate::pagination::PageRequest;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks")
            .route(web::get().to(list_webhooks))
            .route(web::post().to(create_webhook)),
    )
    .service(
        web::resource("/webhooks/{id}")
            .route(web::get().to(get_webhook))
            .route(web::patch().to(update_webhook))
            .route(web::delete().to(delete_webhook)),
    )
    .service(web::resource("/webhooks/{id}/deliveries").route(web::get().to(list_deliveries)))
    .service(
        web::resource("/webhooks/{id}/deliveries/{delivery_id}/redeliver")
            .route(web::post().to(redeliver)),
    );
}

/// A hook URL's host, for the audit log: its path and query often are secrets of their own.
fn host_of(url: &str) -> String {
    url.trim()
        .parse::<actix_web::http::Uri>()
        .ok()
        .and_then(|uri| uri.host().map(str::to_owned))
        .unwrap_or_default()
}

/// Refuses a URL on an internal address, unless the server allows those.
async fn check_destination(state: &AppState, url: &str) -> Result<(), ApiError> {
    let settings = &state.settings.webhooks;
    if settings.allow_private {
        return Ok(());
    }
    let lookup_timeout = std::time::Duration::from_secs(settings.timeout_secs);
    destination::check_registration(url.to_owned(), lookup_timeout).await
}

/// The shop's webhook endpoints (admins).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "integrations", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<WebhookView>),
        (status = 401),
        (status = 403),
    ))]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    caller: Caller,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let rows: Vec<Endpoint> = state
        .db
        .read(move |conn| store::list_endpoints(conn, caller.shop_id))
        .await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(Endpoint::view).collect::<Vec<_>>()))
}

/// Register an endpoint (admins). Events that happen from now on are delivered to it.
///
/// The URL must point to a public address: a host that is, or resolves to, a loopback,
/// private, link-local, multicast or other internal address is refused (422 on `url`),
/// and every delivery checks the addresses again when it connects.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "integrations", security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, body = WebhookView, headers(("Location" = String))),
        (status = 403),
        (status = 422),
    ))]
pub async fn create_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    body: Body<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let request = body.into_inner();
    check_destination(&state, &request.url).await?;
    let now = Utc::now().naive_utc();
    let actor = caller.subject();
    let row: Endpoint = state
        .db
        .write(move |conn| {
            let new = NewEndpoint {
                shop_id: caller.shop_id,
                url: &request.url,
                events: &request.events,
                secret: &request.secret,
                description: &request.description,
                created_by: caller.user_id,
            };
            let row = store::insert_endpoint(conn, &new, now)?;
            audit_store::record_now(
                conn,
                row.shop_id,
                &actor,
                AuditAction::WebhookCreated,
                serde_json::json!({"webhook": row.id, "host": host_of(&row.url), "events": request.events}),
                address.as_deref(),
            )?;
            Ok(row)
        })
        .await?;
    tracing::info!(webhook_id = row.id, "webhook registered");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/webhooks/{}", row.id)))
        .json(row.view()))
}

/// One endpoint (admins).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 200, body = WebhookView),
        (status = 403),
        (status = 404),
    ))]
pub async fn get_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let id = id.into_inner();
    let row = state
        .db
        .read(move |conn| store::get_endpoint(conn, caller.shop_id, id))
        .await?;
    Ok(HttpResponse::Ok().json(row.view()))
}

/// Change an endpoint (admins): URL, events, secret, description, or pause it (`active`).
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Webhook id")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, body = WebhookView),
        (status = 403),
        (status = 404),
        (status = 422),
    ))]
pub async fn update_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    id: web::Path<i64>,
    body: Body<UpdateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let id = id.into_inner();
    let request = body.into_inner();
    if let Some(url) = &request.url {
        check_destination(&state, url).await?;
    }
    let now = Utc::now().naive_utc();
    let actor = caller.subject();
    let row = state
        .db
        .write(move |conn| {
            let mut row = store::get_endpoint(conn, caller.shop_id, id)?;
            if let Some(url) = &request.url {
                row.url = url.trim().to_owned();
            }
            if let Some(events) = &request.events {
                row.events = store_events(events);
            }
            if let Some(secret) = &request.secret {
                row.secret.clone_from(secret);
            }
            if let Some(description) = &request.description {
                row.description = description.trim().to_owned();
            }
            if let Some(active) = request.active {
                row.active = active;
            }
            row.updated_at = now;
            store::save_endpoint(conn, &row)?;
            // Which fields changed, and where it now points; never the secret itself.
            let changed: Vec<&str> = [
                ("url", request.url.is_some()),
                ("events", request.events.is_some()),
                ("secret", request.secret.is_some()),
                ("description", request.description.is_some()),
                ("active", request.active.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, sent)| sent.then_some(name))
            .collect();
            audit_store::record_now(
                conn,
                row.shop_id,
                &actor,
                AuditAction::WebhookChanged,
                serde_json::json!({"webhook": row.id, "host": host_of(&row.url), "changed": changed, "active": row.active}),
                address.as_deref(),
            )?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(row.view()))
}

/// Remove an endpoint and its delivery history (admins). Pending deliveries are dropped.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403),
        (status = 404),
    ))]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let id = id.into_inner();
    let actor = caller.subject();
    state
        .db
        .write(move |conn| {
            let row = store::get_endpoint(conn, caller.shop_id, id)?;
            store::delete_endpoint(conn, row.id)?;
            audit_store::record_now(
                conn,
                row.shop_id,
                &actor,
                AuditAction::WebhookDeleted,
                serde_json::json!({"webhook": row.id, "host": host_of(&row.url)}),
                address.as_deref(),
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An endpoint's deliveries, newest first (admins).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Webhook id"), ListDeliveriesQuery),
    responses(
        (status = 200, body = crate::webhooks::DeliveryPage),
        (status = 403),
        (status = 404),
        (status = 422),
    ))]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: Query<ListDeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let id = id.into_inner();
    let query = query.into_inner();
    let request = PageRequest::<i64>::parse(query.cursor.as_deref(), query.limit, false)?;
    let page = state
        .db
        .read(move |conn| {
            let endpoint = store::get_endpoint(conn, caller.shop_id, id)?;
            request.load_uncounted(
                conn,
                |conn, before, n| {
                    store::list_deliveries(conn, endpoint.id, query.status, before, n)
                },
                |r: &DeliveryRow| r.id,
                |_, rows| Ok(rows.into_iter().map(DeliveryRow::view).collect()),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Send a delivery again (admins): it goes back to `pending` with a fresh set of attempts,
/// due now. Works on failed and delivered deliveries alike (a receiver that lost one).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Webhook id"), ("delivery_id" = i64, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued", body = DeliveryView),
        (status = 403),
        (status = 404),
        (status = 409, description = "Already waiting for its next attempt (`delivery-pending`)"),
    ))]
pub async fn redeliver(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let (id, delivery_id) = path.into_inner();
    let delivery_id = DeliveryId(delivery_id);
    let now = Utc::now().naive_utc();
    let row = state
        .db
        .write(move |conn| {
            let endpoint = store::get_endpoint(conn, caller.shop_id, id)?;
            let current = store::get_delivery(conn, EndpointId(endpoint.id), delivery_id)?;
            if current.status == DeliveryStatus::Pending {
                return Err(ApiError::conflict(
                    ProblemKind::DeliveryPending,
                    "the delivery is already waiting for its next attempt",
                ));
            }
            store::requeue_delivery(conn, delivery_id, now)?;
            store::get_delivery(conn, EndpointId(endpoint.id), delivery_id)
        })
        .await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(row.view()))
}
