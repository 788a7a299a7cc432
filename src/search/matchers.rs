//! What a search matches, one variant per way it can match, each stated once in three
//! forms that must agree: a walk newest first (a ranked page), a test of a batch of ids
//! (is this candidate already a leading match?), and, for customers, a condition (lists
//! that are not ranked: counts, exports).
//!
//! Tickets found through their customer ("the buyer whose number ends in 8000") read the
//! matching customers first. A few are looked up by the tickets' customer index; many are
//! dense among tickets, so walking tickets newest first meets a page of them soon. A
//! sub-select in the ticket walk would make the planner walk every ticket when it is
//! small (SQLite: 165-545 ms at 1,000,000 tickets).

use std::collections::HashSet;

use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::{Terms, buyer_query_grams, tail_gram};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::schema::{
    customer_contacts, customer_search_grams, customers, orders, ticket_search_grams, tickets,
};

/// More matching customers than this are "many": their tickets are walked, not looked up.
pub const FEW_CUSTOMERS: i64 = 2_000;

/// The first ticket chunk of a dense walk; each next chunk doubles, up to `MAX_CHUNK`.
const FIRST_CHUNK: i64 = 256;
const MAX_CHUNK: i64 = 8_192;

/// One way a search matches rows of one table (customers or tickets).
pub trait Matcher {
    /// The ids of the first `n` matches below `after`, newest first: bounded index work.
    fn walk(
        &mut self,
        conn: &mut DbConnection,
        after: Option<i64>,
        n: i64,
    ) -> Result<Vec<i64>, ApiError>;

    /// Which of `ids` match.
    fn holds(&self, conn: &mut DbConnection, ids: &[i64]) -> Result<HashSet<i64>, ApiError>;
}

/// The ways a customer matches a search.
#[derive(Debug, Clone)]
pub enum CustomerMatch {
    /// The name (as keyed) starts with the key; live or archived customers, as the list shows.
    NamePrefix { key: String, archived: bool },
    /// The name starts with one or two characters (a surname: thousands of matches), by
    /// the start gram (`^王`), walked newest first instead of a range to sort.
    NameStart(String),
    /// A handle (phone, WeChat ID, shop account) starts with the key.
    HandlePrefix(String),
    /// One of the customer's orders has this external order number.
    OrderNo(String),
    /// One of the customer's tickets is about this review.
    ReviewId(String),
    /// The name or nickname holds every gram (non-empty).
    Grams(Vec<String>),
    /// A phone ends in the digits whose reversal this is.
    PhoneTail(String),
}

/// Customers of a shop matching one way.
#[derive(Debug, Clone)]
pub struct MatchCustomers {
    pub shop_id: ShopId,
    pub by: CustomerMatch,
}

type CustomerCondition = Box<dyn BoxableExpression<customers::table, MultiBackend, SqlType = Bool>>;

impl CustomerMatch {
    /// The leading ways (exact and prefix) of `terms`, for a list of live or archived customers.
    pub fn leading(terms: &Terms, archived: bool) -> Vec<CustomerMatch> {
        let by_name = match &terms.start {
            Some(start) if !archived => CustomerMatch::NameStart(start.clone()),
            _ => CustomerMatch::NamePrefix {
                key: terms.name_key.clone(),
                archived,
            },
        };
        vec![
            by_name,
            CustomerMatch::HandlePrefix(terms.handle_key.clone()),
            CustomerMatch::OrderNo(terms.exact.clone()),
            CustomerMatch::ReviewId(terms.exact.clone()),
        ]
    }

    /// The other ways: inside a name or nickname, the tail of a phone.
    pub fn inside(terms: &Terms) -> Vec<CustomerMatch> {
        let mut ways = Vec::new();
        if !terms.grams.is_empty() {
            ways.push(CustomerMatch::Grams(terms.grams.clone()));
        }
        if let Some(tail) = &terms.tail {
            ways.push(CustomerMatch::PhoneTail(tail.clone()));
        }
        ways
    }

    pub fn of(self, shop_id: ShopId) -> MatchCustomers {
        MatchCustomers { shop_id, by: self }
    }
}

