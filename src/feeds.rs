//! `/api/v1/feeds`: how shop back offices and review monitors push data in.
//!
//! Every feed upserts by the source's own key, so re-sending is harmless: customers by
//! contact handle, orders by channel + external order number, reviews by platform +
//! review id (a review never opens two tickets). Batches take up to 1,000 items; each item
//! is upserted in its own savepoint and reported by index, and `atomic: true` turns one
//! failed item into no change at all.

use actix_web::{HttpResponse, http::StatusCode, web};
use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::auth::{Principal, roles::Permission};
use crate::customers::orders::{self, Channel, CreateOrderRequest, OrderView};
use crate::customers::upsert::{UpsertOutcome, owner_by_handles, upsert_customer, upsert_order};
use crate::customers::{
    ContactHandle, CreateCustomerRequest, CustomerView, Source, queries as customer_queries,
};
use crate::db::DbConnection;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{Body, validate};
use crate::state::AppState;
use crate::tickets::operations::{self, Context, ReviewReport};
use crate::tickets::{NegativeReviewDetails, ReviewPlatform, TicketView};

pub const MAX_BATCH: usize = 1000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/feeds/customers").route(web::post().to(upsert_one_customer)))
        .service(web::resource("/feeds/customers/batch").route(web::post().to(upsert_customers)))
        .service(web::resource("/feeds/orders").route(web::post().to(upsert_one_order)))
        .service(web::resource("/feeds/orders/batch").route(web::post().to(upsert_orders)))
        .service(web::resource("/feeds/reviews").route(web::post().to(upsert_review)));
}

fn check_handles(handles: &[ContactHandle]) -> Result<(), ValidationError> {
    if handles.is_empty() || handles.len() > 10 {
        return Err(ValidationError::new("contacts")
            .with_message("name the customer by 1 to 10 contact handles".into()));
    }
    Ok(())
}

/// One customer: the same fields as `POST /customers`. A customer whose handles are on
/// file is updated (given fields replaced, handles and tags added); otherwise created.
pub type CustomerFeedItem = CreateCustomerRequest;

/// Customers to upsert. Items are validated one by one: a bad item is reported, the rest
/// are applied (unless `atomic`).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBatch {
    #[validate(length(min = 1, max = 1000))]
    pub items: Vec<CreateCustomerRequest>,
    /// `true`: apply nothing if any item fails (422 with the report).
    #[serde(default)]
    pub atomic: bool,
}

/// One order, with the handles of the customer who placed it (who must be on file: send
/// customers first). An order already on file with the same channel and number is updated.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "customer_contacts": [{"kind": "shop_account", "value": "lina的小店"}],
    "order": {"channel": "tmall", "external_order_no": "TM20261120-0042", "status": "paid",
              "items": [{"product_name": "Ceramic teapot 600 ml", "sku": "TP-600", "quantity": 2, "unit_price_cents": 12990}],
              "ordered_at": "2026-11-20T13:45:00+08:00"}
}))]
pub struct OrderFeedItem {
    #[validate(custom(function = "check_handles"), nested)]
    pub customer_contacts: Vec<ContactHandle>,
    #[validate(nested)]
    pub order: CreateOrderRequest,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBatch {
    #[validate(length(min = 1, max = 1000))]
    pub items: Vec<OrderFeedItem>,
    /// `true`: apply nothing if any item fails (422 with the report).
    #[serde(default)]
    pub atomic: bool,
}

/// An order the buyer's review is about, by the platform's order number.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderReference {
    pub channel: Channel,
    #[validate(length(min = 1, max = 64))]
    pub external_order_no: String,
}

