//! Every query of the webhooks feature: the outbox write other features make in their own
//! transactions, endpoints, the delivery history, and the worker's dispatch, claim and
//! record steps. The worker's claims are raw SQL because diesel cannot say
//! `FOR UPDATE SKIP LOCKED` inside an `UPDATE ... WHERE id IN (SELECT ...)`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use serde_json::Value;

use super::{
    Attempt, Claimed, DeliveryRow, DeliveryStatus, Endpoint, EventType, retry_delay, store_events,
};
use crate::db::{Backend, DbConnection, raw_sql};
use crate::error::ApiError;
use crate::ids::{DeliveryId, EndpointId, ShopId};
use crate::schema::{webhook_deliveries, webhook_endpoints, webhook_events};

/// Events one dispatch takes from the outbox.
pub const DISPATCH_BATCH: i64 = 200;

/// Writes an event to the outbox, in the caller's transaction.
pub fn emit(
    conn: &mut DbConnection,
    shop_id: ShopId,
    event: EventType,
    data: &Value,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::insert_into(webhook_events::table)
        .values((
            webhook_events::shop_id.eq(shop_id),
            webhook_events::event_type.eq(event),
            webhook_events::payload.eq(data.to_string()),
            webhook_events::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Writes many events of one type to the outbox in one statement, in the caller's
/// transaction (a full tier recomputation emits one per changed customer).
pub fn emit_many(
    conn: &mut DbConnection,
    shop_id: ShopId,
    event: EventType,
    data: &[Value],
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    if data.is_empty() {
        return Ok(());
    }
    let at = crate::db::sql_timestamp(conn.backend(), now);
    let kind = crate::db::sql_text(event.as_str());
    let rows: Vec<String> = data
        .iter()
        .map(|payload| {
            format!(
                "({}, {kind}, {}, {at})",
                shop_id.0,
                crate::db::sql_text(&payload.to_string())
            )
        })
        .collect();
    diesel::sql_query(format!(
        "INSERT INTO webhook_events (shop_id, event_type, payload, created_at) VALUES {}",
        rows.join(", ")
    ))
    .execute(conn)?;
    Ok(())
}

/// The shop's endpoints, oldest first.
pub fn list_endpoints(conn: &mut DbConnection, shop_id: ShopId) -> Result<Vec<Endpoint>, ApiError> {
    Ok(webhook_endpoints::table
        .filter(webhook_endpoints::shop_id.eq(shop_id))
        .select(Endpoint::as_select())
        .order(webhook_endpoints::id)
        .load(conn)?)
}

/// The endpoint `id` of `shop_id`, or 404: other shops' endpoints do not exist for the caller.
pub fn get_endpoint(
    conn: &mut DbConnection,
    shop_id: ShopId,
    id: i64,
) -> Result<Endpoint, ApiError> {
    webhook_endpoints::table
        .filter(webhook_endpoints::shop_id.eq(shop_id))
        .find(id)
        .select(Endpoint::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// What a new endpoint is registered with (trimmed by the store).
pub struct NewEndpoint<'a> {
    pub shop_id: ShopId,
    pub url: &'a str,
    pub events: &'a [EventType],
    pub secret: &'a str,
    pub description: &'a str,
    pub created_by: i64,
}

/// Registers an endpoint, active.
pub fn insert_endpoint(
    conn: &mut DbConnection,
    new: &NewEndpoint<'_>,
    now: NaiveDateTime,
) -> Result<Endpoint, ApiError> {
    Ok(diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::shop_id.eq(new.shop_id),
            webhook_endpoints::url.eq(new.url.trim()),
            webhook_endpoints::events.eq(store_events(new.events)),
            webhook_endpoints::secret.eq(new.secret),
            webhook_endpoints::description.eq(new.description.trim()),
            webhook_endpoints::active.eq(true),
            webhook_endpoints::created_by.eq(new.created_by),
            webhook_endpoints::created_at.eq(now),
            webhook_endpoints::updated_at.eq(now),
        ))
        .returning(webhook_endpoints::all_columns)
        .get_result(conn)?)
}

/// Writes an endpoint's changeable columns as `row` holds them.
pub fn save_endpoint(conn: &mut DbConnection, row: &Endpoint) -> Result<(), ApiError> {
    diesel::update(webhook_endpoints::table.find(row.id))
        .set((
            webhook_endpoints::url.eq(&row.url),
            webhook_endpoints::events.eq(&row.events),
            webhook_endpoints::secret.eq(&row.secret),
            webhook_endpoints::description.eq(&row.description),
            webhook_endpoints::active.eq(row.active),
            webhook_endpoints::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes an endpoint with its delivery history (pending deliveries included).
pub fn delete_endpoint(conn: &mut DbConnection, endpoint_id: i64) -> Result<(), ApiError> {
    diesel::delete(
        webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(endpoint_id)),
    )
    .execute(conn)?;
    diesel::delete(webhook_endpoints::table.find(endpoint_id)).execute(conn)?;
    Ok(())
}

/// Up to `limit` of an endpoint's deliveries with ids below `before`, newest first.
pub fn list_deliveries(
    conn: &mut DbConnection,
    endpoint_id: i64,
    status: Option<DeliveryStatus>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, ApiError> {
    let mut list = webhook_deliveries::table
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .select(DeliveryRow::as_select())
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        list = list.filter(webhook_deliveries::status.eq(status));
    }
    if let Some(before) = before {
        list = list.filter(webhook_deliveries::id.lt(before));
    }
    Ok(list.load(conn)?)
}

/// One of an endpoint's deliveries, or 404.
pub fn get_delivery(
    conn: &mut DbConnection,
    endpoint_id: EndpointId,
    delivery_id: DeliveryId,
) -> Result<DeliveryRow, ApiError> {
    webhook_deliveries::table
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_deliveries::id.eq(delivery_id))
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("delivery"))
}

/// Puts a delivery back to `pending` with a fresh set of attempts, due `now`, unclaimed.
pub fn requeue_delivery(
    conn: &mut DbConnection,
    delivery_id: DeliveryId,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(webhook_deliveries::table.find(delivery_id))
        .set((
            webhook_deliveries::status.eq(DeliveryStatus::Pending),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

fn skip_locked(backend: Backend) -> &'static str {
    match backend {
        // SQLite runs one writer at a time: the UPDATE is already exclusive.
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
    }
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Turns undispatched events into deliveries; returns how many events it took.
pub fn dispatch(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, ApiError> {
    let backend = conn.backend();
    let sql = format!(
        "UPDATE webhook_events SET dispatched_at = $1 WHERE id IN (
            SELECT id FROM webhook_events WHERE dispatched_at IS NULL
            ORDER BY id LIMIT $2{}) RETURNING id",
        skip_locked(backend)
    );
    let ids: Vec<i64> = diesel::sql_query(raw_sql(backend, &sql))
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(DISPATCH_BATCH)
        .load::<IdRow>(conn)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let events: Vec<(i64, i64, String)> = webhook_events::table
        .filter(webhook_events::id.eq_any(&ids))
        .select((
            webhook_events::id,
            webhook_events::shop_id,
            webhook_events::event_type,
        ))
        .order(webhook_events::id)
        .load(conn)?;
    let shops: Vec<i64> = events.iter().map(|e| e.1).collect();
    let endpoints: Vec<(i64, i64, String)> = webhook_endpoints::table
        .filter(webhook_endpoints::shop_id.eq_any(&shops))
        .filter(webhook_endpoints::active.eq(true))
        .select((
            webhook_endpoints::id,
            webhook_endpoints::shop_id,
            webhook_endpoints::events,
        ))
        .load(conn)?;
    for (event_id, shop_id, event_type) in &events {
        for (endpoint_id, _, _) in endpoints.iter().filter(|(_, shop, subscribed)| {
            shop == shop_id && subscribed.split_whitespace().any(|e| e == event_type)
        }) {
            diesel::insert_into(webhook_deliveries::table)
                .values((
                    webhook_deliveries::shop_id.eq(shop_id),
                    webhook_deliveries::endpoint_id.eq(endpoint_id),
                    webhook_deliveries::event_id.eq(event_id),
                    webhook_deliveries::status.eq(DeliveryStatus::Pending),
                    webhook_deliveries::attempts.eq(0),
                    webhook_deliveries::next_attempt_at.eq(now),
                    webhook_deliveries::created_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    Ok(events.len())
}

type ClaimedRow = (i64, i32, String, String, i64, String, NaiveDateTime, String);

/// Takes up to `limit` due deliveries until `lease_until`.
pub fn claim(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Claimed>, ApiError> {
    let backend = conn.backend();
    let sql = format!(
        "UPDATE webhook_deliveries SET locked_until = $1 WHERE id IN (
            SELECT id FROM webhook_deliveries
            WHERE status = '{pending}' AND next_attempt_at <= $2
              AND (locked_until IS NULL OR locked_until <= $2)
              AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE active)
            ORDER BY next_attempt_at, id LIMIT $3{skip_locked}) RETURNING id",
        pending = DeliveryStatus::Pending,
        skip_locked = skip_locked(backend)
    );
    let ids: Vec<i64> = diesel::sql_query(raw_sql(backend, &sql))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<IdRow>(conn)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<ClaimedRow> = webhook_deliveries::table
        .inner_join(webhook_endpoints::table)
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::id.eq_any(&ids))
        .select((
            webhook_deliveries::id,
            webhook_deliveries::attempts,
            webhook_endpoints::url,
            webhook_endpoints::secret,
            webhook_events::id,
            webhook_events::event_type,
            webhook_events::created_at,
            webhook_events::payload,
        ))
        .order(webhook_deliveries::id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(delivery_id, attempts, url, secret, event_id, event_type, created_at, payload)| {
                Claimed {
                    delivery_id,
                    locked_until: lease_until,
                    attempts,
                    url,
                    secret,
                    event_id,
                    event_type,
                    event_created_at: created_at,
                    payload,
                }
            },
        )
        .collect())
}

/// Stores an attempt's result and what comes next: the next attempt after `retry_base`
/// backoff, or failed once `max_attempts` is reached.
pub fn record(
    conn: &mut DbConnection,
    claimed: &Claimed,
    attempt: &Attempt,
    now: NaiveDateTime,
    max_attempts: i32,
    retry_base: chrono::Duration,
) -> Result<(), ApiError> {
    let attempts = claimed.attempts + 1;
    // Only while the claim is still ours: a worker whose lease ran out must not overwrite
    // the result of the worker that took the delivery over.
    let row = webhook_deliveries::table
        .filter(webhook_deliveries::id.eq(claimed.delivery_id))
        .filter(webhook_deliveries::locked_until.eq(claimed.locked_until));
    let updated = match attempt {
        Attempt::Delivered { status } => diesel::update(row)
            .set((
                webhook_deliveries::status.eq(DeliveryStatus::Delivered),
                webhook_deliveries::attempts.eq(attempts),
                webhook_deliveries::next_attempt_at.eq(None::<NaiveDateTime>),
                webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
                webhook_deliveries::last_attempt_at.eq(now),
                webhook_deliveries::last_status_code.eq(Some(i32::from(*status))),
                webhook_deliveries::last_error.eq(None::<String>),
                webhook_deliveries::delivered_at.eq(now),
            ))
            .execute(conn)?,
        Attempt::Failed { status, error } => {
            let give_up = attempts >= max_attempts;
            let next = (!give_up).then(|| now + retry_delay(retry_base, attempts));
            let status_after = if give_up {
                DeliveryStatus::Failed
            } else {
                DeliveryStatus::Pending
            };
            diesel::update(row)
                .set((
                    webhook_deliveries::status.eq(status_after),
                    webhook_deliveries::attempts.eq(attempts),
                    webhook_deliveries::next_attempt_at.eq(next),
                    webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
                    webhook_deliveries::last_attempt_at.eq(now),
                    webhook_deliveries::last_status_code.eq(status.map(i32::from)),
                    webhook_deliveries::last_error.eq(Some(error.to_string())),
                ))
                .execute(conn)?
        }
    };
    if updated == 0 {
        tracing::warn!(
            delivery_id = claimed.delivery_id,
            "webhook delivery's lease ran out before its result was recorded"
        );
    }
    Ok(())
}

/// What the metrics endpoint shows of the webhook outbox, over every shop: deliveries by
/// status, events not yet turned into deliveries, and the oldest delivery still waiting.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OutboxFigures {
    pub deliveries: Vec<(DeliveryStatus, i64)>,
    pub undispatched_events: i64,
    pub oldest_pending_at: Option<NaiveDateTime>,
}

pub fn outbox_figures(conn: &mut DbConnection) -> Result<OutboxFigures, ApiError> {
    let deliveries = webhook_deliveries::table
        .group_by(webhook_deliveries::status)
        .select((webhook_deliveries::status, diesel::dsl::count_star()))
        .load::<(DeliveryStatus, i64)>(conn)?;
    let undispatched_events = webhook_events::table
        .filter(webhook_events::dispatched_at.is_null())
        .count()
        .get_result(conn)?;
    let oldest_pending_at = webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending))
        .select(diesel::dsl::min(webhook_deliveries::created_at))
        .first::<Option<NaiveDateTime>>(conn)?;
    Ok(OutboxFigures {
        deliveries,
        undispatched_events,
        oldest_pending_at,
    })
}

/// Deletes up to `limit` deliveries that are done with: delivered before `delivered_before`,
/// or given up on (failed) with their last attempt before `failed_before`. Oldest first;
/// safe on every replica at once (a row is deleted once, the others find it gone).
pub fn purge_finished_deliveries(
    conn: &mut DbConnection,
    delivered_before: NaiveDateTime,
    failed_before: NaiveDateTime,
    limit: i64,
) -> Result<usize, ApiError> {
    let mut ids: Vec<i64> = webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Delivered))
        .filter(webhook_deliveries::delivered_at.le(delivered_before))
        .order((webhook_deliveries::delivered_at, webhook_deliveries::id))
        .select(webhook_deliveries::id)
        .limit(limit)
        .load(conn)?;
    let room = limit - i64::try_from(ids.len()).unwrap_or(limit);
    if room > 0 {
        ids.extend(
            webhook_deliveries::table
                .filter(webhook_deliveries::status.eq(DeliveryStatus::Failed))
                .filter(webhook_deliveries::last_attempt_at.le(failed_before))
                .order((webhook_deliveries::last_attempt_at, webhook_deliveries::id))
                .select(webhook_deliveries::id)
                .limit(room)
                .load::<i64>(conn)?,
        );
    }
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(ids)))
            .execute(conn)?,
    )
}

/// Deletes up to `limit` events dispatched before `before` that no delivery refers to any
/// more (their deliveries were purged, or no endpoint wanted them).
pub fn purge_dispatched_events(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    limit: i64,
) -> Result<usize, ApiError> {
    let ids: Vec<i64> = webhook_events::table
        .filter(webhook_events::dispatched_at.le(before))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            webhook_deliveries::table.filter(webhook_deliveries::event_id.eq(webhook_events::id)),
        )))
        .order((webhook_events::dispatched_at, webhook_events::id))
        .select(webhook_events::id)
        .limit(limit)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::delete(webhook_events::table.filter(webhook_events::id.eq_any(ids)))
            .execute(conn)?,
    )
}
