//! Service-level policies: the targets a ticket is held to (first call, follow-up after a
//! reached or an unreached attempt, resolution) by kind and priority, each on the
//! calendar's business hours or around the clock, and what happens when one is breached.
//! Pure rules; `store` keeps them per shop.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ClockKind;
use super::calendar::FieldError;
use crate::tickets::workflow::DeadlinePolicy;
use crate::tickets::{Priority, TicketKind};

/// The longest target: thirty days.
pub const MAX_TARGET_MINUTES: u32 = 30 * 24 * 60;

/// One target: so many minutes on a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// 1 to 43,200 (thirty days).
    pub minutes: u32,
    pub clock: ClockKind,
}

impl Target {
    pub fn calendar_hours(hours: u32) -> Target {
        Target {
            minutes: hours * 60,
            clock: ClockKind::Calendar,
        }
    }

    /// The target for a key or at-risk buyer: `percent` of the time, at least a minute.
    pub fn scaled(self, percent: u8) -> Target {
        Target {
            minutes: (self.minutes * u32::from(percent) / 100).max(1),
            ..self
        }
    }
}

/// Who gets a breached ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "to", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reassign {
    /// Back to the unassigned queue.
    Unassigned,
    /// A named lead or admin of the shop.
    User { user_id: i64 },
}

/// What a breach of one of the rule's targets sets off. Leads are always told (reminders
/// and the `ticket.escalated` webhook); the ticket may also be raised and reassigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Raise the priority one step (urgent stays urgent).
    #[serde(default)]
    pub raise_priority: bool,
    /// Reassign the ticket; absent: the assignee keeps it.
    #[serde(default)]
    pub reassign: Option<Reassign>,
}

/// The targets of tickets of one kind, and of one priority or (`priority` absent) any
/// priority without a rule of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    pub kind: TicketKind,
    /// Absent: the kind's fallback; every kind needs one.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// From opening to the first contact attempt.
    pub first_call: Target,
    /// From an attempt that reached the buyer to the next follow-up.
    pub follow_up_reached: Target,
    /// From an attempt that did not reach the buyer to the next try.
    pub follow_up_unreached: Target,
    /// From opening to resolution, not counting time waiting on the buyer or the platform;
    /// absent: no resolution target.
    #[serde(default)]
    pub resolution: Option<Target>,
    /// Absent: a breach is recorded and told, nothing else.
    #[serde(default)]
    pub escalation: Option<Escalation>,
}

/// A shop's service-level policies (`GET/PUT /api/v1/sla/policies`). Checked whole by
/// `Policies::check` (the derived `Validate` has no field rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    /// At most 64 rules; one per kind and priority, and a fallback (no priority) per kind.
    pub rules: Vec<PolicyRule>,
    /// Key and at-risk buyers get this share of every target, in percent (1 to 100; 50:
    /// half the time).
    #[serde(default = "default_priority_customer_percent")]
    pub priority_customer_percent: u8,
    /// A target this close (minutes) is "about to breach": a reminder for the assignee and
    /// the leads.
    #[serde(default = "default_about_to_breach_minutes")]
    pub about_to_breach_minutes: u32,
}

fn default_priority_customer_percent() -> u8 {
    50
}

fn default_about_to_breach_minutes() -> u32 {
    30
}

const MAX_RULES: usize = 64;

/// The targets that apply to one ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketTargets {
    pub first_call: Target,
    pub follow_up_reached: Target,
    pub follow_up_unreached: Target,
    pub resolution: Option<Target>,
    pub escalation: Option<Escalation>,
}

impl Policies {
    /// Today's behaviour: the deadline settings, in calendar hours, no resolution target,
    /// no escalation, key and at-risk buyers at half the time.
    pub fn from_settings(deadlines: &DeadlinePolicy) -> Policies {
        let rule = |kind, first_call_hours| PolicyRule {
            kind,
            priority: None,
            first_call: Target::calendar_hours(first_call_hours),
            follow_up_reached: Target::calendar_hours(deadlines.follow_up_hours_reached),
            follow_up_unreached: Target::calendar_hours(deadlines.follow_up_hours_unreached),
            resolution: None,
            escalation: None,
        };
        Policies {
            rules: vec![
                rule(
                    TicketKind::NegativeReview,
                    deadlines.first_call_hours_negative_review,
                ),
                rule(TicketKind::Return, deadlines.first_call_hours_return),
                rule(TicketKind::Repair, deadlines.first_call_hours_repair),
            ],
            priority_customer_percent: default_priority_customer_percent(),
            about_to_breach_minutes: default_about_to_breach_minutes(),
        }
    }

