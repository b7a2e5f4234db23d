//! Forecast snapshots and accuracy: freezing a period's forecast and calls, and scoring the
//! frozen forecasts once the period ends (backtests are in [`super::backtest`]).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use super::error::Precondition;
use super::exchange::Converter;
use super::forecast::{Scope, ScopeView};
use super::names::forecast_snapshot_name;
use super::ports::{AuditEntry, Created, IdempotencyKey, Store};
use super::{App, AppError, AppResult, Principal, idempotent_write};
use crate::domain::call::{lineage, own_call};
use crate::domain::directory::UserId;
use crate::domain::forecast::{ForecastSnapshot, FrozenCall, accuracy};
use crate::domain::ids::ForecastSnapshotId;
use crate::domain::money::{Currency, ExchangeRate};
use crate::domain::period::Period;

/// How one method did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// What it forecast.
    pub forecast: i64,
    /// forecast - actual.
    pub error: i64,
    /// |error| / actual.
    pub ape: Option<f64>,
}

impl Score {
    fn of(forecast: i64, actual: i64) -> Score {
        let (error, ape) = accuracy(forecast, actual);
        Score {
            forecast,
            error,
            ape,
        }
    }
}

/// One person's call scored against their subtree's result.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonScore {
    /// Whose call it is.
    pub user: UserId,
    /// Their subtree's closed-won revenue.
    pub actual: i64,
    /// Their own commit.
    pub own: Option<Score>,
    /// Their commit as the top of the chain saw it.
    pub manager: Option<Score>,
}

/// One snapshot scored.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotScore {
    /// The snapshot as taken, with its calls.
    pub snapshot: ForecastSnapshot,
    /// The classic figure: closed won + weighted pipeline.
    pub weighted: Score,
    /// The forecast's `expected` then (the period forecast, for snapshots taken since m0018;
    /// the classic figure before).
    pub period: Score,
    /// Sum of the own commits of the scope's individual sellers (people with no reports).
    pub rep_call: Score,
    /// The scope's root commit(s) as the top of the chain saw them.
    pub manager_call: Score,
    /// Per person.
    pub people: Vec<PersonScore>,
}

pub(crate) fn period_not_over(period: Period, end: NaiveDate) -> AppError {
    AppError::FailedPrecondition {
        reason: "PERIOD_NOT_OVER",
        message: format!(
            "{period} ends on {}; accuracy needs the result",
            end.pred_opt().unwrap_or(end)
        ),
        violations: vec![Precondition {
            kind: "PERIOD".into(),
            subject: period.to_string(),
            description: "the period has not ended yet".into(),
        }],
    }
}

fn scope_key(scope: Scope) -> String {
    match scope {
        Scope::Org => "org".into(),
        Scope::Subtree(user) => user.0.to_string(),
    }
}

/// The people a scope covers: its owners, or everyone.
fn people(view: &ScopeView) -> Vec<UserId> {
    view.owners
        .clone()
        .unwrap_or_else(|| view.tree.users().collect())
}

impl<S: Store> App<S> {
    pub(crate) async fn exchange_table(&self) -> AppResult<Vec<ExchangeRate>> {
        Ok(self
            .store
            .exchange_rates()
            .await?
            .into_iter()
            .map(|(r, _)| r)
            .collect())
    }

    /// Closed-won revenue of `owners` booked in `[from, to)`, in `currency`.
    async fn closed_won_total(
        &self,
        owners: Option<&[UserId]>,
        from: NaiveDate,
        to: NaiveDate,
        converter: &mut Converter,
    ) -> AppResult<HashMap<UserId, i64>> {
        let mut by_owner: HashMap<UserId, i64> = HashMap::new();
        let valuation = converter.valuation(Vec::new());
        for row in self
            .store
            .closed_won_between(owners, true, from, to, &valuation)
            .await?
        {
            let amount = converter.take(row.currency, row.converted);
            if let Some(owner) = row.owner {
                *by_owner.entry(owner).or_default() += amount;
            }
        }
        Ok(by_owner)
    }

