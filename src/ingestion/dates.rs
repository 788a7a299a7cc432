//! Dates and times as staff type them in spreadsheets, read by one set of rules for every
//! file (a customer's birthday, an order's time): `1990-05-17`, `1990/5/17`, `1990.5.17`,
//! `1990年5月17日`, `19900517`, an Excel serial date (`32980`, a date cell saved as a
//! number), and for times the same followed by `14:30` or `14:30:00`, or an RFC 3339 time
//! with its own offset. Plain functions, unit-tested here.
//!
//! The year comes first. `05/06/1990` is refused rather than guessed (the 5th of June or the
//! 6th of May?), and so are two-digit years (`90-5-17`), dates that are not in the calendar
//! (`1990/2/30`), a year or a month alone, and numbers that are not five-digit serials
//! (`1990` is a year, not the 1990th day of 1905; `35` is an age).

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

/// The forms a date may take, for messages.
const DATE_FORMS: &str = "1990-05-17, 1990/5/17, 1990.5.17, 1990年5月17日, 19900517 or an Excel date number such as 32980";

/// A calendar date as people type it (see the module's forms).
pub fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    let text = raw.trim();
    if let Some(serial) = excel_serial(text) {
        return match serial? {
            (date, time) if time == NaiveTime::MIN => Ok(date),
            _ => Err(format!("{raw:?} is a date and a time; give the date alone")),
        };
    }
    let (date, rest) = split_date(text).map_err(|why| explain(raw, why))?;
    if !rest.is_empty() {
        return Err(format!("{raw:?} is not a date such as {DATE_FORMS}"));
    }
    Ok(date)
}

/// A time with its own offset (RFC 3339: `2026-03-05T14:30:00+08:00`), or a local date and
/// time (a date as [`parse_date`] reads it, then `14:30`, `14:30:00` or `14:30:00.250` after a
/// space, a `T`, or nothing after `日`; midnight when there is no time; an Excel serial may
/// carry the time as its fraction) at `offset`.
pub fn parse_time(raw: &str, offset: FixedOffset) -> Result<DateTime<Utc>, String> {
    let text = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = match excel_serial(text) {
        Some(serial) => serial.map(|(date, time)| date.and_time(time))?,
        None => {
            let (date, rest) = split_date(text).map_err(|why| explain(raw, why))?;
            let written = &text[..text.len() - rest.len()];
            let clock = match rest.strip_prefix(['T', ' ', '\u{3000}']) {
                Some(clock) => Some(clock.trim_start()),
                // 2026年3月5日14:30: the date's last character ends it.
                None if written.ends_with(['日', '号']) => Some(rest),
                None => None,
            };
            let time = match clock {
                _ if rest.is_empty() => NaiveTime::MIN,
                Some(clock) => parse_clock(clock).ok_or_else(|| not_a_time(raw))?,
                None => return Err(not_a_time(raw)),
            };
            date.and_time(time)
        }
    };
    offset
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{raw:?} is not a valid local time"))
}

fn not_a_time(raw: &str) -> String {
    format!(
        "{raw:?} is not a date-time such as 2026-03-05 14:30, 2026/3/5 14:30:00, \
         2026年3月5日 14:30 or 2026-03-05T14:30:00+08:00"
    )
}

/// Why a text is not a date.
enum NotADate {
    /// No date form fits.
    Form,
    /// The day or month comes first, or the year has two digits.
    Ambiguous,
    /// The form fits but the calendar has no such day.
    NotInCalendar(i32, u32, u32),
}

fn explain(raw: &str, why: NotADate) -> String {
    match why {
        NotADate::Form => format!("{raw:?} is not a date such as {DATE_FORMS}"),
        NotADate::Ambiguous => {
            format!("{raw:?} is ambiguous: write the year first, with four digits (1990-05-17)")
        }
        NotADate::NotInCalendar(y, m, d) => {
            format!("{raw:?} is not in the calendar (year {y}, month {m}, day {d})")
        }
    }
}

