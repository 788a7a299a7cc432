//! Ingestion use cases: upserts by natural key, shared by the CSV import and the feeds
//! (customers by contact handle, orders by channel + external order number, reviews by
//! platform + review id), the CSV import itself, and the export's audit record and pages.
//! They span the customer, tag, order, ticket and audit stores and write no SQL of their
//! own. Run each upsert in its own savepoint: a refused upsert leaves nothing behind.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::{Read, Seek};

use chrono::{FixedOffset, Utc};

use super::batch::{self, FileRows, ItemResult, Report};
use super::csv::{self, CustomerRow, ImportItem, Plan, Planned};
use super::text::{self, TextEncoding};
use super::{ImportFile, ImportReport, OrderFeedItem, OrderReference, ReviewFeedItem, RowError};
use crate::audit::store as audit_store;
use crate::audit::{AuditAction, NewAuditEntry};
use crate::auth::Principal;
use crate::customers::contacts::ContactKind;
use crate::customers::rules::normalized_handles;
use crate::customers::store::{self as customer_store, CustomerCursor, CustomerFilter};
use crate::customers::{CreateCustomerRequest, CustomerSort, Source, UpdateCustomerRequest};
use crate::db::{Db, DbConnection};
use crate::error::{ApiError, FieldError, ProblemKind};
use crate::extract::validate;
use crate::ids::{CustomerId, ShopId};
use crate::orders::operations as order_operations;
use crate::orders::store as order_store;
use crate::orders::{CreateOrderRequest, UpdateOrderRequest};
use crate::response::UpsertOutcome;
use crate::tags::operations::{self as tag_operations, Tagger};
use crate::tags::{name_key, store as tag_store};
use crate::tickets::operations::{self as ticket_operations, Context, ReviewReport};
use crate::tickets::workflow::AutoAssign;
use crate::tickets::{NegativeReviewDetails, TicketView};
use crate::tiers::TierSettings;

/// Creates the customer, or merges the row into the one its handles point to: fields
/// given in the row replace those on file, handles and tags are added, nothing is removed
/// but the tag a row's tag of a single-choice group replaces. Two tags of one
/// single-choice group in a row are the row's fault (422 on `tags`).
pub fn upsert_customer(
    conn: &mut DbConnection,
    shop_id: ShopId,
    request: &CreateCustomerRequest,
    by: Tagger<'_>,
) -> Result<(UpsertOutcome, i64), ApiError> {
    let handles = normalized_handles(&request.contacts)?;
    let Some(owner) = customer_store::owner_by_handles(conn, shop_id, &handles)? else {
        let customer = customer_store::create(conn, shop_id, request)?;
        return Ok((UpsertOutcome::Created, customer.id));
    };
    let customer = customer_store::get(conn, shop_id, owner)?;
    let mut all_handles = customer_store::contacts_of(conn, &[owner])?
        .remove(&owner)
        .unwrap_or_default();
    for handle in &request.contacts {
        all_handles.push(handle.clone());
    }
    let update = UpdateCustomerRequest {
        name: Some(request.name.clone()),
        contacts: Some(all_handles),
        address: request.address.clone().map(Some),
        birthday: request.birthday.map(Some),
        source: Some(request.source),
        notes: Some(request.notes.clone()).filter(|n| !n.is_empty()),
    };
    let (_, changed) = customer_store::update(conn, &customer, &update)?;
    let tags = tag_store::ensure(conn, shop_id, &request.tags)?;
    let (added, replaced) =
        tag_operations::put(conn, shop_id, &tags, &[CustomerId(owner)], "tags", by)?;
    let tagged = added + replaced > 0;
    if tagged && !changed {
        customer_store::touch(conn, &[owner])?;
    }
    let outcome = if changed || tagged {
        UpsertOutcome::Updated
    } else {
        UpsertOutcome::Unchanged
    };
    Ok((outcome, owner))
}

