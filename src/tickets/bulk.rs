//! Working many tickets at once: which tickets, the one action they all take, and what
//! the answer says of each. A lead sorting out the queue (an agent off sick, a batch of
//! spam reviews, a campaign's returns) sends one request instead of hundreds; each ticket
//! still goes through the operation of its single-ticket endpoint
//! (`operations::bulk`), so the workflow, the timeline and the webhooks cannot tell the
//! difference. A request is all or nothing.
//!
//! The action is a JSON object told apart by `kind`; like the other shapes that depend on
//! a kind it is documented as a `oneOf` with a discriminator (`BulkTicketActionByKind`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::{AssignRequest, CloseReason, CloseRequest, Priority};
use crate::contract::{documented_as, kind_tag};
use crate::error::{ApiError, Problem};
use crate::extract::{message, parse_value};

/// The most tickets one request may name: enough for a whole agent's queue, small enough
/// that the one transaction holding them stays short.
pub const BULK_MAX_TICKETS: usize = 500;

/// Many tickets, one action.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ticket_ids": [101, 102, 103], "action": {"kind": "assign", "assignee_id": 7}}))]
pub struct BulkTicketRequest {
    /// 1 to 500 ticket ids, each at most once. The answer lists them in this order.
    #[validate(custom(function = "check_ticket_ids"))]
    #[schema(min_items = 1, max_items = 500)]
    pub ticket_ids: Vec<i64>,
    // Read by `BulkTicketAction::parse`, which names bad fields `action.<field>`: serde
    // loses the path inside a tagged enum.
    /// What every ticket takes, shaped by `kind`.
    #[schema(value_type = BulkTicketAction)]
    pub action: Value,
}

fn check_ticket_ids(ids: &[i64]) -> Result<(), ValidationError> {
    if ids.is_empty() || ids.len() > BULK_MAX_TICKETS {
        return Err(message(
            "ticket_ids",
            &format!("name 1 to {BULK_MAX_TICKETS} tickets"),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(message(
            "ticket_ids",
            &format!("name each ticket once; {twice} is named more than once"),
        ));
    }
    Ok(())
}

/// What every ticket of the request takes: the body of the single-ticket endpoint, told
/// apart by `kind`.
#[derive(Debug, Clone)]
pub enum BulkTicketAction {
    /// As `PUT /tickets/{id}/assignee`.
    Assign(AssignRequest),
    /// As `POST /tickets/{id}/close`.
    Close(CloseRequest),
    /// As `PATCH /tickets/{id}` with only `priority`.
    SetPriority(SetPriority),
}

#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct SetPriority {
    pub priority: Priority,
}

impl BulkTicketAction {
    pub const KINDS: [&str; 3] = ["assign", "close", "set_priority"];

    /// Reads `action` as its `kind` says, naming bad fields `action.<field>`.
    pub fn parse(value: Value) -> Result<BulkTicketAction, ApiError> {
        let Value::Object(mut fields) = value else {
            return Err(ApiError::field("action", "must be a JSON object ({...})"));
        };
        let kind = match fields.remove("kind") {
            None => return Err(ApiError::field("action.kind", "is required")),
            Some(kind) => kind,
        };
        let rest = Value::Object(fields);
        Ok(match kind.as_str() {
            Some("assign") => BulkTicketAction::Assign(parse_value(rest, "action")?),
            Some("close") => BulkTicketAction::Close(parse_value(rest, "action")?),
            Some("set_priority") => BulkTicketAction::SetPriority(parse_value(rest, "action")?),
            _ => {
                return Err(ApiError::field(
                    "action.kind",
                    format!("must be one of: {}", Self::KINDS.join(", ")),
                ));
            }
        })
    }
}

documented_as!(BulkTicketAction => BulkTicketActionByKind);

kind_tag!(AssignKind = "assign");
kind_tag!(CloseKind = "close");
kind_tag!(SetPriorityKind = "set_priority");

/// The action every named ticket takes, told apart by `kind` (`AssignTickets`,
/// `CloseTickets`, `SetTicketPriority`).
#[allow(dead_code)] // documentation only, never built
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = BulkTicketAction, discriminator(property_name = "kind", mapping(
    ("assign" = "#/components/schemas/AssignTickets"),
    ("close" = "#/components/schemas/CloseTickets"),
    ("set_priority" = "#/components/schemas/SetTicketPriority"),
)))]
enum BulkTicketActionByKind {
    Assign(AssignTickets),
    Close(CloseTickets),
    SetPriority(SetTicketPriority),
}

/// Assign every ticket to one staff member, or (`null`) put them back in the unassigned
/// queue. Tickets that already have that assignee are `unchanged`.
#[allow(dead_code)] // documentation only, never built
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "assign", "assignee_id": 7}))]
struct AssignTickets {
    #[schema(inline)]
    kind: AssignKind,
    /// An active staff member, or `null` to unassign. Required.
    #[schema(required = true)]
    assignee_id: Option<i64>,
}

