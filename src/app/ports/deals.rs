//! The deals' port: deals, their stage and field history, listings and the deal event log.

use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};

use super::{AuditEntry, Created, IdempotentWrite};
use crate::app::AppResult;
use crate::domain::deal::{Deal, DealStatus, ForecastCategory, StageHistoryEntry};
use crate::domain::deal_history::FieldHistoryEntry;
use crate::domain::directory::UserId;
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::money::Money;

/// Storage of deals and their stage history.
pub trait DealStore: Send + Sync + 'static {
    /// The user's managers upwards (their manager first), as far as the tree goes.
    fn reporting_chain(&self, user: UserId) -> impl Future<Output = AppResult<Vec<UserId>>> + Send;

    /// The user and everyone below them in the reporting tree.
    fn subtree(&self, user: UserId) -> impl Future<Output = AppResult<Vec<UserId>>> + Send;

    /// Inserts a deal with its first history row.
    fn insert_deal(
        &self,
        deal: &Deal,
        history: &StageHistoryEntry,
        events: Vec<DealEventDraft>,
        audit: Vec<AuditEntry>,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// Appends deal events no change of this store made, in the order given, with the audit
    /// row: the recent history of a book stored in bulk (the demo's), so that event readers
    /// see it too.
    fn append_history_events(
        &self,
        events: Vec<DealEventDraft>,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<()>> + Send;

    /// One deal.
    fn get_deal(&self, id: DealId) -> impl Future<Output = AppResult<Option<Deal>>> + Send;

    /// What routing an approval reads of a deal (owner, pipeline, amount), in one query: a
    /// route preview needs neither contacts nor qualification, and reads it fresh every time.
    fn get_deal_routing(
        &self,
        id: DealId,
    ) -> impl Future<Output = AppResult<Option<DealRouting>>> + Send;

    /// A page of deals.
    fn list_deals(
        &self,
        filter: &DealFilter,
        order: DealOrder,
        descending: bool,
        after: Option<&DealCursor>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<Deal>>> + Send;

    /// Replaces `previous` (the deal as the caller read it) by `deal` (`deal.version` is the new
    /// version) if the stored version is still `previous.version` (else ABORTED), appending
    /// `history` when the stage changed, and a field-history row for every tracked field that
    /// differs (at `deal.updated_at`, by the first audit row's actor), in the same transaction. Contacts and qualification items are rewritten only
    /// when they differ from `previous`'s: the versioned update proves nothing changed them
    /// since (a stage move rewrote four child statements for nothing).
    fn save_deal(
        &self,
        deal: &Deal,
        previous: &Deal,
        history: Option<&StageHistoryEntry>,
        events: Vec<DealEventDraft>,
        audit: Vec<AuditEntry>,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// Deal events after sequence number `after` matching `filter`, oldest first, at most
    /// `limit`. Events are numbered in commit order (see the persistence's sequencer), so a
    /// reader resuming after the last number it saw misses nothing.
    fn deal_events(
        &self,
        after: i64,
        filter: &DealEventFilter,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<DealEventRecord>>> + Send;

    /// Stores many deals with their stage and field history in bulk, in one transaction
    /// (generators, imports): no per-row audit, one audit row for the batch.
    fn insert_book(
        &self,
        deals: &[Deal],
        history: &[StageHistoryEntry],
        fields: &[FieldHistoryEntry],
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<()>> + Send;

    /// A page of a deal's field history in history order (time, then write order), after the
    /// row at (time, sequence) `after`.
    fn list_field_history(
        &self,
        deal: DealId,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<FieldHistoryEntry>>> + Send;

    /// A deal's history in order, after sequence `after`.
    fn list_stage_history(
        &self,
        deal: DealId,
        after: Option<i64>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<StageHistoryEntry>>> + Send;
}

/// The columns of a deal an approval route depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealRouting {
    /// Who owns the deal (decides who may see it, and the route's manager steps).
    pub owner_id: UserId,
    /// Its pipeline, whose segment picks the policy.
    pub pipeline_id: PipelineId,
    /// Its amount, against the policy's size thresholds.
    pub amount: Option<Money>,
}

/// Filters of a deal listing; `owners` is the caller's visibility (already intersected with
/// any owner filter), `None` meaning every owner.
#[derive(Debug, Clone, Default)]
pub struct DealFilter {
    /// Only deals of these owners.
    pub owners: Option<Vec<UserId>>,
    /// Only this pipeline.
    pub pipeline: Option<PipelineId>,
    /// Only this stage.
    pub stage: Option<String>,
    /// Only this category.
    pub category: Option<ForecastCategory>,
    /// Only this status.
    pub status: Option<DealStatus>,
    /// Close date on or after.
    pub close_from: Option<NaiveDate>,
    /// Close date on or before.
    pub close_to: Option<NaiveDate>,
    /// Name or account contains this (lower-cased) text.
    pub query: Option<String>,
}

/// The sort of a deal listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealOrder {
    /// Creation order (by id).
    CreateTime,
    /// Last change.
    UpdateTime,
    /// Expected close date, deals without one last.
    CloseDate,
    /// Amount, deals without one last.
    Amount,
}

/// Where a page of deals starts: after the deal with this sort value and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DealCursor {
    /// After this id.
    CreateTime(DealId),
    /// After this (update time, id).
    UpdateTime(DateTime<Utc>, DealId),
    /// After this (close date or its stand-in for none, id).
    CloseDate(NaiveDate, DealId),
    /// After this (amount or its stand-in for none, id).
    Amount(i64, DealId),
}

/// Stand-ins that sort deals without a close date or amount last, whichever the direction
/// (the storage sorts by them, and a [`DealCursor`] carries them).
/// Dates stay within every engine's range and four-digit years, so SQLite's text dates and
/// PostgreSQL's `date` order them alike.
pub const NO_CLOSE_DATE_ASC: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(date) => date,
    None => NaiveDate::MAX,
};
/// See [`NO_CLOSE_DATE_ASC`].
pub const NO_CLOSE_DATE_DESC: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(date) => date,
    None => NaiveDate::MIN,
};
/// See [`NO_CLOSE_DATE_ASC`].
pub const NO_AMOUNT_ASC: i64 = i64::MAX;
/// See [`NO_CLOSE_DATE_ASC`].
pub const NO_AMOUNT_DESC: i64 = -1;

/// What happened to a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealEventKind {
    /// Created.
    Created,
    /// Fields changed.
    Updated,
    /// Moved to another open stage.
    StageMoved,
    /// Its forecast category changed.
    CategoryChanged,
    /// Closed won or lost.
    Closed,
    /// A move passed unmet exit criteria on a manager's justification.
    GateOverridden,
}

/// A deal event to append with a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealEventDraft {
    /// What happened.
    pub kind: DealEventKind,
    /// The deal it is about.
    pub deal_id: DealId,
    /// The deal's pipeline (watchers filter by it).
    pub pipeline_id: PipelineId,
    /// Its owner after the change.
    pub owner_id: UserId,
    /// Who did it.
    pub actor: Option<UserId>,
    /// The stage before (moves).
    pub from_stage: String,
    /// The stage after.
    pub to_stage: String,
    /// Forward, backward or close, for moves.
    pub direction: Option<crate::domain::deal::HistoryDirection>,
    /// The fields changed (updates).
    pub fields: Vec<String>,
    /// In words.
    pub description: String,
}

/// A stored deal event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealEventRecord {
    /// Its number in commit order.
    pub seq: i64,
    /// What happened, as the change appended it.
    pub event: DealEventDraft,
    /// When it was appended.
    pub created_at: DateTime<Utc>,
}

/// Which deal events a watcher receives (all set filters must match).
#[derive(Debug, Clone, Default)]
pub struct DealEventFilter {
    /// One pipeline.
    pub pipeline: Option<PipelineId>,
    /// Deals owned by any of these users.
    pub owners: Option<Vec<UserId>>,
    /// One deal.
    pub deal: Option<DealId>,
}
