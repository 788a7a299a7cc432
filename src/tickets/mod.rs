//! Tickets: one after-sales case (negative review, return, repair) about one customer,
//! worked from the first call through follow-up to resolution.

pub mod operations;
pub mod queries;
pub mod routes;
pub mod workflow;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::error::ApiError;
use crate::extract::message;
use crate::extract::parse_value;
use workflow::{Action, State};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    /// A middling or bad review was posted.
    NegativeReview,
    /// Return or exchange.
    Return,
    /// A product needs fixing.
    Repair,
}

impl TicketKind {
    pub const ALL: [TicketKind; 3] = [
        TicketKind::NegativeReview,
        TicketKind::Return,
        TicketKind::Repair,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketKind::NegativeReview => "negative_review",
            TicketKind::Return => "return",
            TicketKind::Repair => "repair",
        }
    }

    pub fn parse(value: &str) -> Option<TicketKind> {
        TicketKind::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// Reviews are time-critical: the buyer may still be online and may still revise.
    pub fn default_priority(self) -> Priority {
        match self {
            TicketKind::NegativeReview => Priority::High,
            TicketKind::Return | TicketKind::Repair => Priority::Normal,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Urgent,
    High,
    Normal,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Urgent,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ];

    /// Stored rank: lower is more pressing, so ascending order puts urgent first.
    pub fn rank(self) -> i32 {
        match self {
            Priority::Urgent => 1,
            Priority::High => 2,
            Priority::Normal => 3,
            Priority::Low => 4,
        }
    }

    /// One step more pressing (urgent stays urgent).
    pub fn raised(self) -> Priority {
        match self {
            Priority::Urgent | Priority::High => Priority::Urgent,
            Priority::Normal => Priority::High,
            Priority::Low => Priority::Normal,
        }
    }

    pub fn from_rank(rank: i32) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.rank() == rank)
    }
}

/// Where a review was posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewPlatform {
    Taobao,
    Tmall,
    Jd,
    Pinduoduo,
    Douyin,
    Wechat,
    Xiaohongshu,
    Dianping,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketItem {
    #[validate(length(min = 1, max = 200))]
    pub product_name: String,
    #[validate(length(min = 1, max = 64))]
    pub sku: Option<String>,
    #[validate(range(min = 1, max = 10000))]
    pub quantity: i32,
}

fn validate_ticket_items(items: &[TicketItem]) -> Result<(), ValidationError> {
    if items.is_empty() || items.len() > 50 {
        return Err(message("items", "name 1 to 50 items"));
    }
    Ok(())
}

/// `details` of a `negative_review` ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NegativeReviewDetails {
    pub platform: ReviewPlatform,
    /// The review's rating, 1 (worst) to 5.
    #[validate(range(min = 1, max = 5))]
    pub rating: u8,
    #[serde(default)]
    #[validate(length(max = 5000))]
    pub review_text: String,
    /// The platform's id of the review; with it, the same review never opens two tickets.
    #[validate(length(min = 1, max = 128))]
    pub review_id: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
}

/// `details` of a `return` ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnDetails {
    #[validate(length(min = 1, max = 1000))]
    pub reason: String,
    #[validate(custom(function = "validate_ticket_items"), nested)]
    pub items: Vec<TicketItem>,
    /// Refund asked for, in cents (fen).
    #[validate(range(min = 0, max = 100000000000_i64))]
    pub requested_refund_cents: Option<i64>,
    /// The buyer wants an exchange rather than a refund.
    #[serde(default)]
    pub exchange: bool,
}

/// `details` of a `repair` ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairDetails {
    #[validate(length(min = 1, max = 2000))]
    pub fault: String,
    #[validate(custom(function = "validate_ticket_items"), nested)]
    pub items: Vec<TicketItem>,
    pub under_warranty: bool,
}

/// Kind-specific details, as documented: the shape follows the ticket's `kind`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TicketDetails {
    NegativeReview(NegativeReviewDetails),
    Return(ReturnDetails),
    Repair(RepairDetails),
}

