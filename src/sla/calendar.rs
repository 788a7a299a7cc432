//! Working-hours calendars and the time arithmetic on them (definition in [`crate::sla`]).
//!
//! [`CalendarDoc`] is the wire form admins send; [`Calendar::from_doc`] validates it into a
//! [`Calendar`], the form the arithmetic runs on. [`due_at`] and [`elapsed`] apply a
//! [`Clock`] (calendar hours or a business calendar) with [`Pause`]s.
//!
//! # How it is computed
//!
//! UTC time is walked in stretches of constant UTC offset (found with chrono-tz: the offset
//! is sampled every [`OFFSET_PROBE_HOURS`] hours and a change is pinned down by bisection).
//! Within such a stretch local wall time is UTC time plus a fixed offset, so the working
//! ranges are the day-owned wall-clock intervals shifted back by that offset: skipped local
//! times are never reached and repeated ones are reached twice, exactly as the definition
//! says. The cost is a few look-ups per day walked, never per minute. The one assumption is
//! that a zone never changes its offset twice within [`OFFSET_PROBE_HOURS`] hours and back
//! to where it was, which holds for every zone in the tz database in modern times.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::error::FieldError;

/// The time zone of the default calendar.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";
/// At most this many intervals per weekday.
pub const MAX_INTERVALS_PER_DAY: usize = 8;
/// At most this many holidays.
pub const MAX_HOLIDAYS: usize = 1000;
/// At most this many make-up days.
pub const MAX_MAKE_UP_DAYS: usize = 1000;
/// How far ahead a due time is looked for before giving up (about 3 years).
pub const HORIZON_DAYS: i64 = 3 * 366;
/// How often the UTC offset is sampled while walking (see the module doc).
pub const OFFSET_PROBE_HOURS: i64 = 6;

const MINUTES_PER_DAY: u16 = 24 * 60;
const MINUTES_PER_WEEK: u32 = 7 * 24 * 60;
/// Nanoseconds per second: instants are handled as i128 nanoseconds since the Unix epoch.
const NS: i128 = 1_000_000_000;
const DAY_NS: i128 = 86_400 * NS;
const HORIZON_NS: i128 = HORIZON_DAYS as i128 * DAY_NS;
const PROBE_NS: i128 = OFFSET_PROBE_HOURS as i128 * 3600 * NS;
/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const EPOCH_DAYS_FROM_CE: i64 = 719_163;

// ---------------------------------------------------------------------------------------
// Wire form
// ---------------------------------------------------------------------------------------

/// A business calendar as admins send it: working hours per weekday in a time zone, with
/// public holidays and make-up working days.
// `Validate` has no field rules: the whole calendar is checked by `Calendar::from_doc`,
// which the request body extractor's validation could not express.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct CalendarDoc {
    /// IANA time zone, e.g. "Asia/Shanghai" (the default), "Europe/Berlin".
    #[schema(example = "Asia/Shanghai")]
    pub time_zone: String,
    /// Working hours per weekday (keys monday..sunday), each a list of intervals.
    pub week: WeekDoc,
    /// Dates with no working hours (public holidays), e.g. "2026-10-01". At most 1000.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// Make-up working days (调休): a date, usually a weekend, worked with the hours of a
    /// weekday. At most 1000; a date may not also be a holiday.
    #[serde(default)]
    pub make_up_days: Vec<MakeUpDayDoc>,
}

/// Working hours per weekday. A missing weekday has no working hours.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeekDoc {
    /// Monday's intervals (at most 8, not overlapping).
    #[serde(default)]
    pub monday: Vec<IntervalDoc>,
    /// Tuesday's intervals (at most 8, not overlapping).
    #[serde(default)]
    pub tuesday: Vec<IntervalDoc>,
    /// Wednesday's intervals (at most 8, not overlapping).
    #[serde(default)]
    pub wednesday: Vec<IntervalDoc>,
    /// Thursday's intervals (at most 8, not overlapping).
    #[serde(default)]
    pub thursday: Vec<IntervalDoc>,
    /// Friday's intervals (at most 8, not overlapping).
    #[serde(default)]
    pub friday: Vec<IntervalDoc>,
    /// Saturday's intervals (at most 8, not overlapping).
    #[serde(default)]
    pub saturday: Vec<IntervalDoc>,
    /// Sunday's intervals (at most 8, not overlapping).
    #[serde(default)]
    pub sunday: Vec<IntervalDoc>,
}

/// A stretch of working hours in local wall-clock time, `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntervalDoc {
    /// Local start time, "HH:MM" (00:00 to 23:59).
    #[schema(example = "09:00", pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// Local end time, "HH:MM" (00:00 to 23:59, or "24:00" for midnight at the end of the
    /// day); an end before the start runs overnight into the next day, e.g. 22:00-02:00.
    #[schema(
        example = "18:00",
        pattern = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
    )]
    pub end: String,
}

impl IntervalDoc {
    pub fn new(start: &str, end: &str) -> Self {
        IntervalDoc {
            start: start.to_owned(),
            end: end.to_owned(),
        }
    }
}

/// A make-up working day (调休).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MakeUpDayDoc {
    /// The date worked, e.g. "2026-09-20".
    pub date: NaiveDate,
    /// The weekday whose working hours apply on that date (default monday).
    #[serde(default)]
    pub hours_of: WeekdayName,
}

/// A weekday, as named on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WeekdayName {
    #[default]
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl WeekdayName {
    /// Monday first, as chrono's `Weekday::num_days_from_monday` counts.
    pub const ALL: [WeekdayName; 7] = [
        WeekdayName::Monday,
        WeekdayName::Tuesday,
        WeekdayName::Wednesday,
        WeekdayName::Thursday,
        WeekdayName::Friday,
        WeekdayName::Saturday,
        WeekdayName::Sunday,
    ];

    /// The wire name, e.g. "monday".
    pub fn as_str(self) -> &'static str {
        match self {
            WeekdayName::Monday => "monday",
            WeekdayName::Tuesday => "tuesday",
            WeekdayName::Wednesday => "wednesday",
            WeekdayName::Thursday => "thursday",
            WeekdayName::Friday => "friday",
            WeekdayName::Saturday => "saturday",
            WeekdayName::Sunday => "sunday",
        }
    }

    /// 0 for Monday .. 6 for Sunday.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl From<Weekday> for WeekdayName {
    fn from(day: Weekday) -> Self {
        WeekdayName::ALL[day.num_days_from_monday() as usize]
    }
}

impl From<WeekdayName> for Weekday {
    fn from(day: WeekdayName) -> Self {
        match day {
            WeekdayName::Monday => Weekday::Mon,
            WeekdayName::Tuesday => Weekday::Tue,
            WeekdayName::Wednesday => Weekday::Wed,
            WeekdayName::Thursday => Weekday::Thu,
            WeekdayName::Friday => Weekday::Fri,
            WeekdayName::Saturday => Weekday::Sat,
            WeekdayName::Sunday => Weekday::Sun,
        }
    }
}

impl WeekDoc {
    /// The same intervals on every weekday.
    pub fn every_day(intervals: &[IntervalDoc]) -> Self {
        WeekDoc {
            monday: intervals.to_vec(),
            tuesday: intervals.to_vec(),
            wednesday: intervals.to_vec(),
            thursday: intervals.to_vec(),
            friday: intervals.to_vec(),
            saturday: intervals.to_vec(),
            sunday: intervals.to_vec(),
        }
    }

    /// The intervals of one weekday.
    pub fn day(&self, day: WeekdayName) -> &Vec<IntervalDoc> {
        match day {
            WeekdayName::Monday => &self.monday,
            WeekdayName::Tuesday => &self.tuesday,
            WeekdayName::Wednesday => &self.wednesday,
            WeekdayName::Thursday => &self.thursday,
            WeekdayName::Friday => &self.friday,
            WeekdayName::Saturday => &self.saturday,
            WeekdayName::Sunday => &self.sunday,
        }
    }

    /// The intervals of one weekday, to change.
    pub fn day_mut(&mut self, day: WeekdayName) -> &mut Vec<IntervalDoc> {
        match day {
            WeekdayName::Monday => &mut self.monday,
            WeekdayName::Tuesday => &mut self.tuesday,
            WeekdayName::Wednesday => &mut self.wednesday,
            WeekdayName::Thursday => &mut self.thursday,
            WeekdayName::Friday => &mut self.friday,
            WeekdayName::Saturday => &mut self.saturday,
            WeekdayName::Sunday => &mut self.sunday,
        }
    }
}

/// The default reproduces calendar hours: Asia/Shanghai, every day 00:00-24:00, no holidays.
impl Default for CalendarDoc {
    fn default() -> Self {
        CalendarDoc {
            time_zone: DEFAULT_TIME_ZONE.to_owned(),
            week: WeekDoc::every_day(&[IntervalDoc::new("00:00", "24:00")]),
            holidays: Vec::new(),
            make_up_days: Vec::new(),
        }
    }
}

