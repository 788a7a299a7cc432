//! Ingestion over HTTP: `/api/v1/customers/import` and `/customers/export` (CSV), and
//! `/api/v1/feeds/*`, how shop back offices and review monitors push data in. Handlers
//! parse, check permission, and hand the work to `csv`, `batch` and `operations`.

use crate::audit::{AuditAction, NewAuditEntry, store as audit_store};
use crate::auth::authenticate::ClientAddress;
use crate::tags::operations::Tagger;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, http::header, web};
use chrono::Utc;
use futures_util::{StreamExt, stream};
use validator::Validate;

use super::batch;
use super::operations::{
    self, ImportOptions, ReviewSettings, export_header, export_page, import_csv, record_export,
    upsert_customer, upsert_feed_order,
};
use super::text::ExportEncoding;
use super::{
    BatchReport, CustomerBatch, CustomerUpsertAnswer, CustomerUpserted, ExportEncodingQuery,
    ImportForm, ImportQuery, ImportReport, OrderBatch, OrderFeedItem, OrderUpsertAnswer,
    OrderUpserted, ReviewFeedItem, ReviewUpsertAnswer, ReviewUpserted,
};
use crate::auth::{Caller, Principal, roles::Permission};
use crate::customers::rules::filter_for_audit;
use crate::customers::store::{self as customer_store, CustomerFilter};
use crate::customers::{CreateCustomerRequest, ListCustomersQuery};
use crate::db::DbConnection;
use crate::error::{ApiError, ProblemKind};
use crate::extract::{
    Body, Query, content_length, parse_query, split_query, spool_body, utc_offset, validate,
};
use crate::orders::store as order_store;
use crate::response::UpsertOutcome;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/customers/import").route(web::post().to(import)))
        .service(web::resource("/customers/export").route(web::get().to(export)))
        .service(web::resource("/feeds/customers").route(web::post().to(upsert_one_customer)))
        .service(web::resource("/feeds/customers/batch").route(web::post().to(upsert_customers)))
        .service(web::resource("/feeds/orders").route(web::post().to(upsert_one_order)))
        .service(web::resource("/feeds/orders/batch").route(web::post().to(upsert_orders)))
        .service(web::resource("/feeds/reviews").route(web::post().to(upsert_review)));
}

