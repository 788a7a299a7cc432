//! All SQL of the customer file: customers and their contact handles. Every list filter
//! is an index range (see the customers migration), so lists stay fast on large shops.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::contacts::ContactKind;
use super::rules::{
    birthday_mmdd, birthday_windows, handle_search_key, name_key, normalized_handles, tag_list,
};
use super::{
    ContactHandle, CreateCustomerRequest, Customer, CustomerSort, CustomerView, ListCustomersQuery,
    OrderSummary, Source, UpdateCustomerRequest,
};
use crate::db::{DbConnection, MultiBackend};
use crate::error::{ApiError, ProblemKind};
use crate::ids::{CustomerId, ShopId, TagId};
use crate::schema::{
    customer_contacts, customer_rfm, customer_tags, customers, tags as tags_table,
};
use crate::search::matchers::{CustomerMatch, MatchCustomers, Matcher};
use crate::search::store as search_store;
use crate::search::{Rank, Terms};
use crate::tags::store as tag_store;
use crate::tiers::Segment;

pub fn get(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<Customer, ApiError> {
    customers::table
        .filter(customers::shop_id.eq(shop_id))
        .find(id)
        .select(Customer::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("customer"))
}

/// Those of `ids` that are live customers of the shop.
/// The customers `ids` of `shop_id` (archived ones too), in no particular order.
pub fn by_ids(
    conn: &mut DbConnection,
    shop_id: ShopId,
    ids: &[i64],
) -> Result<Vec<Customer>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(customers::table
        .filter(customers::shop_id.eq(shop_id))
        .filter(customers::id.eq_any(ids))
        .select(Customer::as_select())
        .load(conn)?)
}

pub fn live_ids(
    conn: &mut DbConnection,
    shop_id: ShopId,
    ids: &[i64],
) -> Result<Vec<i64>, ApiError> {
    Ok(customers::table
        .filter(customers::shop_id.eq(shop_id))
        .filter(customers::id.eq_any(ids))
        .filter(customers::archived_at.is_null())
        .select(customers::id)
        .load(conn)?)
}

/// Marks customers as changed now.
pub fn touch(conn: &mut DbConnection, ids: &[i64]) -> Result<(), ApiError> {
    diesel::update(customers::table.filter(customers::id.eq_any(ids)))
        .set(customers::updated_at.eq(Utc::now().naive_utc()))
        .execute(conn)?;
    Ok(())
}

/// The customer owning a (normalised) handle, archived or not.
pub fn owner_of(
    conn: &mut DbConnection,
    shop_id: ShopId,
    kind: ContactKind,
    value: &str,
) -> Result<Option<i64>, ApiError> {
    Ok(customer_contacts::table
        .filter(customer_contacts::shop_id.eq(shop_id))
        .filter(customer_contacts::kind.eq(kind))
        .filter(customer_contacts::value.eq(value))
        .select(customer_contacts::customer_id)
        .first(conn)
        .optional()?)
}

/// The one customer `handles` point to: `None` when none does, 409 `duplicate-contact`
/// when they point to several.
pub fn owner_by_handles(
    conn: &mut DbConnection,
    shop_id: ShopId,
    handles: &[(ContactKind, String)],
) -> Result<Option<i64>, ApiError> {
    let mut owners = BTreeSet::new();
    for (kind, value) in handles {
        if let Some(owner) = owner_of(conn, shop_id, *kind, value)? {
            owners.insert(owner);
        }
    }
    if owners.len() > 1 {
        let mut error = ApiError::conflict(
            ProblemKind::DuplicateContact,
            "the handles belong to different customers (existing_customer_ids)",
        );
        if let ApiError::Conflict { extensions, .. } = &mut error {
            let ids: Vec<i64> = owners.into_iter().collect();
            extensions.insert("existing_customer_ids".into(), ids.into());
        }
        return Err(error);
    }
    Ok(owners.into_iter().next())
}

