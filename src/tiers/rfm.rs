//! RFM rules: the shop's quintile cut-offs, a buyer's recency, frequency and monetary
//! scores (1-5) against them, the named segment, and the reasons, in the tier engine's
//! `Reason` shape. Plain functions over plain data; `operations` feeds them with every
//! full recomputation (cut-offs and scores) and every single-customer refresh (scores
//! against the stored cut-offs).
//!
//! Scoring with ties: a score is 1 plus the number of cut-offs a value strictly beats,
//! cut-off `k` being the value at rank `ceil(k × n / 5)` (k = 1..4) of the `n` buyers in
//! worst-to-best order. So score `s + 1` means at least `s` fifths of the buyers are
//! strictly worse, and equal values always share a score (where most buyers bought once,
//! they all get F1, not an arbitrary spread over F1-F3 as `NTILE` would give).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::{Reason, RfmAssessment, RfmCutoffs, RfmFacts, Segment, SegmentCount, SegmentFlow};

/// The four cut-offs of one measure where higher is better.
pub fn quintile_cuts(values: &mut [i64]) -> [i64; 4] {
    values.sort_unstable();
    let n = values.len();
    if n == 0 {
        return [0; 4];
    }
    std::array::from_fn(|i| {
        let k = i + 1;
        let rank = (k * n).div_ceil(5).max(1);
        values[rank - 1]
    })
}

/// The score of `value` where higher is better.
pub fn score_higher(value: i64, cuts: &[i64; 4]) -> i32 {
    1 + cuts.iter().filter(|cut| value > **cut).count() as i32
}

/// The score of `value` where lower is better (days since the last purchase).
pub fn score_lower(value: i64, cuts: &[i64; 4]) -> i32 {
    1 + cuts.iter().filter(|cut| value < **cut).count() as i32
}

/// Whole days since `last` at `now` (never negative: a purchase stamped in the future
/// counts as today's).
pub fn days_since(last: NaiveDateTime, now: NaiveDateTime) -> i64 {
    (now - last).num_days().max(0)
}

/// The shop's cut-offs among these buyers at `now`.
pub fn cutoffs(buyers: &[RfmFacts], now: NaiveDateTime) -> RfmCutoffs {
    // Recency is better when lower: cut on minus the days, then turn them back.
    let mut recency: Vec<i64> = buyers
        .iter()
        .map(|b| -days_since(b.last_order_at, now))
        .collect();
    let mut frequency: Vec<i64> = buyers.iter().map(|b| b.order_count).collect();
    let mut monetary: Vec<i64> = buyers.iter().map(|b| b.net_spent_cents).collect();
    RfmCutoffs {
        buyers: buyers.len() as i64,
        recency_days: quintile_cuts(&mut recency).map(|cut| -cut),
        order_count: quintile_cuts(&mut frequency),
        net_spent_cents: quintile_cuts(&mut monetary),
    }
}

/// The segment grid: rows by recency score (5 first), columns by the FM score (1 first).
/// After Putler's R × FM grid (champions R4-5/FM4-5, loyal R2-5/FM3-5, potential
/// loyalists R3-5/FM1-3, new R4-5/FM≤1, promising R3-4/FM≤1, needs attention R2-3/FM2-3,
/// about to sleep R2-3/FM≤2, at risk R≤2/FM2-5, cannot lose R≤1/FM4-5, hibernating
/// R1-2/FM1-2, lost R≤2/FM≤2), whose overlapping ranges are resolved cell by cell here so
/// every (R, FM) pair has exactly one segment.
const GRID: [[Segment; 5]; 5] = {
    use Segment::*;
    [
        // R5
        [
            New,
            PotentialLoyalist,
            PotentialLoyalist,
            Champions,
            Champions,
        ],
        // R4
        [Promising, PotentialLoyalist, Loyal, Loyal, Champions],
        // R3
        [AboutToSleep, NeedsAttention, NeedsAttention, Loyal, Loyal],
        // R2
        [Hibernating, Hibernating, AtRisk, AtRisk, CannotLose],
        // R1
        [Lost, Lost, AtRisk, CannotLose, CannotLose],
    ]
};

/// The FM score: the mean of the frequency and monetary scores, halves rounded up.
pub fn fm_score(frequency: i32, monetary: i32) -> i32 {
    (frequency + monetary + 1) / 2
}

/// The segment of a recency score and an FM score (each 1-5; out-of-range values are
/// clamped).
pub fn segment(recency: i32, fm: i32) -> Segment {
    let row = (5 - recency.clamp(1, 5)) as usize;
    let column = (fm.clamp(1, 5) - 1) as usize;
    GRID[row][column]
}

fn share(score: i32, worse: &str) -> String {
    match score {
        1 => "the shop's bottom fifth".to_owned(),
        s => format!("at least {}% of buyers {worse}", (s - 1) * 20),
    }
}

fn money(cents: i64) -> String {
    format!("¥{}.{:02}", cents / 100, (cents % 100).abs())
}

