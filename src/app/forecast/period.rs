//! The period forecast's parts (DESIGN.md, "Weighted forecast"): q for each open deal from the
//! period rates of its pipeline's snapshot, the same q for the database to weigh groups of deals
//! by segment, and the not-yet-created term of a scope learned from its past periods.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::RateTable;
use crate::app::exchange::Converter;
use crate::app::ports::{
    CreatedAfter, NewRevenueRow, PeriodValuation, SEGMENTS, Store, Valuation, segment,
};
use crate::app::{App, AppResult};
use crate::domain::calendar::PeriodKind;
use crate::domain::directory::UserId;
use crate::domain::ids::PipelineId;
use crate::domain::money::{
    Currency, ExchangeRate, MAX_AMOUNT_MINOR, Money, convert_minor, minor_unit_rate,
};
use crate::domain::new_pipeline::{NotYetCreated, PastWindow, mean_half_up, past_windows};
use crate::domain::period::Period;
use crate::domain::period_rate::{OffPeriod, PeriodRateTable, period_effects};

/// How a forecast's `expected` was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForecastMethod {
    /// Every open deal weighed by its period rate q, plus the not-yet-created term.
    PeriodForecast,
    /// Some pipelines' snapshots hold no period rates of the period's kind: their deals are
    /// weighed by their stages' win rates, the others' by q; the not-yet-created term is added.
    Mixed,
    /// No snapshot holds period rates: the classic stage-weighted forecast, nothing added for
    /// deals not created yet.
    StageWeighted,
}

/// The period rates a forecast weighs open deals with.
pub(crate) struct PeriodModel<'a> {
    /// Each pipeline's table of the period's kind, from its chosen snapshot.
    tables: HashMap<PipelineId, &'a PeriodRateTable>,
    /// The win rates, for pipelines without a table (and which stages are open).
    rates: &'a RateTable,
    /// Days from today to the period's last day (negative once it is over).
    pub horizon_days: i64,
    /// The exchange rates, for size bands (compared in each table's `size_currency`).
    exchange: &'a [ExchangeRate],
}

impl<'a> PeriodModel<'a> {
    /// The model of a period of `kind` whose last day is `horizon_days` from today.
    pub fn new(
        rates: &'a RateTable,
        kind: PeriodKind,
        horizon_days: i64,
        exchange: &'a [ExchangeRate],
    ) -> Self {
        let tables = rates
            .chosen
            .iter()
            .filter_map(|(pipeline, snapshot)| {
                let table = snapshot.period_rates.iter().find(|t| t.kind == kind)?;
                Some((*pipeline, table))
            })
            .collect();
        PeriodModel {
            tables,
            rates,
            horizon_days,
            exchange,
        }
    }

    /// Whether any pipeline has period rates (else the forecast is the classic one).
    pub fn learned(&self) -> bool {
        !self.tables.is_empty()
    }

    /// Whether `pipeline`'s deals are weighed by q.
    pub fn covers(&self, pipeline: PipelineId) -> bool {
        self.tables.contains_key(&pipeline)
    }

    /// How the forecast's `expected` is computed, given the pipelines of its open deals.
    pub fn method(&self, pipelines: impl IntoIterator<Item = PipelineId>) -> ForecastMethod {
        if !self.learned() {
            return ForecastMethod::StageWeighted;
        }
        match pipelines.into_iter().all(|p| self.covers(p)) {
            true => ForecastMethod::PeriodForecast,
            false => ForecastMethod::Mixed,
        }
    }

    /// The period effects of every table, for the range.
    pub fn effects(&self) -> Vec<f64> {
        period_effects(self.tables.values().copied())
    }

    /// q of a deal of `pipeline` in `stage`, in size band `band` (`None`: unknown), with
    /// `pushes` close-date pushes so far: its table's, else its stage's win rate; 0 for a stage
    /// that is not open, and once the period has ended (nothing learned books in it then).
    pub fn q(&self, pipeline: PipelineId, stage: &str, band: Option<u8>, pushes: u32) -> f64 {
        match self.tables.get(&pipeline) {
            _ if !self.rates.is_open(pipeline, stage) => 0.0,
            _ if self.horizon_days < 0 => 0.0,
            Some(table) => table.q_in(stage, self.horizon_days, band, pushes),
            None => self.rates.learned(pipeline, stage),
        }
    }

