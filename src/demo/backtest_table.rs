//! The demo book's backtest table (`dealdesk backtest-demo`): the org's last 4 full quarters and
//! last 6 full months, weekly points, every method's mean APE, mean bias, P10-P90 coverage and
//! Brier score over all of them. README and BENCHMARKS.md quote it; a test keeps its ordering.

use std::collections::HashMap;

use chrono::{Datelike, Months, NaiveDate};

use crate::app::backtest::Backtest;
use crate::app::forecast::Scope;
use crate::app::ports::Store;
use crate::app::{App, AppResult, Principal};
use crate::domain::backtest::{Method, MethodSummary, PointScore, summarize};
use crate::domain::money::Currency;
use crate::domain::period::Period;

/// The last 4 full fiscal quarters and the last 6 full months before `today`, oldest first.
pub fn periods<S: Store>(app: &App<S>, today: NaiveDate) -> Vec<Period> {
    let mut quarters = Vec::new();
    let mut day = today;
    while quarters.len() < 4 {
        let quarter = app.calendar.quarter_of(day);
        let (start, end) = app.calendar.bounds(quarter);
        if end <= today && !quarters.contains(&quarter) {
            quarters.push(quarter);
        }
        day = start.pred_opt().unwrap_or(start);
    }
    quarters.reverse();
    let first = today.with_day(1).unwrap_or(today);
    let months = (1..=6).rev().filter_map(|back| {
        let d = first.checked_sub_months(Months::new(back))?;
        Some(Period::Month {
            year: d.year(),
            month: d.month(),
        })
    });
    quarters.into_iter().chain(months).collect()
}

/// Backtests every period of [`periods`] for the whole org, weekly points.
pub async fn run<S: Store>(
    app: &App<S>,
    principal: &Principal,
) -> AppResult<Vec<(Period, Backtest)>> {
    let mut out = Vec::new();
    for period in periods(app, app.today()) {
        let backtest = app
            .backtest(principal, period, Scope::Org, &[], Currency::USD)
            .await?;
        out.push((period, backtest));
    }
    Ok(out)
}

/// Every method over all the backtests' points.
pub fn table(backtests: &[(Period, Backtest)]) -> Vec<MethodSummary> {
    let mut scores: HashMap<Method, Vec<PointScore>> = HashMap::new();
    for (_, backtest) in backtests {
        for point in &backtest.points {
            for m in &point.methods {
                scores.entry(m.method).or_default().push(m.score);
            }
        }
    }
    Method::ALL
        .iter()
        .map(|&method| {
            let points = scores.remove(&method).unwrap_or_default();
            MethodSummary {
                brier: brier(backtests, method),
                ..summarize(method, &points, &[])
            }
        })
        .collect()
}

/// The Brier score over every backtest, each weighted by its number of predictions.
fn brier(backtests: &[(Period, Backtest)], method: Method) -> Option<f64> {
    let (mut total, mut n) = (0.0, 0.0);
    for (_, backtest) in backtests {
        let summary = backtest.summaries.iter().find(|s| s.method == method)?;
        let deals: u64 = backtest.calibration.iter().map(|r| r.n).sum();
        if let Some(b) = summary.brier {
            // Every method predicts the same deals; the calibration counts them.
            total += b * deals as f64;
            n += deals as f64;
        }
    }
    (n > 0.0).then(|| total / n)
}

/// The table as Markdown, one row per method, with each period's actual beside it.
pub fn markdown(backtests: &[(Period, Backtest)], rows: &[MethodSummary]) -> String {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
    let mut out = String::from(
        "| method | points | mean APE | mean bias | P10-P90 coverage | Brier per deal |\n\
         |---|---|---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.method.name(),
            row.points,
            pct(row.mean_ape),
            pct(row.mean_bias),
            pct(row.coverage),
            row.brier.map_or("-".to_string(), |b| format!("{b:.3}")),
        ));
    }
    out.push_str("\nPeriods (actual booked revenue, USD): ");
    let actuals: Vec<String> = backtests
        .iter()
        .map(|(p, b)| format!("{p} {:.0}", b.actual as f64 / 100.0))
        .collect();
    out.push_str(&actuals.join(", "));
    out.push('\n');
    out
}
