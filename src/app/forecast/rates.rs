//! The win rates a forecast weighs open deals with: the pipelines' chosen snapshots, else their
//! stages' default probabilities.

use crate::domain::Problem;
use std::collections::HashMap;

use crate::app::names::snapshot_name;
use crate::app::ports::Store;
use crate::app::{App, AppError, AppResult};
use crate::domain::ids::PipelineId;
use crate::domain::pipeline::{Pipeline, StageKind};
use crate::domain::winrate::WinRateSnapshot;

/// The win rates a forecast uses: the chosen snapshots, else the stages' defaults.
pub(crate) struct RateTable {
    /// The chosen snapshot of each pipeline that has one.
    pub chosen: HashMap<PipelineId, WinRateSnapshot>,
    /// Every pipeline (for default probabilities and stage order).
    pub pipelines: Vec<Pipeline>,
}

impl RateTable {
    /// The stage's static default probability.
    pub fn default(&self, pipeline: PipelineId, stage: &str) -> f64 {
        self.pipelines
            .iter()
            .find(|p| p.id == pipeline)
            .and_then(|p| p.spec.stage(stage))
            .map(|s| f64::from(s.default_probability_bps) / 10_000.0)
            .unwrap_or(0.0)
    }

    /// The learned rate (the snapshot's), else the default.
    pub fn learned(&self, pipeline: PipelineId, stage: &str) -> f64 {
        self.chosen
            .get(&pipeline)
            .and_then(|s| s.rate_of(stage))
            .unwrap_or_else(|| self.default(pipeline, stage))
    }

    /// The rate a deal in this stage is weighed with, as the database weighs it
    /// ([`RateTable::open_stage_rates`]): the learned rate of an open stage, else nothing.
    pub fn open_rate(&self, pipeline: PipelineId, stage: &str) -> f64 {
        if self.is_open(pipeline, stage) {
            self.learned(pipeline, stage)
        } else {
            0.0
        }
    }

    /// Whether `stage` is an open stage of `pipeline`.
    pub fn is_open(&self, pipeline: PipelineId, stage: &str) -> bool {
        self.pipelines
            .iter()
            .find(|p| p.id == pipeline)
            .and_then(|p| p.spec.stage(stage))
            .is_some_and(|s| s.kind == StageKind::Open)
    }

    /// The snapshots chosen, as (pipeline, version) in order.
    pub fn used(&self) -> Vec<(PipelineId, i64)> {
        let mut used: Vec<(PipelineId, i64)> = self
            .chosen
            .values()
            .map(|s| (s.pipeline_id, s.version))
            .collect();
        used.sort();
        used
    }

    /// Every open stage of every pipeline with its learned rate, for the database to weigh
    /// deals with.
    pub fn open_stage_rates(&self) -> Vec<(PipelineId, Vec<(String, f64)>)> {
        self.open_stages(|pipeline, stage| self.learned(pipeline, stage))
    }

    /// Every open stage of every pipeline with what `value` gives it.
    pub fn open_stages<T>(
        &self,
        value: impl Fn(PipelineId, &str) -> T,
    ) -> Vec<(PipelineId, Vec<(String, T)>)> {
        self.pipelines
            .iter()
            .map(|p| {
                let stages = p
                    .spec
                    .stages
                    .iter()
                    .filter(|s| s.kind == StageKind::Open)
                    .map(|s| (s.stage_id.clone(), value(p.id, &s.stage_id)))
                    .collect();
                (p.id, stages)
            })
            .collect()
    }
}

impl<S: Store> App<S> {
    /// The rates of the current snapshots, with `snapshots` named instead where given.
    pub(crate) async fn rate_table(&self, snapshots: &[(PipelineId, i64)]) -> AppResult<RateTable> {
        let mut chosen: HashMap<PipelineId, WinRateSnapshot> = self
            .store
            .current_win_rate_snapshots()
            .await?
            .into_iter()
            .map(|s| (s.pipeline_id, s))
            .collect();
        for &(pipeline, version) in snapshots {
            let snapshot = self
                .store
                .get_win_rate_snapshot(pipeline, version)
                .await?
                .ok_or_else(|| {
                    AppError::invalid_field(
                        Problem::UnknownReference,
                        "snapshots",
                        format!("{} does not exist", snapshot_name(pipeline, version)),
                    )
                })?;
            chosen.insert(pipeline, snapshot);
        }
        let pipelines = self.store.list_pipelines(None, None, 10_000).await?;
        Ok(RateTable { chosen, pipelines })
    }
}
