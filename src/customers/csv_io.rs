//! CSV import (customers, orders) and export (customers).
//!
//! Every row is parsed and validated before anything is written; rows are then upserted
//! one savepoint each, so a row the database refuses never leaves half of itself behind.
//! Upserts key on contact handles (customers) and on channel + order number (orders), so
//! importing the same file twice changes nothing the second time.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use diesel::Connection;
use futures_util::stream;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use utoipa::ToSchema;
use validator::Validate;

use super::contacts::ContactKind;
use super::orders::{Channel, CreateOrderRequest, OrderItemInput, OrderStatus};
use super::queries::{self, CustomerCursor, CustomerFilter};
use super::upsert::{Handles, UpsertOutcome, upsert_customer, upsert_order};
use super::{ContactHandle, CreateCustomerRequest, ListCustomersQuery, Source};
use crate::auth::{Caller, roles::Permission};
use crate::db::DbConnection;
use crate::error::{ApiError, FieldError};
use crate::extract::{Query, content_length, flatten_validation_errors, read_body, utc_offset};
use crate::state::AppState;
use crate::tiers::engine::TierSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFile {
    Customers,
    Orders,
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Which file this is.
    pub file: ImportFile,
    /// `true`: import nothing if any row is bad (422 with the report).
    pub atomic: Option<bool>,
    /// Offset applied to order times written without one (default `+08:00`, China Standard Time).
    #[validate(length(min = 6, max = 6))]
    pub utc_offset: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    /// Line in the file (the header is line 1).
    pub line: u64,
    /// The column at fault, where one is.
    pub column: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    pub file: ImportFile,
    pub atomic: bool,
    /// Data rows read (the header excluded).
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    /// Rows identical to what is on file.
    pub unchanged: usize,
    /// Rows not imported; each is in `errors`.
    pub failed: usize,
    pub errors: Vec<RowError>,
}

/// Customer CSV columns. Handle columns may hold several values separated by `;`.
pub const CUSTOMER_COLUMNS: [&str; 10] = [
    "name",
    "phone",
    "wechat",
    "shop_account",
    "email",
    "address",
    "birthday",
    "source",
    "tags",
    "notes",
];
/// Columns the export adds; an import accepts and ignores them, so exports re-import.
pub const EXPORT_ONLY_COLUMNS: [&str; 5] = [
    "id",
    "order_count",
    "total_spent",
    "last_order_at",
    "created_at",
];
/// Order CSV columns. Rows sharing channel and order_no are one order with several items.
pub const ORDER_COLUMNS: [&str; 13] = [
    "channel",
    "order_no",
    "ordered_at",
    "status",
    "total",
    "product",
    "sku",
    "quantity",
    "unit_price",
    "customer_phone",
    "customer_wechat",
    "customer_shop_account",
    "customer_email",
];

const HANDLE_COLUMNS: [(&str, ContactKind); 4] = [
    ("phone", ContactKind::Phone),
    ("wechat", ContactKind::Wechat),
    ("shop_account", ContactKind::ShopAccount),
    ("email", ContactKind::Email),
];

/// Exact money from text: "129.90", "129.9", "129", optionally with a ¥ sign. Never a float.
pub fn parse_money_cents(raw: &str) -> Result<i64, String> {
    let text = raw.trim().trim_start_matches(['¥', '￥']).trim();
    let (units, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if units.is_empty() || !digits_only(units) || !digits_only(fraction) || fraction.len() > 2 {
        return Err(format!("{raw:?} is not an amount such as 129.90"));
    }
    let cents = format!("{fraction:0<2}");
    units
        .parse::<i64>()
        .ok()
        .and_then(|u| u.checked_mul(100))
        .and_then(|u| u.checked_add(cents.parse::<i64>().unwrap_or(0)))
        .ok_or_else(|| format!("{raw:?} is too large"))
}

/// A time with its own offset (RFC 3339), or a local date-time or date at `offset`.
pub fn parse_time(raw: &str, offset: FixedOffset) -> Result<DateTime<Utc>, String> {
    let text = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%Y/%m/%d"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(text, f).ok())
            .map(|d| d.and_time(NaiveTime::MIN))
    })
    .ok_or_else(|| {
        format!("{raw:?} is not a date-time such as 2026-11-20 13:45 or 2026-11-20T13:45:00+08:00")
    })?;
    offset
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{raw:?} is not a valid local time"))
}

