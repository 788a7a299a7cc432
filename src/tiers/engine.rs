//! The tier engine: from a customer's purchases and after-sales history to a lifecycle
//! stage, a value tier and the at-risk flag, each with machine-readable reasons.
//! Plain functions over plain data; the database only feeds them.

use std::collections::{BTreeMap, HashSet};

use chrono::{Duration, NaiveDateTime};

use super::{
    Assessment, CareEvent, CareKind, KeyThresholds, Purchase, Reason, Stage, TicketFacts, Tier,
    TierSettings, UNHAPPY_CLOSE_REASONS, UNHAPPY_OUTCOMES,
};
use crate::tickets::{State, TicketKind};

/// How long stored key thresholds serve single-customer refreshes before they are
/// computed again (a full recomputation always computes them).
pub const THRESHOLDS_MAX_AGE_MINUTES: i64 = 60;

/// Key and at-risk customers' tickets go first: a tighter first-call deadline and a
/// higher default priority.
pub fn is_priority_customer(tier: Tier, at_risk: bool) -> bool {
    tier == Tier::Key || at_risk
}

/// Whether stored key thresholds computed at `computed_at` may still serve: fresh, and
/// not taken when the shop had no buyers yet (both cut-offs `i64::MAX`). The order count
/// tells: a count of rows never gets there, while a spend may (sums are clamped to it).
pub fn thresholds_usable(
    thresholds: KeyThresholds,
    computed_at: NaiveDateTime,
    now: NaiveDateTime,
) -> bool {
    now - computed_at < Duration::minutes(THRESHOLDS_MAX_AGE_MINUTES)
        && thresholds.order_count != i64::MAX
}

/// What resolved tickets refunded on each customer's purchases (`purchase_orders`: the ids
/// of their paid and partially refunded orders), as `store::shop_refunds` sums them for the
/// whole shop: read from the tickets the batch loads anyway, instead of one more join of
/// tickets and orders per batch.
pub fn refunds_on_purchases(
    tickets: &[TicketFacts],
    purchase_orders: &HashSet<i64>,
) -> BTreeMap<i64, i64> {
    let mut refunds: BTreeMap<i64, i64> = BTreeMap::new();
    for ticket in tickets {
        if let (State::Resolved, Some(order_id), Some(refund)) =
            (ticket.state, ticket.order_id, ticket.refund_cents)
            && purchase_orders.contains(&order_id)
        {
            let sum = refunds.entry(ticket.customer_id).or_default();
            *sum = sum.saturating_add(refund);
        }
    }
    refunds
}

/// What one ticket says about the buyer's experience: their satisfaction score, a bad
/// review still open, an unhappy ending.
pub fn care_events(ticket: &TicketFacts) -> Vec<CareEvent> {
    let mut events = Vec::new();
    if let (Some(score), Some(at)) = (ticket.satisfaction_score, ticket.satisfaction_at) {
        events.push(CareEvent {
            ticket_id: ticket.ticket_id,
            kind: CareKind::Satisfaction(score),
            at,
        });
    }
    let open = ticket.state.is_open();
    if open && ticket.kind == TicketKind::NegativeReview {
        events.push(CareEvent {
            ticket_id: ticket.ticket_id,
            kind: CareKind::OpenNegativeReview,
            at: ticket.created_at,
        });
    }
    if let (Some(reason), Some(at)) = (ticket.close_reason, ticket.closed_at)
        && UNHAPPY_CLOSE_REASONS.contains(&reason)
    {
        events.push(CareEvent {
            ticket_id: ticket.ticket_id,
            kind: CareKind::EndedUnresolved(reason.as_str().to_owned()),
            at,
        });
    }
    if let (Some(outcome), Some(at)) = (ticket.outcome, ticket.resolved_at)
        && UNHAPPY_OUTCOMES.contains(&outcome)
    {
        events.push(CareEvent {
            ticket_id: ticket.ticket_id,
            kind: CareKind::EndedUnresolved(outcome.as_str().to_owned()),
            at,
        });
    }
    events
}

