//! Forecast use cases: learning win rates from stage history, the weighted forecast of a period
//! rolled up the reporting tree, and the exchange-rate table.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use uuid::Uuid;

use super::error::Precondition;
use super::ports::{AuditEntry, CohortSplit, Created, IdempotencyKey, Store, Valuation};
use super::{App, AppError, AppResult, Principal, idempotent_write};
use crate::domain::Violations;
use crate::domain::deal::ForecastCategory;
use crate::domain::directory::{ReportingTree, Role, UserId};
use crate::domain::forecast::{
    Figures, OpenDeals, Range, range_needs_each_deal, revenue_range, weigh,
};
use crate::domain::money::{Currency, ExchangeRate, Money, convert_minor, minor_unit_rate};
use crate::domain::period::Period;
use crate::domain::pipeline::{Pipeline, StageKind};
use crate::domain::winrate::{
    Cohort, DEFAULT_PRIOR_WEIGHT, SegmentKind, WinRateSnapshot, segment_rates, stage_rates,
};

/// What to compute win rates over.
#[derive(Debug, Clone)]
pub struct WinRateRequest {
    /// The pipeline.
    pub pipeline: Uuid,
    /// First day of the window (default a year before its end).
    pub window_start: Option<NaiveDate>,
    /// Last day of the window (default today).
    pub window_end: Option<NaiveDate>,
    /// Prior weight (default 10).
    pub prior_weight: Option<u32>,
    /// Split by lead source too.
    pub by_lead_source: bool,
    /// Split by team too.
    pub by_team: bool,
}

/// Up to this many owners, a forecast reads the scope's open deals one by one instead of in
/// groups, and adds them up itself: so few people's deals of a period are few enough that the
/// range nearly always needs them one by one (exact or sampled), and one read of them costs
/// less than two (a manager of five on the large org, PostgreSQL: 2.0 -> 1.45 ms).
const SMALL_TEAM_OWNERS: usize = 32;

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
    /// Totals.
    pub totals: Figures,
    /// Range of the revenue.
    pub range: Range,
    /// (pipeline, stage, rate, figures) in pipeline order.
    pub by_stage: Vec<(Uuid, String, f64, Figures)>,
    /// Per category.
    pub by_category: Vec<(ForecastCategory, Figures)>,
    /// The scope's user (own deals), then each direct report's subtree.
    pub by_report: Vec<(UserId, Figures)>,
    /// Snapshots used, as (pipeline, version).
    pub snapshots: Vec<(Uuid, i64)>,
}

fn require_rate_setter(principal: &Principal) -> AppResult<()> {
    match principal.role() {
        Role::Admin | Role::Leader => Ok(()),
        role => Err(AppError::denied(
            "WIN_RATES_REQUIRE_LEADER",
            format!(
                "a {} cannot compute win rates; admins and leaders can",
                role.as_str()
            ),
        )),
    }
}

/// Sums cohort rows into per-key cohorts; amounts only in `main` currency count for value
/// weighting.
fn add_row(cohort: &mut Cohort, deals: u64, won: bool, amount: f64, counts_amount: bool) {
    cohort.n += deals;
    if won {
        cohort.wins += deals;
    }
    if counts_amount {
        cohort.amount += amount;
        if won {
            cohort.won_amount += amount;
        }
    }
}

/// A scope resolved against the reporting tree.
pub(crate) struct ScopeView {
    /// The owners the scope covers (`None`: everyone).
    pub owners: Option<Vec<UserId>>,
    /// The reporting tree it was resolved against.
    pub tree: Arc<ReportingTree>,
}

/// The win rates a forecast uses: the chosen snapshots, else the stages' defaults.
pub(crate) struct RateTable {
    /// The chosen snapshot of each pipeline that has one.
    pub chosen: HashMap<Uuid, WinRateSnapshot>,
    /// Every pipeline (for default probabilities and stage order).
    pub pipelines: Vec<Pipeline>,
}

