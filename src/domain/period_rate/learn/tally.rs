//! The tallies of one learning run: each observation counted into its nested cells, then
//! every observed cell shrunk toward its parent.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use super::super::{
    BUCKETS, CellKey, OffPeriod, PUSH_SEGMENTS, PeriodOutcome, PeriodRateCell, PeriodRateSettings,
    PeriodRateTable, SIZE_BANDS, SizeBands, horizon_bucket, push_segment, size_band,
};
use super::{Observation, StageIndex};
use crate::domain::estimate::wilson;

/// Counts of one cell while learning.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    observations: u64,
    value: Value,
    won_in_period: u64,
    deals: u64,
    deals_won_in_period: u64,
}

impl Tally {
    /// Counts one observation (its deal is counted once per cell by [`Tally::count_deal`]).
    fn observe(&mut self, seen: &Observation) {
        self.observations += 1;
        self.value.add(seen);
        self.won_in_period += u64::from(seen.won_in_period);
    }

    /// Counts the deal of some of this cell's observations, once.
    fn count_deal(&mut self, won_in_period: bool) {
        self.deals += 1;
        self.deals_won_in_period += u64::from(won_in_period);
    }
}

/// Each distinct cell of one deal's `keys` (cell, won in period) once, with whether the deal
/// was won in the period at any of its observations there: one deal is seen at many instants.
fn distinct_cells<K: Ord + Copy>(keys: &mut [(K, bool)]) -> impl Iterator<Item = (K, bool)> + '_ {
    keys.sort_unstable();
    keys.chunk_by(|a, b| a.0 == b.0)
        .map(|group| (group[0].0, group.iter().any(|key| key.1)))
}

/// The sums behind a share by value: what was booked in the period over what the same
/// observations' deals booked whenever they were won (each at most its amount), `none` when
/// nothing was won.
#[derive(Debug, Clone, Copy, Default)]
struct Shares {
    booked_in_period: f64,
    booked: f64,
}

impl Shares {
    fn add(&mut self, seen: &Observation) {
        self.booked_in_period += seen.amount as f64 * seen.outcome;
        self.booked += seen.amount as f64 * seen.won_share;
    }

    fn share(&self, none: f64) -> f64 {
        if self.booked > 0.0 {
            (self.booked_in_period / self.booked).clamp(0.0, 1.0)
        } else {
            none
        }
    }
}

/// A stage's tallies by [bucket][band slot][push slot]; slot 0 is "any", slot i + 1 is i.
type StageTally = [[[Tally; PUSH_SEGMENTS + 1]; SIZE_BANDS + 1]; BUCKETS];

/// A past period's observations in one deepest cell: (period, stage, bucket, band, segment).
type PeriodCell = (NaiveDate, usize, u8, u8, u8);

/// Observations by value: what they booked in their periods and their amounts.
#[derive(Debug, Clone, Copy, Default)]
struct Value {
    /// Sum of amount x outcome (booked in the period, each at most its amount).
    booked: f64,
    /// Sum of the amounts observed.
    amount: f64,
}

impl Value {
    fn add(&mut self, seen: &Observation) {
        self.booked += seen.amount as f64 * seen.outcome;
        self.amount += seen.amount as f64;
    }
}

/// The tallies of the observations of deals dated off their period one way (pulled in, or
/// overdue): per stage by bucket, with their share's sums.
#[derive(Default)]
struct OffTallies {
    cells: Vec<[Tally; BUCKETS]>,
    shares: Shares,
    /// Per (period, stage, bucket): the sums of amount x outcome and of amount.
    periods: BTreeMap<(NaiveDate, usize, u8), Value>,
    /// ((stage, bucket), won in period) of one deal's observations.
    scratch: Vec<((usize, usize), bool)>,
}

impl OffTallies {
    /// Adds one observation, in horizon bucket `bucket`.
    fn add(&mut self, seen: &Observation, bucket: usize) {
        if self.cells.len() <= seen.stage {
            self.cells
                .resize(seen.stage + 1, [Tally::default(); BUCKETS]);
        }
        self.cells[seen.stage][bucket].observe(seen);
        self.scratch
            .push(((seen.stage, bucket), seen.won_in_period));
        self.shares.add(seen);
        let cell = (seen.period, seen.stage, bucket as u8);
        self.periods.entry(cell).or_default().add(seen);
    }

    /// Every observation's revenue booked in its period over their amounts (0 without any).
    fn pooled(&self) -> f64 {
        let (booked, amount) = self.cells.iter().flatten().fold((0.0, 0.0), |sum, t| {
            (sum.0 + t.value.booked, sum.1 + t.value.amount)
        });
        if amount > 0.0 {
            unit(booked / amount)
        } else {
            0.0
        }
    }

