//! Pipeline metrics on SQL: conversion, days in stage, backward moves, close-date pushes, sales
//! cycles and stale deals, each one grouped query over the stage history and the deals.
//!
//! Memory stays bounded whatever the history's size: counts are `GROUP BY` aggregates, and a
//! median is never computed from loaded values. Each query ranks its durations per group in
//! SQL (`ROW_NUMBER` and `COUNT` windows) and returns only the one or two middle-ranked rows of
//! each group, whose median `domain::pipeline_metrics::median` then takes: at most two rows per
//! (bucket, stage) or (bucket, lead source), so at most a few thousand rows for 24 months of a
//! 30-stage pipeline. Every query returns each month of the range and, as one more bucket
//! numbered after the last month, the whole range (whose medians and distinct counts cannot be
//! summed from the months).
//!
//! The SQL is the same on SQLite and PostgreSQL (`$n` placeholders, window functions) except
//! for date arithmetic, which [`Dialect`] spells for each engine.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, QueryResult, Statement, Value};

use super::codec::{corrupt, decode_lead_source, encode_lead_source, uuid};
use super::{SqlStore, storage};
use crate::app::AppResult;
use crate::app::ports::{
    ClosedDealsRow, MetricsQuery, PipelineMetricsStore, PushRow, SourceGroup, StageEntryRow,
    StageExitRow, StaleDealRow,
};
use crate::domain::directory::UserId;
use crate::domain::pipeline_metrics::{Bucket, median};

/// The `lead_source` stand-in of the row that counts every source (never a stored value).
const ALL_SOURCES: &str = "*";

/// Bound values and their `$n` placeholders, numbered in the order they are bound (a
/// placeholder may be used several times in one statement).
#[derive(Default)]
struct Binds(Vec<Value>);

impl Binds {
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.0.push(value.into());
        format!("${}", self.0.len())
    }
}

/// ` AND ...` conditions on the deal `d` for the query's owners and lead source.
fn deal_filter(binds: &mut Binds, query: &MetricsQuery) -> String {
    let mut filter = String::new();
    if let Some(owners) = &query.owners {
        let list: Vec<String> = owners.iter().map(|o| binds.bind(o.0.to_string())).collect();
        filter.push_str(&format!(" AND d.owner_id IN ({})", list.join(", ")));
    }
    if let Some(source) = query.lead_source {
        let p = binds.bind(encode_lead_source(source));
        filter.push_str(&format!(" AND d.lead_source = {p}"));
    }
    filter
}

/// Date arithmetic, the one thing the two engines spell differently.
#[derive(Clone, Copy)]
struct Dialect(DatabaseBackend);

impl Dialect {
    /// Days (fractional, to the second) from timestamp `from` to timestamp `to`.
    fn days_between(self, from: &str, to: &str) -> String {
        match self.0 {
            DatabaseBackend::Postgres => {
                format!("(CAST(EXTRACT(EPOCH FROM ({to} - {from})) AS DOUBLE PRECISION) / 86400.0)")
            }
            // SQLite keeps timestamps as RFC 3339 text; strftime('%s') reads the offset.
            _ => format!(
                "((CAST(strftime('%s', {to}) AS DOUBLE PRECISION) \
                   - CAST(strftime('%s', {from}) AS DOUBLE PRECISION)) / 86400.0)"
            ),
        }
    }

    /// Whole days from date `from` to date `to`.
    fn days_between_dates(self, from: &str, to: &str) -> String {
        match self.0 {
            DatabaseBackend::Postgres => format!("CAST(({to} - {from}) AS DOUBLE PRECISION)"),
            _ => format!("(julianday({to}) - julianday({from}))"),
        }
    }

    /// The UTC date of instant `column`.
    fn date_of(self, column: &str) -> String {
        match self.0 {
            DatabaseBackend::Postgres => format!("CAST({column} AT TIME ZONE 'UTC' AS DATE)"),
            _ => format!("date({column})"),
        }
    }

