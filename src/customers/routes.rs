//! `/api/v1/customers`: the customer file over HTTP. Handlers parse, check permission and
//! call the store; `/customers/import` and `/customers/export` belong to `ingestion`.

use actix_web::{HttpResponse, http::header, web};
use chrono::Utc;

use super::CustomerSort;
use super::store::{self, CustomerCursor, CustomerFilter};
use super::{
    CreateCustomerRequest, CustomerAnswer, CustomerView, ListCustomersQuery, UpdateCustomerRequest,
};
use crate::auth::{Caller, Principal, roles::Permission};
use crate::error::ApiError;
use crate::extract::NoQuery;
use crate::extract::{Body, Query};
use crate::pagination::PageRequest;
use crate::response::UpsertOutcome;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/customers")
            .route(web::get().to(list_customers))
            .route(web::post().to(create_customer)),
    )
    .service(
        web::resource("/customers/{id}")
            .route(web::get().to(get_customer))
            .route(web::patch().to(update_customer))
            .route(web::delete().to(archive_customer)),
    )
    .service(web::resource("/customers/{id}/restore").route(web::post().to(restore_customer)))
    .service(web::resource("/customers/{id}/merge").route(web::post().to(merge_customers)));
}

/// Find customers. Filters combine (all must hold); pages are stable under inserts.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", security(("bearer" = []), ("api_key" = [])),
    params(ListCustomersQuery),
    responses(
        (status = 200, body = crate::customers::CustomerPage),
        (status = 401),
        (status = 422),
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
    let request = PageRequest::parse(
        query.cursor.as_deref(),
        query.limit,
        query.with_total.unwrap_or(false),
    )?;
    if filter.search.is_some() && query.sort.is_some_and(|s| s != CustomerSort::Newest) {
        return Err(ApiError::field(
            "sort",
            "a search (q) is ordered by relevance: leading matches first, then newest first",
        ));
    }
    let page = state
        .db
        .read(move |conn| {
            if filter.search.is_some() {
                return request.load(
                    conn,
                    |conn, after, n| {
                        let cursor = match after {
                            None => None,
                            Some(CustomerCursor::Ranked { rank, id }) => Some((rank, id)),
                            Some(_) => {
                                return Err(ApiError::field(
                                    "cursor",
                                    "belongs to a list with another sort",
                                ));
                            }
                        };
                        store::search(conn, &filter, cursor, n)
                    },
                    |conn| store::count(conn, &filter),
                    |(rank, c)| CustomerCursor::Ranked {
                        rank: *rank,
                        id: c.id,
                    },
                    |conn, rows| store::views(conn, rows.into_iter().map(|(_, c)| c).collect()),
                );
            }
            request.load(
                conn,
                |conn, after, n| store::list(conn, &filter, sort, after, n),
                |conn| store::count(conn, &filter),
                |c| CustomerCursor::of(sort, c),
                store::views,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Create a customer. A contact handle already on file is a 409 `duplicate-contact`
/// naming the existing customer (`existing_customer_id`).
///
/// The answer is the customer when the caller may read customers (staff; API keys with
/// `customers:read`), otherwise a `Receipt` (`{"id", "outcome"}`).
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", security(("bearer" = []), ("api_key" = [])),
    request_body = CreateCustomerRequest,
    responses(
        (status = 201, body = CustomerAnswer, headers(("Location" = String)),
            description = "Created: the customer, or a receipt for callers who may not read customers"),
        (status = 401),
        (status = 409, description = "A contact handle belongs to another customer (`duplicate-contact`)"),
        (status = 422),
    ))]
pub async fn create_customer(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<CreateCustomerRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let shows_record = caller.sees_what_it_writes(Permission::EditCustomers);
    let request = body.into_inner();
    let (id, answer) = state
        .db
        .write(move |conn| {
            let customer = store::create(conn, caller.shop_id(), &request)?;
            let id = customer.id;
            let answer = CustomerAnswer::of(shows_record, id, UpsertOutcome::Created, || {
                Ok::<_, ApiError>(store::views(conn, vec![customer])?.remove(0))
            })?;
            Ok((id, answer))
        })
        .await
        .map_err(|e| e.without_record_ids(!shows_record))?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/customers/{id}")))
        .json(answer))
}

/// The customer file: profile, contacts, tags, order and ticket summaries, value tier
/// with its reasons and its latest changes.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, body = CustomerView),
        (status = 404),
    ))]
