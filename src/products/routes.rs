//! `/api/v1/products` over HTTP: parse, check the permission, call the store, respond.
//!
//! Staff only: any staff member reads the catalogue, leads and admins write it. API keys
//! get 403 (the feeds add unknown SKUs through orders).

use actix_web::{HttpResponse, http::header, web};

use super::{
    CreateProductRequest, ListProductsQuery, ProductPage, ProductView, UpdateProductRequest, store,
};
use crate::auth::{Caller, roles::Permission};
use crate::error::ApiError;
use crate::extract::{Body, NoQuery, Query};
use crate::pagination::PageRequest;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/products")
            .route(web::get().to(list_products))
            .route(web::post().to(create_product)),
    )
    .service(
        web::resource("/products/{id}")
            .route(web::get().to(get_product))
            .route(web::patch().to(update_product))
            .route(web::delete().to(delete_product)),
    );
}

/// The shop's product catalogue (any staff), by SKU.
#[utoipa::path(get, path = "/api/v1/products", tag = "products", security(("bearer" = [])),
    params(ListProductsQuery),
    responses(
        (status = 200, body = ProductPage),
        (status = 403, description = "API keys may not read the catalogue"),
        (status = 422),
    ))]
pub async fn list_products(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListProductsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let query = query.into_inner();
    let request = PageRequest::<String>::parse(query.cursor.as_deref(), query.limit, false)?;
    let consumable = query.consumable;
    let page = state
        .db
        .read(move |conn| {
            request.load_uncounted(
                conn,
                |conn, after, n| store::list(conn, caller.shop_id, consumable, after, n),
                |p| p.sku.clone(),
                |_, rows| Ok(rows.iter().map(|p| p.view()).collect()),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Add a product to the catalogue (leads and admins).
#[utoipa::path(post, path = "/api/v1/products", tag = "products", security(("bearer" = [])),
    request_body = CreateProductRequest,
    responses(
        (status = 201, body = ProductView, headers(("Location" = String))),
        (status = 403, description = "Agents and API keys may not write the catalogue"),
        (status = 409, description = "The SKU is in the catalogue already (`duplicate`)"),
        (status = 422),
    ))]
pub async fn create_product(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<CreateProductRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageProducts)?;
    let request = body.into_inner();
    let product = state
        .db
        .write(move |conn| store::insert(conn, caller.shop_id, &request))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/products/{}", product.id)))
        .json(product.view()))
}

/// One product (any staff).
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Product id")),
    responses(
        (status = 200, body = ProductView),
        (status = 403, description = "API keys may not read the catalogue"),
    ))]
pub async fn get_product(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let id = id.into_inner();
    let product = state
        .db
        .read(move |conn| store::get(conn, caller.shop_id, id))
        .await?;
    Ok(HttpResponse::Ok().json(product.view()))
}

/// Rename a product or change its usage days (leads and admins). The SKU stays: order
/// items refer to it.
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Product id")),
    request_body = UpdateProductRequest,
    responses(
        (status = 200, body = ProductView),
        (status = 403, description = "Agents and API keys may not write the catalogue"),
        (status = 422, description = "A bad name or usage days, or no field to change"),
    ))]
pub async fn update_product(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<UpdateProductRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageProducts)?;
    let (id, request) = (id.into_inner(), body.into_inner());
    if request.name.is_none() && request.usage_days.is_none() {
        return Err(ApiError::field("body", "name at least one field to change"));
    }
    let product = state
        .db
        .write(move |conn| {
            let product = store::get(conn, caller.shop_id, id)?;
            store::update(conn, &product, &request)
        })
        .await?;
    Ok(HttpResponse::Ok().json(product.view()))
}

/// Remove a product from the catalogue (leads and admins). Order items keep their SKU;
/// the next order naming it adds it again, without usage days.
#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "products", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Product id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Agents and API keys may not write the catalogue"),
    ))]
pub async fn delete_product(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageProducts)?;
    let id = id.into_inner();
    state
        .db
        .write(move |conn| {
            let product = store::get(conn, caller.shop_id, id)?;
            store::delete(conn, &product)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
