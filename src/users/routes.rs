//! `/api/v1/users`: staff account management (admins), staff list (leads and admins).

use crate::audit::{AuditAction, store as audit_store};
use crate::auth::authenticate::ClientAddress;
use actix_web::{HttpResponse, http::header, web};

use super::{
    CreateUserRequest, ListUsersQuery, ResetPasswordRequest, UpdateUserRequest, UserView,
    operations, store,
};
use crate::auth::{Caller, Principal, roles::Permission};
use crate::error::ApiError;
use crate::extract::NoQuery;
use crate::extract::{Body, Query};
use crate::pagination::PageRequest;
use crate::state::AppState;
use crate::tickets::operations::Context;
use chrono::Utc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users")
            .route(web::get().to(list_users))
            .route(web::post().to(create_user)),
    )
    .service(
        web::resource("/users/{id}")
            .route(web::get().to(get_user))
            .route(web::patch().to(update_user)),
    )
    .service(web::resource("/users/{id}/password").route(web::put().to(reset_password)))
    .service(web::resource("/staff").route(web::get().to(list_staff)));
}

/// List staff accounts (leads and admins).
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users",
    security(("bearer" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, body = crate::users::UserPage),
        (status = 401),
        (status = 403),
        (status = 422),
    )
)]
pub async fn list_users(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListUsersQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewStaff)?;
    let query = query.into_inner();
    // The staff list always says how many match.
    let request = PageRequest::<i64>::parse(query.cursor.as_deref(), query.limit, true)?;
    let filter = store::UserFilter {
        shop_id: caller.shop_id,
        role: query.role,
        active: query.active,
    };
    let page = state
        .db
        .read(move |conn| {
            request.load(
                conn,
                |conn, after, n| store::list(conn, &filter, after, n),
                |conn| store::count(conn, &filter),
                |u| u.id,
                |_, rows| rows.iter().map(|u| u.view()).collect(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The shop's active staff (id, name, role), by name: for every staff member, to assign
/// tickets and to read timelines. Email addresses and inactive accounts are in `/users`
/// (admins).
#[utoipa::path(
    get, path = "/api/v1/staff", tag = "users", security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Vec<crate::users::StaffMember>),
        (status = 401),
        (status = 403),
    )
)]
pub async fn list_staff(
    state: web::Data<AppState>,
    caller: crate::auth::Principal,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTickets)?;
    let shop_id = caller.shop_id();
    let staff = state
        .db
        .read(move |conn| store::active_staff(conn, shop_id))
        .await?;
    Ok(HttpResponse::Ok().json(staff))
}

/// Create a staff account (admins).
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users",
    security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView, headers(("Location" = String))),
        (status = 401),
        (status = 403),
        (status = 409, description = "Email already used (`duplicate`)"),
        (status = 422, description = "Invalid request, or a password that is too easy to guess"),
        (status = 503, description = "Every password hasher is busy; retry after `Retry-After` seconds",
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn create_user(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    body: Body<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageStaff)?;
    let request = body.into_inner();
    let hash = state
        .passwords
        .hash_new(
            "password",
            request.password.clone(),
            &request.email,
            &request.display_name,
        )
        .await?;
    let actor = caller.subject();
    let user = state
        .db
        .write(move |conn| {
            let user = store::create(conn, caller.shop_id, &request, &hash)?;
            audit_store::record_now(
                conn,
                caller.shop_id,
                &actor,
                AuditAction::UserCreated,
                serde_json::json!({"user": format!("user:{}", user.id), "role": user.role}),
                address.as_deref(),
            )?;
            Ok(user)
        })
        .await?;
    tracing::info!(
        user_id = user.id,
        by = caller.user_id,
        "staff account created"
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/users/{}", user.id)))
        .json(user.view()?))
}

/// One staff account (leads and admins; anyone for themselves).
#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Staff member id")),
    responses(
        (status = 200, body = UserView),
        (status = 401),
        (status = 403),
        (status = 404),
    )
)]
pub async fn get_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if id != caller.user_id {
        caller.require(Permission::ViewStaff)?;
    }
    let user = state
        .db
        .read(move |conn| store::get_in_shop(conn, caller.shop_id, id))
        .await?;
    Ok(HttpResponse::Ok().json(user.view()?))
}