/// Replaces the customer's handles. A handle that belongs to another customer is a 409
/// naming that customer, so the caller can open the existing file instead.
pub fn set_contacts(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: CustomerId,
    handles: &[(ContactKind, String)],
) -> Result<(), ApiError> {
    for (kind, value) in handles {
        if let Some(owner) = owner_of(conn, shop_id, *kind, value)?
            && owner != customer_id.0
        {
            // The owner is named in `existing_customer_id`, never in the text, so that a
            // caller who may not read customers can be given the sentence without it
            // (`ApiError::without_record_ids`).
            let mut error = ApiError::conflict(
                ProblemKind::DuplicateContact,
                format!(
                    "{} {value} already belongs to another customer (existing_customer_id)",
                    kind.as_str()
                ),
            );
            if let ApiError::Conflict { extensions, .. } = &mut error {
                extensions.insert("existing_customer_id".into(), owner.into());
            }
            return Err(error);
        }
    }
    diesel::delete(customer_contacts::table.filter(customer_contacts::customer_id.eq(customer_id)))
        .execute(conn)?;
    let now = Utc::now().naive_utc();
    for (kind, value) in handles {
        let tail_key = (*kind == ContactKind::Phone).then(|| crate::search::tail_key(value));
        diesel::insert_into(customer_contacts::table)
            .values((
                customer_contacts::shop_id.eq(shop_id),
                customer_contacts::customer_id.eq(customer_id),
                customer_contacts::kind.eq(kind),
                customer_contacts::value.eq(value),
                customer_contacts::created_at.eq(now),
                customer_contacts::tail_key.eq(tail_key),
            ))
            .execute(conn)?;
    }
    let primary_phone = handles
        .iter()
        .find(|(kind, _)| *kind == ContactKind::Phone)
        .map(|(_, value)| value.clone());
    diesel::update(customers::table.find(customer_id.0))
        .set(customers::primary_phone.eq(primary_phone))
        .execute(conn)?;
    search_store::index_customers(conn, &[customer_id.0])
}

pub fn create(
    conn: &mut DbConnection,
    shop_id: ShopId,
    request: &CreateCustomerRequest,
) -> Result<Customer, ApiError> {
    let handles = normalized_handles(&request.contacts)?;
    let now = Utc::now().naive_utc();
    let customer: Customer = diesel::insert_into(customers::table)
        .values((
            customers::shop_id.eq(shop_id),
            customers::name.eq(request.name.trim()),
            customers::name_key.eq(name_key(&request.name)),
            customers::address.eq(request.address.as_deref().map(str::trim)),
            customers::birthday.eq(request.birthday),
            customers::birthday_mmdd.eq(request.birthday.map(birthday_mmdd)),
            customers::source.eq(request.source),
            customers::notes.eq(request.notes.trim()),
            customers::created_at.eq(now),
            customers::updated_at.eq(now),
            customers::tier_reasons.eq(initial_reasons()),
            customers::tier_computed_at.eq(now),
        ))
        .returning(customers::all_columns)
        .get_result(conn)?;
    set_contacts(conn, shop_id, CustomerId(customer.id), &handles)?;
    let customer = get(conn, shop_id, customer.id)?;
    if !request.tags.is_empty() {
        let tags = tag_store::ensure(conn, shop_id, &request.tags)?;
        // A new customer holds no tag a single-choice tag could replace: only two of one
        // group at once are refused.
        let groups: Vec<String> = tags.iter().filter_map(|t| t.tag_group.clone()).collect();
        let single = tag_store::single_choice_among(conn, shop_id, &groups)?;
        if let Some((group, first, second)) = crate::tags::rules::two_in_one_group(&tags, &single) {
            return Err(ApiError::field(
                "tags",
                crate::tags::rules::two_in_one_group_message(group, first, second),
            ));
        }
        let tag_ids: Vec<TagId> = tags.iter().map(|t| TagId(t.id)).collect();
        tag_store::attach(conn, &tag_ids, &[CustomerId(customer.id)])?;
    }
    Ok(customer)
}

