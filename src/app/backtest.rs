//! Honest backtests (DESIGN.md, "Backtests are honest"): the book is rebuilt as of each past
//! day from the field history, and every method learns only from what had happened before that
//! day: the classic stage rates, the period rates q and the not-yet-created term are learned
//! anew at each point; nothing stored since (snapshots) is read.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::exchange::Converter;
use super::forecast::Scope;
use super::ports::Store;
use super::{App, AppResult, Principal};
use crate::domain::backtest::{
    BookedAfter, CalibrationRow, DealPrediction, Method, MethodSummary, PointScore,
    average_of_last_periods, calibration, closed_plus_new, source_of, summarize,
};
use crate::domain::book_as_of::{DealThen, classic_rates, rebuild};
use crate::domain::calendar::{OrgCalendar, PeriodKind};
use crate::domain::deal::{DealStatus, ForecastCategory};
use crate::domain::directory::UserId;
use crate::domain::estimate::DEFAULT_PRIOR_WEIGHT;
use crate::domain::forecast::{OpenDeals, model_range, weigh};
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::money::{Currency, ExchangeRate, Money, convert};
use crate::domain::new_pipeline::{NotYetCreated, WonDeal, not_yet_created, previous};
use crate::domain::period::Period;
use crate::domain::period_rate::{
    DealTimeline, OffPeriod, PeriodDays, PeriodRateSettings, PeriodRateTable, period_effects,
};
use crate::domain::pipeline::Pipeline;

/// Days of history each point learns from (the default win-rate window).
const WINDOW_DAYS: i64 = 365;
/// Days before the first point whose deals a backtest reads: the rate window, or the four
/// quarters or twelve months before the period, whichever reaches further.
const LOOKBACK_DAYS: i64 = 400;

/// One method's forecast at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MethodPoint {
    /// Which way the forecast was computed.
    pub method: Method,
    /// Its forecast scored against the actual.
    pub score: PointScore,
    /// Its P10 and P90, when the method has a range.
    pub range: Option<(i64, i64)>,
}

/// One as-of day of a backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestPoint {
    /// The day (the book as of its first instant in the org's zone).
    pub as_of: NaiveDate,
    /// Booked in the period before that day, as known then.
    pub closed_won: i64,
    /// Open deals then whose close date (then) was in the period.
    pub open_deals: u64,
    /// The not-yet-created term learned then.
    pub new_pipeline: i64,
    /// The period forecast's pulled-in part: open deals then dated in the next period, each
    /// weighed at its pull-in q learned then.
    pub pulled_in: i64,
    /// The period forecast's overdue part: open deals then dated before the period (at most a
    /// year), each weighed at its overdue q learned then.
    pub overdue: i64,
    /// What the period booked after the day, by what each deal was on it.
    pub booked_after: BookedAfter,
    /// Every method, in [`Method::ALL`] order.
    pub methods: Vec<MethodPoint>,
}

/// A backtest of a past period.
#[derive(Debug, Clone, PartialEq)]
pub struct Backtest {
    /// The period's revenue: deals of the scope won with a booking date in it.
    pub actual: i64,
    /// One per day asked.
    pub points: Vec<BacktestPoint>,
    /// Per method over the points, in [`Method::ALL`] order.
    pub summaries: Vec<MethodSummary>,
    /// The period forecast's q against what happened, per stage (`{pipeline}:{stage}`) and
    /// probability bucket.
    pub calibration: Vec<CalibrationRow>,
}

/// What every point reads: the book, the pipelines and the conversion into one currency.
struct Inputs<'a> {
    calendar: OrgCalendar,
    kind: PeriodKind,
    bounds: (NaiveDate, NaiveDate),
    owners: Option<&'a [UserId]>,
    pipelines: &'a [Pipeline],
    timelines: &'a [(PipelineId, DealTimeline)],
    by_pipeline: &'a HashMap<PipelineId, Vec<DealTimeline>>,
    currency: Currency,
    rates: &'a [ExchangeRate],
}

