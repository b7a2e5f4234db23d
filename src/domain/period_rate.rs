//! Learning q, the period win rate: the probability, by value, that an open deal is won with a
//! booking date in the period its close date is in (DESIGN.md, "Learning q"), learned from the
//! pipeline's history using only what was known at the learning instant L.
//!
//! Each deal's history is swept once, backward from the deal as of L across the observation
//! instants, so learning costs O(rows + instants) per deal rather than a rebuild per (deal,
//! instant): a real org has a million deals and fifty-odd instants in a year.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::calendar::{OrgCalendar, PeriodKind};
use super::deal::DealStatus;
use super::deal_history::{self, DealState, FieldHistoryEntry};
use super::money::Money;
use super::winrate::{DEFAULT_PRIOR_WEIGHT, wilson};

/// Default look-back window, in days.
pub const DEFAULT_WINDOW_DAYS: u32 = 365;

/// Days between two observation instants.
const STEP_DAYS: i64 = 7;

/// The first day of each horizon bucket: the period's last week, the week before, the rest of a
/// month, the month before, and earlier. The last two weeks are split because the chance to
/// close in time falls fastest there; a month (at most 30 days left) uses the first four, a
/// quarter all five.
pub const HORIZON_BUCKET_STARTS: [i64; 5] = [0, 7, 14, 30, 60];

const BUCKETS: usize = HORIZON_BUCKET_STARTS.len();
const SIZE_BANDS: usize = 3;
const PUSH_SEGMENTS: usize = 3;

/// One deal of the pipeline with its whole field history.
#[derive(Debug, Clone, PartialEq)]
pub struct DealTimeline {
    /// The deal.
    pub deal_id: Uuid,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The deal now (possibly changed after the learning instant).
    pub current: DealState,
    /// Its field history rows, oldest first (time, then sequence).
    pub rows: Vec<FieldHistoryEntry>,
}

/// What to learn q for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodRateSettings {
    /// The learning instant L: nothing after it is used.
    pub learned_at: DateTime<Utc>,
    /// The look-back window ending at L, in days.
    pub window_days: u32,
    /// The org's zone and fiscal year: every date is read there.
    pub calendar: OrgCalendar,
    /// Months or fiscal quarters.
    pub kind: PeriodKind,
    /// The prior's weight k, in pseudo-observations.
    pub prior_weight: u32,
}

impl PeriodRateSettings {
    /// Learning at `learned_at` for `kind`, with the default window and prior weight.
    pub fn new(learned_at: DateTime<Utc>, calendar: OrgCalendar, kind: PeriodKind) -> Self {
        PeriodRateSettings {
            learned_at,
            window_days: DEFAULT_WINDOW_DAYS,
            calendar,
            kind,
            prior_weight: DEFAULT_PRIOR_WEIGHT,
        }
    }
}

/// Which cell of a stage: a horizon bucket, optionally narrowed to a size band and then to a
/// pushes-so-far segment. `None` sorts first, so a parent is listed before its segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    /// Index into [`HORIZON_BUCKET_STARTS`].
    pub horizon_bucket: u8,
    /// Size band 0 to 2 (see [`PeriodRateTable::size_band`]); `None` for every size.
    pub size_band: Option<u8>,
    /// Close-date pushes so far: 0, 1, or 2 meaning two or more; `None` for any.
    pub pushes: Option<u8>,
}

/// One cell's counts and rates. A stored cell has at least one observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodRateCell {
    /// Observations (a deal at an instant).
    pub observations: u64,
    /// Distinct deals among them.
    pub deals: u64,
    /// Distinct deals won in the period of at least one of their observations in this cell.
    pub deals_won_in_period: u64,
    /// Sum of the outcomes (booked in period / amount, each at most 1).
    pub outcome_sum: f64,
    /// Observations whose deal was won in their period.
    pub won_in_period: u64,
    /// `won_in_period / observations`: the count share beside q, for calibration.
    pub in_period_win_share: f64,
    /// `outcome_sum / observations`.
    pub raw: f64,
    /// What q is shrunk toward: the stage's prior, or the parent cell's q for a segment.
    pub prior: f64,
    /// `(outcome_sum + k * prior) / (observations + k)`, in [0, 1].
    pub q: f64,
    /// 95% Wilson interval on distinct deals won in period of distinct deals.
    pub wilson_low: f64,
    /// Upper bound of the interval.
    pub wilson_high: f64,
}