impl TicketDetails {
    /// Parses `details` as the kind requires, naming bad fields `details.<field>`.
    pub fn parse(kind: TicketKind, value: Value) -> Result<TicketDetails, ApiError> {
        Ok(match kind {
            TicketKind::NegativeReview => {
                TicketDetails::NegativeReview(parse_value(value, "details")?)
            }
            TicketKind::Return => TicketDetails::Return(parse_value(value, "details")?),
            TicketKind::Repair => TicketDetails::Repair(parse_value(value, "details")?),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// (platform, review id) for negative reviews that carry one.
    pub fn review_key(&self) -> Option<(String, String)> {
        match self {
            TicketDetails::NegativeReview(review) => review.review_id.as_ref().map(|id| {
                let platform = serde_json::to_value(review.platform)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (platform, id.trim().to_owned())
            }),
            _ => None,
        }
    }
}

/// How a resolved ticket ended; each belongs to one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    ReviewRevised,
    ReviewWithdrawn,
    ReviewKeptCustomerSatisfied,
    ReviewKeptUnresolved,
    ReturnedRefunded,
    Exchanged,
    RefundOnly,
    ReturnRejected,
    Repaired,
    Replaced,
    Refunded,
    NotRepairable,
}

impl Outcome {
    pub const ALL: [Outcome; 12] = [
        Outcome::ReviewRevised,
        Outcome::ReviewWithdrawn,
        Outcome::ReviewKeptCustomerSatisfied,
        Outcome::ReviewKeptUnresolved,
        Outcome::ReturnedRefunded,
        Outcome::Exchanged,
        Outcome::RefundOnly,
        Outcome::ReturnRejected,
        Outcome::Repaired,
        Outcome::Replaced,
        Outcome::Refunded,
        Outcome::NotRepairable,
    ];

    pub fn kind(self) -> TicketKind {
        use Outcome::*;
        match self {
            ReviewRevised
            | ReviewWithdrawn
            | ReviewKeptCustomerSatisfied
            | ReviewKeptUnresolved => TicketKind::NegativeReview,
            ReturnedRefunded | Exchanged | RefundOnly | ReturnRejected => TicketKind::Return,
            Repaired | Replaced | Refunded | NotRepairable => TicketKind::Repair,
        }
    }

    /// Outcomes that hand money back carry the refunded amount.
    pub fn carries_refund(self) -> bool {
        matches!(
            self,
            Outcome::ReturnedRefunded | Outcome::RefundOnly | Outcome::Refunded
        )
    }

    pub fn as_str(self) -> &'static str {
        use Outcome::*;
        match self {
            ReviewRevised => "review_revised",
            ReviewWithdrawn => "review_withdrawn",
            ReviewKeptCustomerSatisfied => "review_kept_customer_satisfied",
            ReviewKeptUnresolved => "review_kept_unresolved",
            ReturnedRefunded => "returned_refunded",
            Exchanged => "exchanged",
            RefundOnly => "refund_only",
            ReturnRejected => "return_rejected",
            Repaired => "repaired",
            Replaced => "replaced",
            Refunded => "refunded",
            NotRepairable => "not_repairable",
        }
    }

    pub fn parse(value: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == value)
    }

    pub fn for_kind(kind: TicketKind) -> Vec<Outcome> {
        Outcome::ALL
            .into_iter()
            .filter(|o| o.kind() == kind)
            .collect()
    }
}

