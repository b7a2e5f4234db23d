//! Planning the deals: each source deal checked ([`row`]), its owner, currency, amount and
//! category resolved, its history rebuilt, and then created, or compared with what an earlier
//! import stored ([`writes`]).

use std::collections::{HashMap, HashSet};

mod row;
mod writes;

use super::columns::{Columns, columns};
use super::history::{Move, created_at, rebuild, stage_order};
use super::owners::Owners;
use super::{ExistingDeal, ImportPlan, PlanContext, line};
use crate::domain::deal::{ForecastCategory, LeadSource};
use crate::domain::deal_history::Sighting;
use crate::domain::directory::UserId;
use crate::domain::money::{Currency, Money};
use crate::domain::pipeline::{Stage, StageKind};
use crate::domain::text::{AccountName, DisplayName, LossReason};
use crate::import::field_history;
use crate::import::report::{Tally, why};
use crate::import::values::loose;
use crate::import::{Location, RowError, SourceBook, SourceDeal, SourceFormat, SourceStageChange};

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
    name: Option<DisplayName>,
    account: Option<AccountName>,
    current: Option<&'a Stage>,
    owner: Option<UserId>,
    currency: Currency,
    amount: Option<Money>,
    category: Option<ForecastCategory>,
    existing: Option<&'a ExistingDeal>,
}

/// A deal whose row and history checked out: what creating or updating it takes.
struct Planned<'a> {
    name: DisplayName,
    account: AccountName,
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
        let mut row = self.check_row(d, &mut out.dropped, errors);
        let mut steps = self.steps(d, changes, &row, &mut out.dropped, errors);
        let (Some(name), Some(account), Some(current), Some(owner), true) = (
            row.name.take(),
            row.account.take(),
            row.current,
            row.owner,
            errors.len() == before,
        ) else {
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
            name,
            account,
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