/// The learned q of a pipeline for one kind of period: a versioned snapshot's content.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodRateTable {
    /// Months or quarters.
    pub kind: PeriodKind,
    /// The learning instant L.
    pub learned_at: DateTime<Utc>,
    /// The look-back window, in days.
    pub window_days: u32,
    /// The prior weight k.
    pub prior_weight: u32,
    /// The two tercile cuts of closed deals' converted amounts; `None` (one band) when no deal
    /// closed in the window.
    pub size_cuts: Option<[i64; 2]>,
    /// P(booked in period | eventually won), by value, over every observation (see `learn`).
    pub in_period_share: f64,
    /// The stage win rates (will it ever be won) learning used, clamped to [0, 1].
    pub stage_rates: BTreeMap<String, f64>,
    /// Per stage id, its cells; both maps iterate in the listing order.
    pub cells: BTreeMap<String, BTreeMap<CellKey, PeriodRateCell>>,
    /// Per past period observed, what its observations booked against what the table says they
    /// would (both by value), oldest first: how much whole periods differ from the rates, which
    /// a deal-by-deal coin toss leaves out of a range.
    pub periods: Vec<PeriodOutcome>,
}

/// What one past period's observations booked against what the learned q expected of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodOutcome {
    /// The period's first day.
    pub first_day: NaiveDate,
    /// Sum of amount x outcome over its observations.
    pub booked: f64,
    /// Sum of amount x q over the same observations.
    pub expected: f64,
}

impl PeriodRateTable {
    /// Learns q from `deals` (the pipeline's, each with its whole history) as `settings` say.
    /// `stage_rates` maps a stage id to its win rate; `convert` gives an amount in the reporting
    /// currency (`None`: that observation is skipped).
    ///
    /// The in-period share is the sum of outcomes over the sum, over observations of deals won
    /// by L, of their won share (booked / amount, at most 1): P(in period | won) by value, so
    /// that stage rate x share reads P(won) x P(in period | won). With no won deal observed it
    /// is 1, and q leans on the classic stage rate.
    pub fn learn(
        settings: &PeriodRateSettings,
        deals: &[DealTimeline],
        stage_rates: &HashMap<String, f64>,
        convert: &dyn Fn(Money) -> Option<i64>,
    ) -> PeriodRateTable {
        learn_with(settings, deals, stage_rates, convert, sweep_deal)
    }

    /// q for an open deal in `stage_id`, `horizon_days` before the end of its period, of
    /// `converted_amount` with `pushes` close-date pushes so far: the deepest observed cell's
    /// q, else the stage's prior.
    pub fn q(&self, stage_id: &str, horizon_days: i64, converted_amount: i64, pushes: u32) -> f64 {
        let Some(cells) = self.cells.get(stage_id) else {
            return self.stage_prior(stage_id);
        };
        let horizon_bucket = horizon_bucket(horizon_days);
        let band = self.size_band(converted_amount);
        let keys = [
            (Some(band), Some(push_segment(pushes))),
            (Some(band), None),
            (None, None),
        ];
        keys.into_iter()
            .find_map(|(size_band, pushes)| {
                cells.get(&CellKey {
                    horizon_bucket,
                    size_band,
                    pushes,
                })
            })
            .map_or_else(|| self.stage_prior(stage_id), |cell| cell.q)
    }

    /// The prior of a stage's cells: its win rate (0 when unknown) x the in-period share.
    pub fn stage_prior(&self, stage_id: &str) -> f64 {
        let rate = self.stage_rates.get(stage_id).copied().unwrap_or(0.0);
        (rate * self.in_period_share).clamp(0.0, 1.0)
    }

    /// The size band of a converted amount: 0 up to the first cut, 1 up to the second, else 2.
    pub fn size_band(&self, converted_amount: i64) -> u8 {
        size_band(self.size_cuts, converted_amount)
    }

    /// Every cell in the stable listing order (stage, bucket, band, pushes).
    pub fn cells(&self) -> impl Iterator<Item = (&str, &CellKey, &PeriodRateCell)> {
        self.cells.iter().flat_map(|(stage, cells)| {
            cells
                .iter()
                .map(move |(key, cell)| (stage.as_str(), key, cell))
        })
    }
}

