//! `/api/v1/occasions` over HTTP: parse, check the permission, call the store, respond.
//! Any staff member reads the list; admins keep it. API keys get 403.

use actix_web::{HttpResponse, http::header, web};
use chrono::NaiveDate;

use super::{
    CreateOccasionRequest, ListOccasionsQuery, OccasionList, OccasionView, UpdateOccasionRequest,
    store,
};
use crate::auth::{Caller, roles::Permission};
use crate::error::ApiError;
use crate::extract::{Body, FIRST_DAY, LAST_DAY, Query};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/occasions")
            .route(web::get().to(list_occasions))
            .route(web::post().to(create_occasion)),
    )
    .service(
        web::resource("/occasions/{id}")
            .route(web::patch().to(update_occasion))
            .route(web::delete().to(delete_occasion)),
    );
}

/// The shop's greeting occasions (any staff), by day.
#[utoipa::path(get, path = "/api/v1/occasions", tag = "occasions", security(("bearer" = [])),
    params(ListOccasionsQuery),
    responses(
        (status = 200, body = OccasionList),
        (status = 403, description = "API keys may not read the occasions"),
        (status = 422),
    ))]
pub async fn list_occasions(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListOccasionsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let (from, to) = match query.year {
        Some(year) => (
            NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(FIRST_DAY),
            NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(LAST_DAY),
        ),
        None => (FIRST_DAY, LAST_DAY),
    };
    let items = state
        .db
        .read(move |conn| store::between(conn, caller.shop_id, from, to))
        .await?;
    Ok(HttpResponse::Ok().json(OccasionList {
        items: items.iter().map(|o| o.view()).collect(),
    }))
}

/// Add a greeting occasion (admins).
#[utoipa::path(post, path = "/api/v1/occasions", tag = "occasions", security(("bearer" = [])),
    request_body = CreateOccasionRequest,
    responses(
        (status = 201, body = OccasionView, headers(("Location" = String))),
        (status = 403, description = "Only admins keep the occasions"),
        (status = 409, description = "The same name on the same day is on the list (`duplicate`)"),
        (status = 422, description = "A bad name or day, or the shop's 2000 occasions reached"),
    ))]
pub async fn create_occasion(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<CreateOccasionRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageOccasions)?;
    let request = body.into_inner();
    let occasion = state
        .db
        .write(move |conn| store::insert(conn, caller.shop_id, &request))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/occasions/{}", occasion.id),
        ))
        .json(occasion.view()))
}

/// Rename or move a greeting occasion (admins).
#[utoipa::path(patch, path = "/api/v1/occasions/{id}", tag = "occasions", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Occasion id")),
    request_body = UpdateOccasionRequest,
    responses(
        (status = 200, body = OccasionView),
        (status = 403, description = "Only admins keep the occasions"),
        (status = 409, description = "The same name on the same day is on the list (`duplicate`)"),
        (status = 422, description = "A bad name or day, or no field to change"),
    ))]
pub async fn update_occasion(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<UpdateOccasionRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageOccasions)?;
    let (id, request) = (id.into_inner(), body.into_inner());
    if request.name.is_none() && request.day.is_none() {
        return Err(ApiError::field("body", "name at least one field to change"));
    }
    let occasion = state
        .db
        .write(move |conn| {
            let occasion = store::get(conn, caller.shop_id, id)?;
            store::update(conn, &occasion, &request)
        })
        .await?;
    Ok(HttpResponse::Ok().json(occasion.view()))
}

/// Delete a greeting occasion (admins).
#[utoipa::path(delete, path = "/api/v1/occasions/{id}", tag = "occasions", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Occasion id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Only admins keep the occasions"),
    ))]
pub async fn delete_occasion(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageOccasions)?;
    let id = id.into_inner();
    state
        .db
        .write(move |conn| {
            let occasion = store::get(conn, caller.shop_id, id)?;
            store::delete(conn, &occasion)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
