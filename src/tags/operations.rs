//! Tag use cases that also touch the customer file: putting tags on and taking them off
//! customers, one or many at once, and the single-choice rule of tag groups that every
//! way of tagging someone goes through (`put`). Each runs in the caller's transaction.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use serde_json::json;

use super::{BulkTagRequest, BulkTagResult, Tag, TagGroup, TagView, rules, store};
use crate::audit::{AuditAction, NewAuditEntry, store as audit_store};
use crate::customers::store as customer_store;
use crate::db::DbConnection;
use crate::error::{ApiError, ProblemKind};
use crate::ids::{CustomerId, ShopId, TagId};

/// Who is tagging, for the audit entry a replacement leaves.
#[derive(Debug, Clone, Copy)]
pub struct Tagger<'a> {
    /// `user:<id>`, `api_key:<id>`.
    pub actor: &'a str,
    pub address: Option<&'a str>,
}

/// Refuses a set of tags holding two of one single-choice group (422 on `field`);
/// returns the single-choice groups among the tags'.
pub fn check_single_choice(
    conn: &mut DbConnection,
    shop_id: ShopId,
    tags: &[Tag],
    field: &str,
) -> Result<BTreeSet<String>, ApiError> {
    let groups: Vec<String> = tags
        .iter()
        .filter_map(|t| t.tag_group.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let single = store::single_choice_among(conn, shop_id, &groups)?;
    if let Some((group, first, second)) = rules::two_in_one_group(tags, &single) {
        return Err(ApiError::field(
            field,
            rules::two_in_one_group_message(group, first, second),
        ));
    }
    Ok(single)
}

/// One tag replacing another of its single-choice group: the group, the names, and on
/// which customers.
type Replacement = (String, String, String, Vec<CustomerId>);

/// Puts `tags` on `customers`: a tag of a single-choice group first takes the group's
/// other tags off each of them (one `tags.replaced` audit entry per replaced tag). Two
/// tags of one single-choice group at once are refused (422 on `field`). Returns how many
/// (customer, tag) pairs were added and how many were replaced.
pub fn put(
    conn: &mut DbConnection,
    shop_id: ShopId,
    tags: &[Tag],
    customers: &[CustomerId],
    field: &str,
    by: Tagger<'_>,
) -> Result<(usize, usize), ApiError> {
    let single = check_single_choice(conn, shop_id, tags, field)?;
    let groups: Vec<String> = single.into_iter().collect();
    let incoming: BTreeMap<&str, &Tag> = tags
        .iter()
        .filter_map(|t| {
            t.tag_group
                .as_deref()
                .filter(|g| groups.iter().any(|s| s == g))
                .map(|g| (g, t))
        })
        .collect();
    // (replaced tag, replacing tag) -> (group, from, to, customers).
    let mut replaced: BTreeMap<(i64, i64), Replacement> = BTreeMap::new();
    for (customer, held) in store::held_in_groups(conn, shop_id, customers, &groups)? {
        let Some(group) = held.tag_group.as_deref() else {
            continue;
        };
        let Some(new) = incoming.get(group) else {
            continue;
        };
        if held.id != new.id {
            replaced
                .entry((held.id, new.id))
                .or_insert_with(|| {
                    (
                        group.to_owned(),
                        held.name.clone(),
                        new.name.clone(),
                        Vec::new(),
                    )
                })
                .3
                .push(customer);
        }
    }
    let mut count = 0;
    for ((old, _), (group, from, to, who)) in &replaced {
        count += store::detach(conn, &[TagId(*old)], who)?;
        let ids: Vec<i64> = who.iter().map(|c| c.0).collect();
        audit_store::record(
            conn,
            &NewAuditEntry {
                shop_id,
                actor: by.actor,
                action: AuditAction::TagsReplaced,
                details: &json!({"group": group, "from": from, "to": to, "customer_ids": ids}),
                row_count: i64::try_from(ids.len()).ok(),
                address: by.address,
            },
            Utc::now().naive_utc(),
        )?;
    }
    let tag_ids: Vec<TagId> = tags.iter().map(|t| TagId(t.id)).collect();
    let added = store::attach(conn, &tag_ids, customers)?;
    Ok((added, count))
}

/// Makes a group single-choice or multiple-choice. Making it single-choice while some
/// customer holds two of its tags is refused (409 `single-choice`): which tag to keep is
/// the shop's decision, not the server's.
pub fn set_group(
    conn: &mut DbConnection,
    shop_id: ShopId,
    name: &str,
    single_choice: bool,
) -> Result<TagGroup, ApiError> {
    if single_choice {
        refuse_two_of(conn, shop_id, name, None)?;
    }
    store::set_group(conn, shop_id, name, single_choice, Utc::now().naive_utc())
}

/// 409 `single-choice` when customers would hold two tags of the single-choice `group`
/// (counting `extra`, a tag about to move into it).
pub fn refuse_two_of(
    conn: &mut DbConnection,
    shop_id: ShopId,
    group: &str,
    extra: Option<i64>,
) -> Result<(), ApiError> {
    let (count, some) = store::holding_two_of(conn, shop_id, group, extra)?;
    if count > 0 {
        let ids: Vec<String> = some.iter().map(i64::to_string).collect();
        return Err(ApiError::conflict(
            ProblemKind::SingleChoice,
            format!(
                "{count} customers would hold two tags of the single-choice group {group:?} (e.g. {}); take one off first",
                ids.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Edits a tag; moving it into a single-choice group whose tags some of its customers
/// already carry is refused (409 `single-choice`).
pub fn update(
    conn: &mut DbConnection,
    shop_id: ShopId,
    id: i64,
    request: &super::UpdateTagRequest,
) -> Result<Tag, ApiError> {
    let tag = store::get(conn, shop_id, id)?;
    if let Some(Some(group)) = &request.group {
        let group = group.trim();
        if tag.tag_group.as_deref() != Some(group)
            && !store::single_choice_among(conn, shop_id, &[group.to_owned()])?.is_empty()
        {
            refuse_two_of(conn, shop_id, group, Some(tag.id))?;
        }
    }
    store::update(conn, &tag, request)
}

/// Adds and removes tags on many customers. All or nothing: an unknown or archived
/// customer refuses the whole request before anything is written.
pub fn bulk(
    conn: &mut DbConnection,
    shop_id: ShopId,
    request: &BulkTagRequest,
    by: Tagger<'_>,
) -> Result<BulkTagResult, ApiError> {
    let ids: Vec<i64> = request
        .customer_ids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let live: BTreeSet<i64> = customer_store::live_ids(conn, shop_id, &ids)?
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
    let customers: Vec<CustomerId> = ids.iter().copied().map(CustomerId).collect();
    let to_add = store::ensure(conn, shop_id, &request.add)?;
    let (added, replaced) = put(conn, shop_id, &to_add, &customers, "add", by)?;
    let mut to_remove = Vec::new();
    for name in &request.remove {
        if let Some(tag) = store::find_by_name(conn, shop_id, name.trim())? {
            to_remove.push(TagId(tag.id));
        }
    }
    let removed = store::detach(conn, &to_remove, &customers)?;
    customer_store::touch(conn, &ids)?;
    Ok(BulkTagResult {
        customers: ids.len(),
        added,
        removed,
        replaced,
    })
}

/// Puts tags on one live customer (unknown tags are created; a tag of a single-choice
/// group replaces the group's other tag); returns the customer's tags.
pub fn add_to_customer(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: CustomerId,
    names: &[String],
    by: Tagger<'_>,
) -> Result<Vec<TagView>, ApiError> {
    let customer = customer_store::get(conn, shop_id, customer_id.0)?;
    customer.ensure_live()?;
    let tags = store::ensure(conn, shop_id, names)?;
    put(conn, shop_id, &tags, &[customer_id], "tags", by)?;
    customer_store::touch(conn, &[customer_id.0])?;
    Ok(store::of_customers(conn, &[customer_id.0])?
        .remove(&customer_id.0)
        .unwrap_or_default())
}

/// Takes one tag off one live customer; the customer counts as changed only if it had it.
pub fn remove_from_customer(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: CustomerId,
    tag_id: TagId,
) -> Result<(), ApiError> {
    let customer = customer_store::get(conn, shop_id, customer_id.0)?;
    customer.ensure_live()?;
    let tag = store::get(conn, shop_id, tag_id.0)?;
    if store::detach(conn, &[TagId(tag.id)], &[customer_id])? > 0 {
        customer_store::touch(conn, &[customer_id.0])?;
    }
    Ok(())
}
