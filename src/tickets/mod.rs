//! Tickets: one after-sales case (negative review, return, repair) about one customer,
//! worked from the first call through follow-up to resolution.

pub mod bulk;
pub mod contract;
pub mod operations;
pub mod routes;
pub mod store;
pub mod view;
pub mod workflow;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::db::{MultiBackend, text_enum};
use crate::error::ApiError;
use crate::extract::{check_instant, message, parse_value, present};
use crate::ids::ShopId;
/// Where a review was posted: the same vocabulary as an order's channel.
pub use crate::orders::Channel;
use crate::webhooks::EventType;

text_enum! {
    pub enum TicketKind {
        /// A middling or bad review was posted.
        NegativeReview = "negative_review",
        /// Return or exchange.
        Return = "return",
        /// A product needs fixing.
        Repair = "repair",
    }
}

impl TicketKind {
    /// Reviews are time-critical: the buyer may still be online and may still revise.
    pub fn default_priority(self) -> Priority {
        match self {
            TicketKind::NegativeReview => Priority::High,
            TicketKind::Return | TicketKind::Repair => Priority::Normal,
        }
    }
}

text_enum! {
    pub enum State {
        /// Opened; nobody has tried to reach the buyer yet.
        New = "new",
        /// The first contact attempt has been made.
        FirstCall = "first_call",
        /// Further attempts until it is settled.
        FollowUp = "follow_up",
        Resolved = "resolved",
        /// Ended without resolution (unreachable, refused, duplicate, invalid).
        Closed = "closed",
    }
}

impl State {
    pub const OPEN: [State; 3] = [State::New, State::FirstCall, State::FollowUp];

    pub fn is_open(self) -> bool {
        State::OPEN.contains(&self)
    }
}

text_enum! {
    /// What a timeline entry records.
    pub enum EventKind {
        Created = "created",
        Assigned = "assigned",
        ContactLogged = "contact_logged",
        StateChanged = "state_changed",
        Edited = "edited",
        SatisfactionRecorded = "satisfaction_recorded",
        SatisfactionCorrected = "satisfaction_corrected",
        /// An internal note was written (`data`: `note_id`, `body`).
        NoteAdded = "note_added",
        /// An internal note was corrected by its author (`data`: `note_id`, `before`, `after`).
        NoteEdited = "note_edited",
        /// The ticket waits on the buyer or the platform (`data`: `waiting_on`, `note`): the
        /// resolution clock stops.
        WaitStarted = "wait_started",
        /// The wait ended (`data`: `waiting_on`, `waited_seconds`, `by`: `contact` or `hand`).
        WaitEnded = "wait_ended",
        /// A service-level target passed its due time unmet (`data`: `target`, `due_at`,
        /// `minutes`, `clock`).
        SlaBreached = "sla_breached",
        /// A breach set off the policy's escalation (`data`: `target`, `priority`, `assignee`).
        Escalated = "escalated",
        /// A file was attached (`data`: `attachment_id`, `note_id`, `filename`,
        /// `content_type`, `size`, `sha256`).
        AttachmentAdded = "attachment_added",
        /// An attachment was deleted; its bytes are gone (`data`: `attachment_id`,
        /// `filename`, `content_type`, `size`, `sha256`, `reason`).
        AttachmentDeleted = "attachment_deleted",
    }
}

text_enum! {
    /// Who gave a ticket's satisfaction score.
    pub enum SatisfactionSource {
        /// A staff member typed it in (`PUT .../satisfaction`).
        Staff = "staff",
        /// The buyer answered the survey link (`/s/{token}`); it supersedes a staff entry
        /// for the same resolution, and staff cannot overwrite it.
        Buyer = "buyer",
    }
}

text_enum! {
    /// What went well or wrong, as the buyer taps it (several may be given).
    pub enum SatisfactionReason {
        /// How fast the case was handled.
        Speed = "speed",
        /// How the staff treated the buyer.
        Attitude = "attitude",
        /// Whether the solution fitted.
        Solution = "solution",
        /// The product itself.
        ProductQuality = "product_quality",
        Other = "other",
    }
}

