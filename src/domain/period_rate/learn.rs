//! Learning the table: each deal observed at each instant, the observations tallied into
//! cells, each cell shrunk toward its parent.
//!
//! Each deal's history is swept once, backward from the deal as of L across the observation
//! instants, so learning costs O(rows + instants) per deal rather than a rebuild per (deal,
//! instant): a real org has a million deals and fifty-odd instants in a year.

mod tally;

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::size_bands::SizeCutSample;
use super::{
    Convert, DealTimeline, OffPeriod, PeriodDays, PeriodRateSettings, PeriodRateTable, SizeBands,
};
use crate::domain::calendar::PeriodKind;
use crate::domain::deal::DealStatus;
use crate::domain::deal_history::{self, DealState, FieldHistoryEntry};
use crate::domain::money::{Currency, Money};
use tally::Tallies;

/// Days between two observation instants.
const STEP_DAYS: i64 = 7;

/// An observation instant tau with its period P(tau).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ObservationInstant {
    pub(super) at: DateTime<Utc>,
    /// P(tau)'s days, and those a deal may be dated on off it.
    pub(super) days: PeriodDays,
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
            let bounds = calendar.bounds(settings.kind.period_of(calendar, day));
            let days = PeriodDays::new(calendar, settings.kind, bounds, day);
            (days.last() < today).then_some(ObservationInstant {
                at,
                days,
                horizon_days: (days.last() - day).num_days(),
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
    /// Where it was dated when not in P(tau): in the period after (a pull-in observation), or
    /// before it (an overdue one).
    off: Option<OffPeriod>,
}

/// The observation `state` (the deal as of the instant, with `pushes` so far) makes, if it was
/// open with its close date in the instant's period (or in the period after it: a pull-in
/// observation; or before it, at most [`OVERDUE_DAYS`]: an overdue one) and a positive
/// convertible amount.
pub(super) fn observe(
    state: &DealState,
    pushes: u32,
    booking: Booking,
    instant: &ObservationInstant,
    converter: &mut Converter<'_>,
    stages: &mut StageIndex,
) -> Option<Observation> {
    let off = instant.days.dated(state.close_date?)?;
    if state.status != DealStatus::Open {
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
            instant.days.holds(day),
        ),
    };
    Some(Observation {
        at: instant.at,
        period: instant.days.first,
        stage: stages.number(&state.stage_id),
        horizon_days: instant.horizon_days,
        amount,
        pushes,
        outcome: if won_in_period { won_share } else { 0.0 },
        won_share,
        won_in_period,
        off,
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
