//! Pipeline metrics: conversion, days in stage, backward moves, close-date pushes, sales cycles
//! and win rates by lead source of one pipeline over a month range, and its stale deals, over
//! the deals the caller may see (visibility as for forecasts).

use crate::domain::Problem;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::forecast::Scope;
use super::names::user_name;
use super::ports::{
    ClosedDealsRow, MetricsQuery, PushRow, SourceGroup, StageEntryRow, StageExitRow, StaleDealRow,
    Store,
};
use super::{App, AppError, AppResult, Principal};
use crate::domain::deal::LeadSource;
use crate::domain::directory::{Role, UserId};
use crate::domain::ids::PipelineId;
use crate::domain::pipeline::{Pipeline, Segment, StageKind};
use crate::domain::pipeline_metrics::{
    Bucket, MonthRange, StaleThreshold, share, stale_history_window, stale_threshold,
};

/// Default number of stale deals listed.
pub const DEFAULT_STALE_DEALS: u64 = 50;
/// Most stale deals listed; larger requests are lowered to it.
pub const MAX_STALE_DEALS: u64 = 500;

/// What to compute metrics over.
#[derive(Debug, Clone)]
pub struct MetricsRequest {
    /// The pipeline measured.
    pub pipeline: PipelineId,
    /// The months measured, each a bucket.
    pub range: MonthRange,
    /// Whose deals; `None`: the caller's own view (everyone for deal desk, finance, legal and
    /// admins; their subtree for everyone else).
    pub scope: Option<Scope>,
    /// Only this one owner's deals (within the scope).
    pub owner: Option<UserId>,
    /// Only deals from this lead source.
    pub lead_source: Option<LeadSource>,
    /// Only if the pipeline serves this segment.
    pub segment: Option<Segment>,
    /// Overrides every stage's staleness threshold.
    pub stale_after_days: Option<u32>,
    /// Most stale deals to list.
    pub max_stale_deals: u64,
}

/// One open stage's figures in one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct StageMetrics {
    /// The open stage these figures are about.
    pub stage_id: String,
    /// Distinct deals that entered it (bucketed by entry).
    pub entered: u64,
    /// Of which later reached a later open stage or won.
    pub advanced: u64,
    /// Moves out of it (bucketed by exit).
    pub exits: u64,
    /// Of which to an earlier stage.
    pub backward: u64,
    /// Median days of the stays that ended (bucketed by exit).
    pub median_days: Option<f64>,
}

impl StageMetrics {
    /// advanced / entered.
    pub fn conversion(&self) -> Option<f64> {
        share(self.advanced, self.entered)
    }

    /// backward / exits.
    pub fn backward_rate(&self) -> Option<f64> {
        share(self.backward, self.exits)
    }
}

/// Won and lost deals of one lead source (`None`: not recorded) closed in one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceOutcome {
    /// Where the deals came from (`None`: not recorded).
    pub lead_source: Option<LeadSource>,
    /// Closed won.
    pub won: u64,
    /// Closed lost.
    pub lost: u64,
    /// Median days created -> closed won.
    pub median_cycle_days: Option<f64>,
}

impl SourceOutcome {
    /// won / (won + lost).
    pub fn win_rate(&self) -> Option<f64> {
        share(self.won, self.won + self.lost)
    }
}

/// Everything measured in one month, or over the whole range.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodMetrics {
    /// Every open stage, in pipeline order.
    pub stages: Vec<StageMetrics>,
    /// Close-date pushes (`bucket` is this period's).
    pub pushes: PushRow,
    /// All closed deals (`lead_source` unused: every source).
    pub closed: SourceOutcome,
    /// Per lead source with closed deals, in the enum's order, not recorded last.
    pub by_lead_source: Vec<SourceOutcome>,
}

/// An open deal in its stage past the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct StaleDeal {
    /// The deal as stored.
    pub deal: StaleDealRow,
    /// Days in its stage now.
    pub days_in_stage: f64,
    /// Its stage's threshold.
    pub threshold: StaleThreshold,
}

/// A pipeline's metrics.
#[derive(Debug, Clone)]
pub struct PipelineMetrics {
    /// The pipeline.
    pub pipeline: Arc<Pipeline>,
    /// The months.
    pub range: MonthRange,
    /// One per month, in order.
    pub months: Vec<PeriodMetrics>,
    /// The whole range.
    pub total: PeriodMetrics,
    /// Each open stage's staleness threshold, in pipeline order (`None`: no threshold).
    pub thresholds: Vec<(String, Option<StaleThreshold>)>,
    /// The stalest deals, longest in stage first, at most as many as asked.
    pub stale_deals: Vec<StaleDeal>,
    /// How many deals are stale in all.
    pub stale_deal_count: u64,
    /// The moment staleness was judged at.
    pub computed_at: DateTime<Utc>,
}

