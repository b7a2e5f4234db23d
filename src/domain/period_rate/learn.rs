//! Learning the table: each deal observed at each instant, the observations tallied into
//! cells, each cell shrunk toward its parent.
//!
//! Each deal's history is swept once, backward from the deal as of L across the observation
//! instants, so learning costs O(rows + instants) per deal rather than a rebuild per (deal,
//! instant): a real org has a million deals and fifty-odd instants in a year.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::size_bands::SizeCutSample;
use super::{
    BUCKETS, CellKey, Convert, DealTimeline, PUSH_SEGMENTS, PeriodOutcome, PeriodRateCell,
    PeriodRateSettings, PeriodRateTable, SIZE_BANDS, SizeBands, horizon_bucket, push_segment,
    size_band,
};
use crate::domain::calendar::PeriodKind;
use crate::domain::deal::DealStatus;
use crate::domain::deal_history::{self, DealState, FieldHistoryEntry};
use crate::domain::estimate::wilson;
use crate::domain::money::{Currency, Money};

/// Days between two observation instants.
const STEP_DAYS: i64 = 7;

/// An observation instant tau with its period P(tau).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ObservationInstant {
    pub(super) at: DateTime<Utc>,
    pub(super) first: NaiveDate,
    pub(super) last: NaiveDate,
    /// The last day of the period after P(tau): deals dated up to it may be pulled in.
    pub(super) next_last: NaiveDate,
    /// Days from tau's day to the period's last day.
    pub(super) horizon_days: i64,
}

/// tau = L - 7j within the window, newest first, keeping those whose period ended before L's
/// day, so every outcome is known at L.
pub(super) fn observation_instants(settings: &PeriodRateSettings) -> Vec<ObservationInstant> {
    let calendar = &settings.calendar;
    let today = calendar.day_of(settings.learned_at);
    (0..=i64::from(settings.window_days) / STEP_DAYS)
        .filter_map(|j| {
            let at = settings.learned_at - Duration::days(STEP_DAYS * j);
            let day = calendar.day_of(at);
            let (first, next) = calendar.bounds(settings.kind.period_of(calendar, day));
            let last = next.pred_opt()?;
            let next_last = settings.kind.last_day(calendar, next);
            (last < today).then_some(ObservationInstant {
                at,
                first,
                last,
                next_last,
                horizon_days: (last - day).num_days(),
            })
        })
        .collect()
}

/// Converts amounts, remembering the last one: a deal's amount rarely changes between instants.
pub(super) struct Converter<'a> {
    pub(super) convert: &'a Convert<'a>,
    /// The size bands' currency, every amount is compared in.
    pub(super) into: Currency,
    pub(super) last: Option<(Money, Option<i64>)>,
}

impl Converter<'_> {
    fn amount(&mut self, money: Option<Money>) -> Option<i64> {
        let money = money?;
        match self.last {
            Some((seen, converted)) if seen == money => converted,
            _ => {
                let converted = (self.convert)(money, self.into);
                self.last = Some((money, converted));
                converted
            }
        }
    }
}

/// Stage ids numbered in the order first seen, so the tallies index a vector.
#[derive(Default)]
pub(super) struct StageIndex {
    numbers: HashMap<String, usize>,
    ids: Vec<String>,
}

impl StageIndex {
    fn number(&mut self, stage_id: &str) -> usize {
        if let Some(number) = self.numbers.get(stage_id) {
            return *number;
        }
        self.ids.push(stage_id.to_owned());
        self.numbers.insert(stage_id.to_owned(), self.ids.len() - 1);
        self.ids.len() - 1
    }
}

/// What a deal booked, as known at L.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Booking {
    NotWon,
    Won { day: NaiveDate, amount: i64 },
}

/// The deal's booking as of L; `None` when it was won but its booking cannot be valued (no
/// close date, or an amount that does not convert), so its outcomes are unknown.
pub(super) fn booking_at(state: &DealState, converter: &mut Converter<'_>) -> Option<Booking> {
    match state.status {
        DealStatus::Won => Some(Booking::Won {
            day: state.close_date?,
            amount: converter.amount(state.money())?,
        }),
        _ => Some(Booking::NotWon),
    }
}

