//! The forecasts' port: win-rate cohorts and snapshots, exchange rates, calls, forecast
//! snapshots, and the aggregates a forecast adds up in the database.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::{AuditEntry, Created, IdempotentWrite};
use crate::app::AppResult;
use crate::domain::call::CallEvent;
use crate::domain::deal::ForecastCategory;
use crate::domain::directory::{ReportingTree, UserId};
use crate::domain::forecast::ForecastSnapshot;
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::money::{Currency, ExchangeRate, Money};
use crate::domain::period_rate::DealTimeline;
use crate::domain::winrate::WinRateSnapshot;

/// Storage of win-rate snapshots, exchange rates and the aggregates forecasts read.
pub trait ForecastStore: Send + Sync + 'static {
    /// Counts the cohorts of every stage of `pipeline` over deals closed with a close (booking)
    /// date in `[from, to)`: per (segment, stage ever entered, outcome, currency), each deal
    /// counted once per stage.
    fn win_rate_cohorts(
        &self,
        pipeline: PipelineId,
        from: NaiveDate,
        to: NaiveDate,
        split: CohortSplit,
    ) -> impl Future<Output = AppResult<Vec<CohortRow>>> + Send;

    /// The newest snapshot version of a pipeline.
    fn latest_win_rate_version(
        &self,
        pipeline: PipelineId,
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
        pipeline: PipelineId,
        version: i64,
    ) -> impl Future<Output = AppResult<Option<WinRateSnapshot>>> + Send;

    /// A pipeline's snapshots, newest first, older than `before`.
    fn list_win_rate_snapshots(
        &self,
        pipeline: PipelineId,
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
    /// added up (in the database, or as it would: SQLite values the org's here): for `owners`,
    /// per owner, stage, category and currency; for everyone (`None`), per stage, category and
    /// currency, without owners; by segment too when `valuation` has period rates.
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
        pipeline: Option<PipelineId>,
        owners: Option<&[UserId]>,
        window: (DateTime<Utc>, DateTime<Utc>),
        page: Option<TimelinePage>,
    ) -> impl Future<Output = AppResult<Vec<(PipelineId, DealTimeline)>>> + Send;
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
    /// Who owns the deal now.
    pub owner: UserId,
    /// The pipeline the deals are in.
    pub pipeline: PipelineId,
    /// The stage the deals are in.
    pub stage: String,
    /// The forecast category their owners gave them.
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
    pub win_rates: Vec<(PipelineId, Vec<(String, f64)>)>,
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
    pub bands: Vec<(PipelineId, BandThresholds)>,
    /// Per pipeline, each open stage's q per segment; a stage not listed weighs nothing.
    pub q: Vec<(PipelineId, StageSegments)>,
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
    /// Who owns the deal now.
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
    /// Who owns the deals (`None`: the groups span owners).
    pub owner: Option<UserId>,
    /// The pipeline the deals are in.
    pub pipeline: PipelineId,
    /// The stage the deals are in.
    pub stage: String,
    /// The forecast category their owners gave them.
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
    /// period rates in the valuation: then each deal's period weight is its `weighted`, not
    /// computed twice).
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

/// One page of [`ForecastStore::deal_timelines`], for reading a large pipeline in bounded memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelinePage {
    /// The last deal of the page before (`None`: from the first), in id order.
    pub after: Option<DealId>,
    /// At most this many deals.
    pub limit: u64,
}
