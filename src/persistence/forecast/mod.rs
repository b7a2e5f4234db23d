//! Win-rate snapshots, exchange rates and the aggregates forecasts read, on SQL. The win-rate
//! cohort count and the closed-won sums run in the database as single grouped queries; nothing
//! loads the stage history into memory.

use crate::domain::period_rate::DealTimeline;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, Statement, TransactionTrait, Value,
    sea_query::OnConflict,
};
use uuid::Uuid;

use super::codec::uuid;
use super::codec::{corrupt, decode_category};
use super::entities::{
    exchange_rate, forecast_call_event, forecast_snapshot, forecast_snapshot_call, win_rate_entry,
    win_rate_snapshot,
};
use super::{SqlStore, is_unique_violation, record_audit, storage};
use crate::app::ports::{
    AuditEntry, CohortRow, CohortSplit, Created, ForecastStore, IdempotentWrite, OpenDealRow,
    OpenGroupRow, Valuation, WonRow,
};
use crate::app::{AppError, AppResult};
use crate::domain::call::{CallEvent, CallEventKind};
use crate::domain::directory::{ReportingTree, UserId};
use crate::domain::forecast::{Figures, ForecastSnapshot, FrozenCall, Range, RangeMethod};
use crate::domain::money::{Currency, ExchangeRate, MAX_AMOUNT_MINOR, Money};
use crate::domain::winrate::{Cohort, Rate, SegmentKind, SegmentRate, StageRate, WinRateSnapshot};

fn currency(code: &str) -> Result<Currency, DbErr> {
    Currency::parse(code).ok_or_else(|| corrupt("currency", code))
}

/// The placeholders of an `IN` list, each of `texts` bound into `values`.
fn in_list(values: &mut Vec<Value>, texts: impl IntoIterator<Item = String>) -> String {
    let placeholders: Vec<String> = texts.into_iter().map(|t| bind(values, t.into())).collect();
    placeholders.join(", ")
}

/// `AND {column} IN (...)` for `owners` (`None`: no condition, everyone's deals), or `None`
/// when the scope has no owners at all (nothing to read).
fn owner_filter(
    column: &str,
    owners: Option<&[UserId]>,
    values: &mut Vec<Value>,
) -> Option<String> {
    match owners {
        Some([]) => None,
        Some(owners) => {
            let list = in_list(values, owners.iter().map(|o| o.0.to_string()));
            Some(format!("AND {column} IN ({list})"))
        }
        None => Some(String::new()),
    }
}

/// Up to this many owners, a subtree's deals are read by owner on SQLite.
const FEW_OWNERS: usize = 32;

/// On SQLite, `index` (an `INDEXED BY` clause) when a subtree has few owners: their open (or
/// won) deals of a period are then read by seeking each owner in m0013's (m0014's) index, where
/// SQLite's planner (without statistics) ranges over the whole org's period in m0012's and
/// filters it (large org, a manager's five owners: open groups 2.3 -> 0.4 ms). More owners
/// read the period's range, which is then the smaller read.
fn few_owners<'a>(backend: DatabaseBackend, owners: Option<&[UserId]>, index: &'a str) -> &'a str {
    match backend == DatabaseBackend::Sqlite && few(owners) {
        true => index,
        false => "",
    }
}

/// Whether a scope has at most [`FEW_OWNERS`] owners (the org has all of them).
fn few(owners: Option<&[UserId]>) -> bool {
    owners.is_some_and(|o| o.len() <= FEW_OWNERS)
}

/// The open deals by owner (m0013), for a few owners' forecast on SQLite.
const OPEN_BY_OWNER: &str = "INDEXED BY ix_deals_open_by_owner";

/// A deal's month of close on SQLite (dates are stored as `YYYY-MM-DD`), as m0014 indexes it.
const MONTH: &str = "substr(close_date, 1, 7)";

/// Every month (`YYYY-MM`) with a day in `[from, to)`.
fn months_between(from: NaiveDate, to: NaiveDate) -> Vec<String> {
    use chrono::Datelike;
    let mut months = Vec::new();
    let mut month = from.with_day(1).unwrap_or(from);
    while month < to && months.len() < 1_200 {
        months.push(format!("{:04}-{:02}", month.year(), month.month()));
        match month.checked_add_months(chrono::Months::new(1)) {
            Some(next) => month = next,
            None => break,
        }
    }
    months
}