/// The file as UTF-8 text without its byte-order mark, or the line where it stops being UTF-8.
fn decode(body: &[u8]) -> Result<&str, ApiError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    // No text column takes NUL; a file holding one is binary or damaged.
    if let Some(at) = body.iter().position(|b| *b == 0) {
        let line = body[..at].iter().filter(|b| **b == b'\n').count() + 1;
        return Err(ApiError::field(
            "body",
            format!("the file contains a NUL byte (line {line}); is it a text file?"),
        ));
    }
    std::str::from_utf8(body).map_err(|e| {
        let line = body[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        ApiError::field("body", format!("the file is not UTF-8 text (line {line})"))
    })
}

/// One data row by column name, with its line number.
struct Row {
    line: u64,
    cells: BTreeMap<String, String>,
}

impl Row {
    fn get(&self, column: &str) -> Option<&str> {
        self.cells
            .get(column)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn error(&self, column: Option<&str>, message: impl Into<String>) -> RowError {
        RowError {
            line: self.line,
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// Reads the header and rows; unknown or repeated columns refuse the whole file.
fn read_rows(text: &str, known: &[&str]) -> Result<Vec<Result<Row, RowError>>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::field("body", format!("cannot read the header line: {e}")))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for header in &headers {
        if !known.contains(&header.as_str()) && !EXPORT_ONLY_COLUMNS.contains(&header.as_str()) {
            problems.push(FieldError::new(
                format!("column {header:?}"),
                format!("unknown column; known columns: {}", known.join(", ")),
            ));
        } else if !seen.insert(header.clone()) {
            problems.push(FieldError::new(
                format!("column {header:?}"),
                "appears twice",
            ));
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        rows.push(match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                let cells = headers
                    .iter()
                    .zip(record.iter())
                    .map(|(h, v)| (h.clone(), v.to_owned()))
                    .collect();
                Ok(Row { line, cells })
            }
            Err(e) => Err(RowError {
                line: e.position().map_or(0, |p| p.line()),
                column: None,
                message: format!("unreadable row: {e}"),
            }),
        });
    }
    Ok(rows)
}

fn validation_errors(row: &Row, errors: &validator::ValidationErrors) -> Vec<RowError> {
    flatten_validation_errors(errors)
        .into_iter()
        .map(|f| {
            let column = match f.field.as_str() {
                "contacts" => None,
                "display_name" => Some("name"),
                other => Some(other),
            };
            row.error(column, f.message)
        })
        .collect()
}

// ---- customers -----------------------------------------------------------------------

fn parse_customer_row(row: &Row) -> Result<CreateCustomerRequest, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut contacts = Vec::new();
    for (column, kind) in HANDLE_COLUMNS {
        for value in row
            .get(column)
            .unwrap_or("")
            .split(';')
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            contacts.push(ContactHandle {
                kind,
                value: value.to_owned(),
            });
        }
    }
    if contacts.is_empty() {
        errors.push(row.error(
            None,
            "give at least one of phone, wechat, shop_account, email",
        ));
    }
    let birthday = match row
        .get("birthday")
        .map(|b| NaiveDate::parse_from_str(b, "%Y-%m-%d"))
    {
        None => None,
        Some(Ok(date)) => Some(date),
        Some(Err(_)) => {
            errors.push(row.error(Some("birthday"), "must be a date such as 1990-05-17"));
            None
        }
    };
    let source = match row.get("source") {
        None => Source::Online,
        Some(value) => Source::parse(value).unwrap_or_else(|| {
            errors.push(row.error(Some("source"), "must be in_store or online"));
            Source::Online
        }),
    };
    let request = CreateCustomerRequest {
        name: row.get("name").unwrap_or("").to_owned(),
        contacts,
        address: row.get("address").map(str::to_owned),
        birthday,
        source,
        notes: row.get("notes").unwrap_or("").to_owned(),
        tags: row
            .get("tags")
            .unwrap_or("")
            .split(';')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    if let Err(invalid) = request.validate() {
        let no_handles = request.contacts.is_empty();
        errors.extend(
            validation_errors(row, &invalid)
                .into_iter()
                // A missing handle is already reported above, in the file's terms.
                .filter(|e| !(no_handles && e.column.is_none())),
        );
    }
    if errors.is_empty() {
        Ok(request)
    } else {
        Err(errors)
    }
}

