//! The arithmetic around the figures: which UTC instants a period of local days spans,
//! and how ratios and durations are rounded for the reports. Plain functions.

use chrono::{Datelike, Duration, FixedOffset, NaiveDate, TimeZone};

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

/// The months of the kept per-buyer monthly sales (`customer_sales_months`) a period
/// covers exactly, as (first month, the month after the last): the period is whole months
/// at the offset they are kept in. `None` when the report must read the orders.
pub fn whole_sales_months(p: &Period) -> Option<(NaiveDate, NaiveDate)> {
    let after = p.to.succ_opt()?;
    (p.offset_minutes == SALES_MONTH_OFFSET_MINUTES && p.from.day() == 1 && after.day() == 1)
        .then_some((p.from, after))
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
    fn only_whole_china_months_read_the_kept_monthly_sales() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let at = |offset: i32, from: &str, to: &str| {
            let offset = FixedOffset::east_opt(offset * 60).unwrap();
            period(Some(day(from)), Some(day(to)), offset, day(to)).unwrap()
        };
        assert_eq!(
            whole_sales_months(&at(480, "2026-01-01", "2026-12-31")),
            Some((day("2026-01-01"), day("2027-01-01")))
        );
        assert_eq!(
            whole_sales_months(&at(480, "2024-02-01", "2024-02-29")),
            Some((day("2024-02-01"), day("2024-03-01")))
        );
        assert_eq!(
            whole_sales_months(&at(480, "2026-01-02", "2026-12-31")),
            None
        );
        assert_eq!(
            whole_sales_months(&at(480, "2026-01-01", "2026-12-30")),
            None
        );
        assert_eq!(whole_sales_months(&at(0, "2026-01-01", "2026-12-31")), None);
    }

    #[test]
    fn ratios_and_units() {
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(0, 0), None);
        assert_eq!(minutes(Some(90.0)), Some(1.5));
        assert_eq!(hours(Some(5400.0)), Some(1.5));
    }
}
