//! What a planned deal writes: a new deal with its whole history, or the source's fields over
//! the deal an earlier import stored with only the later history appended.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{DealPlanner, Planned};
use crate::domain::deal::{
    Bant, Deal, DealFields, DealStatus, ForecastCategory, StageHistoryEntry,
};
use crate::domain::deal_history::{DealState, Sighting};
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::money::Money;
use crate::domain::pipeline::{Stage, StageKind};
use crate::import::field_history;
use crate::import::plan::history::{Move, Step, direction, step_to};
use crate::import::plan::{ExistingDeal, ImportPlan};
use crate::import::{RowError, SourceDeal};

impl<'a> DealPlanner<'a> {
    /// A deal no earlier import stored: created with its whole history.
    pub(super) fn plan_new(&self, d: &SourceDeal, planned: Planned<'a>, out: &mut ImportPlan) {
        let ctx = self.ctx;
        let pipeline = ctx.pipeline;
        let Planned {
            name,
            account,
            current,
            owner,
            amount,
            category,
            lead_source,
            loss_reason,
            moves,
            mut sightings,
        } = planned;
        let closed = current.kind != StageKind::Open;
        let created = moves[0].at;
        let last = &moves[moves.len() - 1];
        let id = deal_id(created);
        out.history
            .extend(moves.iter().map(|m| history_entry(pipeline.id, id, m)));
        out.deal_links.push((d.external_id.clone(), id));
        if sightings
            .last()
            .is_none_or(|s| s.stage_id != last.to.stage_id)
        {
            let closing = field_history::sighting(last.at, last.to, last.amount, last.close_date);
            sightings.push(closing);
        }
        let new = Deal {
            id,
            pipeline_id: pipeline.id,
            stage_id: current.stage_id.clone(),
            status: status(current),
            loss_reason,
            fields: DealFields {
                display_name: name,
                account,
                owner_id: owner,
                amount,
                close_date: d.close_date,
                lead_source,
                next_step: String::new(),
                next_step_date: None,
                bant: Bant::default(),
                confirmed_budget: None,
                discount_bps: 0,
                forecast_category: if closed {
                    ForecastCategory::Closed
                } else {
                    category.unwrap_or(ForecastCategory::Pipeline)
                },
                contacts: Vec::new(),
                qualification: Vec::new(),
            },
            created_at: created,
            updated_at: ctx.now,
            stage_entered_at: last.at,
            closed_at: closed.then_some(last.at),
            version: 1,
        };
        let today = DealState::of(&new);
        let first = &moves[0];
        let start = field_history::first_state(
            &today,
            &field_history::sighting(first.at, first.to, first.amount, first.close_date),
        );
        out.fields.extend(field_history::rows(
            id,
            start,
            &sightings,
            (&today, None),
            first.at,
        ));
        out.new_deals.push(new);
    }

