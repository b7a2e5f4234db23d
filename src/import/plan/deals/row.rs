//! Checking a source deal: its own row (id, texts, stage, owner, currency, amount, category,
//! the source's closed and won flags) and its history rows, each problem reported with its
//! column.

use super::{DealPlanner, DealRow};
use crate::domain::deal::ForecastCategory;
use crate::domain::directory::UserId;
use crate::domain::money::{Currency, Money};
use crate::domain::pipeline::{Stage, StageKind};
use crate::domain::text::{AccountName, DisplayName, TextError};
use crate::import::plan::history::Step;
use crate::import::plan::owners::Unresolved;
use crate::import::report::{Tally, why};
use crate::import::values::Amount;
use crate::import::{Location, RowError, SourceDeal, SourceFormat, SourceStageChange};

/// Longest external id kept.
const MAX_EXTERNAL_ID: usize = 255;

impl<'a> DealPlanner<'a> {
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
    pub(super) fn check_row(
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
        let name = text_errors::<DisplayName>(&d.at, cols.name, &d.name, errors);
        let account = text_errors::<AccountName>(&d.at, cols.account, &d.account, errors);
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
            name,
            account,
            current,
            owner,
            currency,
            amount,
            category,
            existing,
        }
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

    /// The deal's history rows, mapped and checked; a row without the amount or close date of
    /// its time gets the deal's current one.
    pub(super) fn steps(
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

/// `value` as a `T`, or none and why reported under `column`.
fn text_errors<T: TryFrom<String, Error = TextError>>(
    at: &Location,
    column: &str,
    value: &str,
    errors: &mut Vec<RowError>,
) -> Option<T> {
    T::try_from(value.to_string())
        .map_err(|why| errors.push(RowError::new(at, column, why.to_string())))
        .ok()
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