impl SatisfactionReason {
    /// The stored form: the distinct reasons in their documented order, space-separated
    /// (`None` for none).
    pub fn store(reasons: &[SatisfactionReason]) -> Option<String> {
        let stored: Vec<&str> = SatisfactionReason::ALL
            .into_iter()
            .filter(|r| reasons.contains(r))
            .map(SatisfactionReason::as_str)
            .collect();
        (!stored.is_empty()).then(|| stored.join(" "))
    }

    /// The reasons of a stored form (unknown words are skipped).
    pub fn parse_stored(stored: Option<&str>) -> Vec<SatisfactionReason> {
        stored
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(SatisfactionReason::parse)
            .collect()
    }
}

text_enum! {
    /// What an open ticket waits on while its resolution clock stands still.
    pub enum WaitingOn {
        /// The buyer (sending the item back, trying the fix, answering).
        Buyer = "buyer",
        /// The platform (an arbitration, a refund in progress).
        Platform = "platform",
    }
}

impl EventKind {
    /// The webhook events an entry of this kind stands for. A contact attempt that moves
    /// the ticket (new -> first_call) is also a state change; edits are not published.
    pub fn webhook_events(self, state_moved: bool) -> &'static [EventType] {
        use EventType::*;
        match (self, state_moved) {
            (EventKind::Created, _) => &[TicketCreated],
            (EventKind::Assigned, _) => &[TicketAssigned],
            (EventKind::StateChanged, _) => &[TicketStateChanged],
            (EventKind::ContactLogged, true) => &[TicketContactLogged, TicketStateChanged],
            (EventKind::ContactLogged, false) => &[TicketContactLogged],
            (EventKind::SatisfactionRecorded | EventKind::SatisfactionCorrected, _) => {
                &[TicketSatisfactionRecorded]
            }
            (EventKind::SlaBreached, _) => &[TicketSlaBreached],
            (EventKind::Escalated, _) => &[TicketEscalated],
            (
                EventKind::Edited
                | EventKind::NoteAdded
                | EventKind::NoteEdited
                | EventKind::WaitStarted
                | EventKind::WaitEnded
                | EventKind::AttachmentAdded
                | EventKind::AttachmentDeleted,
                _,
            ) => &[],
        }
    }
}

/// What moves a ticket between states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Log a contact attempt (`POST .../contacts`).
    LogContact,
    /// Settle it with an outcome (`POST .../resolve`).
    Resolve,
    /// End it without resolution (`POST .../close`).
    Close,
    /// Take a resolved or closed ticket up again (`POST .../reopen`, leads).
    Reopen,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::LogContact,
        Action::Resolve,
        Action::Close,
        Action::Reopen,
    ];
}

// Stored as its rank (an INTEGER), so that ordering by the column puts urgent first.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Integer)]
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

impl diesel::serialize::ToSql<diesel::sql_types::Integer, MultiBackend> for Priority {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, MultiBackend>,
    ) -> diesel::serialize::Result {
        // The bind keeps a reference for the statement's lifetime, so it points into a
        // static table rather than at a temporary.
        static RANKS: [i32; 4] = [1, 2, 3, 4];
        let rank = &RANKS[usize::try_from(self.rank() - 1).unwrap_or(0)];
        <i32 as diesel::serialize::ToSql<diesel::sql_types::Integer, MultiBackend>>::to_sql(
            rank, out,
        )
    }
}

