//! CSV files in and out: parsing, validation and planning of an import, and the export's
//! rows. Pure functions (no HTTP, no database), unit-tested here.
//!
//! Every row is parsed and validated before anything is written, so a file is planned in
//! full first; the plan is then applied by the batch runner. Upserts key on contact
//! handles (customers) and on channel + order number (orders), so importing the same file
//! twice changes nothing the second time.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use validator::Validate;

use super::{CUSTOMER_COLUMNS, EXPORT_ONLY_COLUMNS, Handles, ImportFile, ORDER_COLUMNS, RowError};
use crate::customers::contacts::{self, ContactKind};
use crate::customers::{ContactHandle, CreateCustomerRequest, CustomerView, Source};
use crate::error::{ApiError, FieldError};
use crate::extract::flatten_validation_errors;
use crate::orders::{Channel, CreateOrderRequest, OrderItemInput, OrderStatus};

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
pub fn decode(body: &[u8]) -> Result<&str, ApiError> {
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

pub struct OrderGroup {
    pub lines: Vec<u64>,
    pub customer_handles: Handles,
    pub request: CreateOrderRequest,
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
            match contacts::normalize(kind, value) {
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

// ---- the plan ------------------------------------------------------------------------

/// What to write, prepared entirely before the database is touched.
pub enum Plan {
    Customers(Vec<(u64, CreateCustomerRequest)>),
    Orders(Vec<OrderGroup>),
}

pub fn plan(
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

// ---- export --------------------------------------------------------------------------

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The export's header line, with the byte-order mark that makes spreadsheet programs
/// read the file as UTF-8.
pub fn export_header() -> Vec<u8> {
    let mut header = b"\xEF\xBB\xBF".to_vec();
    let columns = [
        &EXPORT_ONLY_COLUMNS[..1],
        &CUSTOMER_COLUMNS[..],
        &EXPORT_ONLY_COLUMNS[1..],
    ]
    .concat();
    header.extend_from_slice(columns.join(",").as_bytes());
    header.push(b'\n');
    header
}

/// Customers as export rows, in the header's column order.
pub fn export_rows(views: &[CustomerView]) -> Result<Vec<u8>, ApiError> {
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
    writer
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))
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
