//! The open deals of a period on SQLite, the org's or a wide scope's, valued here rather than
//! in SQL.
//!
//! SQLite has no hash aggregation: grouping the period's deals by segment (a size band whose
//! cuts each snapshot learns, so that no index holds it) runs its sorter over every deal, and
//! each deal's q, win rate and conversion are `CASE` chains on text; together they cost four
//! times the scan (BENCHMARKS.md, "The org's open deals read packed on SQLite"). Read in the
//! order of m0014's index instead (named: with the months bound, the planner prefers m0012's
//! close-date range), each group of (month, pipeline, stage, category, currency) comes without
//! a sort and carries its deals' amounts (and close-date pushes) as one text value. Each deal
//! is then converted, put in its segment and weighed here, by the arithmetic of a grouped
//! read's SQL (`converted_sql`, `segment_sql`, `weighted_sql`, `q_sql`, which PostgreSQL still
//! runs), into the same groups. The text holds the period's open deals, a dozen bytes each.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement, Value};

use super::aggregates::in_list;
use super::currency;
use crate::app::AppResult;
use crate::app::ports::{OpenGroupRow, SEGMENTS, Valuation, segment};
use crate::domain::directory::UserId;
use crate::domain::money::MAX_AMOUNT_MINOR;
use crate::persistence::codec::{decode_category, uuid};
use crate::persistence::{SqlStore, storage};

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

/// The open deals dated in `[from, to)` of `owners` (`None`: everyone), in the groups a grouped
/// read returns (per owner for `owners`; by segment too when `valuation` has period rates), in
/// key order. A scope reads the whole period (its owners' deals are kept here, m0024 holding
/// each deal's owner in the index), as the org does.
pub(super) async fn open_groups(
    store: &SqlStore,
    owners: Option<&[UserId]>,
    (from, to): (NaiveDate, NaiveDate),
    valuation: &Valuation,
) -> AppResult<Vec<OpenGroupRow>> {
    let mut values: Vec<Value> = vec![from.into(), to.into()];
    let months = in_list(&mut values, months_between(from, to));
    // A deal without an amount is an empty one; pushes follow a space when segments need them,
    // and the owner leads when the scope is not everyone.
    let mut deal = String::from(match valuation.period {
        Some(_) => "IFNULL(amount_minor, '') || ' ' || close_date_pushes",
        None => "IFNULL(amount_minor, '')",
    });
    if owners.is_some() {
        deal = format!("owner_id || ' ' || {deal}");
    }
    let sql = format!(
        "SELECT pipeline_id, stage_id, forecast_category, currency, group_concat({deal}, ',') AS deals \
         FROM deals INDEXED BY ix_deals_open_by_month \
         WHERE status = 'OPEN' AND close_date >= $1 AND close_date < $2 AND {MONTH} IN ({months}) \
         GROUP BY {MONTH}, pipeline_id, stage_id, forecast_category, currency"
    );
    let rows = store
        .db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            sql,
            values,
        ))
        .await
        .map_err(storage)?;
    let prices = Prices::of(valuation);
    let scope: Option<HashSet<String>> =
        owners.map(|owners| owners.iter().map(|o| o.0.to_string()).collect());
    let mut groups = Groups::new();
    for row in &rows {
        let key = GroupKey {
            owner: None,
            pipeline: row.try_get("", "pipeline_id").map_err(storage)?,
            stage: row.try_get("", "stage_id").map_err(storage)?,
            category: row.try_get("", "forecast_category").map_err(storage)?,
            currency: row.try_get("", "currency").map_err(storage)?,
        };
        let deals: String = row.try_get("", "deals").map_err(storage)?;
        match &scope {
            None => prices.add(&mut groups, key, deals.split(',')),
            Some(scope) => prices.add_owned(&mut groups, key, &deals, scope),
        }
        .map_err(storage)?;
    }
    groups
        .into_iter()
        .map(|((key, segment), sums)| sums.row(key, segment))
        .collect::<Result<_, DbErr>>()
        .map_err(storage)
}

/// A group's columns as the database holds them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    /// Set for a scope's groups, per owner.
    owner: Option<String>,
    pipeline: String,
    stage: String,
    category: String,
    currency: Option<String>,
}

/// The groups by key and segment (`None`: not split by segment).
type Groups = BTreeMap<(GroupKey, Option<u8>), Sums>;

