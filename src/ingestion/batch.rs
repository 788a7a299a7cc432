//! The one batch runner, used by the CSV import and the feed batches: items are applied in
//! order, each in its own savepoint, and each gets its entry in the report. A refused item
//! leaves nothing of itself behind and does not stop the others; in atomic mode one failed
//! item fails the whole batch, and the error rolls the caller's transaction back.
//!
//! The two reports differ in how they name an item (a line of the file, an index in the
//! batch) and in their response bodies, which clients depend on; `Report` is what the
//! runner needs of each.

use std::collections::BTreeSet;

use diesel::Connection;
use serde_json::Map;

use super::{BatchItemResult, BatchReport, ImportReport, RowError};
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
    /// Puts the report in its final shape once every item is recorded.
    fn finish(&mut self) {}
    /// Whether any item failed.
    fn has_failures(&self) -> bool;
    /// The answer to an atomic batch with failures: nothing was applied.
    fn rejected(self) -> ApiError;
}

/// Applies `items` in order, each in its own savepoint, recording every result in
/// `report`. `check` runs before an item's savepoint is opened, so an item that is bad on
/// its face costs the database nothing. With `atomic`, any failure is an error carrying
/// the report, which rolls back the transaction the runner was called in.
pub fn run<T, R: Report>(
    conn: &mut DbConnection,
    items: impl IntoIterator<Item = (R::Key, T)>,
    atomic: bool,
    mut report: R,
    check: impl Fn(&T) -> Result<(), ApiError>,
    apply: impl Fn(&mut DbConnection, &T) -> ItemResult,
) -> Result<R, ApiError> {
    for (key, item) in items {
        let result = check(&item).and_then(|()| conn.transaction(|c| apply(c, &item)));
        report.record(key, result);
    }
    report.finish();
    if atomic && report.has_failures() {
        return Err(report.rejected());
    }
    Ok(report)
}

/// CSV items are named by their (first) line in the file; parse errors found while
/// planning are already in `errors` when the runner starts.
impl Report for ImportReport {
    type Key = u64;

    fn record(&mut self, line: u64, result: ItemResult) {
        match result {
            Ok((UpsertOutcome::Created, _)) => self.created += 1,
            Ok((UpsertOutcome::Updated, _)) => self.updated += 1,
            Ok((UpsertOutcome::Unchanged, _)) => self.unchanged += 1,
            Err(ApiError::Internal(cause)) => {
                tracing::error!(%cause, "import row failed");
                self.errors.push(RowError {
                    line,
                    column: None,
                    message: "an unexpected error occurred; it has been logged".into(),
                });
            }
            // Rules checked while the row is applied (an order's caps) name the request's
            // field; "1 field is invalid" alone would not say which.
            Err(ApiError::Validation(fields)) => {
                self.errors.extend(fields.into_iter().map(|field| RowError {
                    line,
                    column: None,
                    message: format!("{}: {}", field.field, field.message),
                }))
            }
            Err(error) => self.errors.push(RowError {
                line,
                column: None,
                message: error.to_string(),
            }),
        }
    }

    fn finish(&mut self) {
        self.errors.sort_by_key(|e| e.line);
        self.failed = failed_lines(&self.errors);
    }

    fn has_failures(&self) -> bool {
        !self.errors.is_empty()
    }

    fn rejected(mut self) -> ApiError {
        self.failed = failed_lines(&self.errors);
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

/// A line with several errors is one failed row.
fn failed_lines(errors: &[RowError]) -> usize {
    errors.iter().map(|e| e.line).collect::<BTreeSet<_>>().len()
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
        ImportReport {
            file: super::super::ImportFile::Customers,
            atomic: true,
            rows: 3,
            created: 0,
            updated: 0,
            unchanged: 0,
            failed: 0,
            errors: Vec::new(),
        }
    }

    #[test]
    fn import_reports_count_failed_lines_not_errors() {
        let mut report = import_report();
        report.record(4, Err(ApiError::field("name", "bad")));
        report.record(2, Ok((UpsertOutcome::Created, 7)));
        report.errors.push(RowError {
            line: 4,
            column: Some("phone".into()),
            message: "bad".into(),
        });
        report.finish();
        assert_eq!(report.failed, 1);
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
