//! Ingestion: how data comes in and goes out in bulk. CSV import and export of the
//! customer file and the feeds shop back offices and review monitors push (customers,
//! orders, reviews).
//!
//! Every item is upserted by the source's own key, so re-sending is harmless: customers by
//! contact handle, orders by channel + external order number, reviews by platform + review
//! id (a review never opens two tickets). Batches (a CSV file, a feed batch of up to 1,000
//! items) are applied item by item, each in its own savepoint and reported on its own;
//! atomic mode turns one failed item into no change at all. A CSV file is written in
//! transactions of `IMPORT_BATCH_ROWS` rows, so it never holds the writer for long; an
//! atomic import is one transaction.
//!
//! This module holds the vocabulary (requests, reports, outcomes, the columns and their
//! other names); CSV parsing and planning are in `csv`, the file's encoding in `text`, the
//! dates people type in `dates`, the one batch runner in `batch`, the upserts in
//! `operations`, HTTP in `routes`.

pub mod batch;
pub mod csv;
pub mod dates;
pub mod operations;
pub mod routes;
pub mod text;

use chrono::{DateTime, Utc};
use clap::Args;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::customers::contacts::ContactKind;
use crate::customers::{ContactHandle, CreateCustomerRequest, CustomerView};
use crate::error::Problem;
use crate::extract::check_instant;
use crate::orders::{Channel, CreateOrderRequest, OrderView};
use crate::response::UpsertOutcome;
use crate::tickets::TicketView;
pub use text::TextEncoding;

/// Normalised contact handles naming a customer.
pub type Handles = Vec<(ContactKind, String)>;

// ---- CSV import ----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFile {
    Customers,
    Orders,
}

/// The CSV import as a form upload: one part named `file` holding the CSV file (what
/// generated clients and browsers send when `text/csv` is not an option).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // a documentation type: the route reads the part as a stream
pub struct ImportForm {
    /// The CSV file: UTF-8 (with or without a byte-order mark), GBK or GB18030 (see the
    /// `encoding` parameter).
    #[schema(value_type = String, format = Binary, content_media_type = "text/csv")]
    pub file: Vec<u8>,
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
    #[param(min_length = 6, max_length = 6)]
    #[param(pattern = r"^[+ -](0[0-9]|1[0-4]):[0-5][0-9]$", example = "+08:00")]
    pub utc_offset: Option<String>,
    /// The file's text encoding. Without it: UTF-8 if the whole file is valid UTF-8, else
    /// GB18030 (which reads GBK too). A file starting with the UTF-8 byte-order mark is read
    /// as UTF-8 whatever this says. Bytes that are no text in the encoding refuse the file
    /// (422, naming the line); so does non-ASCII text that is valid UTF-8 sent as `gbk` or
    /// `gb18030` (read so, it would be stored as other characters).
    pub encoding: Option<TextEncoding>,
}

/// The export's encoding.
#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportEncodingQuery {
    /// `utf-8` (default, with a byte-order mark), or `gbk` / `gb18030` for Excel on Chinese
    /// Windows: both give GB18030, whose bytes are GBK's for every character GBK has, and
    /// which writes the others (emoji, rare characters) in its four-byte form rather than
    /// losing them (`Content-Type: text/csv; charset=GB18030`, no byte-order mark).
    pub encoding: Option<TextEncoding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    /// Line in the file (the header is line 1).
    pub line: u64,
    /// The column at fault, where one is, named as the file's header names it (`手机` in a
    /// file headed in Chinese); a column the file lacks, in the language of its header.
    pub column: Option<String>,
    pub message: String,
}

/// How many row errors an import report lists. A 20 MiB file of bad rows holds hundreds of
/// thousands of them; the first hundred show what is wrong, `failed` counts every row.
pub const IMPORT_ERRORS_LISTED: usize = 100;

/// Longest error message a report keeps: a message quoting a cell quotes at most this much
/// of it (an unterminated quote can make one cell of the rest of the file).
pub const ROW_ERROR_MAX_CHARS: usize = 300;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    pub file: ImportFile,
    pub atomic: bool,
    /// The encoding the file was read in: the one asked for, or the one found.
    pub encoding: TextEncoding,
    /// Data rows read (the header excluded).
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    /// Rows identical to what is on file.
    pub unchanged: usize,
    /// Rows not imported (every row of an order that was not imported counts).
    pub failed: usize,
    /// The first 100 problems by line (a row may have several); see `errors_truncated`.
    pub errors: Vec<RowError>,
    /// `true` when more problems were found than `errors` lists.
    pub errors_truncated: bool,
    /// What was imported otherwise than the file says, by line (the first 100): a tag
    /// already on file in another group than the file's keeps its group. One per tag.
    pub warnings: Vec<RowError>,
    /// `true` when there were more warnings than `warnings` lists.
    pub warnings_truncated: bool,
}

