//! Service levels: how long a ticket may wait, counted in working time.
//!
//! [`calendar`] is the time arithmetic (pure functions, no database, no HTTP): a shop's
//! working hours in its time zone, with public holidays and make-up working days, and the
//! functions that say when a target is due and how much of a stretch counted.
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
