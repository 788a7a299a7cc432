//! All SQL of tags: the tags themselves, their groups, and which customers carry them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use diesel::prelude::*;

use chrono::NaiveDateTime;

use super::{Tag, TagGroup, TagGroupView, TagView, TagWithCount, UpdateTagRequest, name_key};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::ids::{CustomerId, ShopId, TagId};
use crate::schema::{customer_tags, customers, tag_groups, tags};

pub fn find_by_name(
    conn: &mut DbConnection,
    shop_id: ShopId,
    name: &str,
) -> Result<Option<Tag>, ApiError> {
    Ok(tags::table
        .filter(tags::shop_id.eq(shop_id))
        .filter(tags::name_key.eq(name_key(name)))
        .select(Tag::as_select())
        .first(conn)
        .optional()?)
}

pub fn get(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<Tag, ApiError> {
    tags::table
        .filter(tags::shop_id.eq(shop_id))
        .find(id)
        .select(Tag::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("tag"))
}

pub fn insert(
    conn: &mut DbConnection,
    shop_id: ShopId,
    name: &str,
    group: Option<&str>,
) -> Result<Tag, ApiError> {
    Ok(diesel::insert_into(tags::table)
        .values((
            tags::shop_id.eq(shop_id),
            tags::name.eq(name),
            tags::name_key.eq(name_key(name)),
            tags::tag_group.eq(group),
            tags::created_at.eq(Utc::now().naive_utc()),
        ))
        .returning(tags::all_columns)
        .get_result(conn)?)
}

/// The tags with these names, creating the missing ones (without a group).
pub fn ensure(
    conn: &mut DbConnection,
    shop_id: ShopId,
    names: &[String],
) -> Result<Vec<Tag>, ApiError> {
    let wanted: Vec<(&str, Option<&str>)> = names.iter().map(|n| (n.as_str(), None)).collect();
    ensure_in_groups(conn, shop_id, &wanted)
}

/// The tags with these names, creating the missing ones in the group given with each name.
/// A tag already on file keeps its group whatever is asked: groups are changed by editing
/// the tag, never as a side effect of tagging someone. Callers compare the groups to tell.
pub fn ensure_in_groups(
    conn: &mut DbConnection,
    shop_id: ShopId,
    wanted: &[(&str, Option<&str>)],
) -> Result<Vec<Tag>, ApiError> {
    let mut found = Vec::with_capacity(wanted.len());
    // One tag per name key: `VIP` and `vip` in one request are one tag, spelled as first
    // written if it is new.
    let mut unique: BTreeMap<String, (&str, Option<&str>)> = BTreeMap::new();
    for (name, group) in wanted {
        unique
            .entry(name_key(name))
            .or_insert((name.trim(), group.map(str::trim)));
    }
    for (name, group) in unique.into_values() {
        let tag = match find_by_name(conn, shop_id, name)? {
            Some(tag) => tag,
            // In a savepoint: a concurrent request may create the same tag first.
            None => match conn.transaction(|c| insert(c, shop_id, name, group)) {
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

/// The groups of the shop's tags that some customer carries, sorted as Rust sorts text
/// (the same on both backends, whatever the database's collation): the export's tag
/// columns. A walk of the shop's tags (few) with an index probe each for a customer.
pub fn groups_in_use(conn: &mut DbConnection, shop_id: ShopId) -> Result<Vec<String>, ApiError> {
    let carried = customer_tags::table
        .filter(customer_tags::tag_id.eq(tags::id))
        .select(customer_tags::customer_id);
    let mut groups: Vec<String> = tags::table
        .filter(tags::shop_id.eq(shop_id))
        .filter(tags::tag_group.is_not_null())
        .filter(diesel::dsl::exists(carried))
        .select(tags::tag_group.assume_not_null())
        .distinct()
        .load(conn)?;
    groups.sort();
    Ok(groups)
}

/// Puts each tag on each customer; returns how many (customer, tag) pairs were new.
pub fn attach(
    conn: &mut DbConnection,
    tag_ids: &[TagId],
    customer_ids: &[CustomerId],
) -> Result<usize, ApiError> {
    let existing: BTreeSet<(CustomerId, TagId)> = customer_tags::table
        .filter(customer_tags::customer_id.eq_any(customer_ids))
        .filter(customer_tags::tag_id.eq_any(tag_ids))
        .select((customer_tags::customer_id, customer_tags::tag_id))
        .load::<(CustomerId, TagId)>(conn)?
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
    tag_ids: &[TagId],
    customer_ids: &[CustomerId],
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

pub fn list_with_counts(
    conn: &mut DbConnection,
    shop_id: ShopId,
    group: Option<&str>,
) -> Result<Vec<TagWithCount>, ApiError> {
    let mut query = tags::table
        .filter(tags::shop_id.eq(shop_id))
        .order(tags::name)
        .select(Tag::as_select())
        .into_boxed();
    if let Some(group) = group {
        query = query.filter(tags::tag_group.eq(group.to_owned()));
    }
    let all: Vec<Tag> = query.load(conn)?;
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

/// Applies an edit: an absent name keeps the tag's, an absent group keeps its group and
/// `null` takes it out of its group. Customers see the change through the tag's id.
pub fn update(
    conn: &mut DbConnection,
    tag: &Tag,
    request: &UpdateTagRequest,
) -> Result<Tag, ApiError> {
    let name = request
        .name
        .as_deref()
        .map(str::trim)
        .unwrap_or(&tag.name)
        .to_owned();
    let group = match &request.group {
        Some(group) => group.as_ref().map(|g| g.trim().to_owned()),
        None => tag.tag_group.clone(),
    };
    Ok(diesel::update(tags::table.find(tag.id))
        .set((
            tags::name_key.eq(name_key(&name)),
            tags::name.eq(name),
            tags::tag_group.eq(group),
        ))
        .returning(tags::all_columns)
        .get_result::<Tag>(conn)?)
}

/// Deletes the tag after taking it off every customer.
pub fn delete(conn: &mut DbConnection, tag: &Tag) -> Result<(), ApiError> {
    diesel::delete(customer_tags::table.filter(customer_tags::tag_id.eq(tag.id))).execute(conn)?;
    diesel::delete(tags::table.find(tag.id)).execute(conn)?;
    Ok(())
}

/// The shop's group settings, by group name.
pub fn group_settings(
    conn: &mut DbConnection,
    shop_id: ShopId,
) -> Result<BTreeMap<String, TagGroup>, ApiError> {
    Ok(tag_groups::table
        .filter(tag_groups::shop_id.eq(shop_id))
        .select(TagGroup::as_select())
        .load::<TagGroup>(conn)?
        .into_iter()
        .map(|g| (g.name.clone(), g))
        .collect())
}

/// Which of `groups` are single-choice.
pub fn single_choice_among(
    conn: &mut DbConnection,
    shop_id: ShopId,
    groups: &[String],
) -> Result<BTreeSet<String>, ApiError> {
    if groups.is_empty() {
        return Ok(BTreeSet::new());
    }
    Ok(tag_groups::table
        .filter(tag_groups::shop_id.eq(shop_id))
        .filter(tag_groups::name.eq_any(groups))
        .filter(tag_groups::single_choice.eq(true))
        .select(tag_groups::name)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// Creates or changes a group's setting.
pub fn set_group(
    conn: &mut DbConnection,
    shop_id: ShopId,
    name: &str,
    single_choice: bool,
    now: NaiveDateTime,
) -> Result<TagGroup, ApiError> {
    let updated = diesel::update(
        tag_groups::table
            .filter(tag_groups::shop_id.eq(shop_id))
            .filter(tag_groups::name.eq(name)),
    )
    .set((
        tag_groups::single_choice.eq(single_choice),
        tag_groups::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(tag_groups::table)
            .values((
                tag_groups::shop_id.eq(shop_id),
                tag_groups::name.eq(name),
                tag_groups::single_choice.eq(single_choice),
                tag_groups::created_at.eq(now),
                tag_groups::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(tag_groups::table
        .filter(tag_groups::shop_id.eq(shop_id))
        .filter(tag_groups::name.eq(name))
        .select(TagGroup::as_select())
        .first(conn)?)
}

/// Customers (live or archived) holding two or more tags of `group`, counting `extra`
/// as if it were in the group already: how many, and up to ten of their ids.
pub fn holding_two_of(
    conn: &mut DbConnection,
    shop_id: ShopId,
    group: &str,
    extra: Option<i64>,
) -> Result<(i64, Vec<i64>), ApiError> {
    let mut in_group = tags::table
        .filter(tags::shop_id.eq(shop_id))
        .filter(tags::tag_group.eq(group.to_owned()))
        .select(tags::id)
        .load::<i64>(conn)?;
    in_group.extend(extra);
    in_group.sort_unstable();
    in_group.dedup();
    if in_group.len() < 2 {
        return Ok((0, Vec::new()));
    }
    let rows: Vec<i64> = customer_tags::table
        .filter(customer_tags::tag_id.eq_any(&in_group))
        .group_by(customer_tags::customer_id)
        .having(diesel::dsl::count_star().gt(1))
        .select(customer_tags::customer_id)
        .order(customer_tags::customer_id)
        .load(conn)?;
    let count = rows.len() as i64;
    Ok((count, rows.into_iter().take(10).collect()))
}

/// The tags of `groups` that `customer_ids` carry, as (customer, tag).
pub fn held_in_groups(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_ids: &[CustomerId],
    groups: &[String],
) -> Result<Vec<(CustomerId, Tag)>, ApiError> {
    if groups.is_empty() || customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(customer_tags::table
        .inner_join(tags::table)
        .filter(tags::shop_id.eq(shop_id))
        .filter(customer_tags::customer_id.eq_any(customer_ids))
        .filter(tags::tag_group.eq_any(groups))
        .order((customer_tags::customer_id, tags::id))
        .select((customer_tags::customer_id, Tag::as_select()))
        .load(conn)?)
}

/// The groups of the listed tags with their counts: named groups by name, then the tags
/// in no group. Group settings come from `tag_groups`; customer counts are of live
/// customers carrying any tag of the group, counted once.
pub fn group_counts(
    conn: &mut DbConnection,
    shop_id: ShopId,
    listed: &[TagWithCount],
    include_settings_only: bool,
) -> Result<Vec<TagGroupView>, ApiError> {
    let settings = group_settings(conn, shop_id)?;
    let customers: BTreeMap<Option<String>, i64> = customer_tags::table
        .inner_join(customers::table)
        .inner_join(tags::table)
        .filter(tags::shop_id.eq(shop_id))
        .filter(customers::archived_at.is_null())
        .group_by(tags::tag_group)
        .select((
            tags::tag_group,
            diesel::dsl::count(customer_tags::customer_id).aggregate_distinct(),
        ))
        .load::<(Option<String>, i64)>(conn)?
        .into_iter()
        .collect();
    let mut tag_counts: BTreeMap<Option<String>, i64> = BTreeMap::new();
    for tag in listed {
        *tag_counts.entry(tag.tag.group.clone()).or_default() += 1;
    }
    if include_settings_only {
        for name in settings.keys() {
            tag_counts.entry(Some(name.clone())).or_default();
        }
    }
    // `None` sorts first in a BTreeMap; the tags in no group go last.
    let (ungrouped, named): (Vec<_>, Vec<_>) = tag_counts
        .into_iter()
        .partition(|(group, _)| group.is_none());
    Ok(named
        .into_iter()
        .chain(ungrouped)
        .map(|(group, tag_count)| TagGroupView {
            single_choice: group
                .as_ref()
                .and_then(|g| settings.get(g))
                .is_some_and(|g| g.single_choice),
            customer_count: customers.get(&group).copied().unwrap_or(0),
            name: group,
            tag_count,
        })
        .collect())
}
