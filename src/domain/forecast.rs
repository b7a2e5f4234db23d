//! The weighted forecast of a period: closed won, each open deal's amount times its stage's win
//! rate, the unweighted sums per category with the cumulative views leaders read, and the range
//! of the period's revenue treating each open deal as an independent win.
//!
//! Amounts are minor units of the reporting currency (converted before they get here). Each
//! deal's weighted amount is rounded to a minor unit once, so figures add up exactly when rolled
//! up the reporting tree.

use super::deal::ForecastCategory;
use super::random::Rng;

/// One open deal closing in the period, in the reporting currency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenDeal {
    /// Amount in minor units (0 when the deal has none).
    pub amount: i64,
    /// Its stage's win rate, in [0, 1].
    pub probability: f64,
    /// Its forecast category.
    pub category: ForecastCategory,
}

impl OpenDeal {
    /// amount x probability, rounded to a minor unit.
    pub fn weighted(&self) -> i64 {
        (self.amount as f64 * self.probability.clamp(0.0, 1.0)).round() as i64
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
    pub fn of<'a>(closed_won: i64, deals: impl IntoIterator<Item = &'a OpenDeal>) -> Figures {
        let mut f = Figures {
            closed_won,
            ..Figures::default()
        };
        for deal in deals {
            f.weighted_pipeline += deal.weighted();
            f.open_deals += 1;
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
pub const EXACT_LIMIT: usize = 16;
/// Most samples, and the budget of samples x deals a range may cost.
const MAX_SAMPLES: u64 = 10_000;
const MIN_SAMPLES: u64 = 1_000;
const SAMPLE_BUDGET: u64 = 20_000_000;

/// The range of `closed_won` plus each deal won independently with its probability.
pub fn revenue_range(closed_won: i64, deals: &[OpenDeal], seed: u64) -> Range {
    // Certain outcomes add a constant; only uncertain deals spread the range.
    let mut certain = closed_won;
    let uncertain: Vec<(i64, f64)> = deals
        .iter()
        .filter_map(|d| {
            let p = d.probability.clamp(0.0, 1.0);
            if p >= 1.0 {
                certain += d.amount;
                None
            } else if p <= 0.0 || d.amount == 0 {
                None
            } else {
                Some((d.amount, p))
            }
        })
        .collect();
    if uncertain.len() <= EXACT_LIMIT {
        let mut outcomes: Vec<(i64, f64)> = vec![(certain, 1.0)];
        for &(amount, p) in &uncertain {
            outcomes = outcomes
                .iter()
                .flat_map(|&(value, prob)| [(value + amount, prob * p), (value, prob * (1.0 - p))])
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
        return Range {
            p10: quantile(0.1),
            p50: quantile(0.5),
            p90: quantile(0.9),
            method: RangeMethod::Exact,
        };
    }
    let samples = (SAMPLE_BUDGET / uncertain.len() as u64).clamp(MIN_SAMPLES, MAX_SAMPLES);
    let mut rng = Rng::new(seed);
    let mut totals: Vec<i64> = (0..samples)
        .map(|_| {
            certain
                + uncertain
                    .iter()
                    .filter(|&&(_, p)| rng.unit() < p)
                    .map(|&(amount, _)| amount)
                    .sum::<i64>()
        })
        .collect();
    totals.sort_unstable();
    let at = |q: f64| totals[((q * samples as f64).ceil() as usize).clamp(1, totals.len()) - 1];
    Range {
        p10: at(0.1),
        p50: at(0.5),
        p90: at(0.9),
        method: RangeMethod::MonteCarlo {
            samples: samples as u32,
            seed,
            dkw_bound: ((2.0f64 / 0.01).ln() / (2.0 * samples as f64)).sqrt(),
        },
    }
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

    fn deal(amount: i64, probability: f64, category: ForecastCategory) -> OpenDeal {
        OpenDeal {
            amount,
            probability,
            category,
        }
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
    fn a_small_range_is_exact() {
        // Two deals of 100 at 50%: outcomes 0, 100, 100, 200 each 1/4.
        let deals = [
            deal(100, 0.5, ForecastCategory::Pipeline),
            deal(100, 0.5, ForecastCategory::Pipeline),
        ];
        let r = revenue_range(1_000, &deals, 1);
        assert_eq!((r.p10, r.p50, r.p90), (1_000, 1_100, 1_200));
        assert_eq!(r.method, RangeMethod::Exact);
    }

    #[test]
    fn a_large_range_is_sampled_with_its_error_bound() {
        let deals: Vec<OpenDeal> = (0..100)
            .map(|i| deal(1_000 + i, 0.3, ForecastCategory::Pipeline))
            .collect();
        let r = revenue_range(0, &deals, 42);
        let RangeMethod::MonteCarlo {
            samples, dkw_bound, ..
        } = r.method
        else {
            panic!("sampled")
        };
        assert_eq!(samples, 10_000);
        assert!((dkw_bound - 0.01628).abs() < 1e-4);
        // Mean 100 x 1049.5 x 0.3 = 31,485; sd ~ sqrt(100 x 0.21) x 1050 = 4,812.
        assert!((r.p50 - 31_485).abs() < 1_500, "{}", r.p50);
        assert!(r.p10 < r.p50 && r.p50 < r.p90);
        assert_eq!(
            revenue_range(0, &deals, 42),
            r,
            "seeded: the same every time"
        );
    }

    fn arb_deal() -> impl Strategy<Value = OpenDeal> {
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
        /// The range is ordered and stays between what is certain and everything won.
        #[test]
        fn the_range_is_ordered_and_bounded(deals in proptest::collection::vec(arb_deal(), 0..40), closed in 0i64..1_000_000, seed in any::<u64>()) {
            let r = revenue_range(closed, &deals, seed);
            let everything: i64 = closed + deals.iter().filter(|d| d.probability > 0.0).map(|d| d.amount).sum::<i64>();
            let certain: i64 = closed + deals.iter().filter(|d| d.probability >= 1.0).map(|d| d.amount).sum::<i64>();
            prop_assert!(certain <= r.p10 && r.p10 <= r.p50 && r.p50 <= r.p90 && r.p90 <= everything);
        }

        /// With every probability 0 or 1 there is no uncertainty: the range collapses to the
        /// exact expected value.
        #[test]
        fn certain_outcomes_collapse_the_range(deals in proptest::collection::vec((0i64..1_000_000, any::<bool>()), 0..60), closed in 0i64..1_000_000) {
            let deals: Vec<OpenDeal> = deals.into_iter().map(|(a, won)| deal(a, if won { 1.0 } else { 0.0 }, ForecastCategory::Pipeline)).collect();
            let expected = Figures::of(closed, &deals).expected;
            let r = revenue_range(closed, &deals, 7);
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
