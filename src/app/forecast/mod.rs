//! The forecast of a period for a scope, rolled up the reporting tree.

mod breakdown;
mod rates;
mod valued;

pub(crate) use rates::RateTable;

pub mod period;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;

use super::exchange::Converter;
use super::names::user_name;
use super::ports::{OpenDealRow, OpenGroupRow, Store, Valuation, WonRow};
use super::{App, AppError, AppResult, Principal};
use crate::domain::calendar::PeriodKind;
use crate::domain::deal::ForecastCategory;
use crate::domain::directory::{ReportingTree, Role, UserId};
use crate::domain::forecast::{Figures, OpenDeals, Range, model_range, range_needs_each_deal};
use crate::domain::ids::PipelineId;
use crate::domain::money::Currency;
use crate::domain::new_pipeline::NotYetCreated;
use crate::domain::period::Period;
use crate::domain::period_rate::{OffPeriod, PeriodDays};
use breakdown::Breakdown;
use period::{ForecastMethod, NewPipeline, PeriodModel};
use valued::{off_deal, off_line_of, stage_weighted, valued_deal, valued_deals, valued_groups};

/// Up to this many owners, a forecast reads the scope's open deals one by one instead of in
/// groups, and adds them up itself: so few people's deals of a period are few enough that the
/// range nearly always needs them one by one (exact or sampled), and one read of them costs
/// less than two (BENCHMARKS.md).
const SMALL_TEAM_OWNERS: usize = 32;

/// How many scopes and periods [`ReadHints`] remembers before it starts again.
const READ_HINTS: usize = 1_024;

/// Per scope, period and currency (hashed), whether its last forecast's range needed its open
/// deals one by one: a wider scope with a few hundred deals, or uneven ones, then reads them
/// once, one by one, instead of in groups first and then one by one (the quick org: two reads
/// in a row); once the range no longer needs them so, it reads groups again. Only which reads
/// run depends on it, never the answer: groups and single deals are valued by the same
/// arithmetic.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadHints(Arc<std::sync::Mutex<HashMap<u64, bool>>>);

impl ReadHints {
    fn one_by_one(&self, key: u64) -> bool {
        self.0
            .lock()
            .is_ok_and(|hints| hints.get(&key).copied().unwrap_or(false))
    }

    fn remember(&self, key: u64, one_by_one: bool) {
        if let Ok(mut hints) = self.0.lock() {
            if hints.len() >= READ_HINTS && !hints.contains_key(&key) {
                hints.clear();
            }
            hints.insert(key, one_by_one);
        }
    }
}

/// Whose deals a forecast covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everyone.
    Org,
    /// This user and everyone below them.
    Subtree(UserId),
}

/// A computed forecast.
#[derive(Debug, Clone)]
pub struct ForecastResult {
    /// First day and first day after.
    pub bounds: (NaiveDate, NaiveDate),
    /// Reporting currency.
    pub currency: Currency,
    /// The whole scope's figures, every deal added up.
    pub totals: Figures,
    /// Range of the revenue.
    pub range: Range,
    /// (pipeline, stage, rate, figures) in pipeline order.
    pub by_stage: Vec<(PipelineId, String, f64, Figures)>,
    /// Per category.
    pub by_category: Vec<(ForecastCategory, Figures)>,
    /// The scope's user (own deals), then each direct report's subtree.
    pub by_report: Vec<(UserId, Figures)>,
    /// Snapshots used, as (pipeline, version).
    pub snapshots: Vec<(PipelineId, i64)>,
    /// How `expected` was computed.
    pub method: ForecastMethod,
    /// Days from today to the period's last day: the horizon q was read at.
    pub horizon_days: i64,
    /// The not-yet-created term with its past values (`None` without period rates).
    pub not_yet_created: Option<NotYetCreated>,
    /// The open deals dated in the next period, weighed at their pull-in q (`None` without
    /// period rates).
    pub pulled_in: Option<OffPeriodLine>,
    /// The open deals dated before the period (overdue), weighed at their overdue q (`None`
    /// without period rates).
    pub overdue: Option<OffPeriodLine>,
    /// Pipelines of open deals weighed by their stage rates for want of period rates.
    pub stage_weighted: Vec<PipelineId>,
}

/// A line of the period forecast for open deals dated off the period: the scope's open deals
/// dated in the period after the one forecast (pulled in), or before it (overdue), each weighed
/// at its q for such deals (the chance, by value, that it books in this one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OffPeriodLine {
    /// How many such open deals.
    pub open_deals: u64,
    /// Their amounts, unweighted.
    pub amount: i64,
    /// Their amounts weighed at their q, each rounded: the forecast's part from them.
    pub expected: i64,
}

