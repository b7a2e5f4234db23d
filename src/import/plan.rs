//! Planning an import: owners resolved (and, from a Salesforce User file, missing users created
//! with their reporting tree), each deal rebuilt with its stage history, and compared with what
//! an earlier import stored, so that importing the same files again writes nothing.
//!
//! History: the source's rows for a deal, in time order (rows of one instant in the stages'
//! order, the closing stages last, whatever the file's order), become one `Create` row (into the
//! stage of the first row, at the earlier of the deal's creation and that row; a deal whose
//! export has no creation time was created at its first row, else at the start of its close
//! date in the org's zone, else at the import) and one move per change of stage (rows that
//! keep the stage, such as amount changes, are not moves). A move to the won or lost stage is a
//! `Close`; otherwise the direction follows the stages' positions, so a move to an earlier
//! stage is `Backward`. A deal without history rows is created in its
//! current stage (a closed one in the first open stage, then closed on its close date). A
//! closed deal whose history stops short of its closing is closed on its close date; an open
//! deal whose history ends in another stage than its current one is a bad row.
//!
//! Imported moves are facts, not requests: they are recorded as the source had them, without
//! the exit criteria a live move is checked against.
//!
//! Re-import: a deal already imported from the source (same external id) takes the source's
//! fields (name, account, owner, amount, close date, and lead source and forecast category
//! when the source has them) and keeps what only this service holds (next step, BANT,
//! contacts, qualification, discount). Only history rows later than the deal's newest stored
//! row are appended; if the source's current stage still differs from the stored one, a move to
//! it is recorded at import time. Existing users change only with `update_users` (see
//! [`users`]).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

mod users;

pub use users::UserChange;

use super::field_history;
use super::mapping::{Mapping, UserRef};
use super::report::{Tally, why};
use super::roles::ManagerChoice;
use super::values::{Amount, loose};
use super::{Location, RowError, SourceBook, SourceDeal, SourceFormat, SourceStageChange};
use crate::domain::deal::{
    Bant, Deal, DealFields, DealStatus, ForecastCategory, HistoryDirection, StageHistoryEntry,
};
use crate::domain::deal_history::{DealState, FieldHistoryEntry, Sighting};
use crate::domain::directory::{User, UserId};
use crate::domain::money::{Currency, Money};
use crate::domain::pipeline::{Pipeline, Stage, StageKind};
use crate::domain::{Violations, check_text};

/// A deal an earlier import stored, with its newest stage history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingDeal {
    /// The deal as stored.
    pub deal: Deal,
    /// When its newest history row happened, and the stage it entered.
    pub last_change: Option<(DateTime<Utc>, String)>,
}

/// What the planner needs to know of the stored state.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    /// The pipeline deals are imported into.
    pub pipeline: &'a Pipeline,
    /// The mapping.
    pub mapping: &'a Mapping,
    /// Every user of the directory.
    pub users: &'a [User],
    /// Source user ids linked to users by earlier imports from this source.
    pub user_links: &'a HashMap<String, UserId>,
    /// Deals imported earlier from this source, by external id.
    pub existing: &'a HashMap<String, ExistingDeal>,
    /// The time of the import (nothing in the source may be later).
    pub now: DateTime<Utc>,
    /// The org's time zone: a deal created on its close date was created at that day's start.
    pub zone: chrono_tz::Tz,
}

/// Everything an import writes, in the order it must be written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportPlan {
    /// The source external ids belong to.
    pub source: String,
    /// Users to create, each after its manager.
    pub new_users: Vec<User>,
    /// New links from source user ids to users.
    pub user_links: Vec<(String, UserId)>,
    /// Deals to create.
    pub new_deals: Vec<Deal>,
    /// Deals to replace, each with the version it must still have.
    pub changed_deals: Vec<(Deal, i64)>,
    /// Deals already imported that the source leaves as they are.
    pub unchanged_deals: usize,
    /// Stage history to append, oldest first.
    pub history: Vec<StageHistoryEntry>,
    /// Field history to append, each deal's rows in time order.
    pub fields: Vec<FieldHistoryEntry>,
    /// New links from external ids to deals.
    pub deal_links: Vec<(String, Uuid)>,
    /// Data rows read.
    pub rows_read: usize,
    /// Rows left out on purpose (deleted in the source, other source pipelines).
    pub rows_skipped: usize,
    /// Existing users to replace (with `update_users`), each with the version it must still
    /// have.
    pub changed_users: Vec<(User, i64)>,
    /// Existing users' fields the source sets otherwise, each saying whether it is applied
    /// (its user is in `changed_users`) or only reported.
    pub user_changes: Vec<UserChange>,
    /// Managers picked among several holders of a role.
    pub manager_choices: Vec<ManagerChoice>,
    /// Values left out or replaced, counted.
    pub dropped: Tally,
}