impl MatchCustomers {
    /// The same match as a condition on customer rows, for lists that take every match at
    /// once (counts, exports): a sub-select the planner reads once and drives from.
    pub fn condition(&self) -> CustomerCondition {
        let shop_id = self.shop_id;
        match &self.by {
            CustomerMatch::NamePrefix { key, .. } => Box::new(
                customers::name_key
                    .ge(key.clone())
                    .and(customers::name_key.lt(Terms::prefix_end(key))),
            ),
            CustomerMatch::NameStart(start) => has_gram(shop_id, start.clone()),
            CustomerMatch::HandlePrefix(key) => Box::new(
                customers::id.eq_any(
                    customer_contacts::table
                        .filter(customer_contacts::shop_id.eq(shop_id))
                        .filter(customer_contacts::value.ge(key.clone()))
                        .filter(customer_contacts::value.lt(Terms::prefix_end(key)))
                        .select(customer_contacts::customer_id),
                ),
            ),
            CustomerMatch::OrderNo(no) => Box::new(
                customers::id.eq_any(
                    orders::table
                        .filter(orders::shop_id.eq(shop_id))
                        .filter(orders::external_order_no.eq(no.clone()))
                        .select(orders::customer_id),
                ),
            ),
            CustomerMatch::ReviewId(review) => Box::new(
                customers::id.eq_any(
                    tickets::table
                        .filter(tickets::shop_id.eq(shop_id))
                        .filter(tickets::review_external_id.eq(review.clone()))
                        .select(tickets::customer_id),
                ),
            ),
            CustomerMatch::Grams(grams) => {
                let mut all = has_gram(shop_id, grams[0].clone());
                for gram in &grams[1..] {
                    all = Box::new(all.and(has_gram(shop_id, gram.clone())));
                }
                all
            }
            CustomerMatch::PhoneTail(tail) => Box::new(
                customers::id.eq_any(
                    customer_contacts::table
                        .filter(customer_contacts::shop_id.eq(shop_id))
                        .filter(customer_contacts::tail_key.ge(tail.clone()))
                        .filter(customer_contacts::tail_key.lt(Terms::prefix_end(tail)))
                        .select(customer_contacts::customer_id),
                ),
            ),
        }
    }

    /// Any of `ways` as one condition (`ways` non-empty).
    pub fn any(shop_id: ShopId, ways: Vec<CustomerMatch>) -> CustomerCondition {
        let mut conditions = ways.into_iter().map(|by| by.of(shop_id).condition());
        let first = conditions.next().expect("at least one way to match");
        conditions.fold(first, |any, next| Box::new(any.or(next)))
    }
}

/// The customer's name or nickname holds `gram`.
fn has_gram(shop_id: ShopId, gram: String) -> CustomerCondition {
    Box::new(
        customers::id.eq_any(
            customer_search_grams::table
                .filter(customer_search_grams::shop_id.eq(shop_id))
                .filter(customer_search_grams::gram.eq(gram))
                .select(customer_search_grams::customer_id),
        ),
    )
}

/// Customers holding every gram, newest first below `after` (`grams` non-empty).
fn customers_with_grams(
    conn: &mut DbConnection,
    shop_id: ShopId,
    grams: &[String],
    after: Option<i64>,
    n: i64,
) -> Result<Vec<i64>, ApiError> {
    let also = diesel::alias!(customer_search_grams as also);
    let mut query = customer_search_grams::table
        .filter(customer_search_grams::shop_id.eq(shop_id))
        .filter(customer_search_grams::gram.eq(grams[0].clone()))
        .select(customer_search_grams::customer_id)
        .order(customer_search_grams::customer_id.desc())
        .limit(n)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(customer_search_grams::customer_id.lt(after));
    }
    for gram in &grams[1..] {
        query = query.filter(
            customer_search_grams::customer_id.eq_any(
                also.filter(also.field(customer_search_grams::shop_id).eq(shop_id))
                    .filter(also.field(customer_search_grams::gram).eq(gram.clone()))
                    .select(also.field(customer_search_grams::customer_id)),
            ),
        );
    }
    Ok(query.load(conn)?)
}

