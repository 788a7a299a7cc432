//! Liveness and readiness probes for process supervisors and load balancers.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::Backend;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    pub status: String,
    /// The database backend in use (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = HealthStatus)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok".into(),
        database: None,
    })
}

/// The service can serve: its database answers and takes writes.
///
/// Each check updates a heartbeat row and commits. The verdict is reused for one second,
/// so a burst of probes costs one check; a check takes at most `DB_CHECKOUT_TIMEOUT_MS`.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = HealthStatus),
        (status = 503, description = "Database unreachable, or it does not take writes (read-only, full, I/O errors)"),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db.ready().await?;
    let database = match state.db.backend() {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
    };
    Ok(HttpResponse::Ok().json(HealthStatus {
        status: "ready".into(),
        database: Some(database.into()),
    }))
}
