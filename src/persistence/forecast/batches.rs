//! A forecast's valuation split by ranges of pipeline ids, so that no read of open-deal groups
//! binds more parameters than an engine takes. A valuation binds a few parameters per open
//! stage (its win rate, and with period rates its q in each segment) of every pipeline: an org
//! of many pipelines of many stages would otherwise fail its forecast with a storage error
//! (about 78 pipelines of 28 open stages pass SQLite's limit).

use std::collections::{BTreeMap, HashSet};

use sea_orm::{DatabaseBackend, Value};

use super::aggregates::bind;
use crate::app::ports::{PeriodValuation, SEGMENTS, Valuation};
use crate::domain::ids::PipelineId;

/// The most parameters one statement binds: SQLite's limit (PostgreSQL's, 65,535, is higher).
pub(super) const MAX_PARAMETERS: usize = 32_766;

/// The pipelines whose deals one read covers: ids from `from` (inclusive) to `to` (exclusive)
/// in byte order, an open end without a bound. Ranges rather than lists: consecutive ranges
/// cover every deal once, those of pipelines the valuation does not list too, with two
/// parameters a read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct PipelineRange {
    /// The least id covered.
    pub from: Option<String>,
    /// The least id after the range.
    pub to: Option<String>,
}

impl PipelineRange {
    /// The SQL condition of the range (empty for every pipeline), binding its bounds into
    /// `values`. PostgreSQL compares in byte order (`COLLATE "C"`), as the split does, whatever
    /// the database's collation.
    pub fn sql(&self, backend: DatabaseBackend, values: &mut Vec<Value>) -> String {
        let column = match backend {
            DatabaseBackend::Postgres => "pipeline_id COLLATE \"C\"",
            _ => "pipeline_id",
        };
        let mut sql = String::new();
        if let Some(from) = &self.from {
            let from = bind(values, from.clone().into());
            sql.push_str(&format!(" AND {column} >= {from}"));
        }
        if let Some(to) = &self.to {
            let to = bind(values, to.clone().into());
            sql.push_str(&format!(" AND {column} < {to}"));
        }
        sql
    }
}

/// The parameters `valuation` binds for each pipeline's deals, by id in byte order: the
/// pipeline and each open stage's win rate (`weighted_sql`), with period rates its q in each
/// segment (`q_sql`) and its size bands' thresholds per currency (`segment_sql`).
fn parameters(valuation: &Valuation) -> BTreeMap<String, (PipelineId, usize)> {
    let stages = |n: usize, per_stage: usize| if n == 0 { 0 } else { 1 + n * per_stage };
    let rates = valuation
        .win_rates
        .iter()
        .map(|(p, s)| (*p, stages(s.len(), 2)));
    let (q, bands) = match &valuation.period {
        Some(period) => (period.q.as_slice(), period.bands.as_slice()),
        None => (&[][..], &[][..]),
    };
    let q = q.iter().map(|(p, s)| (*p, stages(s.len(), 1 + SEGMENTS)));
    let bands = bands.iter().map(|(p, t)| (*p, 1 + 3 * t.len()));
    let mut costs = BTreeMap::new();
    for (pipeline, cost) in rates.chain(q).chain(bands) {
        costs.entry(pipeline.to_string()).or_insert((pipeline, 0)).1 += cost;
    }
    costs
}

/// `valuation` restricted to the pipelines in `keep`.
fn only(valuation: &Valuation, keep: &HashSet<PipelineId>) -> Valuation {
    fn kept<T: Clone>(
        list: &[(PipelineId, T)],
        keep: &HashSet<PipelineId>,
    ) -> Vec<(PipelineId, T)> {
        list.iter()
            .filter(|(p, _)| keep.contains(p))
            .cloned()
            .collect()
    }
    Valuation {
        into: valuation.into,
        rates: valuation.rates.clone(),
        win_rates: kept(&valuation.win_rates, keep),
        period: valuation.period.as_ref().map(|period| PeriodValuation {
            bands: kept(&period.bands, keep),
            q: kept(&period.q, keep),
        }),
    }
}

/// `valuation` as consecutive ranges of pipelines, each with the valuation of its own
/// pipelines, so that each read binds at most `budget` parameters for its pipelines and its
/// range; `None` when the whole valuation fits in one read. The first range has no lower
/// bound and the last no upper one, so the ranges cover every pipeline once.
pub(super) fn split(
    valuation: &Valuation,
    budget: usize,
) -> Option<Vec<(PipelineRange, Valuation)>> {
    let costs = parameters(valuation);
    if costs.values().map(|(_, cost)| cost).sum::<usize>() <= budget {
        return None;
    }
    // Greedy runs of consecutive pipelines, a range's own two bounds counted too. A pipeline
    // alone over the budget (it cannot be: stages are capped) still gets a range of its own.
    let mut parts: Vec<(String, HashSet<PipelineId>)> = Vec::new();
    let mut used = 0;
    for (id, (pipeline, cost)) in costs {
        let fits = used + cost <= budget;
        match parts.last_mut() {
            Some((_, members)) if fits => {
                members.insert(pipeline);
            }
            _ => {
                parts.push((id, HashSet::from([pipeline])));
                used = 2;
            }
        }
        used += cost;
    }
    let starts: Vec<String> = parts.iter().map(|(start, _)| start.clone()).collect();
    let ranges = parts
        .iter()
        .enumerate()
        .map(|(k, (start, members))| {
            let range = PipelineRange {
                from: (k > 0).then(|| start.clone()),
                to: starts.get(k + 1).cloned(),
            };
            (range, only(valuation, members))
        })
        .collect();
    Some(ranges)
}

