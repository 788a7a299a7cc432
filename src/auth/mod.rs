//! Authentication: login, access tokens, API keys, the authenticated [`Principal`] (staff
//! member or integration) and permission checks.

pub mod api_keys;
pub mod authenticate;
pub mod operations;
pub mod password;
pub mod roles;
pub mod routes;
pub mod store;
pub mod throttle;
pub mod token;

use crate::error::ApiError;
use crate::ids::ShopId;
use roles::{Permission, Role, Scope, allows, scope_for};

/// The header integrations send their API key in (`Authorization: Bearer ak_...` works too).
pub const API_KEY_HEADER: &str = "x-api-key";

/// The authenticated staff member making a request. Taking it as a handler argument is
/// what makes an endpoint require a staff token (API keys get 403 there).
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub shop_id: ShopId,
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
    pub shop_id: ShopId,
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
    pub fn shop_id(&self) -> ShopId {
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