/// Longest external id kept.
const MAX_EXTERNAL_ID: usize = 255;

/// The column names errors use, per format.
struct Columns {
    id: &'static str,
    name: &'static str,
    account: &'static str,
    owner: &'static str,
    stage: &'static str,
    amount: &'static str,
    currency: &'static str,
    created: &'static str,
    category: &'static str,
    loss_reason: &'static str,
    history_deal: &'static str,
    history_stage: &'static str,
    history_time: &'static str,
    history_amount: &'static str,
}

fn columns(format: SourceFormat) -> Columns {
    match format {
        SourceFormat::Salesforce => Columns {
            id: "Id",
            name: "Name",
            account: "AccountId",
            owner: "OwnerId",
            stage: "StageName",
            amount: "Amount",
            currency: "CurrencyIsoCode",
            created: "CreatedDate",
            category: "ForecastCategoryName",
            loss_reason: "Loss_Reason__c",
            history_deal: "OpportunityId",
            history_stage: "StageName",
            history_time: "CreatedDate",
            history_amount: "Amount",
        },
        SourceFormat::Hubspot => Columns {
            id: "Record ID",
            name: "Deal Name",
            account: "Associated Company",
            owner: "Deal owner",
            stage: "Deal Stage",
            amount: "Amount",
            currency: "Deal currency code",
            created: "Create Date",
            category: "Forecast category",
            loss_reason: "Closed Lost Reason",
            history_deal: "Record ID",
            history_stage: "Date entered",
            history_time: "Date entered",
            history_amount: "Amount",
        },
        SourceFormat::Generic => Columns {
            id: "external_id",
            name: "name",
            account: "account",
            owner: "owner",
            stage: "stage",
            amount: "amount",
            currency: "currency",
            created: "created_at",
            category: "forecast_category",
            loss_reason: "loss_reason",
            history_deal: "external_id",
            history_stage: "stage",
            history_time: "changed_at",
            history_amount: "amount",
        },
    }
}

/// Why an owner could not be found.
enum Unresolved {
    /// Said here.
    Because(String),
    /// Already reported (their User row was bad): say nothing more.
    Reported,
}

/// Finds users for source references.
struct Owners<'a> {
    ctx: &'a PlanContext<'a>,
    by_id: HashSet<UserId>,
    by_email: HashMap<String, UserId>,
    /// Users by display name (trimmed, lower case); several when the name is not unique.
    by_name: HashMap<String, Vec<&'a User>>,
    /// Users of the User file, resolved or created.
    file_users: HashMap<String, UserId>,
    /// User rows that were bad.
    rejected: HashSet<String>,
    /// User rows skipped as not sellers, with why.
    skipped: HashMap<String, String>,
    format: SourceFormat,
}

