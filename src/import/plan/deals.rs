//! Planning the deals: each source deal checked, its owner, currency, amount and category
//! resolved, its history rebuilt, and then created, or compared with what an earlier import
//! stored.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::columns::{Columns, columns};
use super::history::{Move, Step, created_at, direction, rebuild, stage_order, step_to};
use super::owners::{Owners, Unresolved};
use super::{ExistingDeal, ImportPlan, PlanContext, line};
use crate::domain::deal::{
    Bant, Deal, DealFields, DealStatus, ForecastCategory, LeadSource, StageHistoryEntry,
};
use crate::domain::deal_history::{DealState, Sighting};
use crate::domain::directory::UserId;
use crate::domain::money::{Currency, Money};
use crate::domain::pipeline::{Stage, StageKind};
use crate::domain::text::{AccountName, DisplayName, LossReason, TextError};
use crate::import::field_history;
use crate::import::report::{Tally, why};
use crate::import::values::{Amount, loose};
use crate::import::{Location, RowError, SourceBook, SourceDeal, SourceFormat, SourceStageChange};

/// Longest external id kept.
const MAX_EXTERNAL_ID: usize = 255;

/// The amount in `currency`; with `round` (the mapping's `round_amounts`), one with more
/// decimals than the currency has is rounded and counted in `dropped`.
fn money(
    at: &Location,
    column: &str,
    amount: Option<Amount>,
    currency: Currency,
    round: bool,
    dropped: &mut Tally,
    errors: &mut Vec<RowError>,
) -> Option<Money> {
    let amount = amount.filter(|a| !a.is_zero())?;
    match amount.to_minor(currency, round) {
        Ok(minor) => {
            if round && amount.to_minor(currency, false).is_err() {
                dropped.add(why::AMOUNT_ROUNDED, &format!("{amount} {currency}"));
            }
            Some(Money { minor, currency })
        }
        Err(why) => {
            errors.push(RowError::new(at, column, why));
            None
        }
    }
}

/// Reports `value` under `column` when it is not a `T`.
fn text_errors<T: TryFrom<String, Error = TextError>>(
    at: &Location,
    column: &str,
    value: &str,
    errors: &mut Vec<RowError>,
) {
    if let Err(why) = T::try_from(value.to_string()) {
        errors.push(RowError::new(at, column, why.to_string()));
    }
}

pub(super) fn plan_deals(
    book: &SourceBook,
    ctx: &PlanContext<'_>,
    owners: &Owners<'_>,
    out: &mut ImportPlan,
    errors: &mut Vec<RowError>,
) {
    let planner = DealPlanner {
        ctx,
        owners,
        cols: columns(book.format),
        format: book.format,
    };
    let cols = &planner.cols;
    let ignored: HashSet<&str> = book.rejected_deals.iter().map(String::as_str).collect();
    let mut skipped: HashSet<&str> = book.deleted_deals.iter().map(String::as_str).collect();
    let mut by_deal: HashMap<&str, Vec<&SourceStageChange>> = HashMap::new();
    for change in &book.changes {
        by_deal
            .entry(change.deal.as_str())
            .or_default()
            .push(change);
    }
    let mut seen: HashMap<&str, &Location> = HashMap::new();
    for deal in &book.deals {
        if let Some(first) = seen.get(deal.external_id.as_str()) {
            errors.push(RowError::new(
                &deal.at,
                cols.id,
                format!(
                    "{:?} repeats the deal of line {}",
                    deal.external_id,
                    line(first)
                ),
            ));
            continue;
        }
        seen.insert(&deal.external_id, &deal.at);
        let wanted = &ctx.mapping.source_pipelines;
        if !wanted.is_empty()
            && !wanted
                .iter()
                .any(|p| loose(p) == loose(&deal.source_pipeline))
        {
            skipped.insert(&deal.external_id);
            out.rows_skipped += 1;
            out.dropped.add(why::OTHER_PIPELINE, &deal.source_pipeline);
            continue;
        }
        let changes = by_deal
            .get(deal.external_id.as_str())
            .cloned()
            .unwrap_or_default();
        planner.plan_deal(deal, &changes, out, errors);
    }
    // History of deals not planned above.
    for change in &book.changes {
        let deal = change.deal.as_str();
        if skipped.contains(deal) {
            // HubSpot's history is on the deal's own row, skipped with it.
            if book.format != SourceFormat::Hubspot {
                out.rows_skipped += 1;
                out.dropped
                    .add(why::HISTORY_OF_SKIPPED_DEAL, &change.at.file);
            }
        } else if !seen.contains_key(deal) && !ignored.contains(deal) {
            errors.push(RowError::new(
                &change.at,
                cols.history_deal,
                format!("{deal:?} is not a deal of the deals file"),
            ));
        }
    }
}