/// The rows of the store's aggregates, keyed for assembly.
#[derive(Default)]
struct Aggregates {
    entries: HashMap<(Bucket, String), StageEntryRow>,
    exits: HashMap<(Bucket, String), StageExitRow>,
    pushes: HashMap<Bucket, PushRow>,
    closed: HashMap<(Bucket, SourceGroup), ClosedDealsRow>,
}

impl Aggregates {
    fn period(&self, pipeline: &Pipeline, bucket: Bucket) -> PeriodMetrics {
        let stages = open_stages(pipeline)
            .map(|stage_id| {
                let key = (bucket, stage_id.to_string());
                let entry = self.entries.get(&key);
                let exit = self.exits.get(&key);
                StageMetrics {
                    stage_id: stage_id.to_string(),
                    entered: entry.map_or(0, |e| e.entered),
                    advanced: entry.map_or(0, |e| e.advanced),
                    exits: exit.map_or(0, |e| e.exits),
                    backward: exit.map_or(0, |e| e.backward),
                    median_days: exit.and_then(|e| e.median_days),
                }
            })
            .collect();
        let pushes = self.pushes.get(&bucket).cloned().unwrap_or(PushRow {
            bucket,
            compared: 0,
            pushes: 0,
            pushed_deals: 0,
            median_days: None,
        });
        let outcome = |sources: SourceGroup| {
            let row = self.closed.get(&(bucket, sources));
            SourceOutcome {
                lead_source: match sources {
                    SourceGroup::One(source) => source,
                    SourceGroup::All => None,
                },
                won: row.map_or(0, |r| r.won),
                lost: row.map_or(0, |r| r.lost),
                median_cycle_days: row.and_then(|r| r.median_cycle_days),
            }
        };
        let by_lead_source = LeadSource::ALL
            .into_iter()
            .map(Some)
            .chain([None])
            .filter(|source| {
                self.closed
                    .contains_key(&(bucket, SourceGroup::One(*source)))
            })
            .map(|source| outcome(SourceGroup::One(source)))
            .collect();
        PeriodMetrics {
            stages,
            pushes,
            closed: outcome(SourceGroup::All),
            by_lead_source,
        }
    }
}

/// The open stages of a pipeline, in order.
fn open_stages(pipeline: &Pipeline) -> impl Iterator<Item = &str> {
    pipeline
        .spec
        .stages
        .iter()
        .filter(|s| s.kind == StageKind::Open)
        .map(|s| s.stage_id.as_str())
}

impl<S: Store> App<S> {
    /// The metrics of a pipeline over a month range, for the deals `principal` may see.
    pub async fn pipeline_metrics(
        &self,
        principal: &Principal,
        request: MetricsRequest,
    ) -> AppResult<PipelineMetrics> {
        let pipeline = self.get_pipeline(principal, request.pipeline).await?;
        let owners = self
            .metrics_owners(principal, request.scope, request.owner)
            .await?;
        let query = MetricsQuery {
            pipeline: pipeline.id,
            boundaries: (request.range.first_days().into_iter())
                .map(|d| self.calendar.start_of(d))
                .collect(),
            days: request.range.first_days(),
            owners,
            lead_source: request.lead_source,
        };
        let computed_at = self.now();
        // A pipeline serves one segment: another segment's filter keeps none of its deals.
        let segment_matches = request.segment.is_none_or(|s| s == pipeline.spec.segment);
        let aggregates = if segment_matches {
            self.aggregates(&query).await?
        } else {
            Aggregates::default()
        };
        let months: Vec<PeriodMetrics> = (0..request.range.month_count())
            .map(|i| aggregates.period(&pipeline, Bucket::Month(i)))
            .collect();
        let total = aggregates.period(&pipeline, Bucket::Range);

        let thresholds = self
            .stale_thresholds(&pipeline, request.stale_after_days, computed_at)
            .await?;
        let cutoffs: Vec<(String, DateTime<Utc>)> = thresholds
            .iter()
            .filter_map(|(stage, t)| t.map(|t| (stage.clone(), t.cutoff(computed_at))))
            .collect();
        let (rows, stale_deal_count) = if segment_matches {
            self.store
                .stale_deals(&query, &cutoffs, request.max_stale_deals)
                .await?
        } else {
            (Vec::new(), 0)
        };
        let stale_deals = rows
            .into_iter()
            .filter_map(|deal| {
                let threshold = thresholds
                    .iter()
                    .find(|(stage, _)| *stage == deal.stage_id)
                    .and_then(|(_, t)| *t)?;
                let days_in_stage =
                    (computed_at - deal.stage_entered_at).num_milliseconds() as f64 / 86_400_000.0;
                Some(StaleDeal {
                    deal,
                    days_in_stage,
                    threshold,
                })
            })
            .collect();
        Ok(PipelineMetrics {
            pipeline,
            range: request.range,
            months,
            total,
            thresholds,
            stale_deals,
            stale_deal_count,
            computed_at,
        })
    }