/// A scope resolved against the reporting tree.
pub(crate) struct ScopeView {
    /// The owners the scope covers (`None`: everyone).
    pub owners: Option<Vec<UserId>>,
    /// The reporting tree it was resolved against.
    pub tree: Arc<ReportingTree>,
}

impl<S: Store> App<S> {
    /// Resolves a scope for `viewer` (`None`: the server itself, which sees everything), with
    /// visibility as for deals.
    pub(crate) async fn resolve_scope(
        &self,
        viewer: Option<&Principal>,
        scope: Scope,
    ) -> AppResult<ScopeView> {
        let tree = self.store.reporting_tree().await?;
        let reads_all = viewer.is_none_or(|p| {
            matches!(
                p.role(),
                Role::DealDesk | Role::Finance | Role::Legal | Role::Admin
            )
        });
        let owners = match scope {
            Scope::Org if reads_all => None,
            Scope::Org => {
                return Err(AppError::denied(
                    "SCOPE_NOT_VISIBLE",
                    "only deal desk, finance, legal and admins forecast the whole org",
                ));
            }
            Scope::Subtree(root) => {
                if !tree.knows(root) {
                    return Err(AppError::NotFound {
                        kind: "user",
                        name: user_name(root),
                    });
                }
                let visible = match viewer {
                    _ if reads_all => true,
                    Some(p) if p.role() == Role::Rep => root == p.user.id,
                    Some(p) => tree.subtree(p.user.id).contains(&root),
                    None => true,
                };
                if !visible {
                    return Err(AppError::denied(
                        "SCOPE_NOT_VISIBLE",
                        "you may forecast only yourself and the people below you",
                    ));
                }
                Some(tree.subtree(root))
            }
        };
        Ok(ScopeView { owners, tree })
    }

    /// The forecast of `period` for `scope`, in `currency`, using the current snapshots except
    /// where `snapshots` names others.
    pub async fn forecast(
        &self,
        principal: &Principal,
        period: Period,
        scope: Scope,
        snapshots: &[(PipelineId, i64)],
        currency: Currency,
    ) -> AppResult<ForecastResult> {
        self.forecast_as(Some(principal), period, scope, snapshots, currency)
            .await
    }