    /// Freezes the forecast and calls of a period and scope now. `principal` `None` is the
    /// server's own schedule.
    pub async fn snapshot_forecast(
        &self,
        principal: Option<&Principal>,
        period: Period,
        scope: Scope,
        currency: Currency,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&ForecastSnapshot) -> Vec<u8>,
    ) -> AppResult<Created<ForecastSnapshot>> {
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let view = self.resolve_scope(principal, scope).await?;
        let forecast = self
            .forecast_as(principal, period, scope, &[], currency)
            .await?;
        let at = self.now();
        let members = people(&view);
        let events = self
            .store
            .call_events(&period.to_string(), view.owners.as_deref(), at)
            .await?;
        let mut converter = Converter::new(currency, self.exchange_table().await?);
        let mut calls = Vec::new();
        for user in members {
            let theirs: Vec<_> = events
                .iter()
                .filter(|e| e.subject == user)
                .cloned()
                .collect();
            if theirs.is_empty() {
                continue;
            }
            let levels = lineage(user, &view.tree.chain(user), &theirs);
            let own = own_call(&theirs)
                .map(|(commit, _)| converter.convert(commit.minor, commit.currency));
            let top = levels
                .last()
                .and_then(|l| l.commit)
                .map(|c| converter.convert(c.minor, c.currency));
            calls.push(FrozenCall {
                user,
                own_commit: own,
                manager_commit: top,
            });
        }
        converter.finish()?;
        calls.sort_by_key(|c| c.user);
        let snapshot = ForecastSnapshot {
            id: ForecastSnapshotId(self.ids.id()),
            period: period.to_string(),
            scope: scope_key(scope),
            currency,
            taken_at: at,
            taker: principal.map(|p| p.user.id),
            totals: forecast.totals,
            range: forecast.range,
            calls,
        };
        let audit = AuditEntry {
            actor: principal.map(|p| p.user.id),
            action: "SnapshotForecast",
            resource: forecast_snapshot_name(snapshot.id),
            detail: format!("{period} {}", snapshot.scope),
            change: None,
        };
        let write = idempotent_write(key, || respond(&snapshot));
        Ok(
            match self
                .store
                .insert_forecast_snapshot(&snapshot, audit, write)
                .await?
            {
                Created::New(()) => Created::New(snapshot),
                Created::Replayed(saved) => Created::Replayed(saved),
            },
        )
    }

    /// The snapshots of a period and scope the principal may read, oldest first.
    pub async fn forecast_snapshots(
        &self,
        principal: &Principal,
        period: Period,
        scope: Scope,
    ) -> AppResult<Vec<ForecastSnapshot>> {
        self.resolve_scope(Some(principal), scope).await?;
        self.store
            .forecast_snapshots(&period.to_string(), &scope_key(scope))
            .await
    }

    /// Scores every snapshot of an ended period against the actual closed-won revenue.
    pub async fn forecast_accuracy(
        &self,
        principal: &Principal,
        period: Period,
        scope: Scope,
    ) -> AppResult<(i64, Currency, Vec<SnapshotScore>)> {
        let view = self.resolve_scope(Some(principal), scope).await?;
        let (start, end) = self.calendar.bounds(period);
        if end > self.today() {
            return Err(period_not_over(period, end));
        }
        let snapshots = self
            .store
            .forecast_snapshots(&period.to_string(), &scope_key(scope))
            .await?;
        let currency = snapshots
            .first()
            .map(|s| s.currency)
            .unwrap_or(Currency::USD);
        let mut converter = Converter::new(currency, self.exchange_table().await?);
        let by_owner = self
            .closed_won_total(view.owners.as_deref(), start, end, &mut converter)
            .await?;
        converter.finish()?;
        let actual: i64 = by_owner.values().sum();
        let members: HashSet<UserId> = people(&view).into_iter().collect();
        let roots: Vec<UserId> = match scope {
            Scope::Subtree(root) => vec![root],
            Scope::Org => members
                .iter()
                .copied()
                .filter(|&u| view.tree.manager_of(u).is_none())
                .collect(),
        };
        let scores = snapshots
            .into_iter()
            .map(|snapshot| {
                let leaves = snapshot
                    .calls
                    .iter()
                    .filter(|c| view.tree.reports(c.user).is_empty());
                let rep_call: i64 = leaves.filter_map(|c| c.own_commit).sum();
                let manager_call: i64 = snapshot
                    .calls
                    .iter()
                    .filter(|c| roots.contains(&c.user))
                    .filter_map(|c| c.manager_commit)
                    .sum();
                let people = snapshot
                    .calls
                    .iter()
                    .map(|c| {
                        let theirs: i64 = view
                            .tree
                            .subtree(c.user)
                            .iter()
                            .filter_map(|u| by_owner.get(u))
                            .sum();
                        PersonScore {
                            user: c.user,
                            actual: theirs,
                            own: c.own_commit.map(|v| Score::of(v, theirs)),
                            manager: c.manager_commit.map(|v| Score::of(v, theirs)),
                        }
                    })
                    .collect();
                SnapshotScore {
                    weighted: Score::of(snapshot.totals.classic_expected, actual),
                    period: Score::of(snapshot.totals.expected, actual),
                    rep_call: Score::of(rep_call, actual),
                    manager_call: Score::of(manager_call, actual),
                    people,
                    snapshot,
                }
            })
            .collect();
        Ok((actual, currency, scores))
    }
}
