//! A deal's stage history rebuilt from its source rows (see the [parent module](super) for the
//! rules).

use chrono::{DateTime, NaiveDate, Utc};

use super::PlanContext;
use crate::domain::deal::HistoryDirection;
use crate::domain::money::Money;
use crate::domain::pipeline::{Pipeline, Stage, StageKind};
use crate::import::SourceDeal;

/// One stage change, mapped.
#[derive(Debug, Clone)]
pub(super) struct Move<'p> {
    pub(super) at: DateTime<Utc>,
    pub(super) from: Option<&'p Stage>,
    pub(super) to: &'p Stage,
    pub(super) direction: HistoryDirection,
    pub(super) amount: Option<Money>,
    pub(super) close_date: Option<NaiveDate>,
}

/// A history row of the source, mapped.
#[derive(Debug, Clone)]
pub(super) struct Step<'p> {
    pub(super) at: DateTime<Utc>,
    pub(super) stage: &'p Stage,
    pub(super) amount: Option<Money>,
    pub(super) close_date: Option<NaiveDate>,
}

/// The direction of a move between two different stages.
pub fn direction(from: &Stage, to: &Stage) -> HistoryDirection {
    if to.kind != StageKind::Open {
        HistoryDirection::Close
    } else if to.position > from.position {
        HistoryDirection::Forward
    } else {
        HistoryDirection::Backward
    }
}

pub(super) fn step_to<'p>(from: &'p Stage, step: Step<'p>) -> Move<'p> {
    Move {
        at: step.at,
        from: Some(from),
        to: step.stage,
        direction: direction(from, step.stage),
        amount: step.amount,
        close_date: step.close_date,
    }
}

/// Where a stage falls among rows of one instant: open stages by position, then the closing
/// ones. Exports write a deal's creation and first move, or its last move and its close, in
/// the same second, in any order; the pipeline's order is the only one that can be right.
pub(super) fn stage_order(stage: &Stage) -> (bool, i32) {
    (stage.kind != StageKind::Open, stage.position)
}

/// When the deal was created: the source's creation time, else its first history row, else
/// the start of its close date in the org's zone, else the import's time.
pub(super) fn created_at(
    d: &SourceDeal,
    steps: &[Step<'_>],
    ctx: &PlanContext<'_>,
) -> DateTime<Utc> {
    d.created_at
        .or_else(|| steps.first().map(|s| s.at))
        .or_else(|| {
            d.close_date.map(|day| {
                crate::domain::calendar::OrgCalendar::new(Default::default(), ctx.zone)
                    .start_of(day)
            })
        })
        .unwrap_or(ctx.now)
        .min(ctx.now)
}

/// The deal's history rebuilt from its source rows, in time order (see the module doc).
pub(super) fn rebuild<'p>(
    pipeline: &'p Pipeline,
    created: DateTime<Utc>,
    current: &'p Stage,
    steps: Vec<Step<'p>>,
    amount: Option<Money>,
    close_date: Option<NaiveDate>,
) -> Result<Vec<Move<'p>>, String> {
    let mut moves: Vec<Move<'p>> = Vec::new();
    let mut steps = steps.into_iter();
    match steps.next() {
        Some(first) => moves.push(Move {
            at: first.at.min(created),
            from: None,
            to: first.stage,
            direction: HistoryDirection::Create,
            amount: first.amount.or(amount),
            close_date: first.close_date.or(close_date),
        }),
        None => {
            let first_open = pipeline
                .spec
                .stages
                .iter()
                .find(|s| s.kind == StageKind::Open)
                .unwrap_or(current);
            moves.push(Move {
                at: created,
                from: None,
                to: if current.kind == StageKind::Open {
                    current
                } else {
                    first_open
                },
                direction: HistoryDirection::Create,
                amount,
                close_date,
            });
        }
    }
    for step in steps {
        let last = moves[moves.len() - 1].to;
        if step.stage.stage_id != last.stage_id {
            moves.push(step_to(last, step));
        }
    }
    let last = &moves[moves.len() - 1];
    if last.to.stage_id != current.stage_id {
        if current.kind == StageKind::Open {
            return Err(format!(
                "the deal is in {:?} but its history ends in {:?}",
                current.stage_id, last.to.stage_id
            ));
        }
        let closing = close_date
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .unwrap_or(last.at)
            .max(last.at);
        let from = last.to;
        moves.push(step_to(
            from,
            Step {
                at: closing,
                stage: current,
                amount,
                close_date,
            },
        ));
    }
    Ok(moves)
}
