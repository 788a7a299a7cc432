//! The OpenAPI shapes of tickets whose form depends on a kind (see `crate::contract`).
//!
//! The wire format is unchanged: `kind` sits next to `details` on a ticket (and on the
//! request that opens one), and `details` carries no kind of its own. So the document says
//! "details depend on kind" the one honest way it can: a ticket, and the request that opens
//! one, is a `oneOf` of one named schema per kind, told apart by `kind` (a discriminator),
//! each with the details of its kind. Likewise a timeline entry is a `oneOf` by its `kind`,
//! each with the `data` that kind of entry records. These types are never built: they only
//! describe what `TicketView`, `CreateTicketRequest` and `EventView` serialise to: the
//! fuzz test checks every answer against them, and `tests/api/openapi.rs` walks a ticket
//! through every kind of timeline entry and checks each answer against its kind's schema
//! with no member left undeclared.

// Never built, so neither unused fields nor the sizes of enum variants matter.
#![allow(dead_code, clippy::large_enum_variant)]

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::store::EventView;
use super::{
    Action, CloseReason, ContactChannel, CreateTicketRequest, NegativeReviewDetails, Outcome,
    Priority, RepairDetails, ReturnDetails, Satisfaction, SatisfactionReason, SatisfactionSource,
    State, TicketDetails, TicketKind, TicketView,
};
use crate::contract::{documented_as, kind_tag};

documented_as!(CreateTicketRequest => CreateTicketByKind);
documented_as!(TicketView => TicketByKind);
documented_as!(EventView => EventByKind);

kind_tag!(NegativeReviewKind = "negative_review");
kind_tag!(ReturnKind = "return");
kind_tag!(RepairKind = "repair");

/// Opening a ticket: `details` are shaped by `kind` (`CreateNegativeReviewTicket`,
/// `CreateReturnTicket`, `CreateRepairTicket`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = CreateTicketRequest, discriminator(property_name = "kind", mapping(
    ("negative_review" = "#/components/schemas/CreateNegativeReviewTicket"),
    ("return" = "#/components/schemas/CreateReturnTicket"),
    ("repair" = "#/components/schemas/CreateRepairTicket"),
)))]
enum CreateTicketByKind {
    NegativeReview(CreateNegativeReviewTicket),
    Return(CreateReturnTicket),
    Repair(CreateRepairTicket),
}

macro_rules! create_ticket_of_kind {
    ($(#[$doc:meta])* $name:ident, $kind:ident, $details:ty) => {
        #[derive(Serialize, ToSchema)]
        $(#[$doc])*
        #[serde(deny_unknown_fields)]
        struct $name {
            #[schema(inline)]
            kind: $kind,
            customer_id: i64,
            /// Must be one of the customer's orders.
            order_id: Option<i64>,
            title: String,
            #[serde(default)]
            description: String,
            details: $details,
            /// Defaults by kind (negative reviews `high`, others `normal`), raised for key and at-risk customers.
            priority: Option<Priority>,
            /// Leads may assign anyone; agents only themselves. Absent: automatic assignment if enabled.
            assignee_id: Option<i64>,
            /// The platform's own deadline (return auto-approval, end of the review-revision
            /// window). Between 1970-01-01 and 9999-12-30 (UTC).
            platform_deadline_at: Option<DateTime<Utc>>,
        }
    };
}

create_ticket_of_kind!(
    /// Opening a `negative_review` ticket (a review of 1 to 3 stars).
    #[schema(example = json!({
        "kind": "negative_review",
        "customer_id": 42,
        "order_id": 1001,
        "title": "2-star review: teapot lid chipped",
        "description": "Posted an hour ago on Taobao",
        "details": {"platform": "taobao", "rating": 2, "review_text": "盖子有缺口", "review_id": "R-889123", "posted_at": "2026-11-23T09:12:00+08:00"}
    }))]
    CreateNegativeReviewTicket,
    NegativeReviewKind,
    NegativeReviewDetails
);
create_ticket_of_kind!(
    /// Opening a `return` ticket (return or exchange).
    #[schema(example = json!({
        "kind": "return",
        "customer_id": 42,
        "order_id": 1001,
        "title": "Teapot arrived cracked",
        "details": {"reason": "壶身有裂纹", "items": [{"product_name": "Yixing teapot", "sku": "TP-01", "quantity": 1}], "requested_refund_cents": 128800}
    }))]
    CreateReturnTicket,
    ReturnKind,
    ReturnDetails
);
create_ticket_of_kind!(
    /// Opening a `repair` ticket.
    #[schema(example = json!({
        "kind": "repair",
        "customer_id": 42,
        "title": "Kettle does not heat",
        "details": {"fault": "加热指示灯不亮", "items": [{"product_name": "Electric kettle", "quantity": 1}], "under_warranty": true}
    }))]
    CreateRepairTicket,
    RepairKind,
    RepairDetails
);

