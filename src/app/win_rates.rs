//! Learning per-stage win rates from stage history, stored as versioned snapshots (with the
//! period rates q learned beside them), and reading them back.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::names::{snapshot_name, user_name_of};
use super::ports::{AuditEntry, CohortRow, CohortSplit, Created, IdempotencyKey, Store};
use super::roles::require_rate_setter;
use super::{App, AppError, AppResult, Principal, idempotent_write};
use crate::domain::Problem;
use crate::domain::Violations;
use crate::domain::ids::{PipelineId, WinRateSnapshotId};
use crate::domain::pipeline::Pipeline;
use crate::domain::winrate::{
    Cohort, DEFAULT_PRIOR_WEIGHT, SegmentKind, WinRateSnapshot, segment_rates, stage_rates,
};

/// What to compute win rates over.
#[derive(Debug, Clone)]
pub struct WinRateRequest {
    /// The pipeline to learn the rates of.
    pub pipeline: PipelineId,
    /// First day of the window (default a year before its end).
    pub window_start: Option<NaiveDate>,
    /// Last day of the window (default today).
    pub window_end: Option<NaiveDate>,
    /// Prior weight (default 10).
    pub prior_weight: Option<u32>,
    /// Split by lead source too.
    pub by_lead_source: bool,
    /// Split by team too.
    pub by_team: bool,
}

/// Sums cohort rows into per-key cohorts; amounts only in `main` currency count for value
/// weighting.
fn add_row(cohort: &mut Cohort, deals: u64, won: bool, amount: f64, counts_amount: bool) {
    cohort.n += deals;
    if won {
        cohort.wins += deals;
    }
    if counts_amount {
        cohort.amount += amount;
        if won {
            cohort.won_amount += amount;
        }
    }
}

/// What a win-rate request learns from, checked.
struct Learning {
    /// The pipeline, with the stages the rates are learned for.
    pipeline: Arc<Pipeline>,
    /// First and last day of the window.
    window: (NaiveDate, NaiveDate),
    /// The prior weight.
    k: u32,
}

/// The cohort's main currency, the one most of its deals are in, for value weighting.
fn main_currency(rows: &[CohortRow]) -> Option<String> {
    let mut by_currency: HashMap<Option<String>, u64> = HashMap::new();
    for row in rows {
        *by_currency.entry(row.currency.clone()).or_default() += row.deals;
    }
    by_currency
        .into_iter()
        .filter(|(c, _)| c.is_some())
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .and_then(|(c, _)| c)
}