/// What the valuation's SQL binds, looked up by the columns' text.
struct Prices<'a> {
    into: String,
    /// Minor units of the reporting currency per minor unit of each other currency.
    rates: HashMap<String, f64>,
    /// Each (pipeline, stage)'s win rate.
    win_rates: HashMap<(String, &'a str), f64>,
    /// With period rates: each pipeline's band thresholds per currency, and each (pipeline,
    /// stage)'s q per segment.
    period: Option<PeriodPrices<'a>>,
}

struct PeriodPrices<'a> {
    bands: HashMap<String, HashMap<String, [i64; 2]>>,
    q: HashMap<(String, &'a str), [f64; SEGMENTS]>,
}

impl<'a> Prices<'a> {
    fn of(valuation: &'a Valuation) -> Self {
        let code = |c: &crate::domain::money::Currency| c.code().to_string();
        let period = valuation.period.as_ref().map(|period| PeriodPrices {
            bands: period
                .bands
                .iter()
                .map(|(p, by)| {
                    (
                        p.to_string(),
                        by.iter().map(|(c, t)| (code(c), *t)).collect(),
                    )
                })
                .collect(),
            q: period
                .q
                .iter()
                .flat_map(|(p, stages)| {
                    stages.iter().map(move |(s, q)| {
                        ((p.to_string(), s.as_str()), q.map(|q| q.clamp(0.0, 1.0)))
                    })
                })
                .collect(),
        });
        Prices {
            into: code(&valuation.into),
            // A rate above the ceiling caps every amount at it anyway (as `converted_sql`).
            rates: valuation
                .rates
                .iter()
                .map(|(c, r)| (code(c), r.min(MAX_AMOUNT_MINOR as f64)))
                .collect(),
            win_rates: valuation
                .win_rates
                .iter()
                .flat_map(|(p, stages)| {
                    stages
                        .iter()
                        .map(move |(s, r)| ((p.to_string(), s.as_str()), r.clamp(0.0, 1.0)))
                })
                .collect(),
            period,
        }
    }

    /// Adds the deals of one group packed with their owners (`owner deal,...`) to `groups`,
    /// per owner, those of owners in `scope` alone.
    fn add_owned(
        &self,
        groups: &mut Groups,
        key: GroupKey,
        deals: &str,
        scope: &HashSet<String>,
    ) -> Result<(), DbErr> {
        let mut by_owner: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for deal in deals.split(',') {
            let (owner, deal) = deal.split_once(' ').ok_or_else(|| packed(deal))?;
            if scope.contains(owner) {
                by_owner.entry(owner).or_default().push(deal);
            }
        }
        for (owner, deals) in by_owner {
            let key = GroupKey {
                owner: Some(owner.to_string()),
                ..key.clone()
            };
            self.add(groups, key, deals.into_iter())?;
        }
        Ok(())
    }

    /// Adds the deals of one group (each as the SQL packs it) to `groups`.
    fn add<'d>(
        &self,
        groups: &mut Groups,
        key: GroupKey,
        deals: impl Iterator<Item = &'d str>,
    ) -> Result<(), DbErr> {
        let rate = match key.currency.as_deref() {
            Some(c) if c == self.into => Some(1.0),
            Some(c) => self.rates.get(c).copied(),
            None => None,
        };
        let win = self
            .win_rates
            .get(&(key.pipeline.clone(), key.stage.as_str()))
            .copied()
            .unwrap_or(0.0);
        let (bands, q) = match &self.period {
            None => (None, None),
            Some(p) => {
                let pipeline = p.bands.get(&key.pipeline);
                let bands = key
                    .currency
                    .as_ref()
                    .and_then(|c| pipeline?.get(c))
                    .copied();
                let q =
                    p.q.get(&(key.pipeline.clone(), key.stage.as_str()))
                        .copied();
                (Some(bands), Some(q.unwrap_or([0.0; SEGMENTS])))
            }
        };
        // The group's sums by segment (the last slot: not split), merged into `groups` once.
        let mut sums: [Option<Sums>; SEGMENTS + 1] = Default::default();
        for deal in deals {
            let bad = || packed(deal);
            let (amount, pushes) = match bands {
                None => (deal, None),
                Some(_) => deal
                    .split_once(' ')
                    .map(|(a, p)| (a, Some(p)))
                    .ok_or_else(bad)?,
            };
            let amount = match amount {
                "" => None,
                a => Some(a.parse::<i64>().map_err(|_| bad())?),
            };
            let segment = match (bands, pushes) {
                (Some(thresholds), Some(pushes)) => {
                    let pushes = pushes.parse::<u32>().map_err(|_| bad())?;
                    Some(segment(band(amount, thresholds), pushes) as u8)
                }
                _ => None,
            };
            let slot = usize::from(segment.unwrap_or(SEGMENTS as u8));
            let q = q.and_then(|q| q.get(slot).copied());
            sums[slot]
                .get_or_insert_with(Sums::default)
                .add(amount, rate, win, q)?;
        }
        for (slot, group) in sums.into_iter().enumerate() {
            let Some(group) = group else { continue };
            let segment = (slot < SEGMENTS).then_some(slot as u8);
            groups
                .entry((key.clone(), segment))
                .or_default()
                .merge(group)?;
        }
        Ok(())
    }
}

