//! `GET /metrics`: what was recorded, plus the figures read when scraped.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use super::handle;
use crate::error::ApiError;
use crate::state::AppState;

/// Whether the request carries the metrics token (compared as digests, so the time taken
/// says nothing about how much of a guess was right).
fn authorised(req: &HttpRequest, token: &str) -> bool {
    let Some(sent) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    Sha256::digest(sent.trim().as_bytes()) == Sha256::digest(token.as_bytes())
}

/// `GET /metrics`: the Prometheus text format.
pub async fn scrape(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(token) = state.settings.metrics.token.as_deref() else {
        return Err(ApiError::NotFound(
            "metrics are off: set METRICS_TOKEN to turn them on".into(),
        ));
    };
    if !authorised(&req, token) {
        return Err(ApiError::Unauthenticated(
            "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>".into(),
        ));
    }
    let pool = state.db.pool_state();
    metrics::gauge!("aftercare_db_connections", "state" => "in_use")
        .set(f64::from(pool.connections - pool.idle_connections));
    metrics::gauge!("aftercare_db_connections", "state" => "idle")
        .set(f64::from(pool.idle_connections));
    metrics::gauge!("aftercare_db_connections_max").set(f64::from(state.db.pool_size()));
    // The outbox is read fresh at each scrape; a database that cannot answer leaves the
    // last figures and says so in `aftercare_scrape_database_ok`.
    let outbox = state.db.read(crate::webhooks::store::outbox_figures).await;
    metrics::gauge!("aftercare_scrape_database_ok").set(if outbox.is_ok() { 1.0 } else { 0.0 });
    if let Ok(outbox) = outbox {
        use crate::webhooks::DeliveryStatus;
        for status in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ] {
            let count = outbox
                .deliveries
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            metrics::gauge!("aftercare_webhook_deliveries", "status" => status.as_str())
                .set(count as f64);
        }
        metrics::gauge!("aftercare_webhook_undispatched_events")
            .set(outbox.undispatched_events as f64);
        let oldest = outbox.oldest_pending_at.map_or(0.0, |at| {
            (chrono::Utc::now().naive_utc() - at)
                .to_std()
                .unwrap_or_default()
                .as_secs_f64()
        });
        metrics::gauge!("aftercare_webhook_oldest_pending_seconds").set(oldest);
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle().render()))
}
