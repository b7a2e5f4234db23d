//! Learning the period win rates q with a win-rate snapshot (DESIGN.md, "Learning q, the period
//! win rate"): the pipeline's deals rebuilt from their field history at weekly instants over the
//! snapshot's window, for months and for fiscal quarters, leaning on the snapshot's stage rates.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use uuid::Uuid;

use super::ports::Store;
use super::{App, AppResult};
use crate::domain::calendar::PeriodKind;
use crate::domain::money::{Currency, convert};
use crate::domain::period_rate::{DealTimeline, PeriodRateSettings, PeriodRateTable};
use crate::domain::winrate::StageRate;

/// Amounts are compared (size bands) in this currency; deals whose currency has no rate into it
/// are not observed.
pub const PERIOD_RATE_CURRENCY: Currency = Currency::USD;

impl<S: Store> App<S> {
    /// The period rates of `pipeline` learned over `[window_start, window_end]` (learning at the
    /// end of its last day), for months then quarters, with prior weight `k`.
    pub(crate) async fn learn_period_rates(
        &self,
        pipeline: Uuid,
        stages: &[StageRate],
        (window_start, window_end): (NaiveDate, NaiveDate),
        k: u32,
    ) -> AppResult<Vec<PeriodRateTable>> {
        let learned_at = self.calendar.start_of(window_end + Duration::days(1));
        let from = self.calendar.start_of(window_start);
        let window_days = (window_end - window_start).num_days() + 1;
        let deals: Vec<DealTimeline> = self
            .store
            .deal_timelines(Some(pipeline), None, from, learned_at)
            .await?
            .into_iter()
            .map(|(_, deal)| deal)
            .collect();
        let rates = self.exchange_table().await?;
        let stage_rates: HashMap<String, f64> = stages
            .iter()
            .map(|s| (s.stage_id.clone(), s.rate.smoothed))
            .collect();
        let convert = |m: crate::domain::money::Money| {
            convert(m.minor, m.currency, PERIOD_RATE_CURRENCY, &rates)
        };
        Ok([PeriodKind::Month, PeriodKind::Quarter]
            .into_iter()
            .map(|kind| {
                let settings = PeriodRateSettings {
                    window_days: u32::try_from(window_days).unwrap_or(u32::MAX),
                    prior_weight: k,
                    ..PeriodRateSettings::new(learned_at, self.calendar, kind)
                };
                PeriodRateTable::learn(&settings, &deals, &stage_rates, &convert)
            })
            .collect())
    }
}