/// Tags an import found on file in another group than its file gives them: one warning per
/// tag, at the first line that names it.
#[derive(Default)]
struct TagGroupWarnings {
    tags: BTreeSet<String>,
    warnings: Vec<RowError>,
}

/// A customer row of an import: the tags its `tags.<group>` columns name are created in
/// those groups first (`upsert_customer` then finds them on file). A tag already on file
/// keeps its group, whatever the file says: regrouping is an edit of the tag, for whoever
/// may rename tags, not a side effect of an import. Where the groups differ the import
/// says so, once the row is written.
fn import_customer(
    conn: &mut DbConnection,
    shop_id: ShopId,
    row: &CustomerRow,
    noted: &RefCell<TagGroupWarnings>,
    by: Tagger<'_>,
) -> ItemResult {
    let wanted: Vec<(&str, Option<&str>)> = row
        .tag_groups
        .iter()
        .map(|(name, group)| (name.as_str(), Some(group.as_str())))
        .collect();
    let mut differing = Vec::new();
    if !wanted.is_empty() {
        for tag in tag_store::ensure_in_groups(conn, shop_id, &wanted)? {
            // The file may spell a tag on file in another ASCII case: one tag all the same.
            let Some(group) = row
                .tag_groups
                .iter()
                .find(|(name, _)| name_key(name) == tag.name_key)
                .map(|(_, group)| group)
            else {
                continue;
            };
            if tag.tag_group.as_deref() != Some(group.as_str()) {
                let on_file = match &tag.tag_group {
                    Some(other) => format!("is in the group {other:?}"),
                    None => "has no group".to_owned(),
                };
                differing.push((
                    tag.name.clone(),
                    RowError {
                        line: row.line,
                        column: row.group_columns.get(group).cloned(),
                        message: format!(
                            "the tag {:?} {on_file}: put on the customer, its group left as it is",
                            tag.name
                        ),
                    },
                ));
            }
        }
    }
    let written = upsert_customer(conn, shop_id, &row.request, by)?;
    let mut noted = noted.borrow_mut();
    for (tag, warning) in differing {
        if noted.tags.insert(tag) {
            noted.warnings.push(warning);
        }
    }
    Ok(written)
}

/// Creates the order, or updates the one on file with the same channel and number; the
/// customer is the one `customer_handles` all point to.
pub fn upsert_order(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_handles: &[(ContactKind, String)],
    request: &CreateOrderRequest,
    tiers: &TierSettings,
) -> Result<(UpsertOutcome, i64), ApiError> {
    let mut owners = BTreeSet::new();
    for (kind, value) in customer_handles {
        match customer_store::owner_of(conn, shop_id, *kind, value)? {
            Some(owner) => {
                owners.insert(owner);
            }
            None => {
                return Err(ApiError::NotFound(format!(
                    "no customer with {} {value}; import customers first",
                    kind.as_str()
                )));
            }
        }
    }
    if owners.len() != 1 {
        return Err(ApiError::conflict(
            ProblemKind::DuplicateContact,
            "the customer handles point to different customers",
        ));
    }
    let customer_id = owners.into_iter().next().unwrap_or_default();
    match order_store::find_by_external(
        conn,
        shop_id,
        request.channel,
        request.external_order_no.trim(),
    )? {
        None => {
            let order =
                order_operations::create(conn, shop_id, CustomerId(customer_id), request, tiers)?;
            Ok((UpsertOutcome::Created, order.id))
        }
        Some(existing) if existing.customer_id != customer_id => Err(ApiError::conflict(
            ProblemKind::Duplicate,
            // Not which customer: the caller may be an orders:write key that may not read
            // customers.
            format!(
                "order {} is recorded for another customer",
                existing.external_order_no
            ),
        )),
        Some(existing) => {
            let change = UpdateOrderRequest {
                status: request.status,
                items: Some(request.items.clone()),
                total_cents: request.total_cents,
                ordered_at: Some(request.ordered_at),
                // Given: set; not given: left as it is.
                salesperson_id: request.salesperson_id.map(Some),
                outlet: request.outlet.clone().map(Some),
            };
            let outcome = match order_operations::update(conn, &existing, &change, tiers)? {
                Some(_) => UpsertOutcome::Updated,
                None => UpsertOutcome::Unchanged,
            };
            Ok((outcome, existing.id))
        }
    }
}

