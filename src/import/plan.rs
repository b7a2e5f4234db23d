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
//!
//! Where each step lives: owners found in [`owners`], the User file's users in [`users`], the
//! history rebuilt in [`history`], the deals planned in [`deals`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};

mod columns;
mod deals;
mod history;
mod owners;
mod users;

pub use history::direction;
pub use users::UserChange;

use super::mapping::Mapping;
use super::report::Tally;
use super::roles::ManagerChoice;
use super::{Location, RowError, SourceBook};
use crate::domain::deal::{Deal, StageHistoryEntry};
use crate::domain::deal_history::FieldHistoryEntry;
use crate::domain::directory::{User, UserId};
use crate::domain::ids::DealId;
use crate::domain::pipeline::Pipeline;
use owners::Owners;

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
    pub deal_links: Vec<(String, DealId)>,
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
    let mut owners = Owners::new(ctx, book.format);
    users::plan_users(book, ctx, &mut owners, &mut out, &mut errors);
    deals::plan_deals(book, ctx, &owners, &mut out, &mut errors);
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

#[cfg(test)]
pub(crate) mod tests;
