//! The one batch runner, used by the CSV import and the feed batches: items are applied in
//! order, each in its own savepoint, and each gets its entry in the report. A refused item
//! leaves nothing of itself behind and does not stop the others; in atomic mode one failed
//! item fails the whole batch, and the error rolls the caller's transaction back. A lost
//! database stops the batch at once: every later item would fail the same way.
//!
//! The two reports differ in how they name an item (the lines of the file, an index in the
//! batch) and in their response bodies, which clients depend on; `Report` is what the
//! runner needs of each. A CSV file is cut into several batches ([`in_batches`]), each its
//! own transaction.

use diesel::Connection;
use serde_json::Map;

use super::{
    BatchItemResult, BatchReport, IMPORT_ERRORS_LISTED, ImportFile, ImportReport,
    ROW_ERROR_MAX_CHARS, RowError, TextEncoding,
};
use crate::db::DbConnection;
use crate::error::{ApiError, ProblemKind};
use crate::response::UpsertOutcome;

/// What an item's upsert answers: what it did, and the id of the row it did it to.
pub type ItemResult = Result<(UpsertOutcome, i64), ApiError>;

/// A batch's report, as the runner fills it.
pub trait Report: Sized {
    /// How the report names an item.
    type Key;
    /// Notes one item's result.
    fn record(&mut self, key: Self::Key, result: ItemResult);
    /// Whether any item failed.
    fn has_failures(&self) -> bool;
    /// The answer to an atomic batch with failures: nothing was applied.
    fn rejected(self) -> ApiError;
}

/// Applies `items` in order, each in its own savepoint, recording every result in
/// `report`. With `atomic`, any failure is an error carrying the report, which rolls back
/// the transaction the runner was called in.
pub fn run<T, R: Report>(
    conn: &mut DbConnection,
    items: impl IntoIterator<Item = (R::Key, T)>,
    atomic: bool,
    mut report: R,
    check: impl Fn(&T) -> Result<(), ApiError>,
    apply: impl Fn(&mut DbConnection, &T) -> ItemResult,
) -> Result<R, ApiError> {
    apply_each(conn, items, &mut report, check, apply)?;
    if atomic && report.has_failures() {
        return Err(report.rejected());
    }
    Ok(report)
}

/// Applies `items` in order, each in its own savepoint, recording every result in
/// `report`. `check` runs before an item's savepoint is opened, so an item that is bad on
/// its face costs the database nothing. The database becoming unreachable (a lost
/// connection, a pool that has none to give) is not an item's failure: it ends the batch
/// with that error, before the next item tries the dead connection again.
pub fn apply_each<T, R: Report>(
    conn: &mut DbConnection,
    items: impl IntoIterator<Item = (R::Key, T)>,
    report: &mut R,
    check: impl Fn(&T) -> Result<(), ApiError>,
    apply: impl Fn(&mut DbConnection, &T) -> ItemResult,
) -> Result<(), ApiError> {
    for (key, item) in items {
        let result = check(&item).and_then(|()| conn.transaction(|c| apply(c, &item)));
        if let Err(unavailable @ ApiError::Unavailable(_)) = result {
            return Err(unavailable);
        }
        report.record(key, result);
    }
    Ok(())
}

/// Hands `items` to `write` in batches of at most `size`, in order, stopping at the first
/// error (an item that could not be read, or a batch that could not be written). Only one
/// batch is held at a time.
pub fn in_batches<T>(
    items: impl IntoIterator<Item = Result<T, ApiError>>,
    size: usize,
    mut write: impl FnMut(Vec<T>) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let size = size.max(1);
    let mut batch = Vec::with_capacity(size);
    for item in items {
        batch.push(item?);
        if batch.len() == size {
            write(std::mem::replace(&mut batch, Vec::with_capacity(size)))?;
        }
    }
    if !batch.is_empty() {
        write(batch)?;
    }
    Ok(())
}

/// The rows of the file an import item covers: its first line, and how many rows (an
/// order's rows are one item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRows {
    pub line: u64,
    pub rows: usize,
}

impl ImportReport {
    pub fn new(file: ImportFile, atomic: bool, encoding: TextEncoding) -> Self {
        ImportReport {
            file,
            atomic,
            encoding,
            rows: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            failed: 0,
            errors: Vec::new(),
            errors_truncated: false,
            warnings: Vec::new(),
            warnings_truncated: false,
        }
    }

    /// Notes rows that will not be imported, and why.
    pub fn refuse(&mut self, rows: usize, errors: Vec<RowError>) {
        self.failed += rows;
        for error in errors {
            self.note(error);
        }
    }

