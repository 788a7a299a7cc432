//! `/api/v1/auth`: log in, who am I, change my password. HTTP only: an attempt at a
//! password is reserved by [`super::operations`] (throttling decided by
//! [`super::throttle`]), checked by the process's bounded hashers, and settled in
//! [`super::store`].

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::authenticate::ClientAddress;
use super::throttle::LoginAttempt;
use super::{Caller, operations, store};
use crate::audit::{AuditAction, store as audit_store};
use crate::error::ApiError;
use crate::extract::Body;
use crate::extract::NoQuery;
use crate::ids::ShopId;
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
    #[schema(min_length = 1, max_length = 254)]
    pub email: String,
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
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
    #[schema(min_length = 1, max_length = 256)]
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

/// The attempt a request makes at `account`: from its client address (the TCP peer, or
/// behind a proxy named in `TRUSTED_PROXIES` the client that proxy names). A header the
/// client writes itself is never believed: it could lift its own limit.
fn attempt_from(address: &ClientAddress, account: &str) -> LoginAttempt {
    LoginAttempt {
        account: account.to_owned(),
        address: address.as_deref().unwrap_or("unknown").to_owned(),
    }
}

/// Checks `password` for a reserved attempt and settles the reservation by the verdict: a
/// match clears the failures of the account from this address (the reservation with them),
/// a mismatch leaves the reservation standing as a failure, and a check that never ran (no
/// hasher free in time) takes the reservation back, since no guess was made. `stored` is
/// `None` for an unknown or inactive account: checked against nothing at the same cost.
async fn settle_attempt(
    state: &AppState,
    attempt: LoginAttempt,
    reservation: i64,
    password: String,
    stored: Option<String>,
) -> Result<bool, ApiError> {
    match state.passwords.verify(password, stored).await {
        Ok(true) => {
            state
                .db
                .write(move |conn| store::clear_pair(conn, &attempt))
                .await?;
            Ok(true)
        }
        Ok(false) => Ok(false),
        Err(error) => {
            state
                .db
                .write(move |conn| store::delete_attempt(conn, reservation))
                .await?;
            Err(error)
        }
    }
}

/// Log in with email and password.
///
/// Answers the same 401 problem, in about the same time, for an unknown email, a wrong
/// password and a deactivated account. Failed attempts are throttled (429 with
/// `Retry-After`, even for the right password): after a few failures at one account from
/// one address, each further attempt waits longer (doubling, capped); an account, and an
/// address, with too many failures within a window are refused until it has room. Each
/// attempt is counted before its password is checked, so simultaneous guesses are counted
/// too. 503 with `Retry-After` when every password hasher stays busy too long.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong email or password"),
        (status = 422, description = "Invalid request"),
        (status = 429, description = "Too many failed logins; retry after `Retry-After` seconds",
            headers(("Retry-After" = u64, description = "Seconds until a login may be tried again"))),
        (status = 503, description = "Every password hasher is busy; retry after `Retry-After` seconds",
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    address: ClientAddress,
    body: Body<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.into_inner();
    let attempt = attempt_from(&address, &normalize_email(&email));
    let policy = state.settings.login_throttle;
    let now = Utc::now().naive_utc();
    let reserving = attempt.clone();
    let (reservation, user) = state
        .db
        .write(move |conn| {
            let reservation = operations::reserve_attempt(conn, &policy, &reserving, now)?;
            Ok((
                reservation,
                user_store::find_by_email(conn, &reserving.account)?,
            ))
        })
        .await?;
    let stored = user
        .as_ref()
        .filter(|user| user.active)
        .map(|user| user.password_hash.clone());
    let matched = settle_attempt(&state, attempt, reservation, password, stored).await?;
    // Every checked password is on the record (attempts refused by throttling are not: they
    // are unbounded, and counted in the metrics instead). A failure names the account by id
    // when there is one, never by the email typed; without an account it lands in the
    // default shop, the only one a login can reach without one.
    let (shop_id, actor, action, details) = match (&user, matched) {
        (Some(user), true) => (
            user.shop_id,
            format!("user:{}", user.id),
            AuditAction::Login,
            serde_json::json!({}),
        ),
        (Some(user), false) => (
            user.shop_id,
            "anonymous".to_owned(),
            AuditAction::LoginFailed,
            serde_json::json!({"account": format!("user:{}", user.id),
                "reason": if user.active { "wrong password" } else { "inactive account" }}),
        ),
        (None, _) => (
            ShopId(1),
            "anonymous".to_owned(),
            AuditAction::LoginFailed,
            serde_json::json!({"account": null, "reason": "unknown account"}),
        ),
    };
    let recorded_from = address.0.clone();
    state
        .db
        .write(move |conn| {
            audit_store::record_now(
                conn,
                shop_id,
                &actor,
                action,
                details,
                recorded_from.as_deref(),
            )
        })
        .await?;
    let Some(user) = user.filter(|_| matched) else {
        return Err(ApiError::InvalidCredentials);
    };
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
///
/// The current password is checked as a login attempt at the account from the caller's
/// address, and throttled the same way (429); once it is right, the new one must be hard
/// to guess (422 naming `new_password`).
#[utoipa::path(
    post, path = "/api/v1/auth/password", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Password changed; use the new token", body = TokenResponse),
        (status = 401, description = "Not logged in, or the current password is wrong"),
        (status = 422, description = "Invalid request, or a new password that is too easy to guess"),
        (status = 429, description = "Too many failed attempts; retry after `Retry-After` seconds",
            headers(("Retry-After" = u64, description = "Seconds until the password may be tried again"))),
        (status = 503, description = "Every password hasher is busy; retry after `Retry-After` seconds",
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    address: ClientAddress,
    caller: Caller,
    body: Body<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ChangePasswordRequest {
        current_password,
        new_password,
    } = body.into_inner();
    let user = state
        .db
        .read(move |conn| user_store::get_in_shop(conn, caller.shop_id, caller.user_id))
        .await?;
    let attempt = attempt_from(&address, &user.email);
    let policy = state.settings.login_throttle;
    let now = Utc::now().naive_utc();
    let reserving = attempt.clone();
    let reservation = state
        .db
        .write(move |conn| operations::reserve_attempt(conn, &policy, &reserving, now))
        .await?;
    let stored = Some(user.password_hash.clone());
    if !settle_attempt(&state, attempt, reservation, current_password, stored).await? {
        return Err(ApiError::InvalidCredentials);
    }
    // Only now, so that a wrong current password is the answer whatever the new one: the
    // policy's 422 tells nothing to someone who does not know the current password.
    let new_hash = state
        .passwords
        .hash_new(
            "new_password",
            new_password,
            &user.email,
            &user.display_name,
        )
        .await?;
    let user = state
        .db
        .write(move |conn| {
            let user = user_store::set_password(conn, &user, new_hash)?;
            audit_store::record_now(
                conn,
                user.shop_id,
                &caller.subject(),
                AuditAction::PasswordChanged,
                serde_json::json!({}),
                address.as_deref(),
            )?;
            Ok(user)
        })
        .await?;
    let mut response = HttpResponse::Ok().json(token_response(&state, &user)?);
    // A fresh access token: never stored for idempotent replays.
    response.extensions_mut().insert(SecretResponse);
    Ok(response)
}
