//! Queries on `users`, and the account changes built on them. All take a connection so
//! callers choose the transaction.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{CreateUserRequest, User, normalize_email};
use crate::auth::roles::Role;
use diesel::sql_types::{BigInt, Text};

use crate::db::{Backend, DbConnection, MultiBackend, raw_sql};
use crate::error::{ApiError, ProblemKind};
use crate::ids::ShopId;
use crate::schema::users;

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub shop_id: ShopId,
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub active: bool,
    pub password_hash: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, new: &NewUser<'_>) -> Result<User, ApiError> {
    diesel::insert_into(users::table)
        .values(new)
        .returning(users::all_columns)
        .get_result(conn)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict {
                kind: ProblemKind::Duplicate,
                ..
            } => ApiError::conflict(
                ProblemKind::Duplicate,
                format!("a staff member with email {} already exists", new.email),
            ),
            other => other,
        })
}

pub fn find_by_id(conn: &mut DbConnection, id: i64) -> Result<Option<User>, ApiError> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// The staff member `id` of `shop_id`, or 404: other shops' staff do not exist for the caller.
/// The display names of `ids` (staff shown on tickets and timelines), in one query.
pub fn display_names(
    conn: &mut DbConnection,
    ids: &[i64],
) -> Result<std::collections::BTreeMap<i64, String>, ApiError> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::display_name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect())
}

/// The staff member a person typed in a file: by email (any letter case), or by display
/// name when exactly one staff member of the shop has it. A 422 on `salesperson` otherwise.
pub fn find_by_email_or_name(
    conn: &mut DbConnection,
    shop_id: ShopId,
    typed: &str,
) -> Result<i64, ApiError> {
    let typed = typed.trim();
    let ids: Vec<i64> = if typed.contains('@') {
        users::table
            .filter(users::shop_id.eq(shop_id))
            .filter(users::email.eq(typed.to_lowercase()))
            .select(users::id)
            .load(conn)?
    } else {
        users::table
            .filter(users::shop_id.eq(shop_id))
            .filter(users::display_name.eq(typed))
            .select(users::id)
            .limit(2)
            .load(conn)?
    };
    match ids.as_slice() {
        [id] => Ok(*id),
        [] => Err(ApiError::field(
            "salesperson",
            format!("no staff member with the email or name {typed}"),
        )),
        _ => Err(ApiError::field(
            "salesperson",
            format!("several staff members are named {typed}; give the email instead"),
        )),
    }
}

pub fn get_in_shop(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<User, ApiError> {
    users::table
        .filter(users::shop_id.eq(shop_id))
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("staff member"))
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> Result<Option<User>, ApiError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub struct UserFilter {
    pub shop_id: ShopId,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

fn filtered(filter: &UserFilter) -> users::BoxedQuery<'static, MultiBackend> {
    let mut query = users::table
        .filter(users::shop_id.eq(filter.shop_id))
        .into_boxed();
    if let Some(role) = filter.role {
        query = query.filter(users::role.eq(role));
    }
    if let Some(active) = filter.active {
        query = query.filter(users::active.eq(active));
    }
    query
}

/// Up to `limit` staff after id `after`, in id order, and the total matching the filter.
pub fn list(
    conn: &mut DbConnection,
    filter: &UserFilter,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<User>, ApiError> {
    let mut query = filtered(filter)
        .select(User::as_select())
        .order(users::id.asc());
    if let Some(after) = after {
        query = query.filter(users::id.gt(after));
    }
    Ok(query.limit(limit).load(conn)?)
}

pub fn count(conn: &mut DbConnection, filter: &UserFilter) -> Result<i64, ApiError> {
    Ok(filtered(filter).count().get_result(conn)?)
}

#[derive(QueryableByName)]
struct AdminRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The shop's active admins, locked until the transaction ends, so that a change that
/// counts them and then removes one is a single step: on PostgreSQL a second such change
/// waits here (`FOR UPDATE`) and then counts what the first left; SQLite's write
/// transaction is exclusive already. In id order, so that two lockers never deadlock.
pub fn lock_active_admins(conn: &mut DbConnection, shop_id: ShopId) -> Result<Vec<i64>, ApiError> {
    let backend = conn.backend();
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT id FROM users WHERE shop_id = $1 AND role = $2 AND active ORDER BY id{lock}"
    );
    Ok(diesel::sql_query(raw_sql(backend, &sql))
        .bind::<BigInt, _>(shop_id.0)
        .bind::<Text, _>(Role::Admin)
        .load::<AdminRow>(conn)?
        .into_iter()
        .map(|row| row.id)
        .collect())
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub password_hash: Option<String>,
    pub token_generation: Option<i64>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update(conn: &mut DbConnection, id: i64, changes: &UserChanges) -> Result<User, ApiError> {
    Ok(diesel::update(users::table.find(id))
        .set(changes)
        .returning(users::all_columns)
        .get_result(conn)?)
}

/// Creates a staff account (email normalised, password hashed by the caller).
pub fn create(
    conn: &mut DbConnection,
    shop_id: ShopId,
    request: &CreateUserRequest,
    password_hash: &str,
) -> Result<User, ApiError> {
    let now = Utc::now().naive_utc();
    let email = normalize_email(&request.email);
    insert(
        conn,
        &NewUser {
            shop_id,
            email: &email,
            display_name: request.display_name.trim(),
            role: request.role,
            active: true,
            password_hash,
            created_at: now,
            updated_at: now,
        },
    )
}

/// Replaces the password and revokes every token issued under the old one.
pub fn set_password(
    conn: &mut DbConnection,
    user: &User,
    password_hash: String,
) -> Result<User, ApiError> {
    update(
        conn,
        user.id,
        &UserChanges {
            password_hash: Some(password_hash),
            token_generation: Some(user.token_generation + 1),
            updated_at: Some(Utc::now().naive_utc()),
            ..Default::default()
        },
    )
}

/// The shop's active staff, by name (a shop has tens of staff, not thousands).
pub fn active_staff(
    conn: &mut DbConnection,
    shop_id: ShopId,
) -> Result<Vec<super::StaffMember>, ApiError> {
    let rows: Vec<(i64, String, Role)> = users::table
        .filter(users::shop_id.eq(shop_id))
        .filter(users::active.eq(true))
        .order((users::display_name.asc(), users::id.asc()))
        .select((users::id, users::display_name, users::role))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, role)| super::StaffMember { id, name, role })
        .collect())
}