/// The horizon bucket of a number of days left in the period (overdue counts as 0).
pub fn horizon_bucket(days: i64) -> u8 {
    HORIZON_BUCKET_STARTS
        .iter()
        .rposition(|start| days >= *start)
        .unwrap_or(0) as u8
}

/// The pushes-so-far segment: 0, 1, or 2 for two or more.
pub fn push_segment(pushes: u32) -> u8 {
    pushes.min(PUSH_SEGMENTS as u32 - 1) as u8
}

fn size_band(cuts: Option<[i64; 2]>, amount: i64) -> u8 {
    match cuts {
        None => 0,
        Some([low, _]) if amount <= low => 0,
        Some([_, high]) if amount <= high => 1,
        Some(_) => 2,
    }
}

/// The tercile cuts (nearest rank) of the converted amounts, as of L, of the deals closed won
/// or lost with a booking date in the window before L's day.
fn size_cuts(
    settings: &PeriodRateSettings,
    deals: &[DealTimeline],
    convert: &dyn Fn(Money) -> Option<i64>,
) -> Option<[i64; 2]> {
    let learned_at = settings.learned_at;
    let today = settings.calendar.day_of(learned_at);
    let from = settings
        .calendar
        .day_of(learned_at - Duration::days(i64::from(settings.window_days)));
    let mut amounts: Vec<i64> = deals
        .iter()
        .filter_map(|deal| {
            let state =
                deal_history::as_of(&deal.current, deal.created_at, &deal.rows, learned_at)?;
            let booked = state.close_date?;
            if state.status == DealStatus::Open || !(from..today).contains(&booked) {
                return None;
            }
            convert(state.money()?).filter(|amount| *amount > 0)
        })
        .collect();
    if amounts.is_empty() {
        return None;
    }
    amounts.sort_unstable();
    let n = amounts.len();
    let rank = |thirds: usize| amounts[(thirds * n).div_ceil(3) - 1];
    Some([rank(1), rank(2)])
}

/// An observation instant tau with its period P(tau).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ObservationInstant {
    at: DateTime<Utc>,
    first: NaiveDate,
    last: NaiveDate,
    /// Days from tau's day to the period's last day.
    horizon_days: i64,
}

/// tau = L - 7j within the window, newest first, keeping those whose period ended before L's
/// day, so every outcome is known at L.
fn observation_instants(settings: &PeriodRateSettings) -> Vec<ObservationInstant> {
    let calendar = &settings.calendar;
    let today = calendar.day_of(settings.learned_at);
    (0..=i64::from(settings.window_days) / STEP_DAYS)
        .filter_map(|j| {
            let at = settings.learned_at - Duration::days(STEP_DAYS * j);
            let day = calendar.day_of(at);
            let (first, next) = calendar.bounds(settings.kind.period_of(calendar, day));
            let last = next.pred_opt()?;
            (last < today).then_some(ObservationInstant {
                at,
                first,
                last,
                horizon_days: (last - day).num_days(),
            })
        })
        .collect()
}

/// Converts amounts, remembering the last one: a deal's amount rarely changes between instants.
struct Converter<'a> {
    convert: &'a dyn Fn(Money) -> Option<i64>,
    last: Option<(Money, Option<i64>)>,
}

impl Converter<'_> {
    fn amount(&mut self, money: Option<Money>) -> Option<i64> {
        let money = money?;
        match self.last {
            Some((seen, converted)) if seen == money => converted,
            _ => {
                let converted = (self.convert)(money);
                self.last = Some((money, converted));
                converted
            }
        }
    }
}

/// Stage ids numbered in the order first seen, so the tallies index a vector.
#[derive(Default)]
struct StageIndex {
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
enum Booking {
    NotWon,
    Won { day: NaiveDate, amount: i64 },
}

/// The deal's booking as of L; `None` when it was won but its booking cannot be valued (no
/// close date, or an amount that does not convert), so its outcomes are unknown.
fn booking_at(state: &DealState, converter: &mut Converter<'_>) -> Option<Booking> {
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
struct Observation {
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
}

/// The observation `state` (the deal as of the instant, with `pushes` so far) makes, if it was
/// open with its close date in the instant's period and a positive convertible amount.
fn observe(
    state: &DealState,
    pushes: u32,
    booking: Booking,
    instant: &ObservationInstant,
    converter: &mut Converter<'_>,
    stages: &mut StageIndex,
) -> Option<Observation> {
    let close = state.close_date?;
    let in_period = |day: NaiveDate| instant.first <= day && day <= instant.last;
    if state.status != DealStatus::Open || !in_period(close) {
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
    })
}

/// Everything one learning run shares across deals.
struct Learner<'a> {
    settings: &'a PeriodRateSettings,
    instants: Vec<ObservationInstant>,
    converter: Converter<'a>,
    stages: StageIndex,
}

