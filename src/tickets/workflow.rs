//! The ticket workflow in one place: which state follows which action, who may act on a
//! ticket, and the deadlines a ticket carries. Plain functions, tested without HTTP or a
//! database; the routes only ask these.

use chrono::{Duration, NaiveDateTime};
use clap::{Args, ValueEnum};

use super::{Action, State};
use crate::auth::roles::Role;
use crate::ids::UserId;

/// The transition table. `None`: the action is not allowed in that state.
pub fn next_state(state: State, action: Action) -> Option<State> {
    use Action::*;
    use State::*;
    match (state, action) {
        (New, LogContact) => Some(FirstCall),
        (FirstCall | FollowUp, LogContact) => Some(FollowUp),
        (FirstCall | FollowUp, Resolve) => Some(Resolved),
        (New | FirstCall | FollowUp, Close) => Some(Closed),
        (Resolved | Closed, Reopen) => Some(FollowUp),
        _ => None,
    }
}

/// The actions allowed from `state`, with where each leads.
pub fn allowed_from(state: State) -> Vec<(Action, State)> {
    Action::ALL
        .into_iter()
        .filter_map(|action| next_state(state, action).map(|to| (action, to)))
        .collect()
}

/// Who may change a ticket: leads and admins any ticket; an agent only tickets assigned
/// to them (and may take an unassigned one, see [`may_assign`]).
pub fn may_work_on(role: Role, caller_id: UserId, assignee_id: Option<UserId>) -> bool {
    match role {
        Role::Lead | Role::Admin => true,
        Role::Agent => assignee_id == Some(caller_id),
    }
}

/// Who may set the assignee: leads and admins anyone (or nobody); an agent may only take
/// an unassigned ticket for themselves.
pub fn may_assign(
    role: Role,
    caller_id: UserId,
    current: Option<UserId>,
    new: Option<UserId>,
) -> bool {
    match role {
        Role::Lead | Role::Admin => true,
        Role::Agent => current.is_none() && new == Some(caller_id),
    }
}

/// Reopening a settled ticket is a lead's decision.
pub fn may_reopen(role: Role) -> bool {
    matches!(role, Role::Lead | Role::Admin)
}

/// Satisfaction is recorded once; only a lead may correct it afterwards.
pub fn may_record_satisfaction(
    role: Role,
    caller_id: UserId,
    assignee_id: Option<UserId>,
    already_recorded: bool,
) -> bool {
    match (role, already_recorded) {
        (Role::Lead | Role::Admin, _) => true,
        (Role::Agent, false) => assignee_id == Some(caller_id),
        (Role::Agent, true) => false,
    }
}

/// Hours before the first call is due, by kind, and after a contact attempt before the
/// next follow-up. Each default is written once, here; `Settings` flattens this in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct DeadlinePolicy {
    /// Hours until the first call is due on a negative-review ticket (halved for key and at-risk customers).
    #[arg(long, env = "FIRST_CALL_HOURS_NEGATIVE_REVIEW", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub first_call_hours_negative_review: u32,

    /// Hours until the first call is due on a return ticket.
    #[arg(long, env = "FIRST_CALL_HOURS_RETURN", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub first_call_hours_return: u32,

    /// Hours until the first call is due on a repair ticket.
    #[arg(long, env = "FIRST_CALL_HOURS_REPAIR", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub first_call_hours_repair: u32,

    /// Hours to the next follow-up after an attempt that did not reach the buyer.
    #[arg(long, env = "FOLLOW_UP_HOURS_UNREACHED", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub follow_up_hours_unreached: u32,

    /// Hours to the next follow-up after an attempt that reached the buyer.
    #[arg(long, env = "FOLLOW_UP_HOURS_REACHED", default_value_t = 72, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub follow_up_hours_reached: u32,
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        crate::defaults::defaults()
    }
}

/// Who gets a new ticket nobody was named for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AutoAssign {
    /// Nobody: it waits in the unassigned queue.
    Off,
    /// The active agent with the fewest open tickets.
    #[value(alias = "least_loaded")]
    LeastLoaded,
}

/// The ticket workflow's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct TicketSettings {
    #[command(flatten)]
    pub deadlines: DeadlinePolicy,

    /// Assignment of new tickets nobody was named for: `off`, or `least-loaded` (also
    /// spelled `least_loaded`: the active agent with the fewest open tickets).
    #[arg(long, env = "AUTO_ASSIGN", value_enum, default_value_t = AutoAssign::Off)]
    pub auto_assign: AutoAssign,
}

/// When the ticket next needs someone, for queues: the first-call deadline while new,
/// the next follow-up while in progress, or the platform's deadline when that comes
/// first; nothing once settled.
pub fn due_at(
    state: State,
    first_call_due_at: NaiveDateTime,
    next_follow_up_at: Option<NaiveDateTime>,
    platform_deadline_at: Option<NaiveDateTime>,
) -> Option<NaiveDateTime> {
    let ours = match state {
        State::New => Some(first_call_due_at),
        State::FirstCall | State::FollowUp => next_follow_up_at,
        State::Resolved | State::Closed => return None,
    };
    match (ours, platform_deadline_at) {
        (Some(ours), Some(platform)) => Some(ours.min(platform)),
        (ours, platform) => ours.or(platform),
    }
}

/// A platform deadline this close flags an open ticket.
pub const PLATFORM_DEADLINE_WARNING: Duration = Duration::hours(24);

