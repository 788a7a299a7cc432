//! `/api/v1/auth`: log in, who am I, change my password. HTTP only: login throttling
//! is decided by [`super::throttle`] over what [`super::store`] reads.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::{Caller, password, store, throttle};
use crate::error::ApiError;
use crate::extract::Body;
use crate::extract::NoQuery;
use crate::response::SecretResponse;
use crate::state::AppState;
use crate::users::{User, UserView, normalize_email, store as user_store};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/login").route(web::post().to(login)))
        .service(web::resource("/auth/me").route(web::get().to(me)))
        .service(web::resource("/auth/password").route(web::post().to(change_password)));
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "admin@shop.example", "password": "a long passphrase"}))]
pub struct LoginRequest {
    #[validate(length(min = 1, max = 254))]
    pub email: String,
    #[validate(length(min = 1, max = 256))]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub expires_at: DateTime<Utc>,
    pub user: UserView,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "a long passphrase", "new_password": "an even longer passphrase"}))]
pub struct ChangePasswordRequest {
    #[validate(length(min = 1, max = 256))]
    pub current_password: String,
    #[validate(custom(function = "crate::users::check_password"))]
    pub new_password: String,
}

fn token_response(state: &AppState, user: &User) -> Result<TokenResponse, ApiError> {
    let (access_token, expires_at) = state.tokens.issue(
        user.id,
        user.shop_id,
        user.role,
        user.token_generation,
        Utc::now(),
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.ttl().as_secs(),
        expires_at,
        user: user.view()?,
    })
}

/// Checks a password on the blocking pool (argon2 is deliberately slow). An unknown or
/// inactive account is checked against a decoy hash, so every failure costs the same.
async fn password_matches(user: Option<User>, password: String) -> Result<Option<User>, ApiError> {
    Ok(web::block(move || match user {
        Some(user) if user.active => {
            password::verify(&password, &user.password_hash).then_some(user)
        }
        _ => {
            password::verify_decoy(&password);
            None
        }
    })
    .await?)
}

/// Log in with email and password.
///
/// Answers the same 401 problem, in about the same time, for an unknown email, a wrong
/// password and a deactivated account. After too many failures for one account or from
/// one address within a window, logins are refused with 429 and `Retry-After`.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong email or password"),
        (status = 422, description = "Invalid request"),
        (status = 429, description = "Too many failed logins; retry after `Retry-After` seconds",
            headers(("Retry-After" = u64, description = "Seconds until a login may be tried again"))),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.into_inner();
    let email = normalize_email(&email);
    let account = throttle::account_subject(&email);
    // The peer address, not X-Forwarded-For: a header the client writes cannot lift its limit.
    let address = throttle::address_subject(
        &req.peer_addr()
            .map_or("unknown".into(), |a| a.ip().to_string()),
    );
    let policy = state.settings.login_throttle;
    let (subjects, now) = ((account.clone(), address.clone()), Utc::now().naive_utc());
    let user = state
        .db
        .read(move |conn| {
            let since = now - policy.window();
            let account_failures = store::recent_login_failures(conn, &subjects.0, since)?;
            let address_failures = store::recent_login_failures(conn, &subjects.1, since)?;
            throttle::check(&policy, &account_failures, &address_failures, now)?;
            user_store::find_by_email(conn, &email)
        })
        .await?;
    let Some(user) = password_matches(user, password).await? else {
        state
            .db
            .write(move |conn| {
                store::record_login_failure(conn, &account, &address, now - policy.window(), now)
            })
            .await?;
        return Err(ApiError::InvalidCredentials);
    };
    state
        .db
        .write(move |conn| store::clear_login_failures(conn, &account))
        .await?;
    tracing::info!(user_id = user.id, "staff member logged in");
    Ok(HttpResponse::Ok().json(token_response(&state, &user)?))
}

/// The staff member the token belongs to.
#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserView),
        (status = 401),
    )
)]
pub async fn me(
    state: web::Data<AppState>,
    caller: Caller,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .db
        .read(move |conn| user_store::get_in_shop(conn, caller.shop_id, caller.user_id))
        .await?;
    Ok(HttpResponse::Ok().json(user.view()?))
}

/// Change one's own password. Every token issued before is revoked; the response carries a new one.
#[utoipa::path(
    post, path = "/api/v1/auth/password", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Password changed; use the new token", body = TokenResponse),
        (status = 401, description = "Not logged in, or the current password is wrong"),
        (status = 422),
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ChangePasswordRequest {
        current_password,
        new_password,
    } = body.into_inner();
    let user = state
        .db
        .read(move |conn| user_store::find_by_id(conn, caller.user_id))
        .await?;
    let user = password_matches(user, current_password)
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    let new_hash = web::block(move || password::hash(&new_password)).await??;
    let user = state
        .db
        .write(move |conn| user_store::set_password(conn, &user, new_hash))
        .await?;
    let mut response = HttpResponse::Ok().json(token_response(&state, &user)?);
    // A fresh access token: never stored for idempotent replays.
    response.extensions_mut().insert(SecretResponse);
    Ok(response)
}
