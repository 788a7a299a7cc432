//! `/api/v1/call-scripts` and `/api/v1/tickets/{id}/templates` over HTTP: parse, check
//! the permission, call the store or an operation, respond.
//!
//! Staff only: scripts are words for people on the phone, and `{agent_name}` is the
//! reader's own name, so no API key scope reads or writes them (keys get 403).

use actix_web::{HttpResponse, http::header, web};
use serde::Deserialize;
use validator::Validate;

use super::store::{self, ScriptFilter};
use super::{
    CallScriptList, CallScriptView, CreateCallScriptRequest, Situation, TicketTemplates,
    UpdateCallScriptRequest, operations,
};
use crate::auth::{Caller, roles::Permission};
use crate::error::ApiError;
use crate::extract::{Body, NoQuery, Query};
use crate::state::AppState;
use crate::tickets::TicketKind;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/call-scripts")
            .route(web::get().to(list_call_scripts))
            .route(web::post().to(create_call_script)),
    )
    .service(
        web::resource("/call-scripts/{id}")
            .route(web::get().to(get_call_script))
            .route(web::patch().to(update_call_script))
            .route(web::delete().to(delete_call_script)),
    )
    .service(web::resource("/tickets/{id}/templates").route(web::get().to(ticket_templates)));
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCallScriptsQuery {
    /// Scripts that apply to tickets of this kind: those written for it and those for
    /// any kind.
    pub kind: Option<TicketKind>,
    pub situation: Option<Situation>,
    /// `true`: only scripts offered on tickets; `false`: only those set aside.
    pub active: Option<bool>,
}

/// The shop's call scripts (any staff), by situation, then kind (kind-less last), title
/// and id. At most 200 per shop, so one answer holds them all.
#[utoipa::path(get, path = "/api/v1/call-scripts", tag = "scripts", security(("bearer" = [])),
    params(ListCallScriptsQuery),
    responses(
        (status = 200, body = CallScriptList),
        (status = 403, description = "API keys may not read call scripts"),
    ))]
pub async fn list_call_scripts(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListCallScriptsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let query = query.into_inner();
    let filter = ScriptFilter {
        kind: query.kind,
        situation: query.situation,
        active: query.active,
    };
    let scripts = state
        .db
        .read(move |conn| store::list(conn, caller.shop_id, &filter))
        .await?;
    Ok(HttpResponse::Ok().json(CallScriptList {
        items: scripts.iter().map(|s| s.view()).collect(),
    }))
}

/// Write a call script (leads and admins). The body's placeholders are checked: an
/// unknown one or a brace without its partner is a 422 naming `body`. A shop keeps at
/// most 200 scripts (beyond: 422 naming `call_scripts`).
#[utoipa::path(post, path = "/api/v1/call-scripts", tag = "scripts", security(("bearer" = [])),
    request_body = CreateCallScriptRequest,
    responses(
        (status = 201, body = CallScriptView, headers(("Location" = String))),
        (status = 403, description = "Agents may not write call scripts"),
        (status = 422, description = "Bad title or body (an unknown placeholder, a stray brace), or the shop's 200 scripts reached"),
    ))]
pub async fn create_call_script(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<CreateCallScriptRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageCallScripts)?;
    let request = body.into_inner();
    let script = state
        .db
        .write(move |conn| operations::create(conn, &caller, &request))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/call-scripts/{}", script.id),
        ))
        .json(script.view()))
}

/// One call script (any staff).
#[utoipa::path(get, path = "/api/v1/call-scripts/{id}", tag = "scripts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Call script id")),
    responses(
        (status = 200, body = CallScriptView),
        (status = 403, description = "API keys may not read call scripts"),
    ))]
pub async fn get_call_script(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let id = id.into_inner();
    let script = state
        .db
        .read(move |conn| store::get(conn, caller.shop_id, id))
        .await?;
    Ok(HttpResponse::Ok().json(script.view()))
}

/// Edit a call script (leads and admins): its kind (`null`: any), situation, title, body
/// (checked as when written) or whether it is offered on tickets.
#[utoipa::path(patch, path = "/api/v1/call-scripts/{id}", tag = "scripts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Call script id")),
    request_body = UpdateCallScriptRequest,
    responses(
        (status = 200, body = CallScriptView),
        (status = 403, description = "Agents may not edit call scripts"),
        (status = 422, description = "Bad title or body (an unknown placeholder, a stray brace), or no field to change"),
    ))]
pub async fn update_call_script(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<UpdateCallScriptRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageCallScripts)?;
    let (id, request) = (id.into_inner(), body.into_inner());
    if request.is_empty() {
        return Err(ApiError::field("body", "name at least one field to change"));
    }
    let script = state
        .db
        .write(move |conn| operations::edit(conn, &caller, id, &request))
        .await?;
    Ok(HttpResponse::Ok().json(script.view()))
}

/// Delete a call script (leads and admins). To keep one but stop offering it, set
/// `active` to `false` instead.
#[utoipa::path(delete, path = "/api/v1/call-scripts/{id}", tag = "scripts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Call script id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Agents may not delete call scripts"),
    ))]
pub async fn delete_call_script(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageCallScripts)?;
    let id = id.into_inner();
    state
        .db
        .write(move |conn| {
            let script = store::get(conn, caller.shop_id, id)?;
            store::delete(conn, &script)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The ticket's call scripts, filled in (staff who may read tickets). Active scripts for
/// the ticket's kind and for any kind; the situation its state calls for comes first
/// (`new`: `first_call`; `first_call`, `follow_up`: `follow_up`; `resolved`:
/// `resolution`). A placeholder the ticket has no value for (no linked order: `{order_no}`)
/// stays as written in `text` and is listed in `missing`.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/templates", tag = "scripts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Ticket id")),
    responses(
        (status = 200, body = TicketTemplates),
        (status = 403, description = "API keys may not read call scripts"),
    ))]
pub async fn ticket_templates(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let id = id.into_inner();
    let templates = state
        .db
        .read(move |conn| operations::templates(conn, &caller, id))
        .await?;
    Ok(HttpResponse::Ok().json(templates))
}