/// Plans the deals of one book: what planning each deal reads.
struct DealPlanner<'a> {
    ctx: &'a PlanContext<'a>,
    owners: &'a Owners<'a>,
    cols: Columns,
    format: SourceFormat,
}

/// A source deal's own row, checked: a value is `None` where the row's is bad (and reported).
struct DealRow<'a> {
    current: Option<&'a Stage>,
    owner: Option<UserId>,
    currency: Currency,
    amount: Option<Money>,
    category: Option<ForecastCategory>,
    existing: Option<&'a ExistingDeal>,
}

/// A deal whose row and history checked out: what creating or updating it takes.
struct Planned<'a> {
    current: &'a Stage,
    owner: UserId,
    amount: Option<Money>,
    category: Option<ForecastCategory>,
    lead_source: Option<LeadSource>,
    loss_reason: String,
    moves: Vec<Move<'a>>,
    sightings: Vec<Sighting>,
}

impl<'a> DealPlanner<'a> {
    /// Plans one deal: its row and history checked, its history rebuilt, then created, or merged
    /// into the deal an earlier import stored.
    fn plan_deal(
        &self,
        d: &SourceDeal,
        changes: &[&SourceStageChange],
        out: &mut ImportPlan,
        errors: &mut Vec<RowError>,
    ) {
        let before = errors.len();
        let ctx = self.ctx;
        let row = self.check_row(d, &mut out.dropped, errors);
        let mut steps = self.steps(d, changes, &row, &mut out.dropped, errors);
        let (Some(current), Some(owner), true) = (row.current, row.owner, errors.len() == before)
        else {
            return;
        };
        steps.sort_by_key(|s| (s.at, stage_order(s.stage)));
        let sightings: Vec<Sighting> = steps
            .iter()
            .map(|s| field_history::sighting(s.at, s.stage, s.amount, s.close_date))
            .collect();
        let created = created_at(d, &steps, ctx);
        let moves = match rebuild(
            ctx.pipeline,
            created,
            current,
            steps,
            row.amount,
            d.close_date,
        ) {
            Ok(moves) => moves,
            Err(why) => {
                errors.push(RowError::new(&d.at, self.cols.stage, why));
                return;
            }
        };
        let stored_reason = row.existing.map(|e| e.deal.loss_reason.as_str());
        let reason = loss_reason(d, current, stored_reason, &out.source);
        // Only the length: an imported reason keeps the source's characters.
        if reason.chars().count() > LossReason::MAX {
            errors.push(RowError::new(
                &d.at,
                self.cols.loss_reason,
                format!("must be at most {} characters", LossReason::MAX),
            ));
            return;
        }
        let lead_source = ctx.mapping.lead_source(&d.lead_source);
        count_dropped(
            d,
            current,
            lead_source.is_none(),
            row.category,
            &mut out.dropped,
        );
        let planned = Planned {
            current,
            owner,
            amount: row.amount,
            category: row.category,
            lead_source,
            loss_reason: reason,
            moves,
            sightings,
        };
        match row.existing {
            None => self.plan_new(d, planned, out),
            Some(existing) => self.plan_reimport(d, existing, planned, out, errors),
        }
    }