    /// year * 12 + month of a date: later months compare greater.
    fn month_index(self, date: &str) -> String {
        match self.0 {
            DatabaseBackend::Postgres => format!(
                "(CAST(EXTRACT(YEAR FROM {date}) AS INTEGER) * 12 \
                  + CAST(EXTRACT(MONTH FROM {date}) AS INTEGER))"
            ),
            _ => format!(
                "(CAST(strftime('%Y', {date}) AS INTEGER) * 12 \
                  + CAST(strftime('%m', {date}) AS INTEGER))"
            ),
        }
    }
}

/// The parts every metrics statement shares: the bound pipeline, range and deal filters.
struct Frame {
    binds: Binds,
    dialect: Dialect,
    /// Placeholder of the pipeline id.
    pipeline: String,
    /// Placeholders of the month boundaries.
    bounds: Vec<String>,
    /// Placeholders of the months' first days (booking dates are bucketed by these).
    days: Vec<String>,
    /// `AND ...` conditions on the deal `d` (owners, lead source).
    deal_filter: String,
}

impl Frame {
    /// `None` when the filters admit no deal at all (an empty owner list).
    fn new(backend: DatabaseBackend, query: &MetricsQuery) -> Option<Frame> {
        let mut binds = Binds::default();
        let pipeline = binds.bind(query.pipeline.to_string());
        let bounds: Vec<String> = query.boundaries.iter().map(|b| binds.bind(*b)).collect();
        let days: Vec<String> = query.days.iter().map(|d| binds.bind(*d)).collect();
        if query.owners.as_ref().is_some_and(Vec::is_empty) {
            return None;
        }
        let deal_filter = deal_filter(&mut binds, query);
        Some(Frame {
            binds,
            dialect: Dialect(backend),
            pipeline,
            bounds,
            days,
            deal_filter,
        })
    }

    /// Number of months; also the bucket number of the whole range.
    fn months(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }

    /// `column` falls in the range.
    fn in_range(&self, column: &str) -> String {
        Self::between(column, &self.bounds)
    }

    /// Date `column` falls in the range's days.
    fn in_days(&self, column: &str) -> String {
        Self::between(column, &self.days)
    }

    fn between(column: &str, bounds: &[String]) -> String {
        let (lo, hi) = (&bounds[0], &bounds[bounds.len() - 1]);
        format!("{column} >= {lo} AND {column} < {hi}")
    }

    /// The month index of `column` (assumed in the range), as a BIGINT.
    fn bucket(&self, column: &str) -> String {
        self.bucket_by(column, &self.bounds)
    }

    /// The month index of date `column` (assumed in the range's days), as a BIGINT.
    fn day_bucket(&self, column: &str) -> String {
        self.bucket_by(column, &self.days)
    }

    fn bucket_by(&self, column: &str, bounds: &[String]) -> String {
        let inner = &bounds[1..self.months()];
        if inner.is_empty() {
            return "CAST(0 AS BIGINT)".into();
        }
        let arms: String = inner
            .iter()
            .enumerate()
            .map(|(i, b)| format!(" WHEN {column} < {b} THEN {i}"))
            .collect();
        format!("CAST(CASE{arms} ELSE {} END AS BIGINT)", self.months() - 1)
    }