fn reason(code: &str, detail: String) -> Reason {
    Reason {
        code: code.to_owned(),
        detail,
    }
}

/// The cut-off for the top `share` of buyers, one value per buyer (any order): the k-th
/// highest, k = ceil(buyers × share) and at least 1; `None` without buyers. The key tier's
/// thresholds (`tiers::store::compute_thresholds`) are taken with it.
pub fn top_share_of_buyers(values: &mut [i64], share: f64) -> Option<i64> {
    let buyers = values.len();
    if buyers == 0 {
        return None;
    }
    let top = (((buyers as f64) * share).ceil() as usize).clamp(1, buyers);
    Some(
        *values
            .select_nth_unstable_by_key(top - 1, |v| std::cmp::Reverse(*v))
            .1,
    )
}

/// [`top_share_of_buyers`] over values where zeros (and less) are not buyers;
/// `i64::MAX`, which no one reaches, without buyers.
pub fn top_share_cutoff(values: &[i64], share: f64) -> i64 {
    let mut buyers: Vec<i64> = values.iter().copied().filter(|v| *v > 0).collect();
    top_share_of_buyers(&mut buyers, share).unwrap_or(i64::MAX)
}

fn money(cents: i64) -> String {
    format!("¥{}.{:02}", cents / 100, cents % 100)
}

/// 12-month spend and order count: the inputs to the key thresholds.
pub fn last_year(purchases: &[Purchase], now: NaiveDateTime) -> (i64, i64) {
    let since = now - Duration::days(365);
    purchases
        .iter()
        .filter(|p| p.at >= since)
        .fold((0i64, 0i64), |(spend, count), p| {
            (spend.saturating_add(p.total_cents), count + 1)
        })
}