/// A new customer has no history: the engine's verdict on nothing (potential, small).
fn initial_reasons() -> String {
    use crate::tiers::engine::assess;
    use crate::tiers::{KeyThresholds, TierSettings};
    let verdict = assess(
        &[],
        &[],
        KeyThresholds::default(),
        &TierSettings::default(),
        Utc::now().naive_utc(),
    );
    serde_json::to_string(&verdict.reasons).unwrap_or_else(|_| "[]".into())
}

pub fn contacts_of(
    conn: &mut DbConnection,
    ids: &[i64],
) -> Result<BTreeMap<i64, Vec<ContactHandle>>, ApiError> {
    let rows: Vec<(i64, ContactKind, String)> = customer_contacts::table
        .filter(customer_contacts::customer_id.eq_any(ids))
        .order((customer_contacts::customer_id, customer_contacts::id))
        .select((
            customer_contacts::customer_id,
            customer_contacts::kind,
            customer_contacts::value,
        ))
        .load(conn)?;
    let mut by_customer: BTreeMap<i64, Vec<ContactHandle>> = BTreeMap::new();
    for (customer_id, kind, value) in rows {
        by_customer
            .entry(customer_id)
            .or_default()
            .push(ContactHandle { kind, value });
    }
    Ok(by_customer)
}

/// Applies an edit; returns the customer and whether anything changed.
pub fn update(
    conn: &mut DbConnection,
    customer: &Customer,
    request: &UpdateCustomerRequest,
) -> Result<(Customer, bool), ApiError> {
    customer.ensure_live()?;
    let mut changed = false;
    if let Some(handles) = &request.contacts {
        let wanted = normalized_handles(handles)?;
        let mut current: Vec<(ContactKind, String)> = contacts_of(conn, &[customer.id])?
            .remove(&customer.id)
            .unwrap_or_default()
            .into_iter()
            .map(|h| (h.kind, h.value))
            .collect();
        let mut sorted_wanted = wanted.clone();
        sorted_wanted.sort();
        current.sort();
        if sorted_wanted != current {
            set_contacts(conn, customer.shop_id, CustomerId(customer.id), &wanted)?;
            changed = true;
        }
    }
    let name = request
        .name
        .as_deref()
        .map(str::trim)
        .unwrap_or(&customer.name)
        .to_owned();
    let address = match &request.address {
        Some(address) => address.as_deref().map(str::trim).map(str::to_owned),
        None => customer.address.clone(),
    };
    let birthday: Option<NaiveDate> = request.birthday.unwrap_or(customer.birthday);
    let source = request.source.unwrap_or(customer.source);
    let notes = request
        .notes
        .as_deref()
        .map(str::trim)
        .unwrap_or(&customer.notes)
        .to_owned();
    let fields_changed = name != customer.name
        || address != customer.address
        || birthday != customer.birthday
        || source != customer.source
        || notes != customer.notes;
    if !fields_changed && !changed {
        return Ok((customer.clone(), false));
    }
    let updated = diesel::update(customers::table.find(customer.id))
        .set((
            customers::name_key.eq(name_key(&name)),
            customers::name.eq(name),
            customers::address.eq(address),
            customers::birthday.eq(birthday),
            customers::birthday_mmdd.eq(birthday.map(birthday_mmdd)),
            customers::source.eq(source),
            customers::notes.eq(notes),
            customers::updated_at.eq(Utc::now().naive_utc()),
        ))
        .returning(customers::all_columns)
        .get_result::<Customer>(conn)?;
    if updated.name != customer.name {
        search_store::index_customers(conn, &[customer.id])?;
    }
    Ok((updated, true))
}

pub fn set_archived(
    conn: &mut DbConnection,
    customer: &Customer,
    archived: bool,
) -> Result<Customer, ApiError> {
    let now = Utc::now().naive_utc();
    let archived_at = if archived {
        Some(customer.archived_at.unwrap_or(now))
    } else {
        None
    };
    Ok(diesel::update(customers::table.find(customer.id))
        .set((
            customers::archived_at.eq(archived_at),
            customers::updated_at.eq(now),
        ))
        .returning(customers::all_columns)
        .get_result(conn)?)
}

