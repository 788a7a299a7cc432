//! `/api/v1/customers/{id}/orders` and `/api/v1/orders` over HTTP: parse, check
//! permission, call the store, respond.

use actix_web::{HttpResponse, http::header, web};
use chrono::NaiveDateTime;

use super::{
    CreateOrderRequest, ListOrdersQuery, OrderAnswer, OrderView, UpdateOrderRequest, operations,
    store,
};
use crate::auth::{Principal, roles::Permission};
use crate::customers::store as customer_store;
use crate::error::ApiError;
use crate::extract::NoQuery;
use crate::extract::{Body, Query, within_calendar};
use crate::ids::CustomerId;
use crate::pagination::PageRequest;
use crate::response::UpsertOutcome;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/customers/{id}/orders")
            .route(web::get().to(list_orders))
            .route(web::post().to(create_order)),
    )
    .service(
        web::resource("/orders/{id}")
            .route(web::get().to(get_order))
            .route(web::patch().to(update_order))
            .route(web::delete().to(delete_order)),
    );
}

/// A customer's orders, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/orders", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Customer id"), ListOrdersQuery),
    responses(
        (status = 200, body = crate::orders::OrderPage),
        (status = 404),
        (status = 422),
    ))]
pub async fn list_orders(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    query: Query<ListOrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let id = id.into_inner();
    let query = query.into_inner();
    // A customer's order list always says how many orders there are.
    let request =
        PageRequest::<(NaiveDateTime, i64)>::parse(query.cursor.as_deref(), query.limit, true)?
            .refusing_unless(|(at, _)| within_calendar(*at))?;
    let page = state
        .db
        .read(move |conn| {
            let customer = customer_store::get(conn, caller.shop_id(), id)?;
            request.load(
                conn,
                |conn, after, n| store::list_of_customer(conn, customer.id, after, n),
                |conn| store::count_of_customer(conn, customer.id),
                |o| (o.ordered_at, o.id),
                store::views,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Record an order for a customer.
///
/// The answer is the order when the caller may read customers and their orders (staff; API
/// keys with `customers:read`), otherwise a `Receipt` (`{"id", "outcome"}`).
#[utoipa::path(post, path = "/api/v1/customers/{id}/orders", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    request_body = CreateOrderRequest,
    responses(
        (status = 201, body = OrderAnswer, headers(("Location" = String)),
            description = "Recorded: the order, or a receipt for callers who may not read orders"),
        (status = 404),
        (status = 409, description = "Order number already recorded for the channel (`duplicate`), or customer archived (`customer-archived`)"),
        (status = 422),
    ))]
pub async fn create_order(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    body: Body<CreateOrderRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::RecordOrders)?;
    let shows_record = caller.sees_what_it_writes(Permission::RecordOrders);
    let customer_id = id.into_inner();
    let request = body.into_inner();
    let tiers = state.settings.tiers;
    let (id, answer) = state
        .db
        .write(move |conn| {
            let order = operations::create(
                conn,
                caller.shop_id(),
                CustomerId(customer_id),
                &request,
                &tiers,
            )?;
            let id = order.id;
            let answer = OrderAnswer::of(shows_record, id, UpsertOutcome::Created, || {
                Ok::<_, ApiError>(store::views(conn, vec![order])?.remove(0))
            })?;
            Ok((id, answer))
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/orders/{id}")))
        .json(answer))
}

/// One order with its items.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Order id")),
    responses(
        (status = 200, body = OrderView),
        (status = 404),
    ))]
pub async fn get_order(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let id = id.into_inner();
    let view = state
        .db
        .read(move |conn| {
            let order = store::get(conn, caller.shop_id(), id)?;
            Ok(store::views(conn, vec![order])?.remove(0))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Change an order's status, items, total or date. The customer's summary follows.
///
/// The answer is the order when the caller may read customers and their orders (staff; API
/// keys with `customers:read`), otherwise a `Receipt` (`outcome` `updated` or `unchanged`).
#[utoipa::path(patch, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Order id")),
    request_body = UpdateOrderRequest,
    responses(
        (status = 200, body = OrderAnswer,
            description = "The order, or a receipt for callers who may not read orders"),
        (status = 404),
        (status = 409, description = "Customer archived (`customer-archived`)"),
        (status = 422),
    ))]
pub async fn update_order(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    body: Body<UpdateOrderRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::RecordOrders)?;
    let shows_record = caller.sees_what_it_writes(Permission::RecordOrders);
    let id = id.into_inner();
    let request = body.into_inner();
    let tiers = state.settings.tiers;
    let answer = state
        .db
        .write(move |conn| {
            let order = store::get(conn, caller.shop_id(), id)?;
            let (order, outcome) = match operations::update(conn, &order, &request, &tiers)? {
                Some(updated) => (updated, UpsertOutcome::Updated),
                None => (order, UpsertOutcome::Unchanged),
            };
            OrderAnswer::of(shows_record, order.id, outcome, || {
                Ok::<_, ApiError>(store::views(conn, vec![order])?.remove(0))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Delete an order entered by mistake. The customer's summary follows.
#[utoipa::path(delete, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Order id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404),
        (status = 409, description = "Customer archived (`customer-archived`), or tickets refer to the order (`reference`, with `ticket_ids`)"),
    ))]
pub async fn delete_order(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::RecordOrders)?;
    let id = id.into_inner();
    let tiers = state.settings.tiers;
    state
        .db
        .write(move |conn| {
            let order = store::get(conn, caller.shop_id(), id)?;
            operations::delete(conn, &order, &tiers)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
