//! `/api/v1/tags`, `/api/v1/tag-groups` and `/api/v1/customers/{id}/tags` over HTTP:
//! parse, check permission, call the store or an operation, respond.

use crate::audit::{AuditAction, store as audit_store};
use crate::auth::authenticate::ClientAddress;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use validator::Validate;

use super::operations::Tagger;
use super::{
    AddTagsRequest, BulkTagRequest, BulkTagResult, CreateTagRequest, SetTagGroupRequest,
    TagGroupList, TagGroupView, TagList, TagView, UpdateTagRequest, check_tag_name, operations,
    store,
};
use crate::auth::{Caller, roles::Permission};
use crate::error::ApiError;
use crate::extract::{Body, Query};
use crate::ids::{CustomerId, TagId};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tags")
            .route(web::get().to(list_tags))
            .route(web::post().to(create_tag)),
    )
    .service(web::resource("/tags/bulk").route(web::post().to(bulk_tag)))
    .service(web::resource("/tag-groups").route(web::get().to(list_groups)))
    .service(web::resource("/tag-groups/{name}").route(web::put().to(set_group)))
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

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTagsQuery {
    /// Only the tags of this group (e.g. `segment`).
    #[validate(length(min = 1, max = 50))]
    #[param(min_length = 1, max_length = 50)]
    pub group: Option<String>,
}

/// All tags (or one group's) with the number of live customers carrying each, and their
/// groups (named groups by name, then the tags in no group) with the number of tags and
/// of live customers carrying any of them, and whether each group is single-choice.
#[utoipa::path(get, path = "/api/v1/tags", tag = "tags", security(("bearer" = [])),
    params(ListTagsQuery),
    responses(
        (status = 200, body = TagList),
        (status = 401),
        (status = 422),
    ))]
