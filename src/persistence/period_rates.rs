//! The period win rates q stored with their win-rate snapshot: one table per kind of period,
//! its cells and its past periods' outcomes, written in the snapshot's transaction.

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{Alias, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, Value};

use super::codec::corrupt;
use crate::domain::calendar::PeriodKind;
use crate::domain::money::Currency;
use crate::domain::period_rate::{
    CellKey, OffPeriod, PeriodOutcome, PeriodRateCell, PeriodRateTable,
};

fn kind_code(kind: PeriodKind) -> &'static str {
    match kind {
        PeriodKind::Month => "MONTH",
        PeriodKind::Quarter => "QUARTER",
    }
}

fn kind_of(code: &str) -> Result<PeriodKind, DbErr> {
    match code {
        "MONTH" => Ok(PeriodKind::Month),
        "QUARTER" => Ok(PeriodKind::Quarter),
        other => Err(corrupt("period kind", other)),
    }
}

async fn insert_rows<C: ConnectionTrait>(
    db: &C,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<SimpleExpr>>,
) -> Result<(), DbErr> {
    for chunk in rows.chunks(200) {
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new(table))
            .columns(columns.iter().map(|c| Alias::new(*c)));
        for row in chunk {
            insert
                .values(row.clone())
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        db.execute_raw(db.get_database_backend().build(&insert))
            .await?;
    }
    Ok(())
}

/// Writes `tables` as the period rates of snapshot `snapshot`.
pub(super) async fn insert<C: ConnectionTrait>(
    db: &C,
    snapshot: &str,
    tables: &[PeriodRateTable],
) -> Result<(), DbErr> {
    let v = |value: Value| SimpleExpr::Value(value);
    let mut heads = Vec::new();
    let mut cells = Vec::new();
    let mut outcomes = Vec::new();
    for t in tables {
        let kind = kind_code(t.kind);
        heads.push(vec![
            v(snapshot.into()),
            v(kind.into()),
            v(t.learned_at.into()),
            v((t.window_days as i32).into()),
            v((t.prior_weight as i32).into()),
            v(t.size_cuts.map(|c| c[0]).into()),
            v(t.size_cuts.map(|c| c[1]).into()),
            v(t.size_currency.to_string().into()),
            v(t.in_period_share.into()),
            v(t.pull_in_share.into()),
            v(t.overdue_share.into()),
            v(t.overdue_prior.into()),
        ]);
        let off_period = OffPeriod::ALL.into_iter().flat_map(|off| {
            t.off_period_cells(off).map(move |(stage, bucket, c)| {
                let key = CellKey {
                    horizon_bucket: bucket,
                    size_band: None,
                    pushes: None,
                };
                (stage, key, c, Some(off))
            })
        });
        for (stage, key, c, off) in t
            .cells()
            .map(|(s, k, c)| (s, *k, c, None))
            .chain(off_period)
        {
            cells.push(vec![
                v(snapshot.into()),
                v(kind.into()),
                v(stage.into()),
                v(i16::from(key.horizon_bucket).into()),
                v(key.size_band.map(i16::from).into()),
                v(key.pushes.map(i16::from).into()),
                v((off == Some(OffPeriod::Next)).into()),
                v((off == Some(OffPeriod::Overdue)).into()),
                v((c.observations as i64).into()),
                v((c.deals as i64).into()),
                v((c.deals_won_in_period as i64).into()),
                v(c.outcome_sum.into()),
                v((c.won_in_period as i64).into()),
                v(c.in_period_win_share.into()),
                v(c.raw.into()),
                v(c.prior.into()),
                v(c.q.into()),
                v(c.wilson_low.into()),
                v(c.wilson_high.into()),
            ]);
        }
        for p in &t.periods {
            outcomes.push(vec![
                v(snapshot.into()),
                v(kind.into()),
                v(p.first_day.into()),
                v(p.booked.into()),
                v(p.expected.into()),
            ]);
        }
    }
    let head_columns = [
        "snapshot_id",
        "kind",
        "learned_at",
        "window_days",
        "prior_weight",
        "size_cut_low",
        "size_cut_high",
        "size_currency",
        "in_period_share",
        "pull_in_share",
        "overdue_share",
        "overdue_prior",
    ];
    insert_rows(db, "period_rate_tables", &head_columns, heads).await?;
    let cell_columns = [
        "snapshot_id",
        "kind",
        "stage_id",
        "horizon_bucket",
        "size_band",
        "pushes",
        "dated_later",
        "dated_earlier",
        "observations",
        "deals",
        "deals_won_in_period",
        "outcome_sum",
        "won_in_period",
        "in_period_win_share",
        "raw",
        "prior",
        "q",
        "wilson_low",
        "wilson_high",
    ];
    insert_rows(db, "period_rate_cells", &cell_columns, cells).await?;
    let outcome_columns = ["snapshot_id", "kind", "first_day", "booked", "expected"];
    insert_rows(db, "period_rate_outcomes", &outcome_columns, outcomes).await
}

async fn select<C: ConnectionTrait>(
    db: &C,
    columns: &str,
    table: &str,
    order: &str,
    snapshots: &[String],
) -> Result<Vec<QueryResult>, DbErr> {
    let placeholders: Vec<String> = (1..=snapshots.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {columns} FROM {table} WHERE snapshot_id IN ({}) ORDER BY {order}",
        placeholders.join(", ")
    );
    let values: Vec<Value> = snapshots.iter().map(|s| s.clone().into()).collect();
    db.query_all_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        values,
    ))
    .await
}