fn describe(segment: Segment) -> &'static str {
    match segment {
        Segment::Champions => "recent, frequent and big-spending",
        Segment::Loyal => "buys regularly and spends well",
        Segment::PotentialLoyalist => "recent, with average frequency and spend",
        Segment::New => "bought very recently, little so far",
        Segment::Promising => "fairly recent, little so far",
        Segment::NeedsAttention => "middling on every score",
        Segment::AboutToSleep => "fading, with little frequency and spend",
        Segment::AtRisk => "used to buy often or much, not recently",
        Segment::CannotLose => "a big or frequent buyer gone quiet",
        Segment::Hibernating => "long gone, little frequency and spend",
        Segment::Lost => "the least recent, frequent and valuable",
    }
}

fn reason(code: &str, detail: String) -> Reason {
    Reason {
        code: code.to_owned(),
        detail,
    }
}

/// A buyer's scores, segment and reasons against the shop's cut-offs. The reasons name
/// the date of the last purchase rather than "N days ago", so an unchanged standing is
/// unchanged text and is not rewritten by the next recomputation.
pub fn assess(facts: &RfmFacts, cutoffs: &RfmCutoffs, now: NaiveDateTime) -> RfmAssessment {
    let days = days_since(facts.last_order_at, now);
    let recency = score_lower(days, &cutoffs.recency_days);
    let frequency = score_higher(facts.order_count, &cutoffs.order_count);
    let monetary = score_higher(facts.net_spent_cents, &cutoffs.net_spent_cents);
    let segment = segment(recency, fm_score(frequency, monetary));
    let reasons = vec![
        reason(
            "rfm_recency",
            format!(
                "last purchase on {}: R{recency} ({})",
                facts.last_order_at.date(),
                share(recency, "bought longer ago")
            ),
        ),
        reason(
            "rfm_frequency",
            format!(
                "{} purchases: F{frequency} ({})",
                facts.order_count,
                share(frequency, "bought fewer times")
            ),
        ),
        reason(
            "rfm_monetary",
            format!(
                "{} net of refunds: M{monetary} ({})",
                money(facts.net_spent_cents),
                share(monetary, "spent less")
            ),
        ),
        reason(
            "rfm_segment",
            format!(
                "{segment}: R{recency} F{frequency} M{monetary} ({})",
                describe(segment)
            ),
        ),
    ];
    RfmAssessment {
        recency,
        frequency,
        monetary,
        segment,
        reasons,
    }
}