    /// The q of an open deal of `pipeline` in `stage` dated `off` the period (in the next one,
    /// or overdue): its table's, 0 without a table (the classic forecast counts neither) or for
    /// a stage that is not open.
    pub fn off_period_q(&self, off: OffPeriod, pipeline: PipelineId, stage: &str) -> f64 {
        match self.tables.get(&pipeline) {
            Some(table) if self.rates.is_open(pipeline, stage) => {
                table.off_period_q(off, stage, self.horizon_days)
            }
            _ => 0.0,
        }
    }

    /// `valuation` weighing each open stage at its q for deals dated `off` the period in place
    /// of its win rate, without segments (such a q is per stage): the database's valuation of
    /// those open deals, whose `weighted` sums are then their part. `None` without period
    /// rates, or when no table saw such a deal booked in its period (every such q is 0: those
    /// deals need not be read).
    pub fn off_period_valuation(&self, off: OffPeriod, valuation: &Valuation) -> Option<Valuation> {
        valuation.period.as_ref()?;
        if self.tables.values().all(|t| t.off_period_share(off) == 0.0) {
            return None;
        }
        Some(Valuation {
            win_rates: self
                .rates
                .open_stages(|pipeline, stage| self.off_period_q(off, pipeline, stage)),
            period: None,
            ..valuation.clone()
        })
    }

    /// The size band of a deal's amount (none: band 0, as an amount of 0), `None` when its
    /// currency has no rate into the table's `size_currency`, as the database bands it.
    pub fn band(&self, pipeline: PipelineId, amount: Option<Money>) -> Option<u8> {
        let table = self.tables.get(&pipeline)?;
        table.band_of(amount, &|m, into| {
            let rate = minor_unit_rate(m.currency, into, self.exchange)?;
            Some(match m.currency == into {
                true => m.minor,
                false => convert_minor(m.minor, rate),
            })
        })
    }

    /// `valuation` with this model, for the database to segment and weigh groups of deals.
    pub fn valuation(&self, mut valuation: Valuation) -> Valuation {
        if !self.learned() {
            return valuation;
        }
        let mut currencies: Vec<Currency> = self
            .exchange
            .iter()
            .flat_map(|r| [r.from, r.to])
            .chain(self.tables.values().map(|t| t.size_currency))
            .chain([valuation.into])
            .collect();
        currencies.sort();
        currencies.dedup();
        let mut bands = Vec::new();
        for (pipeline, table) in &self.tables {
            let thresholds = currencies
                .iter()
                .filter_map(|&c| {
                    let rate = minor_unit_rate(c, table.size_currency, self.exchange)?;
                    let cuts = table.size_cuts.unwrap_or([i64::MAX, i64::MAX]);
                    let least = |cut| least_above(cut, c == table.size_currency, rate);
                    Some((c, [least(cuts[0]), least(cuts[1])]))
                })
                .collect();
            bands.push((*pipeline, thresholds));
        }
        bands.sort_by_key(|(p, _)| *p);
        let q = self
            .rates
            .open_stages(|pipeline, stage| self.by_segment(pipeline, stage));
        valuation.period = Some(PeriodValuation { bands, q });
        valuation
    }

    /// A stage's q in each segment.
    fn by_segment(&self, pipeline: PipelineId, stage: &str) -> [f64; SEGMENTS] {
        let mut q = [0.0; SEGMENTS];
        for band in [None, Some(0), Some(1), Some(2)] {
            for pushes in 0..3 {
                q[segment(band, pushes)] = self.q(pipeline, stage, band, pushes);
            }
        }
        q
    }
}

/// The least amount in minor units whose value in the band currency is above `cut` (size band
/// `size_band(amount) > band` exactly when `amount >= least_above(cut)`), `i64::MAX` when none.
fn least_above(cut: i64, same: bool, rate: f64) -> i64 {
    if same {
        return cut.saturating_add(1);
    }
    let above = |m: i64| convert_minor(m, rate) > cut;
    if !above(MAX_AMOUNT_MINOR) {
        return i64::MAX;
    }
    let (mut lo, mut hi) = (0, MAX_AMOUNT_MINOR);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if above(mid) { hi = mid } else { lo = mid + 1 }
    }
    lo
}

/// The not-yet-created term of a scope: its past periods' values (the scope's owners' summed)
/// and its expectation, the sum of each owner's mean rounded on its own (so the scope's equals
/// its parts'), with each owner's expectation.
pub(crate) struct NewPipeline {
    /// The scope's line.
    pub line: NotYetCreated,
    /// Each owner's expectation.
    pub by_owner: HashMap<UserId, i64>,
}

