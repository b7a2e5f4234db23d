//! The forecast's SQL reads: the win-rate cohort count, the open deals of a period (one by one,
//! or grouped with their converted and weighted sums) and the closed-won sums; and the SQL they
//! share (owner filters, the converted and weighted amounts, bound parameters).

use chrono::NaiveDate;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DbErr, QueryResult, Statement, TransactionTrait, Value,
};

use super::batches::{MAX_PARAMETERS, PipelineRange, split};
use super::currency;
use super::packed;
use super::period_sql::{PUSHES, period_weighted_sql, segment_sql};
use crate::app::AppResult;
use crate::app::ports::{CohortRow, CohortSplit, OpenDealRow, OpenGroupRow, Valuation, WonRow};
use crate::domain::directory::UserId;
use crate::domain::ids::PipelineId;
use crate::domain::money::{MAX_AMOUNT_MINOR, Money};
use crate::persistence::codec::{decode_category, uuid};
use crate::persistence::{SqlStore, storage};

/// The placeholders of an `IN` list, each of `texts` bound into `values`.
pub(super) fn in_list(values: &mut Vec<Value>, texts: impl IntoIterator<Item = String>) -> String {
    let placeholders: Vec<String> = texts.into_iter().map(|t| bind(values, t.into())).collect();
    placeholders.join(", ")
}