/// Which of `ids` hold every gram: one look-up per gram (`holding`: which of these ids
/// hold this gram), each bounded by the ids still held.
fn holding_every_gram(
    conn: &mut DbConnection,
    grams: &[String],
    ids: &[i64],
    holding: impl Fn(&mut DbConnection, &str, Vec<i64>) -> Result<Vec<i64>, ApiError>,
) -> Result<HashSet<i64>, ApiError> {
    let mut held: HashSet<i64> = ids.iter().copied().collect();
    for gram in grams {
        if held.is_empty() {
            break;
        }
        held = holding(conn, gram, held.into_iter().collect())?
            .into_iter()
            .collect();
    }
    Ok(held)
}

fn customers_holding_grams(
    conn: &mut DbConnection,
    shop_id: ShopId,
    grams: &[String],
    ids: &[i64],
) -> Result<HashSet<i64>, ApiError> {
    holding_every_gram(conn, grams, ids, |conn, gram, ids| {
        Ok(customer_search_grams::table
            .filter(customer_search_grams::shop_id.eq(shop_id))
            .filter(customer_search_grams::gram.eq(gram.to_owned()))
            .filter(customer_search_grams::customer_id.eq_any(ids))
            .select(customer_search_grams::customer_id)
            .load(conn)?)
    })
}

impl Matcher for MatchCustomers {
    fn walk(
        &mut self,
        conn: &mut DbConnection,
        after: Option<i64>,
        n: i64,
    ) -> Result<Vec<i64>, ApiError> {
        let shop_id = self.shop_id;
        let below = after.unwrap_or(i64::MAX);
        Ok(match &self.by {
            CustomerMatch::NamePrefix { key, archived } => {
                let query = customers::table
                    .filter(customers::shop_id.eq(shop_id))
                    .filter(customers::name_key.ge(key.clone()))
                    .filter(customers::name_key.lt(Terms::prefix_end(key)))
                    .filter(customers::id.lt(below))
                    .select(customers::id)
                    .order(customers::id.desc())
                    .limit(n)
                    .into_boxed();
                // Stated literally (not `(archived_at IS NULL) = ?`) so that SQLite uses
                // the partial name index.
                if *archived {
                    query
                        .filter(customers::archived_at.is_not_null())
                        .load(conn)?
                } else {
                    query.filter(customers::archived_at.is_null()).load(conn)?
                }
            }
            CustomerMatch::NameStart(start) => {
                customers_with_grams(conn, shop_id, std::slice::from_ref(start), after, n)?
            }
            CustomerMatch::Grams(grams) => customers_with_grams(conn, shop_id, grams, after, n)?,
            CustomerMatch::HandlePrefix(key) => customer_contacts::table
                .filter(customer_contacts::shop_id.eq(shop_id))
                .filter(customer_contacts::value.ge(key.clone()))
                .filter(customer_contacts::value.lt(Terms::prefix_end(key)))
                .filter(customer_contacts::customer_id.lt(below))
                .select(customer_contacts::customer_id)
                .order(customer_contacts::customer_id.desc())
                .limit(n)
                .load(conn)?,
            CustomerMatch::PhoneTail(tail) => customer_contacts::table
                .filter(customer_contacts::shop_id.eq(shop_id))
                .filter(customer_contacts::tail_key.ge(tail.clone()))
                .filter(customer_contacts::tail_key.lt(Terms::prefix_end(tail)))
                .filter(customer_contacts::customer_id.lt(below))
                .select(customer_contacts::customer_id)
                .order(customer_contacts::customer_id.desc())
                .limit(n)
                .load(conn)?,
            CustomerMatch::OrderNo(no) => orders::table
                .filter(orders::shop_id.eq(shop_id))
                .filter(orders::external_order_no.eq(no.clone()))
                .filter(orders::customer_id.lt(below))
                .select(orders::customer_id)
                .order(orders::customer_id.desc())
                .limit(n)
                .load(conn)?,
            CustomerMatch::ReviewId(review) => tickets::table
                .filter(tickets::shop_id.eq(shop_id))
                .filter(tickets::review_external_id.eq(review.clone()))
                .filter(tickets::customer_id.lt(below))
                .select(tickets::customer_id)
                .order(tickets::customer_id.desc())
                .limit(n)
                .load(conn)?,
        })
    }