/// Change a staff account's name, role or active flag (admins).
///
/// Deactivating revokes the account's tokens at once. The last active admin can be
/// neither demoted nor deactivated (409 `last-admin`). Deactivating someone who holds open
/// tickets needs `open_tickets`, which says where they go: back to the unassigned queue
/// (`unassign`), to one colleague (`reassign`, `to` an active staff member), or spread one
/// by one over the remaining active agents (`least_loaded`); they move in the same
/// transaction, each with its own `assigned` timeline entry.
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Staff member id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserView),
        (status = 401),
        (status = 403),
        (status = 404),
        (status = 409, description = "Would leave the shop without an active admin (`last-admin`)"),
        (status = 422, description = "A field is invalid; or a deactivation of someone with open tickets does not say where they go (`open_tickets`, with the count), names no active colleague, or finds no agent left"),
    )
)]
pub async fn update_user(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    id: web::Path<i64>,
    body: Body<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageStaff)?;
    let id = id.into_inner();
    let request = body.into_inner();
    if request.display_name.is_none()
        && request.role.is_none()
        && request.active.is_none()
        && request.open_tickets.is_none()
    {
        return Err(ApiError::field(
            "body",
            "name at least one of display_name, role, active",
        ));
    }
    let actor = caller.subject();
    let sla = state.sla.clone();
    let tiers = state.settings.tiers;
    let admin = Principal::Staff(caller.clone());
    let user = state
        .db
        .write(move |conn| {
            let before = store::get_in_shop(conn, caller.shop_id, id)?;
            let ctx = Context {
                sla: sla.get(conn, caller.shop_id)?,
                caller: &admin,
                now: Utc::now().naive_utc(),
                tiers,
                surveys: None,
            };
            let update = operations::apply_update(conn, &ctx, id, &request)?;
            let after = update.user;
            // Role and active flag as they were and are; a new name only as a fact (names
            // are personal data).
            let mut change = serde_json::json!({
                "user": format!("user:{id}"),
                "from": {"role": before.role, "active": before.active},
                "to": {"role": after.role, "active": after.active},
                "display_name_changed": before.display_name != after.display_name,
            });
            if let Some((handover, moved)) = update.handover {
                let mut open_tickets = handover.describe();
                open_tickets["moved"] = moved.into();
                change["open_tickets"] = open_tickets;
            }
            audit_store::record_now(
                conn,
                caller.shop_id,
                &actor,
                AuditAction::UserChanged,
                change,
                address.as_deref(),
            )?;
            Ok(after)
        })
        .await?;
    tracing::info!(user_id = id, by = caller.user_id, "staff account updated");
    Ok(HttpResponse::Ok().json(user.view()?))
}

/// Set a new password for a staff account (admins). Revokes the account's tokens.
#[utoipa::path(
    put, path = "/api/v1/users/{id}/password", tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Staff member id")),
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password replaced"),
        (status = 401),
        (status = 403),
        (status = 404),
        (status = 422, description = "Invalid request, or a password that is too easy to guess"),
        (status = 503, description = "Every password hasher is busy; retry after `Retry-After` seconds",
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn reset_password(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    id: web::Path<i64>,
    body: Body<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageStaff)?;
    let id = id.into_inner();
    let plain = body.into_inner().new_password;
    let user = state
        .db
        .read(move |conn| store::get_in_shop(conn, caller.shop_id, id))
        .await?;
    let hash = state
        .passwords
        .hash_new("new_password", plain, &user.email, &user.display_name)
        .await?;
    let actor = caller.subject();
    state
        .db
        .write(move |conn| {
            let user = store::get_in_shop(conn, caller.shop_id, id)?;
            store::set_password(conn, &user, hash)?;
            audit_store::record_now(
                conn,
                caller.shop_id,
                &actor,
                AuditAction::PasswordReset,
                serde_json::json!({"user": format!("user:{id}")}),
                address.as_deref(),
            )
        })
        .await?;
    tracing::info!(user_id = id, by = caller.user_id, "staff password reset");
    Ok(HttpResponse::NoContent().finish())
}