    /// Counts the deal of the observations added since the last call once per cell.
    fn count_deal(&mut self) {
        for ((stage, bucket), won) in distinct_cells(&mut self.scratch) {
            self.cells[stage][bucket].count_deal(won);
        }
        self.scratch.clear();
    }
}

/// The tallies of every cell, and the sums behind the in-period, pull-in and overdue shares.
pub(super) struct Tallies {
    bands: SizeBands,
    stages: Vec<StageTally>,
    shares: Shares,
    /// The observations of deals dated off their period, by [`OffPeriod::index`].
    off: [OffTallies; 2],
    /// Per (period, stage, bucket, band, push segment): the sums of amount x outcome and of
    /// amount, to score each past period against the finished table (q is one per cell).
    periods: BTreeMap<PeriodCell, Value>,
    /// ((stage, bucket, band slot, push slot), won in period) of one deal's observations.
    scratch: Vec<((usize, usize, usize, usize), bool)>,
}

impl Tallies {
    pub(super) fn new(bands: SizeBands) -> Self {
        Tallies {
            bands,
            stages: Vec::new(),
            shares: Shares::default(),
            off: Default::default(),
            periods: BTreeMap::new(),
            scratch: Vec::new(),
        }
    }

    /// Adds one deal's observations: each to its three nested cells (one dated off its period
    /// to its stage's bucket of that kind), the deal once per cell.
    pub(super) fn add_deal(&mut self, observations: &[Observation]) {
        self.scratch.clear();
        for seen in observations {
            let bucket = usize::from(horizon_bucket(seen.horizon_days));
            if let Some(off) = seen.off {
                self.off[off.index()].add(seen, bucket);
                continue;
            }
            if self.stages.len() <= seen.stage {
                self.stages.resize(seen.stage + 1, StageTally::default());
            }
            let band = usize::from(size_band(self.bands.cuts, seen.amount)) + 1;
            let pushes = usize::from(push_segment(seen.pushes)) + 1;
            for (band, pushes) in [(0, 0), (band, 0), (band, pushes)] {
                self.stages[seen.stage][bucket][band][pushes].observe(seen);
                let cell = (seen.stage, bucket, band, pushes);
                self.scratch.push((cell, seen.won_in_period));
            }
            self.shares.add(seen);
            let cell = (
                seen.period,
                seen.stage,
                bucket as u8,
                band as u8 - 1,
                pushes as u8 - 1,
            );
            self.periods.entry(cell).or_default().add(seen);
        }
        for ((stage, bucket, band, pushes), won) in distinct_cells(&mut self.scratch) {
            self.stages[stage][bucket][band][pushes].count_deal(won);
        }
        self.off.iter_mut().for_each(OffTallies::count_deal);
    }

