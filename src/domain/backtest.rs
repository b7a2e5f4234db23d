//! Scoring forecasts against what happened: the naive baselines a forecast must beat, each
//! backtest point's error, the summary per method, and the calibration of deal probabilities.
//!
//! The scores only compare; what may feed a past point (nothing after its day) is the caller's
//! rule, kept by building each point's inputs as of that day.

use std::collections::HashMap;
use std::fmt;

use super::forecast::accuracy;
use super::new_pipeline::{NotYetCreated, mean_half_up};

mod sources;
pub use sources::{BookedAfter, Source, source_of};

/// A way to forecast a period, as a backtest compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// Each open deal weighted with its stage's static default probability.
    StaticDefaults,
    /// Each open deal weighted with its stage's learned win rate (what every CRM shows).
    Classic,
    /// Each open deal weighted with q, its chance to book in the period, plus the
    /// not-yet-created term.
    PeriodForecast,
    /// Baseline: the average revenue of the last K periods of the same kind.
    LastPeriodsAverage,
    /// Baseline: closed so far plus the not-yet-created term, no pipeline.
    ClosedPlusNew,
}

impl Method {
    /// Every method, in the order reports list them.
    pub const ALL: [Method; 5] = [
        Method::StaticDefaults,
        Method::Classic,
        Method::PeriodForecast,
        Method::LastPeriodsAverage,
        Method::ClosedPlusNew,
    ];

    /// The method's stable name, the one the wire and stored results use.
    pub fn name(self) -> &'static str {
        match self {
            Method::StaticDefaults => "static_defaults",
            Method::Classic => "classic",
            Method::PeriodForecast => "period",
            Method::LastPeriodsAverage => "last_periods_average",
            Method::ClosedPlusNew => "closed_plus_new",
        }
    }

    /// The method named `name` ([`Method::name`]), if any.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Baseline: the mean of the last K periods' won revenue (halves up; 0 with no history).
pub fn average_of_last_periods(values: &[i64]) -> i64 {
    mean_half_up(values)
}

/// Baseline: what is already won in the period plus the expected not-yet-created revenue.
pub fn closed_plus_new(closed_so_far: i64, new: &NotYetCreated) -> i64 {
    closed_so_far.saturating_add(new.expected)
}

/// One forecast scored against the period's actual revenue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointScore {
    /// What was forecast.
    pub forecast: i64,
    /// What was won.
    pub actual: i64,
    /// forecast - actual: positive when the forecast was too high.
    pub error: i64,
    /// |error| / actual; none when nothing was won (no share of nothing).
    pub ape: Option<f64>,
    /// error / actual, keeping the sign so a method that leans one way shows it; none when
    /// nothing was won.
    pub bias: Option<f64>,
    /// Whether P10 <= actual <= P90, when a range was given.
    pub held: Option<bool>,
}

impl PointScore {
    /// Scores `forecast` against `actual`, with its range `(p10, p90)` if it has one. The bounds
    /// count as inside: a P90 of exactly the actual held it.
    pub fn of(forecast: i64, actual: i64, range: Option<(i64, i64)>) -> PointScore {
        let (error, ape) = accuracy(forecast, actual);
        PointScore {
            forecast,
            actual,
            error,
            ape,
            bias: (actual != 0).then(|| error as f64 / actual as f64),
            held: range.map(|(p10, p90)| p10 <= actual && actual <= p90),
        }
    }
}

/// A deal's predicted chance to be won in the period, and whether it was.
#[derive(Debug, Clone, PartialEq)]
pub struct DealPrediction {
    /// The stage the deal was in when predicted.
    pub stage: String,
    /// The predicted chance, in [0, 1] (values outside are taken as the nearest bound).
    pub probability: f64,
    /// Whether it was won with a booking date in the period.
    pub won_in_period: bool,
}

impl DealPrediction {
    fn chance(&self) -> f64 {
        self.probability.clamp(0.0, 1.0)
    }

    fn outcome(&self) -> f64 {
        if self.won_in_period { 1.0 } else { 0.0 }
    }
}

/// A method's scores over a backtest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MethodSummary {
    pub method: Method,
    /// How many points were scored.
    pub points: usize,
    /// The mean APE over the points that have one; none when none has.
    pub mean_ape: Option<f64>,
    /// The mean bias over the points that have one; none when none has.
    pub mean_bias: Option<f64>,
    /// The share of the points with a range whose range held the actual; none when no point
    /// had a range.
    pub coverage: Option<f64>,
    /// The Brier score of the method's deal predictions; none when it made none.
    pub brier: Option<f64>,
}

