//! The book as it stood at a past instant, rebuilt from each deal's field history, and what was
//! known then: the stages each deal had entered (the classic win-rate cohorts) and its
//! close-date pushes so far. Backtests ask every question through it, so nothing that happened
//! after the instant can reach a past point.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::deal::DealStatus;
use super::deal_history::{DealState, TrackedField, as_of, pushes};
use super::ids::{DealId, PipelineId};
use super::period_rate::DealTimeline;
use super::pipeline::{Pipeline, StageKind};
use super::winrate::{Cohort, rate};

/// One deal as it stood at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct DealThen {
    pub pipeline: PipelineId,
    /// The deal.
    pub deal_id: DealId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its tracked fields then.
    pub state: DealState,
    /// Every stage it had entered by then (created in one counts), each once.
    pub entered: Vec<String>,
    /// Its close-date pushes out of their period by then.
    pub pushes: u32,
}

/// Every deal of `deals` that existed at `instant`, as it stood then; `period_end` gives the
/// last day of the period a date falls in (pushes are counted against it).
pub fn rebuild(
    deals: &[(PipelineId, DealTimeline)],
    instant: DateTime<Utc>,
    period_end: impl Fn(NaiveDate) -> NaiveDate + Copy,
) -> Vec<DealThen> {
    deals
        .iter()
        .filter_map(|(pipeline, d)| {
            let state = as_of(&d.current, d.created_at, &d.rows, instant)?;
            let mut first = d.current.clone();
            for row in d.rows.iter().rev() {
                first.set(row.field, row.old.as_ref());
            }
            let mut entered = vec![first.stage_id];
            for row in d.rows.iter().take_while(|r| r.at <= instant) {
                if let (TrackedField::Stage, Some(super::deal_history::FieldValue::Stage(s))) =
                    (row.field, &row.new)
                    && !entered.contains(s)
                {
                    entered.push(s.clone());
                }
            }
            Some(DealThen {
                pipeline: *pipeline,
                deal_id: d.deal_id,
                created_at: d.created_at,
                state,
                entered,
                pushes: pushes(&d.rows, None, instant, period_end),
            })
        })
        .collect()
}

/// The classic stage win rates as they could be learned from `book` (deals as of one instant):
/// per pipeline and stage, the deals closed with a booking date in `[from, to)` that had entered
/// the stage, smoothed toward the stage's default probability with weight `k` (DESIGN.md,
/// "Historical stage win rates"). Won stages have rate 1, lost stages 0.
pub fn classic_rates(
    book: &[DealThen],
    pipelines: &[Pipeline],
    (from, to): (NaiveDate, NaiveDate),
    k: u32,
) -> HashMap<(PipelineId, String), f64> {
    let mut cohorts: HashMap<(PipelineId, &str), Cohort> = HashMap::new();
    for deal in book {
        let closed = deal.state.status != DealStatus::Open;
        let booked = deal.state.close_date.is_some_and(|d| d >= from && d < to);
        if !(closed && booked) {
            continue;
        }
        for stage in &deal.entered {
            let cohort = cohorts.entry((deal.pipeline, stage.as_str())).or_default();
            cohort.n += 1;
            cohort.wins += u64::from(deal.state.status == DealStatus::Won);
        }
    }
    let mut rates = HashMap::new();
    for pipeline in pipelines {
        for stage in &pipeline.spec.stages {
            let value = match stage.kind {
                StageKind::Won => 1.0,
                StageKind::Lost => 0.0,
                StageKind::Open => {
                    let cohort = cohorts
                        .get(&(pipeline.id, stage.stage_id.as_str()))
                        .copied()
                        .unwrap_or_default();
                    let prior = f64::from(stage.default_probability_bps) / 10_000.0;
                    rate(cohort, prior, k).smoothed
                }
            };
            rates.insert((pipeline.id, stage.stage_id.clone()), value);
        }
    }
    rates
}
