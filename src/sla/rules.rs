//! A shop's service levels as deadlines are computed from them: its calendar and its
//! policies, validated. Pure.

use chrono::{NaiveDateTime, TimeDelta};

use super::ClockKind;
use super::calendar::{self, Calendar, CalendarDoc, Clock, Pause};
use super::policy::{Policies, Target};
use crate::tickets::workflow::DeadlinePolicy;

/// A shop's service levels, validated: what deadlines are computed from.
#[derive(Debug, Clone)]
pub struct Sla {
    pub calendar: Calendar,
    pub policies: Policies,
}

impl Sla {
    /// A shop that set nothing: around the clock, today's deadline settings.
    pub fn defaults(deadlines: &DeadlinePolicy) -> Sla {
        Sla {
            calendar: Calendar::from_doc(&CalendarDoc::default())
                .expect("the default calendar is valid"),
            policies: Policies::from_settings(deadlines),
        }
    }

    fn clock(&self, kind: ClockKind) -> Clock<'_> {
        match kind {
            ClockKind::Business => Clock::Business(&self.calendar),
            ClockKind::Calendar => Clock::Calendar,
        }
    }

    /// When `target`, started at `start`, is due, its clock stopped during `waits`;
    /// `None` while a wait is open (the clock is stopped).
    pub fn due(
        &self,
        target: Target,
        start: NaiveDateTime,
        waits: &[Pause],
    ) -> Option<NaiveDateTime> {
        calendar::due_at(
            &self.clock(target.clock),
            start.and_utc(),
            i64::from(target.minutes) * 60,
            waits,
        )
        .map(|at| at.naive_utc())
    }

    /// When `target`, started at `start` with no wait, is due. A business clock whose
    /// calendar holds no working time for years counts calendar time instead.
    pub fn due_from(&self, target: Target, start: NaiveDateTime) -> NaiveDateTime {
        self.due(target, start, &[])
            .unwrap_or_else(|| start + TimeDelta::minutes(i64::from(target.minutes)))
    }

    /// The time `target`'s clock counted between `start` and `end` (seconds).
    pub fn counted(
        &self,
        clock: ClockKind,
        start: NaiveDateTime,
        end: NaiveDateTime,
        waits: &[Pause],
    ) -> i64 {
        calendar::elapsed(&self.clock(clock), start.and_utc(), end.and_utc(), waits)
    }

    /// A target is "about to breach" this long before it is due.
    pub fn warning(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.policies.about_to_breach_minutes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::{Priority, TicketKind};

    /// With nothing set, deadlines are today's: calendar hours from the settings, half
    /// the time for key and at-risk buyers.
    #[test]
    fn the_defaults_keep_todays_deadlines() {
        let sla = Sla::defaults(&DeadlinePolicy::default());
        let t0 = NaiveDateTime::parse_from_str("2026-11-23 23:10", "%Y-%m-%d %H:%M").unwrap();
        let hours = |t: Option<NaiveDateTime>| (t.unwrap() - t0).num_minutes() as f64 / 60.0;
        let due = |kind, key| {
            let targets = sla.policies.targets(kind, Priority::Normal, key);
            sla.due(targets.first_call, t0, &[])
        };
        assert_eq!(hours(due(TicketKind::NegativeReview, false)), 2.0);
        assert_eq!(hours(due(TicketKind::Return, false)), 4.0);
        assert_eq!(hours(due(TicketKind::Repair, false)), 8.0);
        assert_eq!(hours(due(TicketKind::NegativeReview, true)), 1.0);
        let targets = sla
            .policies
            .targets(TicketKind::Repair, Priority::Normal, false);
        assert_eq!(hours(sla.due(targets.follow_up_unreached, t0, &[])), 24.0);
        assert_eq!(hours(sla.due(targets.follow_up_reached, t0, &[])), 72.0);
        assert_eq!(
            sla.counted(ClockKind::Calendar, t0, t0 + TimeDelta::hours(3), &[]),
            3 * 3600
        );
    }
}
