//! Authentication: login, access tokens, the authenticated [`Caller`] and role checks.

pub mod password;
pub mod roles;
pub mod routes;
pub mod throttle;
pub mod token;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use futures_util::future::LocalBoxFuture;

use crate::app::AppState;
use crate::error::ApiError;
use crate::users::queries as user_queries;
use roles::{Permission, Role, allows};

/// The authenticated staff member making a request. Taking it as a handler argument is
/// what makes an endpoint require a token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub shop_id: i64,
    pub role: Role,
}

impl Caller {
    /// 403 unless the caller's role grants `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if allows(self.role, permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "your role ({}) may not {}",
                self.role.as_str(),
                permission.describe()
            )))
        }
    }
}

fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthenticated(
                "an access token is required (Authorization: Bearer ...)".into(),
            )
        })?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("malformed Authorization header".into()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthenticated("malformed Authorization header".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthenticated(
            "the Authorization header must use the Bearer scheme".into(),
        ));
    }
    Ok(token.trim().to_owned())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let claims = state.tokens.verify(&token?)?;
            let user_id = claims
                .user_id()
                .ok_or_else(|| ApiError::Unauthenticated("access token is invalid".into()))?;
            // The account is re-read on every request so that deactivation, role changes
            // and password resets apply at once, not when the token expires.
            let user = state
                .db
                .read(move |conn| user_queries::find_by_id(conn, user_id))
                .await?
                .filter(|u| u.active && u.token_generation == claims.generation)
                .ok_or_else(|| {
                    ApiError::Unauthenticated("access token is no longer valid".into())
                })?;
            Ok(Caller {
                user_id: user.id,
                shop_id: user.shop_id,
                role: user.role()?,
            })
        })
    }
}