    /// The table: each observed cell shrunk toward its parent, the top cells toward the stage's
    /// rate x the in-period share, pull-in (overdue) cells toward the stage's rate x the pull-in
    /// (overdue) share.
    pub(super) fn finish(
        self,
        settings: &PeriodRateSettings,
        stages: &StageIndex,
        stage_rates: &HashMap<String, f64>,
    ) -> PeriodRateTable {
        let in_period_share = self.shares.share(1.0);
        // Without a won pull-in (overdue) observation nothing is pulled in (revived): no
        // evidence that such deals book in the period.
        let [pull_in_share, overdue_share] =
            OffPeriod::ALL.map(|o| self.off[o.index()].shares.share(0.0));
        let mut table = PeriodRateTable {
            kind: settings.kind,
            learned_at: settings.learned_at,
            window_days: settings.window_days,
            prior_weight: settings.prior_weight,
            size_cuts: self.bands.cuts,
            size_currency: self.bands.currency,
            in_period_share,
            pull_in_share,
            overdue_share,
            overdue_prior: self.off[OffPeriod::Overdue.index()].pooled(),
            stage_rates: stage_rates
                .iter()
                .map(|(stage, rate)| (stage.clone(), unit(*rate)))
                .collect(),
            cells: BTreeMap::new(),
            pulled_in: BTreeMap::new(),
            overdue: BTreeMap::new(),
            periods: Vec::new(),
        };
        for (number, tally) in self.stages.iter().enumerate() {
            let Some(stage_id) = stages.ids.get(number) else {
                continue;
            };
            let cells = stage_cells(tally, table.stage_prior(stage_id), settings.prior_weight);
            if !cells.is_empty() {
                table.cells.insert(stage_id.clone(), cells);
            }
        }
        for off in OffPeriod::ALL {
            for (number, buckets) in self.off[off.index()].cells.iter().enumerate() {
                let Some(stage_id) = stages.ids.get(number) else {
                    continue;
                };
                let prior = table.off_period_prior(off, stage_id);
                let cells: BTreeMap<u8, PeriodRateCell> = (0..BUCKETS)
                    .filter(|&bucket| buckets[bucket].observations > 0)
                    .map(|bucket| {
                        let counts = buckets[bucket];
                        (bucket as u8, cell(counts, prior, settings.prior_weight))
                    })
                    .collect();
                if !cells.is_empty() {
                    table
                        .off_period_cells_mut(off)
                        .insert(stage_id.clone(), cells);
                }
            }
        }
        let mut periods: BTreeMap<NaiveDate, (f64, f64)> = BTreeMap::new();
        for (&(period, stage, bucket, band, segment), &Value { booked, amount }) in &self.periods {
            let Some(stage_id) = stages.ids.get(stage) else {
                continue;
            };
            let q = table.q_of_cell(stage_id, bucket, Some(band), segment);
            let sums = periods.entry(period).or_default();
            sums.0 += booked;
            sums.1 += amount * q;
        }
        for off in OffPeriod::ALL {
            for (&(period, stage, bucket), &Value { booked, amount }) in
                &self.off[off.index()].periods
            {
                let Some(stage_id) = stages.ids.get(stage) else {
                    continue;
                };
                let q = table.off_period_q_of_bucket(off, stage_id, bucket);
                let sums = periods.entry(period).or_default();
                sums.0 += booked;
                sums.1 += amount * q;
            }
        }
        table.periods = periods
            .into_iter()
            .map(|(first_day, (booked, expected))| PeriodOutcome {
                first_day,
                booked,
                expected,
            })
            .collect();
        table
    }
}

/// A stage's observed cells: buckets toward `prior`, bands toward their bucket, pushes toward
/// their band.
fn stage_cells(tally: &StageTally, prior: f64, k: u32) -> BTreeMap<CellKey, PeriodRateCell> {
    let mut cells = BTreeMap::new();
    let slot = |i: usize| (i > 0).then(|| (i - 1) as u8);
    let mut add = |bucket: usize, band: usize, pushes: usize, prior: f64| {
        let counts = tally[bucket][band][pushes];
        (counts.observations > 0).then(|| {
            let cell = cell(counts, prior, k);
            let key = CellKey {
                horizon_bucket: bucket as u8,
                size_band: slot(band),
                pushes: slot(pushes),
            };
            cells.insert(key, cell);
            cell.q
        })
    };
    for bucket in 0..BUCKETS {
        let Some(bucket_q) = add(bucket, 0, 0, prior) else {
            continue;
        };
        for band in 1..=SIZE_BANDS {
            let Some(band_q) = add(bucket, band, 0, bucket_q) else {
                continue;
            };
            for pushes in 1..=PUSH_SEGMENTS {
                add(bucket, band, pushes, band_q);
            }
        }
    }
    cells
}

/// A cell's rates from its counts (at least one observation), shrunk toward `prior` with `k`.
/// By value: each observation weighs its amount over the cell's mean amount, so the weights
/// still add up to the observations (the prior's k pseudo-observations keep their meaning) and
/// the raw rate is the cell's booked revenue over its amounts. A mean of per-deal ratios would
/// let many small deals speak for a few large ones, which win less: it over-forecast revenue
/// on the very periods it was learned from.
fn cell(counts: Tally, prior: f64, k: u32) -> PeriodRateCell {
    let n = counts.observations as f64;
    let k = f64::from(k);
    let outcome_sum = match counts.value.amount > 0.0 {
        true => counts.value.booked / counts.value.amount * n,
        false => 0.0,
    };
    let (wilson_low, wilson_high) = wilson(counts.deals_won_in_period as f64, counts.deals as f64);
    PeriodRateCell {
        observations: counts.observations,
        deals: counts.deals,
        deals_won_in_period: counts.deals_won_in_period,
        outcome_sum,
        won_in_period: counts.won_in_period,
        in_period_win_share: counts.won_in_period as f64 / n,
        raw: outcome_sum / n,
        prior,
        q: unit((outcome_sum + k * prior) / (n + k)),
        wilson_low,
        wilson_high,
    }
}

/// `x` clamped to [0, 1]; not-a-number is 0.
fn unit(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}
