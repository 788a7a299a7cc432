//! `/api/v1/customers`: the customer file.

use actix_web::{HttpResponse, http::header, web};
use chrono::Utc;

use super::queries::{self, CustomerCursor, CustomerFilter};
use super::{CreateCustomerRequest, CustomerView, ListCustomersQuery, UpdateCustomerRequest};
use crate::app::AppState;
use crate::auth::{Caller, Principal, roles::Permission};
use crate::error::{ApiError, Problem};
use crate::extract::{Body, Query};
use crate::pagination::{Page, decode_cursor, finish_page, limit_or_default};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/customers")
            .route(web::get().to(list_customers))
            .route(web::post().to(create_customer)),
    )
    .service(web::resource("/customers/import").route(web::post().to(super::csv_io::import)))
    .service(web::resource("/customers/export").route(web::get().to(super::csv_io::export)))
    .service(
        web::resource("/customers/{id}")
            .route(web::get().to(get_customer))
            .route(web::patch().to(update_customer))
            .route(web::delete().to(archive_customer)),
    )
    .service(web::resource("/customers/{id}/restore").route(web::post().to(restore_customer)));
}

/// Find customers. Filters combine (all must hold); pages are stable under inserts.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", security(("bearer" = []), ("api_key" = [])),
    params(ListCustomersQuery),
    responses(
        (status = 200, body = Page<CustomerView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_customers(
    state: web::Data<AppState>,
    caller: Principal,
    query: Query<ListCustomersQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let query = query.into_inner();
    let filter = CustomerFilter::from_query(caller.shop_id(), &query, Utc::now().naive_utc())?;
    let sort = query.sort.unwrap_or_default();
    let cursor = query
        .cursor
        .as_deref()
        .map(decode_cursor::<CustomerCursor>)
        .transpose()?;
    let limit = limit_or_default(query.limit);
    let with_total = query.with_total.unwrap_or(false);
    let page = state
        .db
        .read(move |conn| {
            let rows = queries::list(conn, &filter, sort, cursor, limit + 1)?;
            let total = with_total
                .then(|| queries::count(conn, &filter))
                .transpose()?;
            finish_page(
                rows,
                limit,
                total,
                |c| CustomerCursor::of(sort, c),
                |rows| queries::views(conn, rows),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Create a customer. A contact handle already on file is a 409 `duplicate-contact`
/// naming the existing customer (`existing_customer_id`).
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", security(("bearer" = []), ("api_key" = [])),
    request_body = CreateCustomerRequest,
    responses(
        (status = 201, body = CustomerView, headers(("Location" = String))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A contact handle belongs to another customer", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_customer(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<CreateCustomerRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let request = body.into_inner();
    let view = state
        .db
        .write(move |conn| {
            let customer = queries::create(conn, caller.shop_id(), &request)?;
            Ok(queries::views(conn, vec![customer])?.remove(0))
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/customers/{}", view.id)))
        .json(view))
}

/// The customer file: profile, contacts, tags, order and ticket summaries, value tier
/// with its reasons and its latest changes.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, body = CustomerView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_customer(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let id = id.into_inner();
    let view = state
        .db
        .read(move |conn| {
            let customer = queries::get(conn, caller.shop_id(), id)?;
            let mut view = queries::views(conn, vec![customer])?.remove(0);
            view.tier_history = Some(crate::tiers::store::history(conn, id, 20)?);
            Ok(view)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Edit a customer. Absent fields stay; `null` clears address and birthday; `contacts`
/// replaces the whole set.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    request_body = UpdateCustomerRequest,
    responses(
        (status = 200, body = CustomerView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Handle on another customer, or customer archived", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_customer(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    body: Body<UpdateCustomerRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let id = id.into_inner();
    let request = body.into_inner();
    if request.is_empty() {
        return Err(ApiError::field("body", "name at least one field to change"));
    }
    let view = state
        .db
        .write(move |conn| {
            let customer = queries::get(conn, caller.shop_id(), id)?;
            let (customer, _) = queries::update(conn, &customer, &request)?;
            Ok(queries::views(conn, vec![customer])?.remove(0))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Archive a customer (soft delete; leads and admins). Tickets and orders are kept; the
/// customer leaves the default lists and becomes read-only until restored.
#[utoipa::path(delete, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 204, description = "Archived (or already archived)"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn archive_customer(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ArchiveCustomers)?;
    let id = id.into_inner();
    state
        .db
        .write(move |conn| {
            let customer = queries::get(conn, caller.shop_id, id)?;
            queries::set_archived(conn, &customer, true)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Bring an archived customer back (leads and admins).
#[utoipa::path(post, path = "/api/v1/customers/{id}/restore", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, body = CustomerView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn restore_customer(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ArchiveCustomers)?;
    let id = id.into_inner();
    let view = state
        .db
        .write(move |conn| {
            let customer = queries::get(conn, caller.shop_id, id)?;
            let customer = queries::set_archived(conn, &customer, false)?;
            Ok(queries::views(conn, vec![customer])?.remove(0))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