// ---- orders --------------------------------------------------------------------------

struct OrderGroup {
    lines: Vec<u64>,
    customer_handles: Handles,
    request: CreateOrderRequest,
}

fn parse_order_row(
    row: &Row,
    offset: FixedOffset,
) -> Result<(CreateOrderRequest, Handles), Vec<RowError>> {
    let mut errors = Vec::new();
    let channel = match row.get("channel").map(Channel::parse) {
        Some(Some(channel)) => Some(channel),
        _ => {
            errors.push(row.error(
                Some("channel"),
                "must be taobao, tmall, wechat, store or other",
            ));
            None
        }
    };
    let status = match row.get("status") {
        None => OrderStatus::Paid,
        Some(value) => OrderStatus::parse(value).unwrap_or_else(|| {
            errors.push(row.error(
                Some("status"),
                "must be paid, refunded, partially_refunded or cancelled",
            ));
            OrderStatus::Paid
        }),
    };
    let ordered_at = match row.get("ordered_at").map(|t| parse_time(t, offset)) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            errors.push(row.error(Some("ordered_at"), e));
            None
        }
        None => {
            errors.push(row.error(Some("ordered_at"), "is required"));
            None
        }
    };
    let mut money = |column: &str, required: bool| match row.get(column).map(parse_money_cents) {
        Some(Ok(cents)) => Some(cents),
        Some(Err(e)) => {
            errors.push(row.error(Some(column), e));
            None
        }
        None if required => {
            errors.push(row.error(Some(column), "is required"));
            None
        }
        None => None,
    };
    let total = money("total", false);
    let unit_price = money("unit_price", true);
    let quantity = match row.get("quantity").map(str::parse::<i32>) {
        None => 1,
        Some(Ok(q)) => q,
        Some(Err(_)) => {
            errors.push(row.error(Some("quantity"), "must be a whole number"));
            1
        }
    };
    let mut handles = Vec::new();
    for (column, kind) in HANDLE_COLUMNS {
        if let Some(value) = row.get(&format!("customer_{column}")) {
            match super::contacts::normalize(kind, value) {
                Ok(value) => handles.push((kind, value)),
                Err(e) => errors.push(row.error(Some(&format!("customer_{column}")), e)),
            }
        }
    }
    if handles.is_empty() && errors.is_empty() {
        errors.push(row.error(
            None,
            "give the customer's phone, wechat, shop_account or email (customer_* columns)",
        ));
    }
    let request = CreateOrderRequest {
        channel: channel.unwrap_or(Channel::Other),
        external_order_no: row.get("order_no").unwrap_or("").to_owned(),
        status: Some(status),
        items: vec![OrderItemInput {
            product_name: row.get("product").unwrap_or("").to_owned(),
            sku: row.get("sku").map(str::to_owned),
            quantity,
            unit_price_cents: unit_price.unwrap_or(0),
        }],
        total_cents: total,
        ordered_at: ordered_at.unwrap_or_default(),
    };
    if let Err(invalid) = request.validate() {
        for mut error in validation_errors(row, &invalid) {
            error.column = error.column.map(|c| match c.as_str() {
                "external_order_no" => "order_no".into(),
                "items[0].product_name" => "product".into(),
                "items[0].quantity" => "quantity".into(),
                "items[0].unit_price_cents" => "unit_price".into(),
                "items[0].sku" => "sku".into(),
                "total_cents" => "total".into(),
                _ => c,
            });
            errors.push(error);
        }
    }
    if errors.is_empty() {
        Ok((request, handles))
    } else {
        Err(errors)
    }
}