/// Full views of customers, with contacts and tags loaded in two queries for the lot.
pub fn views(conn: &mut DbConnection, list: Vec<Customer>) -> Result<Vec<CustomerView>, ApiError> {
    let ids: Vec<i64> = list.iter().map(|c| c.id).collect();
    let mut contacts = contacts_of(conn, &ids)?;
    let mut tags = tag_store::of_customers(conn, &ids)?;
    let mut tickets = crate::tickets::store::summaries(conn, &ids)?;
    let mut rfm: BTreeMap<i64, crate::tiers::RfmView> = crate::tiers::store::rfm_rows(conn, &ids)?
        .into_iter()
        .map(|row| (row.customer_id, row.view()))
        .collect();
    list.into_iter()
        .map(|c| {
            let source = c.source;
            Ok(CustomerView {
                id: c.id,
                contacts: contacts.remove(&c.id).unwrap_or_default(),
                tags: tags.remove(&c.id).unwrap_or_default(),
                name: c.name,
                address: c.address,
                birthday: c.birthday,
                source,
                notes: c.notes,
                orders: OrderSummary {
                    count: c.order_count,
                    total_spent_cents: c.total_spent_cents,
                    first_order_at: c.first_order_at.map(|t| t.and_utc()),
                    last_order_at: c.last_order_at.map(|t| t.and_utc()),
                },
                tickets: tickets.remove(&c.id).unwrap_or_default(),
                standing: crate::tiers::standing(
                    c.tier,
                    c.lifecycle_stage,
                    c.at_risk,
                    &c.tier_reasons,
                    c.tier_computed_at,
                ),
                rfm: rfm.remove(&c.id),
                tier_history: None,
                last_contacted_at: c.last_contacted_at.map(|t| t.and_utc()),
                archived_at: c.archived_at.map(|t| t.and_utc()),
                merged_into_id: c.merged_into_id,
                created_at: c.created_at.and_utc(),
                updated_at: c.updated_at.and_utc(),
            })
        })
        .collect()
}

/// A customer list's filters, resolved against "now" (which tests can fix).
#[derive(Debug, Clone)]
pub struct CustomerFilter {
    pub shop_id: ShopId,
    pub archived: bool,
    /// `q`: names, handles, phone tails, order numbers, review ids (`search::Terms`).
    pub search: Option<Terms>,
    pub tags_all: Vec<String>,
    pub tags_any: Vec<String>,
    pub source: Option<Source>,
    pub contacted_before: Option<NaiveDateTime>,
    pub never_contacted: Option<bool>,
    pub bought_before: Option<NaiveDateTime>,
    pub never_purchased: Option<bool>,
    pub birthday_ranges: Vec<(i32, i32)>,
    pub tier: Option<crate::tiers::Tier>,
    pub stage: Option<crate::tiers::Stage>,
    pub at_risk: Option<bool>,
    /// RFM segment and score ranges; `None`: any customer, scored or not.
    pub rfm: Option<RfmFilter>,
    /// Only customers with a ticket assigned to this staff member.
    pub ticket_assignee: Option<i64>,
}

/// Scored buyers in a segment and score ranges (inclusive, 1-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfmFilter {
    pub segment: Option<Segment>,
    pub recency: (i32, i32),
    pub frequency: (i32, i32),
    pub monetary: (i32, i32),
}

impl RfmFilter {
    /// Every scored buyer.
    pub const ANY: RfmFilter = RfmFilter {
        segment: None,
        recency: (1, 5),
        frequency: (1, 5),
        monetary: (1, 5),
    };

