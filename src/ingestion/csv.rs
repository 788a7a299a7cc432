//! CSV files in and out: reading an import row by row (parsing, validation, grouping an
//! order's rows), the export's rows, and the formula rule both share. Pure functions over
//! `io::Read` (no HTTP, no database), unit-tested here.
//!
//! A file is read as a stream, decoded from its encoding a chunk at a time (`text`): one
//! row in memory at a time, never the whole file. The import reads it twice more after
//! finding its encoding (`operations::import_csv`): once to check every row before
//! anything is written, once to write. A header names each column in English or by one of
//! its Chinese names (`HEADER_ALIASES`), and a row's problems name its columns as the
//! header does. Upserts key on contact handles (customers) and on
//! channel + order number (orders), so importing the same file twice changes nothing the
//! second time.
//!
//! Spreadsheet programs run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
//! return as a formula, so every cell the service writes passes through
//! [`neutralise_formula`], and every cell it reads through [`restore_formula`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::sync::Arc;

use chrono::FixedOffset;
use csv::{ByteRecord, StringRecord};
use validator::Validate;

use super::dates::{parse_date, parse_time};
use super::text::{Decoded, FileEncoding};
use super::{
    CUSTOMER_COLUMNS, EXPORT_ONLY_COLUMNS, HEADER_ALIASES, Handles, ImportFile, ORDER_COLUMNS,
    RowError, TAG_GROUP_COLUMN_ALIAS_PREFIX, TAG_GROUP_COLUMN_PREFIX, VALUE_ALIASES,
};
use crate::customers::contacts::{self, ContactKind};
use crate::customers::{ContactHandle, CreateCustomerRequest, CustomerView, Source};
use crate::error::{ApiError, FieldError};
use crate::extract::flatten_validation_errors;
use crate::orders::{Channel, CreateOrderRequest, OrderItemInput, OrderStatus};
use crate::tags::check_tag_name;

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

/// A coded cell's value: its code (`online`), or the code of its Chinese name (`线上`).
fn coded<T>(column: &str, value: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    parse(value).or_else(|| {
        VALUE_ALIASES
            .iter()
            .find(|(c, alias, _)| *c == column && *alias == value)
            .and_then(|(_, _, code)| parse(code))
    })
}

// ---- formulas -------------------------------------------------------------------------

/// First characters that make a spreadsheet program run a cell as a formula (OWASP's list).
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether a cell, past any leading `'`, starts like a formula.
fn starts_like_formula(cell: &str) -> bool {
    cell.trim_start_matches('\'').starts_with(FORMULA_TRIGGERS)
}

/// A cell as every CSV the service writes holds it: one that a spreadsheet program would
/// run as a formula (`=HYPERLINK(...)`, `@SUM(...)`, `+1+cmd|...`, `-2+3`) gets a leading
/// `'`, which makes it text. A cell that already starts with `'` before such a character
/// gets one more, so that [`restore_formula`] takes off exactly what was added.
pub fn neutralise_formula(cell: &str) -> Cow<'_, str> {
    if starts_like_formula(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// An imported cell as it was before [`neutralise_formula`]: an export re-imports
/// unchanged, phone numbers such as `+852...` and negative numbers included.
pub fn restore_formula(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if starts_like_formula(rest) => rest,
        _ => cell,
    }
}

// ---- reading a file row by row ------------------------------------------------------------

/// A record as text, or why the file is not text: no text column takes NUL, so a file
/// holding one is binary or damaged. Either is the file's fault, named by its line.
fn record_text(record: ByteRecord, first_line: u64) -> Result<StringRecord, ApiError> {
    let line_at = |record: &ByteRecord, offset: usize| {
        let newlines = record.as_slice()[..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        first_line + newlines as u64
    };
    if let Some(at) = record.as_slice().iter().position(|b| *b == 0) {
        return Err(ApiError::field(
            "body",
            format!(
                "the file contains a NUL byte (line {}); is it a text file?",
                line_at(&record, at)
            ),
        ));
    }
    StringRecord::from_byte_record(record).map_err(|e| {
        let field = e.utf8_error().field();
        let valid_up_to = e.utf8_error().valid_up_to();
        let record = e.into_byte_record();
        let start = record.range(field).map_or(0, |r| r.start);
        // Only a file read as UTF-8 gets here: a decoded one is UTF-8 by construction.
        ApiError::field(
            "body",
            FileEncoding::UTF8.not_text(line_at(&record, start + valid_up_to)),
        )
    })
}

fn row_too_long(line: u64) -> ApiError {
    ApiError::field(
        "body",
        format!(
            "the row at line {line} is longer than {} KiB; is a quote left open?",
            MAX_ROW_BYTES / 1024
        ),
    )
}

/// A file's columns, as its header line names them.
#[derive(Debug)]
struct Columns {
    file: ImportFile,
    /// The column of each header cell (`phone`, `tags.地区`).
    names: Vec<String>,
    /// How the report names each: the header as written where it is another name (`手机`),
    /// otherwise the column.
    shown: Vec<String>,
    /// Whether the header uses other names: a column the file lacks is then named by its
    /// first other name (`下单时间`), so that a report speaks the header's language.
    other_names: bool,
}

impl Columns {
    fn position(&self, column: &str) -> Option<usize> {
        self.names.iter().position(|c| c == column)
    }

    /// `column` as the report names it.
    fn show(&self, column: &str) -> String {
        if let Some(at) = self.position(column) {
            return self.shown[at].clone();
        }
        if self.other_names {
            if let Some(group) = column.strip_prefix(TAG_GROUP_COLUMN_PREFIX) {
                return format!("{TAG_GROUP_COLUMN_ALIAS_PREFIX}{group}");
            }
            let alias = HEADER_ALIASES.iter().find(|(_, customers, orders)| {
                alias_column(self.file, *customers, *orders) == Some(column)
            });
            if let Some((alias, _, _)) = alias {
                return (*alias).to_owned();
            }
        }
        column.to_owned()
    }
}

fn alias_column<'a>(
    file: ImportFile,
    customers: Option<&'a str>,
    orders: Option<&'a str>,
) -> Option<&'a str> {
    match file {
        ImportFile::Customers => customers,
        ImportFile::Orders => orders,
    }
}

/// One data row: its cells by column name, and its line number.
struct Row {
    line: u64,
    record: StringRecord,
    columns: Arc<Columns>,
}

