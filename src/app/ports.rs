//! The ports: what the use cases need from storage. `persistence::SqlStore` implements them on
//! SQLite and PostgreSQL; every write method is one transaction that also appends its audit row
//! (and, for creates, its idempotency record).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::error::AppResult;
use crate::domain::approval::PolicyVersion;
use crate::domain::approval_request::{ApprovalRequest, Delegation, RequestState};
use crate::domain::call::CallEvent;
use crate::domain::deal::{Deal, DealStatus, ForecastCategory, LeadSource, StageHistoryEntry};
use crate::domain::deal_history::FieldHistoryEntry;
use crate::domain::directory::{ApiToken, ReportingTree, Role, User, UserId, UserProfile};
use crate::domain::forecast::ForecastSnapshot;
use crate::domain::money::{Currency, ExchangeRate, Money};
use crate::domain::paging::RequestId;
use crate::domain::period_rate::DealTimeline;
use crate::domain::pipeline::{Pipeline, Segment};
use crate::domain::pipeline_metrics::Bucket;
use crate::domain::winrate::WinRateSnapshot;
use crate::import::{ExistingDeal, ImportPlan};

/// The columns of a deal an approval route depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealRouting {
    /// Who owns the deal (decides who may see it, and the route's manager steps).
    pub owner_id: UserId,
    /// Its pipeline, whose segment picks the policy.
    pub pipeline_id: Uuid,
    /// Its amount, against the policy's size thresholds.
    pub amount: Option<Money>,
}

/// One line of the audit trail, written in the same transaction as the change it records.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Who did it; `None` for the operator's CLI (bootstrap, demo).
    pub actor: Option<UserId>,
    /// What was done (`CreateUser`, `RevokeApiToken`).
    pub action: &'static str,
    /// The resource changed (`users/...`).
    pub resource: String,
    /// Extra words worth keeping (the fields changed, a justification).
    pub detail: String,
    /// The one field this row records the change of, if it records one.
    pub change: Option<FieldChange>,
}

/// A field's value before and after a write, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The field (`forecast_category`).
    pub field: String,
    /// Its value before.
    pub old: String,
    /// Its value after.
    pub new: String,
}

/// Identifies one create by one caller, so its retry is recognised.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The caller; `None` for the CLI.
    pub actor: Option<UserId>,
    /// The RPC (`CreateUser`): the same id may be reused across RPCs.
    pub method: &'static str,
    /// The caller's request id.
    pub request_id: RequestId,
    /// Hash of the whole request, to refuse reuse of an id for a different request.
    pub fingerprint: String,
}

/// A key with the encoded answer to save with it.
#[derive(Debug, Clone)]
pub struct IdempotentWrite {
    /// The key.
    pub key: IdempotencyKey,
    /// The answer as sent the first time.
    pub response: Vec<u8>,
}

/// What an idempotent create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    /// Created now.
    New(T),
    /// A retry: the first answer, as it was encoded then.
    Replayed(Vec<u8>),
}

/// What a change notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Rows were appended to the deal event log.
    DealEvents,
    /// Rows were appended to the approval event log.
    ApprovalEvents,
    /// A token was revoked or a user changed (role, manager, active): what open streams may
    /// see must be checked again.
    Directory,
}

/// The change notifier: one per process, shared by every clone of the store. A subscriber's
/// receiver is marked changed whenever its topic may have changed: after a commit in this
/// process, on a notification from another process (PostgreSQL), or when the slow poll that
/// backs both up finds something new. A notification may be spurious, never missing: a woken
/// reader still reads "after" what it saw.
pub trait ChangeNotifier: Send + Sync + 'static {
    /// A receiver marked changed at every notification of `topic` from now on.
    fn subscribe(&self, topic: Topic) -> tokio::sync::watch::Receiver<u64>;
}

/// A token with the user it authenticates as.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    /// The token.
    pub token: ApiToken,
    /// Its user.
    pub user: User,
}

/// Filters of a user listing.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserFilter {
    /// Only direct reports of this manager.
    pub manager: Option<UserId>,
    /// Only this role.
    pub role: Option<Role>,
}

