//! Historical stage win rates: for a stage S, the cohort is every deal of the pipeline that
//! closed in the look-back window and was ever in S (created in S counts).
//!
//! - raw rate = wins / n (none when n = 0);
//! - smoothed rate = (wins + k * prior) / (n + k): a stage with little history leans on its
//!   prior (the stage's default probability, or for a segment the stage's pipeline-wide rate);
//! - a 95% Wilson score interval on the raw rate;
//! - optionally value-weighted: won amount / total amount in the cohort.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::directory::UserId;
use super::pipeline::{PipelineSpec, StageKind};
use crate::domain::ids::{PipelineId, WinRateSnapshotId};

pub use super::estimate::{DEFAULT_PRIOR_WEIGHT, wilson};

/// A stage's cohort as counted from the history.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cohort {
    /// Deals that closed in the window and were ever in the stage.
    pub n: u64,
    /// How many of them closed won.
    pub wins: u64,
    /// Total amount of the cohort (in one currency), for value weighting.
    pub amount: f64,
    /// Won amount of the cohort (same currency).
    pub won_amount: f64,
}

/// The rates of one cohort.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// wins / n, none for an empty cohort.
    pub raw: Option<f64>,
    /// Shrunk toward the prior.
    pub smoothed: f64,
    /// Lower bound of the 95% Wilson interval (0 for an empty cohort).
    pub wilson_low: f64,
    /// Upper bound of the 95% Wilson interval (1 for an empty cohort).
    pub wilson_high: f64,
    /// won amount / total amount, none when the cohort has no amount.
    pub value_weighted: Option<f64>,
}

/// The rates of `cohort` shrunk toward `prior` (in [0, 1]) with weight `k`.
pub fn rate(cohort: Cohort, prior: f64, k: u32) -> Rate {
    let prior = prior.clamp(0.0, 1.0);
    let (n, wins) = (cohort.n as f64, cohort.wins.min(cohort.n) as f64);
    let k = f64::from(k);
    let smoothed = if n + k > 0.0 {
        (wins + k * prior) / (n + k)
    } else {
        prior
    };
    let (wilson_low, wilson_high) = wilson(wins, n);
    Rate {
        raw: (n > 0.0).then(|| wins / n),
        smoothed: smoothed.clamp(0.0, 1.0),
        wilson_low,
        wilson_high,
        value_weighted: (cohort.amount > 0.0)
            .then(|| (cohort.won_amount / cohort.amount).clamp(0.0, 1.0)),
    }
}

/// What a segment splits a stage's cohort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentKind {
    /// The deal's lead source.
    LeadSource,
    /// The owner's manager.
    Team,
}

/// One stage's (or segment's) rates, with the counts and the prior behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRate {
    /// The stage.
    pub stage_id: String,
    /// Cohort size and wins.
    pub cohort: Cohort,
    pub rate: Rate,
    /// The prior the smoothed rate leans on.
    pub prior: f64,
}

/// A stage's rates within one segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRate {
    /// What the segment splits by.
    pub kind: SegmentKind,
    /// The segment's value (`INBOUND`, `users/{id}`).
    pub value: String,
    pub rate: StageRate,
}

