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
// Amounts are minor units written as dollars_cents (100_00 is 100.00).
#[allow(clippy::inconsistent_digit_grouping)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::domain::deal::ForecastCategory;
    use crate::domain::deal_history::{as_of, changes, pushes};
    use crate::domain::directory::UserId;
    use crate::domain::money::Currency;
    use crate::domain::period::FiscalCalendar;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn to_usd(money: Money) -> Option<i64> {
        (money.currency == usd()).then_some(money.minor)
    }

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    /// Noon UTC of a 2026 day.
    fn at(m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, m, d, 12, 0, 0).unwrap()
    }

    fn open(stage: &str, amount: i64, close: NaiveDate) -> DealState {
        DealState {
            owner_id: UserId(Uuid::nil()),
            stage_id: stage.into(),
            status: DealStatus::Open,
            amount: Some(amount),
            currency: Some(usd()),
            close_date: Some(close),
            category: ForecastCategory::Pipeline,
        }
    }

    fn won(before: &DealState, amount: i64, booked: NaiveDate) -> DealState {
        DealState {
            stage_id: "closed_won".into(),
            status: DealStatus::Won,
            amount: Some(amount),
            close_date: Some(booked),
            ..before.clone()
        }
    }

    fn lost(before: &DealState, on: NaiveDate) -> DealState {
        DealState {
            stage_id: "closed_lost".into(),
            status: DealStatus::Lost,
            close_date: Some(on),
            ..before.clone()
        }
    }

    fn moved(before: &DealState, close: NaiveDate) -> DealState {
        DealState {
            close_date: Some(close),
            ..before.clone()
        }
    }

    /// A deal created at `created` as `first`, then becoming each later state at its instant.
    fn timeline(
        id: u128,
        created: DateTime<Utc>,
        first: DealState,
        later: &[(DateTime<Utc>, DealState)],
    ) -> DealTimeline {
        let deal_id = Uuid::from_u128(id);
        let mut rows = Vec::new();
        let mut current = first;
        for (when, next) in later {
            rows.extend(changes(deal_id, &current, next, *when, None));
            current = next.clone();
        }
        DealTimeline {
            deal_id,
            created_at: created,
            current,
            rows,
        }
    }

    fn months_at(learned_at: DateTime<Utc>) -> PeriodRateSettings {
        PeriodRateSettings::new(learned_at, OrgCalendar::default(), PeriodKind::Month)
    }

    fn learn(
        settings: &PeriodRateSettings,
        deals: &[DealTimeline],
        rates: &[(&str, f64)],
    ) -> PeriodRateTable {
        let rates = rates.iter().map(|(s, r)| (s.to_string(), *r)).collect();
        PeriodRateTable::learn(settings, deals, &rates, &to_usd)
    }

    fn key(bucket: u8, band: Option<u8>, pushes: Option<u8>) -> CellKey {
        CellKey {
            horizon_bucket: bucket,
            size_band: band,
            pushes,
        }
    }

    fn cell<'t>(table: &'t PeriodRateTable, stage: &str, key: CellKey) -> &'t PeriodRateCell {
        &table.cells[stage][&key]
    }

    fn total_observations(table: &PeriodRateTable) -> u64 {
        table
            .cells()
            .filter(|(_, key, _)| key.size_band.is_none())
            .map(|(_, _, cell)| cell.observations)
            .sum()
    }

    /// Open in `propose` for 100.00 closing 25 June, created 1 June, won 22 June for `booked`.
    /// Learning on 1 August sees it on 20 June (10 days left) and 13 and 6 June (17 and 24).
    fn won_in_june_for(booked: i64) -> PeriodRateTable {
        let first = open("propose", 100_00, day(6, 25));
        let deal = timeline(
            1,
            at(6, 1),
            first.clone(),
            &[(at(6, 22), won(&first, booked, day(6, 22)))],
        );
        learn(&months_at(at(8, 1)), &[deal], &[])
    }

    #[test]
    fn a_deal_won_in_its_period_counts_its_booked_share() {
        let table = won_in_june_for(100_00);
        let week_before = cell(&table, "propose", key(1, None, None));
        assert_eq!(
            (week_before.observations, week_before.outcome_sum),
            (1, 1.0)
        );
        let earlier = cell(&table, "propose", key(2, None, None));
        assert_eq!((earlier.observations, earlier.outcome_sum), (2, 2.0));
        assert_eq!(earlier.in_period_win_share, 1.0);
        assert_eq!(total_observations(&table), 3);
    }

    #[test]
    fn a_deal_won_for_less_than_its_pipeline_amount_counts_the_fraction() {
        let table = won_in_june_for(60_00);
        assert_eq!(cell(&table, "propose", key(1, None, None)).outcome_sum, 0.6);
        assert_eq!(cell(&table, "propose", key(2, None, None)).outcome_sum, 1.2);
        assert_eq!(cell(&table, "propose", key(2, None, None)).won_in_period, 2);
    }

    #[test]
    fn a_deal_won_for_more_than_its_pipeline_amount_counts_at_most_one() {
        let table = won_in_june_for(150_00);
        assert_eq!(cell(&table, "propose", key(1, None, None)).outcome_sum, 1.0);
        assert_eq!(cell(&table, "propose", key(2, None, None)).outcome_sum, 2.0);
    }

    #[test]
    fn a_deal_that_slipped_to_the_next_period_counts_zero_for_the_earlier_tau() {
        // Closing 30 June, pushed to 10 July on 28 June, won 8 July.
        let first = open("a", 100_00, day(6, 30));
        let pushed = moved(&first, day(7, 10));
        let deal = timeline(
            1,
            at(6, 1),
            first,
            &[
                (at(6, 28), pushed.clone()),
                (at(7, 8), won(&pushed, 100_00, day(7, 8))),
            ],
        );
        let table = learn(&months_at(at(8, 1)), &[deal], &[]);
        // 27 June, 3 days left in June: slipped, so 0.
        let last_week = cell(&table, "a", key(0, None, None));
        assert_eq!((last_week.observations, last_week.outcome_sum), (1, 0.0));
        assert_eq!(last_week.in_period_win_share, 0.0);
        // 13 and 6 June (0 each) and 4 July (after one push, won in July: 1).
        let earlier = cell(&table, "a", key(2, None, None));
        assert_eq!((earlier.observations, earlier.outcome_sum), (3, 1.0));
        let unpushed = cell(&table, "a", key(2, Some(0), Some(0)));
        assert_eq!((unpushed.observations, unpushed.outcome_sum), (2, 0.0));
        let pushed_once = cell(&table, "a", key(2, Some(0), Some(1)));
        assert_eq!(
            (pushed_once.observations, pushed_once.outcome_sum),
            (1, 1.0)
        );
    }

    #[test]
    fn a_deal_lost_counts_zero() {
        let first = open("a", 100_00, day(6, 30));
        let deal = timeline(
            1,
            at(6, 1),
            first.clone(),
            &[(at(6, 29), lost(&first, day(6, 29)))],
        );
        let table = learn(&months_at(at(8, 1)), &[deal], &[]);
        let sums: Vec<(u64, f64)> = table
            .cells()
            .filter(|(_, key, _)| key.size_band.is_none())
            .map(|(_, _, cell)| (cell.observations, cell.outcome_sum))
            .collect();
        assert_eq!(sums, [(1, 0.0), (1, 0.0), (2, 0.0)]);
    }

    #[test]
    fn periods_not_ended_before_the_learning_instant_are_not_observed() {
        // Learning on 15 July: the July instants (15, 8, 1 July) are not observed.
        let settings = months_at(at(7, 15));
        let instants = observation_instants(&settings);
        assert_eq!(instants[0].at, at(6, 24));
        assert!(instants.iter().all(|i| i.last < day(7, 1)));
        let in_july = timeline(1, at(6, 1), open("a", 100_00, day(7, 20)), &[]);
        let first = open("b", 100_00, day(6, 30));
        let in_june = timeline(
            2,
            at(6, 1),
            first.clone(),
            &[(at(7, 2), lost(&first, day(7, 2)))],
        );
        let table = learn(&settings, &[in_july, in_june], &[]);
        assert!(!table.cells.contains_key("a"));
        assert_eq!(total_observations(&table), 4);
    }

    #[test]
    fn observation_instants_are_every_seven_days_back_within_the_window_whose_period_ended() {
        let settings = PeriodRateSettings {
            window_days: 30,
            ..months_at(at(8, 1))
        };
        let seen: Vec<(DateTime<Utc>, i64)> = observation_instants(&settings)
            .iter()
            .map(|i| (i.at, i.horizon_days))
            .collect();
        assert_eq!(
            seen,
            [
                (at(7, 25), 6),
                (at(7, 18), 13),
                (at(7, 11), 20),
                (at(7, 4), 27)
            ]
        );
    }

    #[test]
    fn the_period_of_an_instant_is_read_in_the_orgs_zone() {
        // 1 July 02:00 UTC is still 30 June in Los Angeles: June's last day, 0 days left.
        let learned_at = Utc.with_ymd_and_hms(2026, 7, 8, 2, 0, 0).unwrap();
        let deal = timeline(1, at(6, 15), open("a", 100_00, day(6, 30)), &[]);
        let la = OrgCalendar::new(
            FiscalCalendar::default(),
            OrgCalendar::parse_zone("America/Los_Angeles").unwrap(),
        );
        let settings = PeriodRateSettings::new(learned_at, la, PeriodKind::Month);
        let table = learn(&settings, std::slice::from_ref(&deal), &[]);
        // Seen there at 0, 7 and 14 days left; read in UTC, 1 July is not observed (July has
        // not ended) and the other two instants are a day later: 6 and 13 days left.
        let buckets = |table: &PeriodRateTable| -> Vec<(u8, u64)> {
            table
                .cells()
                .filter(|(_, key, _)| key.size_band.is_none())
                .map(|(_, key, cell)| (key.horizon_bucket, cell.observations))
                .collect()
        };
        assert_eq!(buckets(&table), [(0, 1), (1, 1), (2, 1)]);
        let in_utc = learn(&months_at(learned_at), &[deal], &[]);
        assert_eq!(buckets(&in_utc), [(0, 1), (1, 1)]);
    }

    #[test]
    fn an_amount_that_cannot_be_converted_is_not_observed() {
        let mut first = open("a", 100_00, day(6, 30));
        first.currency = Currency::parse("EUR");
        let deal = timeline(1, at(6, 1), first, &[]);
        let table = learn(&months_at(at(8, 1)), &[deal], &[]);
        assert!(table.cells.is_empty());
    }

    /// A history that goes on after L (1 July), and the same history as it stood at L.
    fn with_and_without_later_changes() -> (Vec<DealTimeline>, Vec<DealTimeline>) {
        let x = open("a", 100_00, day(6, 25));
        let x_bigger = DealState {
            amount: Some(120_00),
            ..x.clone()
        };
        let y = open("b", 50_00, day(6, 20));
        let y_lost = lost(&y, day(6, 19));
        let z = open("a", 70_00, day(5, 31));
        let z_won = won(&z, 70_00, day(5, 28));
        let known = vec![
            timeline(1, at(5, 20), x.clone(), &[(at(6, 10), x_bigger.clone())]),
            timeline(2, at(5, 1), y.clone(), &[(at(6, 19), y_lost.clone())]),
            timeline(3, at(5, 2), z.clone(), &[(at(5, 28), z_won.clone())]),
        ];
        let reopened = DealState {
            stage_id: "c".into(),
            status: DealStatus::Open,
            close_date: Some(day(6, 20)),
            ..y_lost.clone()
        };
        let full = vec![
            // Won after L, booked back on 30 June: not known at L.
            timeline(
                1,
                at(5, 20),
                x,
                &[
                    (at(6, 10), x_bigger.clone()),
                    (at(7, 3), won(&x_bigger, 120_00, day(6, 30))),
                ],
            ),
            timeline(2, at(5, 1), y, &[(at(6, 19), y_lost), (at(7, 2), reopened)]),
            timeline(
                3,
                at(5, 2),
                z,
                &[
                    (at(5, 28), z_won.clone()),
                    (
                        at(7, 9),
                        DealState {
                            amount: Some(5_00),
                            ..z_won
                        },
                    ),
                ],
            ),
            timeline(4, at(7, 5), open("a", 10_00, day(6, 30)), &[]),
        ];
        (full, known)
    }

    #[test]
    fn nothing_after_the_learning_instant_changes_the_table() {
        let (full, known) = with_and_without_later_changes();
        let settings = months_at(at(7, 1));
        let rates = [("a", 0.4), ("b", 0.3)];
        let table = learn(&settings, &full, &rates);
        assert_eq!(table, learn(&settings, &known, &rates));
        assert!(total_observations(&table) > 0);
        assert_eq!(table.size_cuts, Some([50_00, 70_00]));
    }

    /// X (won in June) and Y (slipped, won in July), both 100.00 in stage `a` closing 20 June,
    /// learned on 1 August. X is seen on 13 and 6 June (outcome 1 each), Y on 20, 13 and 6 June
    /// (0 each, won share 1): the in-period share is 2 / 5.
    fn won_in_and_after_june() -> PeriodRateTable {
        let first = open("a", 100_00, day(6, 20));
        let x = timeline(
            1,
            at(6, 1),
            first.clone(),
            &[(at(6, 18), won(&first, 100_00, day(6, 18)))],
        );
        let pushed = moved(&first, day(7, 5));
        let y = timeline(
            2,
            at(6, 1),
            first,
            &[
                (at(6, 25), pushed.clone()),
                (at(7, 3), won(&pushed, 100_00, day(7, 3))),
            ],
        );
        learn(&months_at(at(8, 1)), &[x, y], &[("a", 0.5), ("b", 0.8)])
    }

    #[test]
    fn the_prior_is_the_stage_rate_times_the_in_period_share_by_value() {
        let table = won_in_and_after_june();
        assert_eq!(table.in_period_share, 0.4);
        assert_eq!(cell(&table, "a", key(2, None, None)).prior, 0.5 * 0.4);
        assert_eq!(cell(&table, "a", key(1, None, None)).prior, 0.5 * 0.4);
    }

    #[test]
    fn with_no_won_deal_observed_the_in_period_share_is_one() {
        let first = open("a", 100_00, day(6, 30));
        let deal = timeline(
            1,
            at(6, 1),
            first.clone(),
            &[(at(6, 29), lost(&first, day(6, 29)))],
        );
        let table = learn(&months_at(at(8, 1)), &[deal], &[("a", 0.3)]);
        assert_eq!(table.in_period_share, 1.0);
        assert_eq!(table.q("b", 3, 100_00, 0), 0.0);
        assert_eq!(table.stage_prior("a"), 0.3);
    }

    #[test]
    fn a_cell_with_no_observations_is_its_prior() {
        let table = won_in_and_after_june();
        // Stage a was never seen with 3 days left: its prior, 0.5 x 0.4.
        assert_eq!(table.q("a", 3, 100_00, 0), 0.2);
        // Stage b was never seen: 0.8 x 0.4; a stage without a rate: 0.
        assert_eq!(table.q("b", 20, 100_00, 0), 0.8 * 0.4);
        assert_eq!(table.q("c", 20, 100_00, 0), 0.0);
        // A larger deal's band was never seen: its parent's q.
        let bucket = cell(&table, "a", key(2, None, None));
        assert_eq!(table.q("a", 20, 500_00, 0), bucket.q);
        // Two pushes were never seen in band 0: the band's q.
        let band = cell(&table, "a", key(2, Some(0), None));
        assert_eq!(table.q("a", 20, 100_00, 2), band.q);
        let deepest = cell(&table, "a", key(2, Some(0), Some(0)));
        assert_eq!(table.q("a", 20, 100_00, 0), deepest.q);
    }

    #[test]
    fn the_smoothed_q_lies_between_the_raw_rate_and_the_prior() {
        let table = won_in_and_after_june();
        let bucket = cell(&table, "a", key(2, None, None));
        assert_eq!((bucket.observations, bucket.outcome_sum), (4, 2.0));
        assert_eq!(bucket.raw, 0.5);
        assert!((bucket.q - (2.0 + 10.0 * 0.2) / (4.0 + 10.0)).abs() < 1e-12);
        assert!(bucket.prior < bucket.q && bucket.q < bucket.raw);
    }

    #[test]
    fn segments_shrink_toward_their_parent_cell() {
        let table = won_in_and_after_june();
        let bucket = cell(&table, "a", key(2, None, None));
        let band = cell(&table, "a", key(2, Some(0), None));
        let pushes = cell(&table, "a", key(2, Some(0), Some(0)));
        assert_eq!(band.prior, bucket.q);
        assert_eq!(pushes.prior, band.q);
        let k = 10.0;
        assert!((band.q - (band.outcome_sum + k * bucket.q) / (4.0 + k)).abs() < 1e-12);
    }

    #[test]
    fn distinct_deals_are_counted_once_per_cell_though_seen_at_many_tau() {
        let table = won_in_and_after_june();
        let bucket = cell(&table, "a", key(2, None, None));
        assert_eq!(bucket.observations, 4);
        assert_eq!((bucket.deals, bucket.deals_won_in_period), (2, 1));
        assert_eq!((bucket.wilson_low, bucket.wilson_high), wilson(1.0, 2.0));
        let alone = won_in_june_for(100_00);
        let seen_twice = cell(&alone, "propose", key(2, None, None));
        assert_eq!((seen_twice.observations, seen_twice.deals), (2, 1));
        assert_eq!(seen_twice.deals_won_in_period, 1);
    }

    /// A deal created in June 2025 that closed (`won`, else lost) for `amount` on `closed`.
    fn closed_deal(id: u128, amount: i64, won_it: bool, closed: DateTime<Utc>) -> DealTimeline {
        let created = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
        let first = open("a", amount, closed.date_naive());
        let last = if won_it {
            won(&first, amount, closed.date_naive())
        } else {
            lost(&first, closed.date_naive())
        };
        timeline(id, created, first, &[(closed, last)])
    }

    #[test]
    fn size_bands_are_terciles_of_the_deals_closed_in_the_window() {
        let before_window = Utc.with_ymd_and_hms(2025, 7, 1, 12, 0, 0).unwrap();
        let deals = [
            closed_deal(1, 10_00, true, at(2, 1)),
            closed_deal(2, 60_00, false, at(3, 1)),
            closed_deal(3, 30_00, true, at(4, 1)),
            closed_deal(4, 20_00, false, at(5, 1)),
            closed_deal(5, 50_00, true, at(6, 1)),
            closed_deal(6, 40_00, true, at(7, 1)),
            closed_deal(7, 1_000_00, true, before_window),
            closed_deal(8, 1_000_00, true, at(8, 5)),
            timeline(9, at(1, 5), open("a", 1_000_00, day(9, 1)), &[]),
        ];
        let table = learn(&months_at(at(8, 1)), &deals, &[]);
        assert_eq!(table.size_cuts, Some([20_00, 40_00]));
        let bands: Vec<u8> = [1, 20_00, 20_01, 40_00, 40_01]
            .into_iter()
            .map(|amount| table.size_band(amount))
            .collect();
        assert_eq!(bands, [0, 0, 1, 1, 2]);
    }

    #[test]
    fn with_no_closed_deals_there_is_one_size_band() {
        let deal = timeline(1, at(6, 1), open("a", 100_00, day(6, 30)), &[]);
        let table = learn(&months_at(at(8, 1)), &[deal], &[]);
        assert_eq!(table.size_cuts, None);
        assert_eq!(table.size_band(1), 0);
        assert_eq!(table.size_band(1_000_000_00), 0);
    }

    #[test]
    fn horizon_buckets_are_the_last_week_the_week_before_the_rest_of_a_month_the_month_before_and_earlier()
     {
        let cases = [
            (-3, 0),
            (0, 0),
            (6, 0),
            (7, 1),
            (13, 1),
            (14, 2),
            (29, 2),
            (30, 3),
            (59, 3),
            (60, 4),
            (91, 4),
        ];
        for (days, bucket) in cases {
            assert_eq!(horizon_bucket(days), bucket, "{days} days");
        }
    }

    #[test]
    fn pushes_so_far_are_segmented_as_zero_one_and_two_or_more() {
        let segments: Vec<u8> = [0, 1, 2, 3, 9].into_iter().map(push_segment).collect();
        assert_eq!(segments, [0, 1, 2, 2, 2]);
    }

    #[test]
    fn the_period_kind_names_the_month_or_the_fiscal_quarter_of_a_day() {
        let calendar =
            OrgCalendar::new(FiscalCalendar::starting_in(2).unwrap(), chrono_tz::Tz::UTC);
        let month = PeriodKind::Month.period_of(&calendar, day(11, 22));
        let quarter = PeriodKind::Quarter.period_of(&calendar, day(11, 22));
        assert_eq!(
            (month.to_string(), quarter.to_string()),
            ("2026-11".into(), "2027-Q4".into())
        );
        assert_eq!(PeriodKind::of(quarter), PeriodKind::Quarter);
        assert_eq!(
            PeriodKind::Quarter.last_day(&calendar, day(11, 22)),
            NaiveDate::from_ymd_opt(2027, 1, 31).unwrap()
        );
        assert_eq!(PeriodKind::Month.last_day(&calendar, day(2, 3)), day(2, 28));
    }

    #[test]
    fn cells_are_listed_by_stage_bucket_band_and_pushes() {
        let table = won_in_and_after_june();
        let listed: Vec<(&str, CellKey)> = table.cells().map(|(s, k, _)| (s, *k)).collect();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(listed, sorted);
        assert_eq!(listed[0], ("a", key(1, None, None)));
    }

    /// The reference: the deal rebuilt with `as_of` at L and at every instant, pushes counted
    /// afresh each time.
    fn rebuilt_at_every_instant(
        learner: &mut Learner<'_>,
        deal: &DealTimeline,
        out: &mut Vec<Observation>,
    ) {
        let settings = *learner.settings;
        let rebuild = |at| as_of(&deal.current, deal.created_at, &deal.rows, at);
        let Some(at_learning) = rebuild(settings.learned_at) else {
            return;
        };
        let Some(booking) = booking_at(&at_learning, &mut learner.converter) else {
            return;
        };
        let period_end = |day| settings.kind.last_day(&settings.calendar, day);
        for instant in &learner.instants {
            let Some(state) = rebuild(instant.at) else {
                continue;
            };
            let pushed = pushes(&deal.rows, None, instant.at, period_end);
            let seen = observe(
                &state,
                pushed,
                booking,
                instant,
                &mut learner.converter,
                &mut learner.stages,
            );
            out.extend(seen);
        }
    }

    fn arb_state() -> impl Strategy<Value = DealState> {
        (
            prop::sample::select(vec!["a", "b", "c"]),
            prop::sample::select(vec![
                DealStatus::Open,
                DealStatus::Open,
                DealStatus::Open,
                DealStatus::Won,
                DealStatus::Lost,
            ]),
            prop::option::weighted(0.9, 1i64..1_000),
            prop::sample::select(vec!["USD", "USD", "USD", "EUR"]),
            prop::option::weighted(0.95, 0i64..240),
        )
            .prop_map(|(stage, status, amount, currency, close)| DealState {
                owner_id: UserId(Uuid::nil()),
                stage_id: stage.into(),
                status,
                amount,
                currency: Currency::parse(currency),
                close_date: close.map(|d| day(1, 1) - Duration::days(30) + Duration::days(d)),
                category: ForecastCategory::Pipeline,
            })
    }

    /// Hours from 2025-10-01 00:00 UTC.
    fn hour(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 10, 1, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    /// Creation hour, first state, then each later state after a gap in hours.
    type RawTimeline = (i64, DealState, Vec<(i64, DealState)>);

    /// A deal created at an hour, then changing to each state after some hours.
    fn arb_timeline() -> impl Strategy<Value = RawTimeline> {
        (
            0i64..240 * 24,
            arb_state(),
            prop::collection::vec((1i64..40 * 24, arb_state()), 0..8),
        )
    }

    /// The timelines, with each deal's states at or before `cut` only (and deals created by
    /// then) when a cut is given.
    fn build(raw: &[RawTimeline], cut: Option<DateTime<Utc>>) -> Vec<DealTimeline> {
        raw.iter()
            .enumerate()
            .filter(|(_, (created, _, _))| cut.is_none_or(|cut| hour(*created) <= cut))
            .map(|(i, (created, first, later))| {
                let mut when = *created;
                let stamped: Vec<(DateTime<Utc>, DealState)> = later
                    .iter()
                    .map(|(gap, state)| {
                        when += gap;
                        (hour(when), state.clone())
                    })
                    .filter(|(at, _)| cut.is_none_or(|cut| *at <= cut))
                    .collect();
                timeline(i as u128, hour(*created), first.clone(), &stamped)
            })
            .collect()
    }

    fn arb_settings() -> impl Strategy<Value = PeriodRateSettings> {
        (
            0i64..90 * 24,
            prop::bool::ANY,
            1u32..=12,
            prop::sample::select(vec!["UTC", "America/Los_Angeles", "Asia/Tokyo"]),
            prop::sample::select(vec![365u32, 120]),
        )
            .prop_map(|(h, monthly, start, zone, window_days)| {
                let calendar = OrgCalendar::new(
                    FiscalCalendar::starting_in(start).unwrap(),
                    OrgCalendar::parse_zone(zone).unwrap(),
                );
                let kind = if monthly {
                    PeriodKind::Month
                } else {
                    PeriodKind::Quarter
                };
                PeriodRateSettings {
                    window_days,
                    ..PeriodRateSettings::new(hour(210 * 24 + h), calendar, kind)
                }
            })
    }

    fn arb_rates() -> impl Strategy<Value = HashMap<String, f64>> {
        prop::collection::hash_map(
            prop::sample::select(vec!["a".to_string(), "b".into(), "c".into()]),
            -0.5f64..1.5,
            0..3,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// The backward sweep sees exactly what rebuilding each deal at every instant sees.
        #[test]
        fn the_sweep_equals_a_rebuild_at_every_instant(
            raw in prop::collection::vec(arb_timeline(), 1..10),
            settings in arb_settings(),
            rates in arb_rates(),
        ) {
            let deals = build(&raw, None);
            let learner = || Learner {
                settings: &settings,
                instants: observation_instants(&settings),
                converter: Converter { convert: &to_usd, last: None },
                stages: StageIndex::default(),
            };
            let mut learners = [learner(), learner()];
            for deal in &deals {
                let (mut swept, mut rebuilt) = (Vec::new(), Vec::new());
                sweep_deal(&mut learners[0], deal, &mut swept);
                rebuilt_at_every_instant(&mut learners[1], deal, &mut rebuilt);
                prop_assert_eq!(swept, rebuilt);
            }
            let table = PeriodRateTable::learn(&settings, &deals, &rates, &to_usd);
            let reference = learn_with(&settings, &deals, &rates, &to_usd, rebuilt_at_every_instant);
            prop_assert_eq!(table, reference);
        }

        /// Whatever happens after L, the table is what the history known at L gives.
        #[test]
        fn changes_after_the_learning_instant_leave_the_table_identical(
            raw in prop::collection::vec(arb_timeline(), 1..10),
            settings in arb_settings(),
            rates in arb_rates(),
        ) {
            let full = build(&raw, None);
            let known = build(&raw, Some(settings.learned_at));
            prop_assert_eq!(
                PeriodRateTable::learn(&settings, &full, &rates, &to_usd),
                PeriodRateTable::learn(&settings, &known, &rates, &to_usd)
            );
        }

        /// Every q, prior and share is in [0, 1], and a top cell's q lies between its raw rate
        /// and its prior.
        #[test]
        fn q_stays_between_zero_and_one(
            raw in prop::collection::vec(arb_timeline(), 1..10),
            settings in arb_settings(),
            rates in arb_rates(),
            lookups in prop::collection::vec(
                (prop::sample::select(vec!["a", "b", "c", "d"]), -5i64..100, -10i64..2_000, 0u32..4),
                1..20,
            ),
        ) {
            let table = PeriodRateTable::learn(&settings, &build(&raw, None), &rates, &to_usd);
            let unit = 0.0..=1.0;
            prop_assert!(unit.contains(&table.in_period_share));
            for (_, key, cell) in table.cells() {
                prop_assert!(unit.contains(&cell.q) && unit.contains(&cell.prior));
                prop_assert!(unit.contains(&cell.raw) && unit.contains(&cell.in_period_win_share));
                prop_assert!(cell.deals <= cell.observations && cell.deals_won_in_period <= cell.deals);
                if key.size_band.is_none() {
                    let (low, high) = (cell.raw.min(cell.prior), cell.raw.max(cell.prior));
                    prop_assert!(low - 1e-12 <= cell.q && cell.q <= high + 1e-12);
                }
            }
            for (stage, horizon, amount, pushes) in lookups {
                prop_assert!(unit.contains(&table.q(stage, horizon, amount, pushes)));
            }
        }
    }
}