/// Rows of one order must agree on everything but the item.
fn merge_into(
    group: &mut OrderGroup,
    line: u64,
    request: CreateOrderRequest,
    handles: Vec<(ContactKind, String)>,
) -> Result<(), RowError> {
    let first = &group.request;
    if first.status != request.status
        || first.ordered_at != request.ordered_at
        || first.total_cents != request.total_cents
        || group.customer_handles != handles
    {
        return Err(RowError {
            line,
            column: None,
            message: format!(
                "rows of order {} disagree on status, ordered_at, total or customer",
                request.external_order_no
            ),
        });
    }
    group.lines.push(line);
    group.request.items.extend(request.items);
    Ok(())
}

// ---- the endpoint ----------------------------------------------------------------------

/// What to write, prepared entirely before the database is touched.
enum Plan {
    Customers(Vec<(u64, CreateCustomerRequest)>),
    Orders(Vec<OrderGroup>),
}

fn plan(
    file: ImportFile,
    text: &str,
    offset: FixedOffset,
) -> Result<(Plan, usize, Vec<RowError>), ApiError> {
    let known: &[&str] = match file {
        ImportFile::Customers => &CUSTOMER_COLUMNS,
        ImportFile::Orders => &ORDER_COLUMNS,
    };
    let rows = read_rows(text, known)?;
    let count = rows.len();
    let mut errors = Vec::new();
    match file {
        ImportFile::Customers => {
            let mut valid = Vec::new();
            for row in rows {
                match row
                    .map_err(|e| vec![e])
                    .and_then(|row| parse_customer_row(&row).map(|r| (row.line, r)))
                {
                    Ok(parsed) => valid.push(parsed),
                    Err(row_errors) => errors.extend(row_errors),
                }
            }
            Ok((Plan::Customers(valid), count, errors))
        }
        ImportFile::Orders => {
            let mut groups: Vec<OrderGroup> = Vec::new();
            let mut index: BTreeMap<(Channel, String), usize> = BTreeMap::new();
            let mut failed_orders: BTreeSet<(Channel, String)> = BTreeSet::new();
            for row in rows {
                let row = match row {
                    Ok(row) => row,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                };
                let key = row
                    .get("channel")
                    .and_then(Channel::parse)
                    .zip(row.get("order_no").map(str::to_owned));
                match parse_order_row(&row, offset) {
                    Ok((request, handles)) => {
                        let key = (request.channel, request.external_order_no.trim().to_owned());
                        match index.get(&key) {
                            Some(&i) => {
                                if let Err(e) =
                                    merge_into(&mut groups[i], row.line, request, handles)
                                {
                                    errors.push(e);
                                    failed_orders.insert(key);
                                }
                            }
                            None => {
                                index.insert(key, groups.len());
                                groups.push(OrderGroup {
                                    lines: vec![row.line],
                                    customer_handles: handles,
                                    request,
                                });
                            }
                        }
                    }
                    Err(row_errors) => {
                        errors.extend(row_errors);
                        if let Some(key) = key {
                            failed_orders.insert(key);
                        }
                    }
                }
            }
            // An order with one bad row is not imported with the others' items only.
            groups.retain(|g| {
                let key = (
                    g.request.channel,
                    g.request.external_order_no.trim().to_owned(),
                );
                let keep = !failed_orders.contains(&key);
                if !keep {
                    errors.push(RowError {
                        line: g.lines[0],
                        column: None,
                        message: format!("order {} skipped: another of its rows is bad", key.1),
                    });
                }
                keep
            });
            Ok((Plan::Orders(groups), count, errors))
        }
    }
}