/// What a CSV import may take, and how it writes.
#[derive(Debug, Clone, Copy, Args)]
pub struct ImportSettings {
    /// Largest accepted CSV import, in bytes.
    #[arg(long = "import-max-bytes", env = "IMPORT_MAX_BYTES", default_value_t = 20 * 1_048_576)]
    pub max_bytes: usize,

    /// Rows a CSV import writes per transaction: other writers (a login, a contact attempt)
    /// get their turn between two batches. `atomic=true` imports are one transaction.
    #[arg(long = "import-batch-rows", env = "IMPORT_BATCH_ROWS", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_rows: u32,
}

/// Customer CSV columns. Handle and tag columns may hold several values separated by `;`.
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
/// A customer file's column of the tags in one group: `tags.region` holds the customer's
/// tags of the group `region` (the group as written, case and all). The plain `tags` column
/// holds tags without a group, or whose group the file does not say.
pub const TAG_GROUP_COLUMN_PREFIX: &str = "tags.";
/// Columns the export adds; an import accepts and ignores them, so exports re-import.
/// `tier`, `stage` and `at_risk` are the customer's standing, computed from orders and
/// tickets and never typed in: whatever a file holds there changes nothing.
pub const EXPORT_ONLY_COLUMNS: [&str; 8] = [
    "id",
    "order_count",
    "total_spent",
    "last_order_at",
    "created_at",
    "tier",
    "stage",
    "at_risk",
];
/// Other headers for the import's columns, as staff's spreadsheets and shops' back offices
/// head them: (header, its customer file column, its order file column). A header is matched
/// as written (trimmed, a trailing `(元)` or `（元）` unit aside). Two headers of one file
/// naming the same column refuse the file.
pub const HEADER_ALIASES: [(&str, Option<&str>, Option<&str>); 50] = [
    ("姓名", Some("name"), None),
    ("名字", Some("name"), None),
    ("客户姓名", Some("name"), None),
    // A customer's name is "a name or nickname"; a shop account's nickname is 旺旺.
    ("昵称", Some("name"), None),
    ("手机", Some("phone"), Some("customer_phone")),
    ("手机号", Some("phone"), Some("customer_phone")),
    ("手机号码", Some("phone"), Some("customer_phone")),
    ("电话", Some("phone"), Some("customer_phone")),
    ("联系电话", Some("phone"), Some("customer_phone")),
    ("微信", Some("wechat"), Some("customer_wechat")),
    ("微信号", Some("wechat"), Some("customer_wechat")),
    ("旺旺", Some("shop_account"), Some("customer_shop_account")),
    (
        "旺旺号",
        Some("shop_account"),
        Some("customer_shop_account"),
    ),
    (
        "买家账号",
        Some("shop_account"),
        Some("customer_shop_account"),
    ),
    (
        "买家会员名",
        Some("shop_account"),
        Some("customer_shop_account"),
    ),
    (
        "买家昵称",
        Some("shop_account"),
        Some("customer_shop_account"),
    ),
    ("邮箱", Some("email"), Some("customer_email")),
    ("电子邮箱", Some("email"), Some("customer_email")),
    ("地址", Some("address"), None),
    ("收货地址", Some("address"), None),
    ("联系地址", Some("address"), None),
    ("生日", Some("birthday"), None),
    ("出生日期", Some("birthday"), None),
    ("来源", Some("source"), None),
    ("客户来源", Some("source"), None),
    ("标签", Some("tags"), None),
    ("备注", Some("notes"), None),
    ("渠道", None, Some("channel")),
    ("平台", None, Some("channel")),
    ("订单号", None, Some("order_no")),
    ("订单编号", None, Some("order_no")),
    ("下单时间", None, Some("ordered_at")),
    ("下单日期", None, Some("ordered_at")),
    ("订单时间", None, Some("ordered_at")),
    ("状态", None, Some("status")),
    ("订单状态", None, Some("status")),
    ("金额", None, Some("total")),
    ("订单金额", None, Some("total")),
    ("实付金额", None, Some("total")),
    ("总金额", None, Some("total")),
    ("商品", None, Some("product")),
    ("商品名称", None, Some("product")),
    ("产品", None, Some("product")),
    ("商品编码", None, Some("sku")),
    ("商家编码", None, Some("sku")),
    ("货号", None, Some("sku")),
    ("数量", None, Some("quantity")),
    ("购买数量", None, Some("quantity")),
    ("单价", None, Some("unit_price")),
    ("商品单价", None, Some("unit_price")),
];
/// The other name of [`TAG_GROUP_COLUMN_PREFIX`]: `标签.地区` is `tags.地区`.
pub const TAG_GROUP_COLUMN_ALIAS_PREFIX: &str = "标签.";

