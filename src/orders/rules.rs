//! Pure rules of orders: totals and the customer's order summary. No database, so they
//! are unit-tested directly.

use chrono::NaiveDateTime;

use super::{OrderItemInput, OrderStatus};
use crate::error::ApiError;

/// Sum of quantity × unit price, refusing amounts that do not fit.
pub fn items_total(items: &[OrderItemInput]) -> Result<i64, ApiError> {
    items
        .iter()
        .try_fold(0i64, |sum, item| {
            i64::from(item.quantity)
                .checked_mul(item.unit_price_cents)
                .and_then(|line| sum.checked_add(line))
        })
        .ok_or_else(|| ApiError::field("items", "the order total is too large"))
}

/// The customer's order summary from (status, total, ordered_at) of all their orders.
pub fn summarize(
    orders: &[(OrderStatus, i64, NaiveDateTime)],
) -> (i64, i64, Option<NaiveDateTime>, Option<NaiveDateTime>) {
    let counted = orders
        .iter()
        .filter(|(status, _, _)| status.counts_as_purchase());
    let mut summary = (0i64, 0i64, None::<NaiveDateTime>, None::<NaiveDateTime>);
    for (_, total, at) in counted {
        summary.0 += 1;
        summary.1 = summary.1.saturating_add(*total);
        summary.2 = Some(summary.2.map_or(*at, |first| first.min(*at)));
        summary.3 = Some(summary.3.map_or(*at, |last| last.max(*at)));
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn refunded_and_cancelled_orders_do_not_count() {
        let summary = summarize(&[
            (OrderStatus::Paid, 1000, at("2026-01-05 10:00")),
            (OrderStatus::Refunded, 5000, at("2025-01-01 10:00")),
            (OrderStatus::PartiallyRefunded, 300, at("2026-03-01 10:00")),
            (OrderStatus::Cancelled, 9000, at("2026-06-01 10:00")),
        ]);
        assert_eq!(
            summary,
            (
                2,
                1300,
                Some(at("2026-01-05 10:00")),
                Some(at("2026-03-01 10:00"))
            )
        );
        assert_eq!(summarize(&[]), (0, 0, None, None));
    }

    #[test]
    fn item_totals_are_exact_and_overflow_is_refused() {
        let item = |quantity, unit_price_cents| OrderItemInput {
            product_name: "x".into(),
            sku: None,
            quantity,
            unit_price_cents,
        };
        assert_eq!(items_total(&[item(3, 1999), item(1, 1)]).unwrap(), 5998);
        assert!(items_total(&[item(100000, i64::MAX / 2)]).is_err());
    }
}
