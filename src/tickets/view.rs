//! The read model of a ticket: what clients see, with what may be done next (from the
//! workflow) and whether it is overdue (from the clock), derived from the stored row.

use chrono::NaiveDateTime;
use serde_json::Value;

use super::store::Names;
use super::workflow;
use super::{Satisfaction, StaffBrief, Ticket, TicketView};
use crate::error::ApiError;

impl Ticket {
    /// The view, with the names `names` holds (loaded once for a page: `store::views`).
    pub fn view(&self, now: NaiveDateTime, names: &Names) -> Result<TicketView, ApiError> {
        let state = self.state;
        let customer = names.customers.get(&self.customer_id).cloned();
        Ok(TicketView {
            id: self.id,
            kind: self.kind,
            customer_id: self.customer_id,
            customer,
            order_id: self.order_id,
            title: self.title.clone(),
            description: self.description.clone(),
            details: serde_json::from_str(&self.details).unwrap_or(Value::Null),
            state,
            allowed_actions: workflow::allowed_from(state)
                .into_iter()
                .map(|(a, _)| a)
                .collect(),
            priority: self.priority,
            assignee_id: self.assignee_id,
            assignee: self.assignee_id.map(|id| StaffBrief {
                id,
                name: names.staff.get(&id).cloned().unwrap_or_default(),
            }),
            first_call_due_at: self.first_call_due_at.and_utc(),
            first_contact_at: self.first_contact_at.map(|t| t.and_utc()),
            last_contact_at: self.last_contact_at.map(|t| t.and_utc()),
            next_follow_up_at: self.next_follow_up_at.map(|t| t.and_utc()),
            due_at: self.due_at.map(|t| t.and_utc()),
            overdue: self.due_at.is_some_and(|due| due < now),
            waiting_on: self.waiting_on,
            waiting_since: self.waiting_since.map(|t| t.and_utc()),
            platform_deadline_at: self.platform_deadline_at.map(|t| t.and_utc()),
            platform_deadline_near: workflow::platform_deadline_near(
                state,
                self.platform_deadline_at,
                now,
            ),
            outcome: self.outcome,
            refund_cents: self.refund_cents,
            resolution_note: self.resolution_note.clone(),
            close_reason: self.close_reason,
            resolved_at: self.resolved_at.map(|t| t.and_utc()),
            closed_at: self.closed_at.map(|t| t.and_utc()),
            satisfaction: self.satisfaction_score.map(|score| Satisfaction {
                score,
                comment: self.satisfaction_comment.clone(),
                recorded_at: self.satisfaction_at.map(|t| t.and_utc()),
                source: self
                    .satisfaction_source
                    .unwrap_or(super::SatisfactionSource::Staff),
                reasons: super::SatisfactionReason::parse_stored(
                    self.satisfaction_reasons.as_deref(),
                ),
            }),
            version: self.version,
            created_by: self.created_by,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        })
    }
}
