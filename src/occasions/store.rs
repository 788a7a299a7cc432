//! All SQL of greeting occasions.

use chrono::{NaiveDate, Utc};
use diesel::prelude::*;

use super::{CreateOccasionRequest, Occasion, UpdateOccasionRequest};
use crate::db::DbConnection;
use crate::error::{ApiError, ProblemKind};
use crate::ids::ShopId;
use crate::schema::occasions;

/// A shop keeps at most this many occasions (a few dozen a year for decades).
pub const MAX_OCCASIONS: i64 = 2000;

pub fn get(conn: &mut DbConnection, shop_id: ShopId, id: i64) -> Result<Occasion, ApiError> {
    occasions::table
        .filter(occasions::shop_id.eq(shop_id))
        .find(id)
        .select(Occasion::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("occasion"))
}

/// The shop's occasions on the days `from` to `to` (included), by day then name.
pub fn between(
    conn: &mut DbConnection,
    shop_id: ShopId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Occasion>, ApiError> {
    Ok(occasions::table
        .filter(occasions::shop_id.eq(shop_id))
        .filter(occasions::day.ge(from))
        .filter(occasions::day.le(to))
        .order((occasions::day, occasions::name, occasions::id))
        .select(Occasion::as_select())
        .load(conn)?)
}

fn ensure_free(
    conn: &mut DbConnection,
    shop_id: ShopId,
    name: &str,
    day: NaiveDate,
    except: Option<i64>,
) -> Result<(), ApiError> {
    let taken = occasions::table
        .filter(occasions::shop_id.eq(shop_id))
        .filter(occasions::name.eq(name))
        .filter(occasions::day.eq(day))
        .select(occasions::id)
        .first::<i64>(conn)
        .optional()?;
    match taken {
        Some(id) if Some(id) != except => Err(ApiError::conflict(
            ProblemKind::Duplicate,
            format!("{name} on {day} is on the list already"),
        )),
        _ => Ok(()),
    }
}

pub fn insert(
    conn: &mut DbConnection,
    shop_id: ShopId,
    request: &CreateOccasionRequest,
) -> Result<Occasion, ApiError> {
    let name = request.name.trim();
    ensure_free(conn, shop_id, name, request.day, None)?;
    let held: i64 = occasions::table
        .filter(occasions::shop_id.eq(shop_id))
        .count()
        .get_result(conn)?;
    if held >= MAX_OCCASIONS {
        return Err(ApiError::field(
            "occasions",
            format!("a shop keeps at most {MAX_OCCASIONS} occasions; delete past ones first"),
        ));
    }
    let now = Utc::now().naive_utc();
    Ok(diesel::insert_into(occasions::table)
        .values((
            occasions::shop_id.eq(shop_id),
            occasions::name.eq(name),
            occasions::day.eq(request.day),
            occasions::created_at.eq(now),
            occasions::updated_at.eq(now),
        ))
        .returning(occasions::all_columns)
        .get_result(conn)?)
}

pub fn update(
    conn: &mut DbConnection,
    occasion: &Occasion,
    request: &UpdateOccasionRequest,
) -> Result<Occasion, ApiError> {
    let name = request
        .name
        .as_deref()
        .map(str::trim)
        .unwrap_or(&occasion.name);
    let day = request.day.unwrap_or(occasion.day);
    if name == occasion.name && day == occasion.day {
        return Ok(occasion.clone());
    }
    ensure_free(conn, occasion.shop_id, name, day, Some(occasion.id))?;
    Ok(diesel::update(occasions::table.find(occasion.id))
        .set((
            occasions::name.eq(name),
            occasions::day.eq(day),
            occasions::updated_at.eq(Utc::now().naive_utc()),
        ))
        .returning(occasions::all_columns)
        .get_result(conn)?)
}

pub fn delete(conn: &mut DbConnection, occasion: &Occasion) -> Result<(), ApiError> {
    diesel::delete(occasions::table.find(occasion.id)).execute(conn)?;
    Ok(())
}