/// Storage of principals and tokens.
pub trait DirectoryStore: Send + Sync + 'static {
    /// The token with this secret hash and its user, if any (revoked or not).
    fn find_token_owner(
        &self,
        secret_hash: &str,
    ) -> impl Future<Output = AppResult<Option<TokenOwner>>> + Send;

    /// The saved answer for this key, if a create with it was done. A key reused for a different
    /// request is INVALID_ARGUMENT.
    fn find_idempotent(
        &self,
        key: &IdempotencyKey,
    ) -> impl Future<Output = AppResult<Option<Vec<u8>>>> + Send;

    /// Inserts a user (email taken -> ALREADY_EXISTS; manager missing -> INVALID_ARGUMENT).
    fn insert_user(
        &self,
        user: &User,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// One user.
    fn get_user(&self, id: UserId) -> impl Future<Output = AppResult<Option<User>>> + Send;

    /// The user with this (lower-case) e-mail.
    fn find_user_by_email(
        &self,
        email: &str,
    ) -> impl Future<Output = AppResult<Option<User>>> + Send;

    /// Users in id order after `after`, at most `limit`.
    fn list_users(
        &self,
        filter: UserFilter,
        after: Option<UserId>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<User>>> + Send;

    /// Replaces a user's profile if its version is still `expected_version`, refusing a manager
    /// that would close a cycle in the reporting tree. Returns the stored user.
    fn update_user(
        &self,
        id: UserId,
        expected_version: i64,
        profile: UserProfile,
        at: DateTime<Utc>,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<User>> + Send;

    /// Inserts a token.
    fn insert_token(
        &self,
        token: &ApiToken,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<()>> + Send;

    /// A user's tokens in id order after `after`, at most `limit`.
    fn list_tokens(
        &self,
        user: UserId,
        after: Option<Uuid>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<ApiToken>>> + Send;

    /// Marks a token revoked at `at`, if it is not already (then FAILED_PRECONDITION).
    fn revoke_token(
        &self,
        user: UserId,
        token: Uuid,
        at: DateTime<Utc>,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<ApiToken>> + Send;
}

/// Storage of pipelines and their stages.
pub trait PipelineStore: Send + Sync + 'static {
    /// Inserts a pipeline with its stages and criteria.
    fn insert_pipeline(
        &self,
        pipeline: &Pipeline,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// One pipeline with its stages.
    fn get_pipeline(
        &self,
        id: Uuid,
    ) -> impl Future<Output = AppResult<Option<Arc<Pipeline>>>> + Send;

    /// Pipelines in id order after `after`, at most `limit`.
    fn list_pipelines(
        &self,
        segment: Option<Segment>,
        after: Option<Uuid>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<Pipeline>>> + Send;

    /// Replaces a pipeline (its `version` is the new one) if the stored version is still
    /// `expected_version`.
    fn update_pipeline(
        &self,
        pipeline: &Pipeline,
        expected_version: i64,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<()>> + Send;
}

/// Filters of a deal listing; `owners` is the caller's visibility (already intersected with
/// any owner filter), `None` meaning every owner.
#[derive(Debug, Clone, Default)]
pub struct DealFilter {
    /// Only deals of these owners.
    pub owners: Option<Vec<UserId>>,
    /// Only this pipeline.
    pub pipeline: Option<Uuid>,
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
    CreateTime(Uuid),
    /// After this (update time, id).
    UpdateTime(DateTime<Utc>, Uuid),
    /// After this (close date or its stand-in for none, id).
    CloseDate(NaiveDate, Uuid),
    /// After this (amount or its stand-in for none, id).
    Amount(i64, Uuid),
}

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

    /// One deal.
    fn get_deal(&self, id: Uuid) -> impl Future<Output = AppResult<Option<Deal>>> + Send;

    /// What routing an approval reads of a deal (owner, pipeline, amount), in one query: a
    /// route preview needs neither contacts nor qualification, and reads it fresh every time.
    fn get_deal_routing(
        &self,
        id: Uuid,
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
        deal: Uuid,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<FieldHistoryEntry>>> + Send;

    /// A deal's history in order, after sequence `after`.
    fn list_stage_history(
        &self,
        deal: Uuid,
        after: Option<i64>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<StageHistoryEntry>>> + Send;
}

/// How a win-rate cohort query splits its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CohortSplit {
    /// No split: pipeline-wide.
    None,
    /// By the deal's lead source.
    LeadSource,
    /// By the owner's manager.
    Team,
}

/// Counted deals of one (segment, stage, outcome, currency) group of a win-rate cohort.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortRow {
    /// The segment value (empty when not split, or for deals without one).
    pub segment: String,
    /// The stage the deals were ever in.
    pub stage_id: String,
    /// Whether these deals closed won.
    pub won: bool,
    /// Their currency (`None` for deals without an amount).
    pub currency: Option<String>,
    /// How many deals.
    pub deals: u64,
    /// Their total amount in minor units.
    pub amount: f64,
}

/// An open deal as a forecast needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenDealRow {
    /// Owner.
    pub owner: UserId,
    /// Pipeline.
    pub pipeline: Uuid,
    /// Stage.
    pub stage: String,
    /// Category.
    pub category: ForecastCategory,
    /// Amount, if set.
    pub amount: Option<Money>,
    /// Its close-date pushes so far (changes of its close date into a later month), at most 2.
    pub pushes: u32,
}

/// How the database values each deal as it adds a forecast up: its amount converted into the
/// reporting currency ([`crate::domain::money::convert_minor`]) and weighted by its stage's win
/// rate ([`crate::domain::forecast::weigh`]), deal by deal, so that sums over any grouping of the
/// deals add up exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Valuation {
    /// The reporting currency: its amounts are taken as entered.
    pub into: Currency,
    /// Minor units of `into` per minor unit of each other currency that has a rate; a deal in
    /// any other currency is left unconverted (`None`), for the caller to name.
    pub rates: Vec<(Currency, f64)>,
    /// Each pipeline's stages with their win rates in [0, 1]; a deal in a stage not listed
    /// weighs nothing.
    pub win_rates: Vec<(Uuid, Vec<(String, f64)>)>,
    /// The period rates, when the forecast weighs deals by them: groups are then split by
    /// segment too, and each deal weighed at its segment's q as well.
    pub period: Option<PeriodValuation>,
}

/// How the database puts each open deal in a segment of the period rates and weighs it at the
/// segment's q. A deal's segment is `(band + 1) * 3 + pushes`, with `band` its size band (0 to
/// 2; -1 when its currency has no band thresholds) and `pushes` its close-date pushes so far
/// (0, 1, or 2 for two or more; kept on the deal's row): 0 to 11.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodValuation {
    /// Per pipeline, per currency, the least amounts in minor units of size bands 1 and 2.
    pub bands: Vec<(Uuid, BandThresholds)>,
    /// Per pipeline, each open stage's q per segment; a stage not listed weighs nothing.
    pub q: Vec<(Uuid, StageSegments)>,
}

/// Per currency, the least amounts in minor units of size bands 1 and 2.
pub type BandThresholds = Vec<(Currency, [i64; 2])>;

/// Per open stage, its q in each segment.
pub type StageSegments = Vec<(String, [f64; SEGMENTS])>;

/// How many segments [`PeriodValuation`] puts deals in.
pub const SEGMENTS: usize = 12;

/// The segment of a deal in size band `band` (`None`: unknown) with `pushes` pushes so far.
pub fn segment(band: Option<u8>, pushes: u32) -> usize {
    let band = band.map_or(0, |b| usize::from(b.min(2)) + 1);
    band * 3 + pushes.min(2) as usize
}

/// Revenue won in past periods from deals created after a point of each (the not-yet-created
/// term), of one owner in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRevenueRow {
    /// Owner.
    pub owner: UserId,
    /// Currency (`None`: deals without an amount).
    pub currency: Option<Currency>,
    /// Per window asked, in order: the sum of each amount converted (`None`: no rate serves the
    /// currency, or no deal).
    pub converted: Vec<Option<i64>>,
    /// Per window asked: how many deals.
    pub deals: Vec<u64>,
}

/// One past period of the not-yet-created term: deals booked in `[from, to)` and created after
/// `point` (and by the as-of instant).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CreatedAfter {
    /// First day of the period.
    pub from: NaiveDate,
    /// First day after it.
    pub to: NaiveDate,
    /// The same point of the period as the as-of instant of the forecast's.
    pub point: DateTime<Utc>,
}

/// Open deals of one stage, category and currency (and owner, or month of close), added up.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenGroupRow {
    /// Owner (`None`: the groups span owners).
    pub owner: Option<UserId>,
    /// Pipeline.
    pub pipeline: Uuid,
    /// Stage.
    pub stage: String,
    /// Category.
    pub category: ForecastCategory,
    /// Currency (`None`: deals without an amount).
    pub currency: Option<Currency>,
    /// How many deals.
    pub deals: u64,
    /// The sum of each amount squared, as entered.
    pub squares: f64,
    /// The sum of each amount cubed, as entered.
    pub cubes: f64,
    /// The sum of each amount converted (`None`: no rate serves the currency, or no amount).
    pub converted: Option<i64>,
    /// The sum of each converted amount weighed by its stage's win rate (`None` as above).
    pub weighted: Option<i64>,
    /// Their segment of the period rates, when the valuation has them.
    pub segment: Option<u8>,
    /// The sum of each converted amount weighed by its segment's q (`None` as above, or no
    /// period rates).
    pub period_weighted: Option<i64>,
}

