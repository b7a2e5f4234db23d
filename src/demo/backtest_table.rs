//! The demo book's backtest table (`dealdesk backtest-demo`): the org's last 4 full quarters and
//! last 6 full months, weekly points, every method's mean APE, mean bias, P10-P90 coverage and
//! Brier score over all of them. README and BENCHMARKS.md quote it; a test keeps its ordering.

use std::collections::HashMap;

use chrono::{Datelike, Months, NaiveDate};

use crate::app::backtest::Backtest;
use crate::app::forecast::Scope;
use crate::app::ports::Store;
use crate::app::{App, AppResult, Principal};
use crate::domain::backtest::{BookedAfter, Method, MethodSummary, PointScore, summarize};
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

/// The header of [`book_line`]'s table.
pub const BOOK_HEADER: &str = "| seed | period APE | classic APE | static APE | average APE | closed + new APE | period bias | period P10-P90 coverage | pulled in |\n|---|---|---|---|---|---|---|---|---|\n";

/// One book's summary as a row under [`BOOK_HEADER`]: each method's mean APE, the period
/// forecast's bias and coverage, and the share of the revenue after the points pulled in.
pub fn book_line(seed: u64, backtests: &[(Period, Backtest)]) -> String {
    let rows = table(backtests);
    let of = |m: Method| rows.iter().find(|r| r.method == m);
    let after = booked_after(backtests);
    let pulled = after.dated_later as f64 / after.total().max(1) as f64;
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
    let ape = |m: Method| pct(of(m).and_then(|r| r.mean_ape));
    let period = of(Method::PeriodForecast);
    format!(
        "| {seed} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        ape(Method::PeriodForecast),
        ape(Method::Classic),
        ape(Method::StaticDefaults),
        ape(Method::LastPeriodsAverage),
        ape(Method::ClosedPlusNew),
        pct(period.and_then(|r| r.mean_bias)),
        pct(period.and_then(|r| r.coverage)),
        pct(Some(pulled)),
    )
}

/// The table as Markdown, one row per method, with each period's actual beside it (one book's)
/// and where the revenue after the points came from.
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
    // One book's periods each once (several books would repeat every period).
    if backtests.len() == periods_in(backtests) {
        out.push_str("\nPeriods (actual booked revenue, USD): ");
        let actuals: Vec<String> = backtests
            .iter()
            .map(|(p, b)| format!("{p} {:.0}", b.actual as f64 / 100.0))
            .collect();
        out.push_str(&actuals.join(", "));
        out.push('\n');
    }
    let after = booked_after(backtests);
    let share = |v: i64| format!("{:.1}%", 100.0 * v as f64 / after.total().max(1) as f64);
    out.push_str(&format!(
        "\nRevenue booked after the points, by what each deal was on the point's day (summed over \
         the points): dated in the period {}, dated later (pulled in) {}, dated earlier or \
         undated {}, not created yet {}, closed then {}\n",
        share(after.dated_in_period),
        share(after.dated_later),
        share(after.dated_earlier),
        share(after.not_yet_created),
        share(after.closed_then),
    ));
    out.push_str(&terms_line(backtests));
    out.push_str(&by_period(backtests));
    out
}

/// Each term of the period forecast over the revenue it foretells, summed over the points
/// (`None` where nothing was booked): the open deals dated in the period over what they booked
/// after the points, the pulled-in term over what deals dated later booked, the overdue term
/// over what deals dated earlier booked, the not-yet-created term over what deals created later
/// booked. Where a bias comes from.
pub fn term_ratios(backtests: &[(Period, Backtest)]) -> [Option<f64>; 4] {
    let (mut open, mut pulled, mut overdue, mut new) = (0i64, 0i64, 0i64, 0i64);
    for point in backtests.iter().flat_map(|(_, b)| b.points.iter()) {
        let Some(period) = point
            .methods
            .iter()
            .find(|m| m.method == Method::PeriodForecast)
        else {
            continue;
        };
        open += period.score.forecast
            - point.closed_won
            - point.new_pipeline
            - point.pulled_in
            - point.overdue;
        pulled += point.pulled_in;
        overdue += point.overdue;
        new += point.new_pipeline;
    }
    let after = booked_after(backtests);
    let ratio = |forecast: i64, booked: i64| (booked != 0).then(|| forecast as f64 / booked as f64);
    [
        ratio(open, after.dated_in_period),
        ratio(pulled, after.dated_later),
        ratio(overdue, after.dated_earlier),
        ratio(new, after.not_yet_created),
    ]
}