    /// The aggregates of the query, each computed in the database, keyed for lookup.
    async fn aggregates(&self, query: &MetricsQuery) -> AppResult<Aggregates> {
        Ok(Aggregates {
            entries: self
                .store
                .stage_entries(query)
                .await?
                .into_iter()
                .map(|r| ((r.bucket, r.stage_id.clone()), r))
                .collect(),
            exits: self
                .store
                .stage_exits(query)
                .await?
                .into_iter()
                .map(|r| ((r.bucket, r.stage_id.clone()), r))
                .collect(),
            pushes: self
                .store
                .close_date_pushes(query)
                .await?
                .into_iter()
                .map(|r| (r.bucket, r))
                .collect(),
            closed: self
                .store
                .closed_deals(query)
                .await?
                .into_iter()
                .map(|r| ((r.bucket, r.sources), r))
                .collect(),
        })
    }

    /// The owners whose deals the metrics cover (`None`: everyone), with visibility as for
    /// forecasts. Without a scope, the caller's own view; an owner narrows it to one person.
    async fn metrics_owners(
        &self,
        principal: &Principal,
        scope: Option<Scope>,
        owner: Option<UserId>,
    ) -> AppResult<Option<Vec<UserId>>> {
        let reads_all = matches!(
            principal.role(),
            Role::DealDesk | Role::Finance | Role::Legal | Role::Admin
        );
        let own_view = if reads_all {
            Scope::Org
        } else {
            Scope::Subtree(principal.user.id)
        };
        let view = self
            .resolve_scope(Some(principal), scope.unwrap_or(own_view))
            .await?;
        let Some(owner) = owner else {
            return Ok(view.owners);
        };
        if !view.tree.knows(owner) {
            return Err(AppError::NotFound {
                kind: "user",
                name: user_name(owner),
            });
        }
        let within = view.owners.as_ref().is_none_or(|o| o.contains(&owner));
        match (within, scope) {
            (true, _) => Ok(Some(vec![owner])),
            (false, Some(_)) => Err(AppError::invalid_field(
                Problem::UnknownReference,
                "owner",
                "is not within scope",
            )),
            (false, None) => Err(AppError::denied(
                "SCOPE_NOT_VISIBLE",
                "you may see metrics only of yourself and the people below you",
            )),
        }
    }

    /// Each open stage's staleness threshold, in pipeline order, as of `now`.
    ///
    /// A stage without a setting falls back on its median over the whole pipeline's recent
    /// history, not over the viewer's deals nor the report's months: a deal is stale or not
    /// whoever looks. That median (doubled) is the only figure derived from deals the caller
    /// may not see, and it is read only when some stage needs it.
    async fn stale_thresholds(
        &self,
        pipeline: &Pipeline,
        requested: Option<u32>,
        now: DateTime<Utc>,
    ) -> AppResult<Vec<(String, Option<StaleThreshold>)>> {
        let open = || {
            pipeline
                .spec
                .stages
                .iter()
                .filter(|s| s.kind == StageKind::Open)
        };
        let mut medians: HashMap<String, f64> = HashMap::new();
        if requested.is_none() && open().any(|s| s.stale_after_days.is_none()) {
            let (from, to) = stale_history_window(now);
            let pipeline_wide = MetricsQuery {
                pipeline: pipeline.id,
                boundaries: vec![from, to],
                days: vec![self.calendar.day_of(from), self.calendar.day_of(to)],
                owners: None,
                lead_source: None,
            };
            for row in self.store.stage_exits(&pipeline_wide).await? {
                if let (Bucket::Range, Some(median)) = (row.bucket, row.median_days) {
                    medians.insert(row.stage_id, median);
                }
            }
        }
        Ok(open()
            .map(|stage| {
                let median = medians.get(&stage.stage_id).copied();
                (
                    stage.stage_id.clone(),
                    stale_threshold(requested, stage.stale_after_days, median),
                )
            })
            .collect())
    }
}