/// Close every ticket without resolution, with one reason; each must be open.
#[allow(dead_code)] // documentation only, never built
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "close", "reason": "duplicate", "note": "Same buyer, same order: see ticket 88"}))]
struct CloseTickets {
    #[schema(inline)]
    kind: CloseKind,
    reason: CloseReason,
    #[schema(max_length = 5000)]
    note: Option<String>,
}

/// Give every ticket one priority. Tickets that have it already are `unchanged`.
#[allow(dead_code)] // documentation only, never built
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "set_priority", "priority": "urgent"}))]
struct SetTicketPriority {
    #[schema(inline)]
    kind: SetPriorityKind,
    priority: Priority,
}

/// What the action did to one ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkOutcome {
    /// The ticket changed: a new version and a timeline entry.
    Changed,
    /// The ticket was already so (same assignee, same priority): nothing written.
    Unchanged,
}

/// One ticket of a bulk change that went through.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkTicketResult {
    pub ticket_id: i64,
    pub outcome: BulkOutcome,
    /// The ticket's version now (its `ETag` without the quotes).
    pub version: i64,
}

/// The answer to a bulk change: every ticket took the action.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkTicketAnswer {
    /// One entry per ticket, in the order of `ticket_ids`.
    pub results: Vec<BulkTicketResult>,
}

/// One ticket in the report of a refused bulk change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkTicketReportEntry {
    pub ticket_id: i64,
    /// What the action would have done to the ticket; absent when the ticket is why the
    /// request was refused.
    pub outcome: Option<BulkOutcome>,
    /// Why this ticket could not take the action (`not-found`, `invalid-transition` with
    /// its `current_state`, ...).
    pub error: Option<Problem>,
}

/// The report of a refused bulk change (`bulk-rejected`): nothing was written.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkTicketReport {
    /// How many tickets could not take the action.
    pub failed: usize,
    /// One entry per ticket, in the order of `ticket_ids`.
    pub results: Vec<BulkTicketReportEntry>,
}

/// Where the open tickets of a staff member who is deactivated go: the choice an admin
/// must make (`PATCH /users/{id}` with `"active": false` and `open_tickets`), so that no
/// ticket is left with an assignee who will never call the buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenTicketsHandover {
    /// Back to the unassigned queue.
    Unassign,
    /// All to one colleague.
    Reassign { to: i64 },
    /// One by one to the active agent with the fewest open tickets at that moment.
    LeastLoaded,
}

/// The members of a handover besides `action`.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct NoMembers {}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct ReassignMembers {
    to: i64,
}

impl OpenTicketsHandover {
    pub const ACTIONS: [&str; 3] = ["unassign", "reassign", "least_loaded"];

    /// Reads `open_tickets` as its `action` says, naming bad fields `open_tickets.<field>`.
    pub fn parse(value: Value) -> Result<OpenTicketsHandover, ApiError> {
        const FIELD: &str = "open_tickets";
        let Value::Object(mut fields) = value else {
            return Err(ApiError::field(FIELD, "must be a JSON object ({...})"));
        };
        let Some(action) = fields.remove("action") else {
            return Err(ApiError::field("open_tickets.action", "is required"));
        };
        let rest = Value::Object(fields);
        Ok(match action.as_str() {
            Some("unassign") => {
                parse_value::<NoMembers>(rest, FIELD)?;
                OpenTicketsHandover::Unassign
            }
            Some("reassign") => OpenTicketsHandover::Reassign {
                to: parse_value::<ReassignMembers>(rest, FIELD)?.to,
            },
            Some("least_loaded") => {
                parse_value::<NoMembers>(rest, FIELD)?;
                OpenTicketsHandover::LeastLoaded
            }
            _ => {
                return Err(ApiError::field(
                    "open_tickets.action",
                    format!("must be one of: {}", Self::ACTIONS.join(", ")),
                ));
            }
        })
    }

    /// For the audit log and messages.
    pub fn describe(self) -> Value {
        match self {
            OpenTicketsHandover::Unassign => serde_json::json!({"action": "unassign"}),
            OpenTicketsHandover::Reassign { to } => {
                serde_json::json!({"action": "reassign", "to": to})
            }
            OpenTicketsHandover::LeastLoaded => serde_json::json!({"action": "least_loaded"}),
        }
    }
}

documented_as!(OpenTicketsHandover => OpenTicketsHandoverByAction);

kind_tag!(UnassignAction = "unassign");
kind_tag!(ReassignAction = "reassign");
kind_tag!(LeastLoadedAction = "least_loaded");

/// Where a leaving staff member's open tickets go, told apart by `action`
/// (`UnassignOpenTickets`, `ReassignOpenTickets`, `SpreadOpenTickets`).
#[allow(dead_code)] // documentation only, never built
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = OpenTicketsHandover, discriminator(property_name = "action", mapping(
    ("unassign" = "#/components/schemas/UnassignOpenTickets"),
    ("reassign" = "#/components/schemas/ReassignOpenTickets"),
    ("least_loaded" = "#/components/schemas/SpreadOpenTickets"),
)))]
enum OpenTicketsHandoverByAction {
    Unassign(UnassignOpenTickets),
    Reassign(ReassignOpenTickets),
    LeastLoaded(SpreadOpenTickets),
}