/// Import customers or orders from CSV (leads and admins).
///
/// The body is the CSV file itself (`Content-Type: text/csv`), or a form upload
/// (`multipart/form-data`) with the file as its one part, named `file`; a header line first,
/// at most `IMPORT_MAX_BYTES` (20 MiB by default) either way. The file may be UTF-8 (with or
/// without a byte-order mark), GBK or GB18030 (what Excel on Chinese Windows saves): say
/// which with `encoding`, or leave it out to have a file that is valid UTF-8 read as UTF-8
/// and any other as GB18030 (GBK's superset). The `charset` of the `Content-Type` is not
/// read (tools send `utf-8` whatever the file holds). Bytes that are no text in the encoding
/// refuse the file (422, naming the line), and so does Chinese text that is valid UTF-8 sent
/// as `gbk` or `gb18030` (it would be read as other characters): nothing is stored as
/// garbage.
///
/// Columns may be headed in English (below) or in Chinese: 姓名 or 昵称 (`name`), 手机 /
/// 手机号 / 电话 (`phone`), 微信 (`wechat`), 旺旺 / 买家会员名 (`shop_account`), 邮箱
/// (`email`), 地址 (`address`), 生日 (`birthday`), 来源 (`source`), 标签 (`tags`),
/// 标签.<group> (`tags.<group>`), 备注 (`notes`); 订单号 (`order_no`), 渠道 / 平台
/// (`channel`), 下单时间 (`ordered_at`), 状态 (`status`), 金额 / 实付金额 (`total`), 商品
/// (`product`), 商品编码 / 商家编码 (`sku`), 数量 (`quantity`), 单价 (`unit_price`), and
/// in an order file 手机, 微信, 旺旺, 邮箱 for the `customer_*` columns (the whole list is in
/// the README). A trailing `(元)` is ignored (`金额(元)`). Two headers naming one column
/// (`姓名` and `name`, or `姓名` and `昵称`) refuse the file. Coded cells may be written in
/// Chinese too: `source` 门店 / 到店 / 线下 or 线上 / 网店; `channel` 淘宝, 天猫, 京东, 拼多多,
/// 抖音, 快手, 小红书, 大众点评, 微信, 门店, 其他; `status` 已付款, 已退款, 部分退款, 已取消.
///
/// Dates and times are read alike in both files, the year first: `1990-05-17`,
/// `1990/5/17`, `1990.5.17`, `1990年5月17日`, `19900517`, or an Excel date number of five
/// digits (`32980` is 1990-04-17); times add `14:30` or `14:30:00` (`2026/3/5 14:30`,
/// `2026年3月5日 14:30`), or are RFC 3339 with an offset; an Excel number's fraction is the
/// time of day. Refused rather than guessed: day or month first (`05/06/1990`), two-digit
/// years, days the calendar lacks (`1990/2/30`), other numbers (`1990`, `35`).
///
/// **Customers** (`file=customers`): `name` (required), `phone`, `wechat`, `shop_account`,
/// `email` (at least one handle; several values separated by `;`), `address`, `birthday`,
/// `source` (`in_store` or `online`, default `online`), `tags` (separated by
/// `;`), `notes`, and any number of tag group columns `tags.<group>` (`tags.region`:
/// `北京;上海`), each holding the customer's tags in that group, the group as written. A
/// row whose handles match a customer on file updates that customer (handles and tags are
/// added, given fields replaced); otherwise it creates one. A tag not on file is created in
/// the group its column names (no group from `tags`); a tag on file keeps its group, and
/// where the file gives another one the report says so in `warnings` (once per tag). One
/// tag in two groups' columns of a row is a bad row. The columns the export adds (`id`,
/// `order_count`, `total_spent`, `last_order_at`, `created_at`, and the computed `tier`,
/// `stage` and `at_risk`) are accepted and ignored whatever they hold: tiers are computed
/// from orders and tickets, never typed in.
///
/// **Orders** (`file=orders`): `channel`, `order_no`, `ordered_at`, `status` (default `paid`),
/// `total` (e.g. 129.90; default: sum of items), `product`, `sku`, `quantity` (default 1),
/// `unit_price`, and the customer's `customer_phone`, `customer_wechat`,
/// `customer_shop_account` or `customer_email`, and optionally `salesperson` (the staff
/// member who sold it: their email, or their display name when exactly one staff member of
/// the shop has it, else the row is refused) and `outlet` (the store or platform shop, 1
/// to 100 characters). A SKU not in the product catalogue is added to it, named after the
/// item. Consecutive rows with the same channel and
/// order_no are one order with several items (they must agree on everything but the item); an order number that comes back after other
/// orders is refused there (rows of one order must follow each other). An order already on
/// file (same channel and number) is updated.
///
/// A cell starting with `'` followed by `=`, `+`, `-`, `@`, a tab or a carriage return is
/// read without that `'`, which the export adds so that spreadsheet programs do not run
/// such cells as formulas: an export imports back unchanged.
///
/// Every row is checked before any is written; bad rows are reported by line and column,
/// the column named as the file's header names it (`手机` in a file headed in Chinese; a
/// column the file lacks in its header's language) (the first
/// 100 problems in `errors`, every bad row counted in `failed`, `errors_truncated` when
/// more were found). `encoding` says how the file was read. Good rows are written in transactions of `IMPORT_BATCH_ROWS` rows (500
/// by default), so other work is not held up by a long file. With `atomic=true` the file
/// is one transaction and one bad row imports nothing (422 `import-rejected`, with the
/// report under `report`). Importing the same file again reports every row as `unchanged`.
/// If the database becomes unreachable the import stops with a 503 saying which lines were
/// imported; sending the file again is safe.
#[utoipa::path(post, path = "/api/v1/customers/import", tag = "customers", security(("bearer" = [])),
    params(ImportQuery),
    request_body(content(
        (String = "text/csv",
            example = "name,phone,wechat,tags,source\n李娜,138 0013 8000,lina88,key customer;Beijing,online\n"),
        (ImportForm = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "Imported (bad rows, if any, listed in errors)", body = ImportReport),
        (status = 403),
        (status = 413),
        (status = 415),
        (status = 422, description = "Unknown or repeated columns, bytes that are no text in the file's encoding (field `body`), UTF-8 Chinese text sent as `gbk`/`gb18030` (field `encoding`), or (atomic) bad rows: nothing imported"),
        (status = 503, description = "The database became unreachable: the import stopped (the detail says which lines were imported)"),
    ))]
