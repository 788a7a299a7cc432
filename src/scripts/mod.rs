//! Call scripts (话术): the reply templates leads keep for agents, per ticket kind and
//! situation (the first call about a negative review, a refund offer, the follow-up once
//! the item came back), with placeholders such as `{customer_name}` that are filled in
//! for one ticket when an agent opens its templates.
//!
//! This module holds the vocabulary (situations, placeholders, rows, requests, views);
//! parsing and rendering bodies are in `rules`, SQL in `store`, use cases in
//! `operations`, HTTP in `routes`.

pub mod operations;
pub mod routes;
pub mod rules;
pub mod store;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::db::text_enum;
use crate::extract::{message, present};
use crate::ids::ShopId;
use crate::schema::call_scripts;
use crate::tickets::TicketKind;

/// At most this many scripts per shop: enough for every kind and situation several times
/// over, and few enough that every list and every ticket's templates are one small read.
pub const MAX_SCRIPTS_PER_SHOP: i64 = 200;
pub const MAX_TITLE_CHARS: usize = 100;
pub const MAX_BODY_CHARS: usize = 2000;

text_enum! {
    /// The moment in a ticket's life a script is written for.
    pub enum Situation {
        /// The first call after the ticket opens; for a negative review, right away, while
        /// the buyer still remembers and may still be online.
        FirstCall = "first_call",
        /// Later attempts (another time, another channel) until the case is settled.
        FollowUp = "follow_up",
        /// Offering the buyer a refund or a partial refund.
        RefundOffer = "refund_offer",
        /// Once the returned or repaired item has arrived back (or the replacement has
        /// reached the buyer).
        ItemReceived = "item_received",
        /// Settling the case: confirming the outcome and asking how satisfied the buyer is.
        Resolution = "resolution",
    }
}

text_enum! {
    /// What a script body may say in braces, `{customer_name}`; `{{` and `}}` write a
    /// literal brace.
    pub enum Placeholder {
        /// The buyer's name or nickname, as in the customer file.
        CustomerName = "customer_name",
        /// The external number of the order linked to the ticket (as the platform shows it).
        OrderNo = "order_no",
        /// The first item named in the ticket's details, else the linked order's first item.
        Product = "product",
        /// The display name of the staff member reading the template.
        AgentName = "agent_name",
    }
}

impl Placeholder {
    /// As written in a body, `{customer_name}`.
    pub fn written(self) -> String {
        format!("{{{}}}", self.as_str())
    }
}

/// A row of `call_scripts`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = call_scripts)]
pub struct CallScript {
    pub id: i64,
    pub shop_id: ShopId,
    pub ticket_kind: Option<TicketKind>,
    pub situation: Situation,
    pub title: String,
    pub body: String,
    pub active: bool,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A script as written (the insert form of [`CallScript`]).
#[derive(Debug, Insertable)]
#[diesel(table_name = call_scripts, treat_none_as_default_value = false)]
pub struct NewCallScript<'a> {
    pub shop_id: ShopId,
    pub ticket_kind: Option<TicketKind>,
    pub situation: Situation,
    pub title: &'a str,
    pub body: &'a str,
    pub active: bool,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A script as leads and agents see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallScriptView {
    pub id: i64,
    /// The kind of ticket it is for; `null`: tickets of any kind.
    pub ticket_kind: Option<TicketKind>,
    pub situation: Situation,
    #[schema(example = "差评首次回访")]
    pub title: String,
    /// As written, placeholders in braces.
    #[schema(
        example = "{customer_name}您好，我是{agent_name}，看到您对{product}的评价，非常抱歉给您带来不好的体验。"
    )]
    pub body: String,
    /// The placeholders the body uses, in order of first use.
    pub placeholders: Vec<Placeholder>,
    /// Inactive scripts are kept but left out of tickets' templates.
    pub active: bool,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The shop's scripts: at most 200, so one answer holds them all.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallScriptList {
    pub items: Vec<CallScriptView>,
}

