//! The OpenAPI document, generated from the handlers' annotations. The committed copy
//! (`openapi/openapi.json`) is checked against it by the test suite.

use std::sync::LazyLock;

use actix_web::{HttpResponse, http::header::ContentType, web};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::customers;
use crate::tickets::{self, routes as ticket_routes, store as ticket_store};
use crate::{
    attachments, audit, auth, error, health, ingestion, notes, occasions, orders, products,
    reminders, response, scripts, sla, stats, surveys, tags, tiers, users, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aftercare API",
        description = "After-sales tickets for online shops: negative reviews, returns and repairs, \
from the first call through follow-up to resolution.\n\n\
Every error is an RFC 9457 `application/problem+json` document whose `type` is a stable URN \
(`urn:aftercare:problem:<kind>`); validation problems list each offending field in `errors`.\n\n\
Staff authenticate with `POST /api/v1/auth/login` and send the token as `Authorization: Bearer <token>`. \
Integrations send an API key (created by an admin, with scopes) as `X-API-Key: <key>`; endpoints that accept one list \
the `api_key` scheme, and a key without the scope an operation needs gets 403.",
        license(name = "Proprietary")
    ),
    paths(
        health::healthz,
        health::readyz,
        auth::routes::login,
        auth::routes::me,
        auth::routes::change_password,
        auth::api_keys::routes::list_api_keys,
        auth::api_keys::routes::create_api_key,
        auth::api_keys::routes::get_api_key,
        auth::api_keys::routes::revoke_api_key,
        audit::routes::list_audit,
        users::routes::list_users,
        users::routes::list_staff,
        users::routes::create_user,
        users::routes::get_user,
        users::routes::update_user,
        users::routes::reset_password,
        customers::routes::list_customers,
        customers::routes::create_customer,
        customers::routes::get_customer,
        customers::routes::update_customer,
        customers::routes::archive_customer,
        customers::routes::restore_customer,
        customers::routes::merge_customers,
        ingestion::routes::import,
        ingestion::routes::export,
        tags::routes::list_tags,
        tags::routes::create_tag,
        tags::routes::update_tag,
        tags::routes::delete_tag,
        tags::routes::bulk_tag,
        tags::routes::add_customer_tags,
        tags::routes::remove_customer_tag,
        tags::routes::list_groups,
        tags::routes::set_group,
        orders::routes::list_orders,
        orders::routes::create_order,
        orders::routes::get_order,
        orders::routes::update_order,
        orders::routes::delete_order,
        products::routes::list_products,
        products::routes::create_product,
        products::routes::get_product,
        products::routes::update_product,
        products::routes::delete_product,
        occasions::routes::list_occasions,
        occasions::routes::create_occasion,
        occasions::routes::update_occasion,
        occasions::routes::delete_occasion,
        ticket_routes::list_tickets,
        ticket_routes::create_ticket,
        ticket_routes::get_ticket,
        ticket_routes::update_ticket,
        ticket_routes::log_contact,
        ticket_routes::resolve_ticket,
        ticket_routes::close_ticket,
        ticket_routes::reopen_ticket,
        ticket_routes::assign_ticket,
        ticket_routes::record_satisfaction,
        ticket_routes::bulk_change,
        ticket_routes::ticket_events,
        ticket_routes::my_queue,
        scripts::routes::list_call_scripts,
        scripts::routes::create_call_script,
        scripts::routes::get_call_script,
        scripts::routes::update_call_script,
        scripts::routes::delete_call_script,
        scripts::routes::ticket_templates,
        ticket_routes::start_waiting,
        ticket_routes::end_waiting,
        sla::routes::get_calendar,
        sla::routes::put_calendar,
        sla::routes::get_policies,
        sla::routes::put_policies,
        sla::routes::ticket_service_levels,
        notes::routes::ticket_notes,
        notes::routes::add_ticket_note,
        notes::routes::customer_notes,
        notes::routes::add_customer_note,
        notes::routes::correct_note,
        surveys::routes::ticket_survey,
        surveys::routes::nudge,
        attachments::routes::upload_to_ticket,
        attachments::routes::upload_to_note,
        attachments::routes::list_attachments,
        attachments::routes::get_attachment,
        attachments::routes::download,
        attachments::routes::thumbnail,
        attachments::routes::delete_attachment,
        tiers::routes::recompute,
        tiers::routes::list_changes,
        tiers::routes::segments_report,
        stats::routes::tickets_report,
        stats::routes::backlog_report,
        stats::routes::sales_report,
        reminders::routes::reminders,
        ingestion::routes::upsert_one_customer,
        ingestion::routes::upsert_customers,
        ingestion::routes::upsert_one_order,
        ingestion::routes::upsert_orders,
        ingestion::routes::upsert_review,
        webhooks::routes::list_webhooks,
        webhooks::routes::create_webhook,
        webhooks::routes::get_webhook,
        webhooks::routes::update_webhook,
        webhooks::routes::delete_webhook,
        webhooks::routes::list_deliveries,
        webhooks::routes::redeliver,
    ),
    components(schemas(
        error::Problem,
        error::RejectionReport,
        error::FieldError,
        users::UserPage,
        auth::api_keys::ApiKeyPage,
        audit::AuditEntryPage,
        webhooks::DeliveryPage,
        customers::CustomerPage,
        orders::OrderPage,
        products::ProductPage,
        stats::SalesFormat,
        customers::CustomerSort,
        tickets::TicketPage,
        tickets::NegativeReviewDetails,
        tickets::ReturnDetails,
        tickets::RepairDetails,
        tickets::bulk::BulkTicketReport,
        ticket_store::TicketSort,
        sla::SlaStanding,
        tiers::TierChangePage,
        response::Receipt,
    )),
    modifiers(&BearerAuth, &Conventions, &Declared),
    tags(
        (name = "auth", description = "Logging in and access tokens"),
        (name = "users", description = "Staff accounts: agents, leads and admins"),
        (name = "customers", description = "The customer file: profile, contact handles, import and export"),
        (name = "tags", description = "Free labels on customers, grouped into dimensions; a group may be single-choice. Names are unique regardless of ASCII case"),
        (name = "orders", description = "Purchase history. Amounts are integer cents (fen)"),
        (name = "products", description = "The product catalogue: SKUs, names and the days one purchase typically lasts (for the \"probably used up\" reminder). Staff only"),
        (name = "occasions", description = "Greeting occasions: the holidays and shopping festivals (春节, 中秋, 618, 双11...) the shop greets its buyers on, one dated entry each (lunar holidays move). Staff only"),
        (name = "tickets", description = "After-sales cases: negative reviews, returns and repairs, from the first call through follow-up to resolution. \
States: new → first_call (first contact attempt) → follow_up (further attempts) → resolved (with an outcome of the ticket's kind); any open state → closed (with a reason); resolved or closed → follow_up (reopen, leads). \
Changes return an ETag; send it as If-Match to make a change conditional (412 when the ticket changed meanwhile)."),
        (name = "scripts", description = "Call scripts (话术): leads' reply templates per ticket kind and situation, with placeholders \
({customer_name}, {order_no}, {product}, {agent_name}; {{ and }} for literal braces) checked when saved and filled in per ticket. Staff only"),
        (name = "service levels", description = "Service levels that match the shop's working day: a calendar (time zone, working hours, holidays, make-up days), \
targets per ticket kind and priority (first call, follow-up, resolution) in business or calendar hours, waits that stop the resolution clock, \
breaches recorded when they happen (`ticket.sla_breached`) and escalation (`ticket.escalated`)"),
        (name = "surveys", description = "The buyer's own voice: each resolution makes a satisfaction survey with an unguessable link (`/s/{token}`, \
a small HTML page for phones, Chinese by default, answerable once until it expires). Staff read the link and a ready message to paste into WeChat or an SMS; \
the answer is recorded on the ticket with `source: buyer` (`ticket.survey_created` carries the link to a shop's own SMS or WeChat system)"),
        (name = "attachments", description = "Photos, receipts, screenshots, short videos and PDFs on tickets and their notes: \
typed from their bytes, limited in size, served only to staff and to API keys with tickets:read (ranges, ETags, thumbnails for images), deleted with a reason kept on the timeline"),
        (name = "tiers", description = "Customer value tiers (key, regular, small), lifecycle stages and the at-risk flag, and RFM scores and segments: computed from purchases and after-sales history, never typed in"),
        (name = "stats", description = "Team figures for leads: resolution, first-call speed, time to resolve, review revisions, satisfaction, backlog, sales"),
        (name = "reminders", description = "Who needs a call today"),
        (name = "integrations", description = "API keys for integrations, webhooks and the customer, order and review feeds"),
        (name = "audit", description = "The audit log, for admins: logins, staff, API key and webhook changes, imports, exports and bulk work, with actor, time and client address; append-only"),
        (name = "operations", description = "Health and readiness probes"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from POST /api/v1/auth/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An integration's API key (ak_...), created by an admin at POST /api/v1/api-keys",
            ))),
        );
    }
}

