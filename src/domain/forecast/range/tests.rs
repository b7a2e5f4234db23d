use super::*;
use crate::domain::deal::ForecastCategory;
use crate::domain::forecast::{Figures, weigh};
use proptest::prelude::*;

fn deal(amount: i64, probability: f64, category: ForecastCategory) -> OpenDeals {
    OpenDeals::one(amount, probability, category)
}

#[test]
fn a_small_range_is_exact() {
    // Two deals of 100 at 50%: outcomes 0, 100, 100, 200 each 1/4.
    let deals = [
        deal(100, 0.5, ForecastCategory::Pipeline),
        deal(100, 0.5, ForecastCategory::Pipeline),
    ];
    let r = revenue_range(1_000, &deals, 1).unwrap();
    assert_eq!((r.p10, r.p50, r.p90), (1_000, 1_100, 1_200));
    assert_eq!(r.method, RangeMethod::Exact);
}

#[test]
fn a_large_range_is_sampled_with_its_error_bound() {
    // 100 deals are too few for the normal approximation to beat sampling.
    let deals: Vec<OpenDeals> = (0..100)
        .map(|i| deal(1_000 + i, 0.3, ForecastCategory::Pipeline))
        .collect();
    let r = revenue_range(0, &deals, 42).unwrap();
    let RangeMethod::MonteCarlo {
        samples, dkw_bound, ..
    } = r.method
    else {
        panic!("sampled")
    };
    // A budget of 200,000 draws: 2,000 periods of 100 deals.
    assert_eq!(samples, 2_000);
    assert!((dkw_bound - ((200f64).ln() / 4_000.0).sqrt()).abs() < 1e-12);
    // Mean 100 x 1049.5 x 0.3 = 31,485; sd ~ sqrt(100 x 0.21) x 1050 = 4,812.
    assert!((r.p50 - 31_485).abs() < 1_500, "{}", r.p50);
    assert!(r.p10 < r.p50 && r.p50 < r.p90);
    assert_eq!(
        revenue_range(0, &deals, 42),
        Some(r),
        "seeded: the same every time"
    );
}

/// n deals of `amount` at `p`, one by one and as one group.
pub(crate) fn alike(n: u64, amount: i64, p: f64) -> (Vec<OpenDeals>, OpenDeals) {
    let each = vec![deal(amount, p, ForecastCategory::Pipeline); n as usize];
    let a = amount as f64;
    let group = OpenDeals {
        deals: n,
        amount: amount * n as i64,
        squares: a * a * n as f64,
        cubes: a * a * a * n as f64,
        probability: p,
        category: ForecastCategory::Pipeline,
        weighted: weigh(amount, p) * n as i64,
        period_weighted: weigh(amount, p) * n as i64,
    };
    (each, group)
}

#[test]
fn many_deals_take_the_normal_approximation_with_its_error_bound() {
    // 10,000 deals of 1,000 at 30%: mean 3,000,000, sd sqrt(10,000 x 0.21) x 1,000 = 45,826.
    let (each, group) = alike(10_000, 1_000, 0.3);
    let r = revenue_range(500, &[group], 1).unwrap();
    let RangeMethod::Normal { berry_esseen_bound } = r.method else {
        panic!("normal: {r:?}")
    };
    // 0.56 x (p^2 + (1-p)^2) / sqrt(n p (1-p)) = 0.56 x 0.58 / sqrt(2,100).
    assert!((berry_esseen_bound - 0.56 * 0.58 / 2_100f64.sqrt()).abs() < 1e-9);
    let sd = 2_100f64.sqrt() * 1_000.0;
    assert_eq!(r.p50, 3_000_500);
    assert_eq!(r.p10, (3_000_500.0 - Z90 * sd).round() as i64);
    assert_eq!(r.p90, (3_000_500.0 + Z90 * sd).round() as i64);
    // The same deals one by one give the same range (the bound up to rounding), and a
    // group needs no deal loaded.
    let one_by_one = revenue_range(500, &each, 1).unwrap();
    assert_eq!(
        (one_by_one.p10, one_by_one.p50, one_by_one.p90),
        (r.p10, r.p50, r.p90)
    );
    let RangeMethod::Normal {
        berry_esseen_bound: b,
    } = one_by_one.method
    else {
        panic!("normal: {one_by_one:?}")
    };
    assert!((b - berry_esseen_bound).abs() < 1e-12);
    assert!(!range_needs_each_deal(&[group]));
}

