//! Internal notes: what staff write down about a buyer or a case without moving it ("called
//! twice, prefers WeChat after 18:00"). A note on a ticket is also a timeline entry
//! (`note_added`, `note_edited`) and is found by the ticket search; a note on a customer is
//! on the customer's file. Notes change no state, no deadline and no version.
//!
//! The author may correct a note for `EDIT_WINDOW_MINUTES`; every earlier text is kept.
//! SQL lives in `store`, the use cases in `operations`, HTTP in `routes`.

pub mod operations;
pub mod routes;
pub mod store;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::error::{ApiError, ProblemKind};
use crate::extract::message;
use crate::ids::ShopId;

/// How long the author may correct a note: long enough to fix a typo or add the number
/// the buyer gave a minute later, short enough that a note read by colleagues stays put.
pub const EDIT_WINDOW_MINUTES: i64 = 15;

const MAX_BODY_CHARS: usize = 5000;

/// A row of `notes`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::notes)]
pub struct Note {
    pub id: i64,
    pub shop_id: ShopId,
    pub customer_id: i64,
    pub ticket_id: Option<i64>,
    pub author_id: Option<i64>,
    pub body: String,
    /// JSON array of [`NoteEdit`], oldest first.
    pub edits: String,
    pub created_at: NaiveDateTime,
    pub edited_at: Option<NaiveDateTime>,
}

/// An earlier text of a note and when it was replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NoteEdit {
    pub body: String,
    pub replaced_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoteView {
    pub id: i64,
    pub customer_id: i64,
    /// Set for a note on a ticket.
    pub ticket_id: Option<i64>,
    pub author_id: Option<i64>,
    pub author_name: Option<String>,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// When the text was last corrected (absent if never).
    pub edited_at: Option<DateTime<Utc>>,
    /// Until when the author may correct it.
    pub editable_until: DateTime<Utc>,
    /// Earlier texts, oldest first.
    pub edits: Vec<NoteEdit>,
}

crate::pagination::named_page!(NotePage, NoteView);

fn check_body(body: &str) -> Result<(), ValidationError> {
    let trimmed = body.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_BODY_CHARS {
        return Err(message("body_length", "must be 1 to 5000 characters"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(message(
            "body_chars",
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(())
}

/// A note's text, to write or to correct one.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "买家说下午三点后方便接电话，更喜欢微信联系"}))]
pub struct NoteRequest {
    /// 1 to 5000 characters; line breaks kept.
    #[validate(custom(function = "check_body"))]
    #[schema(min_length = 1, max_length = 5000)]
    pub body: String,
}

impl Note {
    pub fn editable_until(&self) -> NaiveDateTime {
        self.created_at + Duration::minutes(EDIT_WINDOW_MINUTES)
    }

    pub fn edits(&self) -> Vec<NoteEdit> {
        serde_json::from_str(&self.edits).unwrap_or_default()
    }

    /// Only the author corrects a note, and only within the edit window.
    pub fn check_editable(&self, editor: i64, now: NaiveDateTime) -> Result<(), ApiError> {
        if self.author_id != Some(editor) {
            return Err(ApiError::Forbidden(
                "only the author may correct a note".into(),
            ));
        }
        if now > self.editable_until() {
            return Err(ApiError::conflict(
                ProblemKind::NoteLocked,
                format!(
                    "a note may be corrected for {EDIT_WINDOW_MINUTES} minutes after it was written; write a new note instead"
                ),
            ));
        }
        Ok(())
    }

    pub fn view(&self, author_name: Option<String>) -> NoteView {
        NoteView {
            id: self.id,
            customer_id: self.customer_id,
            ticket_id: self.ticket_id,
            author_id: self.author_id,
            author_name,
            body: self.body.clone(),
            created_at: self.created_at.and_utc(),
            edited_at: self.edited_at.map(|t| t.and_utc()),
            editable_until: self.editable_until().and_utc(),
            edits: self.edits(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(author: i64, at: NaiveDateTime) -> Note {
        Note {
            id: 1,
            shop_id: ShopId(1),
            customer_id: 1,
            ticket_id: None,
            author_id: Some(author),
            body: "x".into(),
            edits: "[]".into(),
            created_at: at,
            edited_at: None,
        }
    }

    #[test]
    fn only_the_author_corrects_and_only_for_a_while() {
        let at = Utc::now().naive_utc();
        let n = note(7, at);
        assert!(
            n.check_editable(7, at + Duration::minutes(EDIT_WINDOW_MINUTES))
                .is_ok()
        );
        let late = n.check_editable(7, at + Duration::minutes(EDIT_WINDOW_MINUTES + 1));
        assert!(matches!(
            late,
            Err(ApiError::Conflict {
                kind: ProblemKind::NoteLocked,
                ..
            })
        ));
        assert!(matches!(
            n.check_editable(8, at),
            Err(ApiError::Forbidden(_))
        ));
    }

    #[test]
    fn bodies_are_checked() {
        assert!(check_body("  ").is_err());
        assert!(check_body(&"字".repeat(5001)).is_err());
        assert!(check_body("line one\nline two\tend").is_ok());
        assert!(check_body("bell\u{7}").is_err());
        assert!(check_body(&"字".repeat(5000)).is_ok());
    }
}