    /// Keeps the first [`IMPORT_ERRORS_LISTED`] errors by line, whatever order they are found
    /// in (the check finds bad rows, the writing finds clashes further up), so that memory
    /// and the answer stay small however bad the file.
    fn note(&mut self, error: RowError) {
        keep_first_by_line(&mut self.errors, &mut self.errors_truncated, error);
    }

    /// Notes something imported otherwise than the file says; listed like errors.
    pub fn warn(&mut self, warning: RowError) {
        keep_first_by_line(&mut self.warnings, &mut self.warnings_truncated, warning);
    }
}

/// Keeps the first [`IMPORT_ERRORS_LISTED`] entries of `list` by line, with messages cut to
/// [`ROW_ERROR_MAX_CHARS`]; `truncated` says some were left out.
fn keep_first_by_line(list: &mut Vec<RowError>, truncated: &mut bool, mut entry: RowError) {
    if let Some((cut, _)) = entry.message.char_indices().nth(ROW_ERROR_MAX_CHARS) {
        entry.message.truncate(cut);
        entry.message.push('…');
    }
    let at = list.partition_point(|e| e.line <= entry.line);
    if list.len() < IMPORT_ERRORS_LISTED {
        list.insert(at, entry);
        return;
    }
    *truncated = true;
    if at < list.len() {
        list.insert(at, entry);
        list.pop();
    }
}

/// CSV items are named by the rows they cover; rows refused while the file was checked are
/// already in the report when the runner starts.
impl Report for ImportReport {
    type Key = FileRows;

