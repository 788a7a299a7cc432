//! The application: every route and the middleware around them, built the same way for
//! the server and for the tests. Nothing below this module imports it.

use std::time::Instant;

use actix_web::{
    App, Error, HttpRequest, HttpResponse,
    body::MessageBody,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::{ErrorHandlers, Next, from_fn},
    web,
};
use tracing::Instrument;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::error::{ApiError, problem_for_framework_errors};
use crate::extract::{BodyLimit, BodyReadTimeout};
use crate::openapi::{self, OPENAPI_PATH};
use crate::state::AppState;
use crate::{
    attachments, audit, auth, customers, health, idempotency, ingestion, notes, occasions, orders,
    products, reminders, scripts, sla, stats, surveys, tags, tickets, tiers, users, webhooks,
};

/// Every route of the service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        .service(web::resource("/metrics").route(web::get().to(crate::metrics::routes::scrape)))
        // Before the /api/v1 scope, which would otherwise claim /api/v1/openapi.json.
        .service(web::resource(OPENAPI_PATH).route(web::get().to(openapi::serve)))
        // Swagger UI only points at the document: given the document itself, it would keep
        // a copy per worker from start-up on, whether or not anyone reads the docs.
        .service(SwaggerUi::new("/docs/{_:.*}").config(SwaggerConfig::from(OPENAPI_PATH)))
        .service(web::redirect("/docs", "/docs/"))
        // The buyer's survey pages: HTML for people, no token (the link is the key).
        .configure(surveys::page::configure)
        .service(
            web::scope("/api/v1")
                .configure(audit::routes::configure)
                .configure(auth::routes::configure)
                .configure(auth::api_keys::routes::configure)
                .configure(users::routes::configure)
                // Before the customers' routes, whose /customers/{id} would otherwise claim
                // /customers/import and /customers/export.
                .configure(ingestion::routes::configure)
                .configure(customers::routes::configure)
                .configure(tags::routes::configure)
                .configure(orders::routes::configure)
                .configure(products::routes::configure)
                .configure(occasions::routes::configure)
                .configure(tickets::routes::configure)
                // A ticket's templates (`/tickets/{id}/templates`) are the scripts' route.
                .configure(scripts::routes::configure)
                .configure(notes::routes::configure)
                .configure(surveys::routes::configure)
                .configure(attachments::routes::configure)
                .configure(sla::routes::configure)
                .configure(tiers::routes::configure)
                .configure(stats::routes::configure)
                .configure(reminders::routes::configure)
                .configure(webhooks::routes::configure)
                .wrap(from_fn(idempotency::middleware::middleware)),
        );
}

pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    crate::metrics::handle();
    let body_limit = BodyLimit(state.settings.server.max_body_bytes);
    let body_read_timeout = BodyReadTimeout(state.settings.server.body_read_timeout());
    App::new()
        .app_data(state)
        .app_data(body_limit)
        .app_data(body_read_timeout)
        .app_data(
            web::PathConfig::default()
                .error_handler(|_, req| crate::extract::path_problem(req).into()),
        )
        .configure(routes)
        .default_service(web::to(no_such_route))
        .wrap(ErrorHandlers::new().default_handler(problem_for_framework_errors))
        .wrap(from_fn(request_log))
}

async fn no_such_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("no resource at {}", req.path())))
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's request id is kept when it is short and printable, so logs can be joined
/// across services; otherwise a new one is made.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// One log line per request: request id, method, path, status and latency.
async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path()
    );
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    let status = res.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    crate::metrics::record_request(
        res.request().match_pattern().as_deref(),
        res.request().method(),
        status,
        elapsed,
    );
    let latency_ms = elapsed * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, latency_ms, "request failed");
        } else {
            tracing::info!(status, latency_ms, "request served");
        }
    });
    Ok(res)
}