    /// `WITH touched, hist`: every history row of the filtered deals that moved in the range,
    /// each with the next row of its deal and what the deal reached after it. Only deals with
    /// a row in the range are read (through `ix_stage_history_pipeline_time`), but all of their
    /// rows, so a stay that began before the range or an advance after it is still seen.
    fn history(&self) -> String {
        let (p, filter) = (&self.pipeline, &self.deal_filter);
        let touched_range = self.in_range("th.changed_at");
        format!(
            "WITH touched AS ( \
                SELECT DISTINCT th.deal_id FROM stage_history th \
                WHERE th.pipeline_id = {p} AND {touched_range}), \
             hist AS ( \
                SELECT h.id, h.deal_id, h.to_stage, h.changed_at, h.close_date, \
                       st.kind, st.position, \
                       LEAD(h.changed_at) OVER seq AS next_at, \
                       LEAD(h.direction) OVER seq AS next_direction, \
                       LEAD(h.close_date) OVER seq AS next_close_date, \
                       MAX(CASE WHEN st.kind = 'WON' THEN 1 ELSE 0 END) OVER later AS later_won, \
                       MAX(CASE WHEN st.kind = 'OPEN' THEN st.position END) OVER later \
                         AS later_open_position \
                FROM touched t \
                JOIN deals d ON d.id = t.deal_id \
                JOIN stage_history h ON h.deal_id = t.deal_id \
                LEFT JOIN stages st ON st.pipeline_id = h.pipeline_id AND st.stage_id = h.to_stage \
                WHERE d.pipeline_id = {p}{filter} \
                WINDOW seq AS (PARTITION BY h.deal_id ORDER BY h.id), \
                       later AS (PARTITION BY h.deal_id ORDER BY h.id \
                                 ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING))"
        )
    }

    fn statement(self, sql: String) -> Statement {
        Statement::from_sql_and_values(self.dialect.0, sql, self.binds.0)
    }
}

/// Keeps only the middle-ranked rows of each `partition` of `source` ordered by `value`: the
/// rows whose median is the group's median. `extra` are more window columns to keep.
fn middle_rows(source: &str, partition: &str, value: &str, extra: &str) -> String {
    format!(
        "SELECT * FROM ( \
            SELECT {partition}, {value} AS mid, \
                   ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {value}) AS rn, \
                   COUNT(*) OVER (PARTITION BY {partition}) AS n{extra} \
            FROM {source}) ranked \
         WHERE rn = (n + 1) / 2 OR rn = (n + 2) / 2"
    )
}

fn bucket_of(index: i64, months: usize) -> Result<Bucket, DbErr> {
    match usize::try_from(index) {
        Ok(i) if i < months => Ok(Bucket::Month(i)),
        Ok(i) if i == months => Ok(Bucket::Range),
        _ => Err(corrupt("metrics bucket", &index.to_string())),
    }
}

fn count(row: &QueryResult, column: &str) -> Result<u64, DbErr> {
    Ok(row.try_get::<Option<i64>>("", column)?.unwrap_or(0).max(0) as u64)
}

impl SqlStore {
    async fn rows(&self, statement: Statement) -> AppResult<Vec<QueryResult>> {
        self.db.query_all_raw(statement).await.map_err(storage)
    }
}

