//! Win-rate snapshots, exchange rates and the aggregates forecasts read, on SQL. The win-rate
//! cohort count and the closed-won sums run in the database as single grouped queries; nothing
//! loads the stage history into memory.
//!
//! The store's methods delegate to the submodule owning their job: [`aggregates`] (the
//! forecast's reads, in [`batches`] of pipelines where a valuation binds too much),
//! [`win_rates`] (win-rate snapshots), [`exchange_rates`], [`calls`] (call events) and
//! [`forecast_snapshots`].

mod aggregates;
mod batches;
mod calls;
mod exchange_rates;
mod forecast_snapshots;
mod packed;
mod period_sql;
mod win_rates;

use crate::domain::period_rate::DealTimeline;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DbErr;

use super::codec::corrupt;
use super::{SqlStore, storage};
use crate::app::AppResult;
use crate::app::ports::{
    AuditEntry, CohortRow, CohortSplit, Created, CreatedAfter, ForecastStore, IdempotentWrite,
    NewRevenueRow, OpenDealRow, OpenGroupRow, TimelinePage, Valuation, WonRow,
};
use crate::domain::call::CallEvent;
use crate::domain::directory::{ReportingTree, UserId};
use crate::domain::forecast::ForecastSnapshot;
use crate::domain::ids::PipelineId;
use crate::domain::money::{Currency, ExchangeRate};
use crate::domain::winrate::WinRateSnapshot;

fn currency(code: &str) -> Result<Currency, DbErr> {
    Currency::parse(code).ok_or_else(|| corrupt("currency", code))
}

impl ForecastStore for SqlStore {
    async fn win_rate_cohorts(
        &self,
        pipeline: PipelineId,
        from: NaiveDate,
        to: NaiveDate,
        split: CohortSplit,
    ) -> AppResult<Vec<CohortRow>> {
        aggregates::win_rate_cohorts(self, pipeline, from, to, split).await
    }

    async fn latest_win_rate_version(&self, pipeline: PipelineId) -> AppResult<Option<i64>> {
        win_rates::latest_win_rate_version(self, pipeline).await
    }

    async fn insert_win_rate_snapshot(
        &self,
        s: &WinRateSnapshot,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> AppResult<Created<()>> {
        win_rates::insert_win_rate_snapshot(self, s, audit, idempotency).await
    }

    async fn get_win_rate_snapshot(
        &self,
        pipeline: PipelineId,
        version: i64,
    ) -> AppResult<Option<WinRateSnapshot>> {
        win_rates::get_win_rate_snapshot(self, pipeline, version).await
    }

    async fn list_win_rate_snapshots(
        &self,
        pipeline: PipelineId,
        before: Option<i64>,
        limit: u64,
    ) -> AppResult<Vec<WinRateSnapshot>> {
        win_rates::list_win_rate_snapshots(self, pipeline, before, limit).await
    }

    async fn current_win_rate_snapshots(&self) -> AppResult<Vec<WinRateSnapshot>> {
        win_rates::current_win_rate_snapshots(self).await
    }

    async fn open_deals_closing(
        &self,
        owners: Option<&[UserId]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> AppResult<Vec<OpenDealRow>> {
        aggregates::open_deals_closing(self, owners, from, to).await
    }

    async fn revenue_created_after(
        &self,
        owners: Option<&[UserId]>,
        windows: &[CreatedAfter],
        as_of: DateTime<Utc>,
        valuation: &Valuation,
    ) -> AppResult<Vec<NewRevenueRow>> {
        period_sql::revenue_created_after(self, owners, windows, as_of, valuation).await
    }

    async fn open_deal_groups(
        &self,
        owners: Option<&[UserId]>,
        from: NaiveDate,
        to: NaiveDate,
        valuation: &Valuation,
    ) -> AppResult<Vec<OpenGroupRow>> {
        aggregates::open_deal_groups(self, owners, from, to, valuation).await
    }

    async fn closed_won_between(
        &self,
        owners: Option<&[UserId]>,
        by_owner: bool,
        from: NaiveDate,
        to: NaiveDate,
        valuation: &Valuation,
    ) -> AppResult<Vec<WonRow>> {
        aggregates::closed_won_between(self, owners, by_owner, from, to, valuation).await
    }

    async fn reporting_tree(&self) -> AppResult<Arc<ReportingTree>> {
        self.tree().await
    }

    async fn set_exchange_rate(
        &self,
        rate: &ExchangeRate,
        at: DateTime<Utc>,
        audit: AuditEntry,
    ) -> AppResult<()> {
        exchange_rates::set_exchange_rate(self, rate, at, audit).await
    }

    async fn exchange_rates(&self) -> AppResult<Vec<(ExchangeRate, DateTime<Utc>)>> {
        exchange_rates::exchange_rates(self).await
    }

    async fn append_call_event(&self, e: &CallEvent, audit: AuditEntry) -> AppResult<CallEvent> {
        calls::append_call_event(self, e, audit).await
    }

    async fn call_events(
        &self,
        period: &str,
        subjects: Option<&[UserId]>,
        as_of: DateTime<Utc>,
    ) -> AppResult<Vec<CallEvent>> {
        calls::call_events(self, period, subjects, as_of).await
    }

    async fn insert_forecast_snapshot(
        &self,
        f: &ForecastSnapshot,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> AppResult<Created<()>> {
        forecast_snapshots::insert_forecast_snapshot(self, f, audit, idempotency).await
    }

    async fn forecast_snapshots(
        &self,
        period: &str,
        scope: &str,
    ) -> AppResult<Vec<ForecastSnapshot>> {
        forecast_snapshots::forecast_snapshots(self, period, scope).await
    }

    async fn deal_timelines(
        &self,
        pipeline: Option<PipelineId>,
        owners: Option<&[UserId]>,
        window: (DateTime<Utc>, DateTime<Utc>),
        page: Option<TimelinePage>,
    ) -> AppResult<Vec<(PipelineId, DealTimeline)>> {
        super::field_history::timelines(&self.db, pipeline, owners, window, page)
            .await
            .map_err(storage)
    }
}
