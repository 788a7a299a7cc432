//! Tags: free labels on customers, optionally grouped into dimensions (region, interest...).
//! A tag is one row referenced by id, so renaming it renames it on every customer.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpResponse, web};
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::queries as customer_queries;
use crate::auth::{Caller, roles::Permission};
use crate::db::DbConnection;
use crate::error::{ApiError, Problem};
use crate::extract::Body;
use crate::schema::{customer_tags, customers, tags};
use crate::state::AppState;

pub const MAX_TAG_CHARS: usize = 50;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tags)]
pub struct Tag {
    pub id: i64,
    pub shop_id: i64,
    pub name: String,
    pub tag_group: Option<String>,
    pub created_at: NaiveDateTime,
}

impl Tag {
    pub fn view(&self) -> TagView {
        TagView {
            id: self.id,
            name: self.name.clone(),
            group: self.tag_group.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TagView {
    pub id: i64,
    #[schema(example = "key customer")]
    pub name: String,
    /// The dimension the tag belongs to, such as `region` or `interest`.
    #[schema(example = "segment")]
    pub group: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TagWithCount {
    #[serde(flatten)]
    pub tag: TagView,
    /// Live (not archived) customers carrying the tag.
    pub customer_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagList {
    pub items: Vec<TagWithCount>,
}

/// Names are trimmed, 1 to 50 characters, without commas (lists of tags are comma-separated).
pub fn check_tag_name(name: &str) -> Result<(), String> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_TAG_CHARS {
        return Err(format!("must be 1 to {MAX_TAG_CHARS} characters"));
    }
    if trimmed.contains(',') || trimmed.chars().any(char::is_control) {
        return Err("must not contain commas or control characters".into());
    }
    Ok(())
}

fn validate_tag_name(name: &str) -> Result<(), ValidationError> {
    check_tag_name(name).map_err(|reason| super::message("tag_name", &reason))
}

fn validate_group(group: &str) -> Result<(), ValidationError> {
    validate_tag_name(group)
}

fn validate_tag_names(names: &[String]) -> Result<(), ValidationError> {
    if names.len() > 50 {
        return Err(super::message("tags_many", "at most 50 tags at once"));
    }
    for name in names {
        check_tag_name(name)
            .map_err(|reason| super::message("tag_name", &format!("{name:?} {reason}")))?;
    }
    Ok(())
}

fn validate_customer_ids(ids: &[i64]) -> Result<(), ValidationError> {
    if ids.is_empty() || ids.len() > 1000 {
        return Err(super::message("customer_ids", "name 1 to 1000 customers"));
    }
    Ok(())
}

// ---- queries -------------------------------------------------------------------------

pub fn find_by_name(
    conn: &mut DbConnection,
    shop_id: i64,
    name: &str,
) -> Result<Option<Tag>, ApiError> {
    Ok(tags::table
        .filter(tags::shop_id.eq(shop_id))
        .filter(tags::name.eq(name))
        .select(Tag::as_select())
        .first(conn)
        .optional()?)
}

pub fn get(conn: &mut DbConnection, shop_id: i64, id: i64) -> Result<Tag, ApiError> {
    tags::table
        .filter(tags::shop_id.eq(shop_id))
        .find(id)
        .select(Tag::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("tag"))
}

fn insert(
    conn: &mut DbConnection,
    shop_id: i64,
    name: &str,
    group: Option<&str>,
) -> Result<Tag, ApiError> {
    Ok(diesel::insert_into(tags::table)
        .values((
            tags::shop_id.eq(shop_id),
            tags::name.eq(name),
            tags::tag_group.eq(group),
            tags::created_at.eq(Utc::now().naive_utc()),
        ))
        .returning(tags::all_columns)
        .get_result(conn)?)
}

/// The tags with these names, creating the missing ones (without a group).
pub fn ensure(
    conn: &mut DbConnection,
    shop_id: i64,
    names: &[String],
) -> Result<Vec<Tag>, ApiError> {
    let mut found = Vec::with_capacity(names.len());
    let unique: BTreeSet<&str> = names.iter().map(|n| n.trim()).collect();
    for name in unique {
        let tag = match find_by_name(conn, shop_id, name)? {
            Some(tag) => tag,
            // In a savepoint: a concurrent request may create the same tag first.
            None => match conn.transaction(|c| insert(c, shop_id, name, None)) {
                Ok(tag) => tag,
                Err(ApiError::Conflict { .. }) => find_by_name(conn, shop_id, name)?
                    .ok_or_else(|| ApiError::Internal(format!("tag {name:?} vanished")))?,
                Err(other) => return Err(other),
            },
        };
        found.push(tag);
    }
    Ok(found)
}

/// Puts each tag on each customer; returns how many (customer, tag) pairs were new.
pub fn attach(
    conn: &mut DbConnection,
    tag_ids: &[i64],
    customer_ids: &[i64],
) -> Result<usize, ApiError> {
    let existing: BTreeSet<(i64, i64)> = customer_tags::table
        .filter(customer_tags::customer_id.eq_any(customer_ids))
        .filter(customer_tags::tag_id.eq_any(tag_ids))
        .select((customer_tags::customer_id, customer_tags::tag_id))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let mut added = 0;
    for &customer_id in customer_ids {
        for &tag_id in tag_ids {
            if !existing.contains(&(customer_id, tag_id)) {
                diesel::insert_into(customer_tags::table)
                    .values((
                        customer_tags::customer_id.eq(customer_id),
                        customer_tags::tag_id.eq(tag_id),
                    ))
                    .execute(conn)?;
                added += 1;
            }
        }
    }
    Ok(added)
}

pub fn detach(
    conn: &mut DbConnection,
    tag_ids: &[i64],
    customer_ids: &[i64],
) -> Result<usize, ApiError> {
    Ok(diesel::delete(
        customer_tags::table
            .filter(customer_tags::customer_id.eq_any(customer_ids))
            .filter(customer_tags::tag_id.eq_any(tag_ids)),
    )
    .execute(conn)?)
}

/// Tags of each customer, by customer id, sorted by name.
pub fn of_customers(
    conn: &mut DbConnection,
    customer_ids: &[i64],
) -> Result<BTreeMap<i64, Vec<TagView>>, ApiError> {
    let rows: Vec<(i64, Tag)> = customer_tags::table
        .inner_join(tags::table)
        .filter(customer_tags::customer_id.eq_any(customer_ids))
        .order((customer_tags::customer_id, tags::name))
        .select((customer_tags::customer_id, Tag::as_select()))
        .load(conn)?;
    let mut by_customer: BTreeMap<i64, Vec<TagView>> = BTreeMap::new();
    for (customer_id, tag) in rows {
        by_customer.entry(customer_id).or_default().push(tag.view());
    }
    Ok(by_customer)
}

fn list_with_counts(conn: &mut DbConnection, shop_id: i64) -> Result<Vec<TagWithCount>, ApiError> {
    let all: Vec<Tag> = tags::table
        .filter(tags::shop_id.eq(shop_id))
        .order(tags::name)
        .select(Tag::as_select())
        .load(conn)?;
    let counts: BTreeMap<i64, i64> = customer_tags::table
        .inner_join(customers::table)
        .inner_join(tags::table)
        .filter(tags::shop_id.eq(shop_id))
        .filter(customers::archived_at.is_null())
        .group_by(customer_tags::tag_id)
        .select((customer_tags::tag_id, diesel::dsl::count_star()))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(all
        .into_iter()
        .map(|tag| TagWithCount {
            customer_count: counts.get(&tag.id).copied().unwrap_or(0),
            tag: tag.view(),
        })
        .collect())
}

// ---- routes --------------------------------------------------------------------------

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tags")
            .route(web::get().to(list_tags))
            .route(web::post().to(create_tag)),
    )
    .service(web::resource("/tags/bulk").route(web::post().to(bulk_tag)))
    .service(
        web::resource("/tags/{id}")
            .route(web::patch().to(update_tag))
            .route(web::delete().to(delete_tag)),
    )
    .service(web::resource("/customers/{id}/tags").route(web::post().to(add_customer_tags)))
    .service(
        web::resource("/customers/{id}/tags/{tag_id}").route(web::delete().to(remove_customer_tag)),
    );
}

/// All tags with the number of live customers carrying each.
#[utoipa::path(get, path = "/api/v1/tags", tag = "tags", security(("bearer" = [])),
    responses(
        (status = 200, body = TagList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_tags(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let items = state
        .db
        .read(move |conn| list_with_counts(conn, caller.shop_id))
        .await?;
    Ok(HttpResponse::Ok().json(TagList { items }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Beijing", "group": "region"}))]
pub struct CreateTagRequest {
    #[validate(custom(function = "validate_tag_name"))]
    pub name: String,
    #[validate(custom(function = "validate_group"))]
    pub group: Option<String>,
}

/// Create a tag, optionally in a group.
#[utoipa::path(post, path = "/api/v1/tags", tag = "tags", security(("bearer" = [])),
    request_body = CreateTagRequest,
    responses(
        (status = 201, body = TagView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A tag with that name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_tag(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<CreateTagRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let request = body.into_inner();
    let tag = state
        .db
        .write(move |conn| {
            insert(
                conn,
                caller.shop_id,
                request.name.trim(),
                request.group.as_deref().map(str::trim),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(tag.view()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "VIP", "group": "segment"}))]
pub struct UpdateTagRequest {
    #[validate(custom(function = "validate_tag_name"))]
    pub name: Option<String>,
    /// `null` removes the tag from its group.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    #[validate(custom(function = "validate_group"))]
    pub group: Option<Option<String>>,
}

/// Rename a tag (everywhere it is used) or move it to another group (leads and admins).
#[utoipa::path(patch, path = "/api/v1/tags/{id}", tag = "tags", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Tag id")),
    request_body = UpdateTagRequest,
    responses(
        (status = 200, body = TagView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another tag has that name", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_tag(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<UpdateTagRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTags)?;
    let id = id.into_inner();
    let request = body.into_inner();
    if request.name.is_none() && request.group.is_none() {
        return Err(ApiError::field("body", "name at least one of name, group"));
    }
    let tag = state
        .db
        .write(move |conn| {
            let tag = get(conn, caller.shop_id, id)?;
            let name = request
                .name
                .as_deref()
                .map(str::trim)
                .unwrap_or(&tag.name)
                .to_owned();
            let group = match request.group {
                Some(group) => group.map(|g| g.trim().to_owned()),
                None => tag.tag_group.clone(),
            };
            Ok(diesel::update(tags::table.find(tag.id))
                .set((tags::name.eq(name), tags::tag_group.eq(group)))
                .returning(tags::all_columns)
                .get_result::<Tag>(conn)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(tag.view()))
}

/// Delete a tag and take it off every customer (leads and admins).
#[utoipa::path(delete, path = "/api/v1/tags/{id}", tag = "tags", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Tag id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_tag(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTags)?;
    let id = id.into_inner();
    state
        .db
        .write(move |conn| {
            let tag = get(conn, caller.shop_id, id)?;
            diesel::delete(customer_tags::table.filter(customer_tags::tag_id.eq(tag.id)))
                .execute(conn)?;
            diesel::delete(tags::table.find(tag.id)).execute(conn)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_ids": [12, 13, 20], "add": ["spring campaign"], "remove": ["new buyer"]}))]
pub struct BulkTagRequest {
    /// 1 to 1000 customers of the shop.
    #[validate(custom(function = "validate_customer_ids"))]
    pub customer_ids: Vec<i64>,
    /// Tag names to put on every listed customer (created if unknown).
    #[serde(default)]
    #[validate(custom(function = "validate_tag_names"))]
    pub add: Vec<String>,
    /// Tag names to take off every listed customer.
    #[serde(default)]
    #[validate(custom(function = "validate_tag_names"))]
    pub remove: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkTagResult {
    pub customers: usize,
    /// (customer, tag) pairs that were added.
    pub added: usize,
    /// (customer, tag) pairs that were removed.
    pub removed: usize,
}

/// Add and remove tags on many customers at once (leads and admins). All or nothing:
/// an unknown customer id refuses the whole request.
#[utoipa::path(post, path = "/api/v1/tags/bulk", tag = "tags", security(("bearer" = [])),
    request_body = BulkTagRequest,
    responses(
        (status = 200, body = BulkTagResult),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad input or unknown customers", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn bulk_tag(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<BulkTagRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTags)?;
    let request = body.into_inner();
    if request.add.is_empty() && request.remove.is_empty() {
        return Err(ApiError::field("body", "name tags to add or remove"));
    }
    let result = state
        .db
        .write(move |conn| {
            let ids: Vec<i64> = request
                .customer_ids
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let live: BTreeSet<i64> = customer_queries::live_ids(conn, caller.shop_id, &ids)?
                .into_iter()
                .collect();
            let unknown: Vec<String> = ids
                .iter()
                .filter(|id| !live.contains(id))
                .map(|id| id.to_string())
                .collect();
            if !unknown.is_empty() {
                return Err(ApiError::field(
                    "customer_ids",
                    format!("unknown or archived customers: {}", unknown.join(", ")),
                ));
            }
            let to_add: Vec<i64> = ensure(conn, caller.shop_id, &request.add)?
                .iter()
                .map(|t| t.id)
                .collect();
            let added = attach(conn, &to_add, &ids)?;
            let mut to_remove = Vec::new();
            for name in &request.remove {
                if let Some(tag) = find_by_name(conn, caller.shop_id, name.trim())? {
                    to_remove.push(tag.id);
                }
            }
            let removed = detach(conn, &to_remove, &ids)?;
            customer_queries::touch(conn, &ids)?;
            Ok(BulkTagResult {
                customers: ids.len(),
                added,
                removed,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tags": ["key customer", "interested in product A"]}))]
pub struct AddTagsRequest {
    #[validate(custom(function = "validate_tag_names"))]
    pub tags: Vec<String>,
}

/// Put tags on one customer (unknown tags are created). Returns the customer's tags.
#[utoipa::path(post, path = "/api/v1/customers/{id}/tags", tag = "tags", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    request_body = AddTagsRequest,
    responses(
        (status = 200, body = Vec<TagView>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Customer archived", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_customer_tags(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<AddTagsRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let id = id.into_inner();
    let request = body.into_inner();
    let tags = state
        .db
        .write(move |conn| {
            let customer = customer_queries::get(conn, caller.shop_id, id)?;
            customer.ensure_live()?;
            let tag_ids: Vec<i64> = ensure(conn, caller.shop_id, &request.tags)?
                .iter()
                .map(|t| t.id)
                .collect();
            attach(conn, &tag_ids, &[id])?;
            customer_queries::touch(conn, &[id])?;
            Ok(of_customers(conn, &[id])?.remove(&id).unwrap_or_default())
        })
        .await?;
    Ok(HttpResponse::Ok().json(tags))
}

/// Take one tag off one customer.
#[utoipa::path(delete, path = "/api/v1/customers/{id}/tags/{tag_id}", tag = "tags", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id"), ("tag_id" = i64, Path, description = "Tag id")),
    responses(
        (status = 204, description = "Removed (or was not there)"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_customer_tag(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let (id, tag_id) = path.into_inner();
    state
        .db
        .write(move |conn| {
            let customer = customer_queries::get(conn, caller.shop_id, id)?;
            customer.ensure_live()?;
            let tag = get(conn, caller.shop_id, tag_id)?;
            if detach(conn, &[tag.id], &[id])? > 0 {
                customer_queries::touch(conn, &[id])?;
            }
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_are_bounded_and_comma_free() {
        assert!(check_tag_name("key customer").is_ok());
        assert!(check_tag_name("北京").is_ok());
        assert!(check_tag_name("  ").is_err());
        assert!(check_tag_name("a,b").is_err());
        assert!(check_tag_name(&"x".repeat(51)).is_err());
    }
}