impl RateTable {
    /// The stage's static default probability.
    pub fn default(&self, pipeline: Uuid, stage: &str) -> f64 {
        self.pipelines
            .iter()
            .find(|p| p.id == pipeline)
            .and_then(|p| p.spec.stage(stage))
            .map(|s| f64::from(s.default_probability_bps) / 10_000.0)
            .unwrap_or(0.0)
    }

    /// The learned rate (the snapshot's), else the default.
    pub fn learned(&self, pipeline: Uuid, stage: &str) -> f64 {
        self.chosen
            .get(&pipeline)
            .and_then(|s| s.rate_of(stage))
            .unwrap_or_else(|| self.default(pipeline, stage))
    }

    /// The rate a deal in this stage is weighed with, as the database weighs it
    /// ([`RateTable::open_stage_rates`]): the learned rate of an open stage, else nothing.
    pub fn open_rate(&self, pipeline: Uuid, stage: &str) -> f64 {
        let open = self
            .pipelines
            .iter()
            .find(|p| p.id == pipeline)
            .and_then(|p| p.spec.stage(stage))
            .is_some_and(|s| s.kind == StageKind::Open);
        if open {
            self.learned(pipeline, stage)
        } else {
            0.0
        }
    }

    /// Every open stage of every pipeline with its learned rate, for the database to weigh
    /// deals with.
    pub fn open_stage_rates(&self) -> Vec<(Uuid, Vec<(String, f64)>)> {
        self.pipelines
            .iter()
            .map(|p| {
                let stages = p
                    .spec
                    .stages
                    .iter()
                    .filter(|s| s.kind == StageKind::Open)
                    .map(|s| (s.stage_id.clone(), self.learned(p.id, &s.stage_id)))
                    .collect();
                (p.id, stages)
            })
            .collect()
    }
}

/// Converts amounts into one currency, remembering every currency without a rate.
pub(crate) struct Converter {
    into: Currency,
    rates: Vec<ExchangeRate>,
    missing: Vec<Currency>,
}

impl Converter {
    /// Converting into `into` with `rates`.
    pub fn new(into: Currency, rates: Vec<ExchangeRate>) -> Self {
        Converter {
            into,
            rates,
            missing: Vec::new(),
        }
    }

    /// One amount in the target currency (0 and remembered when no rate serves), as the
    /// database converts each deal ([`convert_minor`]).
    pub fn convert(&mut self, minor: i64, from: Currency) -> i64 {
        if from == self.into {
            return minor; // exact beyond 2^53, where a double is not
        }
        convert_minor(minor, self.rate(from))
    }

    /// A deal's amount in the target currency (0 without one), as [`Converter::convert`].
    pub fn amount(&mut self, money: Option<Money>) -> i64 {
        money.map_or(0, |m| self.convert(m.minor, m.currency))
    }

    /// A sum the database converted deal by deal in `from` (`None`: deals without an amount),
    /// remembering `from` when no rate serves it.
    pub fn take(&mut self, from: Option<Currency>, converted: Option<i64>) -> i64 {
        if let Some(from) = from {
            self.rate(from);
        }
        converted.unwrap_or(0)
    }

    /// How the database is to value deals: every currency of the rate table that converts
    /// into the target, and `win_rates` for the stages.
    pub fn valuation(&self, win_rates: Vec<(Uuid, Vec<(String, f64)>)>) -> Valuation {
        let mut currencies: Vec<Currency> = self
            .rates
            .iter()
            .flat_map(|r| [r.from, r.to])
            .filter(|c| *c != self.into)
            .collect();
        currencies.sort();
        currencies.dedup();
        Valuation {
            into: self.into,
            rates: currencies
                .into_iter()
                .filter_map(|c| minor_unit_rate(c, self.into, &self.rates).map(|r| (c, r)))
                .collect(),
            win_rates,
        }
    }