    fn holds(&self, conn: &mut DbConnection, ids: &[i64]) -> Result<HashSet<i64>, ApiError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let shop_id = self.shop_id;
        let ids = ids.to_vec();
        let held: Vec<i64> = match &self.by {
            CustomerMatch::NamePrefix { key, .. } => customers::table
                .filter(customers::id.eq_any(ids))
                .filter(customers::name_key.ge(key.clone()))
                .filter(customers::name_key.lt(Terms::prefix_end(key)))
                .select(customers::id)
                .load(conn)?,
            CustomerMatch::NameStart(start) => {
                return customers_holding_grams(conn, shop_id, std::slice::from_ref(start), &ids);
            }
            CustomerMatch::Grams(grams) => {
                return customers_holding_grams(conn, shop_id, grams, &ids);
            }
            CustomerMatch::HandlePrefix(key) => customer_contacts::table
                .filter(customer_contacts::customer_id.eq_any(ids))
                .filter(customer_contacts::value.ge(key.clone()))
                .filter(customer_contacts::value.lt(Terms::prefix_end(key)))
                .select(customer_contacts::customer_id)
                .load(conn)?,
            CustomerMatch::PhoneTail(tail) => customer_contacts::table
                .filter(customer_contacts::customer_id.eq_any(ids))
                .filter(customer_contacts::tail_key.ge(tail.clone()))
                .filter(customer_contacts::tail_key.lt(Terms::prefix_end(tail)))
                .select(customer_contacts::customer_id)
                .load(conn)?,
            CustomerMatch::OrderNo(no) => orders::table
                .filter(orders::shop_id.eq(shop_id))
                .filter(orders::external_order_no.eq(no.clone()))
                .filter(orders::customer_id.eq_any(ids))
                .select(orders::customer_id)
                .load(conn)?,
            CustomerMatch::ReviewId(review) => tickets::table
                .filter(tickets::shop_id.eq(shop_id))
                .filter(tickets::review_external_id.eq(review.clone()))
                .filter(tickets::customer_id.eq_any(ids))
                .select(tickets::customer_id)
                .load(conn)?,
        };
        Ok(held.into_iter().collect())
    }
}

/// The ways a ticket matches a search.
#[derive(Debug, Clone)]
pub enum TicketMatch {
    /// The ticket is about this review.
    ReviewId(String),
    /// The ticket's order has this external order number.
    OrderNo(String),
    /// The ticket's gram list holds every gram: its own text's (title, description,
    /// review, notes...), or its buyer's name and nickname (`@`-marked) or name start (`^`).
    Grams(Vec<String>),
    /// The buyer's phone ends in the digits whose reversal this is (by the tail gram).
    PhoneTail(String),
    /// The ticket's customer matches (a name or handle prefix: few buyers, or dense).
    OfCustomers(CustomerMatch),
}

impl TicketMatch {
    /// The leading ways: the review id or order number quoted exactly, the buyer's name or
    /// handle starting with the query.
    pub fn leading(terms: &Terms) -> Vec<TicketMatch> {
        let by_name = match &terms.start {
            Some(start) => TicketMatch::Grams(vec![start.clone()]),
            None => TicketMatch::OfCustomers(CustomerMatch::NamePrefix {
                key: terms.name_key.clone(),
                archived: false,
            }),
        };
        vec![
            TicketMatch::ReviewId(terms.exact.clone()),
            TicketMatch::OrderNo(terms.exact.clone()),
            TicketMatch::OfCustomers(CustomerMatch::HandlePrefix(terms.handle_key.clone())),
            by_name,
        ]
    }

    /// The other ways: words of the ticket's text, the buyer matched inside a name or
    /// nickname or by a phone's tail; each one gram walk.
    pub fn inside(terms: &Terms) -> Vec<TicketMatch> {
        let mut ways = Vec::new();
        if !terms.grams.is_empty() {
            ways.push(TicketMatch::Grams(terms.grams.clone()));
            ways.push(TicketMatch::Grams(buyer_query_grams(&terms.grams)));
        }
        if let Some(tail) = &terms.tail {
            ways.push(TicketMatch::PhoneTail(tail.clone()));
        }
        ways
    }

