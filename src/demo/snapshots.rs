//! Org forecast snapshots of the demo's ended quarters, so that `GetForecastAccuracy` has
//! forecasts to score. A snapshot taken today of a past quarter would read today's deals (every
//! one closed since), so each is instead the honest backtest's point ([`App::backtest`]): the
//! book rebuilt as of that day from the field history, every figure learned only from what had
//! happened before it. No calls are frozen in them: nobody called those quarters.

use chrono::{Days, NaiveDate, NaiveTime};

use crate::app::forecast::Scope;
use crate::app::names::forecast_snapshot_name;
use crate::app::ports::{AuditEntry, Store};
use crate::app::{App, AppResult, Principal};
use crate::domain::backtest::Method;
use crate::domain::forecast::{Figures, ForecastSnapshot, Range, RangeMethod};
use crate::domain::ids::ForecastSnapshotId;
use crate::domain::money::Currency;
use crate::domain::new_pipeline::previous;
use crate::domain::period::Period;

/// How many ended quarters get snapshots.
pub const PAST_QUARTERS: usize = 4;
/// The days into each quarter the snapshots are as of (weeks 3 and 8 of 13).
const DAYS_IN: [u64; 2] = [14, 49];

/// Stores org snapshots of the last [`PAST_QUARTERS`] ended quarters, as of [`DAYS_IN`] days
/// into each, read by `principal` (who may read the org's forecast).
pub(super) async fn past_quarter_snapshots<S: Store>(
    app: &App<S>,
    principal: &Principal,
) -> AppResult<()> {
    let mut quarter = app.calendar.quarter_of(app.today());
    for _ in 0..PAST_QUARTERS {
        quarter = previous(quarter);
        let (start, _) = app.calendar.bounds(quarter);
        let days: Vec<NaiveDate> = DAYS_IN
            .iter()
            .filter_map(|d| start.checked_add_days(Days::new(*d)))
            .collect();
        let backtest = app
            .backtest(principal, quarter, Scope::Org, &days, Currency::USD)
            .await?;
        for point in &backtest.points {
            let snapshot = snapshot_of(app, quarter, point);
            let audit = AuditEntry {
                actor: None,
                action: "SnapshotForecast",
                resource: forecast_snapshot_name(snapshot.id),
                detail: format!("{quarter} org: the demo's backtest as of {}", point.as_of),
                change: None,
            };
            app.store
                .insert_forecast_snapshot(&snapshot, audit, None)
                .await?;
        }
    }
    Ok(())
}

/// The snapshot a backtest point stands for: the classic and period figures as of its day,
/// and the period forecast's P10 and P90 (its P50 is given as the expected value: a backtest
/// keeps no median). The open amounts by category are not rebuilt (zero).
fn snapshot_of<S: Store>(
    app: &App<S>,
    quarter: Period,
    point: &crate::app::backtest::BacktestPoint,
) -> ForecastSnapshot {
    let method = |m: Method| point.methods.iter().find(|p| p.method == m);
    let classic = method(Method::Classic).map_or(point.closed_won, |m| m.score.forecast);
    let period = method(Method::PeriodForecast);
    let expected = period.map_or(classic, |m| m.score.forecast);
    let (p10, p90) = period.and_then(|m| m.range).unwrap_or((expected, expected));
    let taken_at = point
        .as_of
        .and_time(NaiveTime::MIN)
        .and_local_timezone(app.calendar.zone)
        .earliest()
        .map(|t| t.to_utc())
        .unwrap_or_else(|| app.now());
    ForecastSnapshot {
        id: ForecastSnapshotId(app.ids.id()),
        period: quarter.to_string(),
        scope: "org".into(),
        currency: Currency::USD,
        taken_at,
        taker: None,
        totals: Figures {
            closed_won: point.closed_won,
            weighted_pipeline: classic - point.closed_won,
            classic_expected: classic,
            period_forecast: expected
                - point.closed_won
                - point.new_pipeline
                - point.pulled_in
                - point.overdue,
            not_yet_created: point.new_pipeline,
            pulled_in: point.pulled_in,
            overdue: point.overdue,
            expected,
            open_deals: point.open_deals,
            ..Figures::default()
        },
        range: Range {
            p10,
            p50: expected,
            p90,
            method: RangeMethod::Exact,
        },
        calls: Vec::new(),
    }
}