pub async fn import(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    query: Query<ImportQuery>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ImportCustomers)?;
    let query = query.into_inner();
    let offset = utc_offset(query.utc_offset.as_deref(), "utc_offset")?;
    let essence = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let settings = state.settings.import;
    let timeout = state.settings.server.body_read_timeout();
    let upload = match essence.as_str() {
        "text/csv" | "application/csv" => {
            spool_body(
                &mut payload,
                content_length(&req),
                settings.max_bytes,
                timeout,
            )
            .await?
        }
        // A form upload (what generated clients and browsers send): the part named `file`,
        // received into the same spool, never buffered whole.
        "multipart/form-data" => {
            let mut form = actix_multipart::Multipart::new(req.headers(), payload);
            let mut upload = None;
            while let Some(part) = form.next().await {
                let mut part =
                    part.map_err(|e| ApiError::BadRequest(format!("cannot read the form: {e}")))?;
                if part.name() != Some("file") || upload.is_some() {
                    return Err(ApiError::field(
                        part.name().unwrap_or("form"),
                        "is not a part of this form: send one part named file",
                    ));
                }
                upload = Some(spool_body(&mut part, None, settings.max_bytes, timeout).await?);
            }
            upload.ok_or_else(|| {
                ApiError::field(
                    "file",
                    "is required: the CSV file as a form part named file",
                )
            })?
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "send the file as Content-Type: text/csv, or as multipart/form-data with a part named file".into(),
            ));
        }
    };
    let options = ImportOptions {
        file: query.file,
        atomic: query.atomic.unwrap_or(false),
        offset,
        batch_rows: settings.batch_rows as usize,
        encoding: query.encoding,
        actor: caller.subject(),
        address: address.as_deref().map(str::to_owned),
    };
    let (db, tiers, shop_id) = (state.db.clone(), state.settings.tiers, caller.shop_id);
    let report = web::block(move || import_csv(&db, shop_id, &tiers, upload, options)).await??;
    // On the record once the file is in (an import commits in batches as it goes; one that
    // stops on the way says so to its caller, and its batches show in the data).
    let details = serde_json::json!({
        "file": report.file, "atomic": query.atomic.unwrap_or(false), "created": report.created,
        "updated": report.updated, "unchanged": report.unchanged, "failed": report.failed,
    });
    let (actor, rows) = (
        caller.subject(),
        i64::try_from(report.rows).unwrap_or(i64::MAX),
    );
    state
        .db
        .write(move |conn| {
            audit_store::record(
                conn,
                &NewAuditEntry {
                    shop_id,
                    actor: &actor,
                    action: AuditAction::CustomersImport,
                    details: &details,
                    row_count: Some(rows),
                    address: address.as_deref(),
                },
                Utc::now().naive_utc(),
            )
        })
        .await?;
    tracing::info!(
        file = ?report.file, rows = report.rows, created = report.created,
        updated = report.updated, unchanged = report.unchanged, failed = report.failed,
        by = caller.user_id, "CSV import"
    );
    Ok(HttpResponse::Ok().json(report))
}