/// Checks an outcome (and its refund) against the ticket's kind.
pub fn check_outcome(
    kind: TicketKind,
    outcome: Outcome,
    refund_cents: Option<i64>,
) -> Result<(), ApiError> {
    if outcome.kind() != kind {
        let valid: Vec<&str> = Outcome::for_kind(kind)
            .into_iter()
            .map(Outcome::as_str)
            .collect();
        return Err(ApiError::field(
            "outcome",
            format!(
                "is not an outcome of a {} ticket; use one of {}",
                kind.as_str(),
                valid.join(", ")
            ),
        ));
    }
    match (outcome.carries_refund(), refund_cents) {
        (true, None) => Err(ApiError::field(
            "refund_cents",
            "is required for this outcome",
        )),
        (false, Some(_)) => Err(ApiError::field(
            "refund_cents",
            "only refund outcomes carry an amount",
        )),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Unreachable,
    Refused,
    Duplicate,
    Invalid,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Unreachable => "unreachable",
            CloseReason::Refused => "refused",
            CloseReason::Duplicate => "duplicate",
            CloseReason::Invalid => "invalid",
        }
    }

    pub fn parse(value: &str) -> Option<CloseReason> {
        [
            CloseReason::Unreachable,
            CloseReason::Refused,
            CloseReason::Duplicate,
            CloseReason::Invalid,
        ]
        .into_iter()
        .find(|r| r.as_str() == value)
    }
}

/// How a buyer was contacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactChannel {
    Phone,
    Wechat,
    ShopChat,
    Sms,
    InPerson,
}

impl ContactChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactChannel::Phone => "phone",
            ContactChannel::Wechat => "wechat",
            ContactChannel::ShopChat => "shop_chat",
            ContactChannel::Sms => "sms",
            ContactChannel::InPerson => "in_person",
        }
    }
}