/// A feed's order: its customer by handles (who must be on file), errors named in the
/// feed's terms (`customer_contacts`, `order.items[0].quantity`).
pub fn upsert_feed_order(
    conn: &mut DbConnection,
    shop_id: ShopId,
    item: &OrderFeedItem,
    tiers: &TierSettings,
) -> Result<(UpsertOutcome, i64), ApiError> {
    let handles = normalized_handles(&item.customer_contacts).map_err(|e| match e {
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
        // The order's rules name its fields (`items[3].quantity`); in a feed item they
        // sit under `order`.
        ApiError::Validation(errors) => ApiError::Validation(
            errors
                .into_iter()
                .map(|f| FieldError::new(format!("order.{}", f.field), f.message))
                .collect(),
        ),
        other => other,
    })
}

/// The reviewer's customer id: by handle, or a new customer when a name is given.
fn reviewer(
    conn: &mut DbConnection,
    shop_id: ShopId,
    item: &ReviewFeedItem,
) -> Result<i64, ApiError> {
    let handles = normalized_handles(&item.customer_contacts)?;
    if let Some(owner) = customer_store::owner_by_handles(conn, shop_id, &handles)? {
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
    Ok(customer_store::create(conn, shop_id, &request)?.id)
}

fn reviewed_order(
    conn: &mut DbConnection,
    shop_id: ShopId,
    customer_id: CustomerId,
    reference: &OrderReference,
) -> Result<i64, ApiError> {
    match order_store::find_by_external(
        conn,
        shop_id,
        reference.channel,
        reference.external_order_no.trim(),
    )? {
        Some(order) if order.customer_id == customer_id.0 => Ok(order.id),
        Some(_) => Err(ApiError::field("order", "is an order of another customer")),
        None => Err(ApiError::field("order", "no such order")),
    }
}

/// What the review feed needs from the service's settings.
#[derive(Clone)]
pub struct ReviewSettings {
    pub sla: crate::sla::store::SlaCache,
    pub auto_assign: AutoAssign,
    pub tiers: TierSettings,
}

/// A review from the feed: its reviewer (found or created), the reviewed order, then the
/// ticket opened or brought up to date.
pub fn upsert_review(
    conn: &mut DbConnection,
    caller: &Principal,
    item: &ReviewFeedItem,
    settings: ReviewSettings,
) -> Result<(TicketView, UpsertOutcome), ApiError> {
    let shop_id = caller.shop_id();
    let customer_id = reviewer(conn, shop_id, item)?;
    let order_id = item
        .order
        .as_ref()
        .map(|r| reviewed_order(conn, shop_id, CustomerId(customer_id), r))
        .transpose()?;
    let title = item.title.clone().unwrap_or_else(|| {
        let platform = serde_json::to_value(item.platform)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        format!("{}-star review on {platform}", item.rating)
    });
    let ctx = Context {
        caller,
        now: Utc::now().naive_utc(),
        sla: settings.sla.get(conn, shop_id)?,
        tiers: settings.tiers,
        surveys: None,
    };
    let report = ReviewReport {
        customer_id,
        order_id,
        title: &title,
        platform_deadline_at: item.revision_deadline_at,
        details: NegativeReviewDetails {
            platform: item.platform,
            rating: item.rating,
            review_text: item.review_text.clone(),
            review_id: Some(item.review_id.trim().to_owned()),
            posted_at: item.posted_at,
        },
    };
    let (ticket, outcome) =
        ticket_operations::upsert_review(conn, &ctx, report, settings.auto_assign)?;
    Ok((
        crate::tickets::store::view(conn, &ticket, ctx.now)?,
        outcome,
    ))
}

/// Customers per export page: one page is read per chunk the client takes.
const EXPORT_PAGE: i64 = 500;

/// The export's header line: its tag group columns are the groups of the tags customers
/// carry.
pub fn export_header(
    conn: &mut DbConnection,
    shop_id: ShopId,
) -> Result<(Vec<u8>, Vec<String>), ApiError> {
    let groups = tag_store::groups_in_use(conn, shop_id)?;
    Ok((csv::export_header(&groups)?, groups))
}

/// One page of the export as CSV rows, oldest first after `after`, and the id to continue
/// after (`None` on the last page). `groups` are the header's tag group columns.
pub fn export_page(
    conn: &mut DbConnection,
    filter: &CustomerFilter,
    groups: &[String],
    after: Option<i64>,
) -> Result<(Vec<u8>, Option<i64>), ApiError> {
    let cursor = after.map(CustomerCursor::Id);
    let rows = customer_store::list(conn, filter, CustomerSort::Oldest, cursor, EXPORT_PAGE)?;
    let last = (rows.len() as i64 == EXPORT_PAGE)
        .then(|| rows.last().map(|c| c.id))
        .flatten();
    let views = customer_store::views(conn, rows)?;
    Ok((csv::export_rows(&views, groups)?, last))
}

/// How a CSV import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub file: ImportFile,
    /// All or nothing: one transaction, and one bad row imports nothing.
    pub atomic: bool,
    /// Offset of order times written without one.
    pub offset: FixedOffset,
    /// Rows per transaction when not atomic.
    pub batch_rows: usize,
    /// The file's encoding, if the caller says (otherwise found, see `text::choose`).
    pub encoding: Option<TextEncoding>,
    /// Who imports (`user:<id>`) and from where, for the audit entries of tags a row's
    /// single-choice tags replace.
    pub actor: String,
    pub address: Option<String>,
}