/// One deal seen open at one instant.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Observation {
    at: DateTime<Utc>,
    /// The first day of P(tau).
    period: NaiveDate,
    stage: usize,
    horizon_days: i64,
    amount: i64,
    pushes: u32,
    /// Booked in P(tau) / amount: the won share when won in period, else 0.
    outcome: f64,
    /// Booked / amount when won by L, whatever the period, else 0: the in-period share's base.
    won_share: f64,
    won_in_period: bool,
    /// Dated in the period after P(tau) (a pull-in observation), not in P(tau).
    dated_later: bool,
}

/// The observation `state` (the deal as of the instant, with `pushes` so far) makes, if it was
/// open with its close date in the instant's period (or in the period after it: a pull-in
/// observation) and a positive convertible amount.
pub(super) fn observe(
    state: &DealState,
    pushes: u32,
    booking: Booking,
    instant: &ObservationInstant,
    converter: &mut Converter<'_>,
    stages: &mut StageIndex,
) -> Option<Observation> {
    let close = state.close_date?;
    let in_period = |day: NaiveDate| instant.first <= day && day <= instant.last;
    let dated_later = instant.last < close && close <= instant.next_last;
    if state.status != DealStatus::Open || !(in_period(close) || dated_later) {
        return None;
    }
    let amount = converter.amount(state.money()).filter(|a| *a > 0)?;
    let (won_share, won_in_period) = match booking {
        Booking::NotWon => (0.0, false),
        // Capped at 1: a deal won for more than its pipeline amount (an upsell at signing) would
        // push q above 1, yet q weighs an amount and is a win probability in the range's
        // simulation; the surplus is not revenue this deal's pipeline amount foretold.
        Booking::Won {
            day,
            amount: booked,
        } => (
            (booked as f64 / amount as f64).clamp(0.0, 1.0),
            in_period(day),
        ),
    };
    Some(Observation {
        at: instant.at,
        period: instant.first,
        stage: stages.number(&state.stage_id),
        horizon_days: instant.horizon_days,
        amount,
        pushes,
        outcome: if won_in_period { won_share } else { 0.0 },
        won_share,
        won_in_period,
        dated_later,
    })
}

/// Everything one learning run shares across deals.
pub(super) struct Learner<'a> {
    pub(super) settings: &'a PeriodRateSettings,
    pub(super) instants: Vec<ObservationInstant>,
    pub(super) converter: Converter<'a>,
    pub(super) stages: StageIndex,
}

/// How one deal's observations are made, newest instant first (the backward sweep, or in tests
/// a rebuild at every instant).
pub(super) type ObserveDeal = fn(&mut Learner<'_>, &DealTimeline, &mut Vec<Observation>);

/// Learns with `observe_deal` giving each deal's observations, from deals held in memory.
pub(super) fn learn_with(
    settings: &PeriodRateSettings,
    deals: &[DealTimeline],
    stage_rates: &HashMap<String, f64>,
    convert: &Convert<'_>,
    observe_deal: ObserveDeal,
) -> PeriodRateTable {
    let mut sample = SizeCutSample::new(settings, convert);
    deals.iter().for_each(|deal| sample.add(deal));
    let mut learning = PeriodRateLearning::with(settings, sample.cuts(), convert, observe_deal);
    deals.iter().for_each(|deal| learning.add(deal));
    learning.finish(stage_rates)
}

/// A table learned deal by deal, once the size cuts are known ([`SizeCutSample`]): memory holds
/// the cells' counts and each past period's sums, never the deals.
pub struct PeriodRateLearning<'a> {
    learner: Learner<'a>,
    tallies: Tallies,
    observations: Vec<Observation>,
    observe_deal: ObserveDeal,
}

impl<'a> PeriodRateLearning<'a> {
    /// A learning as `settings` say, with the size bands `bands`.
    pub fn new(
        settings: &'a PeriodRateSettings,
        bands: SizeBands,
        convert: &'a Convert<'a>,
    ) -> Self {
        Self::with(settings, bands, convert, sweep_deal)
    }

