//! Authentication: login, access tokens, API keys, the authenticated [`Principal`] (staff
//! member or integration) and permission checks.

pub mod api_keys;
pub mod password;
pub mod roles;
pub mod routes;
pub mod store;
pub mod throttle;
pub mod token;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, http::header, web};
use chrono::Utc;
use futures_util::future::LocalBoxFuture;

use crate::error::ApiError;
use crate::state::AppState;
use crate::users::store as user_store;
use roles::{Permission, Role, Scope, allows, scope_for};

/// The header integrations send their API key in (`Authorization: Bearer ak_...` works too).
pub const API_KEY_HEADER: &str = "x-api-key";

/// The authenticated staff member making a request. Taking it as a handler argument is
/// what makes an endpoint require a staff token (API keys get 403 there).
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

/// An integration authenticated by an API key.
#[derive(Debug, Clone)]
pub struct KeyCaller {
    pub key_id: i64,
    pub shop_id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl KeyCaller {
    /// 403 unless the key holds the scope `permission` needs (some need a person).
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        match scope_for(permission) {
            Some(scope) if self.scopes.contains(&scope) => Ok(()),
            Some(scope) => Err(ApiError::Forbidden(format!(
                "this API key lacks the {} scope, needed to {}",
                scope.as_str(),
                permission.describe()
            ))),
            None => Err(ApiError::Forbidden(format!(
                "API keys may not {}; a staff member must",
                permission.describe()
            ))),
        }
    }
}

/// Whoever makes a request: a staff member (access token) or an integration (API key).
/// Endpoints open to integrations take this instead of [`Caller`].
#[derive(Debug, Clone)]
pub enum Principal {
    Staff(Caller),
    Integration(KeyCaller),
}

impl Principal {
    pub fn shop_id(&self) -> i64 {
        match self {
            Principal::Staff(caller) => caller.shop_id,
            Principal::Integration(key) => key.shop_id,
        }
    }

    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        match self {
            Principal::Staff(caller) => caller.require(permission),
            Principal::Integration(key) => key.require(permission),
        }
    }

    pub fn staff(&self) -> Option<&Caller> {
        match self {
            Principal::Staff(caller) => Some(caller),
            Principal::Integration(_) => None,
        }
    }

    /// The staff member, or 403 for work only people do.
    pub fn require_staff(&self, what: &str) -> Result<&Caller, ApiError> {
        self.staff().ok_or_else(|| {
            ApiError::Forbidden(format!("API keys may not {what}; a staff member must"))
        })
    }

    pub fn staff_id(&self) -> Option<i64> {
        self.staff().map(|c| c.user_id)
    }

    /// Who the request is from, as stored with idempotency keys: `user:<id>` or `api_key:<id>`.
    pub fn subject(&self) -> String {
        match self {
            Principal::Staff(caller) => format!("user:{}", caller.user_id),
            Principal::Integration(key) => format!("api_key:{}", key.key_id),
        }
    }
}

/// The credential a request carries.
enum Credential {
    AccessToken(String),
    ApiKey(String),
}

fn credential(req: &HttpRequest) -> Result<Credential, ApiError> {
    let malformed = || ApiError::Unauthenticated("malformed Authorization header".into());
    if let Some(key) = req.headers().get(API_KEY_HEADER) {
        let key = key.to_str().map_err(|_| invalid_key_header())?.trim();
        return Ok(Credential::ApiKey(key.to_owned()));
    }
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthenticated(
                "an access token (Authorization: Bearer ...) or an API key (X-API-Key) is required"
                    .into(),
            )
        })?
        .to_str()
        .map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::Unauthenticated(
            "the Authorization header must use the Bearer scheme".into(),
        ));
    }
    Ok(if api_keys::looks_like_key(token) {
        Credential::ApiKey(token.to_owned())
    } else {
        Credential::AccessToken(token.to_owned())
    })
}

fn invalid_key_header() -> ApiError {
    ApiError::Unauthenticated("malformed X-API-Key header".into())
}

/// Checks the request's credential against the database. The result is kept in the
/// request's extensions, so middleware that needs it (idempotency) and the handler's
/// extractor authenticate once between them.
pub async fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    if let Some(principal) = req.extensions().get::<Principal>() {
        return Ok(principal.clone());
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let principal = match credential(req)? {
        Credential::ApiKey(key) => {
            let now = Utc::now().naive_utc();
            let (caller, stale) = state
                .db
                .read(move |conn| api_keys::store::authenticate(conn, &key, now))
                .await?;
            if stale {
                let key_id = caller.key_id;
                // Best effort: a lost stamp must not fail the request it describes.
                if let Err(error) = state
                    .db
                    .write(move |conn| api_keys::store::touch(conn, key_id, now))
                    .await
                {
                    tracing::warn!(%error, key_id, "could not record an API key's last use");
                }
            }
            Principal::Integration(caller)
        }
        Credential::AccessToken(token) => {
            let claims = state.tokens.verify(&token)?;
            let user_id = claims
                .user_id()
                .ok_or_else(|| ApiError::Unauthenticated("access token is invalid".into()))?;
            // The account is re-read on every request so that deactivation, role changes
            // and password resets apply at once, not when the token expires.
            let user = state
                .db
                .read(move |conn| user_store::find_by_id(conn, user_id))
                .await?
                .filter(|u| u.active && u.token_generation == claims.generation)
                .ok_or_else(|| {
                    ApiError::Unauthenticated("access token is no longer valid".into())
                })?;
            Principal::Staff(Caller {
                user_id: user.id,
                shop_id: user.shop_id,
                role: user.role()?,
            })
        }
    };
    req.extensions_mut().insert(principal.clone());
    Ok(principal)
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match authenticate(&req).await? {
                Principal::Staff(caller) => Ok(caller),
                Principal::Integration(_) => Err(ApiError::Forbidden(
                    "this endpoint is for staff accounts; API keys may not use it".into(),
                )),
            }
        })
    }
}
