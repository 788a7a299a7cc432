//! The arithmetic around the figures: which UTC instants a period of local days spans,
//! and how ratios and durations are rounded for the reports. Plain functions.

use chrono::{Datelike, Duration, FixedOffset, Months, NaiveDate, NaiveTime, TimeZone};

use super::Period;
use crate::error::ApiError;
use crate::extract::{FIRST_DAY, day_in_range};
use crate::orders::rules::SALES_MONTH_OFFSET_MINUTES;

/// The period a report covers; its days are range-checked by the shared calendar rule
/// (`extract::day_in_range`).
pub fn period(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    offset: FixedOffset,
    today: NaiveDate,
) -> Result<Period, ApiError> {
    let to = day_in_range(to.unwrap_or(today), "to")?;
    let from = match from {
        Some(from) => day_in_range(from, "from")?,
        None => (to - Duration::days(29)).max(FIRST_DAY),
    };
    if from > to {
        return Err(ApiError::field("from", "must not be after to"));
    }
    if (to - from).num_days() > 3660 {
        return Err(ApiError::field(
            "from",
            "the period may span at most ten years",
        ));
    }
    let midnight = |day: NaiveDate| {
        offset
            .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
            .single()
            .map(|t| t.naive_utc())
            .ok_or_else(|| ApiError::field("from", "is out of range"))
    };
    Ok(Period {
        from,
        to,
        start: midnight(from)?,
        end: midnight(to + Duration::days(1))?,
        offset_minutes: offset.local_minus_utc() / 60,
    })
}

/// A month report at the offset the per-buyer monthly sales are kept in
/// (`customer_sales_months`): the whole months it covers, read from the kept rows, and the
/// cut months at either end (a rolling year starts and ends mid-month), read from the
/// orders. Every group is one month, so no group mixes the two sources.
#[derive(Debug, Clone, PartialEq)]
pub struct SalesMonthSplit {
    /// The days before the first whole month, if the period starts mid-month.
    pub head: Option<Period>,
    /// The whole months.
    pub whole: Period,
    /// The days after the last whole month, if the period ends mid-month.
    pub tail: Option<Period>,
}

/// How a month report over `p` splits; `None` when it must read the orders alone: another
/// offset, or no whole month in the period.
pub fn split_sales_months(p: &Period) -> Option<SalesMonthSplit> {
    if p.offset_minutes != SALES_MONTH_OFFSET_MINUTES {
        return None;
    }
    let first_of_month = |day: NaiveDate| day.with_day(1);
    let after = p.to.succ_opt()?;
    // The first whole month starts on the period's first day or the first of the next
    // month; the whole months end where the month of the day after the period starts.
    let first = if p.from.day() == 1 {
        p.from
    } else {
        first_of_month(p.from)?.checked_add_months(Months::new(1))?
    };
    let end = first_of_month(after)?;
    if first >= end {
        return None;
    }
    // Local midnight of `day` at the period's offset, in UTC.
    let midnight =
        |day: NaiveDate| day.and_time(NaiveTime::MIN) - Duration::minutes(p.offset_minutes.into());
    let part = |from: NaiveDate, after: NaiveDate| Period {
        from,
        to: after.pred_opt().unwrap_or(after),
        start: if from == p.from {
            p.start
        } else {
            midnight(from)
        },
        end: if after == p.to.succ_opt().unwrap_or(after) {
            p.end
        } else {
            midnight(after)
        },
        offset_minutes: p.offset_minutes,
    };
    Some(SalesMonthSplit {
        head: (p.from < first).then(|| part(p.from, first)),
        whole: part(first, end),
        tail: (end < after).then(|| part(end, after)),
    })
}

pub fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

pub fn minutes(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|s| (s / 60.0 * 10.0).round() / 10.0)
}

pub fn hours(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|s| (s / 3600.0 * 100.0).round() / 100.0)
}

/// `revenue_cents / orders` to the nearest cent (halves away from zero); `None` without
/// orders.
pub fn average_cents(revenue_cents: i64, orders: i64) -> Option<i64> {
    (orders > 0).then(|| {
        let (q, r) = (revenue_cents / orders, revenue_cents % orders);
        if r.unsigned_abs() * 2 >= orders.unsigned_abs() {
            q + revenue_cents.signum()
        } else {
            q
        }
    })
}

