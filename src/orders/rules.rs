//! Pure rules of orders: how big an order may be, its total, and the customer's order
//! summary. No database, so they are unit-tested directly.
//!
//! The caps keep every amount the database holds far from the ends of a BIGINT: one
//! order is at most `MAX_ORDER_TOTAL_CENTS`, so sums over a customer's or a shop's
//! orders stay exact for any realistic history (and are computed saturating, or clamped
//! in SQL, beyond it).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};

use super::{OrderItemInput, OrderStatus};
use crate::error::{ApiError, FieldError};

/// Most items on one order.
pub const MAX_ITEMS: usize = 200;
/// Most units of one item.
pub const MAX_QUANTITY: i32 = 100_000;
/// Highest price of one unit: ¥1,000,000,000.00.
pub const MAX_UNIT_PRICE_CENTS: i64 = 100_000_000_000;
/// Highest amount of one order, given as `total_cents` or computed from its items:
/// ¥1,000,000,000,000.00.
pub const MAX_ORDER_TOTAL_CENTS: i64 = 100_000_000_000_000;

/// Checks every item against the caps, naming each offending field (`items[3].quantity`).
pub fn check_items(items: &[OrderItemInput]) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if items.is_empty() || items.len() > MAX_ITEMS {
        errors.push(FieldError::new(
            "items",
            format!("an order has 1 to {MAX_ITEMS} items"),
        ));
    }
    for (index, item) in items.iter().enumerate() {
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            errors.push(FieldError::new(
                format!("items[{index}].quantity"),
                format!("must be between 1 and {MAX_QUANTITY}"),
            ));
        }
        if !(0..=MAX_UNIT_PRICE_CENTS).contains(&item.unit_price_cents) {
            errors.push(FieldError::new(
                format!("items[{index}].unit_price_cents"),
                format!("must be between 0 and {MAX_UNIT_PRICE_CENTS}"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// A given `total_cents` within the cap.
pub fn check_total(total_cents: i64) -> Result<i64, ApiError> {
    if (0..=MAX_ORDER_TOTAL_CENTS).contains(&total_cents) {
        Ok(total_cents)
    } else {
        Err(ApiError::field(
            "total_cents",
            format!("must be between 0 and {MAX_ORDER_TOTAL_CENTS}"),
        ))
    }
}

/// Sum of quantity × unit price, refusing a sum over `MAX_ORDER_TOTAL_CENTS` (checked all
/// the way: items that were never capped cannot overflow it either).
pub fn items_total(items: &[OrderItemInput]) -> Result<i64, ApiError> {
    items
        .iter()
        .try_fold(0i64, |sum, item| {
            i64::from(item.quantity)
                .checked_mul(item.unit_price_cents)
                .and_then(|line| sum.checked_add(line))
        })
        .filter(|total| (0..=MAX_ORDER_TOTAL_CENTS).contains(total))
        .ok_or_else(|| {
            ApiError::field(
                "items",
                format!(
                    "the items add up to more than {MAX_ORDER_TOTAL_CENTS} cents, the most one order may total"
                ),
            )
        })
}

/// The amount of a new order: its items checked, then `total_cents` when given (discounts
/// and shipping make it differ), else the items' sum.
pub fn order_total(items: &[OrderItemInput], total_cents: Option<i64>) -> Result<i64, ApiError> {
    check_items(items)?;
    match total_cents {
        Some(total) => check_total(total),
        None => items_total(items),
    }
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

/// The offset of the months the per-buyer monthly sales are kept in: China Standard Time,
/// which is also every report's default `utc_offset`. A report at another offset, or over
/// part of a month, is computed from the orders themselves.
pub const SALES_MONTH_OFFSET_MINUTES: i32 = 480;

/// The first day of the month (at `SALES_MONTH_OFFSET_MINUTES`) an order placed at `at`
/// (UTC) is counted in.
pub fn sales_month_of(at: NaiveDateTime) -> NaiveDate {
    let local = at + Duration::minutes(SALES_MONTH_OFFSET_MINUTES.into());
    local.date().with_day(1).unwrap_or(local.date())
}

/// One buyer's sales in one month, as `customer_sales_months` keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesMonth {
    pub month: NaiveDate,
    /// Paid and partially refunded orders.
    pub purchases: i32,
    /// The amounts of paid, partially refunded and refunded orders.
    pub gross_cents: i64,
    /// The amounts of refunded orders (partial refunds depend on tickets and are not kept).
    pub refunded_cents: i64,
    /// The month holds the buyer's first purchase ever (their `first_order_at`).
    pub first_purchase: bool,
}

/// A buyer's monthly sales from (status, total, ordered_at) of all their orders: one entry
/// per month with an order the sales report reads (cancelled orders brought nothing).
pub fn sales_months(orders: &[(OrderStatus, i64, NaiveDateTime)]) -> Vec<SalesMonth> {
    let first_purchase = summarize(orders).2.map(sales_month_of);
    let mut months: std::collections::BTreeMap<NaiveDate, SalesMonth> = Default::default();
    for &(status, total, at) in orders {
        if status == OrderStatus::Cancelled {
            continue;
        }
        let month = sales_month_of(at);
        let entry = months.entry(month).or_insert_with(|| SalesMonth {
            month,
            purchases: 0,
            gross_cents: 0,
            refunded_cents: 0,
            first_purchase: first_purchase == Some(month),
        });
        if status.counts_as_purchase() {
            entry.purchases = entry.purchases.saturating_add(1);
        }
        entry.gross_cents = entry.gross_cents.saturating_add(total);
        if status == OrderStatus::Refunded {
            entry.refunded_cents = entry.refunded_cents.saturating_add(total);
        }
    }
    months.into_values().collect()
}

/// What can still be refunded on an order of `total_cents` after `refunded_cents` went back.
pub fn refundable_cents(total_cents: i64, refunded_cents: i64) -> i64 {
    total_cents.saturating_sub(refunded_cents).max(0)
}

/// The status an order takes when its tickets have refunded `refunded_cents` of its
/// `total_cents`: nothing refunded is `paid`, all of it `refunded`, some `partially_refunded`.
/// A cancelled order stays cancelled (nothing was paid to give back).
pub fn status_after_refunds(
    current: OrderStatus,
    total_cents: i64,
    refunded_cents: i64,
) -> OrderStatus {
    match current {
        OrderStatus::Cancelled => OrderStatus::Cancelled,
        _ if refunded_cents <= 0 => OrderStatus::Paid,
        _ if refunded_cents >= total_cents => OrderStatus::Refunded,
        _ => OrderStatus::PartiallyRefunded,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn sales_months_are_china_months_with_the_first_purchase_marked() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // 2026-01-31 16:30 UTC is already 1 February in Shanghai.
        assert_eq!(sales_month_of(at("2026-01-31 16:30")), day("2026-02-01"));
        assert_eq!(sales_month_of(at("2026-01-31 15:59")), day("2026-01-01"));
        let orders = [
            (OrderStatus::Refunded, 500, at("2025-12-10 00:00")),
            (OrderStatus::Paid, 100, at("2026-01-31 16:30")),
            (OrderStatus::PartiallyRefunded, 200, at("2026-02-20 00:00")),
            (OrderStatus::Cancelled, 900, at("2026-03-01 00:00")),
            (OrderStatus::Paid, 300, at("2026-04-01 00:00")),
            (OrderStatus::Refunded, 50, at("2026-04-02 00:00")),
        ];
        let month = |m: &str, purchases, gross_cents, refunded_cents, first_purchase| SalesMonth {
            month: day(m),
            purchases,
            gross_cents,
            refunded_cents,
            first_purchase,
        };
        assert_eq!(
            sales_months(&orders),
            vec![
                // A refunded order counts in the amounts, not as a purchase nor as the first.
                month("2025-12-01", 0, 500, 500, false),
                month("2026-02-01", 2, 300, 0, true),
                month("2026-04-01", 1, 350, 50, false),
            ]
        );
        assert_eq!(sales_months(&[]), vec![]);
    }

    #[test]
    fn refunds_move_the_order_status() {
        use OrderStatus::*;
        assert_eq!(refundable_cents(128_800, 0), 128_800);
        assert_eq!(refundable_cents(128_800, 100_000), 28_800);
        assert_eq!(refundable_cents(128_800, 200_000), 0);
        assert_eq!(status_after_refunds(Paid, 128_800, 0), Paid);
        assert_eq!(
            status_after_refunds(Paid, 128_800, 28_800),
            PartiallyRefunded
        );
        assert_eq!(
            status_after_refunds(PartiallyRefunded, 128_800, 128_800),
            Refunded
        );
        assert_eq!(status_after_refunds(Refunded, 128_800, 0), Paid);
        assert_eq!(status_after_refunds(Cancelled, 128_800, 128_800), Cancelled);
        // A free order refunded "in full" at 0 is not refunded.
        assert_eq!(status_after_refunds(Paid, 0, 0), Paid);
    }
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

    fn item(quantity: i32, unit_price_cents: i64) -> OrderItemInput {
        OrderItemInput {
            product_name: "x".into(),
            sku: None,
            quantity,
            unit_price_cents,
        }
    }

    fn fields(result: Result<i64, ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn item_totals_are_exact_and_overflow_is_refused() {
        assert_eq!(items_total(&[item(3, 1999), item(1, 1)]).unwrap(), 5998);
        assert!(items_total(&[item(100000, i64::MAX / 2)]).is_err());
    }

    #[test]
    fn every_amount_is_capped_and_named_by_its_field() {
        let most = item(MAX_QUANTITY, MAX_UNIT_PRICE_CENTS);
        // What the caps on single fields alone let through: 200 × 100,000 × ¥1e9 = 2e18
        // cents, five of which overflow a BIGINT sum.
        let widest = vec![most.clone(); MAX_ITEMS];
        assert_eq!(fields(order_total(&widest, None)), ["items"]);
        assert_eq!(
            fields(order_total(&[item(1, 1), item(0, 1), item(1, -1)], None)),
            ["items[1].quantity", "items[2].unit_price_cents"]
        );
        assert_eq!(
            fields(order_total(&[item(MAX_QUANTITY + 1, 1)], None)),
            ["items[0].quantity"]
        );
        assert_eq!(
            fields(order_total(&[item(1, MAX_UNIT_PRICE_CENTS + 1)], None)),
            ["items[0].unit_price_cents"]
        );
        assert_eq!(fields(order_total(&[], None)), ["items"]);
        assert_eq!(
            fields(order_total(&vec![item(1, 1); MAX_ITEMS + 1], None)),
            ["items"]
        );
        assert_eq!(
            fields(order_total(&[item(1, 1)], Some(MAX_ORDER_TOTAL_CENTS + 1))),
            ["total_cents"]
        );
        assert_eq!(
            fields(order_total(&[item(1, 1)], Some(-1))),
            ["total_cents"]
        );
        // At the caps exactly, everything is accepted.
        let at_cap = MAX_ORDER_TOTAL_CENTS / MAX_UNIT_PRICE_CENTS;
        assert_eq!(
            order_total(&[item(at_cap as i32, MAX_UNIT_PRICE_CENTS)], None).unwrap(),
            MAX_ORDER_TOTAL_CENTS
        );
        assert_eq!(
            order_total(&widest, Some(MAX_ORDER_TOTAL_CENTS)).unwrap(),
            MAX_ORDER_TOTAL_CENTS
        );
    }

    #[test]
    fn the_most_one_customer_can_hold_cannot_overflow_a_sum() {
        // A century of daily orders at the cap still fits a BIGINT many times over.
        assert!(
            MAX_ORDER_TOTAL_CENTS
                .checked_mul(365 * 100)
                .is_some_and(|sum| sum < i64::MAX / 2)
        );
    }
}
