//! What handlers put on their responses: marks for the middleware around them to read,
//! and the shapes every write's answer shares (what an upsert did; the receipt a caller
//! gets when it may write a record but not read it).
//!
//! It depends on nothing in the crate, so handlers (auth, API keys, every feature) and
//! middleware (idempotency) can all use it without depending on each other.

use serde::Serialize;
use utoipa::ToSchema;

/// Put in a response's extensions by handlers whose answer carries a secret shown once
/// (a new API key, a new access token): the idempotency middleware never stores or
/// replays such an answer.
#[derive(Debug, Clone, Copy)]
pub struct SecretResponse;

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpsertOutcome {
    Created,
    Updated,
    /// Identical to what is on file: nothing written.
    Unchanged,
}

/// The answer to a write for a caller that may make it but not read the record (an API
/// key with `customers:write`, `orders:write` or `tickets:write` and not the matching read
/// scope): which record, and what happened to it. Nothing of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": 12, "outcome": "updated"}))]
pub struct Receipt {
    /// The record written (customer, order or ticket).
    pub id: i64,
    pub outcome: UpsertOutcome,
}

/// Declares the answer type of a write: the record when the caller may read it, otherwise
/// a [`Receipt`]. Each write endpoint documents its own (`CustomerAnswer`, ...) so the
/// OpenAPI document names both shapes (`oneOf`, by reference); they never overlap, since a
/// receipt has exactly `id` and `outcome`. Which one a caller gets follows from its own
/// scopes (`auth::Principal::sees_what_it_writes`).
macro_rules! answer {
    ($(#[$doc:meta])* $name:ident($record:ty)) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        #[serde(untagged)]
        // Built to be serialised once, right away: boxing the record would only add an
        // allocation to every answer.
        #[allow(clippy::large_enum_variant)]
        pub enum $name {
            Record($record),
            Receipt($crate::response::Receipt),
        }

        impl $name {
            /// The record when `shows_record`, else the receipt; `record` runs only when
            /// shown (it may read the database), so a receipt costs no view at all.
            pub fn of<E>(
                shows_record: bool,
                id: i64,
                outcome: $crate::response::UpsertOutcome,
                record: impl FnOnce() -> Result<$record, E>,
            ) -> Result<Self, E> {
                if shows_record {
                    record().map($name::Record)
                } else {
                    Ok($name::Receipt($crate::response::Receipt { id, outcome }))
                }
            }
        }
    };
}
pub(crate) use answer;

#[cfg(test)]
mod tests {
    use super::*;

    answer!(
        /// A record or its receipt.
        SampleAnswer(serde_json::Value)
    );

    #[test]
    fn a_receipt_carries_the_id_and_outcome_only() {
        let receipt = SampleAnswer::of(false, 12, UpsertOutcome::Updated, || -> Result<_, ()> {
            panic!("a receipt never builds the record")
        })
        .unwrap();
        assert_eq!(
            serde_json::to_value(&receipt).unwrap(),
            serde_json::json!({"id": 12, "outcome": "updated"})
        );
        let record = SampleAnswer::of(true, 12, UpsertOutcome::Created, || {
            Ok::<_, ()>(serde_json::json!({"id": 12, "name": "李娜"}))
        })
        .unwrap();
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            serde_json::json!({"id": 12, "name": "李娜"})
        );
    }
}