/// A row of `tickets`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::tickets)]
pub struct Ticket {
    pub id: i64,
    pub shop_id: i64,
    pub customer_id: i64,
    pub order_id: Option<i64>,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub details: String,
    pub review_platform: Option<String>,
    pub review_external_id: Option<String>,
    pub state: String,
    pub priority: i32,
    pub assignee_id: Option<i64>,
    pub first_call_due_at: NaiveDateTime,
    pub first_contact_at: Option<NaiveDateTime>,
    pub last_contact_at: Option<NaiveDateTime>,
    pub next_follow_up_at: Option<NaiveDateTime>,
    pub due_at: Option<NaiveDateTime>,
    pub outcome: Option<String>,
    pub refund_cents: Option<i64>,
    pub resolution_note: Option<String>,
    pub close_reason: Option<String>,
    pub resolved_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub satisfaction_score: Option<i32>,
    pub satisfaction_comment: Option<String>,
    pub satisfaction_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Ticket {
    fn corrupt(&self, what: &str) -> ApiError {
        ApiError::Internal(format!("ticket {} has an unknown {what}", self.id))
    }

    pub fn state(&self) -> Result<State, ApiError> {
        State::parse(&self.state).ok_or_else(|| self.corrupt("state"))
    }

    pub fn kind(&self) -> Result<TicketKind, ApiError> {
        TicketKind::parse(&self.kind).ok_or_else(|| self.corrupt("kind"))
    }

    /// The ETag of this version of the ticket.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }

    pub fn view(&self, now: NaiveDateTime) -> Result<TicketView, ApiError> {
        let state = self.state()?;
        Ok(TicketView {
            id: self.id,
            kind: self.kind()?,
            customer_id: self.customer_id,
            order_id: self.order_id,
            title: self.title.clone(),
            description: self.description.clone(),
            details: serde_json::from_str(&self.details).unwrap_or(Value::Null),
            state,
            allowed_actions: workflow::allowed_from(state)
                .into_iter()
                .map(|(a, _)| a)
                .collect(),
            priority: Priority::from_rank(self.priority).ok_or_else(|| self.corrupt("priority"))?,
            assignee_id: self.assignee_id,
            first_call_due_at: self.first_call_due_at.and_utc(),
            first_contact_at: self.first_contact_at.map(|t| t.and_utc()),
            last_contact_at: self.last_contact_at.map(|t| t.and_utc()),
            next_follow_up_at: self.next_follow_up_at.map(|t| t.and_utc()),
            due_at: self.due_at.map(|t| t.and_utc()),
            overdue: self.due_at.is_some_and(|due| due < now),
            outcome: self
                .outcome
                .as_deref()
                .map(|o| Outcome::parse(o).ok_or_else(|| self.corrupt("outcome")))
                .transpose()?,
            refund_cents: self.refund_cents,
            resolution_note: self.resolution_note.clone(),
            close_reason: self
                .close_reason
                .as_deref()
                .map(|r| CloseReason::parse(r).ok_or_else(|| self.corrupt("close reason")))
                .transpose()?,
            resolved_at: self.resolved_at.map(|t| t.and_utc()),
            closed_at: self.closed_at.map(|t| t.and_utc()),
            satisfaction: self.satisfaction_score.map(|score| Satisfaction {
                score,
                comment: self.satisfaction_comment.clone(),
                recorded_at: self.satisfaction_at.map(|t| t.and_utc()),
            }),
            version: self.version,
            created_by: self.created_by,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Satisfaction {
    /// 1 (very unhappy) to 5 (very happy).
    pub score: i32,
    pub comment: Option<String>,
    pub recorded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketView {
    pub id: i64,
    pub kind: TicketKind,
    pub customer_id: i64,
    pub order_id: Option<i64>,
    pub title: String,
    pub description: String,
    #[schema(value_type = TicketDetails)]
    pub details: Value,
    pub state: State,
    /// What may be done next from this state.
    pub allowed_actions: Vec<Action>,
    pub priority: Priority,
    pub assignee_id: Option<i64>,
    /// The first contact attempt is due by then.
    pub first_call_due_at: DateTime<Utc>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    pub next_follow_up_at: Option<DateTime<Utc>>,
    /// When the ticket next needs someone: the first-call deadline while new, the next
    /// follow-up afterwards, none once resolved or closed.
    pub due_at: Option<DateTime<Utc>>,
    /// `due_at` has passed.
    pub overdue: bool,
    pub outcome: Option<Outcome>,
    /// Amount refunded, in cents (fen), for refund outcomes.
    pub refund_cents: Option<i64>,
    pub resolution_note: Option<String>,
    pub close_reason: Option<CloseReason>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub satisfaction: Option<Satisfaction>,
    /// Increments with every change; also sent as the `ETag` header.
    pub version: i64,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn check_title(title: &str) -> Result<(), ValidationError> {
    let trimmed = title.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 {
        return Err(message("title", "must be 1 to 200 characters"));
    }
    Ok(())
}

/// Distinguishes an absent field (`None`) from `null` (`Some(None)`).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "negative_review",
    "customer_id": 42,
    "order_id": 1001,
    "title": "2-star review: teapot lid chipped",
    "description": "Posted an hour ago on Taobao",
    "details": {"platform": "taobao", "rating": 2, "review_text": "盖子有缺口", "review_id": "R-889123", "posted_at": "2026-11-23T09:12:00+08:00"}
}))]
pub struct CreateTicketRequest {
    pub kind: TicketKind,
    pub customer_id: i64,
    /// Must be one of the customer's orders.
    pub order_id: Option<i64>,
    #[validate(custom(function = "check_title"))]
    pub title: String,
    #[serde(default)]
    #[validate(length(max = 5000))]
    pub description: String,
    /// Shaped by `kind`: NegativeReviewDetails, ReturnDetails or RepairDetails.
    #[schema(value_type = TicketDetails)]
    pub details: Value,
    /// Defaults by kind (negative reviews `high`, others `normal`), raised for key and at-risk customers.
    pub priority: Option<Priority>,
    /// Leads may assign anyone; agents only themselves. Absent: automatic assignment if enabled.
    pub assignee_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"priority": "urgent", "description": "Buyer called back, very upset"}))]
pub struct UpdateTicketRequest {
    #[validate(custom(function = "check_title"))]
    pub title: Option<String>,
    #[validate(length(max = 5000))]
    pub description: Option<String>,
    /// Replaces the details; shaped by the ticket's kind.
    #[schema(value_type = Option<TicketDetails>)]
    pub details: Option<Value>,
    pub priority: Option<Priority>,
    /// `null` detaches the order.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub order_id: Option<Option<i64>>,
}