    /// The forecast as `viewer` (`None`: the server's schedule) may see it.
    pub(crate) async fn forecast_as(
        &self,
        viewer: Option<&Principal>,
        period: Period,
        scope: Scope,
        snapshots: &[(PipelineId, i64)],
        currency: Currency,
    ) -> AppResult<ForecastResult> {
        let view = self.resolve_scope(viewer, scope).await?;
        let (owners, tree) = (view.owners, view.tree);
        let table = self.rate_table(snapshots).await?;
        let (start, end) = self.calendar.bounds(period);
        let exchange = self.exchange_table().await?;
        let horizon = (end - chrono::Duration::days(1) - self.today()).num_days();
        let kind = PeriodKind::of(period);
        let model = PeriodModel::new(&table, kind, horizon, &exchange);
        let mut converter = Converter::new(currency, exchange.clone());
        let valuation = model.valuation(converter.valuation(table.open_stage_rates()));
        let days = PeriodDays::new(&self.calendar, kind, (start, end), self.today());
        let off_valuations = OffPeriod::ALL.map(|off| model.off_period_valuation(off, &valuation));
        let off_reads: Vec<OffRead<'_>> = OffPeriod::ALL
            .into_iter()
            .zip(&off_valuations)
            .filter_map(|(off, valuation)| {
                Some(OffRead {
                    off,
                    days: days.off_days(off)?,
                    valuation: valuation.as_ref()?,
                })
            })
            .collect();
        // A small team's range almost always needs its few hundred deals one by one (see
        // below), so its open deals are read one by one and valued here, by the arithmetic the
        // database uses for a wider scope's groups (`convert_minor`, `weigh`): one read fewer
        // than groups and deals both.
        let seed = read_key(period, scope, currency);
        let small_team = owners
            .as_ref()
            .is_some_and(|o| o.len() <= SMALL_TEAM_OWNERS);
        let reading = Reading {
            owners: owners.as_deref(),
            period,
            bounds: (start, end),
            valuation: &valuation,
            off: &off_reads,
            one_by_one: small_team || self.read_hints.one_by_one(seed),
            learned: model.learned(),
        };
        let mut new_converter = Converter::new(currency, exchange.clone());
        let PeriodRows {
            open,
            won,
            each_deal,
            new,
            off,
        } = self.read_period(&reading, &mut new_converter).await?;
        new_converter.finish()?;
        let deals = match &each_deal {
            Some(rows) => valued_deals(rows, &mut converter, &model, &table),
            None => valued_groups(&open, &mut converter, |p, s, band, pushes| {
                model.q(p, s, band, pushes)
            }),
        };
        let mut off_deals: [Vec<(Option<UserId>, OpenDeals)>; 2] = Default::default();
        for (off, rows) in &off {
            off_deals[off.index()] = match rows {
                OffRows::OneByOne(rows) => rows
                    .iter()
                    .map(|row| (Some(row.owner), off_deal(&mut converter, row, &model, *off)))
                    .collect(),
                // Read as the classic forecast's groups, at their q for a win rate; as one by
                // one (`off_deal`), the classic forecast weighs none of them.
                OffRows::Groups(rows) => valued_groups(rows, &mut converter, |p, s, _, _| {
                    model.off_period_q(*off, p, s)
                })
                .into_iter()
                .map(|(owner, _, _, deals)| {
                    (
                        owner,
                        OpenDeals {
                            weighted: 0,
                            ..deals
                        },
                    )
                })
                .collect(),
            };
        }
        let won: Vec<(Option<UserId>, i64)> = won
            .iter()
            .map(|row| (row.owner, converter.take(row.currency, row.converted)))
            .collect();
        let method = model.method(deals.iter().filter(|d| d.3.deals > 0).map(|d| d.1));
        let stage_weighted = stage_weighted(&deals, &model);

        let closed_total: i64 = won.iter().map(|(_, amount)| amount).sum();
        let all: Vec<OpenDeals> = deals.iter().map(|d| d.3).collect();
        let new_expected = new.as_ref().map_or(0, |n| n.line.expected);
        let [pulled_in, overdue] = off_deals
            .each_ref()
            .map(|deals| off_line_of(deals.iter().map(|p| &p.1)));
        let totals = Figures::of(closed_total, &all)
            .with_new(new_expected)
            .with_off_period([pulled_in.expected, overdue.expected]);
        let ranged: Vec<OpenDeals> = all
            .iter()
            .chain(off_deals.iter().flatten().map(|p| &p.1))
            .copied()
            .collect();
        let past: Vec<i64> = new
            .as_ref()
            .map(|n| n.line.values.iter().map(|&(_, v)| v).collect())
            .unwrap_or_default();
        let effects = model.effects();
        let inputs = RangeInputs {
            closed_won: closed_total,
            deals: &ranged,
            new: &past,
            effects: &effects,
            seed,
        };
        let range = self
            .revenue_range(&reading, small_team, inputs, |row, off| match off {
                None => valued_deal(&mut converter, row, &model, &table),
                Some(off) => off_deal(&mut converter, row, &model, off),
            })
            .await?;
        converter.finish()?;
        let breakdown = Breakdown {
            table: &table,
            deals: &deals,
            won: &won,
            new: new.as_ref(),
            off: &off_deals,
        };
        Ok(ForecastResult {
            bounds: (start, end),
            currency,
            totals,
            range,
            by_stage: breakdown.by_stage(),
            by_category: breakdown.by_category(),
            by_report: breakdown.by_report(scope, &tree),
            snapshots: table.used(),
            method,
            horizon_days: horizon,
            not_yet_created: new.map(|n| n.line),
            pulled_in: model.learned().then_some(pulled_in),
            overdue: model.learned().then_some(overdue),
            stage_weighted,
        })
    }

    /// The range of the revenue. Few deals, or uneven ones: the range reads them one by one
    /// (a few hundred at most), valued by `value` (told whether the deal is dated off the
    /// period, and how); a small team's are one by one already. Whether it needed them so
    /// is remembered for the next forecast of the same key.
    async fn revenue_range(
        &self,
        reading: &Reading<'_>,
        small_team: bool,
        inputs: RangeInputs<'_>,
        mut value: impl FnMut(&OpenDealRow, Option<OffPeriod>) -> OpenDeals,
    ) -> AppResult<Range> {
        let RangeInputs {
            closed_won,
            deals,
            new,
            effects,
            seed,
        } = inputs;
        if let Some(range) = model_range(closed_won, deals, new, effects, seed) {
            if !small_team {
                let needs = reading.one_by_one && range_needs_each_deal(deals);
                self.read_hints.remember(seed, needs);
            }
            return Ok(range);
        }
        self.read_hints.remember(seed, true);
        let (start, end) = reading.bounds;
        let rows = self
            .store
            .open_deals_closing(reading.owners, start, end)
            .await?;
        let mut each: Vec<OpenDeals> = rows.iter().map(|row| value(row, None)).collect();
        for read in reading.off {
            let (from, to) = read.days;
            let rows = self
                .store
                .open_deals_closing(reading.owners, from, to)
                .await?;
            each.extend(rows.iter().map(|row| value(row, Some(read.off))));
        }
        model_range(closed_won, &each, new, effects, seed)
            .ok_or_else(|| AppError::Storage("a range over single deals always computes".into()))
    }