    /// The moves later than the stored history's last row (`last`: its time and the stage it
    /// entered), each from the stage before it; and a move at import time into the source's
    /// current stage when they do not end there.
    fn appended_moves(
        &self,
        moves: Vec<Move<'a>>,
        last: (DateTime<Utc>, &str),
        current: &'a Stage,
        amount: Option<Money>,
        close_date: Option<NaiveDate>,
    ) -> Vec<Move<'a>> {
        let (last_at, last_stage) = last;
        let mut at_stage = self.ctx.pipeline.spec.stage(last_stage).unwrap_or(current);
        let mut appended = Vec::new();
        for m in moves.into_iter().filter(|m| m.at > last_at) {
            if m.to.stage_id != at_stage.stage_id {
                let from = at_stage;
                at_stage = m.to;
                appended.push(Move {
                    from: Some(from),
                    direction: direction(from, m.to),
                    ..m
                });
            }
        }
        if at_stage.stage_id != current.stage_id {
            appended.push(step_to(
                at_stage,
                Step {
                    at: self.ctx.now.max(last_at),
                    stage: current,
                    amount,
                    close_date,
                },
            ));
        }
        appended
    }

    /// A deal an earlier import stored: the source's fields over the stored ones, and only the
    /// history later than the stored history appended.
    pub(super) fn plan_reimport(
        &self,
        d: &SourceDeal,
        existing: &ExistingDeal,
        planned: Planned<'a>,
        out: &mut ImportPlan,
        errors: &mut Vec<RowError>,
    ) {
        let ctx = self.ctx;
        let pipeline = ctx.pipeline;
        let (current, amount) = (planned.current, planned.amount);
        let closed = current.kind != StageKind::Open;
        let stored = &existing.deal;
        if let (Some(budget), Some(amount)) = (stored.fields.confirmed_budget, amount)
            && budget.currency != amount.currency
        {
            errors.push(RowError::new(
                &d.at,
                self.cols.currency,
                format!(
                    "is {} but the deal holds a confirmed budget in {}",
                    amount.currency, budget.currency
                ),
            ));
            return;
        }
        let (last_at, last_stage) = existing
            .last_change
            .clone()
            .unwrap_or((stored.stage_entered_at, stored.stage_id.clone()));
        let appended = self.appended_moves(
            planned.moves,
            (last_at, &last_stage),
            current,
            amount,
            d.close_date,
        );
        let mut deal = stored.clone();
        let f = &mut deal.fields;
        f.display_name = planned.name;
        f.account = planned.account;
        f.owner_id = planned.owner;
        f.amount = amount;
        f.close_date = d.close_date;
        if planned.lead_source.is_some() {
            f.lead_source = planned.lead_source;
        }
        f.forecast_category = match (closed, planned.category, f.forecast_category) {
            (true, _, _) => ForecastCategory::Closed,
            (false, Some(category), _) => category,
            (false, None, ForecastCategory::Closed) => ForecastCategory::Pipeline,
            (false, None, kept) => kept,
        };
        if f.amount.is_none() && f.confirmed_budget.is_some() {
            // The budget's currency is stored with the amount: without an amount it would
            // be read back in no currency.
            f.confirmed_budget = None;
        }
        deal.loss_reason = planned.loss_reason;
        if let Some(last) = appended.last() {
            deal.stage_id = current.stage_id.clone();
            deal.status = status(current);
            deal.stage_entered_at = last.at;
            deal.closed_at = closed.then_some(last.at);
        }
        if deal == *stored {
            out.unchanged_deals += 1;
        } else {
            deal.version = stored.version + 1;
            deal.updated_at = ctx.now;
            let seen: Vec<Sighting> = appended
                .iter()
                .map(|m| field_history::sighting(m.at, m.to, m.amount, m.close_date))
                .collect();
            out.fields.extend(field_history::rows(
                deal.id,
                DealState::of(stored),
                &seen,
                (&DealState::of(&deal), Some(ctx.now)),
                last_at,
            ));
            out.history.extend(
                appended
                    .iter()
                    .map(|m| history_entry(pipeline.id, deal.id, m)),
            );
            out.changed_deals.push((deal, stored.version));
        }
    }
}

/// The stage history row of an imported move: a fact of the source, by no actor, never gated.
fn history_entry(pipeline_id: PipelineId, deal_id: DealId, m: &Move<'_>) -> StageHistoryEntry {
    StageHistoryEntry {
        sequence: 0,
        deal_id,
        pipeline_id,
        from_stage: m.from.map(|s| s.stage_id.clone()),
        to_stage: m.to.stage_id.clone(),
        at: m.at,
        actor: None,
        amount: m.amount,
        close_date: m.close_date,
        direction: m.direction,
        overridden: false,
        justification: String::new(),
    }
}

fn status(stage: &Stage) -> DealStatus {
    match stage.kind {
        StageKind::Open => DealStatus::Open,
        StageKind::Won => DealStatus::Won,
        StageKind::Lost => DealStatus::Lost,
    }
}

/// A UUIDv7 of the deal's creation time, so imported deals list in the order the source
/// created them, like deals created here.
fn deal_id(created: DateTime<Utc>) -> DealId {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        created.timestamp().max(0) as u64,
        created.timestamp_subsec_nanos(),
    );
    DealId(Uuid::new_v7(ts))
}