impl CalendarDoc {
    /// A typical shop's calendar, for documentation: Monday to Friday 09:00-12:00 and
    /// 13:30-21:00, Saturday 10:00-16:00, National Day 2026-10-01 off, and Sunday 2026-09-20
    /// worked with Monday's hours.
    pub fn example() -> Self {
        let weekday = vec![
            IntervalDoc::new("09:00", "12:00"),
            IntervalDoc::new("13:30", "21:00"),
        ];
        CalendarDoc {
            time_zone: DEFAULT_TIME_ZONE.to_owned(),
            week: WeekDoc {
                monday: weekday.clone(),
                tuesday: weekday.clone(),
                wednesday: weekday.clone(),
                thursday: weekday.clone(),
                friday: weekday,
                saturday: vec![IntervalDoc::new("10:00", "16:00")],
                sunday: Vec::new(),
            },
            holidays: vec![NaiveDate::from_ymd_opt(2026, 10, 1).expect("valid date")],
            make_up_days: vec![MakeUpDayDoc {
                date: NaiveDate::from_ymd_opt(2026, 9, 20).expect("valid date"),
                hours_of: WeekdayName::Monday,
            }],
        }
    }
}

// ---------------------------------------------------------------------------------------
// Validated form
// ---------------------------------------------------------------------------------------

/// One interval of a weekday, in minutes after local midnight: `start` 0..1440, `end`
/// 0..=1440, `end < start` meaning overnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u16,
    end: u16,
}

impl Span {
    /// Its length in minutes (1..=1440).
    fn minutes(self) -> u16 {
        if self.end > self.start {
            self.end - self.start
        } else {
            MINUTES_PER_DAY - self.start + self.end
        }
    }

    fn to_doc(self) -> IntervalDoc {
        IntervalDoc {
            start: format_hhmm(self.start),
            end: format_hhmm(self.end),
        }
    }
}

/// A validated business calendar, ready for the arithmetic. Built by [`Calendar::from_doc`].
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: Tz,
    /// Per weekday (Monday first), in the order given.
    week: [Vec<Span>; 7],
    /// Per weekday, `(start, length)` in seconds after local midnight, sorted by start.
    owned: [Vec<(i64, i64)>; 7],
    /// In the order given.
    holidays: Vec<NaiveDate>,
    make_up_days: Vec<MakeUpDayDoc>,
    /// Days since 1970-01-01, sorted.
    holiday_days: Vec<i64>,
    /// (days since 1970-01-01, weekday index), sorted.
    make_up: Vec<(i64, usize)>,
}

impl Default for Calendar {
    /// Calendar hours: see [`CalendarDoc::default`].
    fn default() -> Self {
        Calendar::from_doc(&CalendarDoc::default()).expect("the default calendar is valid")
    }
}

impl Calendar {
    /// Validates a calendar. Every problem found is reported, each with the path of the
    /// offending field, e.g. `time_zone`, `week.monday[1].end`, `holidays[3]`,
    /// `make_up_days[0].date`.
    pub fn from_doc(doc: &CalendarDoc) -> Result<Calendar, Vec<FieldError>> {
        let mut errors = Vec::new();

        let tz = match Tz::from_str(&doc.time_zone) {
            Ok(tz) => Some(tz),
            Err(_) => {
                errors.push(FieldError::new(
                    "time_zone",
                    format!("unknown IANA time zone {:?}", doc.time_zone),
                ));
                None
            }
        };

        let week = validate_week(&doc.week, &mut errors);

        if doc.holidays.len() > MAX_HOLIDAYS {
            errors.push(FieldError::new(
                "holidays",
                format!("at most {MAX_HOLIDAYS} holidays"),
            ));
        }
        let mut holiday_index: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for (i, date) in doc.holidays.iter().enumerate() {
            if let Some(first) = holiday_index.get(date) {
                errors.push(FieldError::new(
                    format!("holidays[{i}]"),
                    format!("{date} is listed twice (also holidays[{first}])"),
                ));
            } else {
                holiday_index.insert(*date, i);
            }
        }

        if doc.make_up_days.len() > MAX_MAKE_UP_DAYS {
            errors.push(FieldError::new(
                "make_up_days",
                format!("at most {MAX_MAKE_UP_DAYS} make-up days"),
            ));
        }
        let mut make_up_index: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for (i, day) in doc.make_up_days.iter().enumerate() {
            let field = format!("make_up_days[{i}].date");
            if let Some(first) = make_up_index.get(&day.date) {
                errors.push(FieldError::new(
                    field,
                    format!("{} is listed twice (also make_up_days[{first}])", day.date),
                ));
            } else if let Some(holiday) = holiday_index.get(&day.date) {
                errors.push(FieldError::new(
                    field,
                    format!(
                        "{} is also a holiday (holidays[{holiday}]): a date is worked or not",
                        day.date
                    ),
                ));
            } else {
                make_up_index.insert(day.date, i);
            }
        }

        let (Some(tz), Some(week)) = (tz, week) else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }

        let owned = std::array::from_fn(|day| {
            let mut spans: Vec<(i64, i64)> = week[day]
                .iter()
                .map(|span: &Span| (i64::from(span.start) * 60, i64::from(span.minutes()) * 60))
                .collect();
            spans.sort_unstable();
            spans
        });
        let holiday_days = holiday_index.keys().map(|date| epoch_day(*date)).collect();
        let make_up = make_up_index
            .keys()
            .map(|date| {
                let hours_of = doc.make_up_days[make_up_index[date]].hours_of;
                (epoch_day(*date), hours_of.index())
            })
            .collect();
        Ok(Calendar {
            tz,
            week,
            owned,
            holidays: doc.holidays.clone(),
            make_up_days: doc.make_up_days.clone(),
            holiday_days,
            make_up,
        })
    }

    /// The wire form back: `Calendar::from_doc(&doc)?.to_doc() == doc`.
    pub fn to_doc(&self) -> CalendarDoc {
        let mut week = WeekDoc::default();
        for day in WeekdayName::ALL {
            *week.day_mut(day) = self.week[day.index()]
                .iter()
                .map(|span| span.to_doc())
                .collect();
        }
        CalendarDoc {
            time_zone: self.tz.name().to_owned(),
            week,
            holidays: self.holidays.clone(),
            make_up_days: self.make_up_days.clone(),
        }
    }

    /// The calendar's time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The instant at which `seconds` of working time have elapsed after `start`
    /// (if `start` is outside working time, the clock starts at the next working instant).
    /// `None` only if that is more than ~3 years ([`HORIZON_DAYS`]) away (guards against
    /// calendars whose holidays leave no working time). `seconds <= 0` is due at `start`.
    pub fn add_working(&self, start: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        due_at(&Clock::Business(self), start, seconds, &[])
    }

    /// Working seconds in `[from, to)` (0 if `to <= from`), rounded down to whole seconds.
    /// The cost grows with the number of days between the two.
    pub fn working_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let mut total: i128 = 0;
        let _ = self.for_each_working(to_ns(from), to_ns(to), &mut |a, b| {
            total += b - a;
            ControlFlow::Continue(())
        });
        ns_to_secs(total)
    }

    /// Is `at` working time?
    pub fn is_working(&self, at: DateTime<Utc>) -> bool {
        let at = to_ns(at);
        let wall = at + self.offset_ns(at);
        let day = wall.div_euclid(DAY_NS) as i64;
        [day - 1, day].into_iter().any(|owner| {
            let base = i128::from(owner) * DAY_NS;
            self.day_spans(owner).iter().any(|&(start, length)| {
                let start = base + i128::from(start) * NS;
                start <= wall && wall < start + i128::from(length) * NS
            })
        })
    }

    /// The intervals owned by a day (days since 1970-01-01) as `(start, length)` in seconds
    /// after its local midnight, sorted by start.
    fn day_spans(&self, day: i64) -> &[(i64, i64)] {
        if self.holiday_days.binary_search(&day).is_ok() {
            return &[];
        }
        if let Ok(i) = self.make_up.binary_search_by_key(&day, |&(date, _)| date) {
            return &self.owned[self.make_up[i].1];
        }
        // 1970-01-01 was a Thursday (Monday = 0).
        &self.owned[(day + 3).rem_euclid(7) as usize]
    }

    /// UTC offset (local minus UTC) at a UTC instant, in nanoseconds.
    fn offset_ns(&self, at: i128) -> i128 {
        let at = at.clamp(
            to_ns(DateTime::<Utc>::MIN_UTC),
            to_ns(DateTime::<Utc>::MAX_UTC),
        );
        let utc = from_ns(at).expect("clamped into range").naive_utc();
        i128::from(
            self.tz
                .offset_from_utc_datetime(&utc)
                .fix()
                .local_minus_utc(),
        ) * NS
    }

    /// Calls `f` with the working time in `[from, to)` as ranges of UTC nanoseconds, in
    /// order and not overlapping (they may touch), until `f` breaks.
    fn for_each_working(
        &self,
        from: i128,
        to: i128,
        f: &mut impl FnMut(i128, i128) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let mut pos = from;
        let mut offset = self.offset_ns(pos);
        while pos < to {
            let probe = (pos + PROBE_NS).min(to);
            let probe_offset = self.offset_ns(probe);
            let (stretch_end, next_offset) = if probe_offset == offset {
                (probe, offset)
            } else {
                // The first instant in (pos, probe] with another offset.
                let (mut same, mut changed) = (pos, probe);
                while changed - same > 1 {
                    let mid = same + (changed - same) / 2;
                    if self.offset_ns(mid) == offset {
                        same = mid;
                    } else {
                        changed = mid;
                    }
                }
                (changed, self.offset_ns(changed))
            };
            self.for_each_in_stretch(pos, stretch_end, offset, f)?;
            pos = stretch_end;
            offset = next_offset;
        }
        ControlFlow::Continue(())
    }

    /// [`Self::for_each_working`] within `[from, to)`, over which the UTC offset is `offset`.
    fn for_each_in_stretch(
        &self,
        from: i128,
        to: i128,
        offset: i128,
        f: &mut impl FnMut(i128, i128) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let (wall_from, wall_to) = (from + offset, to + offset);
        // The day before owns overnight intervals reaching into the first day.
        let first_day = wall_from.div_euclid(DAY_NS) as i64 - 1;
        let last_day = (wall_to - 1).div_euclid(DAY_NS) as i64;
        // Wall ranges come sorted by start (each day's lie after the previous day's starts);
        // they are merged where they overlap (an overnight tail over a make-up day's hours).
        let mut pending: Option<(i128, i128)> = None;
        for day in first_day..=last_day {
            let base = i128::from(day) * DAY_NS;
            for &(start, length) in self.day_spans(day) {
                let start = base + i128::from(start) * NS;
                let end = start + i128::from(length) * NS;
                let (start, end) = (start.max(wall_from), end.min(wall_to));
                if start >= end {
                    continue;
                }
                pending = match pending {
                    Some((open, close)) if start <= close => Some((open, close.max(end))),
                    Some((open, close)) => {
                        f(open - offset, close - offset)?;
                        Some((start, end))
                    }
                    None => Some((start, end)),
                };
            }
        }
        if let Some((open, close)) = pending {
            f(open - offset, close - offset)?;
        }
        ControlFlow::Continue(())
    }
}