/// A ticket: `details` are shaped by `kind` (`NegativeReviewTicket`, `ReturnTicket`,
/// `RepairTicket`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = TicketView, discriminator(property_name = "kind", mapping(
    ("negative_review" = "#/components/schemas/NegativeReviewTicket"),
    ("return" = "#/components/schemas/ReturnTicket"),
    ("repair" = "#/components/schemas/RepairTicket"),
)))]
enum TicketByKind {
    NegativeReview(NegativeReviewTicket),
    Return(ReturnTicket),
    Repair(RepairTicket),
}

macro_rules! ticket_of_kind {
    ($(#[$doc:meta])* $name:ident, $kind:ident, $details:ty) => {
        #[derive(Serialize, ToSchema)]
        $(#[$doc])*
        struct $name {
            id: i64,
            #[schema(inline)]
            kind: $kind,
            customer_id: i64,
            /// Who the buyer is, at a glance; `null` for API keys that may not read
            /// customers (`customers:read`).
            customer: Option<super::TicketCustomer>,
            order_id: Option<i64>,
            title: String,
            description: String,
            details: $details,
            state: State,
            /// What may be done next from this state.
            allowed_actions: Vec<Action>,
            priority: Priority,
            assignee_id: Option<i64>,
            /// The assignee's name (absent when unassigned).
            assignee: Option<super::StaffBrief>,
            /// The first contact attempt is due by then.
            first_call_due_at: DateTime<Utc>,
            first_contact_at: Option<DateTime<Utc>>,
            last_contact_at: Option<DateTime<Utc>>,
            next_follow_up_at: Option<DateTime<Utc>>,
            /// When the ticket next needs someone: the first-call deadline while new, the next
            /// follow-up afterwards, or the platform's deadline when that comes first; none
            /// once resolved or closed. Queues sort by it.
            due_at: Option<DateTime<Utc>>,
            /// `due_at` has passed.
            overdue: bool,
            /// What the open ticket waits on (its resolution clock stands still); absent: nothing.
            waiting_on: Option<super::WaitingOn>,
            waiting_since: Option<DateTime<Utc>>,
            /// The platform's own hard deadline (return auto-approval, end of the
            /// review-revision window), set by hand or by the feeds.
            platform_deadline_at: Option<DateTime<Utc>>,
            /// The open ticket's platform deadline is less than a day away, or past.
            platform_deadline_near: bool,
            outcome: Option<Outcome>,
            /// Amount refunded, in cents (fen), for refund outcomes.
            refund_cents: Option<i64>,
            resolution_note: Option<String>,
            close_reason: Option<CloseReason>,
            resolved_at: Option<DateTime<Utc>>,
            closed_at: Option<DateTime<Utc>>,
            satisfaction: Option<Satisfaction>,
            /// Increments with every change; also sent as the `ETag` header.
            version: i64,
            created_by: Option<i64>,
            created_at: DateTime<Utc>,
            updated_at: DateTime<Utc>,
        }
    };
}

ticket_of_kind!(
    /// A `negative_review` ticket.
    NegativeReviewTicket,
    NegativeReviewKind,
    NegativeReviewDetails
);
ticket_of_kind!(
    /// A `return` ticket.
    ReturnTicket,
    ReturnKind,
    ReturnDetails
);
ticket_of_kind!(
    /// A `repair` ticket.
    RepairTicket,
    RepairKind,
    RepairDetails
);

/// One entry of a ticket's timeline: `data` is shaped by `kind`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = EventView, discriminator(property_name = "kind", mapping(
    ("created" = "#/components/schemas/TicketCreatedEvent"),
    ("assigned" = "#/components/schemas/TicketAssignedEvent"),
    ("contact_logged" = "#/components/schemas/ContactLoggedEvent"),
    ("state_changed" = "#/components/schemas/StateChangedEvent"),
    ("edited" = "#/components/schemas/TicketEditedEvent"),
    ("satisfaction_recorded" = "#/components/schemas/SatisfactionRecordedEvent"),
    ("satisfaction_corrected" = "#/components/schemas/SatisfactionCorrectedEvent"),
    ("note_added" = "#/components/schemas/NoteAddedEvent"),
    ("note_edited" = "#/components/schemas/NoteEditedEvent"),
    ("wait_started" = "#/components/schemas/WaitStartedEvent"),
    ("wait_ended" = "#/components/schemas/WaitEndedEvent"),
    ("sla_breached" = "#/components/schemas/SlaBreachedEvent"),
    ("escalated" = "#/components/schemas/EscalatedEvent"),
    ("attachment_added" = "#/components/schemas/AttachmentAddedEvent"),
    ("attachment_deleted" = "#/components/schemas/AttachmentDeletedEvent"),
)))]
enum EventByKind {
    Created(TicketCreatedEvent),
    Assigned(TicketAssignedEvent),
    ContactLogged(ContactLoggedEvent),
    StateChanged(StateChangedEvent),
    Edited(TicketEditedEvent),
    SatisfactionRecorded(SatisfactionRecordedEvent),
    SatisfactionCorrected(SatisfactionCorrectedEvent),
    NoteAdded(NoteAddedEvent),
    NoteEdited(NoteEditedEvent),
    WaitStarted(WaitStartedEvent),
    WaitEnded(WaitEndedEvent),
    SlaBreached(SlaBreachedEvent),
    Escalated(EscalatedEvent),
    AttachmentAdded(AttachmentAddedEvent),
    AttachmentDeleted(AttachmentDeletedEvent),
}