/// One script rendered for one ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RenderedScript {
    /// The script's id.
    pub id: i64,
    pub situation: Situation,
    pub title: String,
    /// The body with every known placeholder filled in; an unknown one (no linked order,
    /// say) stays as written, `{order_no}`, and is listed in `missing`.
    #[schema(example = "李娜您好，我是小王，看到您对紫砂壶的评价，非常抱歉给您带来不好的体验。")]
    pub text: String,
    /// Placeholders this ticket has no value for, in order of first use.
    pub missing: Vec<Placeholder>,
}

/// A ticket's templates, the script for its current stage first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketTemplates {
    /// The situation the ticket's state calls for (`new`: `first_call`; `first_call` and
    /// `follow_up`: `follow_up`; `resolved`: `resolution`; `closed`: none). Its scripts
    /// come first.
    pub current_situation: Option<Situation>,
    /// Active scripts for the ticket's kind and for any kind: the current situation's
    /// first, then by situation in the order above, the kind's own before kind-less ones.
    pub items: Vec<RenderedScript>,
}

fn check_title(title: &str) -> Result<(), ValidationError> {
    let count = title.trim().chars().count();
    if count == 0 || count > MAX_TITLE_CHARS {
        return Err(message(
            "title",
            &format!("must be 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(())
}

fn check_body(body: &str) -> Result<(), ValidationError> {
    if body.trim().is_empty() || body.chars().count() > MAX_BODY_CHARS {
        return Err(message(
            "body",
            &format!("must be 1 to {MAX_BODY_CHARS} characters"),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "ticket_kind": "negative_review", "situation": "first_call", "title": "差评首次回访",
    "body": "{customer_name}您好，我是{agent_name}，看到您对{product}的评价，非常抱歉给您带来不好的体验。"
}))]
pub struct CreateCallScriptRequest {
    /// The kind of ticket it is for; absent or `null`: any kind.
    pub ticket_kind: Option<TicketKind>,
    pub situation: Situation,
    /// 1 to 100 characters (trimmed).
    #[validate(custom(function = "check_title"))]
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    /// 1 to 2000 characters. Placeholders in braces: `{customer_name}`, `{order_no}`,
    /// `{product}`, `{agent_name}`; `{{` and `}}` write literal braces. Any other name in
    /// braces, or a brace without its partner, is a 422 naming `body`.
    #[validate(custom(function = "check_body"))]
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^([^{}]|\{\{|\}\}|\{(customer_name|order_no|product|agent_name)\})*$"
    )]
    pub body: String,
    /// Default `true`.
    #[serde(default = "active_by_default")]
    pub active: bool,
}

fn active_by_default() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({"body": "{customer_name}您好，退款已为您申请，订单{order_no}。", "active": true}))]
pub struct UpdateCallScriptRequest {
    /// `null`: for tickets of any kind.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<TicketKind>)]
    pub ticket_kind: Option<Option<TicketKind>>,
    pub situation: Option<Situation>,
    #[validate(custom(function = "check_title"))]
    #[schema(min_length = 1, max_length = 100)]
    pub title: Option<String>,
    /// Checked as when the script is written.
    #[validate(custom(function = "check_body"))]
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^([^{}]|\{\{|\}\}|\{(customer_name|order_no|product|agent_name)\})*$"
    )]
    pub body: Option<String>,
    pub active: Option<bool>,
}

impl UpdateCallScriptRequest {
    pub fn is_empty(&self) -> bool {
        self.ticket_kind.is_none()
            && self.situation.is_none()
            && self.title.is_none()
            && self.body.is_none()
            && self.active.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_bodies_are_bounded_in_characters_not_bytes() {
        assert!(check_title("差评首次回访").is_ok());
        assert!(check_title(&"话".repeat(100)).is_ok());
        assert!(check_title(&"话".repeat(101)).is_err());
        assert!(check_title("   ").is_err());
        assert!(check_body(&"话".repeat(2000)).is_ok());
        assert!(check_body(&"话".repeat(2001)).is_err());
        assert!(check_body("\n").is_err());
    }

    #[test]
    fn placeholders_are_written_in_braces() {
        assert_eq!(Placeholder::OrderNo.written(), "{order_no}");
        for placeholder in Placeholder::ALL {
            assert_eq!(Placeholder::parse(placeholder.as_str()), Some(placeholder));
        }
    }
}