    pub(super) fn with(
        settings: &'a PeriodRateSettings,
        bands: SizeBands,
        convert: &'a Convert<'a>,
        observe_deal: ObserveDeal,
    ) -> Self {
        PeriodRateLearning {
            learner: Learner {
                settings,
                instants: observation_instants(settings),
                converter: Converter {
                    convert,
                    into: bands.currency,
                    last: None,
                },
                stages: StageIndex::default(),
            },
            tallies: Tallies::new(bands),
            observations: Vec::new(),
            observe_deal,
        }
    }

    /// Tallies one deal's observations (each deal once, in any order).
    pub fn add(&mut self, deal: &DealTimeline) {
        self.observations.clear();
        (self.observe_deal)(&mut self.learner, deal, &mut self.observations);
        self.tallies.add_deal(&self.observations);
    }

    /// The table, with `stage_rates` (stage id -> win rate) as its priors.
    pub fn finish(self, stage_rates: &HashMap<String, f64>) -> PeriodRateTable {
        let settings = self.learner.settings;
        self.tallies
            .finish(settings, &self.learner.stages, stage_rates)
    }
}

/// A deal's state walked backward through its rows, undoing each row after the instant asked
/// (the same rule as `deal_history::as_of`), counting the pushes not yet undone.
struct Rewind<'a, F> {
    rows: &'a [FieldHistoryEntry],
    end: usize,
    state: DealState,
    pushes: u32,
    period_end: F,
}

impl<'a, F: Fn(NaiveDate) -> NaiveDate> Rewind<'a, F> {
    fn new(deal: &'a DealTimeline, period_end: F) -> Self {
        let pushes = deal_history::pushes(&deal.rows, None, DateTime::<Utc>::MAX_UTC, &period_end);
        Rewind {
            rows: &deal.rows,
            end: deal.rows.len(),
            state: deal.current.clone(),
            pushes,
            period_end,
        }
    }

    /// Rewinds to `instant`, which must not be later than the last one asked.
    fn to(&mut self, instant: DateTime<Utc>) {
        let rows = self.rows;
        while let Some(row) = self.end.checked_sub(1).map(|i| &rows[i]) {
            if row.at <= instant {
                break;
            }
            self.state.set(row.field, row.old.as_ref());
            // One definition of a push: the row counted alone.
            let push =
                deal_history::pushes(std::slice::from_ref(row), None, row.at, &self.period_end);
            self.pushes = self.pushes.saturating_sub(push);
            self.end -= 1;
        }
    }
}

/// A deal's observations from one backward sweep: rebuilt as of L, then as of each instant.
pub(super) fn sweep_deal(
    learner: &mut Learner<'_>,
    deal: &DealTimeline,
    out: &mut Vec<Observation>,
) {
    let settings = *learner.settings;
    if deal.created_at > settings.learned_at {
        return;
    }
    // A push moves the close date into a later month, whatever the kind of period learned (the
    // forecast reads the same count from each deal's row).
    let month_end = |day| PeriodKind::Month.last_day(&settings.calendar, day);
    let mut rewind = Rewind::new(deal, month_end);
    rewind.to(settings.learned_at);
    let Some(booking) = booking_at(&rewind.state, &mut learner.converter) else {
        return;
    };
    for instant in &learner.instants {
        if instant.at < deal.created_at {
            break;
        }
        rewind.to(instant.at);
        let seen = observe(
            &rewind.state,
            rewind.pushes,
            booking,
            instant,
            &mut learner.converter,
            &mut learner.stages,
        );
        out.extend(seen);
    }
}

/// Counts of one cell while learning.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    observations: u64,
    outcome_sum: f64,
    won_in_period: u64,
    deals: u64,
    deals_won_in_period: u64,
}

/// A stage's tallies by [bucket][band slot][push slot]; slot 0 is "any", slot i + 1 is i.
type StageTally = [[[Tally; PUSH_SEGMENTS + 1]; SIZE_BANDS + 1]; BUCKETS];

/// A past period's observations in one deepest cell: (period, stage, bucket, band, segment).
type PeriodCell = (NaiveDate, usize, u8, u8, u8);