kind_tag!(CreatedTag = "created");
kind_tag!(AssignedTag = "assigned");
kind_tag!(ContactLoggedTag = "contact_logged");
kind_tag!(StateChangedTag = "state_changed");
kind_tag!(EditedTag = "edited");
kind_tag!(SatisfactionRecordedTag = "satisfaction_recorded");
kind_tag!(SatisfactionCorrectedTag = "satisfaction_corrected");
kind_tag!(NoteAddedTag = "note_added");
kind_tag!(NoteEditedTag = "note_edited");
kind_tag!(WaitStartedTag = "wait_started");
kind_tag!(WaitEndedTag = "wait_ended");
kind_tag!(SlaBreachedTag = "sla_breached");
kind_tag!(EscalatedTag = "escalated");
kind_tag!(AttachmentAddedTag = "attachment_added");
kind_tag!(AttachmentDeletedTag = "attachment_deleted");

macro_rules! event_of_kind {
    ($(#[$doc:meta])* $name:ident, $kind:ident, $data:ty) => {
        #[derive(Serialize, ToSchema)]
        $(#[$doc])*
        struct $name {
            id: i64,
            #[schema(inline)]
            kind: $kind,
            /// Who did it (absent for automatic changes).
            actor_id: Option<i64>,
            /// The actor's display name (absent for automatic changes).
            actor_name: Option<String>,
            from_state: Option<State>,
            to_state: Option<State>,
            data: $data,
            at: DateTime<Utc>,
        }
    };
}

event_of_kind!(
    /// The ticket was opened (`to_state` is `new`).
    TicketCreatedEvent,
    CreatedTag,
    CreatedData
);
event_of_kind!(
    /// The ticket was assigned, reassigned or unassigned.
    TicketAssignedEvent,
    AssignedTag,
    AssignedData
);
event_of_kind!(
    /// A contact attempt was logged (`from_state` and `to_state`: the move it made, if any).
    ContactLoggedEvent,
    ContactLoggedTag,
    ContactLoggedData
);
event_of_kind!(
    /// The ticket was resolved, closed or reopened (`data.action` says which).
    StateChangedEvent,
    StateChangedTag,
    StateChangeData
);
event_of_kind!(
    /// Title, description, priority, order or details were changed.
    TicketEditedEvent,
    EditedTag,
    EditedData
);
event_of_kind!(
    /// The buyer's satisfaction was recorded for this resolution: typed in by staff, or
    /// answered by the buyer on the survey page (`after.source: buyer`, no actor; it
    /// supersedes a staff entry, which is then `before`).
    SatisfactionRecordedEvent,
    SatisfactionRecordedTag,
    SatisfactionChangeData
);
event_of_kind!(
    /// A lead corrected the recorded satisfaction.
    SatisfactionCorrectedEvent,
    SatisfactionCorrectedTag,
    SatisfactionChangeData
);

event_of_kind!(
    /// An internal note was written on the ticket (`GET .../notes`).
    NoteAddedEvent,
    NoteAddedTag,
    NoteAddedData
);
event_of_kind!(
    /// The author corrected a note within its edit window.
    NoteEditedEvent,
    NoteEditedTag,
    NoteEditedData
);

event_of_kind!(
    /// The ticket waits on the buyer or the platform: its resolution clock stops.
    WaitStartedEvent,
    WaitStartedTag,
    WaitStartedData
);
event_of_kind!(
    /// The wait ended: by a contact attempt, resolving, closing or by hand.
    WaitEndedEvent,
    WaitEndedTag,
    WaitEndedData
);
event_of_kind!(
    /// A service-level target passed its due time unmet (recorded by the sweep, or when
    /// the target was met late); no actor.
    SlaBreachedEvent,
    SlaBreachedTag,
    SlaBreachedData
);
event_of_kind!(
    /// A breach escalated the ticket as the shop's policy says; no actor.
    EscalatedEvent,
    EscalatedTag,
    EscalatedData
);

event_of_kind!(
    /// A file was attached to the ticket (or one of its notes) by `actor_id`.
    AttachmentAddedEvent,
    AttachmentAddedTag,
    AttachmentAddedData
);
event_of_kind!(
    /// An attachment was deleted by `actor_id`; its bytes are gone, this entry stays.
    AttachmentDeletedEvent,
    AttachmentDeletedTag,
    AttachmentDeletedData
);

/// `data` of an `attachment_added` entry: what was attached.
#[derive(Serialize, ToSchema)]
struct AttachmentAddedData {
    attachment_id: i64,
    /// The note it was attached to, if any.
    note_id: Option<i64>,
    filename: String,
    content_type: String,
    size: i64,
    /// SHA-256 of the bytes (hex).
    sha256: String,
}

/// `data` of an `attachment_deleted` entry: what was deleted, and why.
#[derive(Serialize, ToSchema)]
struct AttachmentDeletedData {
    attachment_id: i64,
    filename: String,
    content_type: String,
    size: i64,
    sha256: String,
    reason: String,
}

/// `data` of a `wait_started` entry.
#[derive(Serialize, ToSchema)]
struct WaitStartedData {
    waiting_on: super::WaitingOn,
    note: String,
}

/// `data` of a `wait_ended` entry.
#[derive(Serialize, ToSchema)]
struct WaitEndedData {
    waiting_on: super::WaitingOn,
    /// How long the ticket waited.
    waited_seconds: i64,
}

/// `data` of an `sla_breached` entry: the target as it was set when it started.
#[derive(Serialize, ToSchema)]
struct SlaBreachedData {
    target: crate::sla::TargetKind,
    due_at: DateTime<Utc>,
    minutes: i32,
    clock: crate::sla::ClockKind,
}

/// A value before and after a change.
#[derive(Serialize, ToSchema)]
struct PriorityChange {
    before: Priority,
    after: Priority,
}

/// The assignee before and after (`null`: unassigned).
#[derive(Serialize, ToSchema)]
struct AssigneeChange {
    before: Option<i64>,
    after: Option<i64>,
}

/// `data` of an `escalated` entry.
#[derive(Serialize, ToSchema)]
struct EscalatedData {
    target: crate::sla::TargetKind,
    priority: PriorityChange,
    assignee: AssigneeChange,
    /// Why the policy's reassignment was not made (the named staff member is no longer active).
    reassignment_skipped: Option<String>,
}

/// `data` of a `note_added` entry.
#[derive(Serialize, ToSchema)]
struct NoteAddedData {
    note_id: i64,
    body: String,
}

/// `data` of a `note_edited` entry: the text before and after the correction.
#[derive(Serialize, ToSchema)]
struct NoteEditedData {
    note_id: i64,
    before: String,
    after: String,
}

/// The API key that opened a ticket (tickets opened by integrations).
#[derive(Serialize, ToSchema)]
struct OpeningApiKey {
    id: i64,
    name: String,
}

/// `data` of a `created` entry: the ticket as it was opened.
#[derive(Serialize, ToSchema)]
struct CreatedData {
    kind: TicketKind,
    title: String,
    priority: Priority,
    first_call_due_at: DateTime<Utc>,
    /// Present when an API key opened the ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    api_key: Option<OpeningApiKey>,
}

/// `data` of an `assigned` entry.
#[derive(Serialize, ToSchema)]
struct AssignedData {
    /// The previous assignee (`null`: none).
    before: Option<i64>,
    /// The new assignee (`null`: unassigned).
    after: Option<i64>,
    /// Assigned by the automatic assignment (`AUTO_ASSIGN`), not by a person.
    automatic: bool,
}

/// `data` of a `contact_logged` entry: the attempt.
#[derive(Serialize, ToSchema)]
struct ContactLoggedData {
    channel: ContactChannel,
    reached: bool,
    note: String,
    next_follow_up_at: DateTime<Utc>,
    /// This was the ticket's first contact attempt.
    first_contact: bool,
}

/// `data` of a `state_changed` entry, by `action`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "action", mapping(
    ("resolve" = "#/components/schemas/ResolvedData"),
    ("close" = "#/components/schemas/ClosedData"),
    ("reopen" = "#/components/schemas/ReopenedData"),
)))]
enum StateChangeData {
    Resolve(ResolvedData),
    Close(ClosedData),
    Reopen(ReopenedData),
}