impl Inputs<'_> {
    fn convert(&self, money: Money) -> Option<i64> {
        self.convert_into(money, self.currency)
    }

    fn convert_into(&self, money: Money, into: Currency) -> Option<i64> {
        convert(money.minor, money.currency, into, self.rates)
    }

    fn in_scope(&self, owner: UserId) -> bool {
        self.owners.is_none_or(|o| o.contains(&owner))
    }

    fn booked_in(&self, deal: &DealThen, (from, to): (NaiveDate, NaiveDate)) -> bool {
        deal.state.status == DealStatus::Won
            && deal.state.close_date.is_some_and(|d| d >= from && d < to)
    }

    /// Won deals of the scope as known at a point, for the not-yet-created term and the
    /// average of past periods.
    fn won(&self, book: &[DealThen]) -> Vec<WonDeal> {
        book.iter()
            .filter(|d| d.state.status == DealStatus::Won && self.in_scope(d.state.owner_id))
            .filter_map(|d| {
                Some(WonDeal {
                    created_at: d.created_at,
                    booked_on: d.state.close_date?,
                    amount: self.convert(d.state.money()?)?,
                })
            })
            .collect()
    }
}

/// The revenue booked in each of the `k` periods before `period`.
fn past_revenue(
    calendar: &OrgCalendar,
    period: Period,
    k: usize,
    won: &[WonDeal],
) -> NotYetCreated {
    let mut values: Vec<(Period, i64)> =
        std::iter::successors(Some(previous(period)), |p| Some(previous(*p)))
            .take(k)
            .map(|p| {
                let (from, to) = calendar.bounds(p);
                let booked = won
                    .iter()
                    .filter(|w| w.booked_on >= from && w.booked_on < to)
                    .map(|w| w.amount)
                    .sum();
                (p, booked)
            })
            .collect();
    values.reverse();
    let amounts: Vec<i64> = values.iter().map(|(_, v)| *v).collect();
    NotYetCreated {
        expected: average_of_last_periods(&amounts),
        values,
    }
}

impl<S: Store> App<S> {
    /// Rebuilds the book of an ended period as it stood on each of `days` (default every seven
    /// days from its first day) and scores the five methods of DESIGN.md against what it
    /// booked, each learning only from what had happened before the day.
    pub async fn backtest(
        &self,
        principal: &Principal,
        period: Period,
        scope: Scope,
        days: &[NaiveDate],
        currency: Currency,
    ) -> AppResult<Backtest> {
        let view = self.resolve_scope(Some(principal), scope).await?;
        let (start, end) = self.calendar.bounds(period);
        if end > self.today() {
            return Err(super::accuracy::period_not_over(period, end));
        }
        let days: Vec<NaiveDate> = if days.is_empty() {
            std::iter::successors(Some(start), |d| Some(*d + Duration::days(7)))
                .take_while(|d| *d < end)
                .collect()
        } else {
            days.to_vec()
        };
        let kind = PeriodKind::of(period);
        let first = days.iter().min().copied().unwrap_or(start).min(start);
        // A point learns from the year before it (rates) and the year of past periods of its
        // kind (the not-yet-created term, the average): deals closed earlier play no part.
        let from = self.calendar.start_of(first) - Duration::days(LOOKBACK_DAYS);
        let to = self.calendar.start_of(end).max(self.now());
        let timelines = self
            .store
            .deal_timelines(None, None, (from, to), None)
            .await?;
        let pipelines = self.store.list_pipelines(None, None, 10_000).await?;
        let rates = self.exchange_table().await?;
        let mut by_pipeline: HashMap<PipelineId, Vec<DealTimeline>> = HashMap::new();
        for (pipeline, timeline) in &timelines {
            by_pipeline
                .entry(*pipeline)
                .or_default()
                .push(timeline.clone());
        }
        let inputs = Inputs {
            calendar: self.calendar,
            kind,
            bounds: (start, end),
            owners: view.owners.as_deref(),
            pipelines: &pipelines,
            timelines: &timelines,
            by_pipeline: &by_pipeline,
            currency,
            rates: &rates,
        };
        backtest_with(&inputs, period, &days)
    }
}

