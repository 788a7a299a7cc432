//! Staff accounts: agents, leads and admins who log in.

pub mod queries;
pub mod routes;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::roles::Role;
use crate::error::{ApiError, ProblemKind};

/// A row of `users`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::users)]
pub struct User {
    pub id: i64,
    pub shop_id: i64,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub active: bool,
    pub password_hash: String,
    pub token_generation: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl User {
    pub fn role(&self) -> Result<Role, ApiError> {
        Role::parse(&self.role).ok_or_else(|| {
            ApiError::Internal(format!("user {} has unknown role {:?}", self.id, self.role))
        })
    }

    pub fn view(&self) -> Result<UserView, ApiError> {
        Ok(UserView {
            id: self.id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            role: self.role()?,
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
    pub display_name: String,
    pub role: Role,
    /// At least 10 characters.
    #[validate(custom(function = "crate::users::check_password"))]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "lead"}))]
pub struct UpdateUserRequest {
    #[validate(length(min = 1, max = 100))]
    pub display_name: Option<String>,
    pub role: Option<Role>,
    /// `false` deactivates the account: its tokens stop working at once.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"new_password": "another long passphrase"}))]
pub struct ResetPasswordRequest {
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
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub fn check_password(password: &str) -> Result<(), validator::ValidationError> {
    match crate::auth::password::policy_violation(password) {
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

/// Creates a staff account (email normalised, password hashed by the caller).
pub fn create(
    conn: &mut crate::db::DbConnection,
    shop_id: i64,
    request: &CreateUserRequest,
    password_hash: &str,
) -> Result<User, ApiError> {
    let now = Utc::now().naive_utc();
    let email = normalize_email(&request.email);
    queries::insert(
        conn,
        &queries::NewUser {
            shop_id,
            email: &email,
            display_name: request.display_name.trim(),
            role: request.role.as_str(),
            active: true,
            password_hash,
            created_at: now,
            updated_at: now,
        },
    )
}

/// Replaces the password and revokes every token issued under the old one.
pub fn set_password(
    conn: &mut crate::db::DbConnection,
    user: &User,
    password_hash: String,
) -> Result<User, ApiError> {
    queries::update(
        conn,
        user.id,
        &queries::UserChanges {
            password_hash: Some(password_hash),
            token_generation: Some(user.token_generation + 1),
            updated_at: Some(Utc::now().naive_utc()),
            ..Default::default()
        },
    )
}

/// Applies an admin's change to a staff account, keeping at least one active admin.
pub fn apply_update(
    conn: &mut crate::db::DbConnection,
    shop_id: i64,
    id: i64,
    request: &UpdateUserRequest,
) -> Result<User, ApiError> {
    let user = queries::get_in_shop(conn, shop_id, id)?;
    let before = (user.role()?, user.active);
    let after = (
        request.role.unwrap_or(before.0),
        request.active.unwrap_or(before.1),
    );
    if removes_active_admin(before, after) && queries::count_active_admins(conn, shop_id)? <= 1 {
        return Err(ApiError::conflict(
            ProblemKind::LastAdmin,
            "this is the shop's last active admin; make another admin first",
        ));
    }
    let deactivated = before.1 && !after.1;
    queries::update(
        conn,
        id,
        &queries::UserChanges {
            display_name: request.display_name.as_ref().map(|n| n.trim().to_owned()),
            role: request.role.map(|r| r.as_str().to_owned()),
            active: request.active,
            // Deactivation revokes tokens for good: reactivating must not revive them.
            token_generation: deactivated.then_some(user.token_generation + 1),
            updated_at: Some(Utc::now().naive_utc()),
            ..Default::default()
        },
    )
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