fn check_note(note: &str) -> Result<(), ValidationError> {
    if note.chars().count() > 5000 {
        return Err(message("note", "must be at most 5000 characters"));
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"channel": "phone", "reached": true, "note": "Apologised; sending a new lid", "next_follow_up_at": "2026-11-25T10:00:00+08:00"}))]
pub struct LogContactRequest {
    pub channel: ContactChannel,
    /// Whether the buyer was reached.
    pub reached: bool,
    #[serde(default)]
    #[validate(custom(function = "check_note"))]
    pub note: String,
    /// When to follow up next; default 24 h after an unreached attempt, 72 h after a reached one.
    pub next_follow_up_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "review_revised", "note": "Buyer raised the review to 5 stars"}))]
pub struct ResolveRequest {
    /// Must be an outcome of the ticket's kind.
    pub outcome: Outcome,
    /// Required for refund outcomes (`returned_refunded`, `refund_only`, `refunded`), in cents.
    #[validate(range(min = 0, max = 100000000000_i64))]
    pub refund_cents: Option<i64>,
    #[validate(custom(function = "check_note"))]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "unreachable", "note": "Five attempts over a week"}))]
pub struct CloseRequest {
    pub reason: CloseReason,
    #[validate(custom(function = "check_note"))]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Buyer called: the replacement is faulty too"}))]
pub struct ReopenRequest {
    #[validate(length(min = 1, max = 1000))]
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"assignee_id": 7}))]
pub struct AssignRequest {
    /// The staff member to assign, or `null` to unassign.
    pub assignee_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"score": 5, "comment": "很满意，处理很快"}))]
pub struct SatisfactionRequest {
    #[validate(range(min = 1, max = 5))]
    pub score: i32,
    #[validate(length(max = 2000))]
    pub comment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn details_are_validated_by_kind() {
        let review = json!({"platform": "taobao", "rating": 2, "review_id": "R1"});
        let parsed = TicketDetails::parse(TicketKind::NegativeReview, review.clone()).unwrap();
        assert_eq!(parsed.review_key(), Some(("taobao".into(), "R1".into())));
        // A review's details are not a return's.
        let err = TicketDetails::parse(TicketKind::Return, review).unwrap_err();
        assert!(matches!(err, ApiError::Validation(ref f) if f[0].field.starts_with("details")));
        let bad_rating = json!({"platform": "jd", "rating": 9});
        let err = TicketDetails::parse(TicketKind::NegativeReview, bad_rating).unwrap_err();
        assert!(matches!(err, ApiError::Validation(ref f) if f[0].field == "details.rating"));
        let no_items = json!({"fault": "won't turn on", "items": [], "under_warranty": true});
        let err = TicketDetails::parse(TicketKind::Repair, no_items).unwrap_err();
        assert!(matches!(err, ApiError::Validation(ref f) if f[0].field == "details.items"));
    }

    #[test]
    fn outcomes_belong_to_one_kind_and_refunds_to_refund_outcomes() {
        for kind in TicketKind::ALL {
            assert_eq!(Outcome::for_kind(kind).len(), 4);
        }
        assert!(check_outcome(TicketKind::NegativeReview, Outcome::ReviewRevised, None).is_ok());
        assert!(check_outcome(TicketKind::Return, Outcome::ReviewRevised, None).is_err());
        assert!(check_outcome(TicketKind::Return, Outcome::ReturnedRefunded, None).is_err());
        assert!(check_outcome(TicketKind::Return, Outcome::ReturnedRefunded, Some(12990)).is_ok());
        assert!(check_outcome(TicketKind::Repair, Outcome::Repaired, Some(1)).is_err());
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
    }

    #[test]
    fn priority_ranks_sort_urgent_first() {
        let mut ranks: Vec<i32> = Priority::ALL.iter().map(|p| p.rank()).collect();
        ranks.sort();
        assert_eq!(Priority::from_rank(ranks[0]), Some(Priority::Urgent));
        assert_eq!(
            TicketKind::NegativeReview.default_priority(),
            Priority::High
        );
    }
}
