//! `/api/v1/webhooks`: endpoints (admins) and their deliveries.

use actix_web::{HttpResponse, http::StatusCode, http::header, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::EventType;
use crate::auth::{Caller, roles::Permission};
use crate::db::DbConnection;
use crate::error::{ApiError, Problem, ProblemKind};
use crate::extract::{Body, Query};
use crate::pagination::{Page, decode_cursor, finish_page, limit_or_default};
use crate::schema::{webhook_deliveries, webhook_endpoints, webhook_events};
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

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    pub id: i64,
    pub shop_id: i64,
    pub url: String,
    pub events: String,
    pub secret: String,
    pub description: String,
    pub active: bool,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A registered endpoint. The secret is never shown back.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: String,
    /// Inactive endpoints get no new deliveries.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    fn view(&self) -> WebhookView {
        WebhookView {
            id: self.id,
            url: self.url.clone(),
            events: parse_events(&self.events),
            description: self.description.clone(),
            active: self.active,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        }
    }
}

fn parse_events(stored: &str) -> Vec<EventType> {
    stored
        .split_whitespace()
        .filter_map(EventType::parse)
        .collect()
}

fn store_events(events: &[EventType]) -> String {
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    events
        .into_iter()
        .map(EventType::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// http(s) with a host; the receiver's own business after that.
fn check_url(url: &str) -> Result<(), ValidationError> {
    let invalid =
        || ValidationError::new("url").with_message("must be an http:// or https:// URL".into());
    let uri: actix_web::http::Uri = url.parse().map_err(|_| invalid())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        _ => Err(invalid()),
    }
}

fn check_events(events: &[EventType]) -> Result<(), ValidationError> {
    if events.is_empty() {
        return Err(
            ValidationError::new("events").with_message("subscribe to at least one event".into())
        );
    }
    Ok(())
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://erp.example.com/hooks/aftercare", "events": ["ticket.created", "ticket.state_changed"], "secret": "whsec-3f9a7c1e5b2d4f60", "description": "ERP"}))]
pub struct CreateWebhookRequest {
    #[validate(length(max = 2000), custom(function = "check_url"))]
    pub url: String,
    #[validate(custom(function = "check_events"))]
    pub events: Vec<EventType>,
    /// Signs deliveries (HMAC-SHA256); 16 to 200 characters. Keep a copy: it is never shown back.
    #[validate(length(min = 16, max = 200))]
    pub secret: String,
    #[serde(default)]
    #[validate(length(max = 500))]
    pub description: String,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[validate(length(max = 2000), custom(function = "check_url"))]
    pub url: Option<String>,
    #[validate(custom(function = "check_events"))]
    pub events: Option<Vec<EventType>>,
    #[validate(length(min = 16, max = 200))]
    pub secret: Option<String>,
    #[validate(length(max = 500))]
    pub description: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Gave up after WEBHOOK_MAX_ATTEMPTS; can be re-sent.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(value: &str) -> DeliveryStatus {
        match value {
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Sent as `Aftercare-Delivery`; the same on every retry.
    pub id: i64,
    pub endpoint_id: i64,
    /// Sent as the body's `id` (`evt_<event_id>`).
    pub event_id: i64,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status on the last attempt (absent: no answer).
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A delivery with its event's type, as listed.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
struct DeliveryRow {
    id: i64,
    endpoint_id: i64,
    event_id: i64,
    #[diesel(select_expression = webhook_events::event_type)]
    #[diesel(select_expression_type = webhook_events::event_type)]
    event_type: String,
    status: String,
    attempts: i32,
    next_attempt_at: Option<NaiveDateTime>,
    last_attempt_at: Option<NaiveDateTime>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    delivered_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

impl DeliveryRow {
    fn view(self) -> DeliveryView {
        DeliveryView {
            id: self.id,
            endpoint_id: self.endpoint_id,
            event_id: self.event_id,
            event_type: self.event_type,
            status: DeliveryStatus::parse(&self.status),
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at.map(|t| t.and_utc()),
            last_attempt_at: self.last_attempt_at.map(|t| t.and_utc()),
            last_status_code: self.last_status_code,
            last_error: self.last_error,
            delivered_at: self.delivered_at.map(|t| t.and_utc()),
            created_at: self.created_at.and_utc(),
        }
    }
}

fn get(conn: &mut DbConnection, shop_id: i64, id: i64) -> Result<Endpoint, ApiError> {
    webhook_endpoints::table
        .filter(webhook_endpoints::shop_id.eq(shop_id))
        .find(id)
        .select(Endpoint::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// The shop's webhook endpoints (admins).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "integrations", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<WebhookView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let rows: Vec<Endpoint> = state
        .db
        .read(move |conn| {
            Ok(webhook_endpoints::table
                .filter(webhook_endpoints::shop_id.eq(caller.shop_id))
                .select(Endpoint::as_select())
                .order(webhook_endpoints::id)
                .load(conn)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(Endpoint::view).collect::<Vec<_>>()))
}

/// Register an endpoint (admins). Events that happen from now on are delivered to it.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "integrations", security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, body = WebhookView, headers(("Location" = String))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let request = body.into_inner();
    let now = Utc::now().naive_utc();
    let row: Endpoint = state
        .db
        .write(move |conn| {
            Ok(diesel::insert_into(webhook_endpoints::table)
                .values((
                    webhook_endpoints::shop_id.eq(caller.shop_id),
                    webhook_endpoints::url.eq(request.url.trim()),
                    webhook_endpoints::events.eq(store_events(&request.events)),
                    webhook_endpoints::secret.eq(&request.secret),
                    webhook_endpoints::description.eq(request.description.trim()),
                    webhook_endpoints::active.eq(true),
                    webhook_endpoints::created_by.eq(caller.user_id),
                    webhook_endpoints::created_at.eq(now),
                    webhook_endpoints::updated_at.eq(now),
                ))
                .returning(webhook_endpoints::all_columns)
                .get_result(conn)?)
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
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_webhook(
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

/// Change an endpoint (admins): URL, events, secret, description, or pause it (`active`).
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Webhook id")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, body = WebhookView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<UpdateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let id = id.into_inner();
    let request = body.into_inner();
    let now = Utc::now().naive_utc();
    let row = state
        .db
        .write(move |conn| {
            let mut row = get(conn, caller.shop_id, id)?;
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
            diesel::update(webhook_endpoints::table.find(row.id))
                .set((
                    webhook_endpoints::url.eq(&row.url),
                    webhook_endpoints::events.eq(&row.events),
                    webhook_endpoints::secret.eq(&row.secret),
                    webhook_endpoints::description.eq(&row.description),
                    webhook_endpoints::active.eq(row.active),
                    webhook_endpoints::updated_at.eq(now),
                ))
                .execute(conn)?;
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
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let id = id.into_inner();
    state
        .db
        .write(move |conn| {
            let row = get(conn, caller.shop_id, id)?;
            diesel::delete(
                webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(row.id)),
            )
            .execute(conn)?;
            diesel::delete(webhook_endpoints::table.find(row.id)).execute(conn)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveriesQuery {
    pub status: Option<DeliveryStatus>,
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// An endpoint's deliveries, newest first (admins).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Webhook id"), ListDeliveriesQuery),
    responses(
        (status = 200, body = Page<DeliveryView>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
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
    let before = query
        .cursor
        .as_deref()
        .map(decode_cursor::<i64>)
        .transpose()?;
    let limit = limit_or_default(query.limit);
    let rows: Vec<DeliveryRow> = state
        .db
        .read(move |conn| {
            let endpoint = get(conn, caller.shop_id, id)?;
            let mut list = webhook_deliveries::table
                .inner_join(webhook_events::table)
                .filter(webhook_deliveries::endpoint_id.eq(endpoint.id))
                .select(DeliveryRow::as_select())
                .order(webhook_deliveries::id.desc())
                .limit(limit + 1)
                .into_boxed();
            if let Some(status) = query.status {
                list = list.filter(webhook_deliveries::status.eq(status.as_str()));
            }
            if let Some(before) = before {
                list = list.filter(webhook_deliveries::id.lt(before));
            }
            Ok(list.load(conn)?)
        })
        .await?;
    let page = finish_page(
        rows,
        limit,
        None,
        |r: &DeliveryRow| r.id,
        |rows| Ok::<_, ApiError>(rows.into_iter().map(DeliveryRow::view).collect()),
    )?;
    Ok(HttpResponse::Ok().json(page))
}

/// Send a delivery again (admins): it goes back to `pending` with a fresh set of attempts,
/// due now. Works on failed and delivered deliveries alike (a receiver that lost one).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Webhook id"), ("delivery_id" = i64, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued", body = DeliveryView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn redeliver(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageIntegrations)?;
    let (id, delivery_id) = path.into_inner();
    let now = Utc::now().naive_utc();
    let row = state
        .db
        .write(move |conn| {
            let endpoint = get(conn, caller.shop_id, id)?;
            let find = |conn: &mut DbConnection| -> Result<DeliveryRow, ApiError> {
                webhook_deliveries::table
                    .inner_join(webhook_events::table)
                    .filter(webhook_deliveries::endpoint_id.eq(endpoint.id))
                    .filter(webhook_deliveries::id.eq(delivery_id))
                    .select(DeliveryRow::as_select())
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| ApiError::not_found("delivery"))
            };
            let current = find(conn)?;
            if current.status == DeliveryStatus::Pending.as_str() {
                return Err(ApiError::conflict(
                    ProblemKind::DeliveryPending,
                    "the delivery is already waiting for its next attempt",
                ));
            }
            diesel::update(webhook_deliveries::table.find(delivery_id))
                .set((
                    webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()),
                    webhook_deliveries::attempts.eq(0),
                    webhook_deliveries::next_attempt_at.eq(now),
                    webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            find(conn)
        })
        .await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(row.view()))
}