/// The number at the start of `text` (ASCII digits) and what follows it.
fn digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

/// A date at the start of `text`, and the rest of the text.
fn split_date(text: &str) -> Result<(NaiveDate, &str), NotADate> {
    let (first, rest) = digits(text);
    let (year, month, day, rest) = if let Some(after_year) = rest.strip_prefix('年') {
        // 1990年5月17日 (spaces allowed between the parts, as some people type them).
        let (month, after) = digits(after_year.trim_start());
        let after = after.strip_prefix('月').ok_or(NotADate::Form)?;
        let (day, after) = digits(after.trim_start());
        let after = after.strip_prefix(['日', '号']).ok_or(NotADate::Form)?;
        (first, month, day, after)
    } else if let Some(separator) = rest.chars().next().filter(|c| matches!(c, '-' | '/' | '.')) {
        let (month, after) = digits(&rest[1..]);
        let after = after.strip_prefix(separator).ok_or(NotADate::Form)?;
        let (day, after) = digits(after);
        if first.len() <= 2 && (day.len() == 4 || day.len() == 2) && !month.is_empty() {
            // 17/05/1990, 05/17/1990, 90-5-17: which part is which is a guess.
            return Err(NotADate::Ambiguous);
        }
        (first, month, day, after)
    } else if first.len() == 8 {
        (&first[..4], &first[4..6], &first[6..], rest)
    } else {
        return Err(NotADate::Form);
    };
    let in_range = |part: &str, most: usize| !part.is_empty() && part.len() <= most;
    if year.len() != 4 || !in_range(month, 2) || !in_range(day, 2) {
        return Err(NotADate::Form);
    }
    let (y, m, d) = (
        year.parse().map_err(|_| NotADate::Form)?,
        month.parse().map_err(|_| NotADate::Form)?,
        day.parse().map_err(|_| NotADate::Form)?,
    );
    NaiveDate::from_ymd_opt(y, m, d)
        .map(|date| (date, rest))
        .ok_or(NotADate::NotInCalendar(y, m, d))
}

/// `14:30`, `14:30:00` or `14:30:00.250` (hours 0 to 23).
fn parse_clock(text: &str) -> Option<NaiveTime> {
    let (hour, rest) = digits(text);
    let (minute, rest) = digits(rest.strip_prefix(':')?);
    let (second, fraction) = match rest.strip_prefix(':') {
        Some(rest) => {
            let (second, rest) = digits(rest);
            let fraction = match rest.strip_prefix('.') {
                Some(fraction) => {
                    let (fraction, rest) = digits(fraction);
                    if fraction.is_empty() || fraction.len() > 9 || !rest.is_empty() {
                        return None;
                    }
                    fraction
                }
                None if rest.is_empty() => "",
                None => return None,
            };
            (second, fraction)
        }
        None if rest.is_empty() => ("00", ""),
        None => return None,
    };
    let two = |part: &str, short_ok: bool| {
        (part.len() == 2 || (short_ok && part.len() == 1))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    };
    let nanos = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    NaiveTime::from_hms_nano_opt(
        two(hour, true)?,
        two(minute, false)?,
        two(second, false)?,
        nanos,
    )
}

/// The last day Excel's serial dates reach (9999-12-31).
const EXCEL_LAST_SERIAL: u32 = 2_958_465;

/// The date of an Excel serial day number (the 1900 date system): 1 is 1900-01-01. Excel
/// counts a 29 February 1900 that never was (60, kept from Lotus 1-2-3 on purpose), so the
/// days after it are one ahead: `None` for 60, as for 0 and past 9999-12-31.
pub fn excel_serial_date(serial: u32) -> Option<NaiveDate> {
    let base = NaiveDate::from_ymd_opt(1899, 12, 31)?;
    match serial {
        1..=59 => Some(base + Duration::days(i64::from(serial))),
        61..=EXCEL_LAST_SERIAL => Some(base + Duration::days(i64::from(serial) - 1)),
        _ => None,
    }
}

