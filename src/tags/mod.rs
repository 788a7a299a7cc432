//! Tags: free labels on customers, optionally grouped into dimensions (region, interest...).
//! A tag is one row referenced by id, so renaming it renames it on every customer. Names
//! are unique per shop regardless of ASCII case (`VIP` and `vip` are one tag: `name_key`).
//! A group may be single-choice (`tag_groups`): a customer holds at most one of its tags,
//! and putting another on replaces it (recorded in the audit log as `tags.replaced`).
//!
//! This module holds the vocabulary (rows, views, requests, name rules); SQL is in `store`,
//! use cases that also touch customers in `operations`, HTTP in `routes`.

pub mod operations;
pub mod routes;
pub mod rules;
pub mod store;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::extract::{message, present};
use crate::ids::ShopId;
use crate::schema::{tag_groups, tags};

pub const MAX_TAG_CHARS: usize = 50;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tags)]
pub struct Tag {
    pub id: i64,
    pub shop_id: ShopId,
    pub name: String,
    pub tag_group: Option<String>,
    pub created_at: NaiveDateTime,
    pub name_key: String,
}

/// The uniqueness key of a tag name: trimmed, ASCII letters lower-cased. Only ASCII is
/// folded, the same on both backends (SQLite's `lower()` folds nothing else, PostgreSQL's
/// depends on the locale); Chinese has no case, and `É`/`é` stay two tags.
pub fn name_key(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// A row of `tag_groups`: a group with a setting. Groups without a row are multiple-choice.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tag_groups)]
pub struct TagGroup {
    pub id: i64,
    pub shop_id: ShopId,
    pub name: String,
    pub single_choice: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A tag group with its figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TagGroupView {
    /// The group's name as tags carry it; `null` for the tags in no group.
    #[schema(example = "visit")]
    pub name: Option<String>,
    /// A customer holds at most one tag of a single-choice group; putting another on
    /// replaces it. Always `false` for the tags in no group.
    pub single_choice: bool,
    /// Tags in the group.
    pub tag_count: i64,
    /// Live (not archived) customers carrying at least one tag of the group.
    pub customer_count: i64,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"single_choice": true}))]
pub struct SetTagGroupRequest {
    /// `true`: a customer holds at most one tag of the group.
    pub single_choice: bool,
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
    /// The tags, by name.
    pub items: Vec<TagWithCount>,
    /// The groups of the listed tags, by name, then the tags in no group (`name: null`)
    /// if any are listed, each with its tag and customer counts.
    pub groups: Vec<TagGroupView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagGroupList {
    /// Every group named by a tag or set as single-choice, by name.
    pub items: Vec<TagGroupView>,
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
    check_tag_name(name).map_err(|reason| message("tag_name", &reason))
}

fn validate_group(group: &str) -> Result<(), ValidationError> {
    validate_tag_name(group)
}

fn validate_tag_names(names: &[String]) -> Result<(), ValidationError> {
    if names.len() > 50 {
        return Err(message("tags_many", "at most 50 tags at once"));
    }
    for name in names {
        check_tag_name(name)
            .map_err(|reason| message("tag_name", &format!("{name:?} {reason}")))?;
    }
    Ok(())
}

fn validate_customer_ids(ids: &[i64]) -> Result<(), ValidationError> {
    if ids.is_empty() || ids.len() > 1000 {
        return Err(message("customer_ids", "name 1 to 1000 customers"));
    }
    Ok(())
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

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({"name": "VIP", "group": "segment"}))]
pub struct UpdateTagRequest {
    #[validate(custom(function = "validate_tag_name"))]
    pub name: Option<String>,
    /// `null` removes the tag from its group.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    #[validate(custom(function = "validate_group"))]
    pub group: Option<Option<String>>,
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
    /// (customer, tag) pairs taken off because an added tag of a single-choice group
    /// replaced them (recorded as `tags.replaced` in the audit log).
    pub replaced: usize,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tags": ["key customer", "interested in product A"]}))]
pub struct AddTagsRequest {
    #[validate(custom(function = "validate_tag_names"))]
    pub tags: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_keys_fold_ascii_case_only() {
        assert_eq!(name_key(" VIP "), "vip");
        assert_eq!(name_key("Vip"), name_key("vIP"));
        assert_eq!(name_key("北京"), "北京");
        assert_ne!(name_key("É"), name_key("é"));
    }

    #[test]
    fn tag_names_are_bounded_and_comma_free() {
        assert!(check_tag_name("key customer").is_ok());
        assert!(check_tag_name("北京").is_ok());
        assert!(check_tag_name("  ").is_err());
        assert!(check_tag_name("a,b").is_err());
        assert!(check_tag_name(&"x".repeat(51)).is_err());
    }
}