fn count(row: &QueryResult, column: &str) -> Result<u64, DbErr> {
    Ok(row.try_get::<i64>("", column)?.max(0) as u64)
}

fn small(row: &QueryResult, column: &str) -> Result<Option<u8>, DbErr> {
    Ok(row
        .try_get::<Option<i16>>("", column)?
        .map(|v| v.clamp(0, 255) as u8))
}

/// The period rates of each of `snapshots`, by snapshot id; `stage_rates` gives each
/// snapshot's stage win rates (the tables' priors lean on them).
pub(super) async fn load<C: ConnectionTrait>(
    db: &C,
    snapshots: &[String],
    stage_rates: &HashMap<String, BTreeMap<String, f64>>,
) -> Result<HashMap<String, Vec<PeriodRateTable>>, DbErr> {
    if snapshots.is_empty() {
        return Ok(HashMap::new());
    }
    let mut tables: BTreeMap<(String, String), PeriodRateTable> = BTreeMap::new();
    let heads = select(
        db,
        "snapshot_id, kind, learned_at, window_days, prior_weight, size_cut_low, \
         size_cut_high, size_currency, in_period_share, pull_in_share, overdue_share, overdue_prior",
        "period_rate_tables",
        "snapshot_id, kind",
        snapshots,
    )
    .await?;
    for row in heads {
        let snapshot: String = row.try_get("", "snapshot_id")?;
        let code: String = row.try_get("", "kind")?;
        let cuts = (
            row.try_get::<Option<i64>>("", "size_cut_low")?,
            row.try_get::<Option<i64>>("", "size_cut_high")?,
        );
        let table = PeriodRateTable {
            kind: kind_of(&code)?,
            learned_at: row.try_get("", "learned_at")?,
            window_days: row.try_get::<i32>("", "window_days")?.max(0) as u32,
            prior_weight: row.try_get::<i32>("", "prior_weight")?.max(0) as u32,
            size_cuts: match cuts {
                (Some(low), Some(high)) => Some([low, high]),
                _ => None,
            },
            size_currency: {
                let code: String = row.try_get("", "size_currency")?;
                Currency::parse(&code).ok_or_else(|| corrupt("size band currency", &code))?
            },
            in_period_share: row.try_get("", "in_period_share")?,
            pull_in_share: row.try_get("", "pull_in_share")?,
            overdue_share: row.try_get("", "overdue_share")?,
            overdue_prior: row.try_get("", "overdue_prior")?,
            stage_rates: stage_rates.get(&snapshot).cloned().unwrap_or_default(),
            cells: BTreeMap::new(),
            pulled_in: BTreeMap::new(),
            overdue: BTreeMap::new(),
            periods: Vec::new(),
        };
        tables.insert((snapshot, code), table);
    }
    let cells = select(db, "*", "period_rate_cells", "snapshot_id, id", snapshots).await?;
    for row in cells {
        let key = (row.try_get("", "snapshot_id")?, row.try_get("", "kind")?);
        let Some(table) = tables.get_mut(&key) else {
            continue;
        };
        let stage: String = row.try_get("", "stage_id")?;
        let cell_key = CellKey {
            horizon_bucket: small(&row, "horizon_bucket")?.unwrap_or_default(),
            size_band: small(&row, "size_band")?,
            pushes: small(&row, "pushes")?,
        };
        let cell = PeriodRateCell {
            observations: count(&row, "observations")?,
            deals: count(&row, "deals")?,
            deals_won_in_period: count(&row, "deals_won_in_period")?,
            outcome_sum: row.try_get("", "outcome_sum")?,
            won_in_period: count(&row, "won_in_period")?,
            in_period_win_share: row.try_get("", "in_period_win_share")?,
            raw: row.try_get("", "raw")?,
            prior: row.try_get("", "prior")?,
            q: row.try_get("", "q")?,
            wilson_low: row.try_get("", "wilson_low")?,
            wilson_high: row.try_get("", "wilson_high")?,
        };
        let off = match (
            row.try_get::<bool>("", "dated_later")?,
            row.try_get::<bool>("", "dated_earlier")?,
        ) {
            (true, _) => Some(OffPeriod::Next),
            (_, true) => Some(OffPeriod::Overdue),
            _ => None,
        };
        if let Some(off) = off {
            let cells = table.off_period_cells_mut(off).entry(stage).or_default();
            cells.insert(cell_key.horizon_bucket, cell);
        } else {
            table.cells.entry(stage).or_default().insert(cell_key, cell);
        }
    }
    let outcomes = select(
        db,
        "snapshot_id, kind, first_day, booked, expected",
        "period_rate_outcomes",
        "snapshot_id, kind, first_day",
        snapshots,
    )
    .await?;
    for row in outcomes {
        let key = (row.try_get("", "snapshot_id")?, row.try_get("", "kind")?);
        if let Some(table) = tables.get_mut(&key) {
            table.periods.push(PeriodOutcome {
                first_day: row.try_get("", "first_day")?,
                booked: row.try_get("", "booked")?,
                expected: row.try_get("", "expected")?,
            });
        }
    }
    let mut out: HashMap<String, Vec<PeriodRateTable>> = HashMap::new();
    for ((snapshot, _), table) in tables {
        out.entry(snapshot).or_default().push(table);
    }
    for list in out.values_mut() {
        list.sort_by_key(|t| kind_code(t.kind) != "MONTH");
    }
    Ok(out)
}