    pub fn of(self, shop_id: ShopId) -> MatchTickets {
        MatchTickets {
            shop_id,
            by: self,
            few_customers: FEW_CUSTOMERS,
            customers: None,
        }
    }
}

/// How the tickets of matching customers are found, decided on the first walk.
#[derive(Debug, Clone)]
enum CustomerSet {
    /// At most `FEW_CUSTOMERS`: their tickets are looked up by the customer index.
    Few(Vec<i64>),
    /// More: tickets are walked newest first and their customers tested.
    Many,
}

/// Tickets of a shop matching one way.
#[derive(Debug, Clone)]
pub struct MatchTickets {
    shop_id: ShopId,
    by: TicketMatch,
    /// Up to this many matching customers have their tickets looked up.
    few_customers: i64,
    customers: Option<CustomerSet>,
}

impl MatchTickets {
    /// Another bound between "few" and "many" customers (tests walk both ways on a small shop).
    pub fn with_few_customers(mut self, few: i64) -> MatchTickets {
        self.few_customers = few;
        self
    }
}

/// Which of `rows` (ticket id, customer id) have a customer in `held`, in order, at most `n`.
fn of_held(rows: &[(i64, i64)], held: &HashSet<i64>, n: usize) -> Vec<i64> {
    rows.iter()
        .filter(|(_, customer)| held.contains(customer))
        .map(|(id, _)| *id)
        .take(n)
        .collect()
}

impl Matcher for MatchTickets {
    fn walk(
        &mut self,
        conn: &mut DbConnection,
        after: Option<i64>,
        n: i64,
    ) -> Result<Vec<i64>, ApiError> {
        let shop_id = self.shop_id;
        let below = after.unwrap_or(i64::MAX);
        let newest_first = tickets::table
            .filter(tickets::shop_id.eq(shop_id))
            .filter(tickets::id.lt(below))
            .select(tickets::id)
            .order(tickets::id.desc())
            .limit(n)
            .into_boxed();
        Ok(match &self.by {
            TicketMatch::ReviewId(review) => newest_first
                .filter(tickets::review_external_id.eq(review.clone()))
                .load(conn)?,
            TicketMatch::OrderNo(no) => {
                // An order number names one order (or a few across imports).
                let order_ids: Vec<Option<i64>> = orders::table
                    .filter(orders::shop_id.eq(shop_id))
                    .filter(orders::external_order_no.eq(no.clone()))
                    .select(orders::id.nullable())
                    .limit(FEW_CUSTOMERS)
                    .load(conn)?;
                if order_ids.is_empty() {
                    return Ok(Vec::new());
                }
                // An order has a few tickets: read them all by `tickets_order_idx` and sort
                // here. With `ORDER BY id DESC LIMIT n` SQLite walks every ticket by id
                // instead (322 ms at 1,000,000 tickets), since most tickets name no order.
                let mut ids: Vec<i64> = tickets::table
                    .filter(tickets::shop_id.eq(shop_id))
                    .filter(tickets::id.lt(below))
                    .filter(tickets::order_id.eq_any(order_ids))
                    .select(tickets::id)
                    .load(conn)?;
                ids.sort_unstable_by(|a, b| b.cmp(a));
                ids.truncate(usize::try_from(n).unwrap_or(usize::MAX));
                ids
            }
            TicketMatch::Grams(grams) => tickets_with_grams(conn, shop_id, grams, below, n)?,
            TicketMatch::PhoneTail(tail) => {
                let (gram, whole) = tail_gram(tail);
                let grams = std::slice::from_ref(&gram);
                if whole {
                    tickets_with_grams(conn, shop_id, grams, below, n)?
                } else {
                    // Every ticket of the 7-digit tail (a handful), then the whole tail.
                    let candidates = tickets_with_grams(conn, shop_id, grams, below, i64::MAX)?;
                    let held = self.holds(conn, &candidates)?;
                    candidates
                        .into_iter()
                        .filter(|id| held.contains(id))
                        .take(usize::try_from(n).unwrap_or(usize::MAX))
                        .collect()
                }
            }
            TicketMatch::OfCustomers(way) => {
                let customers = way.clone().of(shop_id);
                let set = match self.customers.take() {
                    Some(set) => set,
                    None => {
                        let mut first = customers.clone();
                        let ids = first.walk(conn, None, self.few_customers + 1)?;
                        if ids.len() as i64 > self.few_customers {
                            CustomerSet::Many
                        } else {
                            CustomerSet::Few(ids)
                        }
                    }
                };
                let found = match &set {
                    CustomerSet::Few(ids) if ids.is_empty() => Vec::new(),
                    CustomerSet::Few(ids) => newest_first
                        .filter(tickets::customer_id.eq_any(ids.clone()))
                        .load(conn)?,
                    CustomerSet::Many => dense_walk(conn, shop_id, &customers, below, n)?,
                };
                self.customers = Some(set);
                found
            }
        })
    }

