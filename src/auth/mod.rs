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
use roles::{Permission, Role, Scope, allows, reading_of, scope_for};

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
    /// `user:<id>`, as [`Principal::subject`] names a staff member.
    pub fn subject(&self) -> String {
        format!("user:{}", self.user_id)
    }

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

/// A buyer holding a survey link (`/s/{token}`): no account and no token; the link itself
/// is what lets them answer that one survey, and nothing else.
#[derive(Debug, Clone)]
pub struct BuyerCaller {
    pub shop_id: ShopId,
    pub survey_id: i64,
}

/// Whoever makes a request: a staff member (access token), an integration (API key), or a
/// buyer answering a survey link. Endpoints open to integrations take this instead of
/// [`Caller`]; no role or scope is granted to a buyer.
#[derive(Debug, Clone)]
pub enum Principal {
    Staff(Caller),
    Integration(KeyCaller),
    Buyer(BuyerCaller),
}

impl Principal {
    pub fn shop_id(&self) -> ShopId {
        match self {
            Principal::Staff(caller) => caller.shop_id,
            Principal::Integration(key) => key.shop_id,
            Principal::Buyer(buyer) => buyer.shop_id,
        }
    }

    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        match self {
            Principal::Staff(caller) => caller.require(permission),
            Principal::Integration(key) => key.require(permission),
            Principal::Buyer(_) => Err(ApiError::Forbidden(format!(
                "a survey link may not {}",
                permission.describe()
            ))),
        }
    }

    /// Whether the role or the key's scopes grant `permission` (for choosing what to show;
    /// `require` refuses).
    pub fn may(&self, permission: Permission) -> bool {
        match self {
            Principal::Staff(caller) => allows(caller.role, permission),
            Principal::Integration(key) => {
                scope_for(permission).is_some_and(|scope| key.scopes.contains(&scope))
            }
            Principal::Buyer(_) => false,
        }
    }

    /// Whether the answer to a `write` may carry the record written: only when the caller
    /// may also read it. Otherwise it gets a receipt (id and outcome), so a write-only key
    /// cannot walk ids to read what its scopes do not let it read.
    pub fn sees_what_it_writes(&self, write: Permission) -> bool {
        self.may(reading_of(write))
    }

    pub fn staff(&self) -> Option<&Caller> {
        match self {
            Principal::Staff(caller) => Some(caller),
            Principal::Integration(_) | Principal::Buyer(_) => None,
        }
    }

    /// The staff member, or 403 for work only people do.
    pub fn require_staff(&self, what: &str) -> Result<&Caller, ApiError> {
        match self {
            Principal::Staff(caller) => Ok(caller),
            Principal::Integration(_) => Err(ApiError::Forbidden(format!(
                "API keys may not {what}; a staff member must"
            ))),
            Principal::Buyer(_) => Err(ApiError::Forbidden(format!(
                "a survey link may not {what}; a staff member must"
            ))),
        }
    }

    pub fn staff_id(&self) -> Option<i64> {
        self.staff().map(|c| c.user_id)
    }

    /// Who the request is from, as stored with idempotency keys and in the audit log:
    /// `user:<id>` or `api_key:<id>`.
    pub fn subject(&self) -> String {
        match self {
            Principal::Staff(caller) => caller.subject(),
            Principal::Integration(key) => format!("api_key:{}", key.key_id),
            Principal::Buyer(buyer) => format!("survey:{}", buyer.survey_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scopes: &[Scope]) -> Principal {
        Principal::Integration(KeyCaller {
            key_id: 1,
            shop_id: ShopId(1),
            name: "feed".into(),
            scopes: scopes.to_vec(),
        })
    }

    /// Every set of scopes against every write a key can make: the record comes back only
    /// with the matching read scope.
    #[test]
    fn keys_see_what_they_write_only_with_the_read_scope() {
        let writes = [
            (Permission::EditCustomers, Scope::CustomersRead),
            (Permission::RecordOrders, Scope::CustomersRead),
            (Permission::OpenTickets, Scope::TicketsRead),
        ];
        for bits in 0..(1u32 << Scope::ALL.len()) {
            let scopes: Vec<Scope> = Scope::ALL
                .into_iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, scope)| scope)
                .collect();
            let caller = key(&scopes);
            for (write, read) in writes {
                assert_eq!(
                    caller.sees_what_it_writes(write),
                    scopes.contains(&read),
                    "{scopes:?} writing {write:?}"
                );
                assert_eq!(caller.may(write), caller.require(write).is_ok());
            }
        }
    }

    #[test]
    fn staff_see_what_they_write() {
        for role in Role::ALL {
            let caller = Principal::Staff(Caller {
                user_id: 1,
                shop_id: ShopId(1),
                role,
            });
            for write in [
                Permission::EditCustomers,
                Permission::RecordOrders,
                Permission::OpenTickets,
            ] {
                assert!(caller.sees_what_it_writes(write), "{role:?} {write:?}");
            }
        }
    }
}