/// Export customers matching the list filters as CSV (leads and admins; every export is
/// recorded in the audit log, with its filters but never a search text).
///
/// UTF-8 with a byte-order mark, so spreadsheet programs show Chinese text correctly; or,
/// with `encoding=gbk` or `encoding=gb18030`, GB18030 for Excel on Chinese Windows (no
/// byte-order mark, `Content-Type: text/csv; charset=GB18030`): every character GBK has is
/// written as GBK writes it, the few it lacks (emoji, rare characters) in GB18030's
/// four-byte form rather than lost or replaced, so the file imports back unchanged. The
/// columns: `id`, the import's (`name` to `tags`), a `tags.<group>` column for each group
/// of tags that customers carry (sorted; a tag in a group is in its group's column, `tags`
/// holds those without one), `notes`, then `order_count`, `total_spent`, `last_order_at`,
/// `created_at` and the customer's standing, `tier` (`key`, `regular`, `small`), `stage`
/// (`potential`, `new`, `returning`, `loyal`, `dormant`) and `at_risk` (`true`, `false`).
/// An import ignores the columns after `notes` (tiers are computed, never typed in) and
/// re-creates tags in their groups: an export can be edited and imported back, into the
/// same shop (every row `unchanged`) or a new one. A cell
/// that a spreadsheet program would run as a formula (starting with `=`, `+`, `-`, `@`, a
/// tab or a carriage return) is written with a leading `'`, which the import takes off
/// again. `sort`, `limit`, `cursor` and `with_total` do not apply; rows come oldest first,
/// streamed.
#[utoipa::path(get, path = "/api/v1/customers/export", tag = "customers", security(("bearer" = [])),
    params(ListCustomersQuery, ExportEncodingQuery),
    responses(
        (status = 200, description = "CSV file, UTF-8 or GB18030 as `encoding` asks (the `Content-Type` charset says which)", body = String, content_type = "text/csv"),
        (status = 403, description = "Agents: exporting the customer file is a lead's job"),
        (status = 422),
    ))]
pub async fn export(
    state: web::Data<AppState>,
    caller: Caller,
    address: ClientAddress,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ExportCustomers)?;
    // The list's filters, and the export's own parameter.
    let (encoding, filters) = split_query(req.query_string(), &["encoding"]);
    let query: ListCustomersQuery = parse_query(&filters)?;
    let encoding = ExportEncoding::of(parse_query::<ExportEncodingQuery>(&encoding)?.encoding);
    let filter = CustomerFilter::from_query(caller.shop_id, &query, Utc::now().naive_utc())?;
    let details = filter_for_audit(&query);
    let (actor, audited, shop_id) = (caller.subject(), filter.clone(), caller.shop_id);
    let (rows, (header, groups)) = state
        .db
        .write(move |conn| {
            let rows = record_export(conn, &actor, address.as_deref(), &audited, &details)?;
            Ok((rows, export_header(conn, shop_id)?))
        })
        .await?;
    tracing::info!(by = caller.user_id, rows, "customer file exported");
    let groups: std::sync::Arc<[String]> = groups.into();
    // Each page is read only when the client has taken the previous one.
    enum Next {
        Header,
        After(Option<i64>),
        Done,
    }
    let body = stream::unfold(Next::Header, move |next| {
        let state = state.clone();
        let filter = filter.clone();
        let header = header.clone();
        let groups = groups.clone();
        async move {
            match next {
                Next::Header => {
                    let start = [encoding.preamble(), &encoding.encode(header)].concat();
                    Some((Ok(web::Bytes::from(start)), Next::After(None)))
                }
                Next::After(after) => {
                    let page = state
                        .db
                        .read(move |conn| export_page(conn, &filter, &groups, after))
                        .await;
                    match page {
                        Ok((bytes, Some(last))) => Some((
                            Ok(web::Bytes::from(encoding.encode(bytes))),
                            Next::After(Some(last)),
                        )),
                        Ok((bytes, None)) => {
                            Some((Ok(web::Bytes::from(encoding.encode(bytes))), Next::Done))
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "customer export failed mid-stream");
                            Some((Err(e), Next::Done))
                        }
                    }
                }
                Next::Done => None,
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(encoding.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"customers.csv\"",
        ))
        .streaming(body))
}