#[test]
fn few_grouped_deals_ask_for_the_deals_themselves() {
    let (each, group) = alike(5, 1_000, 0.3);
    assert!(range_needs_each_deal(&[group]));
    assert_eq!(revenue_range(0, &[group], 1), None);
    assert_eq!(
        revenue_range(0, &each, 1).unwrap().method,
        RangeMethod::Exact
    );
    // One uneven deal among many keeps sampling ahead of the normal approximation.
    let (_, small) = alike(2_000, 10, 0.3);
    let whale = deal(100_000_000, 0.3, ForecastCategory::Commit);
    assert!(range_needs_each_deal(&[small, whale]));
}

fn pipeline(deals: &[(i64, f64)]) -> Vec<OpenDeals> {
    deals
        .iter()
        .map(|&(a, p)| deal(a, p, ForecastCategory::Pipeline))
        .collect()
}

fn points(r: Range) -> (i64, i64, i64) {
    (r.p10, r.p50, r.p90)
}

#[test]
fn with_nothing_uncertain_the_model_range_is_a_point() {
    let deals = pipeline(&[(50, 1.0), (999, 0.0)]);
    let r = model_range(100, &deals, &[30], &[], 7).unwrap();
    assert_eq!(points(r), (180, 180, 180));
    assert_eq!(r.method, RangeMethod::Exact);
}

#[test]
fn the_not_yet_created_part_is_drawn_from_its_past_values() {
    let r = model_range(1_000, &[], &[0, 100], &[], 42).unwrap();
    assert_eq!((r.p10, r.p90), (1_000, 1_100));
    assert!(matches!(r.method, RangeMethod::MonteCarlo { .. }));
}

#[test]
fn periods_that_run_hot_or_cold_together_widen_the_range() {
    let deals = pipeline(&[(100, 0.5); 200]);
    let plain = model_range(0, &deals, &[], &[], 3).unwrap();
    let swung = model_range(0, &deals, &[], &[0.6, 1.4], 3).unwrap();
    assert!(
        swung.p10 < plain.p10 && swung.p90 > plain.p90,
        "{swung:?} vs {plain:?}"
    );
    // Every deal certain and an effect of 2 still books each deal once.
    let sure = pipeline(&[(100, 1.0)]);
    assert_eq!(
        points(model_range(0, &sure, &[0, 0], &[2.0, 1.0], 3).unwrap()),
        (100, 100, 100)
    );
}

#[test]
fn many_grouped_deals_take_a_mixture_of_normals_that_brackets_the_values() {
    // 10,000 deals of 1,000 at 30%, and a term of 0 or 1,000,000: half the periods near
    // 3.0M, half near 4.0M.
    let (_, group) = alike(10_000, 1_000, 0.3);
    let r = model_range(0, &[group], &[0, 1_000_000], &[], 1).unwrap();
    let RangeMethod::Normal { berry_esseen_bound } = r.method else {
        panic!("normal: {r:?}")
    };
    assert!((berry_esseen_bound - 0.56 * 0.58 / 2_100f64.sqrt()).abs() < 1e-9);
    let sd = 2_100f64.sqrt() * 1_000.0;
    // P(X <= x) = (Phi((x - 3M) / sd) + Phi((x - 4M) / sd)) / 2: at 10%, Phi = 0.2.
    let z20 = 0.841_621_233_572_914_3;
    assert!(
        (r.p10 as f64 - (3_000_000.0 - z20 * sd)).abs() <= 2.0,
        "{r:?}"
    );
    assert!(
        (r.p90 as f64 - (4_000_000.0 + z20 * sd)).abs() <= 2.0,
        "{r:?}"
    );
    // Half the mass lies in each hump: the median is in the gap between them.
    let gap = (3_000_000.0 + 4.0 * sd)..(4_000_000.0 - 4.0 * sd);
    assert!(gap.contains(&(r.p50 as f64)), "{r:?}");
    // Grouped and too few for the normal approximation: the deals themselves are needed.
    let (_, few) = alike(5, 1_000, 0.3);
    assert_eq!(model_range(0, &[few], &[0, 10], &[], 1), None);
}