fn validate_week(week: &WeekDoc, errors: &mut Vec<FieldError>) -> Option<[Vec<Span>; 7]> {
    let errors_before = errors.len();
    let mut spans: [Vec<Span>; 7] = Default::default();
    // (minute of the week it starts, length, field), in document order.
    let mut placed: Vec<(u32, u32, String)> = Vec::new();
    let mut any = false;
    for day in WeekdayName::ALL {
        let intervals = week.day(day);
        let name = day.as_str();
        any |= !intervals.is_empty();
        if intervals.len() > MAX_INTERVALS_PER_DAY {
            errors.push(FieldError::new(
                format!("week.{name}"),
                format!("at most {MAX_INTERVALS_PER_DAY} intervals per day"),
            ));
        }
        for (i, interval) in intervals.iter().enumerate() {
            let field = format!("week.{name}[{i}]");
            let start = parse_hhmm(&interval.start, false);
            let end = parse_hhmm(&interval.end, true);
            if start.is_none() {
                errors.push(FieldError::new(
                    format!("{field}.start"),
                    format!("{:?} is not a time HH:MM (00:00 to 23:59)", interval.start),
                ));
            }
            if end.is_none() {
                errors.push(FieldError::new(
                    format!("{field}.end"),
                    format!(
                        "{:?} is not a time HH:MM (00:00 to 23:59, or 24:00)",
                        interval.end
                    ),
                ));
            }
            let (Some(start), Some(end)) = (start, end) else {
                continue;
            };
            if start == end {
                errors.push(FieldError::new(
                    format!("{field}.end"),
                    "an interval may not be empty: end equals start",
                ));
                continue;
            }
            let span = Span { start, end };
            let week_start = day.index() as u32 * u32::from(MINUTES_PER_DAY) + u32::from(start);
            let length = u32::from(span.minutes());
            if let Some((_, _, other)) = placed.iter().find(|(other_start, other_length, _)| {
                overlap_in_week(*other_start, *other_length, week_start, length)
            }) {
                errors.push(FieldError::new(
                    field,
                    format!(
                        "{}-{} overlaps {other}",
                        format_hhmm(start),
                        format_hhmm(end)
                    ),
                ));
            } else {
                placed.push((week_start, length, field));
            }
            spans[day.index()].push(span);
        }
    }
    if !any {
        errors.push(FieldError::new(
            "week",
            "no working hours on any weekday: deadlines would never arrive",
        ));
    }
    (errors.len() == errors_before).then_some(spans)
}

/// Do `[a, a + a_length)` and `[b, b + b_length)`, minutes of a repeating week, overlap?
fn overlap_in_week(a: u32, a_length: u32, b: u32, b_length: u32) -> bool {
    (b + MINUTES_PER_WEEK - a) % MINUTES_PER_WEEK < a_length
        || (a + MINUTES_PER_WEEK - b) % MINUTES_PER_WEEK < b_length
}

/// "HH:MM" to minutes after midnight; "24:00" only if `end`.
fn parse_hhmm(text: &str, end: bool) -> Option<u16> {
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return None;
    }
    let digits = [bytes[0], bytes[1], bytes[3], bytes[4]];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let [h1, h2, m1, m2] = digits.map(|digit| u16::from(digit - b'0'));
    let (hours, minutes) = (h1 * 10 + h2, m1 * 10 + m2);
    if hours <= 23 && minutes <= 59 {
        Some(hours * 60 + minutes)
    } else if end && hours == 24 && minutes == 0 {
        Some(MINUTES_PER_DAY)
    } else {
        None
    }
}

fn format_hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn epoch_day(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - EPOCH_DAYS_FROM_CE
}

fn to_ns(at: DateTime<Utc>) -> i128 {
    i128::from(at.timestamp()) * NS + i128::from(at.timestamp_subsec_nanos())
}

fn from_ns(ns: i128) -> Option<DateTime<Utc>> {
    let seconds = i64::try_from(ns.div_euclid(NS)).ok()?;
    DateTime::from_timestamp(seconds, ns.rem_euclid(NS) as u32)
}

fn ns_to_secs(ns: i128) -> i64 {
    i64::try_from(ns / NS).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------
// Clocks and pauses
// ---------------------------------------------------------------------------------------

/// How a target's clock runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clock<'a> {
    /// Every hour counts.
    Calendar,
    /// Only the calendar's working time counts.
    Business(&'a Calendar),
}

/// A stretch during which the clock is stopped (waiting on the buyer/platform).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub from: DateTime<Utc>,
    /// `None`: still paused.
    pub until: Option<DateTime<Utc>>,
}

impl Clock<'_> {
    /// Calls `f` with the clock's running time (before pauses) in `[from, to)`.
    fn for_each_running(
        &self,
        from: i128,
        to: i128,
        f: &mut impl FnMut(i128, i128) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        match self {
            Clock::Calendar if from < to => f(from, to),
            Clock::Calendar => ControlFlow::Continue(()),
            Clock::Business(calendar) => calendar.for_each_working(from, to, f),
        }
    }
}

/// Pauses as sorted, disjoint `[from, until)` nanosecond ranges; an open pause runs to
/// `i128::MAX`. Empty and backwards pauses are dropped.
fn merge_pauses(pauses: &[Pause]) -> Vec<(i128, i128)> {
    let mut ranges: Vec<(i128, i128)> = pauses
        .iter()
        .map(|pause| (to_ns(pause.from), pause.until.map_or(i128::MAX, to_ns)))
        .filter(|(from, until)| from < until)
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(i128, i128)> = Vec::with_capacity(ranges.len());
    for (from, until) in ranges {
        match merged.last_mut() {
            Some((_, last_until)) if from <= *last_until => *last_until = (*last_until).max(until),
            _ => merged.push((from, until)),
        }
    }
    merged
}