/// Won amounts (of one owner, or of everyone) in one currency, or in all that have a rate.
#[derive(Debug, Clone, PartialEq)]
pub struct WonRow {
    /// Owner (`None`: everyone's).
    pub owner: Option<UserId>,
    /// Currency (`None`: every deal's, converted, all having a rate).
    pub currency: Option<Currency>,
    /// The sum of each amount converted (`None`: no rate serves the currency).
    pub converted: Option<i64>,
    /// How many deals.
    pub deals: u64,
}

/// Storage of win-rate snapshots, exchange rates and the aggregates forecasts read.
pub trait ForecastStore: Send + Sync + 'static {
    /// Counts the cohorts of every stage of `pipeline` over deals closed with a close (booking)
    /// date in `[from, to)`: per (segment, stage ever entered, outcome, currency), each deal
    /// counted once per stage.
    fn win_rate_cohorts(
        &self,
        pipeline: Uuid,
        from: NaiveDate,
        to: NaiveDate,
        split: CohortSplit,
    ) -> impl Future<Output = AppResult<Vec<CohortRow>>> + Send;

    /// The newest snapshot version of a pipeline.
    fn latest_win_rate_version(
        &self,
        pipeline: Uuid,
    ) -> impl Future<Output = AppResult<Option<i64>>> + Send;

    /// Stores a snapshot as its pipeline's current one (its version taken concurrently ->
    /// ABORTED).
    fn insert_win_rate_snapshot(
        &self,
        snapshot: &WinRateSnapshot,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// One snapshot.
    fn get_win_rate_snapshot(
        &self,
        pipeline: Uuid,
        version: i64,
    ) -> impl Future<Output = AppResult<Option<WinRateSnapshot>>> + Send;

    /// A pipeline's snapshots, newest first, older than `before`.
    fn list_win_rate_snapshots(
        &self,
        pipeline: Uuid,
        before: Option<i64>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<WinRateSnapshot>>> + Send;

    /// The current snapshot of every pipeline that has one.
    fn current_win_rate_snapshots(
        &self,
    ) -> impl Future<Output = AppResult<Vec<WinRateSnapshot>>> + Send;

    /// Open deals (of `owners`, or everyone) whose close date is in `[from, to)`, with their
    /// close-date pushes so far.
    fn open_deals_closing(
        &self,
        owners: Option<&[UserId]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Future<Output = AppResult<Vec<OpenDealRow>>> + Send;

    /// The not-yet-created term's past revenue: per owner (of `owners`, or everyone) and
    /// currency, for each of `windows`, the won deals booked in it and created after its point
    /// and by `as_of`, converted as `valuation` says.
    fn revenue_created_after(
        &self,
        owners: Option<&[UserId]>,
        windows: &[CreatedAfter],
        as_of: DateTime<Utc>,
        valuation: &Valuation,
    ) -> impl Future<Output = AppResult<Vec<NewRevenueRow>>> + Send;

    /// Open deals whose close date is in `[from, to)`, each valued as `valuation` says and
    /// added up in the database: for `owners`, per owner, stage, category and currency; for
    /// everyone (`None`), per stage, category and currency (and month of close), without owners.
    fn open_deal_groups(
        &self,
        owners: Option<&[UserId]>,
        from: NaiveDate,
        to: NaiveDate,
        valuation: &Valuation,
    ) -> impl Future<Output = AppResult<Vec<OpenGroupRow>>> + Send;

    /// Won amounts of deals (of `owners`, or everyone) booked (close date) in `[from, to)`, each
    /// converted as
    /// `valuation` says: `by_owner`, per owner and currency; otherwise one row over every
    /// currency, or a row per currency when one has no rate (to name it).
    fn closed_won_between(
        &self,
        owners: Option<&[UserId]>,
        by_owner: bool,
        from: NaiveDate,
        to: NaiveDate,
        valuation: &Valuation,
    ) -> impl Future<Output = AppResult<Vec<WonRow>>> + Send;

    /// Every user with their manager.
    fn reporting_tree(&self) -> impl Future<Output = AppResult<Arc<ReportingTree>>> + Send;

    /// Sets one rate of the table.
    fn set_exchange_rate(
        &self,
        rate: &ExchangeRate,
        at: DateTime<Utc>,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<()>> + Send;

    /// The table, with when each rate was set.
    fn exchange_rates(
        &self,
    ) -> impl Future<Output = AppResult<Vec<(ExchangeRate, DateTime<Utc>)>>> + Send;

    /// Appends a call event; returns it with its sequence.
    fn append_call_event(
        &self,
        event: &CallEvent,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<CallEvent>> + Send;

    /// The events about the calls of `subjects` (or everyone) for `period` created at or before
    /// `as_of`, oldest first.
    fn call_events(
        &self,
        period: &str,
        subjects: Option<&[UserId]>,
        as_of: DateTime<Utc>,
    ) -> impl Future<Output = AppResult<Vec<CallEvent>>> + Send;

    /// Stores a forecast snapshot with its calls.
    fn insert_forecast_snapshot(
        &self,
        snapshot: &ForecastSnapshot,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// The snapshots of a period and scope (`org` or a user id), oldest first.
    fn forecast_snapshots(
        &self,
        period: &str,
        scope: &str,
    ) -> impl Future<Output = AppResult<Vec<ForecastSnapshot>>> + Send;

    /// Every deal that may have been open at some instant of `[from, to)` (created before `to`,
    /// not closed before `from`), of `pipeline` or every pipeline, owned by one of `owners` now
    /// or at some time (`None`: everyone's), each with its pipeline and whole field history, so
    /// that it can be rebuilt as of any instant ([`crate::domain::deal_history::as_of`]).
    /// With `page`, only the next deals by id after its cursor, at most its limit.
    fn deal_timelines(
        &self,
        pipeline: Option<Uuid>,
        owners: Option<&[UserId]>,
        window: (DateTime<Utc>, DateTime<Utc>),
        page: Option<TimelinePage>,
    ) -> impl Future<Output = AppResult<Vec<(Uuid, DealTimeline)>>> + Send;
}

/// One page of [`ForecastStore::deal_timelines`], for reading a large pipeline in bounded memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelinePage {
    /// The last deal of the page before (`None`: from the first), in id order.
    pub after: Option<Uuid>,
    /// At most this many deals.
    pub limit: u64,
}

/// Storage of deal-desk policies.
pub trait DealDeskStore: Send + Sync + 'static {
    /// Stores a policy version (its version taken concurrently -> ABORTED).
    fn insert_policy(
        &self,
        policy: &PolicyVersion,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<()>> + Send;

    /// One version of a segment's policy, or its newest when `version` is `None`.
    fn get_policy(
        &self,
        segment: Segment,
        version: Option<i64>,
    ) -> impl Future<Output = AppResult<Option<Arc<PolicyVersion>>>> + Send;

    /// Inserts a new request with its events, closing `supersedes` (the request it resubmits,
    /// at the version read) in the same transaction. A concurrent change of `supersedes` ->
    /// ABORTED.
    fn insert_request(
        &self,
        request: &ApprovalRequest,
        supersedes: Option<(&ApprovalRequest, i64)>,
        events: Vec<EventDraft>,
        audit: Vec<AuditEntry>,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// Stores many requests in bulk, in one transaction (generators): rows and approver
    /// queues as [`DealDeskStore::insert_request`] writes them, one audit row for the batch,
    /// and no events, since the event stream tells watchers what happens from now on.
    fn insert_requests(
        &self,
        requests: &[ApprovalRequest],
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<()>> + Send;

    /// One request with its version.
    fn get_request(
        &self,
        id: Uuid,
    ) -> impl Future<Output = AppResult<Option<(ApprovalRequest, i64)>>> + Send;

    /// Saves a changed request if it is still at `version` (else ABORTED, changing nothing),
    /// with its events, audit and idempotency record.
    fn save_request(
        &self,
        request: &ApprovalRequest,
        version: i64,
        events: Vec<EventDraft>,
        audit: Vec<AuditEntry>,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// Requests, newest first, after the cursor (creation time, id).
    fn list_requests(
        &self,
        filter: RequestFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<ApprovalRequest>>> + Send;

    /// Ids of pending requests whose current step is due at or before `now`, not escalated.
    fn overdue_requests(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<Uuid>>> + Send;

    /// Every request submitted in `[from, to)`.
    fn requests_submitted(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = AppResult<Vec<ApprovalRequest>>> + Send;

    /// What the gate needs about a deal's requests: whether one is pending, and the largest
    /// discount an approved (not superseded) request covers.
    fn deal_approvals(
        &self,
        deal: Uuid,
    ) -> impl Future<Output = AppResult<(bool, Option<u32>)>> + Send;

    /// Inserts a delegation if `check` accepts it against every stored delegation overlapping
    /// its range (read in the same transaction, so two concurrent delegations cannot close a
    /// cycle together).
    fn insert_delegation(
        &self,
        delegation: &Delegation,
        check: impl FnOnce(&[Delegation]) -> AppResult<()> + Send,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// Delegations given by or to `user` (every one when `None`), newest first after the cursor.
    fn list_delegations(
        &self,
        user: Option<UserId>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<Delegation>>> + Send;

    /// The users (with their roles) who delegated to `delegate` for `day`.
    fn delegators_of(
        &self,
        delegate: UserId,
        day: NaiveDate,
    ) -> impl Future<Output = AppResult<Vec<(UserId, Role)>>> + Send;

    /// Approval events after `after` matching `filter`, oldest first, at most `limit`.
    fn approval_events(
        &self,
        after: i64,
        filter: &EventFilter,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<ApprovalEventRecord>>> + Send;
}

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
    /// The deal.
    pub deal_id: Uuid,
    /// Its pipeline.
    pub pipeline_id: Uuid,
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
    /// The event.
    pub event: DealEventDraft,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Which deal events a watcher receives (all set filters must match).
#[derive(Debug, Clone, Default)]
pub struct DealEventFilter {
    /// One pipeline.
    pub pipeline: Option<Uuid>,
    /// Deals owned by any of these users.
    pub owners: Option<Vec<UserId>>,
    /// One deal.
    pub deal: Option<Uuid>,
}

/// Which requests a listing returns.
#[derive(Debug, Clone)]
pub enum RequestFilter {
    /// The requests of a deal, optionally in one state.
    Deal(Uuid, Option<RequestState>),
    /// Pending requests whose current step waits on any of these users or role queues, not
    /// requested by `requester_not`.
    Queue {
        /// Users.
        users: Vec<UserId>,
        /// Role queues.
        roles: Vec<Role>,
        /// The caller: their own requests are not in their queue.
        requester_not: UserId,
    },
}

/// What happened to a request, as stored in the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Submitted.
    Submitted,
    /// A seat was decided.
    StepDecided,
    /// A step escalated.
    Escalated,
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
    /// Withdrawn or superseded.
    Withdrawn,
}

/// An event to append with a change.
#[derive(Debug, Clone)]
pub struct EventDraft {
    /// What happened.
    pub kind: EventKind,
    /// The request.
    pub request_id: Uuid,
    /// Its deal.
    pub deal_id: Uuid,
    /// The step (0-based), for step events.
    pub step: Option<usize>,
    /// Who did it (`None`: the server).
    pub actor: Option<UserId>,
    /// In words.
    pub description: String,
    /// Who may care: every approver and role queue of the request.
    pub audience: (Vec<UserId>, Vec<Role>),
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalEventRecord {
    /// Increasing id.
    pub id: i64,
    /// What happened.
    pub kind: EventKind,
    /// The request.
    pub request_id: Uuid,
    /// Its deal.
    pub deal_id: Uuid,
    /// The step (0-based).
    pub step: Option<usize>,
    /// Who did it.
    pub actor: Option<UserId>,
    /// In words.
    pub description: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Which events a watcher receives (all set filters must match).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Requests on which this user is an approver.
    pub approver: Option<UserId>,
    /// Requests with a step for this role queue.
    pub role: Option<Role>,
    /// This deal's requests.
    pub deal: Option<Uuid>,
}

/// Which deals and months a pipeline-metrics query covers.
#[derive(Debug, Clone)]
pub struct MetricsQuery {
    /// The pipeline.
    pub pipeline: Uuid,
    /// The month starts bounding the range: month `i` is `[boundaries[i], boundaries[i + 1])`
    /// (see `domain::pipeline_metrics::MonthRange`).
    pub boundaries: Vec<DateTime<Utc>>,
    /// The same months' first days: closed deals are counted by their booking (close) date.
    pub days: Vec<NaiveDate>,
    /// Only deals of these (current) owners; `None`: every owner.
    pub owners: Option<Vec<UserId>>,
    /// Only deals from this lead source.
    pub lead_source: Option<LeadSource>,
}

/// Entries into one open stage in one bucket (by when the deal entered).
#[derive(Debug, Clone, PartialEq)]
pub struct StageEntryRow {
    /// Month or whole range.
    pub bucket: Bucket,
    /// The stage entered.
    pub stage_id: String,
    /// Distinct deals that entered it.
    pub entered: u64,
    /// How many of them later reached a later open stage or won.
    pub advanced: u64,
}

/// Stays in one open stage that ended in one bucket (by when the deal left).
#[derive(Debug, Clone, PartialEq)]
pub struct StageExitRow {
    /// Month or whole range.
    pub bucket: Bucket,
    /// The stage left.
    pub stage_id: String,
    /// Moves out of the stage (forward, backward or closing).
    pub exits: u64,
    /// Of which to an earlier stage.
    pub backward: u64,
    /// Median days from entering to leaving.
    pub median_days: Option<f64>,
}

/// Close-date pushes recorded in one bucket (by the time of the later history row).
#[derive(Debug, Clone, PartialEq)]
pub struct PushRow {
    /// Month or whole range.
    pub bucket: Bucket,
    /// Consecutive history rows of a deal both carrying a close date: the chances to see one.
    pub compared: u64,
    /// Of which the later close date is in a later month.
    pub pushes: u64,
    /// Distinct deals pushed.
    pub pushed_deals: u64,
    /// Median days pushed (later close date minus earlier), over the pushes.
    pub median_days: Option<f64>,
}

/// The lead sources a closed-deals row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceGroup {
    /// Every deal, whatever its source.
    All,
    /// Deals of one lead source; `None`: deals with none recorded.
    One(Option<LeadSource>),
}

/// Deals closed in one bucket (by close time), of one source group.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedDealsRow {
    /// Month or whole range.
    pub bucket: Bucket,
    /// Which sources.
    pub sources: SourceGroup,
    /// Closed won.
    pub won: u64,
    /// Closed lost.
    pub lost: u64,
    /// Median days from creation to closing won, over the won deals.
    pub median_cycle_days: Option<f64>,
}

/// An open deal that has sat in its stage past the stage's threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct StaleDealRow {
    /// The deal.
    pub deal: Uuid,
    /// Its name.
    pub display_name: String,
    /// Its owner.
    pub owner: UserId,
    /// Its stage.
    pub stage_id: String,
    /// When it entered the stage.
    pub stage_entered_at: DateTime<Utc>,
}

/// The aggregates pipeline metrics read: every one runs in the database over the deals of the
/// query, grouped per month and for the whole range.
pub trait PipelineMetricsStore: Send + Sync + 'static {
    /// Entries into open stages, with how many advanced later.
    fn stage_entries(
        &self,
        query: &MetricsQuery,
    ) -> impl Future<Output = AppResult<Vec<StageEntryRow>>> + Send;

    /// Completed stays in open stages: exits, backward moves and median days.
    fn stage_exits(
        &self,
        query: &MetricsQuery,
    ) -> impl Future<Output = AppResult<Vec<StageExitRow>>> + Send;

    /// Close-date pushes between consecutive history rows.
    fn close_date_pushes(
        &self,
        query: &MetricsQuery,
    ) -> impl Future<Output = AppResult<Vec<PushRow>>> + Send;

    /// Deals closed in the range, per source group.
    fn closed_deals(
        &self,
        query: &MetricsQuery,
    ) -> impl Future<Output = AppResult<Vec<ClosedDealsRow>>> + Send;

    /// Open deals of the query (its months aside) that entered their stage before the stage's
    /// cutoff, longest in stage first, at most `limit`, with how many there are in all.
    fn stale_deals(
        &self,
        query: &MetricsQuery,
        cutoffs: &[(String, DateTime<Utc>)],
        limit: u64,
    ) -> impl Future<Output = AppResult<(Vec<StaleDealRow>, u64)>> + Send;
}

/// Storage of imports: where imported deals and users came from, and the import's writes.
pub trait ImportStore: Send + Sync + 'static {
    /// The deals imported earlier from `source` under any of these external ids, by external
    /// id, each with its newest stage history row.
    fn imported_deals(
        &self,
        source: &str,
        external_ids: &[String],
    ) -> impl Future<Output = AppResult<HashMap<String, ExistingDeal>>> + Send;

    /// The users linked to the user ids of `source`.
    fn imported_users(
        &self,
        source: &str,
    ) -> impl Future<Output = AppResult<HashMap<String, UserId>>> + Send;

    /// Writes a plan in one transaction with its audit rows: new users (managers first),
    /// changed users and changed deals (each only if still at the version planned on, else
    /// ABORTED and nothing is written), links, new deals, stage history.
    /// `progress(done, total)` follows the deals.
    fn apply_import(
        &self,
        plan: &ImportPlan,
        audits: Vec<AuditEntry>,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> impl Future<Output = AppResult<()>> + Send;
}

/// Everything the application stores.
pub trait Store:
    DirectoryStore
    + PipelineStore
    + DealStore
    + ForecastStore
    + DealDeskStore
    + PipelineMetricsStore
    + ImportStore
    + ChangeNotifier
    + Clone
{
    /// Whether the database answers (for health).
    fn ping(&self) -> impl Future<Output = bool> + Send;

    /// The pool's connections and the approval gauges, for the operations metrics.
    fn operations_gauges(
        &self,
    ) -> impl Future<Output = AppResult<crate::metrics::StoreGauges>> + Send;
}
