//! Learning the period win rates q with a win-rate snapshot (DESIGN.md, "Learning q, the period
//! win rate"): the pipeline's deals rebuilt from their field history at weekly instants over the
//! snapshot's window, for months and for fiscal quarters, leaning on the snapshot's stage rates.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::ports::{Store, TimelinePage};
use super::{App, AppResult};
use crate::domain::calendar::PeriodKind;
use crate::domain::ids::PipelineId;
use crate::domain::money::{Currency, Money, convert};
use crate::domain::period_rate::{
    DealTimeline, PeriodRateLearning, PeriodRateSettings, PeriodRateTable, SizeCutSample,
};
use crate::domain::winrate::StageRate;

/// Deals read at once while learning: memory holds one page of deals with their history, not
/// the pipeline (each page a range of the (pipeline, id) index, m0021).
const PAGE: u64 = 5_000;

impl<S: Store> App<S> {
    /// The period rates of `pipeline` learned over `[window_start, window_end]` (learning at the
    /// end of its last day), for months then quarters, with prior weight `k`.
    ///
    /// The pipeline is read twice, a page at a time: once for the size bands' cuts, once to
    /// tally the observations (both kinds of period in the same pass).
    pub(crate) async fn learn_period_rates(
        &self,
        pipeline: PipelineId,
        stages: &[StageRate],
        (window_start, window_end): (NaiveDate, NaiveDate),
        k: u32,
    ) -> AppResult<Vec<PeriodRateTable>> {
        let learned_at = self.calendar.start_of(window_end + Duration::days(1));
        let window = (self.calendar.start_of(window_start), learned_at);
        let window_days = (window_end - window_start).num_days() + 1;
        let rates = self.exchange_table().await?;
        let stage_rates: HashMap<String, f64> = stages
            .iter()
            .map(|s| (s.stage_id.clone(), s.rate.smoothed))
            .collect();
        let convert = |m: Money, to: Currency| convert(m.minor, m.currency, to, &rates);
        let settings = [PeriodKind::Month, PeriodKind::Quarter].map(|kind| PeriodRateSettings {
            window_days: u32::try_from(window_days).unwrap_or(u32::MAX),
            prior_weight: k,
            ..PeriodRateSettings::new(learned_at, self.calendar, kind)
        });
        // The cuts depend on the window only, not on the kind of period.
        let mut sample = SizeCutSample::new(&settings[0], &convert);
        self.each_timeline(pipeline, window, |deal| sample.add(deal))
            .await?;
        let bands = sample.cuts();
        let mut learnings = settings
            .each_ref()
            .map(|settings| PeriodRateLearning::new(settings, bands, &convert));
        self.each_timeline(pipeline, window, |deal| {
            learnings.iter_mut().for_each(|learning| learning.add(deal))
        })
        .await?;
        Ok(learnings
            .into_iter()
            .map(|learning| learning.finish(&stage_rates))
            .collect())
    }

    /// Calls `visit` with every deal of `pipeline` that may have been open in `window`, in
    /// pages of [`PAGE`].
    async fn each_timeline(
        &self,
        pipeline: PipelineId,
        window: (DateTime<Utc>, DateTime<Utc>),
        mut visit: impl FnMut(&DealTimeline),
    ) -> AppResult<()> {
        let mut after = None;
        loop {
            let page = TimelinePage { after, limit: PAGE };
            let deals = self
                .store
                .deal_timelines(Some(pipeline), None, window, Some(page))
                .await?;
            deals.iter().for_each(|(_, deal)| visit(deal));
            match deals.last() {
                Some((_, last)) if deals.len() as u64 == PAGE => after = Some(last.deal_id),
                _ => return Ok(()),
            }
        }
    }
}