/// A ratio of [`term_ratios`] as text.
fn ratio_text(ratio: Option<f64>) -> String {
    ratio.map_or("-".to_string(), |r| format!("{r:.2}"))
}

/// [`term_ratios`] as a sentence.
fn terms_line(backtests: &[(Period, Backtest)]) -> String {
    let [open, pulled, overdue, new] = term_ratios(backtests).map(ratio_text);
    format!(
        "\nEach term of the period forecast over what it foretells (summed over the points): open \
         deals dated in the period {open} (of what they booked after the points), pulled in \
         {pulled} (of what every deal dated later booked), overdue {overdue} (of what every deal \
         dated earlier or undated booked), not yet created {new}\n"
    )
}

/// The period forecast per period backtested (over every book's points of it): its mean APE
/// and mean bias, and each term over what it foretells, in the order backtested (quarters,
/// then months, oldest first).
pub fn by_period(backtests: &[(Period, Backtest)]) -> String {
    let mut periods: Vec<Period> = Vec::new();
    for (period, _) in backtests {
        if !periods.contains(period) {
            periods.push(*period);
        }
    }
    let mut out = String::from(
        "\n| period | points | period APE | period bias | open dated in it | pulled in | overdue | not yet created |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
    for period in periods {
        let of: Vec<(Period, Backtest)> = backtests
            .iter()
            .filter(|(p, _)| *p == period)
            .cloned()
            .collect();
        let row = table(&of)
            .into_iter()
            .find(|r| r.method == Method::PeriodForecast);
        let [open, pulled, overdue, new] = term_ratios(&of).map(ratio_text);
        out.push_str(&format!(
            "| {period} | {} | {} | {} | {open} | {pulled} | {overdue} | {new} |\n",
            row.as_ref().map_or(0, |r| r.points),
            pct(row.as_ref().and_then(|r| r.mean_ape)),
            pct(row.as_ref().and_then(|r| r.mean_bias)),
        ));
    }
    out
}

/// How many distinct periods the backtests cover.
fn periods_in(backtests: &[(Period, Backtest)]) -> usize {
    let mut periods: Vec<String> = backtests.iter().map(|(p, _)| p.to_string()).collect();
    periods.sort();
    periods.dedup();
    periods.len()
}

/// What the periods booked after each point, summed over every point.
pub fn booked_after(backtests: &[(Period, Backtest)]) -> BookedAfter {
    backtests
        .iter()
        .flat_map(|(_, b)| b.points.iter())
        .fold(BookedAfter::default(), |sum, p| sum.plus(p.booked_after))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::app::backtest::{BacktestPoint, MethodPoint};

    /// A point whose period forecast is `closed` + `open` + `off` (pulled in, overdue) + `new`,
    /// and what the period booked after it.
    fn point(closed: i64, open: i64, off: [i64; 2], new: i64, after: BookedAfter) -> BacktestPoint {
        let [pulled, overdue] = off;
        let forecast = closed + open + pulled + overdue + new;
        BacktestPoint {
            as_of: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
            closed_won: closed,
            open_deals: 3,
            new_pipeline: new,
            pulled_in: pulled,
            overdue,
            booked_after: after,
            methods: vec![MethodPoint {
                method: Method::PeriodForecast,
                score: PointScore::of(forecast, 1_000, None),
                range: None,
            }],
        }
    }

    #[test]
    fn each_term_is_read_against_what_it_foretells() {
        let after = |dated_in_period, dated_later, dated_earlier, not_yet_created| BookedAfter {
            dated_in_period,
            dated_later,
            dated_earlier,
            not_yet_created,
            ..BookedAfter::default()
        };
        let backtest = Backtest {
            actual: 1_000,
            points: vec![
                point(100, 500, [60, 5], 40, after(400, 50, 0, 0)),
                point(300, 300, [30, 15], 20, after(200, 50, 40, 50)),
            ],
            summaries: Vec::new(),
            calibration: Vec::new(),
        };
        let period = Period::Month {
            year: 2026,
            month: 7,
        };
        // Open: 800 forecast of 600 booked; pulled in 90 of 100; overdue 20 of 40; not yet
        // created 60 of 50.
        let [open, pulled, overdue, new] = term_ratios(&[(period, backtest)]);
        assert_eq!(open, Some(800.0 / 600.0));
        assert_eq!(pulled, Some(0.9));
        assert_eq!(overdue, Some(0.5));
        assert_eq!(new, Some(1.2));
        // Nothing booked from a source: no ratio.
        assert_eq!(term_ratios(&[]), [None, None, None, None]);
    }
}