/// Imports a CSV file (blocking; run it off the async workers), reading it three times and
/// holding one row, one batch and the report's first errors in memory, whatever its size.
///
/// The first reading finds the file's encoding when the caller did not say (UTF-8 if it is
/// valid UTF-8 throughout, else GB18030); the others decode it a chunk at a time.
/// The second reading checks every row and writes nothing: a file that is not text is
/// refused whole, and an atomic import with a bad row is refused before the database is
/// touched. The third writes the good rows, in transactions of `batch_rows` rows
/// (other writers, SQLite's included, take their turn between two), or in one transaction
/// when atomic. Should the database become unreachable, the import stops there with a 503
/// saying which lines were imported; re-sending the file is safe, since rows already on
/// file come back as unchanged.
pub fn import_csv<F: Read + Seek>(
    db: &Db,
    shop_id: ShopId,
    tiers: &TierSettings,
    mut file: F,
    options: ImportOptions,
) -> Result<ImportReport, ApiError> {
    let unreadable =
        |e: std::io::Error| ApiError::Internal(format!("reading the uploaded file: {e}"));
    let scan = text::scan(&mut file).map_err(unreadable)?;
    let encoding =
        text::choose(scan, options.encoding).map_err(|m| ApiError::field("encoding", m))?;
    file.rewind().map_err(unreadable)?;
    let mut report = ImportReport::new(options.file, options.atomic, encoding.encoding);
    for planned in Plan::open(&mut file, options.file, encoding, options.offset)? {
        match planned? {
            Planned::Item { rows, .. } => report.rows += rows,
            Planned::Refused { rows, errors } => {
                report.rows += rows;
                report.refuse(rows, errors);
            }
        }
    }
    if options.atomic && report.has_failures() {
        return Err(report.rejected());
    }
    file.rewind()
        .map_err(|e| ApiError::Internal(format!("rewinding the uploaded file: {e}")))?;
    // Refused rows are in the report already; this reading only writes.
    let items =
        Plan::open(&mut file, options.file, encoding, options.offset)?.filter_map(|planned| {
            match planned {
                Ok(Planned::Item { line, rows, item }) => Some(Ok((FileRows { line, rows }, item))),
                Ok(Planned::Refused { .. }) => None,
                Err(e) => Some(Err(e)),
            }
        });
    // Warnings are kept apart from the report, which the runner holds while it writes.
    let noted = RefCell::new(TagGroupWarnings::default());
    let apply = |conn: &mut DbConnection, item: &ImportItem| match item {
        ImportItem::Customer(row) => import_customer(
            conn,
            shop_id,
            row,
            &noted,
            Tagger {
                actor: &options.actor,
                address: options.address.as_deref(),
            },
        ),
        ImportItem::Order(group) => match &group.salesperson {
            None => upsert_order(
                conn,
                shop_id,
                &group.customer_handles,
                &group.request,
                tiers,
            ),
            Some(typed) => {
                let mut request = group.request.clone();
                request.salesperson_id = Some(crate::users::store::find_by_email_or_name(
                    conn, shop_id, typed,
                )?);
                upsert_order(conn, shop_id, &group.customer_handles, &request, tiers)
            }
        },
    };
    let no_check = |_: &ImportItem| Ok(());
    let with_warnings = |mut report: ImportReport| {
        for warning in noted.take().warnings {
            report.warn(warning);
        }
        report
    };
    if options.atomic {
        return db
            .write_blocking(|conn| {
                let mut unreadable = None;
                let items = items.map_while(|item| item.map_err(|e| unreadable = Some(e)).ok());
                let report = batch::run(conn, items, true, report, no_check, apply)?;
                unreadable.map_or(Ok(report), Err)
            })
            .map(with_warnings)
            .map_err(|e| import_stopped(e, None));
    }
    let mut first_batch = true;
    batch::in_batches(items, options.batch_rows, |rows| {
        // Items come in file order, an order's rows all before the next item's first line.
        let from = rows.first().map(|(at, _)| at.line).filter(|_| !first_batch);
        db.write_blocking(|conn| batch::apply_each(conn, rows, &mut report, no_check, apply))
            .map_err(|e| import_stopped(e, from))?;
        first_batch = false;
        Ok(())
    })?;
    Ok(with_warnings(report))
}