/// The SQL of one deal's converted amount, binding the valuation's exchange rates into
/// `values`: the arithmetic of `convert_minor`, halves rounded up as `floor(x + 0.5)` (on
/// SQLite a cast truncates, which is the same for the non-negative values here), capped at the
/// amount ceiling before the cast so that none overflows. Only what the SQL uses is bound: a
/// statement's text and its parameters must match wherever the text recurs (PostgreSQL keeps
/// the first parameter list it was prepared with).
fn converted_sql(
    backend: DatabaseBackend,
    valuation: &Valuation,
    values: &mut Vec<Value>,
) -> String {
    let capped = |x: String| match backend {
        DatabaseBackend::Postgres => {
            format!("CAST(FLOOR(LEAST({x} + 0.5, {MAX_AMOUNT_MINOR})) AS BIGINT)")
        }
        _ => format!("CAST(MIN({x} + 0.5, {MAX_AMOUNT_MINOR}) AS INTEGER)"),
    };
    let mut sql = format!(
        "CASE currency WHEN {} THEN amount_minor",
        bind(values, valuation.into.code().to_string().into())
    );
    for (code, rate) in &valuation.rates {
        let code = bind(values, code.code().to_string().into());
        // A rate above the ceiling caps every amount of at least one minor unit at the ceiling
        // anyway; bound as it is, PostgreSQL's product could overflow a double (an error there).
        let rate = bind(values, rate.min(MAX_AMOUNT_MINOR as f64).into());
        sql.push_str(&format!(
            " WHEN {code} THEN {}",
            capped(format!("amount_minor * {rate}"))
        ));
    }
    sql.push_str(" END");
    sql
}

/// The SQL of one deal's weighted amount (`weigh`) given its `converted` amount's, binding the
/// valuation's win rates into `values`; a stage without a rate weighs nothing.
fn weighted_sql(
    backend: DatabaseBackend,
    valuation: &Valuation,
    converted: &str,
    values: &mut Vec<Value>,
) -> String {
    let mut rate = String::from("CASE pipeline_id");
    let mut any = false;
    for (pipeline, stages) in &valuation.win_rates {
        if stages.is_empty() {
            continue;
        }
        any = true;
        let pipeline = bind(values, pipeline.to_string().into());
        rate.push_str(&format!(" WHEN {pipeline} THEN CASE stage_id"));
        for (stage, p) in stages {
            let stage = bind(values, stage.clone().into());
            let p = bind(values, p.clamp(0.0, 1.0).into());
            rate.push_str(&format!(" WHEN {stage} THEN {p}"));
        }
        rate.push_str(" END");
    }
    rate.push_str(" END");
    let rate = if any { rate } else { "NULL".into() };
    let x = format!("({converted}) * COALESCE({rate}, 0.0)");
    match backend {
        DatabaseBackend::Postgres => format!("CAST(FLOOR({x} + 0.5) AS BIGINT)"),
        _ => format!("CAST({x} + 0.5 AS INTEGER)"),
    }
}

/// Appends `value` to `values` and names its placeholder.
fn bind(values: &mut Vec<Value>, value: Value) -> String {
    values.push(value);
    format!("${}", values.len())
}

impl SqlStore {
    /// One of the forecast's reads over a wide scope (the org, or more owners than
    /// [`FEW_OWNERS`]). On PostgreSQL it runs without parallel workers (`SET LOCAL` in a read's
    /// own transaction): the forecast already runs its reads at the same time, one per
    /// connection, and a parallel plan for one of them (the planner picks one for a quarter's
    /// won deals of the large org) only crowds the other, the longer one, off the cores
    /// (measured on the large org, 2 cores: the org forecast 33 -> 26 ms, the won sums 22 -> 13
    /// ms). The round trips it adds (about 0.2 ms) are not paid by narrow scopes, whose ranges
    /// are too small for a parallel plan anyway.
    async fn wide_read(
        &self,
        owners: Option<&[UserId]>,
        statement: Statement,
    ) -> Result<Vec<QueryResult>, DbErr> {
        if few(owners) || self.db.get_database_backend() != DatabaseBackend::Postgres {
            return self.db.query_all_raw(statement).await;
        }
        let txn = self.db.begin().await?;
        txn.execute_unprepared("SET LOCAL max_parallel_workers_per_gather = 0")
            .await?;
        let rows = txn.query_all_raw(statement).await?;
        txn.commit().await?;
        Ok(rows)
    }
}

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