impl diesel::deserialize::FromSql<diesel::sql_types::Integer, MultiBackend> for Priority {
    fn from_sql(
        bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
    ) -> diesel::deserialize::Result<Self> {
        let rank = <i32 as diesel::deserialize::FromSql<
            diesel::sql_types::Integer,
            MultiBackend,
        >>::from_sql(bytes)?;
        Priority::from_rank(rank).ok_or_else(|| format!("{rank} is not a priority rank").into())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketItem {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub product_name: String,
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub sku: Option<String>,
    #[validate(range(min = 1, max = 10000))]
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i32,
}

fn validate_ticket_items(items: &[TicketItem]) -> Result<(), ValidationError> {
    if items.is_empty() || items.len() > 50 {
        return Err(message("items", "name 1 to 50 items"));
    }
    Ok(())
}

/// The most stars a review may have and still be negative, on every platform.
pub const NEGATIVE_REVIEW_MAX_STARS: u8 = 3;

/// `details` of a `negative_review` ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NegativeReviewDetails {
    pub platform: Channel,
    /// The review's rating, 1 (worst) to 5. A ticket is opened for 1 to 3 stars (a negative
    /// review on every platform); a review the buyer later revises may reach 4 or 5.
    #[validate(range(min = 1, max = 5))]
    #[schema(minimum = 1, maximum = 5)]
    pub rating: u8,
    #[serde(default)]
    #[validate(length(max = 5000))]
    #[schema(max_length = 5000)]
    pub review_text: String,
    /// The platform's id of the review; with it, the same review never opens two tickets.
    #[validate(length(min = 1, max = 128))]
    #[schema(min_length = 1, max_length = 128)]
    pub review_id: Option<String>,
    /// Between 1970-01-01 and 9999-12-30 (UTC).
    #[validate(custom(function = "check_instant"))]
    pub posted_at: Option<DateTime<Utc>>,
}

/// `details` of a `return` ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnDetails {
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
    #[validate(custom(function = "validate_ticket_items"), nested)]
    pub items: Vec<TicketItem>,
    /// Refund asked for, in cents (fen).
    #[validate(range(min = 0, max = 100000000000_i64))]
    #[schema(minimum = 0, maximum = 100000000000.0)]
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
    #[schema(min_length = 1, max_length = 2000)]
    pub fault: String,
    #[validate(custom(function = "validate_ticket_items"), nested)]
    pub items: Vec<TicketItem>,
    pub under_warranty: bool,
}

impl TicketView {
    /// The view as `caller` may see it: the buyer's name and phone only for callers who
    /// may read customers (an integration with `tickets:read` alone gets the id).
    pub fn shown_to(mut self, caller: &crate::auth::Principal) -> TicketView {
        if !caller.may(crate::auth::roles::Permission::ViewCustomers) {
            self.customer = None;
        }
        self
    }
}

/// The customer as a ticket shows them: name, masked phone, value tier and at-risk flag.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketCustomer {
    pub id: i64,
    pub name: String,
    /// The first phone handle, masked (`138****8000`); absent without a phone.
    pub phone_masked: Option<String>,
    pub tier: crate::tiers::Tier,
    pub at_risk: bool,
}

/// A staff member as timelines and queues show them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffBrief {
    pub id: i64,
    pub name: String,
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

    /// Why these details cannot open a ticket, if they cannot: a 4- or 5-star review is not
    /// negative. (Stored tickets may hold one: the buyer revised the review upwards.)
    pub fn refuses_opening(&self) -> Option<String> {
        match self {
            TicketDetails::NegativeReview(review) if review.rating > NEGATIVE_REVIEW_MAX_STARS => {
                Some(format!(
                    "a negative review has 1 to {NEGATIVE_REVIEW_MAX_STARS} stars; a {}-star review opens no ticket",
                    review.rating
                ))
            }
            _ => None,
        }
    }

    /// (platform, review id) for negative reviews that carry one.
    pub fn review_key(&self) -> Option<(Channel, String)> {
        match self {
            TicketDetails::NegativeReview(review) => review
                .review_id
                .as_ref()
                .map(|id| (review.platform, id.trim().to_owned())),
            _ => None,
        }
    }
}

text_enum! {
    /// How a resolved ticket ended; each belongs to one kind.
    pub enum Outcome {
        ReviewRevised = "review_revised",
        ReviewWithdrawn = "review_withdrawn",
        ReviewKeptCustomerSatisfied = "review_kept_customer_satisfied",
        ReviewKeptUnresolved = "review_kept_unresolved",
        ReturnedRefunded = "returned_refunded",
        Exchanged = "exchanged",
        RefundOnly = "refund_only",
        ReturnRejected = "return_rejected",
        Repaired = "repaired",
        Replaced = "replaced",
        Refunded = "refunded",
        NotRepairable = "not_repairable",
    }
}

impl Outcome {
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

    /// The endings of a negative review that count as the review revised (the review
    /// revision rate).
    pub const REVISES_REVIEW: [Outcome; 2] = [Outcome::ReviewRevised, Outcome::ReviewWithdrawn];