/// The backtest over loaded inputs (pure: no I/O).
fn backtest_with(inputs: &Inputs<'_>, period: Period, days: &[NaiveDate]) -> AppResult<Backtest> {
    let (start, end) = inputs.bounds;
    // The truth: today's book.
    let now = rebuild(inputs.timelines, DateTime::<Utc>::MAX_UTC, |d| d);
    let mut converter = Converter::new(inputs.currency, inputs.rates.to_vec());
    let mut actual = 0;
    let mut won_in_period = HashMap::new();
    // The scope's deals booked in the period, at their booked amounts.
    let mut booked: HashMap<DealId, i64> = HashMap::new();
    for deal in &now {
        let won = inputs.booked_in(deal, (start, end));
        won_in_period.insert(deal.deal_id, won);
        if won && inputs.in_scope(deal.state.owner_id) {
            let amount = converter.amount(deal.state.money());
            actual += amount;
            booked.insert(deal.deal_id, amount);
        }
    }
    converter.finish()?;
    let mut points = Vec::with_capacity(days.len());
    let mut predictions: HashMap<Method, Vec<DealPrediction>> = HashMap::new();
    for &day in days {
        let (point, predicted) = point(inputs, period, day, actual, &won_in_period, &booked);
        for (method, list) in predicted {
            predictions.entry(method).or_default().extend(list);
        }
        points.push(point);
    }
    let summaries = Method::ALL
        .iter()
        .map(|&method| {
            let scores: Vec<PointScore> = points
                .iter()
                .flat_map(|p| p.methods.iter())
                .filter(|m| m.method == method)
                .map(|m| m.score)
                .collect();
            let none = Vec::new();
            summarize(method, &scores, predictions.get(&method).unwrap_or(&none))
        })
        .collect();
    let stages: Vec<String> = inputs
        .pipelines
        .iter()
        .flat_map(|p| {
            p.spec
                .stages
                .iter()
                .map(|s| format!("{}:{}", p.id, s.stage_id))
        })
        .collect();
    let calibration = calibration(
        &stages,
        predictions
            .get(&Method::PeriodForecast)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    );
    Ok(Backtest {
        actual,
        points,
        summaries,
        calibration,
    })
}

/// An open deal dated in the period at a point, with each method's probability.
struct OpenThen {
    /// `{pipeline}:{stage}`.
    stage: String,
    /// Converted amount then.
    amount: i64,
    /// The stage's default probability, the classic rate learned then, and q.
    fixed: f64,
    classic: f64,
    q: f64,
    /// What happened: won with a booking date in the period.
    won: bool,
    /// Dated off the period (in the next one, or overdue): weighed by its q for such deals by
    /// the period forecast alone (its static and classic probabilities are 0), and no deal of
    /// the calibration.
    off: Option<OffPeriod>,
}

impl OpenThen {
    fn probability(&self, method: Method) -> f64 {
        match method {
            Method::StaticDefaults => self.fixed,
            Method::Classic => self.classic,
            _ => self.q,
        }
    }
}