/// Every segment's count now and at the time the flows start from (now, less what flowed
/// in, plus what flowed out), and the flows, largest first.
pub fn segment_movements(
    now: &BTreeMap<Segment, i64>,
    flows: Vec<(Option<Segment>, Option<Segment>, i64)>,
) -> (Vec<SegmentCount>, Vec<SegmentFlow>) {
    let mut then = now.clone();
    for (from, to, n) in &flows {
        if let Some(to) = to {
            *then.entry(*to).or_default() -= n;
        }
        if let Some(from) = from {
            *then.entry(*from).or_default() += n;
        }
    }
    let counts = Segment::ALL
        .into_iter()
        .map(|segment| {
            let customers = now.get(&segment).copied().unwrap_or(0);
            let customers_at_since = then.get(&segment).copied().unwrap_or(0);
            SegmentCount {
                segment,
                customers,
                customers_at_since,
                change: customers - customers_at_since,
            }
        })
        .collect();
    let mut flows: Vec<SegmentFlow> = flows
        .into_iter()
        .map(|(from, to, customers)| SegmentFlow {
            from,
            to,
            customers,
        })
        .collect();
    flows.sort_by(|a, b| {
        b.customers
            .cmp(&a.customers)
            .then_with(|| (a.from, a.to).cmp(&(b.from, b.to)))
    });
    (counts, flows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use std::collections::BTreeSet;

    fn now() -> NaiveDateTime {
        NaiveDateTime::parse_from_str("2026-12-03 12:00", "%Y-%m-%d %H:%M").unwrap()
    }

    fn buyer(days_ago: i64, orders: i64, cents: i64) -> RfmFacts {
        RfmFacts {
            last_order_at: now() - Duration::days(days_ago),
            order_count: orders,
            net_spent_cents: cents,
        }
    }

    #[test]
    fn distinct_values_fall_one_fifth_per_score() {
        let mut values: Vec<i64> = (1..=10).collect();
        let cuts = quintile_cuts(&mut values);
        assert_eq!(cuts, [2, 4, 6, 8]);
        let scores: Vec<i32> = (1..=10).map(|v| score_higher(v, &cuts)).collect();
        assert_eq!(scores, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(quintile_cuts(&mut [5, 4, 3, 2, 1]), [1, 2, 3, 4]);
    }

    #[test]
    fn ties_share_a_score_and_most_one_time_buyers_are_f1() {
        // 60% bought once, 20% twice, 20% five times.
        let mut counts = vec![1, 1, 1, 1, 1, 1, 2, 2, 5, 5];
        let cuts = quintile_cuts(&mut counts);
        assert_eq!(score_higher(1, &cuts), 1);
        assert_eq!(score_higher(2, &cuts), 4, "60% bought fewer times");
        assert_eq!(score_higher(5, &cuts), 5);
        // Everyone equal: nobody beats anybody.
        assert_eq!(score_higher(3, &quintile_cuts(&mut [3, 3, 3])), 1);
        assert_eq!(quintile_cuts(&mut []), [0; 4]);
    }

    #[test]
    fn recency_is_better_when_fewer_days() {
        let buyers: Vec<RfmFacts> = (0..10).map(|i| buyer(i * 30, 1, 100)).collect();
        let cuts = cutoffs(&buyers, now());
        assert_eq!(cuts.buyers, 10);
        assert_eq!(cuts.recency_days, [240, 180, 120, 60]);
        assert_eq!(score_lower(0, &cuts.recency_days), 5);
        assert_eq!(score_lower(30, &cuts.recency_days), 5);
        assert_eq!(score_lower(60, &cuts.recency_days), 4);
        assert_eq!(score_lower(270, &cuts.recency_days), 1);
        assert_eq!(days_since(now() + Duration::hours(3), now()), 0);
    }

    #[test]
    fn the_grid_names_every_segment_once_per_cell() {
        let mut seen = BTreeSet::new();
        for r in 1..=5 {
            for fm in 1..=5 {
                seen.insert(segment(r, fm));
            }
        }
        assert_eq!(seen.len(), Segment::ALL.len(), "every segment is reachable");
        assert_eq!(segment(5, 5), Segment::Champions);
        assert_eq!(segment(4, 4), Segment::Loyal);
        assert_eq!(segment(5, 2), Segment::PotentialLoyalist);
        assert_eq!(segment(5, 1), Segment::New);
        assert_eq!(segment(4, 1), Segment::Promising);
        assert_eq!(segment(3, 3), Segment::NeedsAttention);
        assert_eq!(segment(3, 1), Segment::AboutToSleep);
        assert_eq!(segment(2, 4), Segment::AtRisk);
        assert_eq!(segment(1, 5), Segment::CannotLose);
        assert_eq!(segment(2, 1), Segment::Hibernating);
        assert_eq!(segment(1, 1), Segment::Lost);
        assert_eq!(segment(9, -3), Segment::New, "clamped");
    }

    #[test]
    fn counts_then_are_counts_now_less_the_flows() {
        let now: BTreeMap<Segment, i64> = [(Segment::Champions, 10), (Segment::AtRisk, 4)].into();
        let flows = vec![
            (Some(Segment::Loyal), Some(Segment::Champions), 3),
            (None, Some(Segment::Champions), 2),
            (Some(Segment::Champions), Some(Segment::AtRisk), 4),
            (Some(Segment::Lost), None, 1),
        ];
        let (counts, flows) = segment_movements(&now, flows);
        let of = |s: Segment| counts.iter().find(|c| c.segment == s).unwrap();
        assert_eq!(counts.len(), Segment::ALL.len());
        assert_eq!(of(Segment::Champions).customers_at_since, 10 - 3 - 2 + 4);
        assert_eq!(of(Segment::Champions).change, 1);
        assert_eq!(of(Segment::Loyal).customers_at_since, 3);
        assert_eq!(of(Segment::Loyal).change, -3);
        assert_eq!(of(Segment::AtRisk).customers_at_since, 0);
        assert_eq!(of(Segment::Lost).customers_at_since, 1);
        assert_eq!(flows[0].customers, 4, "largest first");
        assert_eq!(flows[0].from, Some(Segment::Champions));
    }

    #[test]
    fn fm_is_the_mean_rounded_up() {
        assert_eq!(fm_score(5, 4), 5);
        assert_eq!(fm_score(1, 2), 2);
        assert_eq!(fm_score(3, 3), 3);
        assert_eq!(fm_score(1, 1), 1);
    }

    #[test]
    fn a_shop_of_buyers_gets_champions_and_lost_with_reasons() {
        let shop = [
            buyer(2, 20, 500_000),
            buyer(10, 8, 200_000),
            buyer(40, 3, 50_000),
            buyer(200, 2, 30_000),
            buyer(700, 1, 5_000),
        ];
        let cuts = cutoffs(&shop, now());
        let best = assess(&shop[0], &cuts, now());
        assert_eq!((best.recency, best.frequency, best.monetary), (5, 5, 5));
        assert_eq!(best.segment, Segment::Champions);
        let codes: Vec<&str> = best.reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "rfm_recency",
                "rfm_frequency",
                "rfm_monetary",
                "rfm_segment"
            ]
        );
        assert_eq!(
            best.reasons[0].detail,
            "last purchase on 2026-12-01: R5 (at least 80% of buyers bought longer ago)"
        );
        assert_eq!(
            best.reasons[2].detail,
            "¥5000.00 net of refunds: M5 (at least 80% of buyers spent less)"
        );
        let worst = assess(&shop[4], &cuts, now());
        assert_eq!(worst.segment, Segment::Lost);
        assert_eq!(
            worst.reasons[1].detail,
            "1 purchases: F1 (the shop's bottom fifth)"
        );
        // A big spender gone quiet, scored against the same shop.
        let quiet = assess(&buyer(900, 25, 900_000), &cuts, now());
        assert_eq!(quiet.segment, Segment::CannotLose);
    }
}