/// Calls `f` with the parts of `[from, to)` outside `pauses` (sorted, disjoint). `next` is
/// the first pause that may still matter; ranges must come in order between calls.
fn for_each_unpaused(
    pauses: &[(i128, i128)],
    next: &mut usize,
    from: i128,
    to: i128,
    f: &mut impl FnMut(i128, i128) -> ControlFlow<()>,
) -> ControlFlow<()> {
    while *next < pauses.len() && pauses[*next].1 <= from {
        *next += 1;
    }
    let mut pos = from;
    for &(pause_from, pause_until) in &pauses[*next..] {
        if pause_from >= to {
            break;
        }
        if pos < pause_from {
            f(pos, pause_from)?;
        }
        pos = pos.max(pause_until);
        if pos >= to {
            return ControlFlow::Continue(());
        }
    }
    if pos < to {
        f(pos, to)?;
    }
    ControlFlow::Continue(())
}

/// When a target of `seconds` started at `start` is due, with the clock stopped during
/// `pauses` (they may overlap each other and start before `start`). `seconds <= 0` is due
/// at `start`.
///
/// `None` while an open pause stops the clock before the target is reached, and, on a
/// business clock, when the due time would lie more than ~3 years ([`HORIZON_DAYS`]) after
/// `start` or after the end of the last closed pause, whichever is later.
pub fn due_at(
    clock: &Clock,
    start: DateTime<Utc>,
    seconds: i64,
    pauses: &[Pause],
) -> Option<DateTime<Utc>> {
    if seconds <= 0 {
        return Some(start);
    }
    let start = to_ns(start);
    let target = i128::from(seconds) * NS;
    let pauses = merge_pauses(pauses);
    let open_from = pauses
        .last()
        .filter(|(_, until)| *until == i128::MAX)
        .map(|(from, _)| *from);
    let limit = match clock {
        Clock::Calendar => to_ns(DateTime::<Utc>::MAX_UTC),
        Clock::Business(_) => {
            let last_closed = pauses
                .iter()
                .filter(|(_, until)| *until != i128::MAX)
                .map(|(_, until)| *until)
                .max()
                .unwrap_or(start);
            start.max(last_closed) + HORIZON_NS
        }
    };
    let limit = open_from.map_or(limit, |open_from| limit.min(open_from));

    let mut counted: i128 = 0;
    let mut due = None;
    let mut next_pause = 0;
    let _ = clock.for_each_running(start, limit, &mut |from, to| {
        for_each_unpaused(&pauses, &mut next_pause, from, to, &mut |from, to| {
            if counted + (to - from) >= target {
                due = Some(from + (target - counted));
                return ControlFlow::Break(());
            }
            counted += to - from;
            ControlFlow::Continue(())
        })
    });
    due.and_then(from_ns)
}