    /// Every rule the policies break, by field.
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut error = |field: String, message: &str| {
            errors.push(FieldError {
                field,
                message: message.to_owned(),
            })
        };
        if self.rules.len() > MAX_RULES {
            error("rules".into(), "holds at most 64 rules");
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let same = self.rules[..i]
                .iter()
                .any(|r| r.kind == rule.kind && r.priority == rule.priority);
            if same {
                error(
                    format!("rules[{i}]"),
                    "repeats the kind and priority of an earlier rule",
                );
            }
            let targets = [
                ("first_call", Some(rule.first_call)),
                ("follow_up_reached", Some(rule.follow_up_reached)),
                ("follow_up_unreached", Some(rule.follow_up_unreached)),
                ("resolution", rule.resolution),
            ];
            for (name, target) in targets {
                if let Some(target) = target
                    && !(1..=MAX_TARGET_MINUTES).contains(&target.minutes)
                {
                    error(
                        format!("rules[{i}].{name}.minutes"),
                        "must be 1 to 43200 (thirty days)",
                    );
                }
            }
        }
        for kind in TicketKind::ALL {
            if !self
                .rules
                .iter()
                .any(|r| r.kind == kind && r.priority.is_none())
            {
                error(
                    "rules".into(),
                    &format!("needs a rule for {kind} without a priority (the kind's fallback)"),
                );
            }
        }
        if !(1..=100).contains(&self.priority_customer_percent) {
            error("priority_customer_percent".into(), "must be 1 to 100");
        }
        if self.about_to_breach_minutes > MAX_TARGET_MINUTES {
            error("about_to_breach_minutes".into(), "must be at most 43200");
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The rule for a ticket: its kind and priority's own, else the kind's fallback.
    fn rule(&self, kind: TicketKind, priority: Priority) -> &PolicyRule {
        self.rules
            .iter()
            .find(|r| r.kind == kind && r.priority == Some(priority))
            .or_else(|| {
                self.rules
                    .iter()
                    .find(|r| r.kind == kind && r.priority.is_none())
            })
            .expect("checked policies hold a fallback rule per kind")
    }

    /// The targets of a ticket; key and at-risk buyers (`priority_customer`) get the
    /// policies' share of each.
    pub fn targets(
        &self,
        kind: TicketKind,
        priority: Priority,
        priority_customer: bool,
    ) -> TicketTargets {
        let rule = self.rule(kind, priority);
        let share = |target: Target| {
            if priority_customer {
                target.scaled(self.priority_customer_percent)
            } else {
                target
            }
        };
        TicketTargets {
            first_call: share(rule.first_call),
            follow_up_reached: share(rule.follow_up_reached),
            follow_up_unreached: share(rule.follow_up_unreached),
            resolution: rule.resolution.map(share),
            escalation: rule.escalation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_todays_deadlines() {
        let settings = DeadlinePolicy::default();
        let policies = Policies::from_settings(&settings);
        assert_eq!(policies.check(), Ok(()));
        let review = policies.targets(TicketKind::NegativeReview, Priority::High, false);
        assert_eq!(
            review.first_call,
            Target::calendar_hours(settings.first_call_hours_negative_review)
        );
        assert_eq!(
            review.follow_up_unreached,
            Target::calendar_hours(settings.follow_up_hours_unreached)
        );
        assert_eq!(review.resolution, None);
        // Key and at-risk buyers: half the time, as before.
        let key = policies.targets(TicketKind::Repair, Priority::Normal, true);
        assert_eq!(
            key.first_call.minutes,
            settings.first_call_hours_repair * 60 / 2
        );
    }

    #[test]
    fn a_priority_rule_wins_over_the_kinds_fallback() {
        let mut policies = Policies::from_settings(&DeadlinePolicy::default());
        let mut urgent = policies.rules[1].clone();
        urgent.priority = Some(Priority::Urgent);
        urgent.first_call = Target {
            minutes: 30,
            clock: ClockKind::Business,
        };
        policies.rules.push(urgent);
        assert_eq!(policies.check(), Ok(()));
        let targets = policies.targets(TicketKind::Return, Priority::Urgent, false);
        assert_eq!(targets.first_call.minutes, 30);
        assert_eq!(targets.first_call.clock, ClockKind::Business);
        let normal = policies.targets(TicketKind::Return, Priority::Normal, false);
        assert_eq!(normal.first_call.clock, ClockKind::Calendar);
    }

    #[test]
    fn broken_policies_name_their_fields() {
        let mut policies = Policies::from_settings(&DeadlinePolicy::default());
        policies.rules.push(policies.rules[0].clone());
        policies.rules[1].first_call.minutes = 0;
        policies.rules.retain(|r| r.kind != TicketKind::Repair);
        policies.priority_customer_percent = 0;
        let fields: Vec<String> = policies
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                "rules[1].first_call.minutes",
                "rules[2]",
                "rules",
                "priority_customer_percent"
            ]
        );
        assert_eq!(
            Target {
                minutes: 1,
                clock: ClockKind::Calendar
            }
            .scaled(50)
            .minutes,
            1
        );
    }
}