fn execute(
    conn: &mut DbConnection,
    shop_id: i64,
    plan: Plan,
    report: &mut ImportReport,
    tiers: &TierSettings,
) -> Result<(), ApiError> {
    let record = |lines: &[u64],
                  result: Result<(UpsertOutcome, i64), ApiError>,
                  report: &mut ImportReport| {
        match result {
            Ok((UpsertOutcome::Created, _)) => report.created += 1,
            Ok((UpsertOutcome::Updated, _)) => report.updated += 1,
            Ok((UpsertOutcome::Unchanged, _)) => report.unchanged += 1,
            Err(ApiError::Internal(cause)) => {
                tracing::error!(%cause, "import row failed");
                report.errors.push(RowError {
                    line: lines[0],
                    column: None,
                    message: "an unexpected error occurred; it has been logged".into(),
                });
            }
            Err(error) => report.errors.push(RowError {
                line: lines[0],
                column: None,
                message: error.to_string(),
            }),
        }
    };
    match plan {
        Plan::Customers(rows) => {
            for (line, request) in rows {
                let result = conn.transaction(|c| upsert_customer(c, shop_id, &request));
                record(&[line], result, report);
            }
        }
        Plan::Orders(groups) => {
            for group in groups {
                let result = conn.transaction(|c| {
                    upsert_order(c, shop_id, &group.customer_handles, &group.request, tiers)
                });
                record(&group.lines, result, report);
            }
        }
    }
    Ok(())
}

/// Import customers or orders from CSV (leads and admins).
///
/// The body is the CSV file itself (`Content-Type: text/csv`), UTF-8 with or without a
/// byte-order mark, a header line first.
///
/// **Customers** (`file=customers`): `name` (required), `phone`, `wechat`, `shop_account`,
/// `email` (at least one handle; several values separated by `;`), `address`, `birthday`
/// (YYYY-MM-DD), `source` (`in_store` or `online`, default `online`), `tags` (separated by
/// `;`), `notes`. A row whose handles match a customer on file updates that customer
/// (handles and tags are added, given fields replaced); otherwise it creates one.
///
/// **Orders** (`file=orders`): `channel`, `order_no`, `ordered_at`, `status` (default `paid`),
/// `total` (e.g. 129.90; default: sum of items), `product`, `sku`, `quantity` (default 1),
/// `unit_price`, and the customer's `customer_phone`, `customer_wechat`,
/// `customer_shop_account` or `customer_email`. Rows with the same channel and order_no are
/// one order with several items. An order already on file (same channel and number) is updated.
///
/// Every row is validated; bad rows are reported by line. With `atomic=true` one bad row
/// imports nothing (422 `import-rejected`, with the report under `report`). Importing the
/// same file again reports every row as `unchanged`.
#[utoipa::path(post, path = "/api/v1/customers/import", tag = "customers", security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv",
        example = "name,phone,wechat,tags,source\n李娜,138 0013 8000,lina88,key customer;Beijing,online\n"),
    responses(
        (status = 200, description = "Imported (bad rows, if any, listed in errors)", body = ImportReport),
        (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown columns, not UTF-8, or (atomic) bad rows: nothing imported", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn import(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ImportQuery>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ImportCustomers)?;
    let query = query.into_inner();
    let offset = utc_offset(query.utc_offset.as_deref(), "utc_offset")?;
    let is_csv = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "text/csv" || essence == "application/csv"
        });
    if !is_csv {
        return Err(ApiError::UnsupportedMediaType(
            "send the file as Content-Type: text/csv".into(),
        ));
    }
    let body = read_body(
        &mut payload,
        content_length(&req),
        state.settings.server.import_max_bytes,
    )
    .await?;
    let text = decode(&body)?;
    let (plan, rows, errors) = plan(query.file, text, offset)?;
    let atomic = query.atomic.unwrap_or(false);
    let mut report = ImportReport {
        file: query.file,
        atomic,
        rows,
        created: 0,
        updated: 0,
        unchanged: 0,
        failed: 0,
        errors,
    };
    if atomic && !report.errors.is_empty() {
        return Err(rejected(report));
    }
    let shop_id = caller.shop_id;
    let tiers = state.settings.tier_settings();
    let report = state
        .db
        .write(move |conn| {
            execute(conn, shop_id, plan, &mut report, &tiers)?;
            report.errors.sort_by_key(|e| e.line);
            report.failed = report
                .errors
                .iter()
                .map(|e| e.line)
                .collect::<BTreeSet<_>>()
                .len();
            if atomic && !report.errors.is_empty() {
                // Rolls the whole transaction back.
                return Err(rejected(report));
            }
            Ok(report)
        })
        .await?;
    tracing::info!(
        file = ?report.file, created = report.created, updated = report.updated,
        unchanged = report.unchanged, failed = report.failed, by = caller.user_id,
        "CSV import"
    );
    Ok(HttpResponse::Ok().json(report))
}