    /// The query's RFM filters, if it has any; a minimum above its maximum is refused.
    pub fn from_query(query: &ListCustomersQuery) -> Result<Option<RfmFilter>, ApiError> {
        let range = |name: &str, min: Option<i32>, max: Option<i32>| {
            let (low, high) = (min.unwrap_or(1), max.unwrap_or(5));
            if low > high {
                return Err(ApiError::field(
                    format!("{name}_score_min"),
                    format!("must not be above {name}_score_max ({high})"),
                ));
            }
            Ok((low, high))
        };
        let filter = RfmFilter {
            segment: query.segment,
            recency: range("recency", query.recency_score_min, query.recency_score_max)?,
            frequency: range(
                "frequency",
                query.frequency_score_min,
                query.frequency_score_max,
            )?,
            monetary: range(
                "monetary",
                query.monetary_score_min,
                query.monetary_score_max,
            )?,
        };
        let asked = query.segment.is_some()
            || [
                query.recency_score_min,
                query.recency_score_max,
                query.frequency_score_min,
                query.frequency_score_max,
                query.monetary_score_min,
                query.monetary_score_max,
            ]
            .iter()
            .any(Option::is_some);
        Ok(asked.then_some(filter))
    }
}

impl CustomerFilter {
    /// Everything in the shop: no condition but the shop's.
    pub fn of_shop(shop_id: ShopId) -> Self {
        CustomerFilter {
            shop_id,
            archived: false,
            search: None,
            tags_all: Vec::new(),
            tags_any: Vec::new(),
            source: None,
            contacted_before: None,
            never_contacted: None,
            bought_before: None,
            never_purchased: None,
            birthday_ranges: Vec::new(),
            tier: None,
            stage: None,
            at_risk: None,
            rfm: None,
            ticket_assignee: None,
        }
    }
}

impl CustomerFilter {
    pub fn from_query(
        shop_id: ShopId,
        query: &ListCustomersQuery,
        now: NaiveDateTime,
    ) -> Result<Self, ApiError> {
        let days_ago = |days: u32| now - chrono::Duration::days(i64::from(days));
        let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        Ok(CustomerFilter {
            shop_id,
            archived: query.archived.unwrap_or(false),
            search: q.map(|q| Terms::new(q, name_key(q), handle_search_key(q))),
            tags_all: tag_list("tags_all", query.tags_all.as_deref())?,
            tags_any: tag_list("tags_any", query.tags_any.as_deref())?,
            source: query.source,
            contacted_before: query.not_contacted_days.map(days_ago),
            never_contacted: query.never_contacted,
            bought_before: query.no_purchase_days.map(days_ago),
            never_purchased: query.never_purchased,
            birthday_ranges: query
                .birthday_within_days
                .map(|days| birthday_windows(now.date(), days))
                .unwrap_or_default(),
            tier: query.tier,
            stage: query.stage,
            at_risk: query.at_risk,
            rfm: RfmFilter::from_query(query)?,
            ticket_assignee: None,
        })
    }
}

type CustomerQuery = customers::BoxedQuery<'static, MultiBackend>;