/// The size band `segment_sql` gives a deal: none without thresholds for its pipeline and
/// currency, the lowest without an amount, else the bands' least amounts say.
fn band(amount: Option<i64>, thresholds: Option<[i64; 2]>) -> Option<u8> {
    match (amount, thresholds) {
        (None, _) => Some(0),
        (Some(_), None) => None,
        (Some(a), Some([_, two])) if a >= two => Some(2),
        (Some(a), Some([one, _])) if a >= one => Some(1),
        (Some(_), Some(_)) => Some(0),
    }
}

fn packed(deal: &str) -> DbErr {
    DbErr::Custom(format!("an open deal read as {deal:?}"))
}

/// One group's sums, as SQL adds them: NULL (`None`) where no deal has a converted amount.
#[derive(Debug, Default)]
struct Sums {
    deals: u64,
    squares: f64,
    cubes: f64,
    converted: Option<i64>,
    weighted: Option<i64>,
    period_weighted: Option<i64>,
}

impl Sums {
    /// Adds one deal of `amount` converted at `rate` (`None`: no rate serves its currency),
    /// weighed at the win rate `win` and, with period rates, at its segment's `q`.
    fn add(
        &mut self,
        amount: Option<i64>,
        rate: Option<f64>,
        win: f64,
        q: Option<f64>,
    ) -> Result<(), DbErr> {
        self.deals += 1;
        let Some(a) = amount else {
            return Ok(());
        };
        let x = a as f64;
        self.squares += x * x;
        self.cubes += x * x * x;
        let Some(rate) = rate else {
            return Ok(());
        };
        // `converted_sql`: halves up (amounts are positive), capped at the ceiling; at the
        // reporting currency's rate of 1 an amount is itself (amounts are below 2^53).
        let converted = (x * rate + 0.5).min(MAX_AMOUNT_MINOR as f64) as i64;
        let weigh = |p: f64| (converted as f64 * p + 0.5) as i64;
        add(&mut self.converted, converted)?;
        add(&mut self.weighted, weigh(win))?;
        if let Some(q) = q {
            add(&mut self.period_weighted, weigh(q))?;
        }
        Ok(())
    }

    /// Adds another part of the same group (read in another month).
    fn merge(&mut self, other: Sums) -> Result<(), DbErr> {
        self.deals += other.deals;
        self.squares += other.squares;
        self.cubes += other.cubes;
        for (sum, part) in [
            (&mut self.converted, other.converted),
            (&mut self.weighted, other.weighted),
            (&mut self.period_weighted, other.period_weighted),
        ] {
            if let Some(part) = part {
                add(sum, part)?;
            }
        }
        Ok(())
    }

    fn row(self, key: GroupKey, segment: Option<u8>) -> Result<OpenGroupRow, DbErr> {
        Ok(OpenGroupRow {
            owner: key.owner.as_deref().map(uuid).transpose()?.map(UserId),
            pipeline: uuid(&key.pipeline)?,
            stage: key.stage,
            category: decode_category(&key.category)?,
            currency: key.currency.as_deref().map(currency).transpose()?,
            deals: self.deals,
            squares: self.squares,
            cubes: self.cubes,
            converted: self.converted,
            weighted: self.weighted,
            segment,
            period_weighted: self.period_weighted,
        })
    }
}

/// SQL's `SUM` of integers: NULL until a value, an error on overflow.
fn add(sum: &mut Option<i64>, value: i64) -> Result<(), DbErr> {
    *sum = Some(
        sum.unwrap_or(0)
            .checked_add(value)
            .ok_or_else(|| DbErr::Custom("integer overflow".into()))?,
    );
    Ok(())
}

#[cfg(test)]
mod tests;