/// `AND {column} IN (...)` for `owners` (`None`: no condition, everyone's deals), or `None`
/// when the scope has no owners at all (nothing to read).
pub(super) fn owner_filter(
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
/// filters it (BENCHMARKS.md). More owners read the period's range, which is then the smaller
/// read.
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

/// The SQL of one deal's converted amount, binding the valuation's exchange rates into
/// `values`: the arithmetic of `convert_minor`, halves rounded up as `floor(x + 0.5)` (on
/// SQLite a cast truncates, which is the same for the non-negative values here), capped at the
/// amount ceiling before the cast so that none overflows. Only what the SQL uses is bound: a
/// statement's text and its parameters must match wherever the text recurs (PostgreSQL keeps
/// the first parameter list it was prepared with).
pub(super) fn converted_sql(
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
pub(super) fn weighted_sql(
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
    weigh_sql(backend, converted, &rate)
}

/// The SQL of `weigh`: the `converted` amount times `rate` (NULL: 0), halves rounded up.
pub(super) fn weigh_sql(backend: DatabaseBackend, converted: &str, rate: &str) -> String {
    let x = format!("({converted}) * COALESCE({rate}, 0.0)");
    match backend {
        DatabaseBackend::Postgres => format!("CAST(FLOOR({x} + 0.5) AS BIGINT)"),
        _ => format!("CAST({x} + 0.5 AS INTEGER)"),
    }
}

/// Appends `value` to `values` and names its placeholder.
pub(super) fn bind(values: &mut Vec<Value>, value: Value) -> String {
    values.push(value);
    format!("${}", values.len())
}

impl SqlStore {
    /// One of the forecast's reads over a wide scope (the org, or more owners than
    /// [`FEW_OWNERS`]). On PostgreSQL it runs without parallel workers (`SET LOCAL` in a read's
    /// own transaction): the forecast already runs its reads at the same time, one per
    /// connection, and a parallel plan for one of them (the planner picks one for a quarter's
    /// won deals of the large org) only crowds the other, the longer one, off the cores
    /// (BENCHMARKS.md). The round trips it adds are not paid by narrow scopes, whose ranges are
    /// too small for a parallel plan anyway.
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

pub(super) async fn win_rate_cohorts(
    store: &SqlStore,
    pipeline: PipelineId,
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
    let rows = store
        .db
        .query_all_raw(Statement::from_sql_and_values(
            store.db.get_database_backend(),
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

pub(super) async fn open_deals_closing(
    store: &SqlStore,
    owners: Option<&[UserId]>,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Vec<OpenDealRow>> {
    let backend = store.db.get_database_backend();
    let mut values: Vec<Value> = vec![from.into(), to.into()];
    let Some(filter) = owner_filter("owner_id", owners, &mut values) else {
        return Ok(Vec::new());
    };
    let index = few_owners(backend, owners, OPEN_BY_OWNER);
    let sql = format!(
        "SELECT owner_id, pipeline_id, stage_id, forecast_category, amount_minor, currency, \
                {PUSHES} AS pushes \
         FROM deals {index} \
         WHERE status = 'OPEN' AND close_date >= $1 AND close_date < $2 {filter}"
    );
    let rows = store
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
                pushes: row.try_get::<i64>("", "pushes")?.clamp(0, 2) as u32,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(storage)
}

pub(super) async fn open_deal_groups(
    store: &SqlStore,
    owners: Option<&[UserId]>,
    from: NaiveDate,
    to: NaiveDate,
    valuation: &Valuation,
) -> AppResult<Vec<OpenGroupRow>> {
    // On SQLite, whatever the scope (a small team's deals are read one by one instead).
    if store.db.get_database_backend() == DatabaseBackend::Sqlite {
        return packed::open_groups(store, owners, (from, to), valuation).await;
    }
    // What every read binds whatever its pipelines: the days, the owners and the exchange rates.
    let fixed = 3 + owners.map_or(0, <[UserId]>::len) + 2 * valuation.rates.len();
    let Some(parts) = split(valuation, MAX_PARAMETERS.saturating_sub(fixed)) else {
        let whole = PipelineRange::default();
        return open_deal_groups_of(store, owners, (from, to), valuation, &whole).await;
    };
    // Rare (many pipelines of many stages): one read after the other, each its own groups.
    let mut rows = Vec::new();
    for (range, part) in &parts {
        rows.extend(open_deal_groups_of(store, owners, (from, to), part, range).await?);
    }
    Ok(rows)
}

/// The open-deal groups of the pipelines in `range`, valued by `valuation` in SQL (PostgreSQL's
/// reads: SQLite's are [`packed`]).
async fn open_deal_groups_of(
    store: &SqlStore,
    owners: Option<&[UserId]>,
    (from, to): (NaiveDate, NaiveDate),
    valuation: &Valuation,
    range: &PipelineRange,
) -> AppResult<Vec<OpenGroupRow>> {
    let backend = store.db.get_database_backend();
    let mut values: Vec<Value> = vec![from.into(), to.into()];
    let (filter, keys) = match owners {
        Some(_) => {
            let Some(filter) = owner_filter("owner_id", owners, &mut values) else {
                return Ok(Vec::new());
            };
            (filter, "owner_id, ".to_string())
        }
        None => (String::new(), String::new()),
    };
    let pipelines = range.sql(backend, &mut values);
    let open = format!(
        "FROM deals WHERE status = 'OPEN' AND close_date >= $1 AND close_date < $2 {filter}{pipelines}"
    );
    // With period rates, each deal's converted amount and segment are computed once, in a
    // derived table the engine may not merge into the grouping (which would compute them again
    // for each use: the weighted sums, the q of the segment, the group key), and the groups
    // split by segment. Without them the grouping reads the index directly.
    let converted = converted_sql(backend, valuation, &mut values);
    let (source, converted, segment, grouped) = match &valuation.period {
        Some(period) => {
            let segment = segment_sql(period, &mut values);
            let fence = match backend {
                DatabaseBackend::Postgres => "OFFSET 0",
                _ => "LIMIT -1",
            };
            let source = format!(
                "FROM (SELECT {keys}pipeline_id, stage_id, forecast_category, currency, \
                              amount_minor, {converted} AS converted_minor, {segment} AS segment \
                       {open} {fence}) deals"
            );
            (source, "converted_minor".into(), "segment", ", segment")
        }
        None => (open, converted, "NULL", ""),
    };
    let weighted = weighted_sql(backend, valuation, &converted, &mut values);
    let period_weighted = period_weighted_sql(backend, valuation, &converted, &mut values);
    // Amounts reach 10^12 minor units: their powers are summed as doubles.
    let sql = format!(
        "SELECT {keys}pipeline_id, stage_id, forecast_category, currency, {segment} AS segment, \
                COUNT(*) AS deals, \
                COALESCE(SUM(CAST(amount_minor AS DOUBLE PRECISION) * amount_minor), 0.0) AS squares, \
                COALESCE(SUM(CAST(amount_minor AS DOUBLE PRECISION) * amount_minor * amount_minor), 0.0) AS cubes, \
                CAST(SUM({converted}) AS BIGINT) AS converted, \
                CAST(SUM({weighted}) AS BIGINT) AS weighted, \
                {period_weighted} AS period_weighted \
         {source} \
         GROUP BY {keys}pipeline_id, stage_id, forecast_category, currency{grouped}"
    );
    let rows = store
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
                segment: row
                    .try_get::<Option<i64>>("", "segment")?
                    .and_then(|s| u8::try_from(s).ok()),
                period_weighted: row.try_get("", "period_weighted")?,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(storage)
}

pub(super) async fn closed_won_between(
    store: &SqlStore,
    owners: Option<&[UserId]>,
    by_owner: bool,
    from: NaiveDate,
    to: NaiveDate,
    valuation: &Valuation,
) -> AppResult<Vec<WonRow>> {
    let backend = store.db.get_database_backend();
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
        store.wide_read(owners, Statement::from_sql_and_values(backend, sql, values))
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