    /// Target minor units per `from` minor unit (0 and remembered when no rate serves).
    pub fn rate(&mut self, from: Currency) -> f64 {
        minor_unit_rate(from, self.into, &self.rates).unwrap_or_else(|| {
            if !self.missing.contains(&from) {
                self.missing.push(from);
            }
            0.0
        })
    }

    /// FAILED_PRECONDITION naming every missing rate, if any was: never a silent sum.
    pub fn finish(mut self) -> AppResult<()> {
        if self.missing.is_empty() {
            return Ok(());
        }
        self.missing.sort();
        let into = self.into;
        Err(AppError::FailedPrecondition {
            reason: "EXCHANGE_RATE_MISSING",
            message: format!(
                "no exchange rate into {into} for {}",
                self.missing
                    .iter()
                    .map(|c| c.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            violations: self
                .missing
                .iter()
                .map(|c| Precondition {
                    kind: "EXCHANGE_RATE".into(),
                    subject: format!("exchangeRates/{c}-{into}"),
                    description: format!("set the rate from {c} to {into} (SetExchangeRate)"),
                })
                .collect(),
        })
    }
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
                        name: format!("users/{}", root.0),
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

    /// The rates of the current snapshots, with `snapshots` named instead where given.
    pub(crate) async fn rate_table(&self, snapshots: &[(Uuid, i64)]) -> AppResult<RateTable> {
        let mut chosen: HashMap<Uuid, WinRateSnapshot> = self
            .store
            .current_win_rate_snapshots()
            .await?
            .into_iter()
            .map(|s| (s.pipeline_id, s))
            .collect();
        for &(pipeline, version) in snapshots {
            let snapshot = self
                .store
                .get_win_rate_snapshot(pipeline, version)
                .await?
                .ok_or_else(|| {
                    AppError::invalid_field(
                        "snapshots",
                        format!("pipelines/{pipeline}/winRateSnapshots/{version} does not exist"),
                    )
                })?;
            chosen.insert(pipeline, snapshot);
        }
        let pipelines = self.store.list_pipelines(None, None, 10_000).await?;
        Ok(RateTable { chosen, pipelines })
    }

    /// Learns per-stage win rates of a pipeline and stores them as its current snapshot.
    pub async fn compute_win_rates(
        &self,
        principal: Option<&Principal>,
        request: WinRateRequest,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&WinRateSnapshot) -> Vec<u8>,
    ) -> AppResult<Created<WinRateSnapshot>> {
        if let Some(principal) = principal {
            require_rate_setter(principal)?;
        }
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let at = self.now();
        let window_end = request.window_end.unwrap_or(self.calendar.day_of(at));
        let window_start = request.window_start.unwrap_or_else(|| {
            window_end
                .checked_sub_months(chrono::Months::new(12))
                .unwrap_or(window_end)
        });
        let k = request.prior_weight.unwrap_or(DEFAULT_PRIOR_WEIGHT);
        let mut violations = Violations::new();
        if window_start > window_end {
            violations.add("window_start", "must not be after window_end");
        }
        if k > 1000 {
            violations.add("prior_weight", "must be between 0 and 1000");
        }
        let pipeline = self.store.get_pipeline(request.pipeline).await?;
        if pipeline.is_none() {
            violations.add("pipeline", "no such pipeline");
        }
        let (Some(pipeline), true) = (pipeline, violations.is_empty()) else {
            return Err(AppError::invalid(violations));
        };
        // Deals booked (closed) in the window, both ends included.
        let (from, to) = (window_start, window_end + Duration::days(1));
        let rows = self
            .store
            .win_rate_cohorts(pipeline.id, from, to, CohortSplit::None)
            .await?;
        // Value weighting in the cohort's main currency (the one most of its deals are in).
        let mut by_currency: HashMap<Option<String>, u64> = HashMap::new();
        for row in &rows {
            *by_currency.entry(row.currency.clone()).or_default() += row.deals;
        }
        let main = by_currency
            .into_iter()
            .filter(|(c, _)| c.is_some())
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .and_then(|(c, _)| c);
        let mut cohorts: BTreeMap<String, Cohort> = BTreeMap::new();
        for row in &rows {
            let cohort = cohorts.entry(row.stage_id.clone()).or_default();
            add_row(cohort, row.deals, row.won, row.amount, row.currency == main);
        }
        let stages = stage_rates(&pipeline.spec, &cohorts, k);
        let mut segment_cohorts: BTreeMap<(SegmentKind, String, String), Cohort> = BTreeMap::new();
        for (wanted, split, kind) in [
            (
                request.by_lead_source,
                CohortSplit::LeadSource,
                SegmentKind::LeadSource,
            ),
            (request.by_team, CohortSplit::Team, SegmentKind::Team),
        ] {
            if !wanted {
                continue;
            }
            for row in self
                .store
                .win_rate_cohorts(pipeline.id, from, to, split)
                .await?
            {
                let value = match kind {
                    SegmentKind::Team if !row.segment.is_empty() => {
                        format!("users/{}", row.segment)
                    }
                    _ => row.segment.clone(),
                };
                let cohort = segment_cohorts
                    .entry((kind, value, row.stage_id.clone()))
                    .or_default();
                add_row(cohort, row.deals, row.won, row.amount, row.currency == main);
            }
        }
        let segments = segment_rates(&pipeline.spec, &stages, &segment_cohorts, k);
        let period_rates = self
            .learn_period_rates(pipeline.id, &stages, (window_start, window_end), k)
            .await?;
        let version = self
            .store
            .latest_win_rate_version(pipeline.id)
            .await?
            .unwrap_or(0)
            + 1;
        let actor = principal.map(|p| p.user.id);
        let snapshot = WinRateSnapshot {
            id: Uuid::now_v7(),
            pipeline_id: pipeline.id,
            version,
            current: true,
            window_start,
            window_end,
            prior_weight: k,
            stages,
            segments,
            period_rates,
            creator: actor,
            created_at: at,
        };
        let audit = AuditEntry {
            actor,
            action: "ComputeWinRates",
            resource: format!("pipelines/{}/winRateSnapshots/{version}", pipeline.id),
            detail: format!("window {window_start}..={window_end}, k {k}"),
            change: None,
        };
        let write = idempotent_write(key, || respond(&snapshot));
        Ok(
            match self
                .store
                .insert_win_rate_snapshot(&snapshot, audit, write)
                .await?
            {
                Created::New(()) => Created::New(snapshot),
                Created::Replayed(saved) => Created::Replayed(saved),
            },
        )
    }

    /// One snapshot; everyone may read win rates.
    pub async fn get_win_rate_snapshot(
        &self,
        _principal: &Principal,
        pipeline: Uuid,
        version: i64,
    ) -> AppResult<WinRateSnapshot> {
        self.store
            .get_win_rate_snapshot(pipeline, version)
            .await?
            .ok_or_else(|| AppError::NotFound {
                kind: "win-rate snapshot",
                name: format!("pipelines/{pipeline}/winRateSnapshots/{version}"),
            })
    }

    /// A page of a pipeline's snapshots, newest first.
    pub async fn list_win_rate_snapshots(
        &self,
        principal: &Principal,
        pipeline: Uuid,
        before: Option<i64>,
        limit: u64,
    ) -> AppResult<Vec<WinRateSnapshot>> {
        self.get_pipeline(principal, pipeline).await?;
        self.store
            .list_win_rate_snapshots(pipeline, before, limit)
            .await
    }

    /// Sets an exchange rate. Admins only.
    pub async fn set_exchange_rate(
        &self,
        principal: &Principal,
        rate: ExchangeRate,
    ) -> AppResult<chrono::DateTime<chrono::Utc>> {
        if principal.role() != Role::Admin {
            return Err(AppError::denied(
                "ADMIN_ONLY",
                "only admins set exchange rates",
            ));
        }
        let mut violations = Violations::new();
        if rate.from == rate.to {
            violations.add("rate.to_currency", "must differ from from_currency");
        }
        if !(rate.rate.is_finite() && rate.rate > 0.0) {
            violations.add("rate.rate", "must be a finite number greater than zero");
        }
        if !violations.is_empty() {
            return Err(AppError::invalid(violations));
        }
        let at = self.now();
        let audit = AuditEntry {
            actor: Some(principal.user.id),
            action: "SetExchangeRate",
            resource: format!("exchangeRates/{}-{}", rate.from, rate.to),
            detail: String::new(),
            change: Some(super::ports::FieldChange {
                field: "rate".into(),
                old: String::new(),
                new: rate.rate.to_string(),
            }),
        };
        self.store.set_exchange_rate(&rate, at, audit).await?;
        Ok(at)
    }

    /// The exchange-rate table.
    pub async fn exchange_rates(
        &self,
        _principal: &Principal,
    ) -> AppResult<Vec<(ExchangeRate, chrono::DateTime<chrono::Utc>)>> {
        self.store.exchange_rates().await
    }

    /// The forecast of `period` for `scope`, in `currency`, using the current snapshots except
    /// where `snapshots` names others.
    pub async fn forecast(
        &self,
        principal: &Principal,
        period: Period,
        scope: Scope,
        snapshots: &[(Uuid, i64)],
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
        snapshots: &[(Uuid, i64)],
        currency: Currency,
    ) -> AppResult<ForecastResult> {
        let view = self.resolve_scope(viewer, scope).await?;
        let (owners, tree) = (view.owners, view.tree);
        let subtree_of = |root: UserId| tree.subtree(root);
        let table = self.rate_table(snapshots).await?;
        let rate_of = |pipeline: Uuid, stage: &str| table.learned(pipeline, stage);
        let pipelines = &table.pipelines;
        let chosen = &table.chosen;

        let (start, end) = self.calendar.bounds(period);
        let rates: Vec<ExchangeRate> = self
            .store
            .exchange_rates()
            .await?
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        let mut converter = Converter::new(currency, rates);
        let valuation = converter.valuation(table.open_stage_rates());
        // Independent reads, each on its own connection: the period's open deals and its won
        // deals are read at the same time. A small team's range almost always needs its few
        // hundred deals one by one (see below), so its open deals are read one by one and
        // valued here, by the arithmetic the database uses for a wider scope's groups
        // (`convert_minor`, `weigh`): one read fewer than groups and deals both.
        let small_team = owners
            .as_ref()
            .is_some_and(|o| o.len() <= SMALL_TEAM_OWNERS);
        let (open, won, each_deal) = tokio::try_join!(
            async {
                if small_team {
                    return Ok(Vec::new());
                }
                self.store
                    .open_deal_groups(owners.as_deref(), start, end, &valuation)
                    .await
            },
            self.store.closed_won_between(
                owners.as_deref(),
                owners.is_some(),
                start,
                end,
                &valuation
            ),
            async {
                if !small_team {
                    return Ok(None);
                }
                let rows = self
                    .store
                    .open_deals_closing(owners.as_deref(), start, end)
                    .await?;
                Ok(Some(rows))
            },
        )?;
        let deals: Vec<(Option<UserId>, Uuid, &str, OpenDeals)> = match &each_deal {
            Some(rows) => rows
                .iter()
                .map(|row| {
                    let amount = converter.amount(row.amount);
                    let stage = row.stage.as_str();
                    let mut deal =
                        OpenDeals::one(amount, rate_of(row.pipeline, stage), row.category);
                    deal.weighted = weigh(amount, table.open_rate(row.pipeline, stage));
                    (Some(row.owner), row.pipeline, stage, deal)
                })
                .collect(),
            None => open
                .iter()
                .map(|row| {
                    let rate = row.currency.map_or(0.0, |c| converter.rate(c));
                    let deals = OpenDeals {
                        deals: row.deals,
                        amount: converter.take(row.currency, row.converted),
                        squares: row.squares * rate * rate,
                        cubes: row.cubes * rate * rate * rate,
                        probability: rate_of(row.pipeline, &row.stage),
                        category: row.category,
                        weighted: row.weighted.unwrap_or(0),
                    };
                    (row.owner, row.pipeline, row.stage.as_str(), deals)
                })
                .collect(),
        };
        let won: Vec<(Option<UserId>, i64)> = won
            .iter()
            .map(|row| (row.owner, converter.take(row.currency, row.converted)))
            .collect();

        let closed_total: i64 = won.iter().map(|(_, amount)| amount).sum();
        let all: Vec<OpenDeals> = deals.iter().map(|d| d.3).collect();
        let totals = Figures::of(closed_total, &all);
        let seed = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (period.to_string(), format!("{scope:?}"), currency.code()).hash(&mut h);
            h.finish()
        };
        // Few deals, or uneven ones: the range reads them one by one (a few hundred at most);
        // a small team's are one by one already.
        let range = if range_needs_each_deal(&all) {
            let rows = self
                .store
                .open_deals_closing(owners.as_deref(), start, end)
                .await?;
            let each: Vec<OpenDeals> = rows
                .iter()
                .map(|row| {
                    let amount = converter.amount(row.amount);
                    OpenDeals::one(amount, rate_of(row.pipeline, &row.stage), row.category)
                })
                .collect();
            revenue_range(closed_total, &each, seed)
        } else {
            revenue_range(closed_total, &all, seed)
        }
        .ok_or_else(|| AppError::Storage("a range over single deals always computes".into()))?;
        converter.finish()?;

        // One pass groups the deals by stage; stages are then listed in pipeline order.
        let mut per_stage: HashMap<(Uuid, &str), Vec<OpenDeals>> = HashMap::new();
        for (_, pipeline, stage, deal) in &deals {
            per_stage
                .entry((*pipeline, *stage))
                .or_default()
                .push(*deal);
        }
        let by_stage = pipelines
            .iter()
            .flat_map(|p| {
                p.spec
                    .stages
                    .iter()
                    .map(move |s| (p.id, s.stage_id.as_str()))
            })
            .filter_map(|key| {
                let here = per_stage.get(&key)?;
                Some((
                    key.0,
                    key.1.to_string(),
                    rate_of(key.0, key.1),
                    Figures::of(0, here),
                ))
            })
            .collect();
        let by_category = [
            ForecastCategory::Commit,
            ForecastCategory::BestCase,
            ForecastCategory::Pipeline,
            ForecastCategory::Omitted,
        ]
        .into_iter()
        .map(|category| {
            (
                category,
                Figures::of(0, all.iter().filter(|d| d.category == category)),
            )
        })
        .collect();
        let by_report = match scope {
            Scope::Org => Vec::new(),
            Scope::Subtree(root) => {
                let mut buckets: Vec<(UserId, Vec<UserId>)> = vec![(root, vec![root])];
                for &report in tree.reports(root) {
                    buckets.push((report, subtree_of(report)));
                }
                buckets
                    .into_iter()
                    .map(|(user, members)| {
                        let members: HashSet<UserId> = members.into_iter().collect();
                        let theirs: Vec<OpenDeals> = deals
                            .iter()
                            .filter(|d| d.0.is_some_and(|owner| members.contains(&owner)))
                            .map(|d| d.3)
                            .collect();
                        let closed: i64 = won
                            .iter()
                            .filter(|w| w.0.is_some_and(|owner| members.contains(&owner)))
                            .map(|w| w.1)
                            .sum();
                        (user, Figures::of(closed, &theirs))
                    })
                    .collect()
            }
        };
        let mut used: Vec<(Uuid, i64)> = chosen
            .values()
            .map(|s| (s.pipeline_id, s.version))
            .collect();
        used.sort();
        Ok(ForecastResult {
            bounds: (start, end),
            currency,
            totals,
            range,
            by_stage,
            by_category,
            by_report,
            snapshots: used,
        })
    }
}