    fn record(&mut self, rows: FileRows, result: ItemResult) {
        match result {
            Ok((UpsertOutcome::Created, _)) => self.created += 1,
            Ok((UpsertOutcome::Updated, _)) => self.updated += 1,
            Ok((UpsertOutcome::Unchanged, _)) => self.unchanged += 1,
            Err(error) => {
                let message = match error {
                    ApiError::Internal(cause) => {
                        tracing::error!(%cause, line = rows.line, "import row failed");
                        "an unexpected error occurred; it has been logged".into()
                    }
                    // Rules checked while the row is applied (an order's caps) name the
                    // request's field; "1 field is invalid" alone would not say which.
                    ApiError::Validation(fields) => fields
                        .iter()
                        .map(|field| format!("{}: {}", field.field, field.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                };
                self.refuse(
                    rows.rows,
                    vec![RowError {
                        line: rows.line,
                        column: None,
                        message,
                    }],
                );
            }
        }
    }

    fn has_failures(&self) -> bool {
        self.failed > 0
    }

    fn rejected(mut self) -> ApiError {
        self.created = 0;
        self.updated = 0;
        self.unchanged = 0;
        let mut extensions = Map::new();
        extensions.insert(
            "report".into(),
            serde_json::to_value(&self).unwrap_or_default(),
        );
        ApiError::Unprocessable {
            kind: ProblemKind::ImportRejected,
            detail: format!(
                "{} of {} rows are bad; nothing was imported (atomic)",
                self.failed, self.rows
            ),
            extensions,
        }
    }
}

/// Feed items are named by their index in `items`.
impl Report for BatchReport {
    type Key = usize;

    fn record(&mut self, index: usize, result: ItemResult) {
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

    fn has_failures(&self) -> bool {
        self.failed > 0
    }

    fn rejected(mut self) -> ApiError {
        self.rolled_back = true;
        // The report says what would have happened; a row it would have created was rolled
        // back, and its id may be given to another row later: it is not shown.
        for entry in &mut self.results {
            if entry.outcome == Some(UpsertOutcome::Created) || self.conceal_outcomes {
                entry.id = None;
            }
            if self.conceal_outcomes {
                entry.outcome = None;
            }
        }
        if self.conceal_outcomes {
            (self.created, self.updated, self.unchanged) = (0, 0, 0);
        }
        let mut extensions = Map::new();
        extensions.insert(
            "report".into(),
            serde_json::to_value(&self).unwrap_or_default(),
        );
        ApiError::Unprocessable {
            kind: ProblemKind::BatchRejected,
            detail: format!(
                "{} of {} items failed and the batch is atomic: nothing was applied",
                self.failed,
                self.results.len()
            ),
            extensions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import_report() -> ImportReport {
        let mut report = ImportReport::new(ImportFile::Customers, true, TextEncoding::Utf8);
        report.rows = 6;
        report
    }

    fn at(line: u64) -> FileRows {
        FileRows { line, rows: 1 }
    }

    #[test]
    fn import_reports_count_failed_rows_not_errors() {
        let mut report = import_report();
        let bad = |line, column: &str| RowError {
            line,
            column: Some(column.into()),
            message: "bad".into(),
        };
        report.refuse(1, vec![bad(4, "name"), bad(4, "phone")]);
        report.record(at(2), Ok((UpsertOutcome::Created, 7)));
        // An order of three rows that the database refused: three rows not imported.
        report.record(
            FileRows { line: 5, rows: 3 },
            Err(ApiError::not_found("customer")),
        );
        assert_eq!(report.failed, 4);
        assert_eq!(report.errors.len(), 3);
        assert_eq!(report.created, 1);
        assert!(report.has_failures());
        let ApiError::Unprocessable {
            kind, extensions, ..
        } = report.rejected()
        else {
            panic!("an atomic import with a bad row is unprocessable");
        };
        assert_eq!(kind, ProblemKind::ImportRejected);
        assert_eq!(extensions["report"]["created"], 0);
    }

    #[test]
    fn an_import_report_lists_the_first_errors_by_line_and_counts_them_all() {
        let mut report = import_report();
        // Found out of order: the check's refusals first, the database's clashes later.
        for line in (2..=1001).rev() {
            report.refuse(
                1,
                vec![RowError {
                    line,
                    column: None,
                    message: "x".repeat(10_000),
                }],
            );
        }
        assert_eq!(report.failed, 1000);
        assert_eq!(report.errors.len(), IMPORT_ERRORS_LISTED);
        assert!(report.errors_truncated);
        let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, (2..=101).collect::<Vec<_>>());
        assert!(
            report
                .errors
                .iter()
                .all(|e| e.message.chars().count() == ROW_ERROR_MAX_CHARS + 1)
        );
        let mut few = import_report();
        few.refuse(
            1,
            vec![RowError {
                line: 3,
                column: None,
                message: "short".into(),
            }],
        );
        assert!(!few.errors_truncated);
        assert_eq!(few.errors[0].message, "short");
    }

    #[test]
    fn files_are_written_in_batches_of_the_given_size() {
        let mut batches = Vec::new();
        in_batches((0..1234).map(Ok), 500, |batch| {
            batches.push((batch[0], batch.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(batches, [(0, 500), (500, 500), (1000, 234)]);

        // A file that cannot be read further stops the import before the next batch.
        let mut written = 0;
        let items = (0..10).map(|i| {
            if i == 7 {
                Err(ApiError::Internal("unreadable".into()))
            } else {
                Ok(i)
            }
        });
        let result = in_batches(items, 3, |batch| {
            written += batch.len();
            Ok(())
        });
        assert!(matches!(result, Err(ApiError::Internal(_))));
        assert_eq!(written, 6);
    }

    #[test]
    fn a_lost_database_stops_the_batch_at_the_first_item_it_fails() {
        use diesel::sqlite::SqliteConnection;
        let mut conn = DbConnection::Sqlite(SqliteConnection::establish(":memory:").unwrap());
        let mut report = import_report();
        let tried = std::cell::Cell::new(0);
        let result = apply_each(
            &mut conn,
            (2..12).map(|line| (at(line), line)),
            &mut report,
            |_| Ok(()),
            |_, line| {
                tried.set(tried.get() + 1);
                match line {
                    3 => Err(ApiError::field("name", "bad")),
                    4 => Err(ApiError::Unavailable("connection lost".into())),
                    _ => Ok((UpsertOutcome::Created, *line as i64)),
                }
            },
        );
        assert!(matches!(result, Err(ApiError::Unavailable(_))));
        assert_eq!(tried.get(), 3, "no item is tried after the outage");
        assert_eq!((report.created, report.failed), (1, 1));
    }

    #[test]
    fn batch_reports_name_items_by_index() {
        let mut report = BatchReport::default();
        report.record(0, Ok((UpsertOutcome::Unchanged, 3)));
        report.record(1, Err(ApiError::not_found("customer")));
        assert_eq!((report.unchanged, report.failed), (1, 1));
        assert_eq!(report.results[1].index, 1);
        let ApiError::Unprocessable {
            kind, extensions, ..
        } = report.rejected()
        else {
            panic!("an atomic batch with a failed item is unprocessable");
        };
        assert_eq!(kind, ProblemKind::BatchRejected);
        assert_eq!(extensions["report"]["rolled_back"], true);
    }
}