#[test]
fn normal_cdf_matches_known_values() {
    for (z, p) in [(0.0, 0.5), (Z90, 0.9), (-Z90, 0.1), (1.959_963_985, 0.975)] {
        assert!((normal_cdf(z) - p).abs() < 2e-7, "{z}: {}", normal_cdf(z));
    }
}

pub(crate) fn arb_deal() -> impl Strategy<Value = OpenDeals> {
    (
        0i64..1_000_000,
        prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0],
        0usize..4,
    )
        .prop_map(|(a, p, c)| {
            let category = [
                ForecastCategory::Commit,
                ForecastCategory::BestCase,
                ForecastCategory::Pipeline,
                ForecastCategory::Omitted,
            ][c];
            deal(a, p, category)
        })
}

proptest! {
    /// The sampler's totals are its draws taken one by one, whichever instruction set runs
    /// its loop.
    #[test]
    fn sampled_totals_are_the_draws_one_by_one_whichever_instructions_run(
        draws in proptest::collection::vec((0i64..1_000_000_000, 0.0f64..=1.0), 0..40),
        samples in 1usize..300,
        certain in 0i64..1_000_000,
        seed in any::<u64>(),
    ) {
        use crate::domain::random::Rng;
        let draws: Vec<(i64, u64)> = draws.into_iter().map(|(a, p)| (a, Rng::odds(p))).collect();
        let mut rng = Rng::new(seed);
        let mut expected = vec![certain; samples];
        for &(amount, odds) in &draws {
            for total in &mut expected {
                if rng.wins(odds) {
                    *total += amount;
                }
            }
        }
        prop_assert_eq!(sampled_totals(certain, &draws, samples, seed), expected);
    }

    /// The range is ordered and stays between what is certain and everything won.
    #[test]
    fn the_range_is_ordered_and_bounded(deals in proptest::collection::vec(arb_deal(), 0..40), closed in 0i64..1_000_000, seed in any::<u64>()) {
        let r = revenue_range(closed, &deals, seed).unwrap();
        let everything: i64 = closed + deals.iter().filter(|d| d.probability > 0.0).map(|d| d.amount).sum::<i64>();
        let certain: i64 = closed + deals.iter().filter(|d| d.probability >= 1.0).map(|d| d.amount).sum::<i64>();
        prop_assert!(certain <= r.p10 && r.p10 <= r.p50 && r.p50 <= r.p90 && r.p90 <= everything);
    }

    /// With every probability 0 or 1 there is no uncertainty: the range collapses to the
    /// exact expected value.
    #[test]
    fn certain_outcomes_collapse_the_range(deals in proptest::collection::vec((0i64..1_000_000, any::<bool>()), 0..60), closed in 0i64..1_000_000) {
        let deals: Vec<OpenDeals> = deals.into_iter().map(|(a, won)| deal(a, if won { 1.0 } else { 0.0 }, ForecastCategory::Pipeline)).collect();
        let expected = Figures::of(closed, &deals).expected;
        let r = revenue_range(closed, &deals, 7).unwrap();
        prop_assert_eq!((r.p10, r.p50, r.p90), (expected, expected, expected));
        prop_assert_eq!(r.method, RangeMethod::Exact);
    }

    /// Whatever the deals, past values and effects, the model's range is ordered, never
    /// below what is already won, never above everything won plus the largest past value,
    /// and the same for the same seed.
    #[test]
    fn the_model_range_is_ordered_bounded_and_seeded(
        deals in proptest::collection::vec(arb_deal(), 0..40),
        new in proptest::collection::vec(0i64..1_000_000, 0..12),
        effects in proptest::collection::vec(0.2f64..2.0, 0..6),
        closed in 0i64..1_000_000,
        seed in any::<u64>(),
    ) {
        let r = model_range(closed, &deals, &new, &effects, seed).unwrap();
        prop_assert!(closed <= r.p10 && r.p10 <= r.p50 && r.p50 <= r.p90);
        let most = closed + deals.iter().map(|d| d.amount).sum::<i64>() + new.iter().max().copied().unwrap_or(0);
        prop_assert!(r.p90 <= most);
        prop_assert_eq!(model_range(closed, &deals, &new, &effects, seed), Some(r));
    }
}