/// The tallies of every cell, and the sums behind the in-period share.
struct Tallies {
    bands: SizeBands,
    stages: Vec<StageTally>,
    outcome_sum: f64,
    won_share_sum: f64,
    /// Per stage, the pull-in observations' tallies by bucket, and their sums behind the
    /// pull-in share.
    later: Vec<[Tally; BUCKETS]>,
    later_outcome_sum: f64,
    later_won_share_sum: f64,
    /// Per (period, stage, bucket): the pull-in observations' sums of amount x outcome and of
    /// amount.
    later_periods: BTreeMap<(NaiveDate, usize, u8), (f64, f64)>,
    /// Per (period, stage, bucket, band, push segment): the sums of amount x outcome and of
    /// amount, to score each past period against the finished table (q is one per cell).
    periods: BTreeMap<PeriodCell, (f64, f64)>,
    /// (stage, bucket, band slot, push slot, won in period) of one deal's observations.
    scratch: Vec<(usize, usize, usize, usize, bool)>,
}

impl Tallies {
    fn new(bands: SizeBands) -> Self {
        Tallies {
            bands,
            stages: Vec::new(),
            outcome_sum: 0.0,
            won_share_sum: 0.0,
            later: Vec::new(),
            later_outcome_sum: 0.0,
            later_won_share_sum: 0.0,
            later_periods: BTreeMap::new(),
            periods: BTreeMap::new(),
            scratch: Vec::new(),
        }
    }

    /// Adds one deal's observations: each to its three nested cells, the deal once per cell
    /// (a pull-in observation to its stage's bucket).
    fn add_deal(&mut self, observations: &[Observation]) {
        self.scratch.clear();
        let (later, observations): (Vec<&Observation>, Vec<&Observation>) =
            observations.iter().partition(|seen| seen.dated_later);
        self.add_later(&later);
        for seen in observations {
            if self.stages.len() <= seen.stage {
                self.stages.resize(seen.stage + 1, StageTally::default());
            }
            let bucket = usize::from(horizon_bucket(seen.horizon_days));
            let band = usize::from(size_band(self.bands.cuts, seen.amount)) + 1;
            let pushes = usize::from(push_segment(seen.pushes)) + 1;
            for (band, pushes) in [(0, 0), (band, 0), (band, pushes)] {
                let tally = &mut self.stages[seen.stage][bucket][band][pushes];
                tally.observations += 1;
                tally.outcome_sum += seen.outcome;
                tally.won_in_period += u64::from(seen.won_in_period);
                let key = (seen.stage, bucket, band, pushes, seen.won_in_period);
                self.scratch.push(key);
            }
            self.outcome_sum += seen.outcome;
            self.won_share_sum += seen.won_share;
            let cell = (
                seen.period,
                seen.stage,
                bucket as u8,
                band as u8 - 1,
                pushes as u8 - 1,
            );
            let sums = self.periods.entry(cell).or_default();
            sums.0 += seen.amount as f64 * seen.outcome;
            sums.1 += seen.amount as f64;
        }
        self.scratch.sort_unstable();
        let same_cell = |a: &(usize, usize, usize, usize, bool),
                         b: &(usize, usize, usize, usize, bool)| {
            (a.0, a.1, a.2, a.3) == (b.0, b.1, b.2, b.3)
        };
        for group in self.scratch.chunk_by(same_cell) {
            let (stage, bucket, band, pushes, _) = group[0];
            let tally = &mut self.stages[stage][bucket][band][pushes];
            tally.deals += 1;
            tally.deals_won_in_period += u64::from(group.iter().any(|key| key.4));
        }
    }

