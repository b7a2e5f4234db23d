//! The weighted forecast of a period: closed won, each open deal's amount times its stage's win
//! rate, the unweighted sums per category with the cumulative views leaders read, and the range
//! of the period's revenue treating each open deal as an independent win.
//!
//! Amounts are minor units of the reporting currency (converted before they get here). Each
//! deal's weighted amount is rounded to a minor unit once ([`weigh`]), so figures add up exactly
//! when rolled up the reporting tree, whichever way the deals were grouped to be added up.

use super::deal::ForecastCategory;
use super::money::round_half_up;
use crate::domain::ids::ForecastSnapshotId;

mod range;

pub use range::{
    EXACT_LIMIT, Range, RangeMethod, model_range, range_needs_each_deal, revenue_range,
};

/// Open deals closing in the period that share a win rate, a period rate and a forecast
/// category, in the reporting currency: one deal, or the sums over a group of them (as the
/// database adds them up, so that a forecast never loads its deals one by one).
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
    /// The probability the range wins each of them with, in [0, 1]: the model's (q, the period
    /// rate, where the forecast has one; else the stage's win rate).
    pub probability: f64,
    /// Their forecast category.
    pub category: ForecastCategory,
    /// The sum of each deal's [`weigh`]ed amount at its stage's win rate (the classic figure).
    pub weighted: i64,
    /// The sum of each deal's [`weigh`]ed amount at `probability` (the period forecast's).
    pub period_weighted: i64,
}

/// A deal's weighted amount: its amount times its stage's win rate, rounded to a minor unit
/// (halves up). Rounded per deal, so figures add up exactly however they are rolled up the
/// reporting tree; the database computes the same per deal (`persistence::forecast`).
pub fn weigh(amount: i64, probability: f64) -> i64 {
    round_half_up(amount as f64 * probability.clamp(0.0, 1.0))
}

impl OpenDeals {
    /// One deal weighed at `probability` by both methods.
    pub fn one(amount: i64, probability: f64, category: ForecastCategory) -> OpenDeals {
        OpenDeals::weighed(amount, probability, probability, category)
    }

    /// One deal weighed at its stage's win rate `classic` and at its period rate `q` (which the
    /// range draws it with).
    pub fn weighed(amount: i64, classic: f64, q: f64, category: ForecastCategory) -> OpenDeals {
        let a = amount as f64;
        OpenDeals {
            deals: 1,
            amount,
            squares: a * a,
            cubes: a * a * a,
            probability: q,
            category,
            weighted: weigh(amount, classic),
            period_weighted: weigh(amount, q),
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
    /// Sum of amount x win rate over open deals closing in the period (the classic figure).
    pub weighted_pipeline: i64,
    /// closed won + weighted pipeline: the classic stage-weighted forecast.
    pub classic_expected: i64,
    /// Sum of amount x q (the period rate) over the same deals: the period forecast's open part.
    pub period_forecast: i64,
    /// Revenue expected from deals not created yet ([`Figures::with_new`]).
    pub not_yet_created: i64,
    /// Revenue expected from open deals dated in the next period that are booked in this one:
    /// the sum of amount x pull-in q ([`Figures::with_off_period`]).
    pub pulled_in: i64,
    /// Revenue expected from open deals dated before the period (overdue) that are booked in
    /// it: the sum of amount x overdue q ([`Figures::with_off_period`]).
    pub overdue: i64,
    /// closed won + period forecast + pulled in + overdue + not yet created: the forecast.
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
            f.period_forecast += deal.period_weighted;
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

    /// The figures with `new` expected from deals not created yet added to the forecast.
    pub fn with_new(mut self, new: i64) -> Figures {
        self.not_yet_created = new;
        self.derive()
    }

    /// The figures with what open deals dated off the period are expected to book in it
    /// added to the forecast, by kind in [`OffPeriod::ALL`](crate::domain::period_rate::OffPeriod::ALL)'s order: pulled in, overdue.
    pub fn with_off_period(mut self, [pulled_in, overdue]: [i64; 2]) -> Figures {
        self.pulled_in = pulled_in;
        self.overdue = overdue;
        self.derive()
    }

    fn derive(mut self) -> Figures {
        self.classic_expected = self.closed_won + self.weighted_pipeline;
        self.expected = self.closed_won
            + self.period_forecast
            + self.pulled_in
            + self.overdue
            + self.not_yet_created;
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
            period_forecast: self.period_forecast + other.period_forecast,
            not_yet_created: self.not_yet_created + other.not_yet_created,
            pulled_in: self.pulled_in + other.pulled_in,
            overdue: self.overdue + other.overdue,
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
    pub id: ForecastSnapshotId,
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

    use super::range::tests::{alike, arb_deal};
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

    proptest! {
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