/// Put the open tickets back in the unassigned queue.
#[allow(dead_code)] // documentation only, never built
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"action": "unassign"}))]
struct UnassignOpenTickets {
    #[schema(inline)]
    action: UnassignAction,
}

/// Give every open ticket to one colleague: an active staff member other than the one leaving.
#[allow(dead_code)] // documentation only, never built
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"action": "reassign", "to": 7}))]
struct ReassignOpenTickets {
    #[schema(inline)]
    action: ReassignAction,
    /// The colleague's staff id.
    to: i64,
}

/// Spread the open tickets one by one, each to the active agent with the fewest open
/// tickets at that moment (lowest id on ties).
#[allow(dead_code)] // documentation only, never built
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"action": "least_loaded"}))]
struct SpreadOpenTickets {
    #[schema(inline)]
    action: LeastLoadedAction,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_json;
    use serde_json::json;

    fn parse(body: Value) -> Result<(Vec<i64>, BulkTicketAction), ApiError> {
        let request: BulkTicketRequest = parse_json(body.to_string().as_bytes())?;
        crate::extract::validate(&request)?;
        Ok((request.ticket_ids, BulkTicketAction::parse(request.action)?))
    }

    fn fields(result: Result<(Vec<i64>, BulkTicketAction), ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn each_action_reads_the_body_of_its_single_ticket_endpoint() {
        let assign =
            parse(json!({"ticket_ids": [1, 2], "action": {"kind": "assign", "assignee_id": null}}));
        assert!(matches!(
            assign.unwrap().1,
            BulkTicketAction::Assign(AssignRequest { assignee_id: None })
        ));
        let close = parse(
            json!({"ticket_ids": [1], "action": {"kind": "close", "reason": "refused", "note": "no"}}),
        );
        assert!(matches!(close.unwrap().1, BulkTicketAction::Close(_)));
        let priority = parse(
            json!({"ticket_ids": [1], "action": {"kind": "set_priority", "priority": "low"}}),
        );
        assert!(matches!(
            priority.unwrap().1,
            BulkTicketAction::SetPriority(SetPriority {
                priority: Priority::Low
            })
        ));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let ids = |ids: Value| {
            fields(parse(
                json!({"ticket_ids": ids, "action": {"kind": "set_priority", "priority": "low"}}),
            ))
        };
        assert_eq!(ids(json!([])), ["ticket_ids"]);
        assert_eq!(ids(json!([1, 2, 1])), ["ticket_ids"]);
        let too_many: Vec<i64> = (1..=501).collect();
        assert_eq!(ids(json!(too_many)), ["ticket_ids"]);
        let action = |action: Value| fields(parse(json!({"ticket_ids": [1], "action": action})));
        // `{}` is not "unassign": the assignee must be said, even if it is null.
        assert_eq!(action(json!({"kind": "assign"})), ["action.assignee_id"]);
        assert_eq!(
            action(json!({"kind": "assign", "assignee_id": "x"})),
            ["action.assignee_id"]
        );
        assert_eq!(action(json!({"kind": "close"})), ["action.reason"]);
        assert_eq!(
            action(json!({"kind": "close", "reason": "refused", "note": "x".repeat(5001)})),
            ["action.note"]
        );
        assert_eq!(
            action(json!({"kind": "set_priority", "priority": "low", "title": "x"})),
            ["action.title"]
        );
        assert_eq!(
            action(json!({"kind": "set_priority", "priority": "soon"})),
            ["action.priority"]
        );
        assert_eq!(action(json!({"kind": "resolve"})), ["action.kind"]);
        assert_eq!(action(json!({"kind": 3})), ["action.kind"]);
        assert_eq!(action(json!({"priority": "low"})), ["action.kind"]);
        assert_eq!(action(json!("assign")), ["action"]);
    }

    #[test]
    fn a_handover_names_its_action_and_nothing_else() {
        let parse = OpenTicketsHandover::parse;
        assert_eq!(
            parse(json!({"action": "unassign"})).unwrap(),
            OpenTicketsHandover::Unassign
        );
        assert_eq!(
            parse(json!({"action": "reassign", "to": 7})).unwrap(),
            OpenTicketsHandover::Reassign { to: 7 }
        );
        assert_eq!(
            parse(json!({"action": "least_loaded"})).unwrap(),
            OpenTicketsHandover::LeastLoaded
        );
        let field = |value: Value| match parse(value) {
            Err(ApiError::Validation(errors)) => errors[0].field.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"action": "reassign"})), "open_tickets.to");
        assert_eq!(
            field(json!({"action": "reassign", "to": "li"})),
            "open_tickets.to"
        );
        assert_eq!(
            field(json!({"action": "unassign", "to": 7})),
            "open_tickets.to"
        );
        assert_eq!(field(json!({"action": "fire"})), "open_tickets.action");
        assert_eq!(field(json!({})), "open_tickets.action");
        assert_eq!(field(json!([])), "open_tickets");
    }
}