impl PipelineMetricsStore for SqlStore {
    async fn stage_entries(&self, query: &MetricsQuery) -> AppResult<Vec<StageEntryRow>> {
        let Some(frame) = Frame::new(self.db.get_database_backend(), query) else {
            return Ok(Vec::new());
        };
        let months = frame.months();
        // An entry is any row into an open stage (creation in it included); it advanced when a
        // later row of the deal reached an open stage further on, or won.
        let sql = format!(
            "{history}, \
             entries AS ( \
                SELECT {bucket} AS bucket, r.deal_id, r.to_stage AS stage_id, \
                       CASE WHEN r.later_won = 1 OR r.later_open_position > r.position \
                            THEN 1 ELSE 0 END AS advanced \
                FROM hist r WHERE r.kind = 'OPEN' AND {in_range}), \
             bucketed AS ( \
                SELECT bucket, deal_id, stage_id, advanced FROM entries \
                UNION ALL SELECT CAST({months} AS BIGINT), deal_id, stage_id, advanced FROM entries) \
             SELECT bucket, stage_id, COUNT(DISTINCT deal_id) AS entered, \
                    COUNT(DISTINCT CASE WHEN advanced = 1 THEN deal_id END) AS advanced \
             FROM bucketed GROUP BY bucket, stage_id",
            history = frame.history(),
            bucket = frame.bucket("r.changed_at"),
            in_range = frame.in_range("r.changed_at"),
        );
        let rows = self.rows(frame.statement(sql)).await?;
        rows.iter()
            .map(|row| {
                Ok(StageEntryRow {
                    bucket: bucket_of(row.try_get("", "bucket")?, months)?,
                    stage_id: row.try_get("", "stage_id")?,
                    entered: count(row, "entered")?,
                    advanced: count(row, "advanced")?,
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(storage)
    }

    async fn stage_exits(&self, query: &MetricsQuery) -> AppResult<Vec<StageExitRow>> {
        let Some(frame) = Frame::new(self.db.get_database_backend(), query) else {
            return Ok(Vec::new());
        };
        let months = frame.months();
        // A stay in an open stage ends at the deal's next row (whatever it is); stays still
        // running have no next row and no duration yet.
        let sql = format!(
            "{history}, \
             stays AS ( \
                SELECT {bucket} AS bucket, r.to_stage AS stage_id, {days} AS days, \
                       CASE WHEN r.next_direction = 'BACKWARD' THEN 1 ELSE 0 END AS backward \
                FROM hist r \
                WHERE r.kind = 'OPEN' AND r.next_at IS NOT NULL AND {in_range}), \
             bucketed AS ( \
                SELECT bucket, stage_id, days, backward FROM stays \
                UNION ALL SELECT CAST({months} AS BIGINT), stage_id, days, backward FROM stays) \
             {middle}",
            history = frame.history(),
            bucket = frame.bucket("r.next_at"),
            days = frame.dialect.days_between("r.changed_at", "r.next_at"),
            in_range = frame.in_range("r.next_at"),
            middle = middle_rows(
                "bucketed",
                "bucket, stage_id",
                "days",
                ", SUM(backward) OVER (PARTITION BY bucket, stage_id) AS backward_moves",
            ),
        );
        let rows = self.rows(frame.statement(sql)).await?;
        let mut groups: BTreeMap<(Bucket, String), (u64, u64, Vec<f64>)> = BTreeMap::new();
        for row in &rows {
            let key = (
                bucket_of(row.try_get("", "bucket").map_err(storage)?, months).map_err(storage)?,
                row.try_get::<String>("", "stage_id").map_err(storage)?,
            );
            let group = groups.entry(key).or_default();
            group.0 = count(row, "n").map_err(storage)?;
            group.1 = count(row, "backward_moves").map_err(storage)?;
            group.2.push(row.try_get("", "mid").map_err(storage)?);
        }
        Ok(groups
            .into_iter()
            .map(
                |((bucket, stage_id), (exits, backward, middle))| StageExitRow {
                    bucket,
                    stage_id,
                    exits,
                    backward,
                    median_days: median(&middle),
                },
            )
            .collect())
    }

    async fn close_date_pushes(&self, query: &MetricsQuery) -> AppResult<Vec<PushRow>> {
        let backend = self.db.get_database_backend();
        let Some(frame) = Frame::new(backend, query) else {
            return Ok(Vec::new());
        };
        let months = frame.months();
        // Every change of an open deal's close date from one date to another (field history),
        // by the month it was made in: a push moves it into a later month. The booking date a
        // close sets (the closed deal's close date, written with its status change) is not a
        // re-dating.
        let pairs = |frame: &Frame| {
            let d = frame.dialect;
            let date = |column: &str| match d.0 {
                DatabaseBackend::Postgres => format!("CAST({column} AS DATE)"),
                _ => column.to_string(),
            };
            let (old, new) = (date("fh.old_value"), date("fh.new_value"));
            format!(
                "WITH pairs AS ( \
                    SELECT {bucket} AS bucket, fh.deal_id, \
                           CASE WHEN {later} > {earlier} THEN 1 ELSE 0 END AS pushed, \
                           {days} AS days \
                    FROM field_history fh JOIN deals d ON d.id = fh.deal_id \
                    WHERE fh.field = 'close_date' AND fh.old_value IS NOT NULL \
                      AND fh.new_value IS NOT NULL AND {in_range} \
                      AND d.pipeline_id = {p}{filter} \
                      AND NOT (d.status <> 'OPEN' AND fh.new_value = CAST(d.close_date AS TEXT) \
                               AND EXISTS (SELECT 1 FROM field_history s \
                                           WHERE s.deal_id = fh.deal_id AND s.field = 'status' \
                                             AND s.changed_at = fh.changed_at))), \
                 bucketed AS ( \
                    SELECT bucket, deal_id, pushed, days FROM pairs \
                    UNION ALL SELECT CAST({months} AS BIGINT), deal_id, pushed, days FROM pairs)",
                bucket = frame.bucket("fh.changed_at"),
                later = d.month_index(&new),
                earlier = d.month_index(&old),
                days = d.days_between_dates(&old, &new),
                in_range = frame.in_range("fh.changed_at"),
                p = frame.pipeline,
                filter = frame.deal_filter,
            )
        };
        let counts_sql = format!(
            "{} SELECT bucket, COUNT(*) AS compared, SUM(pushed) AS pushes, \
                    COUNT(DISTINCT CASE WHEN pushed = 1 THEN deal_id END) AS pushed_deals \
             FROM bucketed GROUP BY bucket",
            pairs(&frame)
        );
        // The counts' statement is rebuilt for the medians: binds are consumed per statement.
        let Some(median_frame) = Frame::new(backend, query) else {
            return Ok(Vec::new());
        };
        let medians_sql = format!(
            "{}, pushes AS (SELECT bucket, days FROM bucketed WHERE pushed = 1) {}",
            pairs(&median_frame),
            middle_rows("pushes", "bucket", "days", "")
        );
        let counts = self.rows(frame.statement(counts_sql)).await?;
        let middles = self.rows(median_frame.statement(medians_sql)).await?;
        let mut middle: BTreeMap<Bucket, Vec<f64>> = BTreeMap::new();
        for row in &middles {
            let bucket =
                bucket_of(row.try_get("", "bucket").map_err(storage)?, months).map_err(storage)?;
            middle
                .entry(bucket)
                .or_default()
                .push(row.try_get("", "mid").map_err(storage)?);
        }
        counts
            .iter()
            .map(|row| {
                let bucket = bucket_of(row.try_get("", "bucket")?, months)?;
                Ok(PushRow {
                    bucket,
                    compared: count(row, "compared")?,
                    pushes: count(row, "pushes")?,
                    pushed_deals: count(row, "pushed_deals")?,
                    median_days: middle.get(&bucket).and_then(|m| median(m)),
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(storage)
    }

    async fn closed_deals(&self, query: &MetricsQuery) -> AppResult<Vec<ClosedDealsRow>> {
        let Some(frame) = Frame::new(self.db.get_database_backend(), query) else {
            return Ok(Vec::new());
        };
        let months = frame.months();
        // Each closed deal counts in its month and the range, under its source and under all.
        let sql = format!(
            "WITH closed AS ( \
                SELECT {bucket} AS bucket, COALESCE(d.lead_source, '') AS source, \
                       CASE WHEN d.status = 'WON' THEN 1 ELSE 0 END AS won, {days} AS days \
                FROM deals d \
                WHERE d.pipeline_id = {p} AND d.status IN ('WON', 'LOST') AND {in_range}{filter}), \
             grouped AS ( \
                SELECT bucket, source, won, days FROM closed \
                UNION ALL SELECT bucket, '{all}', won, days FROM closed \
                UNION ALL SELECT CAST({months} AS BIGINT), source, won, days FROM closed \
                UNION ALL SELECT CAST({months} AS BIGINT), '{all}', won, days FROM closed) \
             {middle}",
            bucket = frame.day_bucket("d.close_date"),
            days = frame
                .dialect
                .days_between_dates(&frame.dialect.date_of("d.created_at"), "d.close_date"),
            p = frame.pipeline,
            in_range = frame.in_days("d.close_date"),
            filter = frame.deal_filter,
            all = ALL_SOURCES,
            middle = middle_rows("grouped", "bucket, source, won", "days", ""),
        );
        let rows = self.rows(frame.statement(sql)).await?;
        // (won, lost, middle days of the won) per bucket and source.
        let mut groups: BTreeMap<(Bucket, String), (u64, u64, Vec<f64>)> = BTreeMap::new();
        for row in &rows {
            let key = (
                bucket_of(row.try_get("", "bucket").map_err(storage)?, months).map_err(storage)?,
                row.try_get::<String>("", "source").map_err(storage)?,
            );
            let won = row.try_get::<i32>("", "won").map_err(storage)? == 1;
            let n = count(row, "n").map_err(storage)?;
            let group = groups.entry(key).or_default();
            if won {
                group.0 = n;
                group.2.push(row.try_get("", "mid").map_err(storage)?);
            } else {
                group.1 = n;
            }
        }
        groups
            .into_iter()
            .map(|((bucket, source), (won, lost, middle))| {
                let sources = match source.as_str() {
                    ALL_SOURCES => SourceGroup::All,
                    "" => SourceGroup::One(None),
                    code => SourceGroup::One(Some(decode_lead_source(code).map_err(storage)?)),
                };
                Ok(ClosedDealsRow {
                    bucket,
                    sources,
                    won,
                    lost,
                    median_cycle_days: median(&middle),
                })
            })
            .collect()
    }

    async fn stale_deals(
        &self,
        query: &MetricsQuery,
        cutoffs: &[(String, DateTime<Utc>)],
        limit: u64,
    ) -> AppResult<(Vec<StaleDealRow>, u64)> {
        if cutoffs.is_empty() || query.owners.as_ref().is_some_and(Vec::is_empty) {
            return Ok((Vec::new(), 0));
        }
        let backend = self.db.get_database_backend();
        let condition = |binds: &mut Binds| {
            let p = binds.bind(query.pipeline.to_string());
            let stages: Vec<String> = cutoffs
                .iter()
                .map(|(stage, cutoff)| {
                    let (s, c) = (binds.bind(stage.clone()), binds.bind(*cutoff));
                    format!("(d.stage_id = {s} AND d.stage_entered_at < {c})")
                })
                .collect();
            let filter = deal_filter(binds, query);
            format!(
                "d.pipeline_id = {p} AND d.status = 'OPEN'{filter} AND ({})",
                stages.join(" OR ")
            )
        };
        let mut binds = Binds::default();
        let page_sql = format!(
            "SELECT d.id, d.display_name, d.owner_id, d.stage_id, d.stage_entered_at \
             FROM deals d WHERE {} ORDER BY d.stage_entered_at, d.id LIMIT {limit}",
            condition(&mut binds)
        );
        let page = self
            .rows(Statement::from_sql_and_values(backend, page_sql, binds.0))
            .await?;
        let mut binds = Binds::default();
        let count_sql = format!(
            "SELECT COUNT(*) AS n FROM deals d WHERE {}",
            condition(&mut binds)
        );
        let total = self
            .rows(Statement::from_sql_and_values(backend, count_sql, binds.0))
            .await?;
        let total = match total.first() {
            Some(row) => count(row, "n").map_err(storage)?,
            None => 0,
        };
        let deals = page
            .iter()
            .map(|row| {
                let id: String = row.try_get("", "id")?;
                let owner: String = row.try_get("", "owner_id")?;
                Ok(StaleDealRow {
                    deal: uuid(&id)?,
                    display_name: row.try_get("", "display_name")?,
                    owner: UserId(uuid(&owner)?),
                    stage_id: row.try_get("", "stage_id")?,
                    stage_entered_at: row.try_get("", "stage_entered_at")?,
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(storage)?;
        Ok((deals, total))
    }
}