pub async fn get_customer(
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
            let customer = store::get(conn, caller.shop_id(), id)?;
            let mut view = store::views(conn, vec![customer])?.remove(0);
            view.tier_history = Some(crate::tiers::store::history(conn, id, 20)?);
            Ok(view)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Edit a customer. Absent fields stay; `null` clears address and birthday; `contacts`
/// replaces the whole set.
///
/// The answer is the customer when the caller may read customers (staff; API keys with
/// `customers:read`), otherwise a `Receipt` (`outcome` `updated` or `unchanged`).
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    request_body = UpdateCustomerRequest,
    responses(
        (status = 200, body = CustomerAnswer,
            description = "The customer, or a receipt for callers who may not read customers"),
        (status = 404),
        (status = 409, description = "Handle on another customer (`duplicate-contact`), or customer archived (`customer-archived`)"),
        (status = 422),
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
    let shows_record = caller.sees_what_it_writes(Permission::EditCustomers);
    let answer = state
        .db
        .write(move |conn| {
            let customer = store::get(conn, caller.shop_id(), id)?;
            let (customer, changed) = store::update(conn, &customer, &request)?;
            let outcome = if changed {
                UpsertOutcome::Updated
            } else {
                UpsertOutcome::Unchanged
            };
            CustomerAnswer::of(shows_record, customer.id, outcome, || {
                Ok::<_, ApiError>(store::views(conn, vec![customer])?.remove(0))
            })
        })
        .await
        .map_err(|e| e.without_record_ids(!shows_record))?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Archive a customer (soft delete; leads and admins). Tickets and orders are kept; the
/// customer leaves the default lists and becomes read-only until restored.
#[utoipa::path(delete, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 204, description = "Archived (or already archived)"),
        (status = 403),
        (status = 404),
    ))]
pub async fn archive_customer(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ArchiveCustomers)?;
    let id = id.into_inner();
    let tiers = state.settings.tiers;
    state
        .db
        .write(move |conn| super::operations::archive(conn, caller.shop_id, id, &tiers))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Bring an archived customer back (leads and admins).
#[utoipa::path(post, path = "/api/v1/customers/{id}/restore", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, body = CustomerView),
        (status = 403),
        (status = 404),
    ))]
pub async fn restore_customer(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ArchiveCustomers)?;
    let id = id.into_inner();
    let tiers = state.settings.tiers;
    let view = state
        .db
        .write(move |conn| {
            let customer = super::operations::restore(conn, caller.shop_id, id, &tiers)?;
            Ok(store::views(conn, vec![customer])?.remove(0))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Merge a duplicate into this customer (leads and admins): the duplicate's handles, tags,
/// orders, tickets, notes and tier history move here, the duplicate is archived pointing
/// here (`merged_into_id`), both files get a note, the purchase summary and tier are
/// recomputed, and integrations get `customer.merged`. An open ticket of the duplicate that
/// repeats one of this customer's (same kind, same order) is closed as `duplicate`.
/// `?dry_run=true` answers the same report and changes nothing.
#[utoipa::path(post, path = "/api/v1/customers/{id}/merge", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The customer that survives"), super::merge::MergeQuery),
    request_body = super::merge::MergeRequest,
    responses(
        (status = 200, body = super::merge::MergeReport),
        (status = 403),
        (status = 404),
        (status = 409, description = "Either customer is archived (`customer-archived`)"),
        (status = 422),
    ))]
pub async fn merge_customers(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<i64>,
    query: Query<super::merge::MergeQuery>,
    body: Body<super::merge::MergeRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ArchiveCustomers)?;
    let (id, request) = (id.into_inner(), body.into_inner());
    let dry_run = query.into_inner().dry_run.unwrap_or(false);
    let settings = state.settings.clone();
    let report = state
        .db
        .write(move |conn| {
            super::merge::merge_or_preview(
                conn,
                &caller,
                &settings,
                id,
                request.duplicate_id,
                dry_run,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