impl Owners<'_> {
    fn mapped(&self, reference: &str, user: &UserRef) -> Result<UserId, String> {
        match user {
            UserRef::Id(id) if self.by_id.contains(id) => Ok(*id),
            UserRef::Id(id) => Err(format!(
                "{reference:?} is mapped to users/{}, who does not exist",
                id.0
            )),
            UserRef::Email(email) => self.by_email.get(email).copied().ok_or_else(|| {
                format!(
                    "{reference:?} is mapped to {email}, who is not a user here (create them first)"
                )
            }),
        }
    }

    fn resolve(&self, reference: &str) -> Result<UserId, Unresolved> {
        if let Some(user) = self.ctx.mapping.owner(reference) {
            return self.mapped(reference, user).map_err(Unresolved::Because);
        }
        if let Some(id) = self
            .ctx
            .user_links
            .get(reference)
            .or_else(|| self.file_users.get(reference))
        {
            return Ok(*id);
        }
        if self.rejected.contains(reference) {
            return Err(Unresolved::Reported);
        }
        if let Some(why) = self.skipped.get(reference) {
            return Err(Unresolved::Because(format!(
                "{reference:?} is a User file row skipped as not a seller ({why}): map it to a \
                 user in \"owners\""
            )));
        }
        if let Some(id) = self.by_email.get(&reference.to_lowercase()) {
            return Ok(*id);
        }
        if let Some(named) = self.by_name.get(&reference.trim().to_lowercase()) {
            return match named.as_slice() {
                [user] => Ok(user.id),
                several => Err(Unresolved::Because(format!(
                    "{reference:?} is the display name of {} users ({}): map it to one of them \
                     in \"owners\"",
                    several.len(),
                    several
                        .iter()
                        .map(|u| u.profile.email.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            };
        }
        if reference.contains('@') {
            return Err(Unresolved::Because(format!(
                "{reference:?} is not the e-mail of a user here: create the user, or map the \
                 e-mail in \"owners\""
            )));
        }
        let hint = if self.format == SourceFormat::Salesforce {
            ", or send the User file (with \"create_users\": true to create missing users)"
        } else {
            ""
        };
        Err(Unresolved::Because(format!(
            "{reference:?} is not mapped to a user: add it to \"owners\" in the mapping{hint}"
        )))
    }
}

/// Plans the import of `book` into the context's pipeline. Every problem is reported, each with
/// its file, line and column.
pub fn plan(book: &SourceBook, ctx: &PlanContext<'_>) -> Result<ImportPlan, Vec<RowError>> {
    let mut errors = ctx.mapping.check_stages(&ctx.pipeline.spec);
    let source = ctx.mapping.source(book.format);
    let mut out = ImportPlan {
        source: source.clone(),
        rows_read: book.rows_read,
        rows_skipped: book.rows_skipped,
        dropped: book.dropped.clone(),
        ..Default::default()
    };
    let mut owners = Owners {
        ctx,
        by_id: ctx.users.iter().map(|u| u.id).collect(),
        by_email: ctx
            .users
            .iter()
            .map(|u| (u.profile.email.clone(), u.id))
            .collect(),
        by_name: ctx.users.iter().fold(HashMap::new(), |mut names, u| {
            names
                .entry(u.profile.display_name.trim().to_lowercase())
                .or_insert_with(Vec::new)
                .push(u);
            names
        }),
        file_users: HashMap::new(),
        rejected: HashSet::new(),
        skipped: HashMap::new(),
        format: book.format,
    };
    users::plan_users(book, ctx, &mut owners, &mut out, &mut errors);
    plan_deals(book, ctx, &owners, &mut out, &mut errors);
    if errors.is_empty() {
        out.history.sort_by_key(|h| h.at);
        Ok(out)
    } else {
        Err(errors)
    }
}

fn line(at: &Location) -> String {
    at.line.map_or_else(|| "?".to_string(), |l| l.to_string())
}

/// One stage change, mapped.
#[derive(Debug, Clone)]
struct Move<'p> {
    at: DateTime<Utc>,
    from: Option<&'p Stage>,
    to: &'p Stage,
    direction: HistoryDirection,
    amount: Option<Money>,
    close_date: Option<NaiveDate>,
}

/// A history row of the source, mapped.
#[derive(Debug, Clone)]
struct Step<'p> {
    at: DateTime<Utc>,
    stage: &'p Stage,
    amount: Option<Money>,
    close_date: Option<NaiveDate>,
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

fn step_to<'p>(from: &'p Stage, step: Step<'p>) -> Move<'p> {
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
fn stage_order(stage: &Stage) -> (bool, i32) {
    (stage.kind != StageKind::Open, stage.position)
}

/// When the deal was created: the source's creation time, else its first history row, else
/// the start of its close date in the org's zone, else the import's time.
fn created_at(d: &SourceDeal, steps: &[Step<'_>], ctx: &PlanContext<'_>) -> DateTime<Utc> {
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
fn rebuild<'p>(
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

fn text_errors(at: &Location, column: &str, value: &str, max: usize, errors: &mut Vec<RowError>) {
    let mut v = Violations::new();
    check_text(&mut v, column, value, max, true);
    for v in v.0 {
        errors.push(RowError::new(at, column, v.description));
    }
}

fn plan_deals(
    book: &SourceBook,
    ctx: &PlanContext<'_>,
    owners: &Owners<'_>,
    out: &mut ImportPlan,
    errors: &mut Vec<RowError>,
) {
    let cols = columns(book.format);
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
        plan_deal(deal, &changes, ctx, owners, &cols, book.format, out, errors);
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

#[allow(clippy::too_many_arguments)]
fn plan_deal(
    d: &SourceDeal,
    changes: &[&SourceStageChange],
    ctx: &PlanContext<'_>,
    owners: &Owners<'_>,
    cols: &Columns,
    format: SourceFormat,
    out: &mut ImportPlan,
    errors: &mut Vec<RowError>,
) {
    let before = errors.len();
    let pipeline = ctx.pipeline;
    let stage_error = |name: &str| {
        format!(
            "{name:?} is not mapped to a stage of the pipeline: add it to \"stages\" in the \
             mapping (stages: {})",
            pipeline
                .spec
                .stages
                .iter()
                .map(|s| s.stage_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if d.external_id.chars().count() > MAX_EXTERNAL_ID {
        errors.push(RowError::new(
            &d.at,
            cols.id,
            format!("must be at most {MAX_EXTERNAL_ID} characters"),
        ));
    }
    text_errors(&d.at, cols.name, &d.name, 200, errors);
    text_errors(&d.at, cols.account, &d.account, 200, errors);
    let current = ctx.mapping.stage(&d.stage, &pipeline.spec);
    if current.is_none() {
        errors.push(RowError::new(&d.at, cols.stage, stage_error(&d.stage)));
    }
    let owner = match owners.resolve(&d.owner) {
        Ok(id) => Some(id),
        Err(Unresolved::Because(why)) => {
            errors.push(RowError::new(&d.at, cols.owner, why));
            None
        }
        Err(Unresolved::Reported) => {
            // The owner's User row is bad and reported: this deal waits for it.
            errors.push(RowError::new(
                &d.at,
                cols.owner,
                format!(
                    "{:?} is a User file row that cannot be imported (see its row)",
                    d.owner
                ),
            ));
            None
        }
    };
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
        &mut out.dropped,
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
        if let Some((closed, won)) = d.closed_won {
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
    let mut steps = Vec::new();
    for c in changes {
        let (stage_column, time_column) = if format == SourceFormat::Hubspot {
            let column = format!("Date entered {:?}", c.stage);
            (column.clone(), column)
        } else {
            (
                cols.history_stage.to_string(),
                cols.history_time.to_string(),
            )
        };
        let stage = ctx.mapping.stage(&c.stage, &pipeline.spec);
        if stage.is_none() {
            errors.push(RowError::new(&c.at, &stage_column, stage_error(&c.stage)));
        }
        if c.changed_at > ctx.now {
            errors.push(RowError::new(&c.at, &time_column, "is in the future"));
        }
        let then = money(
            &c.at,
            cols.history_amount,
            c.amount,
            currency,
            round,
            &mut out.dropped,
            errors,
        );
        if let Some(stage) = stage {
            // A row without the amount or close date of its time gets the deal's current one.
            steps.push(Step {
                at: c.changed_at,
                stage,
                amount: then.or(amount),
                close_date: c.close_date.or(d.close_date),
            });
        }
    }
    let (Some(current), Some(owner), true) = (current, owner, errors.len() == before) else {
        return;
    };
    steps.sort_by_key(|s| (s.at, stage_order(s.stage)));
    let mut sightings: Vec<Sighting> = steps
        .iter()
        .map(|s| field_history::sighting(s.at, s.stage, s.amount, s.close_date))
        .collect();
    let created = created_at(d, &steps, ctx);
    let moves = match rebuild(pipeline, created, current, steps, amount, d.close_date) {
        Ok(moves) => moves,
        Err(why) => {
            errors.push(RowError::new(&d.at, cols.stage, why));
            return;
        }
    };
    let closed = current.kind != StageKind::Open;
    let source = &out.source;
    let loss_reason = |stored: Option<&str>| -> String {
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
    };
    let reason = loss_reason(existing.map(|e| e.deal.loss_reason.as_str()));
    if reason.chars().count() > 500 {
        errors.push(RowError::new(
            &d.at,
            cols.loss_reason,
            "must be at most 500 characters",
        ));
        return;
    }
    let lead_source = ctx.mapping.lead_source(&d.lead_source);
    count_dropped(
        d,
        current,
        lead_source.is_none(),
        category,
        &mut out.dropped,
    );
    let entry = |deal_id: Uuid, m: &Move<'_>| StageHistoryEntry {
        sequence: 0,
        deal_id,
        pipeline_id: pipeline.id,
        from_stage: m.from.map(|s| s.stage_id.clone()),
        to_stage: m.to.stage_id.clone(),
        at: m.at,
        actor: None,
        amount: m.amount,
        close_date: m.close_date,
        direction: m.direction,
        overridden: false,
        justification: String::new(),
    };
    match existing {
        None => {
            let created = moves[0].at;
            let last = &moves[moves.len() - 1];
            let id = deal_id(created);
            out.history.extend(moves.iter().map(|m| entry(id, m)));
            out.deal_links.push((d.external_id.clone(), id));
            if sightings
                .last()
                .is_none_or(|s| s.stage_id != last.to.stage_id)
            {
                let closing =
                    field_history::sighting(last.at, last.to, last.amount, last.close_date);
                sightings.push(closing);
            }
            let new = Deal {
                id,
                pipeline_id: pipeline.id,
                stage_id: current.stage_id.clone(),
                status: status(current),
                loss_reason: reason,
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
        Some(existing) => {
            let stored = &existing.deal;
            if let (Some(budget), Some(amount)) = (stored.fields.confirmed_budget, amount)
                && budget.currency != amount.currency
            {
                errors.push(RowError::new(
                    &d.at,
                    cols.currency,
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
            let mut at_stage = pipeline.spec.stage(&last_stage).unwrap_or(current);
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
                        at: ctx.now.max(last_at),
                        stage: current,
                        amount,
                        close_date: d.close_date,
                    },
                ));
            }
            let mut deal = stored.clone();
            let f = &mut deal.fields;
            f.display_name = d.name.clone();
            f.account = d.account.clone();
            f.owner_id = owner;
            f.amount = amount;
            f.close_date = d.close_date;
            if lead_source.is_some() {
                f.lead_source = lead_source;
            }
            f.forecast_category = match (closed, category, f.forecast_category) {
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
            deal.loss_reason = reason;
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
                out.history
                    .extend(appended.iter().map(|m| entry(deal.id, m)));
                out.changed_deals.push((deal, stored.version));
            }
        }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::directory::{Role, UserProfile};
    use crate::domain::templates;
    use crate::import::SourceUser;

    /// Same-instant rows, creation defaults, owners by display name, rounding (issue 19).
    mod reading;

    pub(crate) fn t(text: &str) -> DateTime<Utc> {
        crate::import::values::parse_time(text).unwrap()
    }

    pub(crate) fn smb() -> Pipeline {
        Pipeline {
            id: Uuid::now_v7(),
            spec: templates::smb(),
            created_at: t("2025-01-01"),
            updated_at: t("2025-01-01"),
            version: 1,
        }
    }

    pub(crate) fn user(email: &str, role: Role) -> User {
        User {
            id: UserId::generate(),
            profile: UserProfile {
                display_name: email.into(),
                email: email.into(),
                role,
                manager_id: None,
                active: true,
            },
            created_at: t("2025-01-01"),
            updated_at: t("2025-01-01"),
            version: 1,
        }
    }

    pub(crate) fn deal(id: &str, stage: &str, line: u64) -> SourceDeal {
        SourceDeal {
            at: Location::line("Opportunity.csv", line),
            external_id: id.into(),
            name: format!("Deal {id}"),
            account: "Acme".into(),
            owner: "ann@example.com".into(),
            amount: Some(Amount::parse("1000").unwrap()),
            currency: None,
            close_date: Some("2026-06-30".parse().unwrap()),
            stage: stage.into(),
            closed_won: None,
            lead_source: String::new(),
            forecast_category: String::new(),
            created_at: Some(t("2026-01-10T09:00:00Z")),
            loss_reason: String::new(),
            source_pipeline: String::new(),
            category_column: None,
            account_id: String::new(),
        }
    }

    pub(crate) fn change(deal: &str, stage: &str, at: &str, line: u64) -> SourceStageChange {
        SourceStageChange {
            at: Location::line("OpportunityHistory.csv", line),
            deal: deal.into(),
            stage: stage.into(),
            changed_at: t(at),
            amount: None,
            close_date: None,
        }
    }

    pub(crate) fn book(deals: Vec<SourceDeal>, changes: Vec<SourceStageChange>) -> SourceBook {
        SourceBook {
            rows_read: deals.len() + changes.len(),
            deals,
            changes,
            ..SourceBook::new(SourceFormat::Salesforce, Default::default())
        }
    }

    pub(crate) struct World {
        pub(crate) pipeline: Pipeline,
        pub(crate) mapping: Mapping,
        pub(crate) users: Vec<User>,
        pub(crate) links: HashMap<String, UserId>,
        pub(crate) existing: HashMap<String, ExistingDeal>,
        pub(crate) zone: chrono_tz::Tz,
    }

    impl World {
        pub(crate) fn new(mapping: &str) -> Self {
            World {
                pipeline: smb(),
                mapping: Mapping::parse("mapping.json", mapping).unwrap(),
                users: vec![user("ann@example.com", Role::Rep)],
                links: HashMap::new(),
                existing: HashMap::new(),
                zone: chrono_tz::Tz::UTC,
            }
        }

        pub(crate) fn plan(&self, book: &SourceBook) -> Result<ImportPlan, Vec<RowError>> {
            plan(
                book,
                &PlanContext {
                    pipeline: &self.pipeline,
                    mapping: &self.mapping,
                    users: &self.users,
                    user_links: &self.links,
                    existing: &self.existing,
                    now: t("2026-11-22T12:00:00Z"),
                    zone: self.zone,
                },
            )
        }

        /// Stores a plan's new deals as an earlier import would have.
        pub(crate) fn store(&mut self, plan: &ImportPlan) {
            for d in &plan.new_deals {
                let last = plan
                    .history
                    .iter()
                    .rfind(|h| h.deal_id == d.id)
                    .map(|h| (h.at, h.to_stage.clone()));
                let (external, _) = plan.deal_links.iter().find(|(_, id)| *id == d.id).unwrap();
                self.existing.insert(
                    external.clone(),
                    ExistingDeal {
                        deal: d.clone(),
                        last_change: last,
                    },
                );
            }
        }
    }

    pub(crate) const MAPPING: &str = r#"{"stages":{"Prospecting":"problem-recognized","Qualification":"solution-exploring","Proposal":"decision-pending"}}"#;

    /// A User-file row: a standard, active seller of the role `role` with no ManagerId.
    pub(crate) fn person(id: &str, role: &str, line: u64) -> crate::import::SourceUser {
        crate::import::SourceUser {
            at: Location::line("User.csv", line),
            external_id: id.into(),
            name: format!("Person {id}"),
            email: format!("{id}@example.com"),
            manager: String::new(),
            active: true,
            role: role.into(),
            user_type: "Standard".into(),
            profile: "Standard User".into(),
            created_at: None,
        }
    }

    fn moves(plan: &ImportPlan) -> Vec<(Option<&str>, &str, HistoryDirection)> {
        plan.history
            .iter()
            .map(|h| (h.from_stage.as_deref(), h.to_stage.as_str(), h.direction))
            .collect()
    }

    pub(crate) fn errors(result: Result<ImportPlan, Vec<RowError>>) -> Vec<String> {
        result
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    use HistoryDirection::{Backward, Close, Create, Forward};

    #[test]
    fn history_rows_become_moves_in_time_order_with_directions_from_stage_positions() {
        let w = World::new(MAPPING);
        let plan = w
            .plan(&book(
                vec![deal("006A", "Closed Won", 2)],
                vec![
                    // Out of order on purpose; the amount-only row keeps the stage.
                    change("006A", "Proposal", "2026-03-01T00:00:00Z", 4),
                    change("006A", "Prospecting", "2026-01-10T09:00:00Z", 2),
                    change("006A", "Qualification", "2026-02-01T00:00:00Z", 3),
                    change("006A", "Qualification", "2026-03-10T00:00:00Z", 5),
                    change("006A", "Qualification", "2026-03-20T00:00:00Z", 6),
                    change("006A", "Closed Won", "2026-04-01T00:00:00Z", 7),
                ],
            ))
            .unwrap();
        assert_eq!(
            moves(&plan),
            [
                (None, "problem-recognized", Create),
                (Some("problem-recognized"), "solution-exploring", Forward),
                (Some("solution-exploring"), "decision-pending", Forward),
                (Some("decision-pending"), "solution-exploring", Backward),
                (Some("solution-exploring"), "closed-won", Close),
            ]
        );
        let d = &plan.new_deals[0];
        assert_eq!(d.status, DealStatus::Won);
        assert_eq!(d.closed_at, Some(t("2026-04-01T00:00:00Z")));
        assert_eq!(d.fields.forecast_category, ForecastCategory::Closed);
        assert_eq!(d.fields.amount.unwrap().minor, 100_000);
        assert_eq!(plan.deal_links, [("006A".to_string(), d.id)]);
    }

    #[test]
    fn a_deal_without_history_is_created_in_its_stage_or_created_then_closed() {
        let w = World::new(MAPPING);
        let mut lost = deal("006L", "Closed Lost", 3);
        lost.loss_reason = String::new();
        let plan = w
            .plan(&book(vec![deal("006O", "Qualification", 2), lost], vec![]))
            .unwrap();
        assert_eq!(
            moves(&plan),
            [
                (None, "solution-exploring", Create),
                (None, "problem-recognized", Create),
                (Some("problem-recognized"), "closed-lost", Close),
            ]
        );
        let lost = &plan.new_deals[1];
        assert_eq!(
            lost.closed_at,
            Some(t("2026-06-30T00:00:00Z")),
            "closed on its close date"
        );
        assert_eq!(lost.loss_reason, "not recorded in salesforce");
    }

    #[test]
    fn an_open_deal_whose_history_ends_in_another_stage_is_a_bad_row() {
        let w = World::new(MAPPING);
        let found = errors(w.plan(&book(
            vec![deal("006A", "Proposal", 2)],
            vec![change("006A", "Prospecting", "2026-01-10T09:00:00Z", 2)],
        )));
        assert_eq!(
            found,
            [
                "Opportunity.csv:2: StageName: the deal is in \"decision-pending\" but its history ends in \"problem-recognized\""
            ]
        );
    }

    #[test]
    fn every_bad_row_is_reported_with_file_line_and_column() {
        let w = World::new(MAPPING);
        let mut unmapped = deal("006B", "Negotiation", 3);
        unmapped.owner = "005X".into();
        let mut disagreeing = deal("006C", "Closed Won", 4);
        disagreeing.closed_won = Some((true, false));
        let found = errors(w.plan(&book(
            vec![
                deal("006A", "Prospecting", 2),
                unmapped,
                disagreeing,
                deal("006A", "Prospecting", 5),
            ],
            vec![
                change("006Z", "Prospecting", "2026-01-10T09:00:00Z", 2),
                change("006A", "Discovery", "2026-01-10T09:00:00Z", 3),
            ],
        )));
        let stages = "(stages: problem-recognized, solution-exploring, decision-pending, closed-won, closed-lost)";
        assert_eq!(
            found,
            [
                format!("OpportunityHistory.csv:3: StageName: \"Discovery\" is not mapped to a stage of the pipeline: add it to \"stages\" in the mapping {stages}"),
                format!("Opportunity.csv:3: StageName: \"Negotiation\" is not mapped to a stage of the pipeline: add it to \"stages\" in the mapping {stages}"),
                "Opportunity.csv:3: OwnerId: \"005X\" is not mapped to a user: add it to \"owners\" in the mapping, or send the User file (with \"create_users\": true to create missing users)".to_string(),
                "Opportunity.csv:4: IsClosed: IsClosed true and IsWon false disagree with \"Closed Won\", which maps to the won stage \"closed-won\"".to_string(),
                "Opportunity.csv:5: Id: \"006A\" repeats the deal of line 2".to_string(),
                "OpportunityHistory.csv:2: OpportunityId: \"006Z\" is not a deal of the deals file".to_string(),
            ]
        );
    }

    #[test]
    fn reimporting_the_same_rows_changes_nothing() {
        let mut w = World::new(MAPPING);
        let rows = book(
            vec![deal("006A", "Proposal", 2)],
            vec![
                change("006A", "Prospecting", "2026-01-10T09:00:00Z", 2),
                change("006A", "Proposal", "2026-02-10T09:00:00Z", 3),
            ],
        );
        let first = w.plan(&rows).unwrap();
        w.store(&first);
        let again = w.plan(&rows).unwrap();
        assert_eq!(
            (
                again.new_deals.len(),
                again.changed_deals.len(),
                again.unchanged_deals
            ),
            (0, 0, 1)
        );
        assert!(again.history.is_empty() && again.deal_links.is_empty());
    }

    #[test]
    fn a_reimport_updates_values_and_appends_only_later_history() {
        let mut w = World::new(MAPPING);
        let first = w
            .plan(&book(
                vec![deal("006A", "Qualification", 2)],
                vec![
                    change("006A", "Prospecting", "2026-01-10T09:00:00Z", 2),
                    change("006A", "Qualification", "2026-02-10T09:00:00Z", 3),
                ],
            ))
            .unwrap();
        w.store(&first);
        let mut later = deal("006A", "Closed Won", 2);
        later.amount = Some(Amount::parse("1500").unwrap());
        let second = w
            .plan(&book(
                vec![later],
                vec![
                    change("006A", "Prospecting", "2026-01-10T09:00:00Z", 2),
                    change("006A", "Qualification", "2026-02-10T09:00:00Z", 3),
                    change("006A", "Closed Won", "2026-05-01T00:00:00Z", 4),
                ],
            ))
            .unwrap();
        let (updated, version) = &second.changed_deals[0];
        assert_eq!(*version, 1);
        assert_eq!(updated.version, 2);
        assert_eq!(updated.id, first.new_deals[0].id);
        assert_eq!(updated.fields.amount.unwrap().minor, 150_000);
        assert_eq!(updated.status, DealStatus::Won);
        assert_eq!(updated.closed_at, Some(t("2026-05-01T00:00:00Z")));
        assert_eq!(
            moves(&second),
            [(Some("solution-exploring"), "closed-won", Close)]
        );
    }

    #[test]
    fn a_stage_changed_here_is_moved_back_to_the_sources_at_import_time() {
        let mut w = World::new(MAPPING);
        let rows = book(vec![deal("006A", "Qualification", 2)], vec![]);
        let first = w.plan(&rows).unwrap();
        w.store(&first);
        let stored = w.existing.get_mut("006A").unwrap();
        stored.deal.stage_id = "decision-pending".into();
        stored.last_change = Some((t("2026-11-01T00:00:00Z"), "decision-pending".into()));
        let second = w.plan(&rows).unwrap();
        assert_eq!(
            moves(&second),
            [(Some("decision-pending"), "solution-exploring", Backward)]
        );
        assert_eq!(second.history[0].at, t("2026-11-22T12:00:00Z"));
    }

    #[test]
    fn owners_resolve_through_the_mapping_the_user_file_and_email() {
        let mut w = World::new(r#"{"owners":{"005M":"ann@example.com"}}"#);
        let bob = user("bob@example.com", Role::Rep);
        w.users.push(bob.clone());
        let mut rows = book(
            vec![
                deal("1", "problem-recognized", 2),
                deal("2", "problem-recognized", 3),
                deal("3", "problem-recognized", 4),
            ],
            vec![],
        );
        rows.deals[0].owner = "005M".into();
        rows.deals[1].owner = "005B".into();
        rows.deals[2].owner = "BOB@example.com".into();
        rows.users.push(SourceUser {
            at: Location::line("User.csv", 2),
            external_id: "005B".into(),
            name: "Bob".into(),
            email: "Bob@Example.com".into(),
            manager: String::new(),
            active: true,
            role: String::new(),
            user_type: String::new(),
            profile: String::new(),
            created_at: None,
        });
        let plan = w.plan(&rows).unwrap();
        let owners: Vec<UserId> = plan.new_deals.iter().map(|d| d.fields.owner_id).collect();
        assert_eq!(owners, [w.users[0].id, bob.id, bob.id]);
        assert_eq!(plan.user_links, [("005B".to_string(), bob.id)]);
        assert!(
            plan.new_users.is_empty(),
            "without create_users nobody is created"
        );
    }

    #[test]
    fn an_owner_that_is_nobody_here_is_a_bad_row_saying_what_to_do() {
        let w = World::new(r#"{"owners":{"Zed":"zed@example.com"}}"#);
        let mut rows = book(
            vec![
                deal("1", "problem-recognized", 2),
                deal("2", "problem-recognized", 3),
            ],
            vec![],
        );
        rows.deals[0].owner = "cat@example.com".into();
        rows.deals[1].owner = "Zed".into();
        assert_eq!(
            errors(w.plan(&rows)),
            [
                "Opportunity.csv:2: OwnerId: \"cat@example.com\" is not the e-mail of a user here: create the user, or map the e-mail in \"owners\"",
                "Opportunity.csv:3: OwnerId: \"Zed\" is mapped to zed@example.com, who is not a user here (create them first)",
            ]
        );
    }

    #[test]
    fn create_users_builds_the_reporting_tree_managers_first() {
        let w = World::new(r#"{"create_users":true}"#);
        let person = |id: &str, manager: &str, line| SourceUser {
            at: Location::line("User.csv", line),
            external_id: id.into(),
            name: format!("Person {id}"),
            email: format!("{id}@example.com"),
            manager: manager.into(),
            active: true,
            role: String::new(),
            user_type: String::new(),
            profile: String::new(),
            created_at: None,
        };
        let mut rows = book(vec![deal("1", "problem-recognized", 2)], vec![]);
        rows.deals[0].owner = "rep".into();
        rows.users = vec![
            person("rep", "mgr", 2),
            person("mgr", "vp", 3),
            person("vp", "", 4),
            person("solo", "", 5),
        ];
        let plan = w.plan(&rows).unwrap();
        let created: Vec<(&str, Role)> = plan
            .new_users
            .iter()
            .map(|u| (u.profile.email.as_str(), u.profile.role))
            .collect();
        assert_eq!(
            created,
            [
                ("vp@example.com", Role::Leader),
                ("solo@example.com", Role::Rep),
                ("mgr@example.com", Role::Manager),
                ("rep@example.com", Role::Rep),
            ]
        );
        let id = |email: &str| {
            plan.new_users
                .iter()
                .find(|u| u.profile.email == email)
                .unwrap()
                .id
        };
        assert_eq!(
            plan.new_users[3].profile.manager_id,
            Some(id("mgr@example.com"))
        );
        assert_eq!(
            plan.new_users[2].profile.manager_id,
            Some(id("vp@example.com"))
        );
        assert_eq!(plan.new_deals[0].fields.owner_id, id("rep@example.com"));
        assert_eq!(plan.user_links.len(), 4);
    }

    #[test]
    fn a_reporting_loop_in_the_user_file_is_refused() {
        let w = World::new(r#"{"create_users":true}"#);
        let person = |id: &str, manager: &str, line| SourceUser {
            at: Location::line("User.csv", line),
            external_id: id.into(),
            name: format!("Person {id}"),
            email: format!("{id}@example.com"),
            manager: manager.into(),
            active: true,
            role: String::new(),
            user_type: String::new(),
            profile: String::new(),
            created_at: None,
        };
        let mut rows = book(vec![deal("1", "problem-recognized", 2)], vec![]);
        rows.users = vec![person("a", "b", 2), person("b", "a", 3)];
        let found = errors(w.plan(&rows));
        assert_eq!(
            found,
            [
                "User.csv:2: ManagerId: closes a loop in the reporting tree",
                "User.csv:3: ManagerId: closes a loop in the reporting tree",
            ]
        );
    }

    #[test]
    fn deals_of_other_source_pipelines_are_skipped_with_their_history() {
        let w = World::new(r#"{"source_pipelines":["Sales"]}"#);
        let mut other = deal("2", "problem-recognized", 3);
        other.source_pipeline = "Renewals".into();
        let mut sales = deal("1", "problem-recognized", 2);
        sales.source_pipeline = "sales".into();
        let plan = w
            .plan(&book(
                vec![sales, other],
                vec![change("2", "problem-recognized", "2026-01-10T09:00:00Z", 2)],
            ))
            .unwrap();
        assert_eq!(plan.new_deals.len(), 1);
        assert_eq!(plan.rows_skipped, 2);
    }
}