fn filtered(filter: &CustomerFilter) -> CustomerQuery {
    let mut query = customers::table
        .filter(customers::shop_id.eq(filter.shop_id))
        .into_boxed();
    query = if filter.archived {
        query.filter(customers::archived_at.is_not_null())
    } else {
        query.filter(customers::archived_at.is_null())
    };
    if let Some(terms) = &filter.search {
        // Lists that are not ranked (counts, exports) take every match at once; the
        // search page itself walks the same sources ranked (`search`).
        let mut ways = CustomerMatch::leading(terms, filter.archived);
        ways.extend(CustomerMatch::inside(terms));
        query = query.filter(MatchCustomers::any(filter.shop_id, ways));
    }
    // One sub-select per tag: customer_tags (tag_id, customer_id) serves each.
    for name in &filter.tags_all {
        let tagged = customer_tags::table
            .inner_join(tags_table::table)
            .filter(tags_table::shop_id.eq(filter.shop_id))
            .filter(tags_table::name_key.eq(crate::tags::name_key(name)))
            .select(customer_tags::customer_id);
        query = query.filter(customers::id.eq_any(tagged));
    }
    if !filter.tags_any.is_empty() {
        let tagged = customer_tags::table
            .inner_join(tags_table::table)
            .filter(tags_table::shop_id.eq(filter.shop_id))
            .filter(
                tags_table::name_key.eq_any(
                    filter
                        .tags_any
                        .iter()
                        .map(|name| crate::tags::name_key(name))
                        .collect::<Vec<_>>(),
                ),
            )
            .select(customer_tags::customer_id);
        query = query.filter(customers::id.eq_any(tagged));
    }
    if let Some(source) = filter.source {
        query = query.filter(customers::source.eq(source));
    }
    if let Some(before) = filter.contacted_before {
        query = query.filter(customers::last_contacted_at.lt(before));
    }
    match filter.never_contacted {
        Some(true) => query = query.filter(customers::last_contacted_at.is_null()),
        Some(false) => query = query.filter(customers::last_contacted_at.is_not_null()),
        None => {}
    }
    if let Some(before) = filter.bought_before {
        query = query.filter(customers::last_order_at.lt(before));
    }
    match filter.never_purchased {
        Some(true) => query = query.filter(customers::last_order_at.is_null()),
        Some(false) => query = query.filter(customers::last_order_at.is_not_null()),
        None => {}
    }
    if let Some(tier) = filter.tier {
        query = query.filter(customers::tier.eq(tier));
    }
    if let Some(stage) = filter.stage {
        query = query.filter(customers::lifecycle_stage.eq(stage));
    }
    if let Some(at_risk) = filter.at_risk {
        query = query.filter(customers::at_risk.eq(at_risk));
    }
    if let Some(rfm) = filter.rfm {
        // One sub-select per condition, each served by its customer_rfm index; a range of
        // 1-5 says nothing and is left out. No condition at all: any scored buyer.
        let scored = customer_rfm::table
            .filter(customer_rfm::shop_id.eq(filter.shop_id))
            .select(customer_rfm::customer_id);
        let narrow = |(low, high): (i32, i32)| (low, high) != (1, 5);
        let mut any = true;
        if let Some(segment) = rfm.segment {
            any = false;
            query = query
                .filter(customers::id.eq_any(scored.filter(customer_rfm::segment.eq(segment))));
        }
        if narrow(rfm.recency) {
            any = false;
            let (low, high) = rfm.recency;
            query = query.filter(
                customers::id.eq_any(scored.filter(customer_rfm::recency_score.between(low, high))),
            );
        }
        if narrow(rfm.frequency) {
            any = false;
            let (low, high) = rfm.frequency;
            query = query.filter(
                customers::id
                    .eq_any(scored.filter(customer_rfm::frequency_score.between(low, high))),
            );
        }
        if narrow(rfm.monetary) {
            any = false;
            let (low, high) = rfm.monetary;
            query = query.filter(
                customers::id
                    .eq_any(scored.filter(customer_rfm::monetary_score.between(low, high))),
            );
        }
        if any {
            query = query.filter(customers::id.eq_any(scored));
        }
    }
    if let Some(assignee) = filter.ticket_assignee {
        use crate::schema::tickets;
        let theirs = tickets::table
            .filter(tickets::shop_id.eq(filter.shop_id))
            .filter(tickets::assignee_id.eq(assignee))
            .select(tickets::customer_id);
        query = query.filter(customers::id.eq_any(theirs));
    }
    match filter.birthday_ranges.as_slice() {
        [] => {}
        [(from, to)] => query = query.filter(customers::birthday_mmdd.between(*from, *to)),
        [(from1, to1), (from2, to2), ..] => {
            query = query.filter(
                customers::birthday_mmdd
                    .between(*from1, *to1)
                    .or(customers::birthday_mmdd.between(*from2, *to2)),
            )
        }
    }
    query
}

/// The ranked ways of a search: leading (exact and prefix) first, then the others.
fn ranked_ways(
    shop_id: ShopId,
    terms: &Terms,
    archived: bool,
) -> Vec<(Rank, Vec<Box<dyn Matcher>>)> {
    let boxed = |ways: Vec<CustomerMatch>| -> Vec<Box<dyn Matcher>> {
        ways.into_iter()
            .map(|way| Box::new(way.of(shop_id)) as Box<dyn Matcher>)
            .collect()
    };
    vec![
        (
            Rank::Leading,
            boxed(CustomerMatch::leading(terms, archived)),
        ),
        (Rank::Inside, boxed(CustomerMatch::inside(terms))),
    ]
}