/// A stored, versioned table of a pipeline's win rates.
#[derive(Debug, Clone, PartialEq)]
pub struct WinRateSnapshot {
    pub id: WinRateSnapshotId,
    /// The pipeline.
    pub pipeline_id: PipelineId,
    /// Version, from 1 per pipeline.
    pub version: i64,
    /// Whether forecasts use it by default.
    pub current: bool,
    /// First day of the window.
    pub window_start: NaiveDate,
    /// Last day of the window.
    pub window_end: NaiveDate,
    /// Weight of the prior.
    pub prior_weight: u32,
    /// Per stage, in pipeline order.
    pub stages: Vec<StageRate>,
    /// Per segment.
    pub segments: Vec<SegmentRate>,
    /// The period win rates q learned at the same time (months, then quarters); empty where
    /// the snapshot was read without them (forecasts' cache).
    pub period_rates: Vec<super::period_rate::PeriodRateTable>,
    /// Who computed it (`None` for the CLI and the demo).
    pub creator: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl WinRateSnapshot {
    /// The smoothed rate forecasts use for a stage.
    pub fn rate_of(&self, stage_id: &str) -> Option<f64> {
        self.stages
            .iter()
            .find(|s| s.stage_id == stage_id)
            .map(|s| s.rate.smoothed)
    }
}

/// The rates of every stage of `pipeline` from its cohorts (keyed by stage id), in pipeline
/// order. Open stages shrink toward their default probability; the won stage is 1 and the lost
/// stage 0 whatever the counts.
pub fn stage_rates(
    pipeline: &PipelineSpec,
    cohorts: &BTreeMap<String, Cohort>,
    k: u32,
) -> Vec<StageRate> {
    pipeline
        .stages
        .iter()
        .map(|stage| {
            let cohort = cohorts.get(&stage.stage_id).copied().unwrap_or_default();
            let prior = f64::from(stage.default_probability_bps) / 10_000.0;
            let mut computed = rate(cohort, prior, k);
            match stage.kind {
                StageKind::Open => {}
                StageKind::Won => computed.smoothed = 1.0,
                StageKind::Lost => computed.smoothed = 0.0,
            }
            StageRate {
                stage_id: stage.stage_id.clone(),
                cohort,
                rate: computed,
                prior,
            }
        })
        .collect()
}

/// Segment rates: each (kind, value, stage) cohort shrunk toward the stage's pipeline-wide
/// smoothed rate. Only open stages are segmented.
pub fn segment_rates(
    pipeline: &PipelineSpec,
    stages: &[StageRate],
    cohorts: &BTreeMap<(SegmentKind, String, String), Cohort>,
    k: u32,
) -> Vec<SegmentRate> {
    cohorts
        .iter()
        .filter_map(|((kind, value, stage_id), cohort)| {
            let stage = pipeline
                .stage(stage_id)
                .filter(|s| s.kind == StageKind::Open)?;
            let prior = stages
                .iter()
                .find(|s| s.stage_id == stage.stage_id)?
                .rate
                .smoothed;
            Some(SegmentRate {
                kind: *kind,
                value: value.clone(),
                rate: StageRate {
                    stage_id: stage_id.clone(),
                    cohort: *cohort,
                    rate: rate(*cohort, prior, k),
                    prior,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn little_history_leans_on_the_prior_and_much_on_the_data() {
        let few = rate(
            Cohort {
                n: 2,
                wins: 2,
                ..Default::default()
            },
            0.2,
            10,
        );
        assert!(close(few.smoothed, (2.0 + 10.0 * 0.2) / 12.0));
        assert_eq!(few.raw, Some(1.0));
        let many = rate(
            Cohort {
                n: 1000,
                wins: 300,
                ..Default::default()
            },
            0.9,
            10,
        );
        assert!(close(many.smoothed, (300.0 + 9.0) / 1010.0));
    }

    #[test]
    fn an_empty_cohort_has_no_raw_rate_and_the_prior_as_smoothed_rate() {
        let empty = rate(Cohort::default(), 0.35, 10);
        assert_eq!(empty.raw, None);
        assert!(close(empty.smoothed, 0.35));
        assert_eq!((empty.wilson_low, empty.wilson_high), (0.0, 1.0));
        assert_eq!(rate(Cohort::default(), 0.35, 0).smoothed, 0.35);
    }

    #[test]
    fn the_wilson_interval_matches_a_worked_example() {
        // 8 wins of 10: centre (0.8 + 1.92/10)/1.384 = 0.7168, half 0.2271 (z = 1.96).
        let (low, high) = wilson(8.0, 10.0);
        assert!((low - 0.4902).abs() < 1e-3, "{low}");
        assert!((high - 0.9433).abs() < 1e-3, "{high}");
    }

    #[test]
    fn value_weighting_uses_amounts() {
        let r = rate(
            Cohort {
                n: 4,
                wins: 1,
                amount: 400.0,
                won_amount: 300.0,
            },
            0.5,
            10,
        );
        assert_eq!(r.value_weighted, Some(0.75));
        assert_eq!(
            rate(
                Cohort {
                    n: 4,
                    wins: 1,
                    ..Default::default()
                },
                0.5,
                10
            )
            .value_weighted,
            None
        );
    }

    #[test]
    fn closed_stages_are_one_and_zero_and_open_stages_lean_on_their_defaults() {
        let pipeline = crate::domain::templates::smb();
        let mut cohorts = BTreeMap::new();
        cohorts.insert(
            "problem-recognized".to_string(),
            Cohort {
                n: 10,
                wins: 3,
                ..Default::default()
            },
        );
        cohorts.insert(
            "closed-won".to_string(),
            Cohort {
                n: 3,
                wins: 3,
                ..Default::default()
            },
        );
        let rates = stage_rates(&pipeline, &cohorts, 10);
        let ids: Vec<&str> = rates.iter().map(|r| r.stage_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "problem-recognized",
                "solution-exploring",
                "decision-pending",
                "closed-won",
                "closed-lost"
            ]
        );
        assert!(close(rates[0].rate.smoothed, (3.0 + 10.0 * 0.15) / 20.0));
        assert!(
            close(rates[1].rate.smoothed, 0.40),
            "no history: the default"
        );
        assert_eq!((rates[3].rate.smoothed, rates[4].rate.smoothed), (1.0, 0.0));
    }

    #[test]
    fn segments_shrink_toward_the_pipeline_wide_rate() {
        let pipeline = crate::domain::templates::smb();
        let mut cohorts = BTreeMap::new();
        cohorts.insert(
            "problem-recognized".to_string(),
            Cohort {
                n: 100,
                wins: 50,
                ..Default::default()
            },
        );
        let stages = stage_rates(&pipeline, &cohorts, 10);
        let mut segments = BTreeMap::new();
        segments.insert(
            (
                SegmentKind::LeadSource,
                "REFERRAL".to_string(),
                "problem-recognized".to_string(),
            ),
            Cohort {
                n: 2,
                wins: 2,
                ..Default::default()
            },
        );
        segments.insert(
            (
                SegmentKind::LeadSource,
                "REFERRAL".to_string(),
                "closed-won".to_string(),
            ),
            Cohort {
                n: 2,
                wins: 2,
                ..Default::default()
            },
        );
        let rates = segment_rates(&pipeline, &stages, &segments, 10);
        assert_eq!(rates.len(), 1, "closed stages are not segmented");
        let wide = stages[0].rate.smoothed;
        assert!(close(rates[0].rate.prior, wide));
        assert!(close(
            rates[0].rate.rate.smoothed,
            (2.0 + 10.0 * wide) / 12.0
        ));
    }

    proptest! {
        /// Rates stay in [0, 1], the interval contains the raw rate, and the smoothed rate lies
        /// between the raw rate and the prior.
        #[test]
        fn rates_are_probabilities(n in 0u64..100_000, wins in 0u64..100_000, prior in 0.0f64..=1.0, k in 0u32..1000) {
            let wins = wins.min(n);
            let r = rate(Cohort { n, wins, ..Default::default() }, prior, k);
            prop_assert!((0.0..=1.0).contains(&r.smoothed));
            prop_assert!(0.0 <= r.wilson_low && r.wilson_low <= r.wilson_high && r.wilson_high <= 1.0);
            if let Some(raw) = r.raw {
                prop_assert!(r.wilson_low - 1e-12 <= raw && raw <= r.wilson_high + 1e-12);
                let (lo, hi) = if raw < prior { (raw, prior) } else { (prior, raw) };
                prop_assert!(lo - 1e-12 <= r.smoothed && r.smoothed <= hi + 1e-12);
            }
        }
    }
}