kind_tag!(ResolveTag = "resolve");
kind_tag!(CloseTag = "close");
kind_tag!(ReopenTag = "reopen");

/// The linked order after a refund changed (a refunded resolution, or the reopening of one).
#[derive(Serialize, ToSchema)]
struct OrderRefunds {
    id: i64,
    /// The order's status now: `paid`, `partially_refunded`, `refunded` (or `cancelled`).
    status: crate::orders::OrderStatus,
    /// Refunded on the order by its resolved tickets, in cents.
    refunded_cents: i64,
}

/// The ticket was resolved.
#[derive(Serialize, ToSchema)]
struct ResolvedData {
    #[schema(inline)]
    action: ResolveTag,
    outcome: Outcome,
    refund_cents: Option<i64>,
    note: Option<String>,
    /// Present when a refund was counted on the linked order.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    order: Option<OrderRefunds>,
}

/// The ticket was closed without resolution.
#[derive(Serialize, ToSchema)]
struct ClosedData {
    #[schema(inline)]
    action: CloseTag,
    reason: CloseReason,
    note: Option<String>,
}

/// How a reopened ticket had ended.
#[derive(Serialize, ToSchema)]
struct PreviousEnding {
    outcome: Option<Outcome>,
    refund_cents: Option<i64>,
    close_reason: Option<CloseReason>,
    /// The score of the ended episode; it leaves the ticket and stays here.
    satisfaction: Option<ScoreAndComment>,
}

