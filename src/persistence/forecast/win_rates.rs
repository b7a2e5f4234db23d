//! Win-rate snapshots, on SQL: a snapshot's row, its stage and segment rates (entries) and its
//! period rates.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::app::names::snapshot_name;
use crate::app::ports::{AuditEntry, Created, IdempotentWrite};
use crate::app::{AppError, AppResult};
use crate::domain::directory::UserId;
use crate::domain::ids::PipelineId;
use crate::domain::winrate::{Cohort, Rate, SegmentKind, SegmentRate, StageRate, WinRateSnapshot};
use crate::persistence::codec::{corrupt, uuid};
use crate::persistence::entities::{win_rate_entry, win_rate_snapshot};
use crate::persistence::{SqlStore, is_unique_violation, period_rates, storage};

fn entry_row(
    snapshot: &str,
    ordinal: usize,
    kind: &str,
    value: &str,
    r: &StageRate,
) -> win_rate_entry::ActiveModel {
    win_rate_entry::ActiveModel {
        snapshot_id: Set(snapshot.to_string()),
        ordinal: Set(ordinal as i32),
        segment_kind: Set(kind.to_string()),
        segment_value: Set(value.to_string()),
        stage_id: Set(r.stage_id.clone()),
        n: Set(r.cohort.n as i64),
        wins: Set(r.cohort.wins as i64),
        raw_rate: Set(r.rate.raw),
        smoothed_rate: Set(r.rate.smoothed),
        wilson_low: Set(r.rate.wilson_low),
        wilson_high: Set(r.rate.wilson_high),
        value_weighted_rate: Set(r.rate.value_weighted),
        prior: Set(r.prior),
    }
}

fn stage_rate_of(e: &win_rate_entry::Model) -> StageRate {
    StageRate {
        stage_id: e.stage_id.clone(),
        cohort: Cohort {
            n: e.n.max(0) as u64,
            wins: e.wins.max(0) as u64,
            ..Cohort::default()
        },
        rate: Rate {
            raw: e.raw_rate,
            smoothed: e.smoothed_rate,
            wilson_low: e.wilson_low,
            wilson_high: e.wilson_high,
            value_weighted: e.value_weighted_rate,
        },
        prior: e.prior,
    }
}

/// Assembles snapshots from their rows with one more query for all their entries.
async fn load_snapshots<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<win_rate_snapshot::Model>,
) -> Result<Vec<WinRateSnapshot>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let entries = win_rate_entry::Entity::find()
        .filter(win_rate_entry::Column::SnapshotId.is_in(ids))
        .order_by_asc(win_rate_entry::Column::SnapshotId)
        .order_by_asc(win_rate_entry::Column::Ordinal)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            let mut stages = Vec::new();
            let mut segments = Vec::new();
            for e in entries.iter().filter(|e| e.snapshot_id == row.id) {
                let kind = match e.segment_kind.as_str() {
                    "" => None,
                    "LEAD_SOURCE" => Some(SegmentKind::LeadSource),
                    "TEAM" => Some(SegmentKind::Team),
                    other => return Err(corrupt("segment kind", other)),
                };
                match kind {
                    None => stages.push(stage_rate_of(e)),
                    Some(kind) => segments.push(SegmentRate {
                        kind,
                        value: e.segment_value.clone(),
                        rate: stage_rate_of(e),
                    }),
                }
            }
            Ok(WinRateSnapshot {
                id: uuid(&row.id)?,
                pipeline_id: uuid(&row.pipeline_id)?,
                version: row.version,
                current: row.current,
                window_start: row.window_start,
                window_end: row.window_end,
                prior_weight: row.prior_weight.max(0) as u32,
                stages,
                segments,
                period_rates: Vec::new(),
                creator: row.creator_id.as_deref().map(uuid).transpose()?.map(UserId),
                created_at: row.created_at,
            })
        })
        .collect()
}

/// `snapshots` with their period rates.
async fn with_period_rates<C: ConnectionTrait>(
    conn: &C,
    mut snapshots: Vec<WinRateSnapshot>,
) -> Result<Vec<WinRateSnapshot>, DbErr> {
    let ids: Vec<String> = snapshots.iter().map(|s| s.id.to_string()).collect();
    let stage_rates = snapshots
        .iter()
        .map(|s| {
            let rates = s
                .stages
                .iter()
                .map(|r| (r.stage_id.clone(), r.rate.smoothed));
            (s.id.to_string(), rates.collect())
        })
        .collect();
    let mut tables = period_rates::load(conn, &ids, &stage_rates).await?;
    for snapshot in &mut snapshots {
        snapshot.period_rates = tables.remove(&snapshot.id.to_string()).unwrap_or_default();
    }
    Ok(snapshots)
}