impl NewPipeline {
    /// The expectation of the owners `members` says are in.
    pub fn of(&self, members: impl Fn(UserId) -> bool) -> i64 {
        self.by_owner
            .iter()
            .filter(|(owner, _)| members(**owner))
            .map(|(_, v)| v)
            .sum()
    }
}

/// How many scopes' past revenue [`NewRevenueCache`] keeps before it starts again.
const NEW_REVENUE_SCOPES: usize = 256;

/// The not-yet-created term's past revenue rows, per scope, period, as-of day and exchange
/// rates (hashed): the term is read as of the start of the day (in the org's zone), so within a
/// day its rows are the same for every call and every replica, and only the first call of the
/// day reads them (on the large org, every won deal of the past four quarters).
#[derive(Debug, Clone, Default)]
pub(crate) struct NewRevenueCache(Arc<Mutex<HashMap<u64, Arc<Vec<NewRevenueRow>>>>>);

impl NewRevenueCache {
    fn get(&self, key: u64) -> Option<Arc<Vec<NewRevenueRow>>> {
        self.0.lock().ok()?.get(&key).cloned()
    }

    fn keep(&self, key: u64, rows: Arc<Vec<NewRevenueRow>>) {
        if let Ok(mut kept) = self.0.lock() {
            if kept.len() >= NEW_REVENUE_SCOPES && !kept.contains_key(&key) {
                kept.clear();
            }
            kept.insert(key, rows);
        }
    }
}

impl<S: Store> App<S> {
    /// The not-yet-created term of `owners` (`None`: everyone) for `period` as of the start of
    /// today.
    pub(crate) async fn new_pipeline(
        &self,
        owners: Option<&[UserId]>,
        period: Period,
        converter: &mut Converter,
        valuation: &Valuation,
    ) -> AppResult<NewPipeline> {
        let lookback = PeriodKind::of(period).default_lookback();
        let as_of = self.calendar.start_of(self.today());
        let windows = past_windows(&self.calendar, period, as_of, lookback);
        let key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (owners, period.to_string(), as_of, valuation.into.code()).hash(&mut h);
            for (currency, rate) in &valuation.rates {
                (currency.code(), rate.to_bits()).hash(&mut h);
            }
            h.finish()
        };
        let rows = match self.new_revenue.get(key) {
            Some(rows) => rows,
            None => {
                let asked: Vec<CreatedAfter> = windows
                    .iter()
                    .map(|w| CreatedAfter {
                        from: w.first_day,
                        to: w.next_day,
                        point: w.point,
                    })
                    .collect();
                let rows = Arc::new(
                    self.store
                        .revenue_created_after(owners, &asked, as_of, valuation)
                        .await?,
                );
                self.new_revenue.keep(key, rows.clone());
                rows
            }
        };
        Ok(new_pipeline_of(&windows, &rows, converter))
    }
}

/// The term from the store's rows: each owner's per-period revenue (every currency converted),
/// its mean, and the scope's per-period sums.
fn new_pipeline_of(
    windows: &[PastWindow],
    rows: &[NewRevenueRow],
    converter: &mut Converter,
) -> NewPipeline {
    let mut per_owner: BTreeMap<UserId, Vec<i64>> = BTreeMap::new();
    for row in rows {
        let values = per_owner
            .entry(row.owner)
            .or_insert_with(|| vec![0; windows.len()]);
        for (i, value) in values.iter_mut().enumerate() {
            if row.deals.get(i).copied().unwrap_or(0) > 0 {
                let converted = row.converted.get(i).copied().flatten();
                *value = value.saturating_add(converter.take(row.currency, converted));
            }
        }
    }
    let mut totals = vec![0i64; windows.len()];
    for values in per_owner.values() {
        for (total, v) in totals.iter_mut().zip(values) {
            *total = total.saturating_add(*v);
        }
    }
    let by_owner: HashMap<UserId, i64> = per_owner
        .iter()
        .map(|(owner, values)| (*owner, mean_half_up(values)))
        .collect();
    NewPipeline {
        line: NotYetCreated {
            expected: by_owner.values().sum(),
            values: windows.iter().map(|w| w.period).zip(totals).collect(),
        },
        by_owner,
    }
}