/// Learns with `observe_deal` giving each deal's observations, newest instant first.
fn learn_with(
    settings: &PeriodRateSettings,
    deals: &[DealTimeline],
    stage_rates: &HashMap<String, f64>,
    convert: &dyn Fn(Money) -> Option<i64>,
    observe_deal: fn(&mut Learner<'_>, &DealTimeline, &mut Vec<Observation>),
) -> PeriodRateTable {
    let cuts = size_cuts(settings, deals, convert);
    let mut learner = Learner {
        settings,
        instants: observation_instants(settings),
        converter: Converter {
            convert,
            last: None,
        },
        stages: StageIndex::default(),
    };
    let mut tallies = Tallies::new(cuts);
    let mut observations = Vec::new();
    for deal in deals {
        observations.clear();
        observe_deal(&mut learner, deal, &mut observations);
        tallies.add_deal(&observations);
    }
    tallies.finish(settings, &learner.stages, stage_rates)
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
fn sweep_deal(learner: &mut Learner<'_>, deal: &DealTimeline, out: &mut Vec<Observation>) {
    let settings = *learner.settings;
    if deal.created_at > settings.learned_at {
        return;
    }
    let period_end = |day| settings.kind.last_day(&settings.calendar, day);
    let mut rewind = Rewind::new(deal, period_end);
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

/// The tallies of every cell, and the sums behind the in-period share.
struct Tallies {
    cuts: Option<[i64; 2]>,
    stages: Vec<StageTally>,
    outcome_sum: f64,
    won_share_sum: f64,
    /// (period, stage, horizon, amount, pushes, outcome) of every observation, to score each
    /// past period against the finished table.
    seen: Vec<(NaiveDate, usize, i64, i64, u32, f64)>,
    /// (stage, bucket, band slot, push slot, won in period) of one deal's observations.
    scratch: Vec<(usize, usize, usize, usize, bool)>,
}

impl Tallies {
    fn new(cuts: Option<[i64; 2]>) -> Self {
        Tallies {
            cuts,
            stages: Vec::new(),
            outcome_sum: 0.0,
            won_share_sum: 0.0,
            seen: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Adds one deal's observations: each to its three nested cells, the deal once per cell.
    fn add_deal(&mut self, observations: &[Observation]) {
        self.scratch.clear();
        for seen in observations {
            if self.stages.len() <= seen.stage {
                self.stages.resize(seen.stage + 1, StageTally::default());
            }
            let bucket = usize::from(horizon_bucket(seen.horizon_days));
            let band = usize::from(size_band(self.cuts, seen.amount)) + 1;
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
            self.seen.push((
                seen.period,
                seen.stage,
                seen.horizon_days,
                seen.amount,
                seen.pushes,
                seen.outcome,
            ));
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

    /// The table: each observed cell shrunk toward its parent, the top cells toward the stage's
    /// rate x the in-period share.
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
        let mut table = PeriodRateTable {
            kind: settings.kind,
            learned_at: settings.learned_at,
            window_days: settings.window_days,
            prior_weight: settings.prior_weight,
            size_cuts: self.cuts,
            in_period_share,
            stage_rates: stage_rates
                .iter()
                .map(|(stage, rate)| (stage.clone(), unit(*rate)))
                .collect(),
            cells: BTreeMap::new(),
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
        let mut periods: BTreeMap<NaiveDate, (f64, f64)> = BTreeMap::new();
        for &(period, stage, horizon, amount, pushes, outcome) in &self.seen {
            let Some(stage_id) = stages.ids.get(stage) else {
                continue;
            };
            let q = table.q(stage_id, horizon, amount, pushes);
            let sums = periods.entry(period).or_default();
            sums.0 += amount as f64 * outcome;
            sums.1 += amount as f64 * q;
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

#[cfg(test)]
mod tests;