    fn holds(&self, conn: &mut DbConnection, ids: &[i64]) -> Result<HashSet<i64>, ApiError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let shop_id = self.shop_id;
        let ids = ids.to_vec();
        let of_batch = tickets::table
            .filter(tickets::shop_id.eq(shop_id))
            .filter(tickets::id.eq_any(ids.clone()))
            .into_boxed();
        let held: Vec<i64> = match &self.by {
            TicketMatch::ReviewId(review) => of_batch
                .filter(tickets::review_external_id.eq(review.clone()))
                .select(tickets::id)
                .load(conn)?,
            TicketMatch::OrderNo(no) => of_batch
                .filter(
                    tickets::order_id.eq_any(
                        orders::table
                            .filter(orders::shop_id.eq(shop_id))
                            .filter(orders::external_order_no.eq(no.clone()))
                            .select(orders::id.nullable()),
                    ),
                )
                .select(tickets::id)
                .load(conn)?,
            TicketMatch::Grams(grams) => {
                return tickets_holding_grams(conn, shop_id, grams, &ids);
            }
            TicketMatch::PhoneTail(tail) => {
                let (gram, whole) = tail_gram(tail);
                let with_gram = tickets_holding_grams(conn, shop_id, &[gram], &ids)?;
                if whole || with_gram.is_empty() {
                    return Ok(with_gram);
                }
                let rows: Vec<(i64, i64)> = tickets::table
                    .filter(tickets::id.eq_any(with_gram.into_iter().collect::<Vec<_>>()))
                    .select((tickets::id, tickets::customer_id))
                    .load(conn)?;
                let customer_ids: Vec<i64> = rows.iter().map(|(_, c)| *c).collect();
                let held = CustomerMatch::PhoneTail(tail.clone())
                    .of(shop_id)
                    .holds(conn, &customer_ids)?;
                of_held(&rows, &held, rows.len())
            }
            TicketMatch::OfCustomers(way) => {
                let rows: Vec<(i64, i64)> = of_batch
                    .select((tickets::id, tickets::customer_id))
                    .load(conn)?;
                let customer_ids: Vec<i64> = rows.iter().map(|(_, c)| *c).collect();
                let held = way.clone().of(shop_id).holds(conn, &customer_ids)?;
                of_held(&rows, &held, rows.len())
            }
        };
        Ok(held.into_iter().collect())
    }
}

/// Tickets holding every gram, newest first below `below` (`grams` non-empty): the first
/// gram's list walked in ticket order, the others tested by the primary key.
fn tickets_with_grams(
    conn: &mut DbConnection,
    shop_id: ShopId,
    grams: &[String],
    below: i64,
    n: i64,
) -> Result<Vec<i64>, ApiError> {
    let also = diesel::alias!(ticket_search_grams as also);
    let mut query = ticket_search_grams::table
        .filter(ticket_search_grams::shop_id.eq(shop_id))
        .filter(ticket_search_grams::gram.eq(grams[0].clone()))
        .filter(ticket_search_grams::ticket_id.lt(below))
        .select(ticket_search_grams::ticket_id)
        .order(ticket_search_grams::ticket_id.desc())
        .limit(n)
        .into_boxed();
    for gram in &grams[1..] {
        query = query.filter(
            ticket_search_grams::ticket_id.eq_any(
                also.filter(also.field(ticket_search_grams::shop_id).eq(shop_id))
                    .filter(also.field(ticket_search_grams::gram).eq(gram.clone()))
                    .filter(also.field(ticket_search_grams::ticket_id).lt(below))
                    .select(also.field(ticket_search_grams::ticket_id)),
            ),
        );
    }
    Ok(query.load(conn)?)
}