    /// Adds one deal's pull-in observations, the deal once per bucket.
    fn add_later(&mut self, observations: &[&Observation]) {
        let mut seen_in: Vec<(usize, usize, bool)> = Vec::new();
        for seen in observations {
            if self.later.len() <= seen.stage {
                self.later
                    .resize(seen.stage + 1, [Tally::default(); BUCKETS]);
            }
            let bucket = usize::from(horizon_bucket(seen.horizon_days));
            let tally = &mut self.later[seen.stage][bucket];
            tally.observations += 1;
            tally.outcome_sum += seen.outcome;
            tally.won_in_period += u64::from(seen.won_in_period);
            seen_in.push((seen.stage, bucket, seen.won_in_period));
            self.later_outcome_sum += seen.outcome;
            self.later_won_share_sum += seen.won_share;
            let sums = self
                .later_periods
                .entry((seen.period, seen.stage, bucket as u8))
                .or_default();
            sums.0 += seen.amount as f64 * seen.outcome;
            sums.1 += seen.amount as f64;
        }
        seen_in.sort_unstable();
        for group in seen_in.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let (stage, bucket, _) = group[0];
            let tally = &mut self.later[stage][bucket];
            tally.deals += 1;
            tally.deals_won_in_period += u64::from(group.iter().any(|key| key.2));
        }
    }

    /// The table: each observed cell shrunk toward its parent, the top cells toward the stage's
    /// rate x the in-period share, pull-in cells toward the stage's rate x the pull-in share.
    fn finish(
        self,
        settings: &PeriodRateSettings,
        stages: &StageIndex,
        stage_rates: &HashMap<String, f64>,
    ) -> PeriodRateTable {
        let in_period_share = if self.won_share_sum > 0.0 {
            (self.outcome_sum / self.won_share_sum).clamp(0.0, 1.0)
        } else {
            1.0
        };
        // Without a won pull-in observation nothing is pulled in: no evidence that deals dated
        // later book early.
        let pull_in_share = if self.later_won_share_sum > 0.0 {
            (self.later_outcome_sum / self.later_won_share_sum).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let mut table = PeriodRateTable {
            kind: settings.kind,
            learned_at: settings.learned_at,
            window_days: settings.window_days,
            prior_weight: settings.prior_weight,
            size_cuts: self.bands.cuts,
            size_currency: self.bands.currency,
            in_period_share,
            pull_in_share,
            stage_rates: stage_rates
                .iter()
                .map(|(stage, rate)| (stage.clone(), unit(*rate)))
                .collect(),
            cells: BTreeMap::new(),
            pulled_in: BTreeMap::new(),
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
        for (number, buckets) in self.later.iter().enumerate() {
            let Some(stage_id) = stages.ids.get(number) else {
                continue;
            };
            let prior = table.pull_in_prior(stage_id);
            let cells: BTreeMap<u8, PeriodRateCell> = (0..BUCKETS)
                .filter(|&bucket| buckets[bucket].observations > 0)
                .map(|bucket| {
                    let counts = buckets[bucket];
                    (bucket as u8, cell(counts, prior, settings.prior_weight))
                })
                .collect();
            if !cells.is_empty() {
                table.pulled_in.insert(stage_id.clone(), cells);
            }
        }
        let mut periods: BTreeMap<NaiveDate, (f64, f64)> = BTreeMap::new();
        for (&(period, stage, bucket, band, segment), &(booked, amount)) in &self.periods {
            let Some(stage_id) = stages.ids.get(stage) else {
                continue;
            };
            let q = table.q_of_cell(stage_id, bucket, Some(band), segment);
            let sums = periods.entry(period).or_default();
            sums.0 += booked;
            sums.1 += amount * q;
        }
        for (&(period, stage, bucket), &(booked, amount)) in &self.later_periods {
            let Some(stage_id) = stages.ids.get(stage) else {
                continue;
            };
            let q = table.pulled_in_q_of_bucket(stage_id, bucket);
            let sums = periods.entry(period).or_default();
            sums.0 += booked;
            sums.1 += amount * q;
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
fn cell(counts: Tally, prior: f64, k: u32) -> PeriodRateCell {
    let n = counts.observations as f64;
    let k = f64::from(k);
    let (wilson_low, wilson_high) = wilson(counts.deals_won_in_period as f64, counts.deals as f64);
    PeriodRateCell {
        observations: counts.observations,
        deals: counts.deals,
        deals_won_in_period: counts.deals_won_in_period,
        outcome_sum: counts.outcome_sum,
        won_in_period: counts.won_in_period,
        in_period_win_share: counts.won_in_period as f64 / n,
        raw: counts.outcome_sum / n,
        prior,
        q: unit((counts.outcome_sum + k * prior) / (n + k)),
        wilson_low,
        wilson_high,
    }
}

/// `x` clamped to [0, 1]; not-a-number is 0.
fn unit(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}
