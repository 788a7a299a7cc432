//! `/api/v1/tiers`: full recomputation and the record of tier changes. HTTP only.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use validator::Validate;

use super::operations::recompute_all;
use super::{RecomputeReport, SegmentReport, TierChange, store};
use crate::auth::{Caller, Principal, roles::Permission};
use crate::error::ApiError;
use crate::extract::Query;
use crate::ids::CustomerId;
use crate::pagination::PageRequest;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tiers/recompute").route(web::post().to(recompute)))
        .service(web::resource("/tiers/changes").route(web::get().to(list_changes)))
        .service(web::resource("/stats/segments").route(web::get().to(segments_report)));
}

/// Recompute the key-tier thresholds and every customer's tier, stage and at-risk flag
/// (leads and admins). Needed after a threshold setting changes and as time passes
/// (customers drift into dormancy); runs in batches of 1000 customers, each its own short
/// transaction, so other writes go on meanwhile. Also `aftercare recompute-tiers`.
#[utoipa::path(post, path = "/api/v1/tiers/recompute", tag = "tiers", security(("bearer" = [])),
    responses(
        (status = 200, body = RecomputeReport),
        (status = 403),
    ))]
pub async fn recompute(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::RecomputeTiers)?;
    let settings = state.settings.tiers;
    let db = state.db.clone();
    let report = web::block(move || recompute_all(&db, caller.shop_id, &settings)).await??;
    tracing::info!(
        customers = report.customers,
        changed = report.changed,
        elapsed_ms = report.elapsed_ms as u64,
        "tiers recomputed"
    );
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListChangesQuery {
    /// Only this customer's changes.
    pub customer_id: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Who moved between tiers, stages or the at-risk flag, and why; newest first.
#[utoipa::path(get, path = "/api/v1/tiers/changes", tag = "tiers", security(("bearer" = [])),
    params(ListChangesQuery),
    responses(
        (status = 200, body = crate::tiers::TierChangePage),
        (status = 422),
    ))]
pub async fn list_changes(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let query = query.into_inner();
    let request = PageRequest::<i64>::parse(query.cursor.as_deref(), query.limit, false)?;
    let page = state
        .db
        .read(move |conn| {
            request.load_uncounted(
                conn,
                |conn, before, n| {
                    store::list_changes(
                        conn,
                        caller.shop_id,
                        query.customer_id.map(CustomerId),
                        before,
                        n,
                    )
                },
                |c: &TierChange| c.id,
                |_, rows| Ok(rows.iter().map(TierChange::view).collect()),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SegmentsQuery {
    /// Compare with this moment (RFC 3339, e.g. `2026-11-01T00:00:00+08:00`); default: the
    /// full recomputation before the latest.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// RFM segment counts now and at `since`, and the flows between segments since then
/// (leads and admins, or keys with `stats:read`). Scores and segments are given by the
/// full recomputation (`POST /api/v1/tiers/recompute`, against the shop's quintiles) and
/// kept current by every order and ticket change (against the last recomputation's
/// quintiles); every change of a customer's segment is recorded, so counts at any moment
/// and the flows since then come from that record.
#[utoipa::path(get, path = "/api/v1/stats/segments", tag = "stats", security(("bearer" = []), ("api_key" = [])),
    params(SegmentsQuery),
    responses(
        (status = 200, body = SegmentReport),
        (status = 403),
        (status = 422),
    ))]
pub async fn segments_report(
    state: web::Data<AppState>,
    caller: Principal,
    query: Query<SegmentsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewTeamStats)?;
    let since = query.into_inner().since.map(|t| t.naive_utc());
    let shop_id = caller.shop_id();
    let report = state
        .db
        .read(move |conn| super::operations::segment_report(conn, shop_id, since))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