/// A sum of cent shares (a float from the database) as whole cents: nearest, halves away
/// from zero, saturating at the ends of an i64.
pub fn whole_cents(sum: Option<f64>) -> i64 {
    sum.map_or(0, |s| s.round() as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn averages_round_to_the_nearest_cent() {
        assert_eq!(average_cents(1000, 3), Some(333));
        assert_eq!(average_cents(1001, 2), Some(501));
        assert_eq!(average_cents(1000, 6), Some(167));
        assert_eq!(average_cents(0, 5), Some(0));
        assert_eq!(average_cents(100, 0), None);
        assert_eq!(whole_cents(Some(12.5)), 13);
        assert_eq!(whole_cents(Some(12.49)), 12);
        assert_eq!(whole_cents(None), 0);
        assert_eq!(whole_cents(Some(1e30)), i64::MAX);
    }

    use super::*;
    use crate::extract::LAST_DAY;

    #[test]
    fn days_outside_what_can_be_stored_are_refused_not_panicked_on() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        for (from, to) in [
            (None, Some(NaiveDate::MIN)),
            (None, Some(NaiveDate::MAX)),
            (Some(NaiveDate::MIN), None),
            (Some(LAST_DAY + Duration::days(1)), None),
        ] {
            let refused = period(from, to, utc, today);
            assert!(
                matches!(refused, Err(ApiError::Validation(_))),
                "{from:?}..{to:?}"
            );
        }
        let earliest = period(None, Some(FIRST_DAY), utc, today).unwrap();
        assert_eq!(earliest.from, FIRST_DAY);
        assert!(period(Some(LAST_DAY), Some(LAST_DAY), utc, today).is_ok());
    }

    #[test]
    fn periods_are_local_days_in_utc() {
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let p = period(
            Some(day("2026-11-01")),
            Some(day("2026-11-30")),
            cst,
            day("2026-12-05"),
        )
        .unwrap();
        assert_eq!(p.start.to_string(), "2026-10-31 16:00:00");
        assert_eq!(p.end.to_string(), "2026-11-30 16:00:00");
        assert_eq!(p.offset_minutes, 480);
        let default = period(None, None, cst, day("2026-11-30")).unwrap();
        assert_eq!(default.from, day("2026-11-01"));
        assert!(
            period(
                Some(day("2026-12-01")),
                Some(day("2026-11-01")),
                cst,
                day("2026-12-05")
            )
            .is_err()
        );
    }

    #[test]
    fn month_reports_read_kept_whole_months_and_cut_months_from_orders() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let at = |offset: i32, from: &str, to: &str| {
            let offset = FixedOffset::east_opt(offset * 60).unwrap();
            period(Some(day(from)), Some(day(to)), offset, day(to)).unwrap()
        };
        let days = |p: &Option<Period>| p.as_ref().map(|p| (p.from, p.to, p.start, p.end));
        let whole = |p: &SalesMonthSplit| (p.whole.from, p.whole.to);
        let china_midnight = |s: &str| day(s).and_time(NaiveTime::MIN) - Duration::hours(8);

        let year = split_sales_months(&at(480, "2026-01-01", "2026-12-31")).unwrap();
        assert_eq!(whole(&year), (day("2026-01-01"), day("2026-12-31")));
        assert_eq!(year.whole, at(480, "2026-01-01", "2026-12-31"));
        assert_eq!((days(&year.head), days(&year.tail)), (None, None));
        let leap = split_sales_months(&at(480, "2024-02-01", "2024-02-29")).unwrap();
        assert_eq!(whole(&leap), (day("2024-02-01"), day("2024-02-29")));

        // A rolling year: 3 to 31 December, eleven whole months, 1 to 2 December.
        let rolling = split_sales_months(&at(480, "2025-12-03", "2026-12-02")).unwrap();
        assert_eq!(
            days(&rolling.head),
            Some((
                day("2025-12-03"),
                day("2025-12-31"),
                china_midnight("2025-12-03"),
                china_midnight("2026-01-01")
            ))
        );
        assert_eq!(whole(&rolling), (day("2026-01-01"), day("2026-11-30")));
        assert_eq!(
            (rolling.whole.start, rolling.whole.end),
            (china_midnight("2026-01-01"), china_midnight("2026-12-01"))
        );
        assert_eq!(
            days(&rolling.tail),
            Some((
                day("2026-12-01"),
                day("2026-12-02"),
                china_midnight("2026-12-01"),
                china_midnight("2026-12-03")
            ))
        );
        let cut_end = split_sales_months(&at(480, "2026-01-01", "2026-12-30")).unwrap();
        assert_eq!(whole(&cut_end), (day("2026-01-01"), day("2026-11-30")));
        assert_eq!(days(&cut_end.head), None);
        assert_eq!(
            cut_end.tail.map(|t| (t.from, t.to)),
            Some((day("2026-12-01"), day("2026-12-30")))
        );

        // No whole month, or another offset: the orders alone.
        assert_eq!(
            split_sales_months(&at(480, "2026-01-02", "2026-01-31")),
            None
        );
        assert_eq!(
            split_sales_months(&at(480, "2026-01-15", "2026-02-20")),
            None
        );
        assert_eq!(split_sales_months(&at(0, "2026-01-01", "2026-12-31")), None);
    }

    #[test]
    fn ratios_and_units() {
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(0, 0), None);
        assert_eq!(minutes(Some(90.0)), Some(1.5));
        assert_eq!(hours(Some(5400.0)), Some(1.5));
    }
}