    /// A forecast's independent reads, each on its own connection, at the same time: the
    /// period's open deals (in groups, or one by one), its won deals, the not-yet-created
    /// term's past revenue and the open deals dated off the period.
    async fn read_period(
        &self,
        reading: &Reading<'_>,
        new_converter: &mut Converter,
    ) -> AppResult<PeriodRows> {
        let Reading {
            owners,
            period,
            bounds: (start, end),
            valuation,
            off,
            one_by_one,
            learned,
        } = *reading;
        let (open, won, each_deal, new, next, overdue) = tokio::try_join!(
            async {
                if one_by_one {
                    return Ok(Vec::new());
                }
                self.store
                    .open_deal_groups(owners, start, end, valuation)
                    .await
            },
            self.store
                .closed_won_between(owners, owners.is_some(), start, end, valuation),
            async {
                if !one_by_one {
                    return Ok(None);
                }
                let rows = self.store.open_deals_closing(owners, start, end).await?;
                Ok(Some(rows))
            },
            async {
                if !learned {
                    return Ok(None);
                }
                let new = self
                    .new_pipeline(owners, period, new_converter, valuation)
                    .await?;
                Ok(Some(new))
            },
            self.read_off(owners, off.first(), one_by_one),
            self.read_off(owners, off.get(1), one_by_one),
        )?;
        Ok(PeriodRows {
            open,
            won,
            each_deal,
            new,
            off: next.into_iter().chain(overdue).collect(),
        })
    }

    /// The open deals of `owners` that `read` names (none without it), as the period's are
    /// read.
    async fn read_off(
        &self,
        owners: Option<&[UserId]>,
        read: Option<&OffRead<'_>>,
        one_by_one: bool,
    ) -> AppResult<Option<(OffPeriod, OffRows)>> {
        let Some(&OffRead {
            off,
            days: (from, to),
            valuation,
        }) = read
        else {
            return Ok(None);
        };
        let rows = match one_by_one {
            true => OffRows::OneByOne(self.store.open_deals_closing(owners, from, to).await?),
            false => {
                let groups = self.store.open_deal_groups(owners, from, to, valuation);
                OffRows::Groups(groups.await?)
            }
        };
        Ok(Some((off, rows)))
    }
}

/// What one forecast reads: whose deals, of which days, valued how, and whether its open
/// deals are read one by one.
#[derive(Clone, Copy)]
struct Reading<'a> {
    /// The scope's owners (`None`: everyone).
    owners: Option<&'a [UserId]>,
    /// The period forecast.
    period: Period,
    /// Its first day and first day after.
    bounds: (NaiveDate, NaiveDate),
    /// How the database values each deal.
    valuation: &'a Valuation,
    /// The open deals dated off the period that are read: none without period rates, nor
    /// those no table saw book in their period.
    off: &'a [OffRead<'a>],
    /// Whether the open deals are read one by one rather than in groups.
    one_by_one: bool,
    /// Whether period rates are learned (then the not-yet-created term is read too).
    learned: bool,
}

/// What the range of the revenue is computed from ([`model_range`]'s arguments).
#[derive(Clone, Copy)]
struct RangeInputs<'a> {
    /// Won so far, converted.
    closed_won: i64,
    /// The open deals, valued.
    deals: &'a [OpenDeals],
    /// The not-yet-created term's past values.
    new: &'a [i64],
    /// The period rates' effects.
    effects: &'a [f64],
    /// The sampling seed (the read key).
    seed: u64,
}

/// What [`App::read_period`] read.
struct PeriodRows {
    /// The open deals in groups (empty when read one by one).
    open: Vec<OpenGroupRow>,
    /// The won deals.
    won: Vec<WonRow>,
    /// The open deals one by one, when so read.
    each_deal: Option<Vec<OpenDealRow>>,
    /// The not-yet-created term, with period rates.
    new: Option<NewPipeline>,
    /// The open deals dated off the period, of each kind read.
    off: Vec<(OffPeriod, OffRows)>,
}

/// Open deals dated off the period that a forecast reads: how they are dated, their close
/// dates (first day, first day after) and how the database values them (at their q for such
/// deals).
#[derive(Clone, Copy)]
struct OffRead<'a> {
    off: OffPeriod,
    days: (NaiveDate, NaiveDate),
    valuation: &'a Valuation,
}

/// Open deals dated off the period, read as the period's are.
enum OffRows {
    /// In groups (none without period rates).
    Groups(Vec<OpenGroupRow>),
    /// One by one.
    OneByOne(Vec<OpenDealRow>),
}

/// The key [`ReadHints`] remembers a forecast under: its period, scope and currency, hashed.
fn read_key(period: Period, scope: Scope, currency: Currency) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (period.to_string(), format!("{scope:?}"), currency.code()).hash(&mut h);
    h.finish()
}