impl Row {
    /// The cell, unless empty, as it was before an export neutralised it.
    fn get(&self, column: &str) -> Option<&str> {
        let at = self.columns.position(column)?;
        self.record
            .get(at)
            .map(restore_formula)
            .filter(|v| !v.is_empty())
    }

    /// The cells of the tag group columns, unless empty, with their groups.
    fn tag_group_cells(&self) -> impl Iterator<Item = (&str, &str)> {
        self.columns
            .names
            .iter()
            .enumerate()
            .filter_map(|(at, column)| {
                let group = column.strip_prefix(TAG_GROUP_COLUMN_PREFIX)?;
                let cell = self
                    .record
                    .get(at)
                    .map(restore_formula)
                    .filter(|v| !v.is_empty())?;
                Some((group, cell))
            })
    }

    /// A problem of the row, in `column` (named as the file names it).
    fn error(&self, column: Option<&str>, message: impl Into<String>) -> RowError {
        RowError {
            line: self.line,
            column: column.map(|c| self.columns.show(c)),
            message: message.into(),
        }
    }

    /// `columns` as the file names them, for messages: `phone, wechat` or `手机, 微信`.
    fn show(&self, columns: &[&str]) -> String {
        columns
            .iter()
            .map(|c| self.columns.show(c))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Longest row an import reads. Valid rows are far shorter (a note is at most 5,000
/// characters); a quote left open makes the rest of the file one cell, which would
/// otherwise be read into memory whole, and several times over.
pub const MAX_ROW_BYTES: usize = 256 * 1024;

/// The CSV reader's input (the file decoded), cut off once one row has taken more than
/// [`MAX_ROW_BYTES`] (give or take the reader's 8 KiB buffer): `Rows` resets the count after
/// every row.
struct RowLimit<R> {
    inner: Decoded<R>,
    taken: usize,
    exceeded: bool,
}

impl<R: Read> Read for RowLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.taken > MAX_ROW_BYTES {
            self.exceeded = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "row too long",
            ));
        }
        let read = self.inner.read(buf)?;
        self.taken += read;
        Ok(read)
    }
}

/// A CSV file read one row at a time: only the current row is in memory. The header line
/// is checked when the file is opened; unknown or repeated columns refuse the whole file.
struct Rows<R> {
    reader: csv::Reader<RowLimit<R>>,
    columns: Arc<Columns>,
    encoding: FileEncoding,
}

/// A header cell as a column name, and whether it is another name for it
/// ([`HEADER_ALIASES`]): trimmed and lowercased, except for the group of a tag group column
/// (customer files), which names a group as it is written: `tags.VIP` and `tags.vip` are two
/// groups, `标签.地区` is `tags.地区`.
fn column_name(header: &str, file: ImportFile) -> (String, bool) {
    let header = header.trim();
    let tag_groups = file == ImportFile::Customers;
    let prefix = TAG_GROUP_COLUMN_PREFIX.len();
    match header.get(..prefix) {
        Some(start) if tag_groups && start.eq_ignore_ascii_case(TAG_GROUP_COLUMN_PREFIX) => {
            return (
                format!("{TAG_GROUP_COLUMN_PREFIX}{}", header[prefix..].trim()),
                false,
            );
        }
        _ => {}
    }
    if let Some(group) = header
        .strip_prefix(TAG_GROUP_COLUMN_ALIAS_PREFIX)
        .filter(|_| tag_groups)
    {
        return (format!("{TAG_GROUP_COLUMN_PREFIX}{}", group.trim()), true);
    }
    let bare = header
        .strip_suffix("(元)")
        .or_else(|| header.strip_suffix("（元）"))
        .unwrap_or(header)
        .trim_end();
    let alias = HEADER_ALIASES
        .iter()
        .filter(|(alias, _, _)| *alias == bare)
        .find_map(|(_, customers, orders)| alias_column(file, *customers, *orders));
    match alias {
        Some(column) => (column.to_owned(), true),
        None => (header.to_lowercase(), false),
    }
}

impl<R: Read> Rows<R> {
    /// Opens the file, read in `encoding`, whose columns are the file's (`known`, under
    /// their names or their other names), the export's, and (customers) one per tag group.
    fn open(input: R, file: ImportFile, encoding: FileEncoding) -> Result<Self, ApiError> {
        let (known, tag_groups): (&[&str], bool) = match file {
            ImportFile::Customers => (&CUSTOMER_COLUMNS, true),
            ImportFile::Orders => (&ORDER_COLUMNS, false),
        };
        // The byte-order mark, if any, is dropped by the reader.
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(RowLimit {
                inner: Decoded::new(input, encoding.encoding),
                taken: 0,
                exceeded: false,
            });
        let header = reader.byte_headers().cloned();
        let header = match header {
            Ok(header) => header,
            Err(_) if reader.get_ref().exceeded => return Err(row_too_long(1)),
            Err(_) if reader.get_ref().inner.malformed_line().is_some() => {
                let line = reader.get_ref().inner.malformed_line().unwrap_or(1);
                return Err(ApiError::field("body", encoding.not_text(line)));
            }
            Err(e) => {
                return Err(ApiError::field(
                    "body",
                    format!("cannot read the header line: {e}"),
                ));
            }
        };
        reader.get_mut().taken = 0;
        let header = record_text(header, 1)?;
        let mut names = Vec::new();
        let mut shown = Vec::new();
        // Each column once, with the header that named it.
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut problems = Vec::new();
        for written in header.iter() {
            let (column, other_name) = column_name(written, file);
            let show = if other_name {
                written.trim().to_owned()
            } else {
                column.clone()
            };
            let group = column
                .strip_prefix(TAG_GROUP_COLUMN_PREFIX)
                .filter(|_| tag_groups);
            if let Some(Err(reason)) = group.map(check_tag_name) {
                problems.push(FieldError::new(
                    format!("column {show:?}"),
                    format!("names a tag group after {TAG_GROUP_COLUMN_PREFIX}, which {reason}"),
                ));
            } else if group.is_none()
                && !known.contains(&column.as_str())
                && !EXPORT_ONLY_COLUMNS.contains(&column.as_str())
            {
                let groups = if tag_groups {
                    format!(", {TAG_GROUP_COLUMN_PREFIX}<group>")
                } else {
                    String::new()
                };
                let other_names: Vec<&str> = HEADER_ALIASES
                    .iter()
                    .filter(|(_, customers, orders)| {
                        alias_column(file, *customers, *orders).is_some()
                    })
                    .map(|(alias, _, _)| *alias)
                    .collect();
                problems.push(FieldError::new(
                    format!("column {show:?}"),
                    format!(
                        "unknown column; known columns: {}{groups}, or their Chinese names: {}",
                        known.join(", "),
                        other_names.join(", ")
                    ),
                ));
            } else if let Some(before) = seen.get(&column) {
                let message = if *before == show {
                    "appears twice".to_owned()
                } else {
                    format!(
                        "names the same column as {before:?} ({column}): a file gives each \
                         column once, under one name"
                    )
                };
                problems.push(FieldError::new(format!("column {show:?}"), message));
            } else {
                seen.insert(column.clone(), show.clone());
            }
            names.push(column);
            shown.push(show);
        }
        if !problems.is_empty() {
            return Err(ApiError::Validation(problems));
        }
        let other_names = names.iter().zip(&shown).any(|(name, show)| name != show);
        Ok(Rows {
            reader,
            columns: Arc::new(Columns {
                file,
                names,
                shown,
                other_names,
            }),
            encoding,
        })
    }

