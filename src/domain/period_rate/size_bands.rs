//! The size bands of a learning: the currency amounts are compared in, and the tercile cuts of
//! the window's closed deals, gathered in a first pass over the pipeline.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{Convert, DealTimeline, PeriodRateSettings, SizeBands};
use crate::domain::deal::DealStatus;
use crate::domain::deal_history;
use crate::domain::money::{Currency, Money};

/// The size bands' currency and the tercile cuts (nearest rank) of the amounts, as of L and
/// converted into it, of the deals closed won or lost with a booking date in the window before
/// L's day, gathered deal by deal: the first pass of a learning that streams a pipeline too
/// large to hold (it keeps one amount per such deal).
///
/// The currency is the one most of those deals are in (else most deals seen; USD when none has
/// an amount; ties to the first code), so a pipeline in one currency is learned whole without
/// any exchange rate, and a mixed one converts the fewest amounts.
pub struct SizeCutSample<'a> {
    learned_at: DateTime<Utc>,
    /// The window's booking days, `[from, today)`.
    from: NaiveDate,
    today: NaiveDate,
    convert: &'a Convert<'a>,
    closed: Vec<Money>,
    /// Deals seen with an amount, by currency, as of L.
    seen: BTreeMap<Currency, u64>,
}

impl<'a> SizeCutSample<'a> {
    /// An empty sample for learning as `settings` say.
    pub fn new(settings: &PeriodRateSettings, convert: &'a Convert<'a>) -> Self {
        let learned_at = settings.learned_at;
        let calendar = &settings.calendar;
        SizeCutSample {
            learned_at,
            from: calendar.day_of(learned_at - Duration::days(i64::from(settings.window_days))),
            today: calendar.day_of(learned_at),
            convert,
            closed: Vec::new(),
            seen: BTreeMap::new(),
        }
    }

    /// Counts `deal` in if, as of L, it was closed with a booking date in the window.
    pub fn add(&mut self, deal: &DealTimeline) {
        let Some(state) =
            deal_history::as_of(&deal.current, deal.created_at, &deal.rows, self.learned_at)
        else {
            return;
        };
        let Some(money) = state.money() else {
            return;
        };
        *self.seen.entry(money.currency).or_default() += 1;
        let Some(booked) = state.close_date else {
            return;
        };
        if state.status == DealStatus::Open || !(self.from..self.today).contains(&booked) {
            return;
        }
        if money.minor > 0 {
            self.closed.push(money);
        }
    }

    /// The bands: their currency and two cuts (`None` when no closed deal's amount converts).
    pub fn cuts(self) -> SizeBands {
        let mut closed: BTreeMap<Currency, u64> = BTreeMap::new();
        self.closed
            .iter()
            .for_each(|m| *closed.entry(m.currency).or_default() += 1);
        let counts = if closed.is_empty() {
            &self.seen
        } else {
            &closed
        };
        let currency = most_common(counts).unwrap_or(Currency::USD);
        let mut amounts: Vec<i64> = self
            .closed
            .iter()
            .filter_map(|&m| (self.convert)(m, currency))
            .filter(|a| *a > 0)
            .collect();
        if amounts.is_empty() {
            return SizeBands {
                currency,
                cuts: None,
            };
        }
        amounts.sort_unstable();
        let n = amounts.len();
        let rank = |thirds: usize| amounts[(thirds * n).div_ceil(3) - 1];
        SizeBands {
            currency,
            cuts: Some([rank(1), rank(2)]),
        }
    }
}

/// The key counted most often, the first of equals.
fn most_common(counts: &BTreeMap<Currency, u64>) -> Option<Currency> {
    let most = counts.values().max()?;
    counts.iter().find(|(_, n)| *n == most).map(|(c, _)| *c)
}