/// A negative review seen on a platform.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "platform": "taobao", "review_id": "R-889123", "rating": 2, "review_text": "盖子有缺口",
    "posted_at": "2026-11-23T09:12:00+08:00",
    "customer_contacts": [{"kind": "shop_account", "value": "lina的小店"}],
    "customer_name": "李娜",
    "order": {"channel": "taobao", "external_order_no": "TB-1001"}
}))]
pub struct ReviewFeedItem {
    pub platform: ReviewPlatform,
    /// The platform's id of the review: the upsert key.
    #[validate(length(min = 1, max = 128))]
    pub review_id: String,
    /// 1 (worst) to 5.
    #[validate(range(min = 1, max = 5))]
    pub rating: u8,
    #[serde(default)]
    #[validate(length(max = 5000))]
    pub review_text: String,
    pub posted_at: Option<DateTime<Utc>>,
    /// The reviewer's handles (a shop account, usually).
    #[validate(custom(function = "check_handles"), nested)]
    pub customer_contacts: Vec<ContactHandle>,
    /// With it, a reviewer not on file becomes a new (online) customer; without it, an
    /// unknown reviewer is a 422.
    #[validate(length(min = 1, max = 200))]
    pub customer_name: Option<String>,
    /// The reviewed order, if the platform says; it must be the reviewer's.
    #[validate(nested)]
    pub order: Option<OrderReference>,
    /// Ticket title; defaults to "<rating>-star review on <platform>".
    #[validate(length(min = 1, max = 200))]
    pub title: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerUpserted {
    pub outcome: UpsertOutcome,
    pub customer: CustomerView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderUpserted {
    pub outcome: UpsertOutcome,
    pub order: OrderView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewUpserted {
    /// `created`: a ticket was opened; `updated`: the review changed and the ticket's
    /// details follow it; `unchanged`: already on file as sent.
    pub outcome: UpsertOutcome,
    pub ticket: TicketView,
}

/// What happened to one batch item.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItemResult {
    /// Position in `items`, from 0.
    pub index: usize,
    /// Absent when the item failed.
    pub outcome: Option<UpsertOutcome>,
    /// The customer's or order's id.
    pub id: Option<i64>,
    /// Why the item failed (field names relative to the item).
    pub error: Option<Problem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: usize,
    /// One entry per item, in order.
    pub results: Vec<BatchItemResult>,
    /// `true` when `atomic` was asked and an item failed: nothing was applied.
    pub rolled_back: bool,
}

impl BatchReport {
    fn new() -> BatchReport {
        BatchReport {
            created: 0,
            updated: 0,
            unchanged: 0,
            failed: 0,
            results: Vec::new(),
            rolled_back: false,
        }
    }

    fn record(&mut self, index: usize, result: Result<(UpsertOutcome, i64), ApiError>) {
        let entry = match result {
            Ok((outcome, id)) => {
                match outcome {
                    UpsertOutcome::Created => self.created += 1,
                    UpsertOutcome::Updated => self.updated += 1,
                    UpsertOutcome::Unchanged => self.unchanged += 1,
                }
                BatchItemResult {
                    index,
                    outcome: Some(outcome),
                    id: Some(id),
                    error: None,
                }
            }
            Err(error) => {
                if let ApiError::Internal(cause) = &error {
                    tracing::error!(%cause, index, "feed item failed");
                }
                self.failed += 1;
                BatchItemResult {
                    index,
                    outcome: None,
                    id: None,
                    error: Some(error.to_problem()),
                }
            }
        };
        self.results.push(entry);
    }
}

/// Upserts every item in one transaction, each in its own savepoint, and answers 200 with
/// the report; an atomic batch with a failed item rolls back and answers 422
/// `batch-rejected` with the report as `report`.
async fn run_batch<T, F>(
    state: &AppState,
    items: Vec<T>,
    atomic: bool,
    upsert: F,
) -> Result<HttpResponse, ApiError>
where
    T: Validate + Send + 'static,
    F: Fn(&mut DbConnection, &T) -> Result<(UpsertOutcome, i64), ApiError> + Send + 'static,
{
    let report = state
        .db
        .write(move |conn| {
            let mut report = BatchReport::new();
            for (index, item) in items.iter().enumerate() {
                let result = validate(item).and_then(|()| conn.transaction(|c| upsert(c, item)));
                report.record(index, result);
            }
            if atomic && report.failed > 0 {
                return Err(BatchFailed(report).into());
            }
            Ok(report)
        })
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

struct BatchFailed(BatchReport);

impl From<BatchFailed> for ApiError {
    fn from(BatchFailed(mut report): BatchFailed) -> ApiError {
        report.rolled_back = true;
        let mut extensions = serde_json::Map::new();
        extensions.insert(
            "report".into(),
            serde_json::to_value(&report).unwrap_or_default(),
        );
        ApiError::Unprocessable {
            kind: "batch-rejected",
            detail: format!(
                "{} of {} items failed and the batch is atomic: nothing was applied",
                report.failed,
                report.results.len()
            ),
            extensions,
        }
    }
}

fn status_for(outcome: UpsertOutcome) -> StatusCode {
    match outcome {
        UpsertOutcome::Created => StatusCode::CREATED,
        UpsertOutcome::Updated | UpsertOutcome::Unchanged => StatusCode::OK,
    }
}

/// Upsert one customer by contact handle.
#[utoipa::path(post, path = "/api/v1/feeds/customers", tag = "integrations",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateCustomerRequest,
    responses(
        (status = 201, description = "Created", body = CustomerUpserted),
        (status = 200, description = "Updated or unchanged", body = CustomerUpserted),
        (status = 403, description = "Needs customers:write", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The handles belong to different customers, or the customer is archived", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upsert_one_customer(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<CreateCustomerRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let request = body.into_inner();
    let shop_id = caller.shop_id();
    let (outcome, view) = state
        .db
        .write(move |conn| {
            let (outcome, id) = upsert_customer(conn, shop_id, &request)?;
            let customer = customer_queries::get(conn, shop_id, id)?;
            let view = customer_queries::views(conn, vec![customer])?.pop();
            Ok((outcome, view))
        })
        .await?;
    let customer = view.ok_or_else(|| ApiError::Internal("upserted customer vanished".into()))?;
    Ok(HttpResponse::build(status_for(outcome)).json(CustomerUpserted { outcome, customer }))
}

/// Upsert up to 1,000 customers by contact handle.
#[utoipa::path(post, path = "/api/v1/feeds/customers/batch", tag = "integrations",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CustomerBatch,
    responses(
        (status = 200, description = "Applied; failed items, if any, are in results", body = BatchReport),
        (status = 403, description = "Needs customers:write", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed batch, or (atomic) an item failed: `report` holds the BatchReport", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upsert_customers(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<CustomerBatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let batch = body.into_inner();
    let shop_id = caller.shop_id();
    run_batch(&state, batch.items, batch.atomic, move |conn, item| {
        upsert_customer(conn, shop_id, item)
    })
    .await
}

fn upsert_feed_order(
    conn: &mut DbConnection,
    shop_id: i64,
    item: &OrderFeedItem,
    tiers: &crate::tiers::engine::TierSettings,
) -> Result<(UpsertOutcome, i64), ApiError> {
    let handles =
        customer_queries::normalized_handles(&item.customer_contacts).map_err(|e| match e {
            ApiError::Validation(errors) => ApiError::Validation(
                errors
                    .into_iter()
                    .map(|f| {
                        FieldError::new(
                            f.field.replacen("contacts", "customer_contacts", 1),
                            f.message,
                        )
                    })
                    .collect(),
            ),
            other => other,
        })?;
    upsert_order(conn, shop_id, &handles, &item.order, tiers).map_err(|e| match e {
        ApiError::NotFound(message) => ApiError::field("customer_contacts", message),
        other => other,
    })
}

/// Upsert one order by channel and external order number.
#[utoipa::path(post, path = "/api/v1/feeds/orders", tag = "integrations",
    security(("bearer" = []), ("api_key" = [])),
    request_body = OrderFeedItem,
    responses(
        (status = 201, description = "Created", body = OrderUpserted),
        (status = 200, description = "Updated or unchanged", body = OrderUpserted),
        (status = 403, description = "Needs orders:write", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order is on file for another customer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, or no customer has these handles", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upsert_one_order(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<OrderFeedItem>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::RecordOrders)?;
    let item = body.into_inner();
    let shop_id = caller.shop_id();
    let tiers = state.settings.tier_settings();
    let (outcome, view) = state
        .db
        .write(move |conn| {
            let (outcome, id) = upsert_feed_order(conn, shop_id, &item, &tiers)?;
            let order = orders::get(conn, shop_id, id)?;
            let view = orders::views(conn, vec![order])?.pop();
            Ok((outcome, view))
        })
        .await?;
    let order = view.ok_or_else(|| ApiError::Internal("upserted order vanished".into()))?;
    Ok(HttpResponse::build(status_for(outcome)).json(OrderUpserted { outcome, order }))
}

/// Upsert up to 1,000 orders by channel and external order number.
#[utoipa::path(post, path = "/api/v1/feeds/orders/batch", tag = "integrations",
    security(("bearer" = []), ("api_key" = [])),
    request_body = OrderBatch,
    responses(
        (status = 200, description = "Applied; failed items, if any, are in results", body = BatchReport),
        (status = 403, description = "Needs orders:write", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed batch, or (atomic) an item failed: `report` holds the BatchReport", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upsert_orders(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<OrderBatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::RecordOrders)?;
    let batch = body.into_inner();
    let shop_id = caller.shop_id();
    let tiers = state.settings.tier_settings();
    run_batch(&state, batch.items, batch.atomic, move |conn, item| {
        upsert_feed_order(conn, shop_id, item, &tiers)
    })
    .await
}

/// The reviewer's customer id: by handle, or a new customer when a name is given.
fn reviewer(conn: &mut DbConnection, shop_id: i64, item: &ReviewFeedItem) -> Result<i64, ApiError> {
    let handles = customer_queries::normalized_handles(&item.customer_contacts)?;
    if let Some(owner) = owner_by_handles(conn, shop_id, &handles)? {
        return Ok(owner);
    }
    let Some(name) = &item.customer_name else {
        return Err(ApiError::field(
            "customer_contacts",
            "no customer has these handles; send customer_name to create one",
        ));
    };
    let request = CreateCustomerRequest {
        name: name.clone(),
        contacts: item.customer_contacts.clone(),
        address: None,
        birthday: None,
        source: Source::Online,
        notes: String::new(),
        tags: Vec::new(),
    };
    validate(&request)?;
    Ok(customer_queries::create(conn, shop_id, &request)?.id)
}

fn reviewed_order(
    conn: &mut DbConnection,
    shop_id: i64,
    customer_id: i64,
    reference: &OrderReference,
) -> Result<i64, ApiError> {
    match orders::find_by_external(
        conn,
        shop_id,
        reference.channel,
        reference.external_order_no.trim(),
    )? {
        Some(order) if order.customer_id == customer_id => Ok(order.id),
        Some(_) => Err(ApiError::field("order", "is an order of another customer")),
        None => Err(ApiError::field("order", "no such order")),
    }
}

/// Open a negative-review ticket from a review feed; the same review (platform + review
/// id) never opens two tickets: re-sending it updates the ticket's review details.
#[utoipa::path(post, path = "/api/v1/feeds/reviews", tag = "integrations",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ReviewFeedItem,
    responses(
        (status = 201, description = "Ticket opened", body = ReviewUpserted),
        (status = 200, description = "Review already on a ticket (updated or unchanged)", body = ReviewUpserted),
        (status = 403, description = "Needs tickets:write", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The reviewer is archived", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upsert_review(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<ReviewFeedItem>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OpenTickets)?;
    let item = body.into_inner();
    let policy = state.settings.tickets.deadlines;
    let auto_assign = state.settings.tickets.auto_assign;
    let tiers = state.settings.tier_settings();
    let attempt = |caller: Principal, item: ReviewFeedItem| {
        state.db.write(move |conn| {
            let shop_id = caller.shop_id();
            let customer_id = reviewer(conn, shop_id, &item)?;
            let order_id = item
                .order
                .as_ref()
                .map(|r| reviewed_order(conn, shop_id, customer_id, r))
                .transpose()?;
            let title = item.title.clone().unwrap_or_else(|| {
                let platform = serde_json::to_value(item.platform)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                format!("{}-star review on {platform}", item.rating)
            });
            let ctx = Context {
                caller: &caller,
                now: Utc::now().naive_utc(),
                policy,
                tiers,
            };
            let report = ReviewReport {
                customer_id,
                order_id,
                title: &title,
                details: NegativeReviewDetails {
                    platform: item.platform,
                    rating: item.rating,
                    review_text: item.review_text.clone(),
                    review_id: Some(item.review_id.trim().to_owned()),
                    posted_at: item.posted_at,
                },
            };
            let (ticket, outcome) = operations::upsert_review(conn, &ctx, report, auto_assign)?;
            Ok((ticket.view(ctx.now)?, outcome))
        })
    };
    // Two deliveries of the same new review racing on PostgreSQL: the loser's insert hits
    // the unique review key, and a second try finds the winner's ticket.
    let (ticket, outcome) = match attempt(caller.clone(), item.clone()).await {
        Err(ApiError::Conflict { kind, .. })
            if kind == "duplicate" || kind == "duplicate-review" =>
        {
            attempt(caller, item).await?
        }
        other => other?,
    };
    Ok(HttpResponse::build(status_for(outcome)).json(ReviewUpserted { outcome, ticket }))
}
