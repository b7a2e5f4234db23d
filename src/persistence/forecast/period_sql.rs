//! The period rates' SQL: each open deal's segment (its size band and its close-date pushes so
//! far, DESIGN.md "Learning q") and its amount weighed at the segment's q; and the
//! not-yet-created term's past revenue, added up per owner and currency.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement, Value};

use super::aggregates::{bind, converted_sql, owner_filter, weigh_sql};
use super::currency;
use crate::app::AppResult;
use crate::app::ports::{CreatedAfter, NewRevenueRow, PeriodValuation, Valuation};
use crate::domain::directory::UserId;
use crate::persistence::codec::uuid;
use crate::persistence::{SqlStore, storage};

/// The SQL of a deal's close-date pushes so far, capped at 2 (kept on its row, m0019).
pub(super) const PUSHES: &str =
    "CAST(CASE WHEN close_date_pushes >= 2 THEN 2 ELSE close_date_pushes END AS BIGINT)";

/// The SQL of a deal's segment ([`crate::app::ports::segment`]): `(band + 1) * 3 + pushes`,
/// with the band from the pipeline's thresholds in the deal's currency (a deal without an
/// amount is in band 0, as an amount of 0 is; a currency without thresholds: -1).
pub(super) fn segment_sql(period: &PeriodValuation, values: &mut Vec<Value>) -> String {
    // A CASE needs a WHEN: a read of pipelines without thresholds (a range of them) or a
    // pipeline without a currency's has its ELSE alone.
    let mut by_pipeline = String::new();
    for (pipeline, thresholds) in &period.bands {
        let mut by_currency = String::new();
        for (code, [one, two]) in thresholds {
            let code = bind(values, code.code().to_string().into());
            let (one, two) = (bind(values, (*one).into()), bind(values, (*two).into()));
            by_currency.push_str(&format!(
                " WHEN {code} THEN CASE WHEN amount_minor >= {two} THEN 3 \
                  WHEN amount_minor >= {one} THEN 2 ELSE 1 END"
            ));
        }
        let pipeline = bind(values, pipeline.to_string().into());
        by_pipeline.push_str(&match by_currency.is_empty() {
            true => format!(" WHEN {pipeline} THEN 0"),
            false => format!(" WHEN {pipeline} THEN CASE currency{by_currency} ELSE 0 END"),
        });
    }
    let band = match by_pipeline.is_empty() {
        true => "CASE WHEN amount_minor IS NULL THEN 1 ELSE 0 END".to_string(),
        false => format!(
            "CASE WHEN amount_minor IS NULL THEN 1 ELSE CASE pipeline_id{by_pipeline} ELSE 0 END END"
        ),
    };
    format!("(({band}) * 3 + {PUSHES})")
}

/// The SQL of a deal's q, given its `segment` column: per pipeline, stage and segment.
fn q_sql(period: &PeriodValuation, values: &mut Vec<Value>) -> String {
    let mut q = String::from("CASE pipeline_id");
    let mut any = false;
    for (pipeline, stages) in period.q.iter().filter(|(_, s)| !s.is_empty()) {
        any = true;
        let pipeline = bind(values, pipeline.to_string().into());
        q.push_str(&format!(" WHEN {pipeline} THEN CASE stage_id"));
        for (stage, by_segment) in stages {
            let stage = bind(values, stage.clone().into());
            q.push_str(&format!(" WHEN {stage} THEN CASE segment"));
            for (segment, rate) in by_segment.iter().enumerate() {
                let rate = bind(values, rate.clamp(0.0, 1.0).into());
                q.push_str(&format!(" WHEN {segment} THEN {rate}"));
            }
            q.push_str(" END");
        }
        q.push_str(" END");
    }
    q.push_str(" END");
    if any { q } else { "NULL".into() }
}

/// The SQL of a group's sum of each open deal's amount weighed at its segment's q given its
/// `converted` amount's and its `segment` column (NULL without period rates: the group's
/// `weighted` sum is then its period-weighted one too, and is not computed twice).
pub(super) fn period_weighted_sql(
    backend: DatabaseBackend,
    valuation: &Valuation,
    converted: &str,
    values: &mut Vec<Value>,
) -> String {
    match &valuation.period {
        None => "CAST(NULL AS BIGINT)".into(),
        Some(period) => {
            let q = q_sql(period, values);
            let weighted = weigh_sql(backend, converted, &q);
            format!("CAST(SUM({weighted}) AS BIGINT)")
        }
    }
}

/// The not-yet-created term's past revenue ([`crate::app::ports::ForecastStore::revenue_created_after`]).
pub(super) async fn revenue_created_after(
    store: &SqlStore,
    owners: Option<&[UserId]>,
    windows: &[CreatedAfter],
    as_of: DateTime<Utc>,
    valuation: &Valuation,
) -> AppResult<Vec<NewRevenueRow>> {
    let (Some(first), Some(last)) = (
        windows.iter().map(|w| w.from).min(),
        windows.iter().map(|w| w.to).max(),
    ) else {
        return Ok(Vec::new());
    };
    let backend = store.db.get_database_backend();
    let mut values: Vec<Value> = vec![first.into(), last.into(), as_of.into()];
    let Some(filter) = owner_filter("owner_id", owners, &mut values) else {
        return Ok(Vec::new());
    };
    let converted = converted_sql(backend, valuation, &mut values);
    let mut sums = String::new();
    for (i, w) in windows.iter().enumerate() {
        let mut when = || {
            let (from, to) = (
                bind(&mut values, w.from.into()),
                bind(&mut values, w.to.into()),
            );
            let point = bind(&mut values, w.point.into());
            format!("close_date >= {from} AND close_date < {to} AND created_at > {point}")
        };
        let (sum, count) = (when(), when());
        sums.push_str(&format!(
            ", CAST(SUM(CASE WHEN {sum} THEN {converted} END) AS BIGINT) AS v{i},              COUNT(CASE WHEN {count} THEN 1 END) AS n{i}"
        ));
    }
    let sql = format!(
        "SELECT owner_id, currency{sums} FROM deals \
         WHERE status = 'WON' AND close_date >= $1 AND close_date < $2 AND created_at <= $3 \
         {filter} GROUP BY owner_id, currency"
    );
    let rows = store
        .db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .map_err(storage)?;
    rows.iter()
        .map(|row| {
            let owner: String = row.try_get("", "owner_id")?;
            let code: Option<String> = row.try_get("", "currency")?;
            let mut converted = Vec::with_capacity(windows.len());
            let mut deals = Vec::with_capacity(windows.len());
            for i in 0..windows.len() {
                converted.push(row.try_get::<Option<i64>>("", &format!("v{i}"))?);
                deals.push(row.try_get::<i64>("", &format!("n{i}"))?.max(0) as u64);
            }
            Ok(NewRevenueRow {
                owner: UserId(uuid(&owner)?),
                currency: code.as_deref().map(currency).transpose()?,
                converted,
                deals,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(storage)
}