/// A cell that is an Excel serial date: `None` when it is not a number (digits and an
/// optional fraction) or is a date of eight digits (`19900517`); otherwise the date and the time its fraction gives, or why not.
/// Only five-digit serials are dates (1927-05-18 to 2173-10-13): a shorter number is more
/// likely a year or an age than a date of the early 1900s.
fn excel_serial(text: &str) -> Option<Result<(NaiveDate, NaiveTime), String>> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !is_digits(whole) || !is_digits(fraction) || whole.is_empty() {
        return None;
    }
    if whole.len() == 8 && !text.contains('.') {
        return None; // 19900517
    }
    if whole.len() != 5 {
        return Some(Err(format!(
            "{text:?} is not a date: a number is read as an Excel date only with five digits \
             (32980 is 1990-04-17); otherwise write a date such as 1990-05-17"
        )));
    }
    if text.contains('.') && fraction.is_empty() {
        return None;
    }
    let date = whole.parse().ok().and_then(excel_serial_date)?;
    // The fraction of a day, to the nearest second; up to 9 decimals are meaningful.
    let fraction = &fraction[..fraction.len().min(9)];
    let seconds = if fraction.is_empty() {
        0
    } else {
        let scale = 10u64.pow(fraction.len() as u32);
        let parts: u64 = fraction.parse().ok()?;
        (parts * 86_400 + scale / 2) / scale
    };
    Some(Ok(if seconds >= 86_400 {
        (date.succ_opt()?, NaiveTime::MIN)
    } else {
        (
            date,
            NaiveTime::from_num_seconds_from_midnight_opt(seconds as u32, 0)?,
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_are_read_in_every_form_people_type() {
        let may17 = ymd(1990, 5, 17);
        for text in [
            "1990-05-17",
            "1990-5-17",
            "1990/5/17",
            "1990/05/17",
            "1990.5.17",
            "1990.05.17",
            "1990年5月17日",
            "1990年05月17日",
            "1990年 5月 17日",
            "1990年5月17号",
            "19900517",
            " 1990/5/17 ",
            "\u{3000}1990年5月17日",
        ] {
            assert_eq!(parse_date(text), Ok(may17), "{text:?}");
        }
        assert_eq!(parse_date("32980"), Ok(ymd(1990, 4, 17)));
        assert_eq!(parse_date("2000-02-29"), Ok(ymd(2000, 2, 29)));
        assert_eq!(parse_date("2024/12/31"), Ok(ymd(2024, 12, 31)));
    }

    #[test]
    fn dates_that_are_not_or_could_be_two_are_refused() {
        let refused = |text: &str| parse_date(text).expect_err(text);
        for impossible in [
            "1990/2/30",
            "1990-13-01",
            "1990-00-10",
            "1990-01-00",
            "2023-02-29",
            "1900/2/29",
            "2026年4月31日",
        ] {
            assert!(
                refused(impossible).contains("not in the calendar"),
                "{impossible}: {}",
                refused(impossible)
            );
        }
        for ambiguous in [
            "17/05/1990",
            "05/17/1990",
            "5/6/1990",
            "17.05.1990",
            "90-05-17",
            "90/5/17",
            "5-6-90",
        ] {
            assert!(
                refused(ambiguous).contains("ambiguous"),
                "{ambiguous}: {}",
                refused(ambiguous)
            );
        }
        for not_a_date in [
            "",
            "1990",
            "35",
            "199005",
            "1990-05",
            "1990年5月",
            "1990年5月17",
            "1990-05/17",
            "1990/5/17/",
            "1990-05-17 14:30",
            "1990-005-17",
            "01990-5-17",
            "May 17, 1990",
            "1990-05-17T00:00:00Z",
            "32980.5",
            "329801",
            "3298",
            "１９９０-05-17",
            "1990-5-17x",
        ] {
            assert!(parse_date(not_a_date).is_err(), "{not_a_date:?}");
        }
    }

    #[test]
    fn excel_serials_skip_the_day_lotus_invented() {
        assert_eq!(excel_serial_date(0), None);
        assert_eq!(excel_serial_date(1), Some(ymd(1900, 1, 1)));
        assert_eq!(excel_serial_date(59), Some(ymd(1900, 2, 28)));
        assert_eq!(excel_serial_date(60), None, "1900-02-29 never was");
        assert_eq!(excel_serial_date(61), Some(ymd(1900, 3, 1)));
        assert_eq!(excel_serial_date(32980), Some(ymd(1990, 4, 17)));
        assert_eq!(excel_serial_date(46086), Some(ymd(2026, 3, 5)));
        assert_eq!(
            excel_serial_date(EXCEL_LAST_SERIAL),
            Some(ymd(9999, 12, 31))
        );
        assert_eq!(excel_serial_date(EXCEL_LAST_SERIAL + 1), None);
        assert_eq!(parse_date("10000"), Ok(ymd(1927, 5, 18)));
        assert_eq!(parse_date("99999"), Ok(ymd(2173, 10, 13)));
        let short = parse_date("1990").unwrap_err();
        assert!(short.contains("five digits"), "{short}");
    }

    fn local(raw: &str) -> Result<String, String> {
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        parse_time(raw, cst).map(|t| t.to_rfc3339())
    }

    #[test]
    fn times_are_read_with_the_same_dates() {
        let at = "2026-03-05T06:30:00+00:00";
        for text in [
            "2026-03-05 14:30",
            "2026-03-05 14:30:00",
            "2026-3-5 14:30",
            "2026/3/5 14:30",
            "2026/03/05 14:30:00",
            "2026.3.5 14:30",
            "2026年3月5日 14:30",
            "2026年3月5日14:30",
            "20260305 14:30",
            "2026-03-05T14:30:00",
            "2026-03-05T14:30:00+08:00",
            "2026-03-05T06:30:00Z",
            "2026-03-05 14:30:00+08:00",
            "46086.6041666667",
            "2026-03-05  14:30",
        ] {
            assert_eq!(local(text).as_deref(), Ok(at), "{text:?}");
        }
        assert_eq!(
            local("2026/3/5 9:05").as_deref(),
            Ok("2026-03-05T01:05:00+00:00")
        );
        assert_eq!(
            local("2026/3/5").as_deref(),
            Ok("2026-03-04T16:00:00+00:00")
        );
        assert_eq!(local("46086").as_deref(), Ok("2026-03-04T16:00:00+00:00"));
        assert_eq!(
            local("46086.99999999").as_deref(),
            Ok("2026-03-05T16:00:00+00:00")
        );
        assert_eq!(
            local("2026-03-05 14:30:00.250").as_deref(),
            Ok("2026-03-05T06:30:00.250+00:00")
        );
        for bad in [
            "2026/3/5 24:00",
            "2026/3/5 14:60",
            "2026/3/5 14:30:61",
            "2026/3/5 14",
            "2026/3/5 1430",
            "2026/3/5 14:3",
            "2026/3/5 14:30:",
            "2026/3/5 14:30:00.",
            "2026/3/5 下午2:30",
            "2026/2/30 14:30",
            "5/3/2026 14:30",
            "2026/3/5x14:30",
            "2026-03-0514:30",
            "1990",
            "46086.",
            "2026/3/5 14:30 +08:00",
        ] {
            assert!(local(bad).is_err(), "{bad:?}: {:?}", local(bad));
        }
        assert!(local("5/3/2026 14:30").unwrap_err().contains("ambiguous"));
        assert!(
            local("2026/2/30 14:30")
                .unwrap_err()
                .contains("not in the calendar")
        );
    }
}