/// Applies a feed batch in one transaction (see `batch::run`) and answers 200 with the
/// report; an atomic batch with a failed item answers 422 `batch-rejected` with the report
/// as `report`.
async fn run_batch<T, F>(
    state: &AppState,
    caller: &Principal,
    write: Permission,
    (items, atomic): (Vec<T>, bool),
    upsert: F,
) -> Result<HttpResponse, ApiError>
where
    T: Validate + Send + 'static,
    F: Fn(&mut DbConnection, &T) -> batch::ItemResult + Send + 'static,
{
    let report = BatchReport {
        conceal_outcomes: !caller.sees_what_it_writes(write),
        ..BatchReport::default()
    };
    let report = state
        .db
        .write(move |conn| {
            let items = items.into_iter().enumerate();
            batch::run(conn, items, atomic, report, validate, upsert)
        })
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

fn status_for(outcome: UpsertOutcome) -> StatusCode {
    match outcome {
        UpsertOutcome::Created => StatusCode::CREATED,
        UpsertOutcome::Updated | UpsertOutcome::Unchanged => StatusCode::OK,
    }
}

/// Upsert one customer by contact handle.
///
/// The answer carries the customer when the caller may read customers (API keys with
/// `customers:read` as well); a `customers:write` key alone gets a `Receipt`
/// (`{"id", "outcome"}`), so knowing a phone number never reads the file.
#[utoipa::path(post, path = "/api/v1/feeds/customers", tag = "integrations",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateCustomerRequest,
    responses(
        (status = 201, description = "Created: the customer, or a receipt", body = CustomerUpsertAnswer),
        (status = 200, description = "Updated or unchanged: the customer, or a receipt", body = CustomerUpsertAnswer),
        (status = 403, description = "Needs customers:write"),
        (status = 409, description = "The handles belong to different customers (`duplicate-contact`), or the customer is archived (`customer-archived`)"),
        (status = 422),
    ))]
pub async fn upsert_one_customer(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<CreateCustomerRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let shows_record = caller.sees_what_it_writes(Permission::EditCustomers);
    let request = body.into_inner();
    let shop_id = caller.shop_id();
    let actor = caller.subject();
    let (outcome, answer) = state
        .db
        .write(move |conn| {
            let by = Tagger {
                actor: &actor,
                address: None,
            };
            let (outcome, id) = upsert_customer(conn, shop_id, &request, by)?;
            let answer = CustomerUpsertAnswer::of(shows_record, id, outcome, || {
                let customer = customer_store::get(conn, shop_id, id)?;
                let customer = customer_store::views(conn, vec![customer])?
                    .pop()
                    .ok_or_else(|| ApiError::Internal("upserted customer vanished".into()))?;
                Ok::<_, ApiError>(CustomerUpserted { outcome, customer })
            })?;
            Ok((outcome, answer))
        })
        .await
        .map_err(|e| e.without_record_ids(!shows_record))?;
    Ok(HttpResponse::build(status_for(outcome)).json(answer))
}

/// Upsert up to 1,000 customers by contact handle.
#[utoipa::path(post, path = "/api/v1/feeds/customers/batch", tag = "integrations",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CustomerBatch,
    responses(
        (status = 200, description = "Applied; failed items, if any, are in results", body = BatchReport),
        (status = 403, description = "Needs customers:write"),
        (status = 422, description = "Malformed batch, or (atomic) an item failed: `report` holds the BatchReport"),
    ))]
pub async fn upsert_customers(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<CustomerBatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::EditCustomers)?;
    let batch = body.into_inner();
    let shop_id = caller.shop_id();
    let write = Permission::EditCustomers;
    let actor = caller.subject();
    run_batch(
        &state,
        &caller,
        write,
        (batch.items, batch.atomic),
        move |conn, item| {
            let by = Tagger {
                actor: &actor,
                address: None,
            };
            upsert_customer(conn, shop_id, item, by)
        },
    )
    .await
}

/// Upsert one order by channel and external order number.
///
/// The answer carries the order when the caller may read customers and their orders (API
/// keys with `customers:read` as well); an `orders:write` key alone gets a `Receipt`.
#[utoipa::path(post, path = "/api/v1/feeds/orders", tag = "integrations",
    security(("bearer" = []), ("api_key" = [])),
    request_body = OrderFeedItem,
    responses(
        (status = 201, description = "Created: the order, or a receipt", body = OrderUpsertAnswer),
        (status = 200, description = "Updated or unchanged: the order, or a receipt", body = OrderUpsertAnswer),
        (status = 403, description = "Needs orders:write"),
        (status = 409, description = "The order is on file for another customer (`duplicate`), or the handles belong to different customers (`duplicate-contact`)"),
        (status = 422, description = "Invalid, or no customer has these handles"),
    ))]