fn rejected(mut report: ImportReport) -> ApiError {
    report.failed = report
        .errors
        .iter()
        .map(|e| e.line)
        .collect::<BTreeSet<_>>()
        .len();
    report.created = 0;
    report.updated = 0;
    report.unchanged = 0;
    let mut extensions = Map::new();
    extensions.insert(
        "report".into(),
        serde_json::to_value(&report).unwrap_or_default(),
    );
    ApiError::Unprocessable {
        kind: "import-rejected",
        detail: format!(
            "{} of {} rows are bad; nothing was imported (atomic)",
            report.failed, report.rows
        ),
        extensions,
    }
}

// ---- export --------------------------------------------------------------------------

const EXPORT_PAGE: i64 = 500;

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn export_rows(
    conn: &mut DbConnection,
    filter: &CustomerFilter,
    after: Option<i64>,
) -> Result<(Vec<u8>, Option<i64>), ApiError> {
    let cursor = after.map(CustomerCursor::Id);
    let rows = queries::list(
        conn,
        filter,
        super::CustomerSort::Oldest,
        cursor,
        EXPORT_PAGE,
    )?;
    let last = (rows.len() as i64 == EXPORT_PAGE)
        .then(|| rows.last().map(|c| c.id))
        .flatten();
    let views = queries::views(conn, rows)?;
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for view in views {
        let handles = |kind: ContactKind| {
            view.contacts
                .iter()
                .filter(|h| h.kind == kind)
                .map(|h| h.value.as_str())
                .collect::<Vec<_>>()
                .join(";")
        };
        let tag_names = view
            .tags
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(";");
        writer
            .write_record([
                view.id.to_string(),
                view.name.clone(),
                handles(ContactKind::Phone),
                handles(ContactKind::Wechat),
                handles(ContactKind::ShopAccount),
                handles(ContactKind::Email),
                view.address.clone().unwrap_or_default(),
                view.birthday.map(|b| b.to_string()).unwrap_or_default(),
                view.source.as_str().to_owned(),
                tag_names,
                view.notes.clone(),
                view.orders.count.to_string(),
                money(view.orders.total_spent_cents),
                view.orders
                    .last_order_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
                view.created_at.to_rfc3339(),
            ])
            .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    Ok((bytes, last))
}

/// Export customers matching the list filters as CSV (UTF-8 with a byte-order mark, so
/// spreadsheet programs show Chinese text correctly). The columns are the import's plus
/// `id`, `order_count`, `total_spent`, `last_order_at`, `created_at`, which an import
/// ignores: an export can be edited and imported back. `sort`, `limit`, `cursor` and
/// `with_total` do not apply; rows come oldest first, streamed.
#[utoipa::path(get, path = "/api/v1/customers/export", tag = "customers", security(("bearer" = [])),
    params(ListCustomersQuery),
    responses(
        (status = 200, description = "CSV file", body = String, content_type = "text/csv"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListCustomersQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewCustomers)?;
    let filter = CustomerFilter::from_query(caller.shop_id, &query, Utc::now().naive_utc())?;
    let mut header = b"\xEF\xBB\xBF".to_vec();
    let columns = [
        &EXPORT_ONLY_COLUMNS[..1],
        &CUSTOMER_COLUMNS[..],
        &EXPORT_ONLY_COLUMNS[1..],
    ]
    .concat();
    header.extend_from_slice(columns.join(",").as_bytes());
    header.push(b'\n');
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
        async move {
            match next {
                Next::Header => Some((Ok(web::Bytes::from(header)), Next::After(None))),
                Next::After(after) => {
                    let page = state
                        .db
                        .read(move |conn| export_rows(conn, &filter, after))
                        .await;
                    match page {
                        Ok((bytes, Some(last))) => {
                            Some((Ok(web::Bytes::from(bytes)), Next::After(Some(last))))
                        }
                        Ok((bytes, None)) => Some((Ok(web::Bytes::from(bytes)), Next::Done)),
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
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"customers.csv\"",
        ))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_parsed_exactly() {
        assert_eq!(parse_money_cents("129.90"), Ok(12990));
        assert_eq!(parse_money_cents("129.9"), Ok(12990));
        assert_eq!(parse_money_cents("¥ 129"), Ok(12900));
        assert_eq!(parse_money_cents("0.01"), Ok(1));
        // 0.1 + 0.2 in floating point is not 0.3; here amounts are exact.
        assert_eq!(parse_money_cents("0.30"), Ok(30));
        for bad in ["", "-1", "1.234", "1,000", "abc", "1.2.3", ".5"] {
            assert!(parse_money_cents(bad).is_err(), "{bad}");
        }
        assert!(parse_money_cents("99999999999999999999").is_err());
        assert_eq!(money(12990), "129.90");
        assert_eq!(money(5), "0.05");
    }

    #[test]
    fn local_times_use_the_offset_and_explicit_offsets_win() {
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        assert_eq!(
            parse_time("2026-11-20 08:30", cst).unwrap().to_rfc3339(),
            "2026-11-20T00:30:00+00:00"
        );
        assert_eq!(
            parse_time("2026-11-20", cst).unwrap().to_rfc3339(),
            "2026-11-19T16:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-11-20T08:30:00Z", cst)
                .unwrap()
                .to_rfc3339(),
            "2026-11-20T08:30:00+00:00"
        );
        assert!(parse_time("20/11/2026", cst).is_err());
    }

    #[test]
    fn byte_order_mark_is_dropped_and_bad_utf8_located() {
        assert_eq!(decode(b"\xEF\xBB\xBFname\n").unwrap(), "name\n");
        let err = decode(b"name\nok\n\xFF\n").unwrap_err();
        assert!(matches!(err, ApiError::Validation(ref f) if f[0].message.contains("line 3")));
    }

    #[test]
    fn customer_rows_are_validated_column_by_column() {
        let rows = read_rows(
            "name,phone,birthday,source\n李娜,13800138000,1990-05-17,online\n,12,17/05/1990,web\n",
            &CUSTOMER_COLUMNS,
        )
        .unwrap();
        let good = rows[0].as_ref().unwrap();
        let parsed = parse_customer_row(good).unwrap();
        assert_eq!(parsed.name, "李娜");
        assert_eq!(parsed.contacts[0].value, "13800138000");
        let bad = rows[1].as_ref().unwrap();
        let errors = parse_customer_row(bad).unwrap_err();
        let columns: BTreeSet<Option<String>> = errors.iter().map(|e| e.column.clone()).collect();
        assert!(columns.contains(&Some("birthday".into())));
        assert!(columns.contains(&Some("source".into())));
        assert!(columns.contains(&Some("name".into())));
        assert!(errors.iter().all(|e| e.line == 3));
    }

    #[test]
    fn unknown_columns_refuse_the_file() {
        assert!(read_rows("name,phone,favourite_colour\n", &CUSTOMER_COLUMNS).is_err());
        assert!(read_rows("name,phone,phone\n", &CUSTOMER_COLUMNS).is_err());
        assert!(read_rows("id,name,phone,order_count\n", &CUSTOMER_COLUMNS).is_ok());
    }
}
