//! Learning q, the period win rate: the probability, by value, that an open deal is won with a
//! booking date in the period its close date is in (DESIGN.md, "Learning q"), learned from the
//! pipeline's history using only what was known at the learning instant L.

mod learn;
mod size_bands;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use super::calendar::{OrgCalendar, PeriodKind};
use super::deal_history::{DealState, FieldHistoryEntry};
use super::estimate::DEFAULT_PRIOR_WEIGHT;
use super::ids::DealId;
use super::money::{Currency, Money};
pub use learn::PeriodRateLearning;
use learn::{learn_with, sweep_deal};
pub use size_bands::SizeCutSample;

/// Default look-back window, in days.
pub const DEFAULT_WINDOW_DAYS: u32 = 365;

/// The first day of each horizon bucket: the period's last week, the week before, the rest of a
/// month, the month before, and earlier. The last two weeks are split because the chance to
/// close in time falls fastest there; a month (at most 30 days left) uses the first four, a
/// quarter all five.
pub const HORIZON_BUCKET_STARTS: [i64; 5] = [0, 7, 14, 30, 60];

/// How many days before the period's first day an open deal's close date may be for the deal
/// to count as overdue (at its overdue q); a deal dated earlier still is in no term: a year
/// past its date, it is the CRM's debris, not pipeline.
pub const OVERDUE_DAYS: i64 = 365;

const BUCKETS: usize = HORIZON_BUCKET_STARTS.len();
const SIZE_BANDS: usize = 3;
const PUSH_SEGMENTS: usize = 3;

/// One deal of the pipeline with its whole field history.
#[derive(Debug, Clone, PartialEq)]
pub struct DealTimeline {
    /// The deal.
    pub deal_id: DealId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The deal now (possibly changed after the learning instant).
    pub current: DealState,
    /// Its field history rows, oldest first (time, then sequence).
    pub rows: Vec<FieldHistoryEntry>,
}

/// Converts an amount into a currency: `None` when no exchange rate serves.
pub type Convert<'a> = dyn Fn(Money, Currency) -> Option<i64> + Sync + 'a;

/// The size bands of a table: the currency amounts are compared in, and the two tercile cuts
/// (`None`: one band).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizeBands {
    /// The currency of the cuts.
    pub currency: Currency,
    /// The largest amount of band 0, and of band 1.
    pub cuts: Option<[i64; 2]>,
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

/// Where an open deal that may book in the period is dated, when not in it: each kind has its
/// own cells, learned as q is (DESIGN.md's sum counts neither; README says why they count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OffPeriod {
    /// Dated in the next period: it may close early, or its date be pulled in (pulled in).
    Next,
    /// Dated before the period (at most [`OVERDUE_DAYS`] before its first day) and still open:
    /// its date passed unchanged, yet it may still be won now (overdue).
    Overdue,
}

impl OffPeriod {
    /// Both, in the order tables list them.
    pub const ALL: [OffPeriod; 2] = [OffPeriod::Next, OffPeriod::Overdue];

    /// Its place in [`OffPeriod::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A period's days as seen on one day, and the days around it an open deal may be dated on
/// and still book in it: the one rule learning, the forecast's reads and backtests share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodDays {
    /// The period's first day.
    pub first: NaiveDate,
    /// The first day after it.
    pub end: NaiveDate,
    /// The first day after the next period: deals dated before it may be pulled in.
    pub next_end: NaiveDate,
    /// The day the deals are seen on (today, a backtest point's day, an observation's).
    pub as_of: NaiveDate,
}

impl PeriodDays {
    /// The period `[first, end)` of `kind`, seen on `as_of`.
    pub fn new(
        calendar: &OrgCalendar,
        kind: PeriodKind,
        (first, end): (NaiveDate, NaiveDate),
        as_of: NaiveDate,
    ) -> Self {
        PeriodDays {
            first,
            end,
            next_end: kind.last_day(calendar, end) + chrono::Duration::days(1),
            as_of,
        }
    }

    /// The period's last day.
    pub fn last(&self) -> NaiveDate {
        self.end.pred_opt().unwrap_or(self.end)
    }

    /// Whether `day` is one of the period's.
    pub fn holds(&self, day: NaiveDate) -> bool {
        self.first <= day && day < self.end
    }

    /// Whether the period is over as of its day: nothing learned books in it any more (a
    /// signing recorded late counts in closed won once it is recorded).
    pub fn ended(&self) -> bool {
        self.as_of >= self.end
    }

    /// Where an open deal dated `close` stands: `Some(None)` in the period, `Some(Some(off))`
    /// off it in a term, `None` in no term (dated two periods ahead, more than
    /// [`OVERDUE_DAYS`] before the period, before a future period but not yet passed, or off a
    /// period that has ended).
    pub fn dated(&self, close: NaiveDate) -> Option<Option<OffPeriod>> {
        if self.holds(close) {
            return Some(None);
        }
        OffPeriod::ALL
            .into_iter()
            .find(|off| {
                self.off_days(*off)
                    .is_some_and(|(from, until)| from <= close && close < until)
            })
            .map(Some)
    }