    /// The next row (`None` at the end of the file). A row the reader cannot split into
    /// the header's columns is a bad row; a file that stops being text, or a row longer
    /// than [`MAX_ROW_BYTES`], refuses the file whole.
    fn next_row(&mut self) -> Result<Option<Result<Row, RowError>>, ApiError> {
        let mut record = ByteRecord::new();
        let read = self.reader.read_byte_record(&mut record);
        self.reader.get_mut().taken = 0;
        match read {
            Ok(false) => Ok(None),
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                let mut record = record_text(record, line)?;
                record.trim();
                Ok(Some(Ok(Row {
                    line,
                    record,
                    columns: self.columns.clone(),
                })))
            }
            Err(_) if self.reader.get_ref().exceeded => {
                Err(row_too_long(record.position().map_or(0, |p| p.line())))
            }
            Err(_) if self.reader.get_ref().inner.malformed_line().is_some() => {
                let line = self.reader.get_ref().inner.malformed_line().unwrap_or(0);
                Err(ApiError::field("body", self.encoding.not_text(line)))
            }
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => Err(ApiError::Internal(
                format!("reading the uploaded file: {e}"),
            )),
            Err(e) => Ok(Some(Err(RowError {
                line: e.position().map_or(0, |p| p.line()),
                column: None,
                message: format!("unreadable row: {e}"),
            }))),
        }
    }
}

/// A request's rule violations as the row's errors, each in the column `column_of` gives
/// its field (`None`: the row's as a whole).
fn validation_errors(
    row: &Row,
    errors: &validator::ValidationErrors,
    column_of: impl Fn(&str) -> Option<&str>,
) -> Vec<RowError> {
    flatten_validation_errors(errors)
        .into_iter()
        .map(|f| row.error(column_of(&f.field), f.message))
        .collect()
}

// ---- customers -----------------------------------------------------------------------

/// One customer row to write.
#[derive(Debug)]
pub struct CustomerRow {
    pub line: u64,
    /// Every tag of the row is in `request.tags`, whichever column named it.
    pub request: CreateCustomerRequest,
    /// The group each tag named in a `tags.<group>` column is created in, by tag name.
    pub tag_groups: BTreeMap<String, String>,
    /// Each group's column as the file names it (`tags.地区`, `标签.地区`), for the report.
    pub group_columns: BTreeMap<String, String>,
}

/// The names in a list cell (`a;b; c`), trimmed, without empty ones.
fn list_cell(cell: Option<&str>) -> impl Iterator<Item = &str> {
    cell.unwrap_or("")
        .split(';')
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The row's tags, in file order and each once, and the groups that the tag group
/// columns give. A name in two groups' columns is the row's fault: a tag has one group.
fn row_tags(row: &Row, errors: &mut Vec<RowError>) -> (Vec<String>, BTreeMap<String, String>) {
    let mut names: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut groups: BTreeMap<String, String> = BTreeMap::new();
    for name in list_cell(row.get("tags")) {
        if seen.insert(name.to_owned()) {
            names.push(name.to_owned());
        }
    }
    for (group, cell) in row.tag_group_cells() {
        for name in list_cell(Some(cell)) {
            match groups.get(name) {
                Some(other) if other != group => errors.push(row.error(
                    Some(&format!("{TAG_GROUP_COLUMN_PREFIX}{group}")),
                    format!(
                        "{name:?} is also in {}: a tag is in one group",
                        row.columns.show(&format!("{TAG_GROUP_COLUMN_PREFIX}{other}"))
                    ),
                )),
                Some(_) => {}
                None => {
                    groups.insert(name.to_owned(), group.to_owned());
                    if seen.insert(name.to_owned()) {
                        names.push(name.to_owned());
                    }
                }
            }
        }
    }
    (names, groups)
}

fn parse_customer_row(row: &Row) -> Result<CustomerRow, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut contacts = Vec::new();
    for (column, kind) in HANDLE_COLUMNS {
        for value in list_cell(row.get(column)) {
            contacts.push(ContactHandle {
                kind,
                value: value.to_owned(),
            });
        }
    }
    if contacts.is_empty() {
        errors.push(row.error(
            None,
            format!(
                "give at least one of {}",
                row.show(&HANDLE_COLUMNS.map(|(column, _)| column))
            ),
        ));
    }
    let birthday = match row.get("birthday").map(parse_date) {
        None => None,
        Some(Ok(date)) => Some(date),
        Some(Err(e)) => {
            errors.push(row.error(Some("birthday"), e));
            None
        }
    };
    let source = match row.get("source") {
        None => Source::Online,
        Some(value) => coded("source", value, Source::parse).unwrap_or_else(|| {
            errors.push(row.error(
                Some("source"),
                "must be in_store (门店, 到店, 线下) or online (线上, 网店, 网上)",
            ));
            Source::Online
        }),
    };
    let (tags, tag_groups) = row_tags(row, &mut errors);
    let group_columns = tag_groups
        .values()
        .map(|group| {
            let column = row
                .columns
                .show(&format!("{TAG_GROUP_COLUMN_PREFIX}{group}"));
            (group.clone(), column)
        })
        .collect();
    let request = CreateCustomerRequest {
        name: row.get("name").unwrap_or("").to_owned(),
        contacts,
        address: row.get("address").map(str::to_owned),
        birthday,
        source,
        notes: row.get("notes").unwrap_or("").to_owned(),
        tags,
    };
    if let Err(invalid) = request.validate() {
        let no_handles = request.contacts.is_empty();
        errors.extend(
            validation_errors(row, &invalid, |field| match field {
                "contacts" => None,
                "display_name" => Some("name"),
                // contacts[2].value: the column the handle came from.
                other if other.starts_with("contacts[") => other
                    .strip_prefix("contacts[")
                    .and_then(|rest| rest.split(']').next())
                    .and_then(|at| at.parse::<usize>().ok())
                    .and_then(|at| request.contacts.get(at))
                    .and_then(|handle| {
                        HANDLE_COLUMNS
                            .iter()
                            .find(|(_, kind)| *kind == handle.kind)
                            .map(|(column, _)| *column)
                    }),
                other => Some(other),
            })
            .into_iter()
            // A missing handle is already reported above, in the file's terms.
            .filter(|e| !(no_handles && e.column.is_none())),
        );
    }
    if errors.is_empty() {
        Ok(CustomerRow {
            line: row.line,
            request,
            tag_groups,
            group_columns,
        })
    } else {
        Err(errors)
    }
}