    /// Outcomes that hand money back carry the refunded amount.
    pub fn carries_refund(self) -> bool {
        matches!(
            self,
            Outcome::ReturnedRefunded | Outcome::RefundOnly | Outcome::Refunded
        )
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

text_enum! {
    pub enum CloseReason {
        Unreachable = "unreachable",
        Refused = "refused",
        Duplicate = "duplicate",
        Invalid = "invalid",
    }
}

text_enum! {
    /// How a buyer was contacted.
    pub enum ContactChannel {
        Phone = "phone",
        Wechat = "wechat",
        ShopChat = "shop_chat",
        Sms = "sms",
        InPerson = "in_person",
    }
}

/// A row of `tickets`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::tickets)]
pub struct Ticket {
    pub id: i64,
    pub shop_id: ShopId,
    pub customer_id: i64,
    pub order_id: Option<i64>,
    pub kind: TicketKind,
    pub title: String,
    pub description: String,
    pub details: String,
    pub review_platform: Option<Channel>,
    pub review_external_id: Option<String>,
    pub state: State,
    pub priority: Priority,
    pub assignee_id: Option<i64>,
    pub first_call_due_at: NaiveDateTime,
    pub first_contact_at: Option<NaiveDateTime>,
    pub last_contact_at: Option<NaiveDateTime>,
    pub next_follow_up_at: Option<NaiveDateTime>,
    pub due_at: Option<NaiveDateTime>,
    pub outcome: Option<Outcome>,
    pub refund_cents: Option<i64>,
    pub resolution_note: Option<String>,
    pub close_reason: Option<CloseReason>,
    pub resolved_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub satisfaction_score: Option<i32>,
    pub satisfaction_comment: Option<String>,
    pub satisfaction_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub waiting_on: Option<WaitingOn>,
    pub waiting_since: Option<NaiveDateTime>,
    pub platform_deadline_at: Option<NaiveDateTime>,
    /// Who gave the score (`None` while there is none).
    pub satisfaction_source: Option<SatisfactionSource>,
    /// The reasons given with the score ([`SatisfactionReason::store`]).
    pub satisfaction_reasons: Option<String>,
}

/// A ticket as it is opened (the insert form of [`Ticket`]).
#[derive(Debug, Insertable)]
#[diesel(table_name = crate::schema::tickets, treat_none_as_default_value = false)]
pub struct NewTicket<'a> {
    pub shop_id: ShopId,
    pub customer_id: i64,
    pub order_id: Option<i64>,
    pub kind: TicketKind,
    pub title: &'a str,
    pub description: &'a str,
    pub details: String,
    pub review_platform: Option<Channel>,
    pub review_external_id: Option<String>,
    pub state: State,
    pub priority: Priority,
    pub assignee_id: Option<i64>,
    pub first_call_due_at: NaiveDateTime,
    pub due_at: Option<NaiveDateTime>,
    pub platform_deadline_at: Option<NaiveDateTime>,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One contact attempt, as logged.
#[derive(Debug, Insertable)]
#[diesel(table_name = crate::schema::ticket_contacts, treat_none_as_default_value = false)]
pub struct NewContact<'a> {
    pub shop_id: ShopId,
    pub ticket_id: i64,
    pub staff_id: i64,
    pub channel: ContactChannel,
    pub reached: bool,
    pub note: &'a str,
    pub next_follow_up_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

impl Ticket {
    /// The ETag of this version of the ticket.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

/// The versions an `If-Match` header accepts: `None` for `*` (any version), else the
/// versions named by a comma-separated list of this API's ETags (`"3"`, weak `W/"3"`
/// alike). Anything else (empty, unquoted, a tag this API never issued) is refused: the
/// client holds no validator of ours, and a 412 would wrongly say the ticket changed.
pub fn parse_if_match(raw: &str) -> Result<Option<Vec<i64>>, String> {
    const EXPECTED: &str =
        "must be the ticket's ETag as returned (e.g. \"3\"), a comma-separated list of them, or *";
    if raw.trim() == "*" {
        return Ok(None);
    }
    raw.split(',')
        .map(|tag| {
            let tag = tag.trim();
            let opaque = tag.strip_prefix("W/").unwrap_or(tag);
            opaque
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                // At most 18 digits, as documented: every version fits, and so does i64.
                .filter(|digits| {
                    (1..=18).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
                })
                .and_then(|digits| digits.parse::<i64>().ok())
                .ok_or_else(|| EXPECTED.to_owned())
        })
        .collect::<Result<Vec<i64>, String>>()
        .map(Some)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Satisfaction {
    /// 1 (very unhappy) to 5 (very happy).
    pub score: i32,
    pub comment: Option<String>,
    pub recorded_at: Option<DateTime<Utc>>,
    /// `buyer` (the survey link) or `staff` (typed in); a buyer's answer supersedes a
    /// staff entry for the same resolution.
    pub source: SatisfactionSource,
    /// What went well or wrong, as tapped (empty when none was given).
    pub reasons: Vec<SatisfactionReason>,
}

/// A ticket as clients see it. Documented per kind (`tickets::contract`): `details` follow `kind`.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    pub id: i64,
    pub kind: TicketKind,
    pub customer_id: i64,
    /// Who the buyer is, at a glance (read with the page, not one request per row); `null`
    /// for API keys that may not read customers (`customers:read`).
    pub customer: Option<TicketCustomer>,
    pub order_id: Option<i64>,
    pub title: String,
    pub description: String,
    pub details: Value,
    pub state: State,
    /// What may be done next from this state.
    pub allowed_actions: Vec<Action>,
    pub priority: Priority,
    pub assignee_id: Option<i64>,
    /// The assignee's name (absent when unassigned).
    pub assignee: Option<StaffBrief>,
    /// The first contact attempt is due by then.
    pub first_call_due_at: DateTime<Utc>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    pub next_follow_up_at: Option<DateTime<Utc>>,
    /// When the ticket next needs someone: the first-call deadline while new, the next
    /// follow-up afterwards, or the platform's deadline when that comes first; none once
    /// resolved or closed. Queues sort by it.
    pub due_at: Option<DateTime<Utc>>,
    /// `due_at` has passed.
    pub overdue: bool,
    /// What the open ticket waits on (its resolution clock stands still); absent: nothing.
    pub waiting_on: Option<WaitingOn>,
    pub waiting_since: Option<DateTime<Utc>>,
    /// The platform's own hard deadline (return auto-approval, end of the review-revision
    /// window), set by hand or by the feeds.
    pub platform_deadline_at: Option<DateTime<Utc>>,
    /// The open ticket's platform deadline is less than a day away, or past.
    pub platform_deadline_near: bool,
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

crate::pagination::named_page!(TicketPage, TicketView);

crate::response::answer!(
    /// The answer to opening a ticket: the ticket for callers who may read tickets (staff;
    /// API keys with `tickets:read`), a `Receipt` for the others.
    TicketAnswer(TicketView)
);

/// A customer's tickets in brief, for the customer file.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct TicketSummary {
    /// Tickets not yet resolved or closed.
    pub open: i64,
    pub resolved: i64,
    pub closed: i64,
    pub last_opened_at: Option<DateTime<Utc>>,
}

fn check_title(title: &str) -> Result<(), ValidationError> {
    let trimmed = title.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 {
        return Err(message("title", "must be 1 to 200 characters"));
    }
    Ok(())
}

/// Opening a ticket. Documented per kind (`tickets::contract`): `details` follow `kind`,
/// and are checked against it by `TicketDetails::parse`.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
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
    pub details: Value,
    /// Defaults by kind (negative reviews `high`, others `normal`), raised for key and at-risk customers.
    pub priority: Option<Priority>,
    /// Leads may assign anyone; agents only themselves. Absent: automatic assignment if enabled.
    pub assignee_id: Option<i64>,
    /// The platform's own deadline (return auto-approval, end of the review-revision window).
    #[validate(custom(function = "check_instant"))]
    pub platform_deadline_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({"priority": "urgent", "description": "Buyer called back, very upset"}))]
pub struct UpdateTicketRequest {
    #[validate(custom(function = "check_title"))]
    pub title: Option<String>,
    #[validate(length(max = 5000))]
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    /// Replaces the details; shaped by the ticket's kind.
    #[schema(value_type = Option<TicketDetails>)]
    pub details: Option<Value>,
    pub priority: Option<Priority>,
    /// `null` detaches the order.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub order_id: Option<Option<i64>>,
    /// The platform's own deadline (return auto-approval, end of the review-revision
    /// window); `null` removes it. Queues order by it when it comes before the ticket's
    /// own due time.
    #[serde(default, deserialize_with = "present")]
    #[validate(custom(function = "check_instant"))]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub platform_deadline_at: Option<Option<DateTime<Utc>>>,
}

/// Waiting on the buyer or the platform (`POST /api/v1/tickets/{id}/wait`): the
/// resolution clock stops until the next contact attempt or `DELETE .../wait`.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"on": "buyer", "note": "Buyer is sending the kettle back (SF1234567890)"}))]
pub struct WaitRequest {
    pub on: WaitingOn,
    #[serde(default)]
    #[validate(custom(function = "check_note"))]
    pub note: String,
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
    /// Between 1970-01-01 and 9999-12-30 (UTC).
    #[validate(custom(function = "check_instant"))]
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
    #[schema(minimum = 0, maximum = 100000000000.0)]
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
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"assignee_id": 7}))]
pub struct AssignRequest {
    /// The staff member to assign, or `null` to unassign. Required: a body without it
    /// (`{}`) is refused rather than read as "unassign".
    #[serde(deserialize_with = "required_nullable")]
    #[schema(required = true)]
    pub assignee_id: Option<i64>,
}