#[cfg(test)]
mod tests {
    use super::super::aggregates::{converted_sql, weighted_sql};
    use super::super::period_sql::{period_weighted_sql, segment_sql};
    use super::*;
    use crate::domain::money::Currency;

    fn valuation(pipelines: usize, stages: usize) -> Valuation {
        let ids: Vec<PipelineId> = (0..pipelines).map(|_| PipelineId::generate()).collect();
        let stage_list = |value: f64| -> Vec<(String, f64)> {
            (0..stages).map(|s| (format!("stage-{s}"), value)).collect()
        };
        let usd = Currency::parse("USD").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        Valuation {
            into: usd,
            rates: vec![(eur, 1.1)],
            win_rates: ids.iter().map(|p| (*p, stage_list(0.3))).collect(),
            period: Some(PeriodValuation {
                // Bands for every other pipeline (a table's), q for every open stage.
                bands: ids
                    .iter()
                    .step_by(2)
                    .map(|p| (*p, vec![(usd, [100, 200]), (eur, [90, 180])]))
                    .collect(),
                q: ids
                    .iter()
                    .map(|p| {
                        let q = (0..stages)
                            .map(|s| (format!("stage-{s}"), [0.2; SEGMENTS]))
                            .collect();
                        (*p, q)
                    })
                    .collect(),
            }),
        }
    }

    /// What the real SQL builders bind for `valuation`, less the converted amount's part.
    fn bound(valuation: &Valuation) -> usize {
        let mut values = Vec::new();
        let backend = DatabaseBackend::Sqlite;
        let converted = converted_sql(backend, valuation, &mut values);
        let fixed = values.len();
        if let Some(period) = &valuation.period {
            segment_sql(period, &mut values);
        }
        weighted_sql(backend, valuation, &converted, &mut values);
        period_weighted_sql(backend, valuation, &converted, &mut values);
        values.len() - fixed
    }

    #[test]
    fn a_valuation_that_fits_is_one_read() {
        let v = valuation(3, 5);
        assert_eq!(parameters_of(&v), bound(&v));
        assert_eq!(split(&v, MAX_PARAMETERS), None);
    }

    fn parameters_of(v: &Valuation) -> usize {
        parameters(v).values().map(|(_, cost)| cost).sum()
    }

    #[test]
    fn many_pipelines_of_many_stages_split_into_ranges_that_each_fit_and_cover_every_pipeline_once()
    {
        let v = valuation(200, 28);
        // The count is what the SQL builders bind: the whole would not fit one statement.
        assert_eq!(parameters_of(&v), bound(&v));
        assert!(bound(&v) > MAX_PARAMETERS);
        let parts = split(&v, 30_000).expect("split");
        assert!(parts.len() >= 3, "{} parts", parts.len());
        // Consecutive: open at both ends, each range starting where the last ended.
        assert_eq!(parts[0].0.from, None);
        assert_eq!(parts.last().unwrap().0.to, None);
        for pair in parts.windows(2) {
            assert_eq!(pair[0].0.to, pair[1].0.from);
            assert!(pair[0].0.to.is_some());
        }
        let mut seen = Vec::new();
        for (range, part) in &parts {
            let mut values = Vec::new();
            range.sql(DatabaseBackend::Sqlite, &mut values);
            assert!(bound(part) + values.len() <= 30_000);
            // Each listed pipeline is valued in the range that holds its id, as a whole.
            for (p, stages) in &part.win_rates {
                let id = p.to_string();
                assert!(range.from.as_ref().is_none_or(|f| id >= *f));
                assert!(range.to.as_ref().is_none_or(|t| id < *t));
                let whole = v.win_rates.iter().find(|(w, _)| w == p).unwrap();
                assert_eq!(&whole.1, stages);
                let period = part.period.as_ref().unwrap();
                assert!(period.q.iter().any(|(q, _)| q == p));
                let banded = v.period.as_ref().unwrap().bands.iter().any(|(b, _)| b == p);
                assert_eq!(period.bands.iter().any(|(b, _)| b == p), banded);
                seen.push(*p);
            }
        }
        seen.sort();
        let mut all: Vec<PipelineId> = v.win_rates.iter().map(|(p, _)| *p).collect();
        all.sort();
        assert_eq!(seen, all);
    }

    #[test]
    fn postgres_compares_the_range_in_byte_order() {
        let range = PipelineRange {
            from: Some("a".into()),
            to: Some("b".into()),
        };
        let mut values = vec![Value::from(1)];
        assert_eq!(
            range.sql(DatabaseBackend::Postgres, &mut values),
            " AND pipeline_id COLLATE \"C\" >= $2 AND pipeline_id COLLATE \"C\" < $3"
        );
        assert_eq!(
            PipelineRange::default().sql(DatabaseBackend::Sqlite, &mut values),
            ""
        );
        assert_eq!(values.len(), 3);
    }
}