fn tickets_holding_grams(
    conn: &mut DbConnection,
    shop_id: ShopId,
    grams: &[String],
    ids: &[i64],
) -> Result<HashSet<i64>, ApiError> {
    holding_every_gram(conn, grams, ids, |conn, gram, ids| {
        Ok(ticket_search_grams::table
            .filter(ticket_search_grams::shop_id.eq(shop_id))
            .filter(ticket_search_grams::gram.eq(gram.to_owned()))
            .filter(ticket_search_grams::ticket_id.eq_any(ids))
            .select(ticket_search_grams::ticket_id)
            .load(conn)?)
    })
}

/// Tickets of many matching customers, newest first: chunks of tickets (doubling while
/// matches are sparse), their customers tested in one look-up per chunk.
fn dense_walk(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customers: &MatchCustomers,
    mut below: i64,
    n: i64,
) -> Result<Vec<i64>, ApiError> {
    let mut found = Vec::new();
    let mut chunk = FIRST_CHUNK;
    loop {
        let rows: Vec<(i64, i64)> = tickets::table
            .filter(tickets::shop_id.eq(shop_id))
            .filter(tickets::id.lt(below))
            .select((tickets::id, tickets::customer_id))
            .order(tickets::id.desc())
            .limit(chunk)
            .load(conn)?;
        let Some(&(last, _)) = rows.last() else {
            break;
        };
        let mut customer_ids: Vec<i64> = rows.iter().map(|(_, c)| *c).collect();
        customer_ids.sort_unstable();
        customer_ids.dedup();
        let held = customers.holds(conn, &customer_ids)?;
        let wanted = usize::try_from(n).unwrap_or(0) - found.len();
        found.extend(of_held(&rows, &held, wanted));
        if found.len() as i64 >= n || (rows.len() as i64) < chunk {
            break;
        }
        below = last;
        chunk = (chunk * 2).min(MAX_CHUNK);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_of_held_customers_keep_their_order_and_stop_at_n() {
        let rows = [(9, 1), (8, 2), (7, 1), (6, 3), (5, 1)];
        let held: HashSet<i64> = [1].into_iter().collect();
        assert_eq!(of_held(&rows, &held, 10), vec![9, 7, 5]);
        assert_eq!(of_held(&rows, &held, 2), vec![9, 7]);
        assert!(of_held(&rows, &HashSet::new(), 10).is_empty());
    }

    #[test]
    fn leading_and_inside_ways_follow_the_terms() {
        let terms = Terms::new("王", "王".into(), "王".into());
        let leading = TicketMatch::leading(&terms);
        assert!(matches!(
            &leading[3],
            TicketMatch::Grams(grams) if grams == &["^王"]
        ));
        assert!(matches!(
            TicketMatch::inside(&terms).as_slice(),
            [TicketMatch::Grams(own), TicketMatch::Grams(buyer)]
                if own == &["王"] && buyer == &["@王"]
        ));
        // An archived list has no start grams to walk: its names are a prefix range.
        assert!(matches!(
            &CustomerMatch::leading(&terms, true)[0],
            CustomerMatch::NamePrefix { archived: true, .. }
        ));
        let tail = Terms::new("8000", "8000".into(), "8000".into());
        assert!(matches!(
            CustomerMatch::inside(&tail).as_slice(),
            [CustomerMatch::PhoneTail(t)] if t == "0008"
        ));
        assert!(matches!(
            TicketMatch::inside(&tail).as_slice(),
            [TicketMatch::PhoneTail(t)] if t == "0008"
        ));
    }
}