pub fn assess(
    purchases: &[Purchase],
    care: &[CareEvent],
    thresholds: KeyThresholds,
    settings: &TierSettings,
    now: NaiveDateTime,
) -> Assessment {
    let mut reasons = Vec::new();
    let count = purchases.len() as i64;
    let last = purchases.iter().map(|p| p.at).max();
    let (spend_12m, orders_12m) = last_year(purchases, now);
    let share = (settings.key_share * 100.0).round();

    let stage = match last {
        None => {
            reasons.push(reason("never_bought", "no purchase yet".into()));
            Stage::Potential
        }
        Some(last) if now - last > Duration::days(settings.dormant_days) => {
            let days = (now - last).num_days();
            reasons.push(reason("dormant", format!("no purchase for {days} days")));
            Stage::Dormant
        }
        Some(_) if count == 1 => {
            reasons.push(reason("one_purchase", "one purchase".into()));
            Stage::New
        }
        Some(last)
            if count >= settings.loyal_min_orders
                && now - last <= Duration::days(settings.loyal_recent_days) =>
        {
            reasons.push(reason(
                "loyal",
                format!(
                    "{count} purchases, the last {} days ago",
                    (now - last).num_days()
                ),
            ));
            Stage::Loyal
        }
        Some(_) => {
            reasons.push(reason("returning", format!("{count} purchases")));
            Stage::Returning
        }
    };

    let by_spend = spend_12m > 0 && spend_12m >= thresholds.spend_cents;
    // Frequency counts on its own: many small orders show loyalty that spend alone misses.
    let by_frequency = orders_12m > 1 && orders_12m >= thresholds.order_count;
    let tier = if by_spend || by_frequency {
        if by_spend {
            reasons.push(reason(
                "top_spend",
                format!("top {share}% by 12-month spend ({})", money(spend_12m)),
            ));
        }
        if by_frequency {
            reasons.push(reason(
                "top_frequency",
                format!("top {share}% by 12-month order count ({orders_12m} orders)"),
            ));
        }
        Tier::Key
    } else if orders_12m > 0 {
        reasons.push(reason(
            "bought_this_year",
            format!("{orders_12m} purchases in 12 months ({})", money(spend_12m)),
        ));
        Tier::Regular
    } else {
        reasons.push(reason("no_recent_spend", "no purchase in 12 months".into()));
        Tier::Small
    };

    // At risk: a customer worth keeping whose recent after-sales experience went badly.
    let valuable = tier != Tier::Small || stage == Stage::Loyal;
    let window = now - Duration::days(settings.at_risk_days);
    let mut bad = Vec::new();
    for event in care {
        match &event.kind {
            CareKind::Satisfaction(score)
                if *score <= settings.at_risk_max_score && event.at >= window =>
            {
                bad.push(reason(
                    "low_satisfaction",
                    format!("satisfaction {score}/5 on ticket {}", event.ticket_id),
                ));
            }
            CareKind::OpenNegativeReview => {
                bad.push(reason(
                    "open_negative_review",
                    format!("negative review open on ticket {}", event.ticket_id),
                ));
            }
            CareKind::EndedUnresolved(how) if event.at >= window => {
                bad.push(reason(
                    "unresolved",
                    format!("ticket {} ended unresolved ({how})", event.ticket_id),
                ));
            }
            _ => {}
        }
    }
    let at_risk = valuable && !bad.is_empty();
    if at_risk {
        reasons.extend(bad);
    }
    Assessment {
        tier,
        stage,
        at_risk,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::{CloseReason, Outcome, State};

    fn ticket(kind: TicketKind, state: State) -> TicketFacts {
        TicketFacts {
            ticket_id: 7,
            customer_id: 1,
            kind,
            state,
            outcome: None,
            close_reason: None,
            satisfaction_score: None,
            satisfaction_at: None,
            resolved_at: None,
            closed_at: None,
            created_at: days_ago(10),
            order_id: None,
            refund_cents: None,
        }
    }

    #[test]
    fn refunds_count_resolved_tickets_on_purchases_only() {
        let refund = |customer_id, state, order_id, refund_cents| TicketFacts {
            customer_id,
            order_id,
            refund_cents,
            ..ticket(TicketKind::Return, state)
        };
        let purchases: HashSet<i64> = [10, 11, 20].into();
        let tickets = [
            refund(1, State::Resolved, Some(10), Some(500)),
            refund(1, State::Resolved, Some(11), Some(250)),
            // Still open, or on a refunded or cancelled order, or without an order or amount.
            refund(1, State::FollowUp, Some(10), Some(900)),
            refund(1, State::Resolved, Some(12), Some(900)),
            refund(1, State::Resolved, None, Some(900)),
            refund(2, State::Resolved, Some(20), None),
            refund(2, State::Resolved, Some(20), Some(i64::MAX)),
            refund(2, State::Resolved, Some(20), Some(1)),
        ];
        assert_eq!(
            refunds_on_purchases(&tickets, &purchases),
            BTreeMap::from([(1, 750), (2, i64::MAX)])
        );
    }

    #[test]
    fn tickets_become_care_events() {
        let open_review = ticket(TicketKind::NegativeReview, State::FollowUp);
        assert_eq!(
            care_events(&open_review),
            [CareEvent {
                ticket_id: 7,
                kind: CareKind::OpenNegativeReview,
                at: days_ago(10)
            }]
        );
        assert!(care_events(&ticket(TicketKind::Return, State::New)).is_empty());
        let refused = TicketFacts {
            close_reason: Some(CloseReason::Refused),
            closed_at: Some(days_ago(2)),
            satisfaction_score: Some(1),
            satisfaction_at: Some(days_ago(3)),
            ..ticket(TicketKind::NegativeReview, State::Closed)
        };
        assert_eq!(
            care_events(&refused)
                .into_iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>(),
            [
                CareKind::Satisfaction(1),
                CareKind::EndedUnresolved("refused".into())
            ]
        );
        let duplicate = TicketFacts {
            close_reason: Some(CloseReason::Duplicate),
            closed_at: Some(days_ago(2)),
            ..ticket(TicketKind::Repair, State::Closed)
        };
        assert!(care_events(&duplicate).is_empty());
        let rejected = TicketFacts {
            outcome: Some(Outcome::ReturnRejected),
            resolved_at: Some(days_ago(1)),
            ..ticket(TicketKind::Return, State::Resolved)
        };
        assert_eq!(
            care_events(&rejected)[0].kind,
            CareKind::EndedUnresolved("return_rejected".into())
        );
    }

    #[test]
    fn stored_thresholds_serve_an_hour_unless_taken_without_buyers() {
        let taken = |spend_cents, order_count| KeyThresholds {
            spend_cents,
            order_count,
        };
        assert!(thresholds_usable(
            taken(5000, 3),
            now() - Duration::minutes(59),
            now()
        ));
        assert!(!thresholds_usable(
            taken(5000, 3),
            now() - Duration::minutes(60),
            now()
        ));
        assert!(!thresholds_usable(taken(i64::MAX, i64::MAX), now(), now()));
        // A spend clamped to the BIGINT range is a real cut-off, not "no buyers".
        assert!(thresholds_usable(taken(i64::MAX, 5), now(), now()));
    }

    fn now() -> NaiveDateTime {
        NaiveDateTime::parse_from_str("2026-11-23 12:00", "%Y-%m-%d %H:%M").unwrap()
    }

    fn days_ago(days: i64) -> NaiveDateTime {
        now() - Duration::days(days)
    }

    fn orders(n: usize, cents: i64, every_days: i64) -> Vec<Purchase> {
        (0..n)
            .map(|i| Purchase {
                total_cents: cents,
                at: days_ago(1 + i as i64 * every_days),
            })
            .collect()
    }

    fn codes(a: &Assessment) -> Vec<&str> {
        a.reasons.iter().map(|r| r.code.as_str()).collect()
    }

    /// A shop of ten buyers: eight ordinary ones, one big spender, one frequent buyer.
    fn shop_thresholds() -> KeyThresholds {
        let spends = [
            20_000,
            30_000,
            25_000,
            400_000,
            350_000,
            22_000,
            28_000,
            33_000,
            300_000,
            30 * 1_000,
        ];
        let counts = [2, 3, 2, 1, 2, 3, 1, 2, 2, 30];
        KeyThresholds {
            spend_cents: top_share_cutoff(&spends, 0.2),
            order_count: top_share_cutoff(&counts, 0.2),
        }
    }

    #[test]
    fn top_share_cutoffs_ignore_non_buyers() {
        assert_eq!(top_share_cutoff(&[5, 1, 4, 2, 3, 0, 0], 0.2), 5);
        assert_eq!(top_share_cutoff(&[5, 1, 4, 2, 3, 0, 0], 0.4), 4);
        assert_eq!(top_share_cutoff(&[10, 9, 8, 7, 6, 5, 4, 3, 2, 1], 0.2), 9);
        assert_eq!(top_share_cutoff(&[7], 0.2), 7);
        assert_eq!(top_share_cutoff(&[0, 0], 0.2), i64::MAX);
        assert_eq!(top_share_cutoff(&[], 0.2), i64::MAX);
    }

    #[test]
    fn the_key_thresholds_count_every_buyer_given() {
        // A buyer of free items (spend 0) is a buyer: two of three at 50% reach 0.
        assert_eq!(top_share_of_buyers(&mut [0, 5, 0], 0.5), Some(0));
        assert_eq!(top_share_of_buyers(&mut [3, 9, 1, 7], 0.25), Some(9));
        assert_eq!(top_share_of_buyers(&mut [3, 9, 1, 7], 1.0), Some(1));
        assert_eq!(top_share_of_buyers(&mut [], 0.2), None);
    }

    #[test]
    fn thirty_cheap_orders_beat_two_expensive_ones_on_frequency() {
        let thresholds = shop_thresholds();
        let settings = TierSettings::default();
        let frequent = assess(&orders(30, 1_000, 10), &[], thresholds, &settings, now());
        let two_big = assess(&orders(2, 50_000, 30), &[], thresholds, &settings, now());
        assert_eq!(frequent.tier, Tier::Key);
        assert!(codes(&frequent).contains(&"top_frequency"));
        assert_eq!(frequent.stage, Stage::Loyal);
        assert_eq!(
            two_big.tier,
            Tier::Regular,
            "¥1000 is not top-20% spend in this shop (¥3500)"
        );
        assert_eq!(two_big.stage, Stage::Returning);
    }

    #[test]
    fn the_biggest_spender_is_key_by_spend() {
        let a = assess(
            &orders(2, 200_000, 30),
            &[],
            shop_thresholds(),
            &TierSettings::default(),
            now(),
        );
        assert_eq!(a.tier, Tier::Key);
        assert!(
            a.reasons
                .iter()
                .any(|r| r.code == "top_spend" && r.detail.contains("top 20%"))
        );
    }

    #[test]
    fn lifecycle_stages() {
        let s = TierSettings::default();
        let t = shop_thresholds();
        assert_eq!(assess(&[], &[], t, &s, now()).stage, Stage::Potential);
        assert_eq!(assess(&[], &[], t, &s, now()).tier, Tier::Small);
        assert_eq!(
            assess(&orders(1, 100, 1), &[], t, &s, now()).stage,
            Stage::New
        );
        assert_eq!(
            assess(&orders(3, 100, 5), &[], t, &s, now()).stage,
            Stage::Returning
        );
        assert_eq!(
            assess(&orders(10, 100, 5), &[], t, &s, now()).stage,
            Stage::Loyal
        );
        let old: Vec<Purchase> = orders(12, 100, 5)
            .into_iter()
            .map(|p| Purchase {
                at: p.at - Duration::days(400),
                ..p
            })
            .collect();
        let dormant = assess(&old, &[], t, &s, now());
        assert_eq!(dormant.stage, Stage::Dormant);
        assert_eq!(dormant.tier, Tier::Small);
        // Ten purchases, but the last half a year ago: returning, not loyal.
        let lapsing: Vec<Purchase> = orders(10, 100, 5)
            .into_iter()
            .map(|p| Purchase {
                at: p.at - Duration::days(200),
                ..p
            })
            .collect();
        assert_eq!(assess(&lapsing, &[], t, &s, now()).stage, Stage::Returning);
    }

    #[test]
    fn a_valuable_customer_with_a_bad_recent_experience_is_at_risk() {
        let s = TierSettings::default();
        let t = shop_thresholds();
        let buyer = orders(3, 30_000, 20);
        let low = CareEvent {
            ticket_id: 812,
            kind: CareKind::Satisfaction(2),
            at: days_ago(3),
        };
        let a = assess(&buyer, std::slice::from_ref(&low), t, &s, now());
        assert!(a.at_risk);
        assert!(
            a.reasons
                .iter()
                .any(|r| r.detail == "satisfaction 2/5 on ticket 812")
        );
        // Old news, good news, or a customer who never bought: not at risk.
        let old_low = CareEvent {
            at: days_ago(200),
            ..low.clone()
        };
        assert!(!assess(&buyer, &[old_low], t, &s, now()).at_risk);
        let happy = CareEvent {
            kind: CareKind::Satisfaction(4),
            ..low.clone()
        };
        assert!(!assess(&buyer, &[happy], t, &s, now()).at_risk);
        assert!(!assess(&[], &[low], t, &s, now()).at_risk);
        let open = CareEvent {
            ticket_id: 815,
            kind: CareKind::OpenNegativeReview,
            at: days_ago(400),
        };
        assert!(
            assess(&buyer, &[open], t, &s, now()).at_risk,
            "an open bad review counts however old"
        );
        let closed = CareEvent {
            ticket_id: 820,
            kind: CareKind::EndedUnresolved("unreachable".into()),
            at: days_ago(10),
        };
        let a = assess(&buyer, &[closed], t, &s, now());
        assert!(a.at_risk);
        assert!(codes(&a).contains(&"unresolved"));
    }

    #[test]
    fn names_round_trip() {
        for tier in Tier::ALL {
            assert_eq!(Tier::parse(tier.as_str()), Some(tier));
        }
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        }
    }
}