/// Counted (working, unpaused) seconds in `[start, end)`, rounded down to whole seconds:
/// how long something took in business hours. 0 if `end <= start`.
pub fn elapsed(clock: &Clock, start: DateTime<Utc>, end: DateTime<Utc>, pauses: &[Pause]) -> i64 {
    let pauses = merge_pauses(pauses);
    let mut counted: i128 = 0;
    let mut next_pause = 0;
    let _ = clock.for_each_running(to_ns(start), to_ns(end), &mut |from, to| {
        for_each_unpaused(&pauses, &mut next_pause, from, to, &mut |from, to| {
            counted += to - from;
            ControlFlow::Continue(())
        })
    });
    ns_to_secs(counted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDateTime, Timelike};

    fn tz(name: &str) -> Tz {
        Tz::from_str(name).unwrap()
    }

    /// A local wall time that occurs exactly once, as UTC.
    fn local(zone: &str, text: &str) -> DateTime<Utc> {
        let wall = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        tz(zone)
            .from_local_datetime(&wall)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn hours(intervals: &[(&str, &str)]) -> Vec<IntervalDoc> {
        intervals
            .iter()
            .map(|(start, end)| IntervalDoc::new(start, end))
            .collect()
    }

    fn weekdays(intervals: &[(&str, &str)]) -> WeekDoc {
        WeekDoc {
            saturday: Vec::new(),
            sunday: Vec::new(),
            ..WeekDoc::every_day(&hours(intervals))
        }
    }

    fn cal_doc(zone: &str, week: WeekDoc) -> CalendarDoc {
        CalendarDoc {
            time_zone: zone.to_owned(),
            week,
            holidays: Vec::new(),
            make_up_days: Vec::new(),
        }
    }

    fn calendar(doc: &CalendarDoc) -> Calendar {
        Calendar::from_doc(doc).unwrap()
    }

    const SHANGHAI: &str = "Asia/Shanghai";
    const BERLIN: &str = "Europe/Berlin";
    const HOUR: i64 = 3600;

    // ---- the arithmetic, by example ------------------------------------------------------

    /// The README's worked example.
    #[test]
    fn friday_evening_ticket_waits_for_the_weekend_and_the_holiday() {
        let mut nine_to_six = cal_doc(SHANGHAI, weekdays(&[("09:00", "18:00")]));
        nine_to_six.holidays = vec![date("2026-12-07")];
        let nine_to_six = calendar(&nine_to_six);
        let opened = local(SHANGHAI, "2026-12-04 20:50");
        // Nothing counts until Tuesday 09:00 (Monday is a holiday).
        assert_eq!(
            nine_to_six.add_working(opened, 2 * HOUR),
            Some(local(SHANGHAI, "2026-12-08 11:00"))
        );

        // Opened 3 hours earlier, Friday's last 10 minutes count.
        let earlier = local(SHANGHAI, "2026-12-04 17:50");
        assert_eq!(
            nine_to_six.add_working(earlier, 2 * HOUR),
            Some(local(SHANGHAI, "2026-12-08 10:50"))
        );
        assert_eq!(
            nine_to_six.working_between(earlier, local(SHANGHAI, "2026-12-08 10:50")),
            2 * HOUR
        );
        assert_eq!(
            nine_to_six.working_between(opened, local(SHANGHAI, "2026-12-08 10:50")),
            HOUR + 50 * 60
        );
    }

    #[test]
    fn the_default_calendar_is_calendar_hours() {
        let default = Calendar::default();
        assert_eq!(default.to_doc(), CalendarDoc::default());
        for start in [
            utc("2026-12-04T12:50:00Z"),
            utc("2026-12-06T23:59:59.25Z"),
            utc("1988-04-10T17:30:00Z"), // Shanghai had DST from 1986 to 1991
            utc("1988-09-10T17:30:00Z"),
        ] {
            for seconds in [0, 1, 2 * HOUR, 26 * HOUR, 400 * 24 * HOUR] {
                let due = start + Duration::seconds(seconds);
                assert_eq!(default.add_working(start, seconds), Some(due));
                assert_eq!(due_at(&Clock::Calendar, start, seconds, &[]), Some(due));
                assert_eq!(default.working_between(start, due), seconds);
                assert!(default.is_working(due));
            }
        }
    }

    #[test]
    fn a_day_owns_its_overnight_interval() {
        // A night shift Monday to Friday: Friday's shift runs into Saturday morning.
        let nights = calendar(&cal_doc(SHANGHAI, weekdays(&[("22:00", "06:00")])));
        let friday = local(SHANGHAI, "2026-12-04 23:00");
        assert_eq!(
            nights.add_working(friday, 7 * HOUR),
            Some(local(SHANGHAI, "2026-12-05 06:00"))
        );
        // Sunday owns nothing, so Sunday night is off; Monday's shift starts at 22:00.
        assert_eq!(
            nights.add_working(friday, 8 * HOUR),
            Some(local(SHANGHAI, "2026-12-07 23:00"))
        );
        assert!(nights.is_working(local(SHANGHAI, "2026-12-05 05:59")));
        assert!(!nights.is_working(local(SHANGHAI, "2026-12-05 06:00")));
        assert!(!nights.is_working(local(SHANGHAI, "2026-12-07 05:00")));
        assert!(nights.is_working(local(SHANGHAI, "2026-12-08 05:00")));
        assert_eq!(
            nights.working_between(
                local(SHANGHAI, "2026-12-04 00:00"),
                local(SHANGHAI, "2026-12-11 00:00")
            ),
            // Thursday's tail on Friday, Friday's shift, Monday to Wednesday's shifts and
            // Thursday's head.
            6 * HOUR + 8 * HOUR + 3 * 8 * HOUR + 2 * HOUR
        );
    }

    #[test]
    fn a_make_up_saturday_is_worked_with_a_weekdays_hours() {
        let mut doc = cal_doc(SHANGHAI, weekdays(&[("09:00", "18:00")]));
        let without = calendar(&doc);
        doc.make_up_days = vec![MakeUpDayDoc {
            date: date("2026-09-26"),
            hours_of: WeekdayName::Friday,
        }];
        let with = calendar(&doc);
        let friday = local(SHANGHAI, "2026-09-25 17:00");
        assert_eq!(
            without.add_working(friday, 3 * HOUR),
            Some(local(SHANGHAI, "2026-09-28 11:00"))
        );
        assert_eq!(
            with.add_working(friday, 3 * HOUR),
            Some(local(SHANGHAI, "2026-09-26 11:00"))
        );
        assert!(with.is_working(local(SHANGHAI, "2026-09-26 09:00")));
        assert!(!with.is_working(local(SHANGHAI, "2026-10-03 09:00")));
    }

    #[test]
    fn a_holiday_has_no_hours_but_the_night_before_still_runs_into_it() {
        let mut doc = cal_doc(SHANGHAI, WeekDoc::every_day(&hours(&[("20:00", "02:00")])));
        doc.holidays = vec![date("2026-10-01")];
        let cal = calendar(&doc);
        assert!(cal.is_working(local(SHANGHAI, "2026-10-01 01:00")));
        assert!(!cal.is_working(local(SHANGHAI, "2026-10-01 21:00")));
        assert!(!cal.is_working(local(SHANGHAI, "2026-10-02 01:00")));
        assert!(cal.is_working(local(SHANGHAI, "2026-10-02 21:00")));
    }

    #[test]
    fn a_make_up_day_overlapping_the_night_before_counts_once() {
        // Friday 22:00-02:00 runs into a make-up Saturday worked with Monday's 00:00-08:00.
        let mut week = WeekDoc {
            monday: hours(&[("00:00", "08:00")]),
            ..WeekDoc::default()
        };
        week.friday = hours(&[("22:00", "02:00")]);
        let mut doc = cal_doc(SHANGHAI, week);
        doc.make_up_days = vec![MakeUpDayDoc {
            date: date("2026-12-05"),
            hours_of: WeekdayName::Monday,
        }];
        let cal = calendar(&doc);
        assert_eq!(
            cal.working_between(
                local(SHANGHAI, "2026-12-04 00:00"),
                local(SHANGHAI, "2026-12-06 00:00")
            ),
            10 * HOUR
        );
        assert_eq!(
            cal.add_working(local(SHANGHAI, "2026-12-04 23:00"), 9 * HOUR),
            Some(local(SHANGHAI, "2026-12-05 08:00"))
        );
    }

    #[test]
    fn a_target_used_up_at_the_end_of_the_day_is_due_then() {
        let cal = calendar(&cal_doc(SHANGHAI, weekdays(&[("09:00", "18:00")])));
        let monday = local(SHANGHAI, "2026-12-07 09:00");
        assert_eq!(
            cal.add_working(monday, 9 * HOUR),
            Some(local(SHANGHAI, "2026-12-07 18:00"))
        );
        assert_eq!(
            cal.add_working(monday, 9 * HOUR + 1),
            Some(local(SHANGHAI, "2026-12-08 09:00") + Duration::seconds(1))
        );
        // Zero (and negative) targets are due at once, even outside working hours.
        let night = local(SHANGHAI, "2026-12-07 23:00");
        assert_eq!(cal.add_working(night, 0), Some(night));
        assert_eq!(cal.add_working(night, -5), Some(night));
    }

    #[test]
    fn sub_second_starts_keep_their_fraction() {
        let cal = calendar(&cal_doc(SHANGHAI, weekdays(&[("09:00", "18:00")])));
        let start = local(SHANGHAI, "2026-12-07 10:00") + Duration::milliseconds(250);
        assert_eq!(
            cal.add_working(start, HOUR),
            Some(local(SHANGHAI, "2026-12-07 11:00") + Duration::milliseconds(250))
        );
        let night = local(SHANGHAI, "2026-12-07 20:00") + Duration::milliseconds(250);
        assert_eq!(
            cal.add_working(night, HOUR),
            Some(local(SHANGHAI, "2026-12-08 10:00"))
        );
    }

    #[test]
    fn a_pause_shifts_the_due_time_by_the_paused_working_time_only() {
        let cal = calendar(&cal_doc(SHANGHAI, weekdays(&[("09:00", "18:00")])));
        let clock = Clock::Business(&cal);
        let start = local(SHANGHAI, "2026-12-07 16:00");
        assert_eq!(
            due_at(&clock, start, 4 * HOUR, &[]),
            Some(local(SHANGHAI, "2026-12-08 11:00"))
        );
        // Paused from 17:00 to 08:00 the next morning: one working hour paused.
        let overnight = Pause {
            from: local(SHANGHAI, "2026-12-07 17:00"),
            until: Some(local(SHANGHAI, "2026-12-08 08:00")),
        };
        assert_eq!(
            due_at(&clock, start, 4 * HOUR, &[overnight]),
            Some(local(SHANGHAI, "2026-12-08 12:00"))
        );
        let counted = elapsed(
            &clock,
            start,
            local(SHANGHAI, "2026-12-08 12:00"),
            &[overnight],
        );
        assert_eq!(counted, 4 * HOUR);
        // Overlapping pauses, one from before the start, count once.
        let before = Pause {
            from: local(SHANGHAI, "2026-12-07 12:00"),
            until: Some(local(SHANGHAI, "2026-12-07 16:30")),
        };
        let inside = Pause {
            from: local(SHANGHAI, "2026-12-07 16:15"),
            until: Some(local(SHANGHAI, "2026-12-07 17:30")),
        };
        assert_eq!(
            due_at(&clock, start, 4 * HOUR, &[inside, overnight, before]),
            Some(local(SHANGHAI, "2026-12-08 13:00"))
        );
        // On calendar hours the whole pause counts.
        assert_eq!(
            due_at(&Clock::Calendar, start, 4 * HOUR, &[overnight]),
            Some(local(SHANGHAI, "2026-12-08 11:00"))
        );
        assert_eq!(
            elapsed(
                &Clock::Calendar,
                start,
                local(SHANGHAI, "2026-12-08 11:00"),
                &[overnight]
            ),
            4 * HOUR
        );
    }

    #[test]
    fn an_open_pause_stops_the_clock() {
        let cal = calendar(&cal_doc(SHANGHAI, weekdays(&[("09:00", "18:00")])));
        let start = local(SHANGHAI, "2026-12-07 16:00");
        let open = Pause {
            from: local(SHANGHAI, "2026-12-07 17:00"),
            until: None,
        };
        for clock in [Clock::Calendar, Clock::Business(&cal)] {
            assert_eq!(due_at(&clock, start, 2 * HOUR, &[open]), None);
            // Reached before the pause: due all the same.
            assert_eq!(
                due_at(&clock, start, HOUR, &[open]),
                Some(local(SHANGHAI, "2026-12-07 17:00"))
            );
            assert_eq!(
                elapsed(&clock, start, local(SHANGHAI, "2026-12-09 00:00"), &[open]),
                HOUR
            );
        }
    }

    #[test]
    fn berlin_daylight_saving_time() {
        let cal = calendar(&cal_doc(
            BERLIN,
            WeekDoc::every_day(&hours(&[("01:00", "04:00")])),
        ));
        // 29 March 2026: 02:00 jumps to 03:00, so that night has 2 working hours.
        let spring = (utc("2026-03-28T12:00:00Z"), utc("2026-03-29T12:00:00Z"));
        assert_eq!(cal.working_between(spring.0, spring.1), 2 * HOUR);
        // 25 October 2026: 03:00 falls back to 02:00, so 02:00-03:00 happens twice: 4 hours.
        let autumn = (utc("2026-10-24T12:00:00Z"), utc("2026-10-25T12:00:00Z"));
        assert_eq!(cal.working_between(autumn.0, autumn.1), 4 * HOUR);
        // Other nights: 3 hours.
        let other = (utc("2026-03-27T12:00:00Z"), utc("2026-03-28T12:00:00Z"));
        assert_eq!(cal.working_between(other.0, other.1), 3 * HOUR);

        // Spring: 01:00 CET is 00:00 UTC, 04:00 CEST is 02:00 UTC.
        let night = local(BERLIN, "2026-03-29 01:00");
        assert_eq!(night, utc("2026-03-29T00:00:00Z"));
        assert_eq!(
            cal.add_working(night, 2 * HOUR),
            Some(utc("2026-03-29T02:00:00Z"))
        );
        assert!(cal.is_working(utc("2026-03-29T01:00:00Z"))); // 03:00 CEST
        assert_eq!(
            cal.add_working(night, 2 * HOUR + 1800),
            Some(local(BERLIN, "2026-03-30 01:30"))
        );

        // Autumn: 01:00 CEST is 23:00 UTC; both 02:30s are working time.
        let night = local(BERLIN, "2026-10-25 01:00");
        assert_eq!(night, utc("2026-10-24T23:00:00Z"));
        assert!(cal.is_working(utc("2026-10-25T00:30:00Z"))); // 02:30 CEST
        assert!(cal.is_working(utc("2026-10-25T01:30:00Z"))); // 02:30 CET
        assert!(!cal.is_working(utc("2026-10-25T03:00:00Z"))); // 04:00 CET
        assert_eq!(
            cal.add_working(night, 4 * HOUR),
            Some(utc("2026-10-25T03:00:00Z"))
        );
        assert_eq!(
            cal.add_working(night, 3 * HOUR),
            Some(utc("2026-10-25T02:00:00Z")) // 03:00 CET
        );
    }

    #[test]
    fn intervals_starting_or_ending_in_a_skipped_or_repeated_hour() {
        // Berlin, 29 March 2026: 02:00-03:00 does not exist.
        let skipped = calendar(&cal_doc(
            BERLIN,
            WeekDoc::every_day(&hours(&[("02:15", "02:45")])),
        ));
        let spring = (utc("2026-03-28T12:00:00Z"), utc("2026-03-29T12:00:00Z"));
        assert_eq!(skipped.working_between(spring.0, spring.1), 0);
        let straddling = calendar(&cal_doc(
            BERLIN,
            WeekDoc::every_day(&hours(&[("02:30", "03:30")])),
        ));
        assert_eq!(straddling.working_between(spring.0, spring.1), 1800);

        // 25 October 2026: 02:00-03:00 twice; 01:00-02:30 is 01:00-02:30 CEST and 02:00-02:30
        // CET, with 02:30-03:00 CEST between them not working.
        let repeated = calendar(&cal_doc(
            BERLIN,
            WeekDoc::every_day(&hours(&[("01:00", "02:30")])),
        ));
        let autumn = (utc("2026-10-24T12:00:00Z"), utc("2026-10-25T12:00:00Z"));
        assert_eq!(repeated.working_between(autumn.0, autumn.1), 2 * HOUR);
        assert!(repeated.is_working(utc("2026-10-25T00:15:00Z")));
        assert!(!repeated.is_working(utc("2026-10-25T00:45:00Z")));
        assert!(repeated.is_working(utc("2026-10-25T01:15:00Z")));
        assert_eq!(
            repeated.add_working(utc("2026-10-24T23:00:00Z"), 2 * HOUR),
            Some(utc("2026-10-25T01:30:00Z"))
        );

        // Santiago, 6 September 2026: the day starts at 01:00 (00:00-01:00 does not exist).
        let santiago = "America/Santiago";
        let midnight = calendar(&cal_doc(
            santiago,
            WeekDoc::every_day(&hours(&[("00:00", "02:00")])),
        ));
        assert_eq!(
            midnight.working_between(
                local(santiago, "2026-09-05 12:00"),
                local(santiago, "2026-09-06 12:00")
            ),
            HOUR
        );
    }

    #[test]
    fn a_calendar_without_working_days_gives_up_after_the_horizon() {
        // Working hours on weekdays, but the next 1000 weekdays are holidays.
        let mut doc = cal_doc(SHANGHAI, weekdays(&[("09:00", "18:00")]));
        let start = date("2027-01-01");
        doc.holidays = (0..)
            .map(|days| start + Duration::days(days))
            .filter(|day| day.weekday().num_days_from_monday() < 5)
            .take(MAX_HOLIDAYS)
            .collect();
        let cal = calendar(&doc);
        let opened = local(SHANGHAI, "2027-01-01 10:00");
        // 1000 weekdays off: about 3.8 years, beyond the horizon.
        assert_eq!(cal.add_working(opened, HOUR), None);
        assert_eq!(due_at(&Clock::Business(&cal), opened, HOUR, &[]), None);
        // 700 weekdays off (about 2.7 years): found.
        doc.holidays.truncate(700);
        let first_working = start + Duration::weeks(140);
        assert_eq!(
            calendar(&doc).add_working(opened, HOUR),
            Some(local(SHANGHAI, &format!("{first_working} 10:00")))
        );
    }

    // ---- validation -----------------------------------------------------------------------

    fn fields(doc: &CalendarDoc) -> Vec<String> {
        Calendar::from_doc(doc)
            .unwrap_err()
            .into_iter()
            .map(|error| error.field)
            .collect()
    }

    #[test]
    fn the_example_and_the_default_are_valid_and_round_trip() {
        for doc in [CalendarDoc::example(), CalendarDoc::default()] {
            assert_eq!(calendar(&doc).to_doc(), doc);
        }
        let mut odd = cal_doc("America/New_York", WeekDoc::default());
        odd.week.sunday = hours(&[("22:00", "00:00"), ("00:00", "01:30")]);
        odd.week.wednesday = hours(&[("13:30", "24:00"), ("08:00", "12:00")]);
        odd.holidays = vec![date("2026-12-25"), date("2026-07-04")];
        odd.make_up_days = vec![MakeUpDayDoc {
            date: date("2026-12-26"),
            hours_of: WeekdayName::Wednesday,
        }];
        assert_eq!(calendar(&odd).to_doc(), odd);
    }

    #[test]
    fn the_wire_form() {
        let json = serde_json::json!({
            "time_zone": "Asia/Shanghai",
            "week": {"monday": [{"start": "09:00", "end": "18:00"}]},
            "make_up_days": [{"date": "2026-09-20"}, {"date": "2026-10-10", "hours_of": "friday"}]
        });
        let parsed: CalendarDoc = serde_json::from_value(json).unwrap();
        assert_eq!(parsed.week.monday, hours(&[("09:00", "18:00")]));
        assert!(parsed.week.sunday.is_empty() && parsed.holidays.is_empty());
        assert_eq!(parsed.make_up_days[0].hours_of, WeekdayName::Monday);
        assert_eq!(parsed.make_up_days[1].hours_of, WeekdayName::Friday);

        let back = serde_json::to_value(CalendarDoc::example()).unwrap();
        assert_eq!(back["holidays"], serde_json::json!(["2026-10-01"]));
        assert_eq!(
            back["make_up_days"],
            serde_json::json!([{"date": "2026-09-20", "hours_of": "monday"}])
        );
        assert_eq!(back["week"]["saturday"][0]["end"], "16:00");

        let typo = serde_json::json!({"time_zone": "UTC", "week": {"mondy": []}});
        assert!(serde_json::from_value::<CalendarDoc>(typo).is_err());
    }

    #[test]
    fn the_documented_schema() {
        use utoipa::PartialSchema;
        let calendar = serde_json::to_value(CalendarDoc::schema()).unwrap();
        assert!(
            calendar["properties"]["time_zone"]["description"]
                .as_str()
                .unwrap()
                .contains("IANA")
        );
        assert_eq!(
            calendar["required"],
            serde_json::json!(["time_zone", "week"])
        );
        let interval = serde_json::to_value(IntervalDoc::schema()).unwrap();
        assert_eq!(
            interval["properties"]["end"]["pattern"],
            r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
        );
        let weekday = serde_json::to_value(WeekdayName::schema()).unwrap();
        assert_eq!(weekday["enum"][6], "sunday");
        let make_up = serde_json::to_value(MakeUpDayDoc::schema()).unwrap();
        assert_eq!(make_up["required"], serde_json::json!(["date"]));
        assert_eq!(make_up["properties"]["date"]["format"], "date");
    }

    #[test]
    fn the_ends_of_time_do_not_panic() {
        let cal = calendar(&CalendarDoc::example());
        let (first, last) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert_eq!(cal.add_working(last, HOUR), None);
        assert_eq!(due_at(&Clock::Calendar, last, HOUR, &[]), None);
        assert!(cal.add_working(first, HOUR).is_some());
        assert_eq!(cal.working_between(last, first), 0);
        assert!(cal.working_between(first, first + Duration::weeks(1)) > 0);
        let _ = (cal.is_working(first), cal.is_working(last));
        assert_eq!(
            elapsed(&Clock::Calendar, first, last, &[]),
            (last - first).num_seconds()
        );
        assert_eq!(cal.add_working(first, i64::MAX), None);
    }

    #[test]
    fn an_unknown_time_zone_is_refused() {
        for zone in ["Mars/Olympus", "", "asia/shanghai", "+08:00"] {
            let doc = cal_doc(zone, weekdays(&[("09:00", "18:00")]));
            assert_eq!(fields(&doc), ["time_zone"], "{zone:?}");
        }
        assert!(Calendar::from_doc(&cal_doc("UTC", weekdays(&[("09:00", "18:00")]))).is_ok());
    }

    #[test]
    fn times_are_hh_mm() {
        for bad in [
            "9:00", "09:0", "24:00", "23:60", "25:00", "0900", "09-00", "+9:00", "", "09:00:00",
            "０9:00",
        ] {
            let doc = cal_doc(SHANGHAI, weekdays(&[(bad, "18:00")]));
            assert!(
                fields(&doc).iter().all(|field| field.ends_with("].start")),
                "{bad:?}"
            );
            let doc = doc_with_monday(&[("09:00", "18:00"), ("19:00", bad)]);
            if bad != "24:00" {
                assert_eq!(fields(&doc), ["week.monday[1].end"], "{bad:?}");
            }
        }
        for good in [
            ("00:00", "24:00"),
            ("23:59", "24:00"),
            ("00:00", "00:01"),
            ("23:00", "00:00"),
        ] {
            assert!(
                Calendar::from_doc(&doc_with_monday(&[good])).is_ok(),
                "{good:?}"
            );
        }
    }

    fn doc_with_monday(intervals: &[(&str, &str)]) -> CalendarDoc {
        cal_doc(
            SHANGHAI,
            WeekDoc {
                monday: hours(intervals),
                ..WeekDoc::default()
            },
        )
    }

    #[test]
    fn an_interval_may_not_be_empty() {
        let doc = doc_with_monday(&[("09:00", "12:00"), ("13:00", "13:00")]);
        assert_eq!(fields(&doc), ["week.monday[1].end"]);
    }

    #[test]
    fn intervals_may_not_overlap() {
        let doc = doc_with_monday(&[("09:00", "12:00"), ("11:00", "13:00")]);
        assert_eq!(fields(&doc), ["week.monday[1]"]);
        let doc = doc_with_monday(&[("12:00", "14:00"), ("09:00", "12:00"), ("10:00", "11:00")]);
        assert_eq!(fields(&doc), ["week.monday[2]"]);
        // Touching is fine.
        assert!(
            Calendar::from_doc(&doc_with_monday(&[("09:00", "12:00"), ("12:00", "13:00")])).is_ok()
        );

        // An overnight tail over the next day's hours: reported on the later one.
        let mut week = WeekDoc {
            monday: hours(&[("22:00", "02:00")]),
            tuesday: hours(&[("01:00", "05:00")]),
            ..WeekDoc::default()
        };
        assert_eq!(
            fields(&cal_doc(SHANGHAI, week.clone())),
            ["week.tuesday[0]"]
        );
        week.tuesday = hours(&[("02:00", "05:00")]);
        assert!(Calendar::from_doc(&cal_doc(SHANGHAI, week.clone())).is_ok());
        // Sunday's night runs into Monday.
        let week = WeekDoc {
            monday: hours(&[("00:00", "08:00")]),
            sunday: hours(&[("20:00", "00:30")]),
            ..WeekDoc::default()
        };
        assert_eq!(fields(&cal_doc(SHANGHAI, week)), ["week.sunday[0]"]);
        // An overnight interval over the same day's early hours does not overlap (the tail is
        // on the next day), but over its own evening it does.
        assert!(
            Calendar::from_doc(&doc_with_monday(&[("00:00", "03:00"), ("22:00", "04:00")])).is_ok()
        );
        let doc = doc_with_monday(&[("23:00", "23:30"), ("22:00", "04:00")]);
        assert_eq!(fields(&doc), ["week.monday[1]"]);
    }

    #[test]
    fn at_most_eight_intervals_a_day() {
        let nine: Vec<(String, String)> = (0..9)
            .map(|hour| (format!("{hour:02}:00"), format!("{hour:02}:30")))
            .collect();
        let nine: Vec<(&str, &str)> = nine.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(fields(&doc_with_monday(&nine)), ["week.monday"]);
        assert!(Calendar::from_doc(&doc_with_monday(&nine[..8])).is_ok());
    }

    #[test]
    fn the_week_needs_working_hours() {
        assert_eq!(fields(&cal_doc(SHANGHAI, WeekDoc::default())), ["week"]);
    }

    #[test]
    fn holidays_and_make_up_days() {
        let mut doc = cal_doc(SHANGHAI, weekdays(&[("09:00", "18:00")]));
        doc.holidays = vec![date("2026-10-01"), date("2026-10-02"), date("2026-10-01")];
        doc.make_up_days = vec![
            MakeUpDayDoc {
                date: date("2026-09-20"),
                hours_of: WeekdayName::Monday,
            },
            MakeUpDayDoc {
                date: date("2026-10-02"),
                hours_of: WeekdayName::Monday,
            },
            MakeUpDayDoc {
                date: date("2026-09-20"),
                hours_of: WeekdayName::Tuesday,
            },
        ];
        assert_eq!(
            fields(&doc),
            [
                "holidays[2]",
                "make_up_days[1].date",
                "make_up_days[2].date"
            ]
        );

        let first = date("2030-01-01");
        doc.holidays = (0..=MAX_HOLIDAYS as i64)
            .map(|days| first + Duration::days(days))
            .collect();
        doc.make_up_days = (0..=MAX_MAKE_UP_DAYS as i64)
            .map(|days| MakeUpDayDoc {
                date: date("2020-01-01") + Duration::days(days),
                hours_of: WeekdayName::Monday,
            })
            .collect();
        assert_eq!(fields(&doc), ["holidays", "make_up_days"]);
        doc.holidays.pop();
        doc.make_up_days.pop();
        assert!(Calendar::from_doc(&doc).is_ok());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut doc = cal_doc("Nowhere", WeekDoc::default());
        doc.week.friday = hours(&[("9", "18:00"), ("10:00", "10:00")]);
        doc.holidays = vec![date("2026-10-01")];
        doc.make_up_days = vec![MakeUpDayDoc {
            date: date("2026-10-01"),
            hours_of: WeekdayName::Friday,
        }];
        assert_eq!(
            fields(&doc),
            [
                "time_zone",
                "week.friday[0].start",
                "week.friday[1].end",
                "make_up_days[0].date"
            ]
        );
    }

    // ---- against a minute-by-minute reference ---------------------------------------------

    use proptest::prelude::*;

    /// Zones with the dates (2026) around which their clocks change.
    const ZONES: [(&str, [(u32, u32); 2]); 5] = [
        ("Asia/Shanghai", [(6, 15), (12, 1)]),
        ("Europe/Berlin", [(3, 29), (10, 25)]),
        ("America/New_York", [(3, 8), (11, 1)]),
        ("Australia/Lord_Howe", [(4, 5), (10, 4)]), // 30 minutes
        ("America/Santiago", [(4, 5), (9, 6)]),     // at midnight
    ];

    /// The definition, written out plainly from the calendar document: is this local wall
    /// time inside an interval of the day that owns it?
    struct Reference {
        zone: Tz,
        /// Per weekday (Monday first): (start, end) minutes after midnight, end in 0..=1440.
        week: Vec<Vec<(u32, u32)>>,
        holidays: Vec<NaiveDate>,
        make_up: Vec<(NaiveDate, usize)>,
    }

    impl Reference {
        fn new(doc: &CalendarDoc) -> Self {
            let minutes = |text: &str| {
                let (hours, minutes) = text.split_once(':').unwrap();
                hours.parse::<u32>().unwrap() * 60 + minutes.parse::<u32>().unwrap()
            };
            Reference {
                zone: doc.time_zone.parse().unwrap(),
                week: WeekdayName::ALL
                    .iter()
                    .map(|day| {
                        doc.week
                            .day(*day)
                            .iter()
                            .map(|interval| (minutes(&interval.start), minutes(&interval.end)))
                            .collect()
                    })
                    .collect(),
                holidays: doc.holidays.clone(),
                make_up: doc
                    .make_up_days
                    .iter()
                    .map(|day| (day.date, day.hours_of.index()))
                    .collect(),
            }
        }

        fn hours_of(&self, date: NaiveDate) -> &[(u32, u32)] {
            if self.holidays.contains(&date) {
                return &[];
            }
            for (make_up, weekday) in &self.make_up {
                if *make_up == date {
                    return &self.week[*weekday];
                }
            }
            &self.week[date.weekday().num_days_from_monday() as usize]
        }

        fn naive_is_working(&self, wall: NaiveDateTime) -> bool {
            let minute = wall.hour() * 60 + wall.minute();
            let today = wall.date();
            let yesterday = today.pred_opt().unwrap();
            let owned_today = self.hours_of(today).iter().any(|&(start, end)| {
                if start < end {
                    start <= minute && minute < end
                } else {
                    start <= minute // overnight: today's part runs to midnight
                }
            });
            let owned_yesterday = self
                .hours_of(yesterday)
                .iter()
                .any(|&(start, end)| end < start && minute < end);
            owned_today || owned_yesterday
        }

        /// Is the minute starting at this UTC instant working time?
        fn minute_is_working(&self, at: DateTime<Utc>) -> bool {
            self.naive_is_working(at.with_timezone(&self.zone).naive_local())
        }
    }

    #[derive(Debug, Clone)]
    struct Case {
        doc: CalendarDoc,
        start: DateTime<Utc>,
        target_minutes: i64,
        end: DateTime<Utc>,
        pauses: Vec<Pause>,
    }

    /// (start quarter-hour, length in quarter-hours) per interval, 0-3 per weekday.
    fn arb_week() -> impl Strategy<Value = Vec<Vec<(u32, u32)>>> {
        prop::collection::vec(prop::collection::vec((0u32..96, 1u32..=96), 0..=3), 7)
    }

    /// Keeps the intervals that overlap nothing kept before (in a repeating week), so the
    /// calendar is valid by construction.
    fn week_doc(raw: &[Vec<(u32, u32)>]) -> WeekDoc {
        let mut taken = vec![false; 7 * 1440];
        let mut week = WeekDoc::default();
        let hhmm = |minutes: u32| format!("{:02}:{:02}", minutes / 60, minutes % 60);
        for (day, intervals) in WeekdayName::ALL.iter().zip(raw) {
            for &(start_quarter, quarters) in intervals {
                let (start, length) = (start_quarter * 15, quarters * 15);
                let end = start + length;
                let end = if end > 1440 { end - 1440 } else { end };
                if end == start {
                    continue; // a whole day from a time other than midnight: empty
                }
                let first = day.index() as u32 * 1440 + start;
                let minutes: Vec<usize> = (first..first + length)
                    .map(|minute| (minute % (7 * 1440)) as usize)
                    .collect();
                if minutes.iter().any(|&minute| taken[minute]) {
                    continue;
                }
                for minute in minutes {
                    taken[minute] = true;
                }
                week.day_mut(*day)
                    .push(IntervalDoc::new(&hhmm(start), &hhmm(end)));
            }
        }
        if WeekdayName::ALL.iter().all(|day| week.day(*day).is_empty()) {
            week.monday.push(IntervalDoc::new("09:00", "10:00"));
        }
        week
    }

    fn arb_case() -> impl Strategy<Value = Case> {
        let zone = (0..ZONES.len(), 0..2usize, -4i64..=3, 0i64..1440);
        let dates = (
            prop::collection::vec(-2i64..=21, 0..=4),
            prop::collection::vec((-2i64..=21, 0..7usize), 0..=3),
        );
        let clock = (
            0i64..=3000,
            0i64..=6000,
            prop::collection::vec(
                (-600i64..=4000, prop::option::weighted(0.85, 1i64..=1500)),
                0..=3,
            ),
        );
        (zone, arb_week(), dates, clock).prop_map(
            |((zone, change, day, minute), week, (holidays, make_up), (target, end, pauses))| {
                let (name, changes) = ZONES[zone];
                let (month, day_of_month) = changes[change];
                let near = NaiveDate::from_ymd_opt(2026, month, day_of_month).unwrap();
                let start_date = near + Duration::days(day);
                let start =
                    start_date.and_hms_opt(0, 0, 0).unwrap().and_utc() + Duration::minutes(minute);
                let mut doc = cal_doc(name, week_doc(&week));
                for offset in holidays {
                    let date = start_date + Duration::days(offset);
                    if !doc.holidays.contains(&date) {
                        doc.holidays.push(date);
                    }
                }
                for (offset, weekday) in make_up {
                    let date = start_date + Duration::days(offset);
                    if !doc.holidays.contains(&date)
                        && !doc.make_up_days.iter().any(|day| day.date == date)
                    {
                        doc.make_up_days.push(MakeUpDayDoc {
                            date,
                            hours_of: WeekdayName::ALL[weekday],
                        });
                    }
                }
                let pauses = pauses
                    .into_iter()
                    .map(|(from, length)| {
                        let from = start + Duration::minutes(from);
                        Pause {
                            from,
                            until: length.map(|length| from + Duration::minutes(length)),
                        }
                    })
                    .collect();
                Case {
                    doc,
                    start,
                    target_minutes: target,
                    end: start + Duration::minutes(end),
                    pauses,
                }
            },
        )
    }

    /// How far the reference walks looking for a due time.
    const REFERENCE_CAP_MINUTES: i64 = 30 * 1440;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_the_minute_by_minute_reference(case in arb_case()) {
            let calendar = Calendar::from_doc(&case.doc)
                .map_err(|errors| TestCaseError::fail(format!("{errors:?}")))?;
            let reference = Reference::new(&case.doc);
            let paused = |at: DateTime<Utc>| {
                case.pauses.iter().any(|pause| {
                    pause.from <= at && pause.until.is_none_or(|until| at < until)
                })
            };
            let open_from = case
                .pauses
                .iter()
                .filter(|pause| pause.until.is_none())
                .map(|pause| pause.from)
                .min();

            // One walk from the start, minute by minute: on to the end for the elapsed
            // times, and on until each target is reached, the clock stops for good (an open
            // pause) or the cap.
            let target = case.target_minutes;
            let (mut working, mut counted, mut unpaused) = (0, 0, 0);
            // Working minutes, counted minutes, unpaused minutes since the start.
            let mut runs = [0i64; 3];
            // Due times: plain working time, business clock with pauses, calendar clock.
            let mut dues: [Option<DateTime<Utc>>; 3] = [None; 3];
            if target == 0 {
                dues = [Some(case.start); 3];
            }
            let cap = case.start + Duration::minutes(REFERENCE_CAP_MINUTES);
            let mut at = case.start;
            let mut was_working = reference.minute_is_working(at - Duration::minutes(1));
            while at < cap {
                let before_end = at < case.end;
                let stopped = open_from.is_some_and(|open_from| at >= open_from);
                let searching =
                    dues[0].is_none() || (!stopped && dues.iter().any(Option::is_none));
                if !before_end && !searching {
                    break;
                }
                let is_working = reference.minute_is_working(at);
                let is_paused = paused(at);
                // is_working on each side of every change, and now and then in between.
                if is_working != was_working || at.minute() % 10 == 0 {
                    let before = at - Duration::minutes(1);
                    for (when, expected) in [(at, is_working), (before, was_working)] {
                        prop_assert_eq!(calendar.is_working(when), expected, "at {}", when);
                    }
                }
                was_working = is_working;
                let next = at + Duration::minutes(1);
                let counts = [is_working, is_working && !is_paused, !is_paused];
                for (i, counts) in counts.into_iter().enumerate() {
                    if counts && dues[i].is_none() {
                        runs[i] += 1;
                        if runs[i] == target {
                            dues[i] = Some(next);
                        }
                    }
                }
                if before_end {
                    working += i64::from(is_working);
                    counted += i64::from(is_working && !is_paused);
                    unpaused += i64::from(!is_paused);
                }
                at = next;
            }

            let business = Clock::Business(&calendar);
            prop_assert_eq!(calendar.working_between(case.start, case.end), working * 60);
            let (start, end, pauses) = (case.start, case.end, &case.pauses);
            prop_assert_eq!(elapsed(&business, start, end, pauses), counted * 60);
            prop_assert_eq!(elapsed(&Clock::Calendar, start, end, pauses), unpaused * 60);

            let seconds = target * 60;
            let fast = [
                calendar.add_working(case.start, seconds),
                due_at(&business, case.start, seconds, &case.pauses),
                due_at(&Clock::Calendar, case.start, seconds, &case.pauses),
            ];
            for (i, (fast, reference)) in fast.into_iter().zip(dues).enumerate() {
                let open = i > 0 && open_from.is_some_and(|open_from| open_from < cap);
                match reference {
                    Some(due) => prop_assert_eq!(fast, Some(due), "due #{}", i),
                    None if open => prop_assert_eq!(fast, None, "due #{} (open pause)", i),
                    None => prop_assert!(
                        fast.is_none_or(|fast| fast > cap),
                        "due #{} {:?} is within the cap",
                        i,
                        fast
                    ),
                }
            }
        }

        /// The default calendar must keep the service's calendar-hours behaviour, in every
        /// year (Shanghai had daylight saving time from 1986 to 1991).
        #[test]
        fn the_default_calendar_keeps_calendar_hours(
            start in -2_208_988_800i64..4_102_444_800, // 1900 to 2100
            nanos in 0u32..1_000_000_000,
            seconds in 0i64..=10 * 86_400,
            pauses in prop::collection::vec(
                (-86_400i64..=864_000, prop::option::weighted(0.9, 1i64..=864_000)),
                0..=3,
            ),
        ) {
            let start = DateTime::from_timestamp(start, nanos).unwrap();
            let pauses: Vec<Pause> = pauses
                .into_iter()
                .map(|(from, length)| {
                    let from = start + Duration::seconds(from);
                    Pause { from, until: length.map(|length| from + Duration::seconds(length)) }
                })
                .collect();
            let default = Calendar::default();
            let business = Clock::Business(&default);
            let due = start + Duration::seconds(seconds);
            prop_assert_eq!(default.add_working(start, seconds), Some(due));
            prop_assert_eq!(
                due_at(&business, start, seconds, &pauses),
                due_at(&Clock::Calendar, start, seconds, &pauses)
            );
            let end = start + Duration::seconds(seconds);
            prop_assert_eq!(default.working_between(start, end), seconds);
            prop_assert_eq!(
                elapsed(&business, start, end, &pauses),
                elapsed(&Clock::Calendar, start, end, &pauses)
            );
        }
    }
}