/// Values staff write in Chinese for the import's coded columns: (column, value, code).
pub const VALUE_ALIASES: [(&str, &str, &str); 29] = [
    ("source", "门店", "in_store"),
    ("source", "到店", "in_store"),
    ("source", "线下", "in_store"),
    ("source", "线上", "online"),
    ("source", "网店", "online"),
    ("source", "网上", "online"),
    ("channel", "淘宝", "taobao"),
    ("channel", "天猫", "tmall"),
    ("channel", "京东", "jd"),
    ("channel", "拼多多", "pinduoduo"),
    ("channel", "抖音", "douyin"),
    ("channel", "快手", "kuaishou"),
    ("channel", "小红书", "xiaohongshu"),
    ("channel", "大众点评", "dianping"),
    ("channel", "点评", "dianping"),
    ("channel", "微信", "wechat"),
    ("channel", "门店", "store"),
    ("channel", "实体店", "store"),
    ("channel", "其他", "other"),
    ("status", "已付款", "paid"),
    ("status", "已支付", "paid"),
    ("status", "交易成功", "paid"),
    ("status", "已完成", "paid"),
    ("status", "已退款", "refunded"),
    ("status", "退款成功", "refunded"),
    ("status", "部分退款", "partially_refunded"),
    ("status", "已取消", "cancelled"),
    ("status", "交易关闭", "cancelled"),
    ("status", "已关闭", "cancelled"),
];

/// Order CSV columns. Rows sharing channel and order_no are one order with several items.
/// `salesperson` names the staff member who sold the order by email, or by display name
/// when exactly one staff member of the shop has it; `outlet` is the store or platform shop.
pub const ORDER_COLUMNS: [&str; 15] = [
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
    "salesperson",
    "outlet",
];

// ---- feeds ---------------------------------------------------------------------------

pub const MAX_BATCH: usize = 1000;

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
    #[schema(min_length = 1, max_length = 1000)]
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
    #[schema(min_length = 1, max_length = 1000)]
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
    #[schema(min_length = 1, max_length = 64)]
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
    pub platform: Channel,
    /// The platform's id of the review: the upsert key.
    #[validate(length(min = 1, max = 128))]
    pub review_id: String,
    /// 1 (worst) to 5.
    #[validate(range(min = 1, max = 5))]
    pub rating: u8,
    #[serde(default)]
    #[validate(length(max = 5000))]
    pub review_text: String,
    /// Between 1970-01-01 and 9999-12-30 (UTC).
    #[validate(custom(function = "check_instant"))]
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
    /// The end of the platform's review-revision window (the buyer can revise the review
    /// until then): the ticket's `platform_deadline_at`. Between 1970-01-01 and 9999-12-30 (UTC).
    #[validate(custom(function = "check_instant"))]
    pub revision_deadline_at: Option<DateTime<Utc>>,
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

crate::response::answer!(
    /// The customer feed's answer: what happened and the customer, for callers who may read
    /// customers (API keys with `customers:read` as well); a `Receipt` for the others.
    CustomerUpsertAnswer(CustomerUpserted)
);

crate::response::answer!(
    /// The order feed's answer: what happened and the order, for callers who may read
    /// customers and their orders (API keys with `customers:read` as well); a `Receipt` for
    /// the others.
    OrderUpsertAnswer(OrderUpserted)
);

crate::response::answer!(
    /// The review feed's answer: what happened and the ticket, for callers who may read
    /// tickets (API keys with `tickets:read` as well); a `Receipt` for the others.
    ReviewUpsertAnswer(ReviewUpserted)
);

/// What happened to one batch item.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItemResult {
    /// Position in `items`, from 0.
    pub index: usize,
    /// Absent when the item failed.
    pub outcome: Option<UpsertOutcome>,
    /// The customer's or order's id. Absent when the item failed, and in a rolled-back
    /// batch for an item it would have created (that row does not exist). A rolled-back
    /// batch shows outcomes and ids only to a caller with the matching read scope.
    pub id: Option<i64>,
    /// Why the item failed (field names relative to the item).
    pub error: Option<Problem>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct BatchReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: usize,
    /// One entry per item, in order.
    pub results: Vec<BatchItemResult>,
    /// `true` when `atomic` was asked and an item failed: nothing was applied.
    pub rolled_back: bool,
    /// Set for callers that may not read what they write: a rolled-back batch then tells
    /// them only which items failed and why, not whether the others' records exist (an
    /// atomic batch with one bad item must not be a way to look customers up).
    #[serde(skip)]
    #[schema(ignore)]
    pub conceal_outcomes: bool,
}