/// A page of a search (`filter.search` set): leading matches first, then the others,
/// newest first within each; every other filter of the list holds.
pub fn search(
    conn: &mut DbConnection,
    filter: &CustomerFilter,
    cursor: Option<(Rank, i64)>,
    limit: i64,
) -> Result<Vec<(Rank, Customer)>, ApiError> {
    let Some(terms) = filter.search.clone() else {
        return Ok(Vec::new());
    };
    let plain = CustomerFilter {
        search: None,
        ..filter.clone()
    };
    let ranks = ranked_ways(filter.shop_id, &terms, filter.archived);
    let mut keep = |conn: &mut DbConnection, batch: &[i64]| {
        Ok(filtered(&plain)
            .filter(customers::id.eq_any(batch.to_vec()))
            .select(customers::id)
            .load(conn)?
            .into_iter()
            .collect())
    };
    let page = search_store::ranked_page(
        conn,
        ranks,
        &mut keep,
        cursor,
        usize::try_from(limit).unwrap_or(0),
    )?;
    let ids = search_store::page_ids(&page);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Customer> = customers::table
        .filter(customers::id.eq_any(ids))
        .select(Customer::as_select())
        .load(conn)?;
    Ok(search_store::in_page_order(page, rows, |row| row.id))
}

/// Where a page starts: the sort key of the last customer served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CustomerCursor {
    Id(i64),
    Name(String, i64),
    /// A search page: the rank and id of the last match served.
    Ranked {
        rank: Rank,
        id: i64,
    },
}

impl CustomerCursor {
    pub fn of(sort: CustomerSort, customer: &Customer) -> CustomerCursor {
        match sort {
            CustomerSort::Newest | CustomerSort::Oldest => CustomerCursor::Id(customer.id),
            CustomerSort::Name => CustomerCursor::Name(customer.name_key.clone(), customer.id),
        }
    }
}

/// Up to `limit` customers after `cursor` in `sort` order.
pub fn list(
    conn: &mut DbConnection,
    filter: &CustomerFilter,
    sort: CustomerSort,
    cursor: Option<CustomerCursor>,
    limit: i64,
) -> Result<Vec<Customer>, ApiError> {
    let mut query = filtered(filter).select(Customer::as_select()).limit(limit);
    query = match sort {
        CustomerSort::Newest => query.order(customers::id.desc()),
        CustomerSort::Oldest => query.order(customers::id.asc()),
        CustomerSort::Name => query.order((customers::name_key.asc(), customers::id.asc())),
    };
    query = match (sort, cursor) {
        (_, None) => query,
        (CustomerSort::Newest, Some(CustomerCursor::Id(id))) => query.filter(customers::id.lt(id)),
        (CustomerSort::Oldest, Some(CustomerCursor::Id(id))) => query.filter(customers::id.gt(id)),
        (CustomerSort::Name, Some(CustomerCursor::Name(key, id))) => query.filter(
            customers::name_key
                .gt(key.clone())
                .or(customers::name_key.eq(key).and(customers::id.gt(id))),
        ),
        _ => {
            return Err(ApiError::field(
                "cursor",
                "belongs to a list with another sort",
            ));
        }
    };
    Ok(query.load(conn)?)
}

pub fn count(conn: &mut DbConnection, filter: &CustomerFilter) -> Result<i64, ApiError> {
    Ok(filtered(filter).count().get_result(conn)?)
}

/// Stamps the customer's last contact (a contact attempt on one of their tickets).
pub fn touch_last_contacted(
    conn: &mut DbConnection,
    customer_id: i64,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(customers::table.find(customer_id))
        .set(customers::last_contacted_at.eq(at))
        .execute(conn)?;
    Ok(())
}