pub(super) async fn latest_win_rate_version(
    store: &SqlStore,
    pipeline: PipelineId,
) -> AppResult<Option<i64>> {
    let row = win_rate_snapshot::Entity::find()
        .filter(win_rate_snapshot::Column::PipelineId.eq(pipeline.to_string()))
        .order_by_desc(win_rate_snapshot::Column::Version)
        .one(&store.db)
        .await
        .map_err(storage)?;
    Ok(row.map(|r| r.version))
}

pub(super) async fn insert_win_rate_snapshot(
    store: &SqlStore,
    s: &WinRateSnapshot,
    audit: AuditEntry,
    idempotency: Option<IdempotentWrite>,
) -> AppResult<Created<()>> {
    store
        .write_once(vec![audit], idempotency, async |txn| {
            let id = s.id.to_string();
            win_rate_snapshot::Entity::update_many()
                .col_expr(win_rate_snapshot::Column::Current, false.into())
                .filter(win_rate_snapshot::Column::PipelineId.eq(s.pipeline_id.to_string()))
                .exec(txn)
                .await
                .map_err(storage)?;
            win_rate_snapshot::Entity::insert(win_rate_snapshot::ActiveModel {
                id: Set(id.clone()),
                pipeline_id: Set(s.pipeline_id.to_string()),
                version: Set(s.version),
                current: Set(true),
                window_start: Set(s.window_start),
                window_end: Set(s.window_end),
                prior_weight: Set(s.prior_weight as i32),
                creator_id: Set(s.creator.map(|c| c.0.to_string())),
                created_at: Set(s.created_at),
            })
            .exec_without_returning(txn)
            .await
            .map_err(|e| {
                if is_unique_violation(&e, "version") {
                    AppError::StaleEtag {
                        kind: "win-rate snapshot",
                        name: snapshot_name(s.pipeline_id, s.version),
                    }
                } else {
                    storage(e)
                }
            })?;
            let mut rows: Vec<_> = s
                .stages
                .iter()
                .enumerate()
                .map(|(i, r)| entry_row(&id, i, "", "", r))
                .collect();
            for (j, seg) in s.segments.iter().enumerate() {
                let kind = match seg.kind {
                    SegmentKind::LeadSource => "LEAD_SOURCE",
                    SegmentKind::Team => "TEAM",
                };
                rows.push(entry_row(
                    &id,
                    s.stages.len() + j,
                    kind,
                    &seg.value,
                    &seg.rate,
                ));
            }
            for chunk in rows.chunks(500) {
                win_rate_entry::Entity::insert_many(chunk.to_vec())
                    .exec_without_returning(txn)
                    .await
                    .map_err(storage)?;
            }
            period_rates::insert(txn, &id, &s.period_rates)
                .await
                .map_err(storage)
        })
        .await
        .inspect(|_| store.caches.win_rates.clear())
}

pub(super) async fn get_win_rate_snapshot(
    store: &SqlStore,
    pipeline: PipelineId,
    version: i64,
) -> AppResult<Option<WinRateSnapshot>> {
    let row = win_rate_snapshot::Entity::find()
        .filter(win_rate_snapshot::Column::PipelineId.eq(pipeline.to_string()))
        .filter(win_rate_snapshot::Column::Version.eq(version))
        .one(&store.db)
        .await
        .map_err(storage)?;
    let snapshots = load_snapshots(&store.db, row.into_iter().collect())
        .await
        .map_err(storage)?;
    Ok(with_period_rates(&store.db, snapshots)
        .await
        .map_err(storage)?
        .pop())
}

pub(super) async fn list_win_rate_snapshots(
    store: &SqlStore,
    pipeline: PipelineId,
    before: Option<i64>,
    limit: u64,
) -> AppResult<Vec<WinRateSnapshot>> {
    let mut query = win_rate_snapshot::Entity::find()
        .filter(win_rate_snapshot::Column::PipelineId.eq(pipeline.to_string()))
        .order_by_desc(win_rate_snapshot::Column::Version)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(win_rate_snapshot::Column::Version.lt(before));
    }
    let rows = query.all(&store.db).await.map_err(storage)?;
    let snapshots = load_snapshots(&store.db, rows).await.map_err(storage)?;
    with_period_rates(&store.db, snapshots)
        .await
        .map_err(storage)
}

pub(super) async fn current_win_rate_snapshots(
    store: &SqlStore,
) -> AppResult<Vec<WinRateSnapshot>> {
    store
        .caches
        .win_rates
        .get_or_load((), async {
            let rows = win_rate_snapshot::Entity::find()
                .filter(win_rate_snapshot::Column::Current.eq(true))
                .all(&store.db)
                .await
                .map_err(storage)?;
            let snapshots = load_snapshots(&store.db, rows).await.map_err(storage)?;
            // With their period rates: the forecast weighs open deals by them.
            with_period_rates(&store.db, snapshots)
                .await
                .map_err(storage)
        })
        .await
}
