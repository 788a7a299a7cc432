//! Staff accounts: agents, leads and admins who log in.
//!
//! This file holds the account's types and rules; every query, and the changes built on
//! them (create, set a password, an admin's update), is in [`store`].

pub mod operations;
pub mod routes;
pub mod store;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::password;
use crate::auth::roles::Role;
use crate::error::ApiError;
use crate::ids::ShopId;

/// A row of `users`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::users)]
pub struct User {
    pub id: i64,
    pub shop_id: ShopId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    pub password_hash: String,
    pub token_generation: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl User {
    pub fn view(&self) -> Result<UserView, ApiError> {
        Ok(UserView {
            id: self.id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            active: self.active,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        })
    }
}

/// A staff member as the API shows them (never with the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Inactive staff cannot log in and their tokens are refused.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::pagination::named_page!(UserPage, UserView);

/// An active colleague, as every staff member may see them: to assign a ticket, to read
/// who did what on a timeline (no email, nothing an admin alone manages).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffMember {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

/// Emails compare case-insensitively; they are stored lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "li.na@shop.example", "display_name": "李娜", "role": "agent", "password": "a long passphrase"}))]
pub struct CreateUserRequest {
    #[validate(email, length(max = 254))]
    pub email: String,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: String,
    pub role: Role,
    /// At least 10 characters, and hard to guess: common passwords, repeats, sequences and
    /// words of the email or name are refused (422 naming `password`).
    #[validate(custom(function = "crate::users::check_password"))]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({"role": "lead"}))]
pub struct UpdateUserRequest {
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: Option<String>,
    pub role: Option<Role>,
    /// `false` deactivates the account: its tokens stop working at once.
    pub active: Option<bool>,
    /// Where the staff member's open tickets go: required with `"active": false` when they
    /// hold any (422 naming `open_tickets` and the count otherwise), and accepted only
    /// with it. Moved in the same transaction as the deactivation, each ticket with its own
    /// `assigned` timeline entry.
    #[schema(value_type = Option<crate::tickets::bulk::OpenTicketsHandover>)]
    pub open_tickets: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"new_password": "another long passphrase"}))]
pub struct ResetPasswordRequest {
    /// At least 10 characters, and hard to guess (as for a new account).
    #[validate(custom(function = "crate::users::check_password"))]
    pub new_password: String,
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    pub role: Option<Role>,
    pub active: Option<bool>,
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The password rules a request's field can be checked by alone (length, not blank); the
/// strength check needs the account's words and runs where the password is hashed
/// (`PasswordHashing::hash_new`).
pub fn check_password(password: &str) -> Result<(), validator::ValidationError> {
    match password::shape_violation(password) {
        None => Ok(()),
        Some(reason) => {
            let mut error = validator::ValidationError::new("password_policy");
            error.message = Some(reason.into());
            Err(error)
        }
    }
}

/// Whether a change takes away an active admin: the shop must always keep one.
pub fn removes_active_admin(before: (Role, bool), after: (Role, bool)) -> bool {
    let is_active_admin = |(role, active): (Role, bool)| role == Role::Admin && active;
    is_active_admin(before) && !is_active_admin(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demoting_or_deactivating_an_admin_removes_one() {
        assert!(removes_active_admin(
            (Role::Admin, true),
            (Role::Lead, true)
        ));
        assert!(removes_active_admin(
            (Role::Admin, true),
            (Role::Admin, false)
        ));
        assert!(!removes_active_admin(
            (Role::Admin, true),
            (Role::Admin, true)
        ));
        assert!(!removes_active_admin(
            (Role::Admin, false),
            (Role::Agent, false)
        ));
        assert!(!removes_active_admin(
            (Role::Lead, true),
            (Role::Agent, false)
        ));
    }

    #[test]
    fn emails_are_case_and_space_insensitive() {
        assert_eq!(
            normalize_email("  Li.Na@Shop.Example "),
            "li.na@shop.example"
        );
    }
}