/// The ticket was reopened.
#[derive(Serialize, ToSchema)]
struct ReopenedData {
    #[schema(inline)]
    action: ReopenTag,
    reason: String,
    previous: PreviousEnding,
    /// Present when the ended episode's refund was taken off the linked order.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    order: Option<OrderRefunds>,
}

/// The fields an edit changed, each with its value (before or after the edit).
#[derive(Serialize, ToSchema)]
struct EditedFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    priority: Option<Priority>,
    /// `null`: no order.
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<Option<i64>>,
    /// Shaped by the ticket's kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    details: Option<TicketDetails>,
    /// `null`: no platform deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    platform_deadline_at: Option<Option<DateTime<Utc>>>,
}

/// `data` of an `edited` entry: only the fields that changed.
#[derive(Serialize, ToSchema)]
struct EditedData {
    before: EditedFields,
    after: EditedFields,
    /// `review_feed` when the review feed brought the review's details up to date.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    source: Option<String>,
}

/// A satisfaction score with its comment, who gave it and the reasons given.
#[derive(Serialize, ToSchema)]
struct ScoreAndComment {
    score: i32,
    comment: Option<String>,
    source: SatisfactionSource,
    reasons: Vec<SatisfactionReason>,
}

/// A recorded or corrected score (`score` and `source` are `null` before a first record).
#[derive(Serialize, ToSchema)]
struct ScoreBefore {
    score: Option<i32>,
    comment: Option<String>,
    source: Option<SatisfactionSource>,
    reasons: Vec<SatisfactionReason>,
}

/// `data` of a `satisfaction_recorded` or `satisfaction_corrected` entry.
#[derive(Serialize, ToSchema)]
struct SatisfactionChangeData {
    before: ScoreBefore,
    after: ScoreAndComment,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::EventKind;
    use serde_json::Value;
    use utoipa::PartialSchema;

    fn schema_json<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    #[test]
    fn every_timeline_kind_has_a_documented_data_shape() {
        let doc = schema_json::<EventByKind>();
        let mapping = doc["discriminator"]["mapping"].as_object().unwrap();
        let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        let mut documented: Vec<&str> = mapping.keys().map(String::as_str).collect();
        documented.sort();
        let mut kinds = kinds;
        kinds.sort();
        assert_eq!(documented, kinds);
    }

    #[test]
    fn tickets_and_their_requests_are_one_schema_per_kind() {
        for doc in [
            schema_json::<CreateTicketByKind>(),
            schema_json::<TicketByKind>(),
        ] {
            let mapping = doc["discriminator"]["mapping"].as_object().unwrap();
            assert_eq!(doc["discriminator"]["propertyName"], "kind");
            let mut kinds: Vec<&str> = mapping.keys().map(String::as_str).collect();
            kinds.sort();
            let mut expected: Vec<&str> = TicketKind::ALL.iter().map(|k| k.as_str()).collect();
            expected.sort();
            assert_eq!(kinds, expected);
        }
    }
}