/// One point: the book as of `day`, every method's forecast and the per-deal predictions.
fn point(
    inputs: &Inputs<'_>,
    period: Period,
    day: NaiveDate,
    actual: i64,
    won_in_period: &HashMap<DealId, bool>,
    booked: &HashMap<DealId, i64>,
) -> (BacktestPoint, Vec<(Method, Vec<DealPrediction>)>) {
    let cal = &inputs.calendar;
    let instant = cal.start_of(day);
    let kind = inputs.kind;
    // Pushes so far count moves into a later month, as q was learned.
    let book = rebuild(inputs.timelines, instant, |d| {
        PeriodKind::Month.last_day(cal, d)
    });
    let window = (day - Duration::days(WINDOW_DAYS), day);
    let classic = classic_rates(&book, inputs.pipelines, window, DEFAULT_PRIOR_WEIGHT);
    let tables = period_tables(inputs, instant, &classic);
    let (closed, open) = book_then(inputs, &book, &classic, &tables, day, won_in_period);
    let won = inputs.won(&book);
    let new = not_yet_created(cal, kind, instant, kind.default_lookback(), &won);
    let past = past_revenue(cal, period, kind.default_lookback(), &won);
    let seed = u64::try_from(day.num_days_from_ce()).unwrap_or_default();
    let none = NotYetCreated {
        expected: 0,
        values: Vec::new(),
    };
    let effects = period_effects(tables.values());
    let ranged = |new: &NotYetCreated, method: Method| {
        ranged_forecast(&open, closed, new, method, &effects, seed)
    };
    let forecasts = [
        (
            Method::StaticDefaults,
            ranged(&none, Method::StaticDefaults),
        ),
        (Method::Classic, ranged(&none, Method::Classic)),
        (Method::PeriodForecast, ranged(&new, Method::PeriodForecast)),
        (
            Method::LastPeriodsAverage,
            (past.expected, Some((past.p10(), past.p90()))),
        ),
        (
            Method::ClosedPlusNew,
            (
                closed_plus_new(closed, &new),
                Some((closed + new.p10(), closed + new.p90())),
            ),
        ),
    ];
    let methods = forecasts
        .iter()
        .map(|&(method, (forecast, range))| MethodPoint {
            method,
            score: PointScore::of(forecast, actual, range),
            range,
        })
        .collect();
    let predictions = predictions(&open);
    (
        BacktestPoint {
            as_of: day,
            closed_won: closed,
            open_deals: open.iter().filter(|d| d.off.is_none()).count() as u64,
            new_pipeline: new.expected,
            pulled_in: off_part(&open, OffPeriod::Next),
            overdue: off_part(&open, OffPeriod::Overdue),
            booked_after: booked_after(&book, booked, inputs.bounds, day),
            methods,
        },
        predictions,
    )
}

/// The period forecast's part from the open deals dated `off` the period.
fn off_part(open: &[OpenThen], off: OffPeriod) -> i64 {
    open.iter()
        .filter(|d| d.off == Some(off))
        .map(|d| weigh(d.amount, d.q))
        .sum()
}

/// What the period booked after `day` (the deals of `booked`, at their booked amounts), by
/// what each deal was in `book`, the book as of the day.
fn booked_after(
    book: &[DealThen],
    booked: &HashMap<DealId, i64>,
    bounds: (NaiveDate, NaiveDate),
    day: NaiveDate,
) -> BookedAfter {
    let then: HashMap<DealId, &DealThen> = book
        .iter()
        .filter(|d| booked.contains_key(&d.deal_id))
        .map(|d| (d.deal_id, d))
        .collect();
    let mut after = BookedAfter::default();
    for (id, &amount) in booked {
        let state = then.get(id).map(|d| &d.state);
        after.add(source_of(state, bounds, day), amount);
    }
    after
}

/// Revenue booked in the period by `day` (converted), and the deals open then closing in the
/// period, each with its probability by every method and what became of it.
fn book_then(
    inputs: &Inputs<'_>,
    book: &[DealThen],
    classic: &HashMap<(PipelineId, String), f64>,
    tables: &HashMap<PipelineId, PeriodRateTable>,
    day: NaiveDate,
    won_in_period: &HashMap<DealId, bool>,
) -> (i64, Vec<OpenThen>) {
    let (start, end) = inputs.bounds;
    let mut closed = 0;
    let mut open: Vec<OpenThen> = Vec::new();
    let horizon = (end - Duration::days(1) - day).num_days();
    let days = PeriodDays::new(&inputs.calendar, inputs.kind, inputs.bounds, day);
    for deal in book.iter().filter(|d| inputs.in_scope(d.state.owner_id)) {
        let Some(amount) = deal.state.money().and_then(|m| inputs.convert(m)) else {
            continue;
        };
        if inputs.booked_in(deal, (start, day.clamp(start, end))) {
            closed += amount;
        }
        let Some(off) = deal.state.close_date.and_then(|d| days.dated(d)) else {
            continue;
        };
        if deal.state.status != DealStatus::Open {
            continue;
        }
        let stage = &deal.state.stage_id;
        let fixed = static_probability(inputs.pipelines, deal.pipeline, stage);
        let learned = classic
            .get(&(deal.pipeline, stage.clone()))
            .copied()
            .unwrap_or(fixed);
        let q = tables.get(&deal.pipeline).map_or(0.0, |t| {
            if let Some(off) = off {
                return t.off_period_q(off, stage, horizon);
            }
            let band = t.band_of(deal.state.money(), &|m, c| inputs.convert_into(m, c));
            t.q_in(stage, horizon, band, deal.pushes)
        });
        let won = won_in_period.get(&deal.deal_id).copied().unwrap_or(false);
        // The stage-weighted methods weigh only deals dated in the period.
        let (fixed, learned) = match off {
            Some(_) => (0.0, 0.0),
            None => (fixed, learned),
        };
        open.push(OpenThen {
            stage: format!("{}:{stage}", deal.pipeline),
            amount,
            fixed,
            classic: learned,
            q,
            won,
            off,
        });
    }
    (closed, open)
}