/// `snapshots` with their period rates (read for the snapshot RPCs; forecasts' cache of current
/// snapshots does without them).
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
    let mut tables = super::period_rates::load(conn, &ids, &stage_rates).await?;
    for snapshot in &mut snapshots {
        snapshot.period_rates = tables.remove(&snapshot.id.to_string()).unwrap_or_default();
    }
    Ok(snapshots)
}

impl ForecastStore for SqlStore {
    async fn win_rate_cohorts(
        &self,
        pipeline: Uuid,
        from: NaiveDate,
        to: NaiveDate,
        split: CohortSplit,
    ) -> AppResult<Vec<CohortRow>> {
        let (segment, join) = match split {
            CohortSplit::None => ("''", ""),
            CohortSplit::LeadSource => ("COALESCE(d.lead_source, '')", ""),
            CohortSplit::Team => (
                "COALESCE(u.manager_id, '')",
                "JOIN users u ON u.id = d.owner_id",
            ),
        };
        // Each deal counts once per stage it ever entered (DISTINCT), however often it did.
        let sql = format!(
            "SELECT v.seg AS seg, v.to_stage AS stage_id, v.status AS status, v.currency AS currency, \
                    COUNT(*) AS deals, SUM(COALESCE(CAST(v.amount_minor AS DOUBLE PRECISION), 0.0)) AS amount \
             FROM (SELECT DISTINCT h.deal_id, h.to_stage, d.status, d.currency, d.amount_minor, {segment} AS seg \
                   FROM deals d JOIN stage_history h ON h.deal_id = d.id {join} \
                   WHERE d.pipeline_id = $1 AND d.status IN ('WON', 'LOST') \
                     AND d.close_date >= $2 AND d.close_date < $3) v \
             GROUP BY v.seg, v.to_stage, v.status, v.currency"
        );
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                [pipeline.to_string().into(), from.into(), to.into()],
            ))
            .await
            .map_err(storage)?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("", "status")?;
                let deals: i64 = row.try_get("", "deals")?;
                Ok(CohortRow {
                    segment: row.try_get("", "seg")?,
                    stage_id: row.try_get("", "stage_id")?,
                    won: status == "WON",
                    currency: row.try_get("", "currency")?,
                    deals: deals.max(0) as u64,
                    amount: row.try_get::<Option<f64>>("", "amount")?.unwrap_or(0.0),
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(storage)
    }

    async fn latest_win_rate_version(&self, pipeline: Uuid) -> AppResult<Option<i64>> {
        let row = win_rate_snapshot::Entity::find()
            .filter(win_rate_snapshot::Column::PipelineId.eq(pipeline.to_string()))
            .order_by_desc(win_rate_snapshot::Column::Version)
            .one(&self.db)
            .await
            .map_err(storage)?;
        Ok(row.map(|r| r.version))
    }

    async fn insert_win_rate_snapshot(
        &self,
        s: &WinRateSnapshot,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> AppResult<Created<()>> {
        self.write_once(vec![audit], idempotency, async |txn| {
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
                        name: format!("pipelines/{}/winRateSnapshots/{}", s.pipeline_id, s.version),
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
            super::period_rates::insert(txn, &id, &s.period_rates)
                .await
                .map_err(storage)
        })
        .await
        .inspect(|_| self.caches.win_rates.clear())
    }

    async fn get_win_rate_snapshot(
        &self,
        pipeline: Uuid,
        version: i64,
    ) -> AppResult<Option<WinRateSnapshot>> {
        let row = win_rate_snapshot::Entity::find()
            .filter(win_rate_snapshot::Column::PipelineId.eq(pipeline.to_string()))
            .filter(win_rate_snapshot::Column::Version.eq(version))
            .one(&self.db)
            .await
            .map_err(storage)?;
        let snapshots = load_snapshots(&self.db, row.into_iter().collect())
            .await
            .map_err(storage)?;
        Ok(with_period_rates(&self.db, snapshots)
            .await
            .map_err(storage)?
            .pop())
    }

    async fn list_win_rate_snapshots(
        &self,
        pipeline: Uuid,
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
        let rows = query.all(&self.db).await.map_err(storage)?;
        let snapshots = load_snapshots(&self.db, rows).await.map_err(storage)?;
        with_period_rates(&self.db, snapshots)
            .await
            .map_err(storage)
    }

    async fn current_win_rate_snapshots(&self) -> AppResult<Vec<WinRateSnapshot>> {
        self.caches
            .win_rates
            .get_or_load((), async {
                let rows = win_rate_snapshot::Entity::find()
                    .filter(win_rate_snapshot::Column::Current.eq(true))
                    .all(&self.db)
                    .await
                    .map_err(storage)?;
                load_snapshots(&self.db, rows).await.map_err(storage)
            })
            .await
    }

    async fn open_deals_closing(
        &self,
        owners: Option<&[UserId]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> AppResult<Vec<OpenDealRow>> {
        let backend = self.db.get_database_backend();
        let mut values: Vec<Value> = vec![from.into(), to.into()];
        let Some(filter) = owner_filter("owner_id", owners, &mut values) else {
            return Ok(Vec::new());
        };
        let index = few_owners(backend, owners, OPEN_BY_OWNER);
        let sql = format!(
            "SELECT owner_id, pipeline_id, stage_id, forecast_category, amount_minor, currency \
             FROM deals {index} \
             WHERE status = 'OPEN' AND close_date >= $1 AND close_date < $2 {filter}"
        );
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(storage)?;
        rows.iter()
            .map(|row| {
                let text = |column: &str| row.try_get::<String>("", column);
                let amount: Option<i64> = row.try_get("", "amount_minor")?;
                let code: Option<String> = row.try_get("", "currency")?;
                let amount = match (amount, code) {
                    (Some(minor), Some(code)) => Some(Money {
                        minor,
                        currency: currency(&code)?,
                    }),
                    _ => None,
                };
                Ok(OpenDealRow {
                    owner: UserId(uuid(&text("owner_id")?)?),
                    pipeline: uuid(&text("pipeline_id")?)?,
                    stage: text("stage_id")?,
                    category: decode_category(&text("forecast_category")?)?,
                    amount,
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(storage)
    }

    async fn open_deal_groups(
        &self,
        owners: Option<&[UserId]>,
        from: NaiveDate,
        to: NaiveDate,
        valuation: &Valuation,
    ) -> AppResult<Vec<OpenGroupRow>> {
        let backend = self.db.get_database_backend();
        let mut values: Vec<Value> = vec![from.into(), to.into()];
        let mut index = "";
        let (filter, keys) = match owners {
            Some(_) => {
                index = few_owners(backend, owners, OPEN_BY_OWNER);
                let Some(filter) = owner_filter("owner_id", owners, &mut values) else {
                    return Ok(Vec::new());
                };
                (filter, "owner_id, ".to_string())
            }
            // SQLite reads the org's period month by month from m0014's index, already in group
            // order, instead of sorting the period's deals into a temporary B-tree. Named, for
            // its planner prefers the close-date range of m0012's index when the months are
            // bound parameters (measured on the large org: 8 ms against 28 ms).
            None if backend == DatabaseBackend::Sqlite => {
                index = "INDEXED BY ix_deals_open_by_month";
                let months = in_list(&mut values, months_between(from, to));
                (format!("AND {MONTH} IN ({months})"), format!("{MONTH}, "))
            }
            None => (String::new(), String::new()),
        };
        let converted = converted_sql(backend, valuation, &mut values);
        let weighted = weighted_sql(backend, valuation, &converted, &mut values);
        // Amounts reach 10^12 minor units: their powers are summed as doubles.
        let sql = format!(
            "SELECT {keys}pipeline_id, stage_id, forecast_category, currency, \
                    COUNT(*) AS deals, \
                    COALESCE(SUM(CAST(amount_minor AS DOUBLE PRECISION) * amount_minor), 0.0) AS squares, \
                    COALESCE(SUM(CAST(amount_minor AS DOUBLE PRECISION) * amount_minor * amount_minor), 0.0) AS cubes, \
                    CAST(SUM({converted}) AS BIGINT) AS converted, \
                    CAST(SUM({weighted}) AS BIGINT) AS weighted \
             FROM deals {index} \
             WHERE status = 'OPEN' AND close_date >= $1 AND close_date < $2 {filter} \
             GROUP BY {keys}pipeline_id, stage_id, forecast_category, currency"
        );
        let rows = self
            .wide_read(owners, Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(storage)?;
        let by_owner = owners.is_some();
        rows.iter()
            .map(|row| {
                let text = |column: &str| row.try_get::<String>("", column);
                let code: Option<String> = row.try_get("", "currency")?;
                Ok(OpenGroupRow {
                    owner: match by_owner {
                        true => Some(UserId(uuid(&text("owner_id")?)?)),
                        false => None,
                    },
                    pipeline: uuid(&text("pipeline_id")?)?,
                    stage: text("stage_id")?,
                    category: decode_category(&text("forecast_category")?)?,
                    currency: code.as_deref().map(currency).transpose()?,
                    deals: row.try_get::<i64>("", "deals")?.max(0) as u64,
                    squares: row.try_get("", "squares")?,
                    cubes: row.try_get("", "cubes")?,
                    converted: row.try_get("", "converted")?,
                    weighted: row.try_get("", "weighted")?,
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(storage)
    }

    async fn closed_won_between(
        &self,
        owners: Option<&[UserId]>,
        by_owner: bool,
        from: NaiveDate,
        to: NaiveDate,
        valuation: &Valuation,
    ) -> AppResult<Vec<WonRow>> {
        let backend = self.db.get_database_backend();
        let mut values: Vec<Value> = vec![from.into(), to.into()];
        let Some(filter) = owner_filter("owner_id", owners, &mut values) else {
            return Ok(Vec::new());
        };
        let converted = converted_sql(backend, valuation, &mut values);
        let index = few_owners(backend, owners, "INDEXED BY ix_deals_won_booked_by_owner");
        let query = |keys: &str, group: &str, values: Vec<Value>| {
            let sql = format!(
                "SELECT {keys}, CAST(SUM({converted}) AS BIGINT) AS converted, \
                        COUNT({converted}) AS valued, COUNT(amount_minor) AS priced, \
                        COUNT(*) AS deals FROM deals {index} \
                 WHERE status = 'WON' AND close_date >= $1 AND close_date < $2 {filter} {group}"
            );
            self.wide_read(owners, Statement::from_sql_and_values(backend, sql, values))
        };
        let rows = if by_owner {
            query("owner_id, currency", "GROUP BY owner_id, currency", values).await
        } else {
            // One pass over the period's won deals, no grouping to sort; per currency only
            // when one has no rate, to name it.
            let all = query("NULL AS owner_id, NULL AS currency", "", values.clone())
                .await
                .map_err(storage)?;
            let complete = all.iter().all(|row| {
                row.try_get::<i64>("", "valued").ok() == row.try_get::<i64>("", "priced").ok()
            });
            if complete {
                Ok(all)
            } else {
                query("NULL AS owner_id, currency", "GROUP BY currency", values).await
            }
        }
        .map_err(storage)?;
        rows.iter()
            .filter(|row| row.try_get::<i64>("", "deals").is_ok_and(|n| n > 0))
            .map(|row| {
                let owner: Option<String> = row.try_get("", "owner_id")?;
                let code: Option<String> = row.try_get("", "currency")?;
                Ok(WonRow {
                    owner: owner.as_deref().map(uuid).transpose()?.map(UserId),
                    currency: code.as_deref().map(currency).transpose()?,
                    converted: row.try_get("", "converted")?,
                    deals: row.try_get::<i64>("", "deals")?.max(0) as u64,
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(storage)
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
        let txn = self.begin_write().await.map_err(storage)?;
        exchange_rate::Entity::insert(exchange_rate::ActiveModel {
            from_currency: Set(rate.from.code().to_string()),
            to_currency: Set(rate.to.code().to_string()),
            rate: Set(rate.rate),
            updated_at: Set(at),
        })
        .on_conflict(
            OnConflict::columns([
                exchange_rate::Column::FromCurrency,
                exchange_rate::Column::ToCurrency,
            ])
            .update_columns([
                exchange_rate::Column::Rate,
                exchange_rate::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(storage)?;
        record_audit(&txn, audit).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        self.caches.exchange_rates.clear();
        Ok(())
    }

    async fn exchange_rates(&self) -> AppResult<Vec<(ExchangeRate, DateTime<Utc>)>> {
        self.caches
            .exchange_rates
            .get_or_load((), async {
                let rows = exchange_rate::Entity::find()
                    .order_by_asc(exchange_rate::Column::FromCurrency)
                    .order_by_asc(exchange_rate::Column::ToCurrency)
                    .all(&self.db)
                    .await
                    .map_err(storage)?;
                rows.into_iter()
                    .map(|r| {
                        Ok((
                            ExchangeRate {
                                from: currency(&r.from_currency)?,
                                to: currency(&r.to_currency)?,
                                rate: r.rate,
                            },
                            r.updated_at,
                        ))
                    })
                    .collect::<Result<_, DbErr>>()
                    .map_err(storage)
            })
            .await
    }

    async fn append_call_event(&self, e: &CallEvent, audit: AuditEntry) -> AppResult<CallEvent> {
        let txn = self.begin_write().await.map_err(storage)?;
        let kind = match e.kind {
            CallEventKind::Submit => "SUBMIT",
            CallEventKind::Adjust => "ADJUST",
            CallEventKind::Judge => "JUDGE",
        };
        let inserted = forecast_call_event::Entity::insert(forecast_call_event::ActiveModel {
            period: Set(e.period.clone()),
            subject_id: Set(e.subject.0.to_string()),
            author_id: Set(e.author.0.to_string()),
            kind: Set(kind.to_string()),
            commit_minor: Set(e.commit.map(|m| m.minor)),
            best_case_minor: Set(e.best_case.map(|m| m.minor)),
            currency: Set(e.commit.map(|m| m.currency.code().to_string())),
            deal_id: Set(e.deal.map(|d| d.to_string())),
            include: Set(e.include),
            note: Set(e.note.clone()),
            created_at: Set(e.at),
            ..Default::default()
        })
        .exec(&txn)
        .await
        .map_err(storage)?;
        record_audit(&txn, audit).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(CallEvent {
            sequence: inserted.last_insert_id,
            ..e.clone()
        })
    }

    async fn call_events(
        &self,
        period: &str,
        subjects: Option<&[UserId]>,
        as_of: DateTime<Utc>,
    ) -> AppResult<Vec<CallEvent>> {
        let mut query = forecast_call_event::Entity::find()
            .filter(forecast_call_event::Column::Period.eq(period))
            .filter(forecast_call_event::Column::CreatedAt.lte(as_of));
        if let Some(subjects) = subjects {
            query = query.filter(
                forecast_call_event::Column::SubjectId
                    .is_in(subjects.iter().map(|s| s.0.to_string()).collect::<Vec<_>>()),
            );
        }
        let rows = query
            .order_by_asc(forecast_call_event::Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|r| {
                let currency = r.currency.as_deref().map(currency).transpose()?;
                let money = |minor: Option<i64>| {
                    minor
                        .zip(currency)
                        .map(|(minor, currency)| Money { minor, currency })
                };
                Ok(CallEvent {
                    sequence: r.id,
                    kind: match r.kind.as_str() {
                        "SUBMIT" => CallEventKind::Submit,
                        "ADJUST" => CallEventKind::Adjust,
                        "JUDGE" => CallEventKind::Judge,
                        other => return Err(corrupt("call event kind", other)),
                    },
                    period: r.period,
                    subject: UserId(uuid(&r.subject_id)?),
                    author: UserId(uuid(&r.author_id)?),
                    commit: money(r.commit_minor),
                    best_case: money(r.best_case_minor),
                    deal: r.deal_id.as_deref().map(uuid).transpose()?,
                    include: r.include,
                    note: r.note,
                    at: r.created_at,
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(storage)
    }
    async fn insert_forecast_snapshot(
        &self,
        f: &ForecastSnapshot,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> AppResult<Created<()>> {
        self.write_once(vec![audit], idempotency, async |txn| {
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

    async fn forecast_snapshots(
        &self,
        period: &str,
        scope: &str,
    ) -> AppResult<Vec<ForecastSnapshot>> {
        let rows = forecast_snapshot::Entity::find()
            .filter(forecast_snapshot::Column::Period.eq(period))
            .filter(forecast_snapshot::Column::Scope.eq(scope))
            .order_by_asc(forecast_snapshot::Column::TakenAt)
            .order_by_asc(forecast_snapshot::Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let calls = forecast_snapshot_call::Entity::find()
            .filter(forecast_snapshot_call::Column::SnapshotId.is_in(ids))
            .order_by_asc(forecast_snapshot_call::Column::UserId)
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|r| {
                let totals = Figures {
                    weighted_pipeline: r.weighted_pipeline,
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

    async fn deal_timelines(
        &self,
        pipeline: Option<Uuid>,
        owners: Option<&[UserId]>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> AppResult<Vec<(Uuid, DealTimeline)>> {
        super::field_history::timelines(&self.db, pipeline, owners, from, to)
            .await
            .map_err(storage)
    }
}
