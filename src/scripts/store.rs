//! All SQL of call scripts, and the one read that gathers what a ticket's templates are
//! filled in with (its customer, order, product and the reader's name).

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::rules;
use super::{CallScript, NewCallScript, Situation};
use crate::db::{DbConnection, raw_sql};
use crate::error::ApiError;
use crate::ids::ShopId;
use crate::schema::call_scripts;
use crate::tickets::{State, TicketKind};

pub fn get(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<CallScript, ApiError> {
    call_scripts::table
        .filter(call_scripts::shop_id.eq(shop_id))
        .find(id)
        .select(CallScript::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("call script"))
}

/// Which scripts a list shows.
#[derive(Debug, Clone, Default)]
pub struct ScriptFilter {
    /// Scripts that apply to tickets of this kind: its own and kind-less ones.
    pub kind: Option<TicketKind>,
    pub situation: Option<Situation>,
    pub active: Option<bool>,
}

/// The shop's scripts matching `filter`, in list order (at most
/// [`super::MAX_SCRIPTS_PER_SHOP`], so sorted here rather than paged).
pub fn list(
    conn: &mut DbConnection,
    shop_id: ShopId,
    filter: &ScriptFilter,
) -> Result<Vec<CallScript>, ApiError> {
    let mut query = call_scripts::table
        .filter(call_scripts::shop_id.eq(shop_id))
        .select(CallScript::as_select())
        .into_boxed();
    if let Some(kind) = filter.kind {
        query = query.filter(
            call_scripts::ticket_kind
                .eq(kind)
                .or(call_scripts::ticket_kind.is_null()),
        );
    }
    if let Some(situation) = filter.situation {
        query = query.filter(call_scripts::situation.eq(situation));
    }
    if let Some(active) = filter.active {
        query = query.filter(call_scripts::active.eq(active));
    }
    let mut scripts: Vec<CallScript> = query.load(conn)?;
    scripts.sort_by(rules::list_order);
    Ok(scripts)
}

/// The active scripts a ticket of `kind` offers (its kind's and kind-less ones), unsorted.
pub fn active_for_kind(
    conn: &mut DbConnection,
    shop_id: ShopId,
    kind: TicketKind,
) -> Result<Vec<CallScript>, ApiError> {
    list(
        conn,
        shop_id,
        &ScriptFilter {
            kind: Some(kind),
            situation: None,
            active: Some(true),
        },
    )
}

pub fn count(conn: &mut DbConnection, shop_id: ShopId) -> Result<i64, ApiError> {
    Ok(call_scripts::table
        .filter(call_scripts::shop_id.eq(shop_id))
        .count()
        .get_result(conn)?)
}

/// Makes the rest of the caller's write transaction the only one adding scripts to the
/// shop, so that two leads saving at once cannot both pass the per-shop limit: PostgreSQL
/// locks the shop's row; on SQLite the write transaction already excludes other writers.
pub fn lock_shop(conn: &mut DbConnection, shop_id: ShopId) -> Result<(), ApiError> {
    let DbConnection::Pg(pg) = conn else {
        return Ok(());
    };
    diesel::sql_query("SELECT id FROM shops WHERE id = $1 FOR UPDATE")
        .bind::<BigInt, _>(shop_id.0)
        .execute(pg)?;
    Ok(())
}

pub fn insert(conn: &mut DbConnection, new: &NewCallScript<'_>) -> Result<CallScript, ApiError> {
    Ok(diesel::insert_into(call_scripts::table)
        .values(new)
        .returning(call_scripts::all_columns)
        .get_result(conn)?)
}

/// Writes every editable column of `after` and stamps `updated_at`.
pub fn save(conn: &mut DbConnection, after: &CallScript) -> Result<CallScript, ApiError> {
    Ok(diesel::update(
        call_scripts::table
            .filter(call_scripts::shop_id.eq(after.shop_id))
            .find(after.id),
    )
    .set((
        call_scripts::ticket_kind.eq(after.ticket_kind),
        call_scripts::situation.eq(after.situation),
        call_scripts::title.eq(&after.title),
        call_scripts::body.eq(&after.body),
        call_scripts::active.eq(after.active),
        call_scripts::updated_at.eq(Utc::now().naive_utc()),
    ))
    .returning(call_scripts::all_columns)
    .get_result(conn)?)
}

pub fn delete(conn: &mut DbConnection, script: &CallScript) -> Result<(), ApiError> {
    diesel::delete(
        call_scripts::table
            .filter(call_scripts::shop_id.eq(script.shop_id))
            .find(script.id),
    )
    .execute(conn)?;
    Ok(())
}

/// A ticket as its templates need it: what the placeholders are filled in from.
#[derive(Debug, Clone, QueryableByName)]
pub struct TicketFacts {
    #[diesel(sql_type = Text)]
    pub kind: TicketKind,
    #[diesel(sql_type = Text)]
    pub state: State,
    /// The ticket's details as stored (JSON).
    #[diesel(sql_type = Text)]
    pub details: String,
    #[diesel(sql_type = Text)]
    pub customer_name: String,
    /// The linked order's external number.
    #[diesel(sql_type = Nullable<Text>)]
    pub order_no: Option<String>,
    /// The linked order's first item.
    #[diesel(sql_type = Nullable<Text>)]
    pub order_product: Option<String>,
    /// The reader's display name.
    #[diesel(sql_type = Nullable<Text>)]
    pub agent_name: Option<String>,
}

/// The ticket `ticket_id` of the shop with its customer's name, its order's number and
/// first item, and the display name of the staff member `reader_id`, in one statement;
/// 404 for a ticket of another shop.
pub fn ticket_facts(
    conn: &mut DbConnection,
    shop_id: ShopId,
    ticket_id: i64,
    reader_id: i64,
) -> Result<TicketFacts, ApiError> {
    let sql = "SELECT t.kind, t.state, t.details, c.name AS customer_name, \
                      o.external_order_no AS order_no, \
                      (SELECT i.product_name FROM order_items i WHERE i.order_id = t.order_id \
                        ORDER BY i.id LIMIT 1) AS order_product, \
                      (SELECT u.display_name FROM users u WHERE u.id = $3 AND u.shop_id = t.shop_id) \
                        AS agent_name \
               FROM tickets t \
               JOIN customers c ON c.id = t.customer_id \
               LEFT JOIN orders o ON o.id = t.order_id \
               WHERE t.shop_id = $1 AND t.id = $2";
    let backend = conn.backend();
    diesel::sql_query(raw_sql(backend, sql))
        .bind::<BigInt, _>(shop_id.0)
        .bind::<BigInt, _>(ticket_id)
        .bind::<BigInt, _>(reader_id)
        .get_result::<TicketFacts>(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("ticket"))
}