/// Summarises a method's `points` and its deal-level `predictions` (the baselines make none).
pub fn summarize(
    method: Method,
    points: &[PointScore],
    predictions: &[DealPrediction],
) -> MethodSummary {
    MethodSummary {
        method,
        points: points.len(),
        mean_ape: mean(points.iter().filter_map(|p| p.ape)),
        mean_bias: mean(points.iter().filter_map(|p| p.bias)),
        coverage: mean(points.iter().filter_map(|p| p.held.map(f64::from))),
        brier: brier(predictions),
    }
}

/// The mean of (probability - outcome)^2 over deal predictions (outcome 1 when won in the
/// period, else 0): 0 is perfect, 0.25 is a coin toss's; none when there are none.
pub fn brier(predictions: &[DealPrediction]) -> Option<f64> {
    mean(
        predictions
            .iter()
            .map(|d| (d.chance() - d.outcome()).powi(2)),
    )
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(sum, n), v| (sum + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// How many probability buckets a calibration table has: [0, 0.1), ..., [0.9, 1.0].
pub const BUCKETS: usize = 10;

/// The bucket of a probability: the number of edges 0.1, ..., 0.9 it reaches, so an edge
/// belongs to the bucket above it and 1.0 to the last. Compared with each edge (k / 10 is the
/// double written 0.k) rather than floored from p x 10, whose rounding could put an edge's own
/// value in the bucket below it.
pub fn bucket_of(probability: f64) -> usize {
    (1..BUCKETS)
        .filter(|&edge| probability >= edge as f64 / BUCKETS as f64)
        .count()
}

/// One row of the calibration table: the deals of one stage whose probability fell in one
/// bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationRow {
    pub stage: String,
    /// The bucket, 0 ([0, 0.1)) to 9 ([0.9, 1.0]).
    pub bucket: usize,
    /// The mean predicted probability of its deals.
    pub predicted: f64,
    /// The share of its deals won in the period.
    pub realised: f64,
    /// How many deals.
    pub n: u64,
}

impl CalibrationRow {
    /// The bucket's lower and upper edges (the last includes 1.0).
    pub fn edges(&self) -> (f64, f64) {
        (
            self.bucket as f64 / BUCKETS as f64,
            (self.bucket + 1) as f64 / BUCKETS as f64,
        )
    }
}

/// Sums of one (stage, bucket) cell.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    predicted: f64,
    won: u64,
    n: u64,
}

/// The calibration table: per stage, per probability bucket ([`bucket_of`]), the mean
/// predicted probability beside the share of deals won in the period, with n. Rows follow the
/// order of `stages` (a stage listed twice counts once), then any stage not listed in the order
/// it first appears in `predictions` (so no prediction is dropped), then the bucket; empty
/// buckets have no row.
pub fn calibration(
    stages: &[impl AsRef<str>],
    predictions: &[DealPrediction],
) -> Vec<CalibrationRow> {
    let mut order: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let named = stages.iter().map(AsRef::as_ref);
    for stage in named.chain(predictions.iter().map(|d| d.stage.as_str())) {
        index.entry(stage).or_insert_with(|| {
            order.push(stage);
            order.len() - 1
        });
    }
    let mut cells = vec![[Cell::default(); BUCKETS]; order.len()];
    for d in predictions {
        let Some(&row) = index.get(d.stage.as_str()) else {
            continue;
        };
        let cell = &mut cells[row][bucket_of(d.chance())];
        cell.predicted += d.chance();
        cell.won += u64::from(d.won_in_period);
        cell.n += 1;
    }
    let mut rows = Vec::new();
    for (stage, buckets) in order.iter().zip(&cells) {
        for (bucket, cell) in buckets.iter().enumerate().filter(|(_, c)| c.n > 0) {
            rows.push(CalibrationRow {
                stage: (*stage).to_owned(),
                bucket,
                predicted: cell.predicted / cell.n as f64,
                realised: cell.won as f64 / cell.n as f64,
                n: cell.n,
            });
        }
    }
    rows
}