/// A method's forecast of the open deals (with `new`, the not-yet-created term) and its range.
fn ranged_forecast(
    open: &[OpenThen],
    closed: i64,
    new: &NotYetCreated,
    method: Method,
    effects: &[f64],
    seed: u64,
) -> (i64, Option<(i64, i64)>) {
    let deals: Vec<OpenDeals> = open
        .iter()
        .filter(|d| d.off.is_none() || method == Method::PeriodForecast)
        .map(|d| OpenDeals::one(d.amount, d.probability(method), ForecastCategory::Pipeline))
        .collect();
    let weighted: i64 = deals.iter().map(|d| d.period_weighted).sum();
    // Only the period forecast knows how whole periods varied around its rates.
    let effects: &[f64] = if method == Method::PeriodForecast {
        effects
    } else {
        &[]
    };
    let values: Vec<i64> = new.values.iter().map(|&(_, v)| v).collect();
    // Deals one by one always have a range.
    let range = model_range(closed, &deals, &values, effects, seed).map(|r| (r.p10, r.p90));
    (closed + weighted + new.expected, range)
}

/// Each per-deal method's probability of every open deal, beside what became of it.
fn predictions(open: &[OpenThen]) -> Vec<(Method, Vec<DealPrediction>)> {
    [
        Method::StaticDefaults,
        Method::Classic,
        Method::PeriodForecast,
    ]
    .into_iter()
    .map(|method| {
        let list = open
            .iter()
            .filter(|d| d.off.is_none())
            .map(|d| DealPrediction {
                stage: d.stage.clone(),
                probability: d.probability(method),
                won_in_period: d.won,
            })
            .collect();
        (method, list)
    })
    .collect()
}

/// The period rates of every pipeline learned at `instant`, each leaning on its classic rates.
fn period_tables(
    inputs: &Inputs<'_>,
    instant: DateTime<Utc>,
    classic: &HashMap<(PipelineId, String), f64>,
) -> HashMap<PipelineId, PeriodRateTable> {
    let settings = PeriodRateSettings::new(instant, inputs.calendar, inputs.kind);
    inputs
        .by_pipeline
        .iter()
        .map(|(&pipeline, deals)| {
            let rates: HashMap<String, f64> = classic
                .iter()
                .filter(|((p, _), _)| *p == pipeline)
                .map(|((_, s), r)| (s.clone(), *r))
                .collect();
            let table =
                PeriodRateTable::learn(&settings, deals, &rates, &|m, c| inputs.convert_into(m, c));
            (pipeline, table)
        })
        .collect()
}

/// A stage's default probability.
fn static_probability(pipelines: &[Pipeline], pipeline: PipelineId, stage: &str) -> f64 {
    pipelines
        .iter()
        .find(|p| p.id == pipeline)
        .and_then(|p| p.spec.stage(stage))
        .map_or(0.0, |s| f64::from(s.default_probability_bps) / 10_000.0)
}