// ---- orders --------------------------------------------------------------------------

pub struct OrderGroup {
    pub lines: Vec<u64>,
    pub customer_handles: Handles,
    pub request: CreateOrderRequest,
    /// The `salesperson` cell: a staff member's email, or display name when exactly one
    /// staff member of the shop has it; found when the order is written.
    pub salesperson: Option<String>,
}

fn parse_order_row(
    row: &Row,
    offset: FixedOffset,
) -> Result<(CreateOrderRequest, Handles), Vec<RowError>> {
    let mut errors = Vec::new();
    let channel = match row.get("channel").map(channel_of) {
        Some(Some(channel)) => Some(channel),
        _ => {
            errors.push(row.error(
                Some("channel"),
                format!(
                    "must be one of {} (or 淘宝, 天猫, 京东, 拼多多, 抖音, 快手, 小红书, 大众点评, 微信, 门店, 其他)",
                    Channel::ALL.map(Channel::as_str).join(", ")
                ),
            ));
            None
        }
    };
    let status = match row.get("status") {
        None => OrderStatus::Paid,
        Some(value) => coded("status", value, OrderStatus::parse).unwrap_or_else(|| {
            errors.push(row.error(
                Some("status"),
                "must be paid (已付款), refunded (已退款), partially_refunded (部分退款) or \
                 cancelled (已取消)",
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
            format!(
                "give the customer's handle: one of {}",
                row.show(&[
                    "customer_phone",
                    "customer_wechat",
                    "customer_shop_account",
                    "customer_email",
                ])
            ),
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
        // The salesperson cell names a person; the import finds their id when it writes.
        salesperson_id: None,
        outlet: row.get("outlet").map(str::to_owned),
    };
    if let Err(invalid) = request.validate() {
        errors.extend(validation_errors(row, &invalid, |field| match field {
            "external_order_no" => Some("order_no"),
            "items[0].product_name" => Some("product"),
            "items[0].quantity" => Some("quantity"),
            "items[0].unit_price_cents" => Some("unit_price"),
            "items[0].sku" => Some("sku"),
            "total_cents" => Some("total"),
            other => Some(other),
        }));
    }
    if errors.is_empty() {
        Ok((request, handles))
    } else {
        Err(errors)
    }
}

/// An order's channel: its code (`tmall`) or its Chinese name (`天猫`).
fn channel_of(value: &str) -> Option<Channel> {
    coded("channel", value, Channel::parse)
}

/// Rows of one order must agree on everything but the item.
fn merge_into(
    group: &mut OrderGroup,
    line: u64,
    request: CreateOrderRequest,
    handles: Vec<(ContactKind, String)>,
    salesperson: Option<&str>,
) -> Result<(), RowError> {
    let first = &group.request;
    if first.status != request.status
        || first.ordered_at != request.ordered_at
        || first.total_cents != request.total_cents
        || first.outlet != request.outlet
        || group.salesperson.as_deref() != salesperson
        || group.customer_handles != handles
    {
        return Err(RowError {
            line,
            column: None,
            message: format!(
                "rows of order {} disagree on status, ordered_at, total, salesperson, outlet or customer",
                request.external_order_no
            ),
        });
    }
    group.lines.push(line);
    group.request.items.extend(request.items);
    Ok(())
}

// ---- the plan ------------------------------------------------------------------------

/// What an import writes: one customer row, or all the rows of one order.
pub enum ImportItem {
    Customer(CustomerRow),
    Order(OrderGroup),
}

/// What an import does with the next part of the file.
pub enum Planned {
    /// Ready to write. `line` is its (first) line, `rows` how many rows it covers.
    Item {
        line: u64,
        rows: usize,
        item: ImportItem,
    },
    /// Rows that cannot be imported, and why.
    Refused { rows: usize, errors: Vec<RowError> },
}

/// A file read as the items to write and the rows refused, one at a time, in file order
/// (an order's items once its last row is read). Reading the same file twice plans it the
/// same way twice, which is what lets an import check a file in full before writing it
/// without keeping any of it in memory.
pub struct Plan<R> {
    rows: Rows<R>,
    orders: Option<OrderRuns>,
}

/// Orders are planned run by run: the rows of one order follow each other, as shop
/// platforms export them, so an order is complete when a row of another order comes.
struct OrderRuns {
    offset: FixedOffset,
    current: Option<OrderRun>,
    /// Fingerprints of the orders already planned: an order number that comes back after
    /// other orders is refused rather than written twice (its second part would replace the
    /// first). Eight bytes an order, where a set of the numbers themselves would be tens.
    ended: HashSet<u64>,
    ready: VecDeque<Planned>,
    at_end: bool,
}

struct OrderRun {
    key: (Channel, String),
    group: Option<OrderGroup>,
    bad_rows: usize,
    /// The order already appeared, and ended, further up the file.
    repeated: bool,
}

fn order_fingerprint(key: &(Channel, String)) -> u64 {
    // A fixed-key SipHash: the same in both readings of a file. Two orders sharing a
    // fingerprint (odds about 3 in 10^8 for a million orders) would refuse the second, with
    // its rows reported, never merge them.
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

impl<R: Read> Plan<R> {
    /// Opens the file, read in `encoding`: 422 when its header names unknown or repeated
    /// columns, or is no text in that encoding.
    pub fn open(
        input: R,
        file: ImportFile,
        encoding: FileEncoding,
        offset: FixedOffset,
    ) -> Result<Self, ApiError> {
        Ok(Plan {
            rows: Rows::open(input, file, encoding)?,
            orders: (file == ImportFile::Orders).then(|| OrderRuns {
                offset,
                current: None,
                ended: HashSet::new(),
                ready: VecDeque::new(),
                at_end: false,
            }),
        })
    }

    fn next_customer(&mut self) -> Result<Option<Planned>, ApiError> {
        Ok(self.rows.next_row()?.map(|row| {
            match row
                .map_err(|e| vec![e])
                .and_then(|row| parse_customer_row(&row))
            {
                Ok(customer) => Planned::Item {
                    line: customer.line,
                    rows: 1,
                    item: ImportItem::Customer(customer),
                },
                Err(errors) => Planned::Refused { rows: 1, errors },
            }
        }))
    }
}

impl OrderRuns {
    fn next<R: Read>(&mut self, rows: &mut Rows<R>) -> Result<Option<Planned>, ApiError> {
        loop {
            if let Some(planned) = self.ready.pop_front() {
                return Ok(Some(planned));
            }
            if self.at_end {
                return Ok(None);
            }
            match rows.next_row()? {
                None => {
                    self.at_end = true;
                    self.end_run();
                }
                Some(Err(error)) => self.ready.push_back(Planned::Refused {
                    rows: 1,
                    errors: vec![error],
                }),
                Some(Ok(row)) => self.add(&row),
            }
        }
    }

    fn add(&mut self, row: &Row) {
        let parsed = parse_order_row(row, self.offset);
        let key = row
            .get("channel")
            .and_then(channel_of)
            .zip(row.get("order_no").map(str::to_owned));
        let Some(key) = key else {
            // Without channel and number the row belongs to no order; it cannot be good.
            let errors = parsed.err().unwrap_or_else(|| {
                vec![row.error(
                    None,
                    format!("give the order's {}", row.show(&["channel", "order_no"])),
                )]
            });
            self.ready.push_back(Planned::Refused { rows: 1, errors });
            return;
        };
        if self.current.as_ref().is_none_or(|run| run.key != key) {
            self.end_run();
            let repeated = !self.ended.insert(order_fingerprint(&key));
            self.current = Some(OrderRun {
                key,
                group: None,
                bad_rows: 0,
                repeated,
            });
        }
        let Some(run) = self.current.as_mut() else {
            return;
        };
        let refused = |errors| Planned::Refused { rows: 1, errors };
        if run.repeated {
            self.ready.push_back(refused(vec![row.error(
                None,
                format!(
                    "order {} appeared further up, before other orders: the rows of one order must follow each other",
                    run.key.1
                ),
            )]));
            return;
        }
        let merged = parsed.and_then(|(request, handles)| match &mut run.group {
            None => {
                run.group = Some(OrderGroup {
                    lines: vec![row.line],
                    customer_handles: handles,
                    request,
                    salesperson: row.get("salesperson").map(str::to_owned),
                });
                Ok(())
            }
            Some(group) => merge_into(group, row.line, request, handles, row.get("salesperson"))
                .map_err(|e| vec![e]),
        });
        if let Err(errors) = merged {
            run.bad_rows += 1;
            self.ready.push_back(refused(errors));
        }
    }

    /// The order whose rows have all been read: written, or (one row bad) refused whole.
    fn end_run(&mut self) {
        let Some(run) = self.current.take() else {
            return;
        };
        let Some(group) = run.group else {
            return;
        };
        let rows = group.lines.len();
        self.ready.push_back(if run.bad_rows > 0 {
            // An order with one bad row is not imported with the others' items only.
            Planned::Refused {
                rows,
                errors: vec![RowError {
                    line: group.lines[0],
                    column: None,
                    message: format!("order {} skipped: another of its rows is bad", run.key.1),
                }],
            }
        } else {
            Planned::Item {
                line: group.lines[0],
                rows,
                item: ImportItem::Order(group),
            }
        });
    }
}

impl<R: Read> Iterator for Plan<R> {
    type Item = Result<Planned, ApiError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.orders {
            Some(orders) => orders.next(&mut self.rows),
            None => self.next_customer(),
        }
        .transpose()
    }
}

// ---- export --------------------------------------------------------------------------

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The export's columns in order: the import's, a `tags.<group>` column after `tags` for
/// each of `groups`, then the export-only ones.
fn export_columns(groups: &[String]) -> Vec<String> {
    let (head, tail) = CUSTOMER_COLUMNS.split_at(CUSTOMER_COLUMNS.len() - 1);
    let mut columns: Vec<String> = EXPORT_ONLY_COLUMNS[..1]
        .iter()
        .chain(head)
        .map(|c| (*c).to_owned())
        .collect();
    columns.extend(
        groups
            .iter()
            .map(|g| format!("{TAG_GROUP_COLUMN_PREFIX}{g}")),
    );
    columns.extend(
        tail.iter()
            .chain(&EXPORT_ONLY_COLUMNS[1..])
            .map(|c| (*c).to_owned()),
    );
    columns
}

fn csv_failed(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("csv: {e}"))
}

/// The export's header line (UTF-8: `text::ExportEncoding` adds a byte-order mark or
/// re-encodes). `groups` (sorted) are the tag groups with a column each.
pub fn export_header(groups: &[String]) -> Result<Vec<u8>, ApiError> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    // A group's name may need quotes; it never starts like a formula (`tags.` comes first).
    writer
        .write_record(export_columns(groups))
        .map_err(csv_failed)?;
    writer.into_inner().map_err(csv_failed)
}

/// Customers as export rows, in the header's column order, every cell neutralised. A tag
/// goes in its group's column; one whose group has none (a group first used while the
/// export ran) goes in `tags`, which an import reads as "group not said".
pub fn export_rows(views: &[CustomerView], groups: &[String]) -> Result<Vec<u8>, ApiError> {
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
        let mut plain_tags = Vec::new();
        let mut grouped_tags = vec![Vec::new(); groups.len()];
        for tag in &view.tags {
            match tag
                .group
                .as_ref()
                .and_then(|g| groups.binary_search(g).ok())
            {
                Some(at) => grouped_tags[at].push(tag.name.as_str()),
                None => plain_tags.push(tag.name.as_str()),
            }
        }
        let standing = &view.standing;
        let cells = [
            view.id.to_string(),
            view.name.clone(),
            handles(ContactKind::Phone),
            handles(ContactKind::Wechat),
            handles(ContactKind::ShopAccount),
            handles(ContactKind::Email),
            view.address.clone().unwrap_or_default(),
            view.birthday.map(|b| b.to_string()).unwrap_or_default(),
            view.source.as_str().to_owned(),
            plain_tags.join(";"),
        ]
        .into_iter()
        .chain(grouped_tags.iter().map(|names| names.join(";")))
        .chain([
            view.notes.clone(),
            view.orders.count.to_string(),
            money(view.orders.total_spent_cents),
            view.orders
                .last_order_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            view.created_at.to_rfc3339(),
            standing.tier.as_str().to_owned(),
            standing.stage.as_str().to_owned(),
            standing.at_risk.to_string(),
        ]);
        for cell in cells {
            writer
                .write_field(neutralise_formula(&cell).as_bytes())
                .map_err(csv_failed)?;
        }
        writer.write_record(None::<&[u8]>).map_err(csv_failed)?;
    }
    writer.into_inner().map_err(csv_failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

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

    /// Every row read from `text`, and the file's problem if it has one.
    fn rows_of(text: &[u8], file: ImportFile) -> Result<Vec<Result<Row, RowError>>, ApiError> {
        let mut rows = Rows::open(text, file, FileEncoding::UTF8)?;
        let mut all = Vec::new();
        while let Some(row) = rows.next_row()? {
            all.push(row);
        }
        Ok(all)
    }

    fn plan_of(file: ImportFile, text: &str) -> Vec<Planned> {
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        Plan::open(text.as_bytes(), file, FileEncoding::UTF8, cst)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// (first line, rows) of each item, and the lines of each refusal's errors.
    fn shape(plan: &[Planned]) -> (Vec<(u64, usize)>, Vec<Vec<u64>>) {
        let mut items = Vec::new();
        let mut refused = Vec::new();
        for planned in plan {
            match planned {
                Planned::Item { line, rows, .. } => items.push((*line, *rows)),
                Planned::Refused { errors, .. } => {
                    refused.push(errors.iter().map(|e| e.line).collect())
                }
            }
        }
        (items, refused)
    }

    #[test]
    fn byte_order_mark_is_dropped_and_bad_text_located() {
        let rows = rows_of(b"\xEF\xBB\xBFname,phone\nA,1\n", ImportFile::Customers).unwrap();
        assert_eq!(rows[0].as_ref().unwrap().get("name"), Some("A"));
        let message = |e: ApiError| match e {
            ApiError::Validation(f) => f[0].message.clone(),
            other => panic!("{other:?}"),
        };
        let latin1 = rows_of(b"name,notes\nok,ok\nJos\xE9,x\n", ImportFile::Customers);
        assert!(message(latin1.err().unwrap()).contains("line 3"));
        // A quoted cell spanning lines: the line of the bad byte, not of the row.
        let spanning = rows_of(
            b"name,notes\nok,\"one\ntwo\n\xFF\"\n",
            ImportFile::Customers,
        );
        assert!(message(spanning.err().unwrap()).contains("line 4"));
        let nul = rows_of(b"name,notes\nok,a\x00b\n", ImportFile::Customers);
        assert!(message(nul.err().unwrap()).contains("NUL byte (line 2)"));
        let header = rows_of(b"na\xFFme\n", ImportFile::Customers);
        assert!(message(header.err().unwrap()).contains("line 1"));
    }

    #[test]
    fn a_quote_left_open_refuses_the_file_without_reading_it_whole() {
        let mut file = b"name,phone\nA,13800000001\nB,\"".to_vec();
        file.resize(4 * MAX_ROW_BYTES, b'x');
        let message = match rows_of(&file, ImportFile::Customers) {
            Err(ApiError::Validation(f)) => f[0].message.clone(),
            other => panic!("{:?}", other.map(|rows| rows.len())),
        };
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("quote left open"), "{message}");
        let mut header = b"name,".to_vec();
        header.resize(2 * MAX_ROW_BYTES, b'x');
        assert!(rows_of(&header, ImportFile::Customers).is_err());
        // Long rows short of the limit are read as usual.
        let long = format!("name,notes\nA,{}\n", "x".repeat(MAX_ROW_BYTES / 2));
        assert_eq!(
            rows_of(long.as_bytes(), ImportFile::Customers)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn customer_rows_are_validated_column_by_column() {
        let rows = rows_of(
            "name,phone,birthday,source\n李娜,13800138000,1990-05-17,online\n,12,17/05/1990,web\n"
                .as_bytes(),
            ImportFile::Customers,
        )
        .unwrap();
        let good = rows[0].as_ref().unwrap();
        let parsed = parse_customer_row(good).unwrap();
        assert_eq!(parsed.request.name, "李娜");
        assert_eq!(parsed.request.contacts[0].value, "13800138000");
        let bad = rows[1].as_ref().unwrap();
        let errors = parse_customer_row(bad).unwrap_err();
        let columns: BTreeSet<Option<String>> = errors.iter().map(|e| e.column.clone()).collect();
        assert!(columns.contains(&Some("birthday".into())));
        assert!(columns.contains(&Some("source".into())));
        assert!(columns.contains(&Some("name".into())));
        assert!(errors.iter().all(|e| e.line == 3));
    }

    #[test]
    fn cells_are_trimmed_of_any_white_space() {
        // U+3000, the ideographic space, is common in Chinese text.
        let rows = rows_of(
            "\u{3000}Name ,phone\n\u{3000}李娜 , 13800138000\n".as_bytes(),
            ImportFile::Customers,
        )
        .unwrap();
        let row = rows[0].as_ref().unwrap();
        assert_eq!(row.get("name"), Some("李娜"));
        assert_eq!(row.get("phone"), Some("13800138000"));
    }

    #[test]
    fn unknown_columns_refuse_the_file() {
        assert!(rows_of(b"name,phone,favourite_colour\n", ImportFile::Customers).is_err());
        assert!(rows_of(b"name,phone,phone\n", ImportFile::Customers).is_err());
        assert!(rows_of(b"id,name,phone,order_count\n", ImportFile::Customers).is_ok());
    }

    #[test]
    fn formula_cells_are_neutralised_and_restored_exactly() {
        for formula in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "@SUM(A1:A9)",
            "+1+cmd|' /C calc'!A0",
            "-2+3",
            "\t=1",
            "\r=1",
            "+85291234567",
            "-5",
        ] {
            let written = neutralise_formula(formula);
            assert_eq!(written, format!("'{formula}"), "{formula:?}");
            assert_eq!(restore_formula(&written), formula);
        }
        for plain in [
            "李娜",
            "13800138000",
            "a=b",
            "",
            "'",
            "'quoted'",
            "''x",
            "' =1",
        ] {
            assert_eq!(neutralise_formula(plain), plain, "{plain:?}");
            assert_eq!(restore_formula(plain), plain, "{plain:?}");
        }
        // A value that already looks neutralised keeps its own quotes through a round trip.
        for quoted in ["'=1", "''=1", "'-2"] {
            let written = neutralise_formula(quoted);
            assert_eq!(written, format!("'{quoted}"));
            assert_eq!(restore_formula(&written), quoted);
        }
    }

    #[test]
    fn an_import_reads_cells_as_they_were_before_the_export() {
        let plan = plan_of(
            ImportFile::Customers,
            "name,phone,notes\n'=HYPERLINK(\"http://x\"),'+85291234567,'-2+3\n",
        );
        let Planned::Item {
            item: ImportItem::Customer(CustomerRow { request, .. }),
            ..
        } = &plan[0]
        else {
            panic!("the row is good");
        };
        assert_eq!(request.name, "=HYPERLINK(\"http://x\")");
        assert_eq!(request.contacts[0].value, "+85291234567");
        assert_eq!(request.notes, "-2+3");
    }

    #[test]
    fn tag_group_columns_keep_the_group_as_written() {
        let rows = rows_of(
            "Name,TAGS.Region, tags.地区 ,tags,tier,stage,at_risk\n".as_bytes(),
            ImportFile::Customers,
        )
        .unwrap();
        assert!(rows.is_empty());
        let mut rows = Rows::open(
            "Name,TAGS.Region, tags.地区 \n".as_bytes(),
            ImportFile::Customers,
            FileEncoding::UTF8,
        )
        .unwrap();
        assert!(rows.next_row().unwrap().is_none());
        assert_eq!(rows.columns.names, ["name", "tags.Region", "tags.地区"]);
        let refused = |header: &str| {
            let Err(ApiError::Validation(fields)) =
                rows_of(header.as_bytes(), ImportFile::Customers)
            else {
                panic!("{header} is refused");
            };
            fields[0].field.clone()
        };
        assert_eq!(refused("name,tags.\n"), "column \"tags.\"");
        assert_eq!(
            refused(&format!("name,tags.{}\n", "x".repeat(51))),
            format!("column \"tags.{}\"", "x".repeat(51))
        );
        assert_eq!(
            refused("name,tags.region,tags.region\n"),
            "column \"tags.region\""
        );
        // Two spellings are two groups, each a column of its own.
        assert!(rows_of(b"name,tags.VIP,tags.vip\n", ImportFile::Customers).is_ok());
        // An order file has no tags.
        assert!(
            Rows::open(
                &b"channel,tags.region\n"[..],
                ImportFile::Orders,
                FileEncoding::UTF8
            )
            .is_err()
        );
    }

    #[test]
    fn tags_are_read_with_the_groups_their_columns_give() {
        let plan = plan_of(
            ImportFile::Customers,
            "name,phone,tags,tags.region,tags.interest\n\
             A,13800000001,key customer;北京,北京; 上海,teapots\n\
             B,13800000002,,Beijing,Beijing\n\
             C,13800000003,,x,'=y\n",
        );
        let Planned::Item {
            item: ImportItem::Customer(a),
            ..
        } = &plan[0]
        else {
            panic!("A is good");
        };
        assert_eq!(a.request.tags, ["key customer", "北京", "上海", "teapots"]);
        assert_eq!(
            a.tag_groups,
            BTreeMap::from([
                ("北京".to_owned(), "region".to_owned()),
                ("上海".to_owned(), "region".to_owned()),
                ("teapots".to_owned(), "interest".to_owned()),
            ])
        );
        let Planned::Refused { errors, .. } = &plan[1] else {
            panic!("B names one tag in two groups");
        };
        assert_eq!(errors[0].column.as_deref(), Some("tags.interest"));
        assert!(errors[0].message.contains("tags.region"), "{errors:?}");
        let Planned::Item {
            item: ImportItem::Customer(c),
            ..
        } = &plan[2]
        else {
            panic!("C is good");
        };
        assert_eq!(c.tag_groups.get("=y").map(String::as_str), Some("interest"));
    }

    #[test]
    fn exports_put_each_tag_in_its_group_and_show_the_standing() {
        let groups = ["region".to_owned(), "VIP \"gold\"".to_owned()];
        let header = String::from_utf8(export_header(&groups).unwrap()).unwrap();
        assert_eq!(
            header,
            "id,name,phone,wechat,shop_account,email,address,birthday,source,tags,\
             tags.region,\"tags.VIP \"\"gold\"\"\",notes,order_count,total_spent,last_order_at,\
             created_at,tier,stage,at_risk\n"
        );
        // The header reads back as the same columns, the groups as written.
        let mut rows =
            Rows::open(header.as_bytes(), ImportFile::Customers, FileEncoding::UTF8).unwrap();
        assert!(rows.next_row().unwrap().is_none());
        assert_eq!(rows.columns.names, export_columns(&groups));
    }

    #[test]
    fn customer_files_plan_one_item_or_refusal_per_row() {
        let plan = plan_of(
            ImportFile::Customers,
            "name,phone\nA,13800000001\nB,12\nC,13800000003,extra\nD,13800000004\n",
        );
        let (items, refused) = shape(&plan);
        assert_eq!(items, [(2, 1), (5, 1)]);
        assert_eq!(refused, [vec![3], vec![4]]);
    }

    fn refusals(plan: &[Planned]) -> Vec<(u64, Option<String>)> {
        plan.iter()
            .filter_map(|p| match p {
                Planned::Refused { errors, .. } => Some(errors),
                Planned::Item { .. } => None,
            })
            .flatten()
            .map(|e| (e.line, e.column.clone()))
            .collect()
    }

    #[test]
    fn chinese_headers_name_the_columns_and_the_report_speaks_them() {
        let plan = plan_of(
            ImportFile::Customers,
            "姓名, 手机号 ,生日,来源,标签.地区,微信\n\
             李娜,12,1990/2/30,网吧,北京,\n\
             ,13800000001,1990年5月17日,线上,,\n\
             王芳,13800000002,32980,门店,上海,wx_wang\n",
        );
        let some = |c: &str| Some(c.to_owned());
        assert_eq!(
            refusals(&plan),
            [
                (2, some("生日")),
                (2, some("来源")),
                (2, some("手机号")),
                (3, some("姓名")),
            ]
        );
        let Planned::Item {
            item: ImportItem::Customer(wang),
            ..
        } = &plan[2]
        else {
            panic!("王芳 is good");
        };
        assert_eq!(wang.request.birthday, NaiveDate::from_ymd_opt(1990, 4, 17));
        assert_eq!(wang.request.source, Source::InStore);
        assert_eq!(wang.request.contacts.len(), 2);
        assert_eq!(
            wang.tag_groups.get("上海").map(String::as_str),
            Some("地区")
        );
        assert_eq!(
            wang.group_columns.get("地区").map(String::as_str),
            Some("标签.地区")
        );
        // English headers keep the report in English, whatever their case.
        let plan = plan_of(ImportFile::Customers, "Name,Phone\nA,12\n");
        assert_eq!(refusals(&plan), [(2, Some("phone".to_owned()))]);
    }

    #[test]
    fn a_header_names_each_column_once_in_one_language() {
        let refused = |header: &str, file| match rows_of(header.as_bytes(), file) {
            Err(ApiError::Validation(fields)) => fields
                .iter()
                .map(|f| (f.field.clone(), f.message.clone()))
                .collect::<Vec<_>>(),
            other => panic!("{header}: {:?}", other.map(|r| r.len())),
        };
        let twice = refused("姓名,name,phone\n", ImportFile::Customers);
        assert_eq!(twice[0].0, "column \"name\"");
        assert!(twice[0].1.contains("\"姓名\" (name)"), "{twice:?}");
        let nickname = refused("昵称,姓名,手机\n", ImportFile::Customers);
        assert_eq!(nickname[0].0, "column \"姓名\"");
        assert_eq!(
            refused("手机,手机\n", ImportFile::Customers),
            [("column \"手机\"".to_owned(), "appears twice".to_owned())]
        );
        // Each file knows its own columns' names: 渠道 is an order's.
        assert_eq!(
            refused("姓名,渠道\n", ImportFile::Customers)[0].0,
            "column \"渠道\""
        );
        assert!(
            rows_of(
                "渠道,订单号,金额（元）,手机\n".as_bytes(),
                ImportFile::Orders
            )
            .is_ok()
        );
        let orders = Rows::open(
            "渠道,订单号,金额(元),手机,SKU\n".as_bytes(),
            ImportFile::Orders,
            FileEncoding::UTF8,
        )
        .unwrap();
        assert_eq!(
            orders.columns.names,
            ["channel", "order_no", "total", "customer_phone", "sku"]
        );
    }

    #[test]
    fn files_in_gb18030_are_planned_like_utf8_and_bad_bytes_refuse_them() {
        let text = "姓名,手机\n李娜,13800000001\n𠮷田,13800000002\n";
        let (bytes, _, _) = encoding_rs::GB18030.encode(text);
        let gb = FileEncoding {
            encoding: super::super::TextEncoding::Gb18030,
            detected: true,
        };
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        let names: Vec<String> = Plan::open(&bytes[..], ImportFile::Customers, gb, cst)
            .unwrap()
            .map(|p| match p.unwrap() {
                Planned::Item {
                    item: ImportItem::Customer(row),
                    ..
                } => row.request.name,
                _ => panic!("a good row"),
            })
            .collect();
        assert_eq!(names, ["李娜", "𠮷田"]);
        let mut broken = bytes.into_owned();
        broken.extend_from_slice(b"\xC0,1\n");
        let error = Plan::open(&broken[..], ImportFile::Customers, gb, cst)
            .unwrap()
            .find_map(Result::err)
            .expect("refused");
        let ApiError::Validation(fields) = error else {
            panic!("{error:?}");
        };
        assert_eq!(fields[0].field, "body");
        assert!(
            fields[0]
                .message
                .contains("neither UTF-8 nor GBK/GB18030 text (line 4)")
        );
        // Bad bytes in the header line.
        let header = Plan::open(&b"\xC0,x\n"[..], ImportFile::Customers, gb, cst);
        assert!(header.is_err());
    }

    const ORDER_HEADER: &str = "channel,order_no,ordered_at,product,unit_price,customer_phone\n";

    #[test]
    fn an_order_is_planned_once_its_rows_end() {
        let text = format!(
            "{ORDER_HEADER}taobao,T1,2026-11-20,Pot,1,13800000001\n\
             taobao,T1,2026-11-20,Cup,2,13800000001\n\
             ebay,E1,2026-11-20,Cup,2,13800000001\n\
             taobao,T2,2026-11-20,Pot,1,13800000001\n"
        );
        let plan = plan_of(ImportFile::Orders, &text);
        let (items, refused) = shape(&plan);
        assert_eq!(items, [(2, 2), (5, 1)]);
        assert_eq!(refused, [vec![4]]);
        let Planned::Item {
            item: ImportItem::Order(group),
            ..
        } = plan
            .iter()
            .find(|p| matches!(p, Planned::Item { .. }))
            .unwrap()
        else {
            panic!("an order");
        };
        assert_eq!(group.request.items.len(), 2);
    }

    #[test]
    fn an_order_with_a_bad_row_is_refused_whole() {
        let text = format!(
            "{ORDER_HEADER}taobao,T1,2026-11-20,Pot,1,13800000001\n\
             taobao,T1,2026-11-20,Cup,x,13800000001\n\
             taobao,T1,2026-11-20,Lid,1,13800000001\n"
        );
        let plan = plan_of(ImportFile::Orders, &text);
        let (items, refused) = shape(&plan);
        assert!(items.is_empty());
        assert_eq!(refused, [vec![3], vec![2]]);
        let refused_rows: usize = plan
            .iter()
            .map(|p| match p {
                Planned::Refused { rows, .. } => *rows,
                Planned::Item { .. } => 0,
            })
            .sum();
        assert_eq!(refused_rows, 3, "every row of the order is not imported");
    }

    #[test]
    fn an_order_that_comes_back_after_others_is_refused_there() {
        let text = format!(
            "{ORDER_HEADER}taobao,T1,2026-11-20,Pot,1,13800000001\n\
             taobao,T2,2026-11-20,Pot,1,13800000001\n\
             taobao,T1,2026-11-20,Cup,2,13800000001\n"
        );
        let plan = plan_of(ImportFile::Orders, &text);
        let (items, refused) = shape(&plan);
        assert_eq!(items, [(2, 1), (3, 1)]);
        assert_eq!(refused, [vec![4]]);
        let Planned::Refused { errors, .. } = &plan[2] else {
            panic!("refused");
        };
        assert!(errors[0].message.contains("must follow each other"));
    }
}