    /// The days `[from, until)` a deal dated off the period in `off` is dated on: the next
    /// period's (pulled in), or the [`OVERDUE_DAYS`] before the first day that have passed
    /// (overdue: a future period's overdue deals are those whose date passed by `as_of`).
    /// `None` when there are none, or the period has ended.
    pub fn off_days(&self, off: OffPeriod) -> Option<(NaiveDate, NaiveDate)> {
        if self.ended() {
            return None;
        }
        let (from, until) = match off {
            OffPeriod::Next => (self.end, self.next_end),
            OffPeriod::Overdue => (
                self.first - chrono::Duration::days(OVERDUE_DAYS),
                self.first.min(self.as_of),
            ),
        };
        (from < until).then_some((from, until))
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
    /// Sum of the outcomes (booked in period / amount, each at most 1), each weighed by its
    /// amount over the cell's mean amount: the observations' booked revenue over their amounts,
    /// times the observations.
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
    /// The two tercile cuts of closed deals' amounts converted into `size_currency`; `None`
    /// (one band) when no deal closed in the window.
    pub size_cuts: Option<[i64; 2]>,
    /// The currency the size bands compare amounts in (see [`SizeCutSample`]).
    pub size_currency: Currency,
    /// P(booked in period | eventually won), by value, over every observation (see `learn`).
    pub in_period_share: f64,
    /// P(booked in the period | eventually won), by value, over the pull-in observations:
    /// deals dated in the period after the observed one (0 when none of them was won).
    pub pull_in_share: f64,
    /// The same over the overdue observations: deals dated before the observed period (at most
    /// [`OVERDUE_DAYS`]) and still open (0 when none of them was won).
    pub overdue_share: f64,
    /// What every overdue cell is shrunk toward: the pipeline's overdue observations' revenue
    /// booked in their periods over their amounts (0 without any). Not the stage's win rate x a
    /// share, as for q: a deal left open past its date is not the stage's average deal.
    pub overdue_prior: f64,
    /// The stage win rates (will it ever be won) learning used, clamped to [0, 1].
    pub stage_rates: BTreeMap<String, f64>,
    /// Per stage id, its cells; both maps iterate in the listing order.
    pub cells: BTreeMap<String, BTreeMap<CellKey, PeriodRateCell>>,
    /// Per stage id, its pull-in cells by horizon bucket: the chance, by value, that an open
    /// deal dated in the *next* period is booked in this one (it closes early, or its close
    /// date is pulled in), learned as q is.
    pub pulled_in: BTreeMap<String, BTreeMap<u8, PeriodRateCell>>,
    /// Per stage id, its overdue cells by horizon bucket: the chance, by value, that an open
    /// deal dated before the period is booked in it, learned as q is.
    pub overdue: BTreeMap<String, BTreeMap<u8, PeriodRateCell>>,
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
    /// `stage_rates` maps a stage id to its win rate; `convert` gives an amount in a currency
    /// (`None`: no rate, that observation is skipped).
    ///
    /// The in-period share is the revenue booked in the observations' periods over what the
    /// same observations' deals booked whenever won by L (each at most its amount at the
    /// observation): P(in period | won) by value, so
    /// that stage rate x share reads P(won) x P(in period | won). With no won deal observed it
    /// is 1, and q leans on the classic stage rate.
    pub fn learn(
        settings: &PeriodRateSettings,
        deals: &[DealTimeline],
        stage_rates: &HashMap<String, f64>,
        convert: &Convert<'_>,
    ) -> PeriodRateTable {
        learn_with(settings, deals, stage_rates, convert, sweep_deal)
    }

    /// q for an open deal in `stage_id`, `horizon_days` before the end of its period, of
    /// `converted_amount` with `pushes` close-date pushes so far: the deepest observed cell's
    /// q, else the stage's prior.
    pub fn q(&self, stage_id: &str, horizon_days: i64, converted_amount: i64, pushes: u32) -> f64 {
        let band = self.size_band(converted_amount);
        self.q_in(stage_id, horizon_days, Some(band), pushes)
    }

    /// q as [`PeriodRateTable::q`] for a deal in size band `band` (`None`: its size is not known
    /// in the table's currency, so only the horizon bucket's cell serves).
    /// 0 once the period has ended (`horizon_days` below 0): nothing learned books in it then.
    pub fn q_in(&self, stage_id: &str, horizon_days: i64, band: Option<u8>, pushes: u32) -> f64 {
        if horizon_days < 0 {
            return 0.0;
        }
        self.q_of_cell(
            stage_id,
            horizon_bucket(horizon_days),
            band,
            push_segment(pushes),
        )
    }

    /// q in a stage's horizon bucket, size band and push segment: the deepest observed cell's,
    /// else the stage's prior.
    fn q_of_cell(&self, stage_id: &str, horizon_bucket: u8, band: Option<u8>, segment: u8) -> f64 {
        let Some(cells) = self.cells.get(stage_id) else {
            return self.stage_prior(stage_id);
        };
        let keys = match band {
            Some(band) => vec![
                (Some(band), Some(segment)),
                (Some(band), None),
                (None, None),
            ],
            None => vec![(None, None)],
        };
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

    /// The q of an open deal in `stage_id` dated `off` the forecast period, `horizon_days`
    /// before the end of the forecast period: its bucket's cell's q, else the stage's prior
    /// for such deals; 0 once the period has ended.
    pub fn off_period_q(&self, off: OffPeriod, stage_id: &str, horizon_days: i64) -> f64 {
        if horizon_days < 0 {
            return 0.0;
        }
        self.off_period_q_of_bucket(off, stage_id, horizon_bucket(horizon_days))
    }

    pub(crate) fn off_period_q_of_bucket(&self, off: OffPeriod, stage_id: &str, bucket: u8) -> f64 {
        self.off_period_cells_of(off)
            .get(stage_id)
            .and_then(|cells| cells.get(&bucket))
            .map_or_else(|| self.off_period_prior(off, stage_id), |cell| cell.q)
    }

    /// The prior of a stage's cells for deals dated `off` the period: for pull-ins its win rate
    /// (0 when unknown) x the pull-in share; for overdue deals the pipeline's overdue rate
    /// ([`PeriodRateTable::overdue_prior`]).
    pub fn off_period_prior(&self, off: OffPeriod, stage_id: &str) -> f64 {
        let prior = match off {
            OffPeriod::Next => {
                let rate = self.stage_rates.get(stage_id).copied().unwrap_or(0.0);
                rate * self.pull_in_share
            }
            // Nothing overdue counts without one won (as no pull-in without one booked early).
            OffPeriod::Overdue if self.overdue_share == 0.0 => 0.0,
            OffPeriod::Overdue => self.overdue_prior,
        };
        prior.clamp(0.0, 1.0)
    }

    /// The share by value of the revenue won from deals dated `off` the period that was
    /// booked in it: the pull-in or the overdue share.
    pub fn off_period_share(&self, off: OffPeriod) -> f64 {
        match off {
            OffPeriod::Next => self.pull_in_share,
            OffPeriod::Overdue => self.overdue_share,
        }
    }

    /// The cells of deals dated `off` the period, per stage then horizon bucket.
    pub fn off_period_cells_of(
        &self,
        off: OffPeriod,
    ) -> &BTreeMap<String, BTreeMap<u8, PeriodRateCell>> {
        match off {
            OffPeriod::Next => &self.pulled_in,
            OffPeriod::Overdue => &self.overdue,
        }
    }

    /// The same, to fill.
    pub fn off_period_cells_mut(
        &mut self,
        off: OffPeriod,
    ) -> &mut BTreeMap<String, BTreeMap<u8, PeriodRateCell>> {
        match off {
            OffPeriod::Next => &mut self.pulled_in,
            OffPeriod::Overdue => &mut self.overdue,
        }
    }

    /// The prior of a stage's cells: its win rate (0 when unknown) x the in-period share.
    pub fn stage_prior(&self, stage_id: &str) -> f64 {
        let rate = self.stage_rates.get(stage_id).copied().unwrap_or(0.0);
        (rate * self.in_period_share).clamp(0.0, 1.0)
    }

    /// The size band of an amount in `size_currency`: 0 up to the first cut, 1 up to the
    /// second, else 2.
    pub fn size_band(&self, converted_amount: i64) -> u8 {
        size_band(self.size_cuts, converted_amount)
    }

    /// The size band of `money` (converted into `size_currency`; no amount is band 0, as an
    /// amount of 0), `None` when no rate serves.
    pub fn band_of(&self, money: Option<Money>, convert: &Convert<'_>) -> Option<u8> {
        match money {
            None => Some(self.size_band(0)),
            Some(money) => convert(money, self.size_currency).map(|a| self.size_band(a)),
        }
    }

    /// Every cell of deals dated `off` the period as (stage, horizon bucket, cell), by stage
    /// then bucket.
    pub fn off_period_cells(
        &self,
        off: OffPeriod,
    ) -> impl Iterator<Item = (&str, u8, &PeriodRateCell)> {
        self.off_period_cells_of(off)
            .iter()
            .flat_map(|(stage, cells)| {
                cells
                    .iter()
                    .map(move |(bucket, cell)| (stage.as_str(), *bucket, cell))
            })
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

/// How each past period's observations booked against the learned q, every table's summed per
/// period (booked / expected, periods that expected nothing left out): the period effects a
/// forecast's range draws from.
pub fn period_effects<'a>(tables: impl IntoIterator<Item = &'a PeriodRateTable>) -> Vec<f64> {
    let mut periods: BTreeMap<NaiveDate, (f64, f64)> = BTreeMap::new();
    for table in tables {
        for p in &table.periods {
            let sums = periods.entry(p.first_day).or_default();
            sums.0 += p.booked;
            sums.1 += p.expected;
        }
    }
    periods
        .values()
        .filter(|(_, expected)| *expected > 0.0)
        .map(|(booked, expected)| booked / expected)
        .collect()
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

#[cfg(test)]
mod tests;