/// What holds for every operation, stated once instead of on each handler: each response
/// has a description (OpenAPI 3.1 requires one; utoipa leaves it out when a `responses`
/// entry names none, and generators such as openapi-python-client refuse the document),
/// every error answer (4xx, 5xx) is a `Problem` document in `application/problem+json`
/// (handlers list the statuses they produce and why, never the body), and every POST but
/// login takes an `Idempotency-Key` (see `crate::idempotency`).
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Required, Type};
        for (path, item) in openapi.paths.paths.iter_mut() {
            if let Some(post) = item.post.as_mut()
                && path != "/api/v1/auth/login"
            {
                let parameter = ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "A unique key (a UUID, say) that makes retries safe: a retry with the same key and body \
within 24 hours (IDEMPOTENCY_KEY_TTL_HOURS) gets the first response back, marked `Idempotent-Replayed: true`, \
and nothing is done twice. The same key with a different request is 422 `idempotency-key-reused`; a retry while \
the first is still running is 409 `idempotency-in-progress`.",
                    ))
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .min_length(Some(1))
                            .max_length(Some(255)),
                    ))
                    .build();
                post.parameters
                    .get_or_insert_with(Vec::new)
                    .push(RefOr::T(parameter));
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && response.content.is_empty()
                        && (status.starts_with('4') || status.starts_with('5'))
                    {
                        response.content.insert(
                            crate::error::PROBLEM_CONTENT_TYPE.to_owned(),
                            RefOr::T(
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("Problem")))
                                    .build(),
                            ),
                        );
                    }
                    if let RefOr::T(response) = response
                        && response.description.is_empty()
                    {
                        response.description = status
                            .parse::<u16>()
                            .ok()
                            .and_then(|code| actix_web::http::StatusCode::from_u16(code).ok())
                            .and_then(|code| code.canonical_reason())
                            .unwrap_or("Response")
                            .to_owned();
                    }
                }
            }
        }
    }
}

mod conventions;

/// The statuses, headers and examples every operation of a kind shares
/// (`conventions::apply`), written on the JSON form of the document.
struct Declared;

impl Modify for Declared {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut doc = serde_json::to_value(&*openapi).expect("the document serialises");
        conventions::apply(&mut doc);
        *openapi = serde_json::from_value(doc).expect("the conventions keep the document valid");
    }
}

/// Where the service serves its document.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// `GET /api/v1/openapi.json`: the document, built on the first request and then kept,
/// once per process. Building it takes some 20 MiB of short-lived allocations; done per
/// worker at start-up, that was most of an idle server's memory.
pub async fn serve() -> HttpResponse {
    static SERVED: LazyLock<web::Bytes> = LazyLock::new(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serialises")
            .into()
    });
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(SERVED.clone())
}

/// The document as committed: pretty JSON with a final newline.
pub fn document() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    json.push('\n');
    json
}