pub async fn upsert_one_order(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<OrderFeedItem>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::RecordOrders)?;
    let shows_record = caller.sees_what_it_writes(Permission::RecordOrders);
    let item = body.into_inner();
    let shop_id = caller.shop_id();
    let tiers = state.settings.tiers;
    let (outcome, answer) = state
        .db
        .write(move |conn| {
            let (outcome, id) = upsert_feed_order(conn, shop_id, &item, &tiers)?;
            let answer = OrderUpsertAnswer::of(shows_record, id, outcome, || {
                let order = order_store::get(conn, shop_id, id)?;
                let order = order_store::views(conn, vec![order])?
                    .pop()
                    .ok_or_else(|| ApiError::Internal("upserted order vanished".into()))?;
                Ok::<_, ApiError>(OrderUpserted { outcome, order })
            })?;
            Ok((outcome, answer))
        })
        .await?;
    Ok(HttpResponse::build(status_for(outcome)).json(answer))
}

/// Upsert up to 1,000 orders by channel and external order number.
#[utoipa::path(post, path = "/api/v1/feeds/orders/batch", tag = "integrations",
    security(("bearer" = []), ("api_key" = [])),
    request_body = OrderBatch,
    responses(
        (status = 200, description = "Applied; failed items, if any, are in results", body = BatchReport),
        (status = 403, description = "Needs orders:write"),
        (status = 422, description = "Malformed batch, or (atomic) an item failed: `report` holds the BatchReport"),
    ))]
pub async fn upsert_orders(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<OrderBatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::RecordOrders)?;
    let batch = body.into_inner();
    let shop_id = caller.shop_id();
    let tiers = state.settings.tiers;
    let write = Permission::RecordOrders;
    run_batch(
        &state,
        &caller,
        write,
        (batch.items, batch.atomic),
        move |conn, item| upsert_feed_order(conn, shop_id, item, &tiers),
    )
    .await
}

/// Open a negative-review ticket from a review feed; the same review (platform + review
/// id) never opens two tickets: re-sending it updates the ticket's review details.
///
/// The answer carries the ticket when the caller may read tickets (API keys with
/// `tickets:read` as well); a `tickets:write` key alone gets a `Receipt` naming the ticket.
#[utoipa::path(post, path = "/api/v1/feeds/reviews", tag = "integrations",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ReviewFeedItem,
    responses(
        (status = 201, description = "Ticket opened: the ticket, or a receipt", body = ReviewUpsertAnswer),
        (status = 200, description = "Review already on a ticket (updated or unchanged): the ticket, or a receipt", body = ReviewUpsertAnswer),
        (status = 403, description = "Needs tickets:write"),
        (status = 409, description = "The reviewer is archived (`customer-archived`)"),
        (status = 422),
    ))]
pub async fn upsert_review(
    state: web::Data<AppState>,
    caller: Principal,
    body: Body<ReviewFeedItem>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OpenTickets)?;
    let shows_record = caller.sees_what_it_writes(Permission::OpenTickets);
    let caller_view = caller.clone();
    let item = body.into_inner();
    let settings = ReviewSettings {
        sla: state.sla.clone(),
        auto_assign: state.settings.tickets.auto_assign,
        tiers: state.settings.tiers,
    };
    let attempt = |caller: Principal, item: ReviewFeedItem| {
        state.db.write({
            let settings = settings.clone();
            move |conn| operations::upsert_review(conn, &caller, &item, settings)
        })
    };
    // Two deliveries of the same new review racing on PostgreSQL: the loser's insert hits
    // the unique review key, and a second try finds the winner's ticket.
    let (ticket, outcome) = match attempt(caller.clone(), item.clone()).await {
        Err(ApiError::Conflict { kind, .. })
            if kind == ProblemKind::Duplicate || kind == ProblemKind::DuplicateReview =>
        {
            attempt(caller, item).await?
        }
        other => other?,
    };
    let ticket = ticket.shown_to(&caller_view);
    let answer = ReviewUpsertAnswer::of(shows_record, ticket.id, outcome, || {
        Ok::<_, ApiError>(ReviewUpserted { outcome, ticket })
    })?;
    Ok(HttpResponse::build(status_for(outcome)).json(answer))
}
