//! The pipeline metrics' port: the aggregates over stage history that the database computes.

use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};

use crate::app::AppResult;
use crate::domain::deal::LeadSource;
use crate::domain::directory::UserId;
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::pipeline_metrics::Bucket;

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

/// Which deals and months a pipeline-metrics query covers.
#[derive(Debug, Clone)]
pub struct MetricsQuery {
    /// The pipeline whose deals are counted.
    pub pipeline: PipelineId,
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
    /// The stale deal.
    pub deal: DealId,
    /// Its display name, so a listing needs no read per deal.
    pub display_name: String,
    /// Who owns it now.
    pub owner: UserId,
    /// The open stage it sits in.
    pub stage_id: String,
    /// When it entered the stage.
    pub stage_entered_at: DateTime<Utc>,
}