/// The database went away in the middle of an import: the answer is a 503 saying what is
/// on file, never a report with the rest of the rows marked failed.
fn import_stopped(error: ApiError, imported_before_line: Option<u64>) -> ApiError {
    let ApiError::Unavailable(cause) = error else {
        return error;
    };
    let done = match imported_before_line {
        None => "nothing was imported".to_owned(),
        Some(line) => format!("the good rows before line {line} were imported, none after"),
    };
    ApiError::Interrupted {
        cause,
        detail: format!(
            "the import stopped: {done}. Re-sending the file is safe: rows already imported \
             come back as unchanged"
        ),
    }
}

/// Records an export of the customer file before any of it leaves: who, with which
/// filter (never a search text, see `customers::rules::filter_for_audit`), and how many
/// customers matched. An export that cannot be recorded does not start.
pub fn record_export(
    conn: &mut DbConnection,
    actor: &str,
    address: Option<&str>,
    filter: &CustomerFilter,
    details: &serde_json::Value,
) -> Result<i64, ApiError> {
    let row_count = customer_store::count(conn, filter)?;
    audit_store::record(
        conn,
        &NewAuditEntry {
            shop_id: filter.shop_id,
            actor,
            action: AuditAction::CustomersExport,
            details,
            row_count: Some(row_count),
            address,
        },
        Utc::now().naive_utc(),
    )?;
    Ok(row_count)
}
