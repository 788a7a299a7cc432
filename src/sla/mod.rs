//! Service levels that match a shop's working day: a calendar of business hours
//! ([`calendar`]: the time arithmetic, pure), targets by ticket kind and priority on
//! business or calendar hours ([`policy`]), both combined in [`rules::Sla`]; the targets each
//! ticket was held to, recorded as they are met or breached, and the settings' storage
//! ([`store`]); the sweep that finds breaches and escalates ([`operations`]).
//!
//! # Definition of working time
//!
//! An instant is *working time* iff its local wall-clock time, in the calendar's time zone,
//! lies inside an interval `[start, end)` of the day that owns the interval.
//!
//! - The owning day of an interval is the local date on which it starts. An overnight
//!   interval (`end` < `start`, e.g. 22:00-02:00) owned by day D covers D `start`..24:00 and
//!   D+1 00:00..`end`: a Friday night shift runs into Saturday even if Saturday is off.
//! - A day's intervals are: none if the date is a holiday; those of the make-up day's
//!   `hours_of` weekday if it is a make-up day; otherwise those of its own weekday.
//! - Daylight saving time: local times that do not exist (the hour skipped when clocks
//!   spring forward) are not working time; local times that occur twice (clocks fall back)
//!   are working time both times, since both are real elapsed time. An interval 01:00-04:00
//!   in Europe/Berlin lasts 2 hours on the night of 29 March 2026 and 4 on 25 October 2026.
//! - Business time is measured in real elapsed seconds of working time.
//!
//! A target of `s` seconds started at `t` is due at the first instant `u >= t` such that
//! `s` seconds of counted time (working, and not inside a pause) lie in `[t, u)`: if `t` is
//! outside working time the clock starts at the next working instant, and a target that is
//! used up exactly at the end of a working interval is due at that end, not at the start of
//! the next one. A target of 0 seconds is due at `t`.
//!
//! The default calendar (Asia/Shanghai, every day 00:00-24:00) counts every instant, so it
//! reproduces calendar hours: due = start + target.

pub mod calendar;
pub mod operations;
pub mod policy;
pub mod routes;
pub mod rules;
pub mod store;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::text_enum;
use crate::ids::ShopId;

text_enum! {
    /// How a target's clock runs.
    pub enum ClockKind {
        /// Only the shop calendar's working hours count.
        Business = "business",
        /// Every hour counts (e.g. negative reviews answered around the clock).
        Calendar = "calendar",
    }
}

text_enum! {
    /// What a ticket is held to.
    pub enum TargetKind {
        /// From opening to the first contact attempt.
        FirstCall = "first_call",
        /// From a contact attempt to the next.
        FollowUp = "follow_up",
        /// From opening (or reopening) to resolution, waits left out.
        Resolution = "resolution",
    }
}

/// Where an open ticket stands against its targets (the ticket list's `sla` filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaStanding {
    /// A target is still pending and due within the policies' warning.
    AboutToBreach,
    /// A target was breached (met late or not at all).
    Breached,
    /// A breach escalated it.
    Escalated,
}

/// A row of `ticket_targets`: one target a ticket was held to, as recorded.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::ticket_targets)]
pub struct TicketTarget {
    pub id: i64,
    pub shop_id: ShopId,
    pub ticket_id: i64,
    pub target: TargetKind,
    pub clock: ClockKind,
    pub minutes: i32,
    pub started_at: NaiveDateTime,
    pub due_at: Option<NaiveDateTime>,
    pub met_at: Option<NaiveDateTime>,
    pub breached_at: Option<NaiveDateTime>,
    pub warned_at: Option<NaiveDateTime>,
    pub escalated_at: Option<NaiveDateTime>,
    pub dropped_at: Option<NaiveDateTime>,
    pub counted_seconds: Option<i64>,
    pub agent_id: Option<i64>,
}