impl<S: Store> App<S> {
    /// Learns per-stage win rates of a pipeline and stores them as its current snapshot.
    pub async fn compute_win_rates(
        &self,
        principal: Option<&Principal>,
        request: WinRateRequest,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&WinRateSnapshot) -> Vec<u8>,
    ) -> AppResult<Created<WinRateSnapshot>> {
        if let Some(principal) = principal {
            require_rate_setter(principal)?;
        }
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let at = self.now();
        let Learning {
            pipeline,
            window: (window_start, window_end),
            k,
        } = self.check_learning(&request, at).await?;
        // Deals booked (closed) in the window, both ends included.
        let (from, to) = (window_start, window_end + Duration::days(1));
        let rows = self
            .store
            .win_rate_cohorts(pipeline.id, from, to, CohortSplit::None)
            .await?;
        let main = main_currency(&rows);
        let mut cohorts: BTreeMap<String, Cohort> = BTreeMap::new();
        for row in &rows {
            let cohort = cohorts.entry(row.stage_id.clone()).or_default();
            add_row(cohort, row.deals, row.won, row.amount, row.currency == main);
        }
        let stages = stage_rates(&pipeline.spec, &cohorts, k);
        let segment_cohorts = self
            .segment_cohorts(pipeline.id, (from, to), &request, main.as_deref())
            .await?;
        let segments = segment_rates(&pipeline.spec, &stages, &segment_cohorts, k);
        let period_rates = self
            .learn_period_rates(pipeline.id, &stages, (window_start, window_end), k)
            .await?;
        let version = self
            .store
            .latest_win_rate_version(pipeline.id)
            .await?
            .unwrap_or(0)
            + 1;
        let actor = principal.map(|p| p.user.id);
        let snapshot = WinRateSnapshot {
            id: WinRateSnapshotId(self.ids.id()),
            pipeline_id: pipeline.id,
            version,
            current: true,
            window_start,
            window_end,
            prior_weight: k,
            stages,
            segments,
            period_rates,
            creator: actor,
            created_at: at,
        };
        let audit = AuditEntry {
            actor,
            action: "ComputeWinRates",
            resource: snapshot_name(pipeline.id, version),
            detail: format!("window {window_start}..={window_end}, k {k}"),
            change: None,
        };
        let write = idempotent_write(key, || respond(&snapshot));
        Ok(
            match self
                .store
                .insert_win_rate_snapshot(&snapshot, audit, write)
                .await?
            {
                Created::New(()) => Created::New(snapshot),
                Created::Replayed(saved) => Created::Replayed(saved),
            },
        )
    }

    /// The pipeline, window (defaults filled in) and prior weight a request asks to learn
    /// with, every problem with them found at once.
    async fn check_learning(
        &self,
        request: &WinRateRequest,
        at: DateTime<Utc>,
    ) -> AppResult<Learning> {
        let window_end = request.window_end.unwrap_or(self.calendar.day_of(at));
        let window_start = request.window_start.unwrap_or_else(|| {
            window_end
                .checked_sub_months(chrono::Months::new(12))
                .unwrap_or(window_end)
        });
        let k = request.prior_weight.unwrap_or(DEFAULT_PRIOR_WEIGHT);
        let mut violations = Violations::new();
        if window_start > window_end {
            violations.add_as(
                Problem::BadDate,
                "window_start_date",
                "must not be after window_end_date",
            );
        }
        if k > 1000 {
            violations.add_as(
                Problem::NumberOutOfRange,
                "prior_weight",
                "must be between 0 and 1000",
            );
        }
        let pipeline = self.store.get_pipeline(request.pipeline).await?;
        if pipeline.is_none() {
            violations.add_as(Problem::UnknownReference, "pipeline", "no such pipeline");
        }
        let (Some(pipeline), true) = (pipeline, violations.is_empty()) else {
            return Err(AppError::invalid(violations));
        };
        Ok(Learning {
            pipeline,
            window: (window_start, window_end),
            k,
        })
    }

    /// The cohorts of each segment the request splits by (lead source, team), per stage, with
    /// amounts in `main` currency counted for value weighting.
    async fn segment_cohorts(
        &self,
        pipeline: PipelineId,
        (from, to): (NaiveDate, NaiveDate),
        request: &WinRateRequest,
        main: Option<&str>,
    ) -> AppResult<BTreeMap<(SegmentKind, String, String), Cohort>> {
        let mut segment_cohorts: BTreeMap<(SegmentKind, String, String), Cohort> = BTreeMap::new();
        for (wanted, split, kind) in [
            (
                request.by_lead_source,
                CohortSplit::LeadSource,
                SegmentKind::LeadSource,
            ),
            (request.by_team, CohortSplit::Team, SegmentKind::Team),
        ] {
            if !wanted {
                continue;
            }
            for row in self
                .store
                .win_rate_cohorts(pipeline, from, to, split)
                .await?
            {
                let value = match kind {
                    SegmentKind::Team if !row.segment.is_empty() => user_name_of(&row.segment),
                    _ => row.segment.clone(),
                };
                let cohort = segment_cohorts
                    .entry((kind, value, row.stage_id.clone()))
                    .or_default();
                add_row(
                    cohort,
                    row.deals,
                    row.won,
                    row.amount,
                    row.currency.as_deref() == main,
                );
            }
        }
        Ok(segment_cohorts)
    }

    /// One snapshot; everyone may read win rates.
    pub async fn get_win_rate_snapshot(
        &self,
        _principal: &Principal,
        pipeline: PipelineId,
        version: i64,
    ) -> AppResult<WinRateSnapshot> {
        self.store
            .get_win_rate_snapshot(pipeline, version)
            .await?
            .ok_or_else(|| AppError::NotFound {
                kind: "win-rate snapshot",
                name: snapshot_name(pipeline, version),
            })
    }

    /// A page of a pipeline's snapshots, newest first.
    pub async fn list_win_rate_snapshots(
        &self,
        principal: &Principal,
        pipeline: PipelineId,
        before: Option<i64>,
        limit: u64,
    ) -> AppResult<Vec<WinRateSnapshot>> {
        self.get_pipeline(principal, pipeline).await?;
        self.store
            .list_win_rate_snapshots(pipeline, before, limit)
            .await
    }
}