pub async fn list_tags(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListTagsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let group = query.into_inner().group.map(|g| g.trim().to_owned());
    let list = state
        .db
        .read(move |conn| {
            let items = store::list_with_counts(conn, caller.shop_id, group.as_deref())?;
            let groups = store::group_counts(conn, caller.shop_id, &items, false)?;
            Ok(TagList { items, groups })
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Create a tag, optionally in a group.
#[utoipa::path(post, path = "/api/v1/tags", tag = "tags", security(("bearer" = [])),
    request_body = CreateTagRequest,
    responses(
        (status = 201, body = TagView),
        (status = 401),
        (status = 409, description = "A tag with that name exists, whatever its ASCII case: `VIP` and `vip` are one tag (`duplicate`)"),
        (status = 422),
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
            store::insert(
                conn,
                caller.shop_id,
                request.name.trim(),
                request.group.as_deref().map(str::trim),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(tag.view()))
}

/// Rename a tag (everywhere it is used) or move it to another group (leads and admins).
/// Names are unique regardless of ASCII case: renaming `vip` to `VIP` is allowed, renaming
/// another tag to `VIP` is a 409.
#[utoipa::path(patch, path = "/api/v1/tags/{id}", tag = "tags", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Tag id")),
    request_body = UpdateTagRequest,
    responses(
        (status = 200, body = TagView),
        (status = 403),
        (status = 404),
        (status = 409, description = "Another tag has that name, whatever its ASCII case (`duplicate`); or the tag would move into a single-choice group whose other tags some of its customers carry (`single-choice`)"),
        (status = 422),
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
        .write(move |conn| operations::update(conn, caller.shop_id, id, &request))
        .await?;
    Ok(HttpResponse::Ok().json(tag.view()))
}

/// Delete a tag and take it off every customer (leads and admins).
#[utoipa::path(delete, path = "/api/v1/tags/{id}", tag = "tags", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Tag id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403),
        (status = 404),
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
            let tag = store::get(conn, caller.shop_id, id)?;
            store::delete(conn, &tag)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add and remove tags on many customers at once (leads and admins). All or nothing:
/// an unknown customer id refuses the whole request, and so do two added tags of one
/// single-choice group (422 on `add`). An added tag of a single-choice group replaces the
/// group's other tag on each customer (`replaced`; each replacement is a `tags.replaced`
/// audit entry).
#[utoipa::path(post, path = "/api/v1/tags/bulk", tag = "tags", security(("bearer" = [])),
    request_body = BulkTagRequest,
    responses(
        (status = 200, body = BulkTagResult),
        (status = 403),
        (status = 422, description = "Bad input, unknown customers, or two added tags of one single-choice group"),
    ))]
pub async fn bulk_tag(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    body: Body<BulkTagRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTags)?;
    let request = body.into_inner();
    if request.add.is_empty() && request.remove.is_empty() {
        return Err(ApiError::field("body", "name tags to add or remove"));
    }
    let actor = caller.subject();
    let result = state
        .db
        .write(move |conn| {
            let by = Tagger {
                actor: &actor,
                address: address.as_deref(),
            };
            let result = operations::bulk(conn, caller.shop_id, &request, by)?;
            audit_store::record(
                conn,
                &crate::audit::NewAuditEntry {
                    shop_id: caller.shop_id,
                    actor: &actor,
                    action: AuditAction::TagsBulk,
                    details: &serde_json::json!({
                        "add": request.add, "remove": request.remove,
                        "added": result.added, "removed": result.removed,
                    }),
                    row_count: i64::try_from(result.customers).ok(),
                    address: address.as_deref(),
                },
                chrono::Utc::now().naive_utc(),
            )?;
            Ok(result)
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Put tags on one customer (unknown tags are created; names match whatever their ASCII
/// case). A tag of a single-choice group replaces the group's other tag on the customer
/// (a `tags.replaced` audit entry); two tags of one single-choice group at once are a 422
/// on `tags`. Returns the customer's tags.
#[utoipa::path(post, path = "/api/v1/customers/{id}/tags", tag = "tags", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    request_body = AddTagsRequest,
    responses(
        (status = 200, body = Vec<TagView>),
        (status = 404),
        (status = 409, description = "Customer archived (`customer-archived`)"),
        (status = 422, description = "Bad input, or two tags of one single-choice group"),
    ))]
pub async fn add_customer_tags(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    id: web::Path<i64>,
    body: Body<AddTagsRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let id = id.into_inner();
    let request = body.into_inner();
    let actor = caller.subject();
    let tags = state
        .db
        .write(move |conn| {
            let by = Tagger {
                actor: &actor,
                address: address.as_deref(),
            };
            operations::add_to_customer(conn, caller.shop_id, CustomerId(id), &request.tags, by)
        })
        .await?;
    Ok(HttpResponse::Ok().json(tags))
}

/// Take one tag off one customer.
#[utoipa::path(delete, path = "/api/v1/customers/{id}/tags/{tag_id}", tag = "tags", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id"), ("tag_id" = i64, Path, description = "Tag id")),
    responses(
        (status = 204, description = "Removed (or was not there)"),
        (status = 404),
        (status = 409, description = "The customer is archived; restore it first (`customer-archived`)"),
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
            operations::remove_from_customer(conn, caller.shop_id, CustomerId(id), TagId(tag_id))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every tag group: those tags name and those set as single-choice, by name, with the
/// number of tags and of live customers carrying any of them.
#[utoipa::path(get, path = "/api/v1/tag-groups", tag = "tags", security(("bearer" = [])),
    responses(
        (status = 200, body = TagGroupList),
        (status = 401),
    ))]
pub async fn list_groups(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let items = state
        .db
        .read(move |conn| {
            let tags = store::list_with_counts(conn, caller.shop_id, None)?;
            let groups = store::group_counts(conn, caller.shop_id, &tags, true)?;
            Ok(groups.into_iter().filter(|g| g.name.is_some()).collect())
        })
        .await?;
    Ok(HttpResponse::Ok().json(TagGroupList { items }))
}

/// Make a tag group single-choice (a customer holds at most one of its tags; putting
/// another on replaces it) or multiple-choice again (leads and admins). The group need not
/// have tags yet. Making it single-choice while customers hold two of its tags is a 409:
/// take one off them first. Recorded in the audit log (`tags.group_set`).
#[utoipa::path(put, path = "/api/v1/tag-groups/{name}", tag = "tags", security(("bearer" = [])),
    params(("name" = String, Path, description = "Group name, as tags carry it (1 to 50 characters, no commas)")),
    request_body = SetTagGroupRequest,
    responses(
        (status = 200, body = TagGroupView),
        (status = 403),
        (status = 409, description = "Customers hold two tags of the group (`single-choice`)"),
        (status = 422),
    ))]
pub async fn set_group(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    name: web::Path<String>,
    body: Body<SetTagGroupRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTags)?;
    let name = name.into_inner();
    check_tag_name(&name).map_err(|reason| ApiError::field("name", reason))?;
    let name = name.trim().to_owned();
    let single_choice = body.into_inner().single_choice;
    let actor = caller.subject();
    let view = state
        .db
        .write(move |conn| {
            operations::set_group(conn, caller.shop_id, &name, single_choice)?;
            audit_store::record_now(
                conn,
                caller.shop_id,
                &actor,
                AuditAction::TagGroupSet,
                serde_json::json!({"group": name, "single_choice": single_choice}),
                address.as_deref(),
            )?;
            let tags = store::list_with_counts(conn, caller.shop_id, Some(&name))?;
            let groups = store::group_counts(conn, caller.shop_id, &tags, true)?;
            groups
                .into_iter()
                .find(|g| g.name.as_deref() == Some(name.as_str()))
                .ok_or_else(|| ApiError::Internal(format!("group {name:?} vanished")))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
