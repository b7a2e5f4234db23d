//! Forecast snapshots, on SQL: a forecast's totals and range as taken, with the calls it froze.

use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use super::currency;
use crate::app::AppResult;
use crate::app::ports::{AuditEntry, Created, IdempotentWrite};
use crate::domain::directory::UserId;
use crate::domain::forecast::{Figures, ForecastSnapshot, FrozenCall, Range, RangeMethod};
use crate::persistence::codec::uuid;
use crate::persistence::entities::{forecast_snapshot, forecast_snapshot_call};
use crate::persistence::{SqlStore, storage};

pub(super) async fn insert_forecast_snapshot(
    store: &SqlStore,
    f: &ForecastSnapshot,
    audit: AuditEntry,
    idempotency: Option<IdempotentWrite>,
) -> AppResult<Created<()>> {
    store
        .write_once(vec![audit], idempotency, async |txn| {
            let id = f.id.to_string();
            let (samples, seed, error) = match f.range.method {
                RangeMethod::Exact => (0, 0, 0.0),
                RangeMethod::MonteCarlo {
                    samples,
                    seed,
                    dkw_bound,
                } => (samples as i32, seed as i64, dkw_bound),
                // No samples but an error bound: the normal approximation (see the reading).
                RangeMethod::Normal { berry_esseen_bound } => (0, 0, berry_esseen_bound),
            };
            forecast_snapshot::Entity::insert(forecast_snapshot::ActiveModel {
                id: Set(id.clone()),
                period: Set(f.period.clone()),
                scope: Set(f.scope.clone()),
                currency: Set(f.currency.code().to_string()),
                taken_at: Set(f.taken_at),
                taker_id: Set(f.taker.map(|t| t.0.to_string())),
                closed_won: Set(f.totals.closed_won),
                weighted_pipeline: Set(f.totals.weighted_pipeline),
                commit_amount: Set(f.totals.commit),
                best_case: Set(f.totals.best_case),
                pipeline_amount: Set(f.totals.pipeline),
                omitted: Set(f.totals.omitted),
                open_deals: Set(f.totals.open_deals as i64),
                p10: Set(f.range.p10),
                p50: Set(f.range.p50),
                p90: Set(f.range.p90),
                range_samples: Set(samples),
                range_seed: Set(seed),
                range_error: Set(error),
                period_forecast: Set(Some(f.totals.period_forecast)),
                not_yet_created: Set(Some(f.totals.not_yet_created)),
                pulled_in: Set(Some(f.totals.pulled_in)),
                overdue: Set(Some(f.totals.overdue)),
            })
            .exec_without_returning(txn)
            .await
            .map_err(storage)?;
            let calls: Vec<_> = f
                .calls
                .iter()
                .map(|c| forecast_snapshot_call::ActiveModel {
                    snapshot_id: Set(id.clone()),
                    user_id: Set(c.user.0.to_string()),
                    own_commit: Set(c.own_commit),
                    manager_commit: Set(c.manager_commit),
                })
                .collect();
            for chunk in calls.chunks(500) {
                forecast_snapshot_call::Entity::insert_many(chunk.to_vec())
                    .exec_without_returning(txn)
                    .await
                    .map_err(storage)?;
            }
            Ok(())
        })
        .await
}

pub(super) async fn forecast_snapshots(
    store: &SqlStore,
    period: &str,
    scope: &str,
) -> AppResult<Vec<ForecastSnapshot>> {
    let rows = forecast_snapshot::Entity::find()
        .filter(forecast_snapshot::Column::Period.eq(period))
        .filter(forecast_snapshot::Column::Scope.eq(scope))
        .order_by_asc(forecast_snapshot::Column::TakenAt)
        .order_by_asc(forecast_snapshot::Column::Id)
        .all(&store.db)
        .await
        .map_err(storage)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let calls = forecast_snapshot_call::Entity::find()
        .filter(forecast_snapshot_call::Column::SnapshotId.is_in(ids))
        .order_by_asc(forecast_snapshot_call::Column::UserId)
        .all(&store.db)
        .await
        .map_err(storage)?;
    rows.into_iter()
        .map(|r| {
            // Snapshots from before m0018 were the classic forecast.
            let totals = Figures {
                weighted_pipeline: r.weighted_pipeline,
                period_forecast: r.period_forecast.unwrap_or(r.weighted_pipeline),
                not_yet_created: r.not_yet_created.unwrap_or(0),
                pulled_in: r.pulled_in.unwrap_or(0),
                overdue: r.overdue.unwrap_or(0),
                commit: r.commit_amount,
                best_case: r.best_case,
                pipeline: r.pipeline_amount,
                omitted: r.omitted,
                open_deals: r.open_deals.max(0) as u64,
                ..Figures::default()
            };
            let method = if r.range_samples == 0 && r.range_error == 0.0 {
                RangeMethod::Exact
            } else if r.range_samples == 0 {
                RangeMethod::Normal {
                    berry_esseen_bound: r.range_error,
                }
            } else {
                RangeMethod::MonteCarlo {
                    samples: r.range_samples as u32,
                    seed: r.range_seed as u64,
                    dkw_bound: r.range_error,
                }
            };
            Ok(ForecastSnapshot {
                id: uuid(&r.id)?,
                period: r.period.clone(),
                scope: r.scope.clone(),
                currency: currency(&r.currency)?,
                taken_at: r.taken_at,
                taker: r.taker_id.as_deref().map(uuid).transpose()?.map(UserId),
                // Derived figures (expected, cumulative views) are recomputed, not stored.
                totals: Figures::of(r.closed_won, &[]).plus(totals),
                range: Range {
                    p10: r.p10,
                    p50: r.p50,
                    p90: r.p90,
                    method,
                },
                calls: calls
                    .iter()
                    .filter(|c| c.snapshot_id == r.id)
                    .map(|c| {
                        Ok(FrozenCall {
                            user: UserId(uuid(&c.user_id)?),
                            own_commit: c.own_commit,
                            manager_commit: c.manager_commit,
                        })
                    })
                    .collect::<Result<_, DbErr>>()?,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(storage)
}