/// The open ticket's platform deadline is near (or past).
pub fn platform_deadline_near(
    state: State,
    platform_deadline_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> bool {
    state.is_open()
        && platform_deadline_at.is_some_and(|deadline| deadline - now <= PLATFORM_DEADLINE_WARNING)
}

/// A ticket may wait on the buyer or the platform once someone has called: waiting is a
/// sub-status of the first-call and follow-up states, not a state of its own, so the
/// transition table above stays first call -> follow-up -> resolved. The next contact
/// attempt, resolving or closing ends the wait.
pub fn may_wait(state: State) -> bool {
    matches!(state, State::FirstCall | State::FollowUp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_allowed_transition() {
        use Action::*;
        use State::*;
        let allowed = [
            (New, LogContact, FirstCall),
            (FirstCall, LogContact, FollowUp),
            (FollowUp, LogContact, FollowUp),
            (FirstCall, Resolve, Resolved),
            (FollowUp, Resolve, Resolved),
            (New, Close, Closed),
            (FirstCall, Close, Closed),
            (FollowUp, Close, Closed),
            (Resolved, Reopen, FollowUp),
            (Closed, Reopen, FollowUp),
        ];
        for (from, action, to) in allowed {
            assert_eq!(
                next_state(from, action),
                Some(to),
                "{from:?} --{action:?}-->"
            );
        }
        // Everything else is forbidden.
        let mut forbidden = 0;
        for from in State::ALL {
            for action in Action::ALL {
                if !allowed.iter().any(|(f, a, _)| *f == from && *a == action) {
                    assert_eq!(next_state(from, action), None, "{from:?} --{action:?}-->");
                    forbidden += 1;
                }
            }
        }
        assert_eq!(forbidden, 10);
    }

    #[test]
    fn a_new_ticket_cannot_be_resolved_before_a_first_call() {
        assert_eq!(next_state(State::New, Action::Resolve), None);
        assert_eq!(
            allowed_from(State::New),
            [
                (Action::LogContact, State::FirstCall),
                (Action::Close, State::Closed)
            ]
        );
        assert_eq!(
            allowed_from(State::Resolved),
            [(Action::Reopen, State::FollowUp)]
        );
    }

    #[test]
    fn agents_work_their_own_tickets_leads_any() {
        assert!(may_work_on(Role::Agent, UserId(7), Some(UserId(7))));
        assert!(!may_work_on(Role::Agent, UserId(7), Some(UserId(8))));
        assert!(!may_work_on(Role::Agent, UserId(7), None));
        assert!(may_work_on(Role::Lead, UserId(7), Some(UserId(8))));
        assert!(may_work_on(Role::Admin, UserId(7), None));
    }

    #[test]
    fn agents_only_take_unassigned_tickets_for_themselves() {
        assert!(may_assign(Role::Agent, UserId(7), None, Some(UserId(7))));
        assert!(!may_assign(Role::Agent, UserId(7), None, Some(UserId(8))));
        assert!(!may_assign(
            Role::Agent,
            UserId(7),
            Some(UserId(8)),
            Some(UserId(7))
        ));
        assert!(!may_assign(Role::Agent, UserId(7), Some(UserId(7)), None));
        assert!(may_assign(
            Role::Lead,
            UserId(7),
            Some(UserId(8)),
            Some(UserId(9))
        ));
        assert!(may_assign(Role::Lead, UserId(7), Some(UserId(8)), None));
        assert!(!may_reopen(Role::Agent));
        assert!(may_reopen(Role::Lead));
    }

    #[test]
    fn satisfaction_is_recorded_once_and_corrected_by_leads() {
        assert!(may_record_satisfaction(
            Role::Agent,
            UserId(7),
            Some(UserId(7)),
            false
        ));
        assert!(!may_record_satisfaction(
            Role::Agent,
            UserId(7),
            Some(UserId(7)),
            true
        ));
        assert!(!may_record_satisfaction(
            Role::Agent,
            UserId(7),
            Some(UserId(8)),
            false
        ));
        assert!(may_record_satisfaction(
            Role::Lead,
            UserId(7),
            Some(UserId(8)),
            true
        ));
    }

    #[test]
    fn due_time_tracks_the_state() {
        let t = NaiveDateTime::parse_from_str("2026-11-23 10:00", "%Y-%m-%d %H:%M").unwrap();
        let later = t + Duration::hours(5);
        assert_eq!(due_at(State::New, t, Some(later), None), Some(t));
        assert_eq!(due_at(State::FollowUp, t, Some(later), None), Some(later));
        assert_eq!(due_at(State::Resolved, t, Some(later), None), None);
        // The platform's deadline comes first when it is sooner.
        let sooner = t - Duration::hours(1);
        assert_eq!(due_at(State::New, t, None, Some(sooner)), Some(sooner));
        assert_eq!(
            due_at(
                State::FollowUp,
                t,
                Some(later),
                Some(later + Duration::hours(1))
            ),
            Some(later)
        );
        assert_eq!(due_at(State::FollowUp, t, None, Some(later)), Some(later));
        assert_eq!(due_at(State::Closed, t, None, Some(later)), None);
        assert!(platform_deadline_near(
            State::FollowUp,
            Some(t + Duration::hours(23)),
            t
        ));
        assert!(!platform_deadline_near(
            State::FollowUp,
            Some(t + Duration::hours(25)),
            t
        ));
        assert!(!platform_deadline_near(State::Resolved, Some(t), t));
        assert!(may_wait(State::FollowUp) && may_wait(State::FirstCall));
        assert!(!may_wait(State::New) && !may_wait(State::Resolved));
    }
}