/// The methods from most to least accurate by mean APE; a method without one (no point with
/// actual revenue) comes last, and ties keep the order of [`Method::ALL`].
pub fn ranked(summaries: &[MethodSummary]) -> Vec<Method> {
    let mut sorted: Vec<&MethodSummary> = summaries.iter().collect();
    sorted.sort_by(|a, b| {
        let key = |s: &MethodSummary| s.mean_ape.unwrap_or(f64::INFINITY);
        key(a).total_cmp(&key(b)).then(a.method.cmp(&b.method))
    });
    sorted.into_iter().map(|s| s.method).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::Period;
    use proptest::prelude::*;

    fn deal(stage: &str, probability: f64, won_in_period: bool) -> DealPrediction {
        DealPrediction {
            stage: stage.to_owned(),
            probability,
            won_in_period,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn method_names_are_stable_and_parse_back() {
        let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            [
                "static_defaults",
                "classic",
                "period",
                "last_periods_average",
                "closed_plus_new"
            ]
        );
        for method in Method::ALL {
            assert_eq!(Method::from_name(&method.to_string()), Some(method));
        }
        assert_eq!(Method::from_name("Classic"), None);
    }

    #[test]
    fn the_last_periods_average_is_their_mean_rounded_half_up() {
        assert_eq!(average_of_last_periods(&[100, 200, 301, 400]), 250);
        assert_eq!(average_of_last_periods(&[1, 2]), 2);
        assert_eq!(average_of_last_periods(&[]), 0);
    }

    #[test]
    fn closed_plus_new_adds_the_expected_not_yet_created_revenue() {
        let new = NotYetCreated {
            expected: 35,
            values: vec![
                (Period::parse("2026-01").unwrap(), 20),
                (Period::parse("2026-02").unwrap(), 50),
            ],
        };
        assert_eq!(closed_plus_new(1_000, &new), 1_035);
    }

    #[test]
    fn the_error_is_forecast_minus_actual_and_bias_keeps_its_sign() {
        let low = PointScore::of(80, 100, None);
        assert_eq!((low.error, low.ape, low.bias), (-20, Some(0.2), Some(-0.2)));
        let high = PointScore::of(125, 100, None);
        assert_eq!(
            (high.error, high.ape, high.bias),
            (25, Some(0.25), Some(0.25))
        );
        assert_eq!(high.held, None);
    }

    #[test]
    fn ape_is_undefined_when_nothing_was_won() {
        let score = PointScore::of(5, 0, Some((0, 10)));
        assert_eq!((score.error, score.ape, score.bias), (5, None, None));
        assert_eq!(score.held, Some(true));
    }

    #[test]
    fn a_range_holds_the_actual_between_p10_and_p90_inclusive() {
        let held = |actual| PointScore::of(100, actual, Some((90, 110))).held;
        assert_eq!(
            [held(89), held(90), held(100), held(110), held(111)],
            [Some(false), Some(true), Some(true), Some(true), Some(false)]
        );
    }

    #[test]
    fn coverage_counts_points_whose_range_held_the_actual() {
        let points = [
            PointScore::of(100, 100, Some((90, 110))),
            PointScore::of(100, 105, Some((90, 110))),
            PointScore::of(100, 200, Some((90, 110))),
            PointScore::of(100, 100, None),
        ];
        let summary = summarize(Method::PeriodForecast, &points, &[]);
        assert_eq!(summary.points, 4);
        assert!(close(summary.coverage.unwrap(), 2.0 / 3.0));
    }

    #[test]
    fn mean_ape_and_bias_skip_points_where_nothing_was_won() {
        let points = [
            PointScore::of(80, 100, None),
            PointScore::of(130, 100, None),
            PointScore::of(50, 0, None),
        ];
        let summary = summarize(Method::Classic, &points, &[]);
        assert!(close(summary.mean_ape.unwrap(), 0.25));
        assert!(close(summary.mean_bias.unwrap(), 0.05));
        assert_eq!(
            (summary.points, summary.coverage, summary.brier),
            (3, None, None)
        );
    }

    #[test]
    fn a_summary_of_no_points_has_no_means() {
        assert_eq!(
            summarize(Method::ClosedPlusNew, &[], &[]),
            MethodSummary {
                method: Method::ClosedPlusNew,
                points: 0,
                mean_ape: None,
                mean_bias: None,
                coverage: None,
                brier: None,
            }
        );
    }

    #[test]
    fn brier_of_perfect_predictions_is_zero() {
        let deals = [deal("a", 1.0, true), deal("b", 0.0, false)];
        assert_eq!(brier(&deals), Some(0.0));
    }

    #[test]
    fn brier_is_the_mean_squared_gap_between_probability_and_outcome() {
        // (0.8 - 1)^2 = 0.04 and (0.3 - 0)^2 = 0.09.
        let deals = [deal("a", 0.8, true), deal("a", 0.3, false)];
        assert!(close(brier(&deals).unwrap(), 0.065));
        assert_eq!(brier(&[]), None);
    }

    #[test]
    fn calibration_buckets_put_an_edge_in_the_bucket_above_and_one_in_the_last() {
        let buckets: Vec<usize> = [0.0, 0.05, 0.1, 0.3, 0.7, 0.899_999, 0.9, 1.0]
            .into_iter()
            .map(bucket_of)
            .collect();
        assert_eq!(buckets, [0, 0, 1, 3, 7, 8, 9, 9]);
        for bucket in 0..BUCKETS {
            assert_eq!(bucket_of(bucket as f64 / 10.0), bucket, "edge of {bucket}");
        }
    }

    #[test]
    fn calibration_compares_the_mean_prediction_with_the_share_won() {
        let deals = [
            deal("Proposal", 0.62, true),
            deal("Proposal", 0.68, false),
            deal("Proposal", 0.65, true),
            deal("Proposal", 0.65, true),
        ];
        let rows = calibration(&["Proposal"], &deals);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!((row.stage.as_str(), row.bucket, row.n), ("Proposal", 6, 4));
        assert!(close(row.predicted, 0.65) && close(row.realised, 0.75));
        assert_eq!(row.edges(), (0.6, 0.7));
    }

    #[test]
    fn calibration_rows_follow_the_callers_stage_order_then_bucket() {
        let deals = [
            deal("Qualify", 0.15, false),
            deal("Negotiate", 0.95, true),
            deal("Unlisted", 0.5, true),
            deal("Qualify", 0.05, false),
            deal("Negotiate", 1.0, true),
            deal("Negotiate", 0.45, false),
        ];
        let rows: Vec<(String, usize, u64)> =
            calibration(&["Negotiate", "Qualify", "Negotiate"], &deals)
                .into_iter()
                .map(|r| (r.stage, r.bucket, r.n))
                .collect();
        let row = |stage: &str, bucket, n| (stage.to_owned(), bucket, n);
        assert_eq!(
            rows,
            [
                row("Negotiate", 4, 1),
                row("Negotiate", 9, 2),
                row("Qualify", 0, 1),
                row("Qualify", 1, 1),
                row("Unlisted", 5, 1),
            ]
        );
    }

    #[test]
    fn methods_rank_by_mean_ape_and_those_without_one_come_last() {
        let summary = |method, mean_ape| MethodSummary {
            method,
            points: 1,
            mean_ape,
            mean_bias: None,
            coverage: None,
            brier: None,
        };
        let order = ranked(&[
            summary(Method::LastPeriodsAverage, None),
            summary(Method::Classic, Some(0.3)),
            summary(Method::ClosedPlusNew, Some(0.1)),
            summary(Method::StaticDefaults, Some(0.3)),
        ]);
        assert_eq!(
            order,
            [
                Method::ClosedPlusNew,
                Method::StaticDefaults,
                Method::Classic,
                Method::LastPeriodsAverage
            ]
        );
    }

    fn arb_point() -> impl Strategy<Value = PointScore> {
        (
            -1_000_000i64..1_000_000,
            -1_000_000i64..1_000_000,
            prop::option::of((-1_000_000i64..1_000_000, 0i64..1_000_000)),
        )
            .prop_map(|(forecast, actual, range)| {
                PointScore::of(
                    forecast,
                    actual,
                    range.map(|(p10, width)| (p10, p10 + width)),
                )
            })
    }

    proptest! {
        /// APE is never negative, and is the absolute value of the bias.
        #[test]
        fn ape_is_never_negative(forecast in any::<i32>(), actual in any::<i32>()) {
            let score = PointScore::of(i64::from(forecast), i64::from(actual), None);
            if let (Some(ape), Some(bias)) = (score.ape, score.bias) {
                prop_assert!(ape >= 0.0);
                prop_assert_eq!(ape, bias.abs());
            } else {
                prop_assert_eq!(actual, 0);
            }
        }

        /// Coverage is a share, and mean APE is never negative.
        #[test]
        fn coverage_is_a_share(points in prop::collection::vec(arb_point(), 0..40)) {
            let summary = summarize(Method::PeriodForecast, &points, &[]);
            if let Some(coverage) = summary.coverage {
                prop_assert!((0.0..=1.0).contains(&coverage));
            }
            prop_assert_eq!(summary.coverage.is_some(), points.iter().any(|p| p.held.is_some()));
            prop_assert!(summary.mean_ape.is_none_or(|ape| ape >= 0.0));
        }

        /// The Brier score is in [0, 1], and the calibration table accounts for every deal
        /// once, each row's mean prediction inside its bucket.
        #[test]
        fn brier_is_in_the_unit_interval_and_calibration_keeps_every_deal(
            deals in prop::collection::vec((0usize..3, 0.0f64..=1.0, any::<bool>()), 0..60)
        ) {
            let stages = ["a", "b", "c"];
            let deals: Vec<DealPrediction> = deals
                .into_iter()
                .map(|(s, p, won)| deal(stages[s], p, won))
                .collect();
            prop_assert!(brier(&deals).is_none_or(|b| (0.0..=1.0).contains(&b)));
            let rows = calibration(&stages[..2], &deals);
            prop_assert_eq!(rows.iter().map(|r| r.n).sum::<u64>(), deals.len() as u64);
            for row in &rows {
                let (low, high) = row.edges();
                prop_assert!(low - 1e-12 <= row.predicted && row.predicted <= high + 1e-12);
                prop_assert!((0.0..=1.0).contains(&row.realised));
            }
        }
    }
}