/// A field that must be present but may be `null` (serde would read a missing `Option` as
/// `None`; a `deserialize_with` field has no such default).
fn required_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<i64>::deserialize(d)
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"score": 5, "comment": "很满意，处理很快"}))]
pub struct SatisfactionRequest {
    #[validate(range(min = 1, max = 5))]
    #[schema(minimum = 1, maximum = 5)]
    pub score: i32,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
    /// What went well or wrong (each at most once), as the buyer said.
    #[validate(length(max = 5), custom(function = "check_distinct_reasons"))]
    #[schema(max_items = 5)]
    pub reasons: Option<Vec<SatisfactionReason>>,
}

fn check_distinct_reasons(reasons: &[SatisfactionReason]) -> Result<(), ValidationError> {
    let mut seen = reasons.to_vec();
    seen.sort();
    seen.dedup();
    if seen.len() == reasons.len() {
        Ok(())
    } else {
        Err(message(
            "reasons_distinct",
            "must name each reason at most once",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn if_match_takes_our_etags_or_star_and_refuses_the_rest() {
        assert_eq!(parse_if_match("*"), Ok(None));
        assert_eq!(parse_if_match("\"3\""), Ok(Some(vec![3])));
        assert_eq!(parse_if_match("W/\"3\", \"5\""), Ok(Some(vec![3, 5])));
        for garbage in [
            "", " ", "abc", "3", "\"abc\"", "\"\"", "\"3", "\"3\",", "\"-1\"",
        ] {
            assert!(parse_if_match(garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn only_one_to_three_stars_open_a_negative_review_ticket() {
        let with = |rating: u8| {
            TicketDetails::parse(
                TicketKind::NegativeReview,
                json!({"platform": "douyin", "rating": rating}),
            )
            .unwrap()
        };
        for rating in 1..=3 {
            assert_eq!(with(rating).refuses_opening(), None, "{rating}");
        }
        for rating in 4..=5 {
            assert!(with(rating).refuses_opening().is_some(), "{rating}");
        }
    }

    #[test]
    fn details_are_validated_by_kind() {
        let review = json!({"platform": "taobao", "rating": 2, "review_id": "R1"});
        let parsed = TicketDetails::parse(TicketKind::NegativeReview, review.clone()).unwrap();
        assert_eq!(parsed.review_key(), Some((Channel::Taobao, "R1".into())));
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
    fn timeline_entries_map_to_webhook_events() {
        assert_eq!(
            EventKind::ContactLogged.webhook_events(true),
            [
                EventType::TicketContactLogged,
                EventType::TicketStateChanged
            ]
        );
        assert_eq!(
            EventKind::SatisfactionCorrected.webhook_events(false),
            [EventType::TicketSatisfactionRecorded]
        );
        assert!(EventKind::Edited.webhook_events(false).is_empty());
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