    fn stage_error(&self, name: &str) -> String {
        format!(
            "{name:?} is not mapped to a stage of the pipeline: add it to \"stages\" in the \
             mapping (stages: {})",
            self.ctx
                .pipeline
                .spec
                .stages
                .iter()
                .map(|s| s.stage_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// Checks the deal's own row: its id and texts, stage, owner, currency, amount, creation
    /// time and category, that the source's closed and won flags agree with the stage, and that
    /// an earlier import put it in this pipeline.
    fn check_row(
        &self,
        d: &SourceDeal,
        dropped: &mut Tally,
        errors: &mut Vec<RowError>,
    ) -> DealRow<'a> {
        let (ctx, cols) = (self.ctx, &self.cols);
        let pipeline = ctx.pipeline;
        if d.external_id.chars().count() > MAX_EXTERNAL_ID {
            errors.push(RowError::new(
                &d.at,
                cols.id,
                format!("must be at most {MAX_EXTERNAL_ID} characters"),
            ));
        }
        text_errors::<DisplayName>(&d.at, cols.name, &d.name, errors);
        text_errors::<AccountName>(&d.at, cols.account, &d.account, errors);
        let current = ctx.mapping.stage(&d.stage, &pipeline.spec);
        if current.is_none() {
            errors.push(RowError::new(&d.at, cols.stage, self.stage_error(&d.stage)));
        }
        let owner = self.owner(d, errors);
        let currency = match &d.currency {
            Some(code) => Currency::parse(code).or_else(|| {
                errors.push(RowError::new(
                    &d.at,
                    cols.currency,
                    format!("{code:?} is not an ISO 4217 currency code such as USD"),
                ));
                None
            }),
            None => Some(ctx.mapping.currency.unwrap_or(Currency::USD)),
        };
        let currency = currency.unwrap_or(Currency::USD);
        let round = ctx.mapping.round_amounts;
        let amount = money(
            &d.at,
            cols.amount,
            d.amount,
            currency,
            round,
            dropped,
            errors,
        );
        if d.created_at.is_some_and(|created| created > ctx.now) {
            errors.push(RowError::new(&d.at, cols.created, "is in the future"));
        }
        let category_column = d.category_column.unwrap_or(cols.category);
        let category = ctx
            .mapping
            .forecast_category(&d.forecast_category)
            .map_err(|why| errors.push(RowError::new(&d.at, category_column, why)))
            .ok()
            .flatten();
        if let Some(stage) = current {
            check_closed_flags(d, stage, errors);
            if stage.kind == StageKind::Open && category == Some(ForecastCategory::Closed) {
                errors.push(RowError::new(
                    &d.at,
                    category_column,
                    "is CLOSED but the deal is in an open stage",
                ));
            }
        }
        let existing = ctx.existing.get(&d.external_id);
        if let Some(existing) = existing
            && existing.deal.pipeline_id != pipeline.id
        {
            errors.push(RowError::new(
                &d.at,
                cols.id,
                format!(
                    "was imported into pipelines/{} before; import it into that pipeline",
                    existing.deal.pipeline_id
                ),
            ));
        }
        DealRow {
            current,
            owner,
            currency,
            amount,
            category,
            existing,
        }
    }

    /// The deal's history rows, mapped and checked; a row without the amount or close date of
    /// its time gets the deal's current one.
    fn steps(
        &self,
        d: &SourceDeal,
        changes: &[&SourceStageChange],
        row: &DealRow<'a>,
        dropped: &mut Tally,
        errors: &mut Vec<RowError>,
    ) -> Vec<Step<'a>> {
        let (ctx, cols) = (self.ctx, &self.cols);
        let mut steps = Vec::new();
        for c in changes {
            let (stage_column, time_column) = if self.format == SourceFormat::Hubspot {
                let column = format!("Date entered {:?}", c.stage);
                (column.clone(), column)
            } else {
                (
                    cols.history_stage.to_string(),
                    cols.history_time.to_string(),
                )
            };
            let stage = ctx.mapping.stage(&c.stage, &ctx.pipeline.spec);
            if stage.is_none() {
                errors.push(RowError::new(
                    &c.at,
                    &stage_column,
                    self.stage_error(&c.stage),
                ));
            }
            if c.changed_at > ctx.now {
                errors.push(RowError::new(&c.at, &time_column, "is in the future"));
            }
            let then = money(
                &c.at,
                cols.history_amount,
                c.amount,
                row.currency,
                ctx.mapping.round_amounts,
                dropped,
                errors,
            );
            if let Some(stage) = stage {
                steps.push(Step {
                    at: c.changed_at,
                    stage,
                    amount: then.or(row.amount),
                    close_date: c.close_date.or(d.close_date),
                });
            }
        }
        steps
    }

    /// A deal no earlier import stored: created with its whole history.
    fn plan_new(&self, d: &SourceDeal, planned: Planned<'a>, out: &mut ImportPlan) {
        let ctx = self.ctx;
        let pipeline = ctx.pipeline;
        let Planned {
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
                display_name: d.name.clone(),
                account: d.account.clone(),
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

    /// The deal's owner, or why none can be found reported.
    fn owner(&self, d: &SourceDeal, errors: &mut Vec<RowError>) -> Option<UserId> {
        match self.owners.resolve(&d.owner) {
            Ok(id) => Some(id),
            Err(Unresolved::Because(why)) => {
                errors.push(RowError::new(&d.at, self.cols.owner, why));
                None
            }
            Err(Unresolved::Reported) => {
                // The owner's User row is bad and reported: this deal waits for it.
                errors.push(RowError::new(
                    &d.at,
                    self.cols.owner,
                    format!(
                        "{:?} is a User file row that cannot be imported (see its row)",
                        d.owner
                    ),
                ));
                None
            }
        }
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
    fn plan_reimport(
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
        f.display_name = d.name.clone();
        f.account = d.account.clone();
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

/// The source's IsClosed and IsWon (Salesforce) must agree with the kind of stage the deal's
/// stage maps to.
fn check_closed_flags(d: &SourceDeal, stage: &Stage, errors: &mut Vec<RowError>) {
    let Some((closed, won)) = d.closed_won else {
        return;
    };
    let agrees = match stage.kind {
        StageKind::Open => !closed,
        StageKind::Won => closed && won,
        StageKind::Lost => closed && !won,
    };
    if !agrees {
        errors.push(RowError::new(
            &d.at,
            "IsClosed",
            format!(
                "IsClosed {closed} and IsWon {won} disagree with {:?}, which maps to the \
                 {} stage {:?}",
                d.stage,
                match stage.kind {
                    StageKind::Open => "open",
                    StageKind::Won => "won",
                    StageKind::Lost => "lost",
                },
                stage.stage_id
            ),
        ));
    }
}

/// A lost deal's reason: the source's, else the one stored, else a note that the source had
/// none. Other deals have none.
fn loss_reason(d: &SourceDeal, current: &Stage, stored: Option<&str>, source: &str) -> String {
    if current.kind != StageKind::Lost {
        String::new()
    } else if !d.loss_reason.is_empty() {
        d.loss_reason.clone()
    } else {
        stored
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("not recorded in {source}"))
    }
}

/// The stage history row of an imported move: a fact of the source, by no actor, never gated.
fn history_entry(pipeline_id: Uuid, deal_id: Uuid, m: &Move<'_>) -> StageHistoryEntry {
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

/// Counts what the deal loses on the way in (see [`super::report`]): an unmapped lead source,
/// a closed deal's own category, a missing amount or loss reason.
fn count_dropped(
    d: &SourceDeal,
    current: &Stage,
    no_lead_source: bool,
    category: Option<ForecastCategory>,
    dropped: &mut Tally,
) {
    if no_lead_source && !d.lead_source.is_empty() {
        dropped.add(why::LEAD_SOURCE_NOT_MAPPED, &d.lead_source);
    }
    if current.kind != StageKind::Open && category.is_some_and(|c| c != ForecastCategory::Closed) {
        dropped.add(why::CATEGORY_OF_CLOSED_DEAL, &d.forecast_category);
    }
    match d.amount {
        None => dropped.add(why::NO_AMOUNT, ""),
        Some(a) if a.is_zero() => dropped.add(why::NO_AMOUNT, "0"),
        Some(_) => {}
    }
    if current.kind == StageKind::Lost && d.loss_reason.is_empty() {
        dropped.add(why::NO_LOSS_REASON, "");
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
fn deal_id(created: DateTime<Utc>) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        created.timestamp().max(0) as u64,
        created.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(ts)
}
