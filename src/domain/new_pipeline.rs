//! The not-yet-created pipeline: the revenue a period will book from deals that do not exist
//! yet at the as-of instant, learned from how much each of the last K periods of the same kind
//! booked from deals created after the same point of that period (its spread joins the range in
//! [`super::forecast::model_range`]).
//!
//! Every figure here uses only what was known at the as-of instant (periods that had ended,
//! deals that had been created), so a backtest that calls it for a past day is honest.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::calendar::{OrgCalendar, PeriodKind};
use super::period::Period;

/// The period of the same kind just before `period` (December before January, Q4 of the
/// previous fiscal year before Q1: fiscal years are numbered consecutively whatever their start).
pub fn previous(period: Period) -> Period {
    match period {
        Period::Month { year, month: 1 } => Period::Month {
            year: year.saturating_sub(1),
            month: 12,
        },
        Period::Month { year, month } => Period::Month {
            year,
            month: month - 1,
        },
        Period::Quarter {
            fiscal_year,
            quarter: 1,
        } => Period::Quarter {
            fiscal_year: fiscal_year.saturating_sub(1),
            quarter: 4,
        },
        Period::Quarter {
            fiscal_year,
            quarter,
        } => Period::Quarter {
            fiscal_year,
            quarter: quarter - 1,
        },
    }
}

/// The instant `elapsed` after the first instant of `period` (in the org's zone), no later than
/// its end: a point 30 days into a month is the end of a 28-day February, not a day of March.
pub fn same_point(calendar: &OrgCalendar, period: Period, elapsed: Duration) -> DateTime<Utc> {
    let (start, end) = calendar.instants(period);
    start + elapsed.clamp(Duration::zero(), end - start)
}

/// A won deal, as the term needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WonDeal {
    /// When the deal was created.
    pub created_at: DateTime<Utc>,
    /// Its booking date, a date in the org's zone.
    pub booked_on: NaiveDate,
    /// What it booked, in minor units of the reporting currency (converted before it gets here).
    pub amount: i64,
}

/// The not-yet-created term of a forecast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotYetCreated {
    /// The mean of `values`, halves up (0 when there are none): the forecast's line.
    pub expected: i64,
    /// Each past period and the revenue it booked from deals created after the same point of
    /// it, oldest first.
    pub values: Vec<(Period, i64)>,
}

impl NotYetCreated {
    /// The `q`-th quantile (0 to 1) of the past values by nearest rank: the smallest value that
    /// at least a share `q` of them do not exceed (the ceil(q x K)-th smallest, at least the
    /// first). With 4 quarters P10 is the lowest and P90 the highest; with 12 months, the second
    /// lowest and second highest. No interpolation: every figure is a period that happened.
    /// `expected` when there are no values.
    pub fn quantile(&self, q: f64) -> i64 {
        let mut sorted: Vec<i64> = self.values.iter().map(|&(_, value)| value).collect();
        if sorted.is_empty() {
            return self.expected;
        }
        sorted.sort_unstable();
        sorted[nearest_rank(q, sorted.len())]
    }

    /// The 10th percentile of the past values ([`NotYetCreated::quantile`]).
    pub fn p10(&self) -> i64 {
        self.quantile(0.1)
    }

    /// The 90th percentile of the past values ([`NotYetCreated::quantile`]).
    pub fn p90(&self) -> i64 {
        self.quantile(0.9)
    }
}

/// The index in `0..n` (n > 0) of the `q`-th quantile by nearest rank.
fn nearest_rank(q: f64, n: usize) -> usize {
    ((q * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1
}

/// The mean of `values` rounded to a minor unit, halves up (0 for none). Exact in integers, so a
/// year of large amounts does not lose cents to a double.
pub fn mean_half_up(values: &[i64]) -> i64 {
    if values.is_empty() {
        return 0;
    }
    let sum: i128 = values.iter().map(|&v| i128::from(v)).sum();
    let n = values.len() as i128;
    // floor(sum / n + 1/2) = floor((2 sum + n) / 2n).
    let mean = (2 * sum + n).div_euclid(2 * n);
    i64::try_from(mean).unwrap_or(if mean < 0 { i64::MIN } else { i64::MAX })
}

/// One past period the not-yet-created term learns from: deals booked in `[first_day,
/// next_day)` and created after `point`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastWindow {
    pub period: Period,
    pub first_day: NaiveDate,
    /// The first day after it.
    pub next_day: NaiveDate,
    /// As far into it as `as_of` is into the period forecast ([`same_point`]).
    pub point: DateTime<Utc>,
}

/// The `lookback` periods, oldest first, that the not-yet-created term of `period` learns from
/// as of `as_of`: those before `period`, or before the period `as_of` is in when that is
/// earlier (a later period's own past has not happened yet), each with its point as far into it
/// as `as_of` is into `period`.
pub fn past_windows(
    calendar: &OrgCalendar,
    period: Period,
    as_of: DateTime<Utc>,
    lookback: usize,
) -> Vec<PastWindow> {
    let current = PeriodKind::of(period).period_of(calendar, calendar.day_of(as_of));
    let anchor = match calendar.bounds(current).0 < calendar.bounds(period).0 {
        true => current,
        false => period,
    };
    let elapsed = as_of - calendar.instants(period).0;
    let mut periods: Vec<Period> =
        std::iter::successors(Some(previous(anchor)), |p| Some(previous(*p)))
            .take(lookback)
            .collect();
    periods.reverse();
    periods
        .into_iter()
        .map(|period| {
            let (first_day, next_day) = calendar.bounds(period);
            PastWindow {
                period,
                first_day,
                next_day,
                point: same_point(calendar, period, elapsed),
            }
        })
        .collect()
}

/// The not-yet-created term as of `as_of`, learned from the `lookback` periods of `kind` before
/// the one `as_of` falls in (P(A)).
///
/// For each past period P_j, the point is as long after P_j's first instant as `as_of` is after
/// P(A)'s ([`same_point`]); P_j's value is the revenue of the deals booked in P_j that were
/// created strictly after that point. A deal created exactly at the point existed then, as the
/// open pipeline at `as_of` holds the deals existing at `as_of`.
///
/// Never looks ahead: the past periods all ended before P(A) began, and a deal created after
/// `as_of` is left out even when backdated into a past period, because nobody knew of it then.
/// A deal created after the end of the period it booked in does count: no pipeline of that
/// period could have shown it.
///
/// Every past period counts, with 0 when nothing qualified: a quiet period is part of the
/// spread. A caller with less history than `lookback` periods passes a smaller one.
pub fn not_yet_created(
    calendar: &OrgCalendar,
    kind: PeriodKind,
    as_of: DateTime<Utc>,
    lookback: usize,
    won: &[WonDeal],
) -> NotYetCreated {
    let current = kind.period_of(calendar, calendar.day_of(as_of));
    let values: Vec<(Period, i64)> = past_windows(calendar, current, as_of, lookback)
        .into_iter()
        .map(|w| {
            let revenue = won
                .iter()
                .filter(|d| w.first_day <= d.booked_on && d.booked_on < w.next_day)
                .filter(|d| w.point < d.created_at && d.created_at <= as_of)
                .map(|d| d.amount)
                .fold(0i64, i64::saturating_add);
            (w.period, revenue)
        })
        .collect();
    let plain: Vec<i64> = values.iter().map(|&(_, value)| value).collect();
    NotYetCreated {
        expected: mean_half_up(&plain),
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc() -> OrgCalendar {
        OrgCalendar::default()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn p(text: &str) -> Period {
        Period::parse(text).unwrap()
    }

    fn won(created_at: &str, booked_on: &str, amount: i64) -> WonDeal {
        WonDeal {
            created_at: at(created_at),
            booked_on: day(booked_on),
            amount,
        }
    }

    fn months(as_of: &str, lookback: usize, deals: &[WonDeal]) -> NotYetCreated {
        not_yet_created(&utc(), PeriodKind::Month, at(as_of), lookback, deals)
    }

    #[test]
    fn the_not_yet_created_term_counts_only_deals_created_after_the_same_point_of_each_past_period()
    {
        // As of 10 days into May: the points are 10 days into March and into April.
        let deals = [
            won("2026-03-12T00:00:00Z", "2026-03-20", 100),
            won("2026-03-05T00:00:00Z", "2026-03-25", 1_000),
            won("2026-04-11T00:00:01Z", "2026-04-30", 30),
            won("2026-02-20T00:00:00Z", "2026-04-02", 5),
        ];
        assert_eq!(
            months("2026-05-11T00:00:00Z", 2, &deals),
            NotYetCreated {
                expected: 65,
                values: vec![(p("2026-03"), 100), (p("2026-04"), 30)],
            }
        );
    }

    #[test]
    fn a_deal_created_exactly_at_the_point_existed_then() {
        let deals = [won("2026-04-11T00:00:00Z", "2026-04-15", 10_000)];
        assert_eq!(
            months("2026-05-11T00:00:00Z", 1, &deals).values,
            vec![(p("2026-04"), 0)]
        );
    }

    #[test]
    fn a_shorter_past_month_clamps_the_point_to_its_end() {
        // 30 days and 12 hours into March is past the end of a 28-day February.
        let elapsed = at("2026-03-31T12:00:00Z") - at("2026-03-01T00:00:00Z");
        assert_eq!(
            same_point(&utc(), p("2026-02"), elapsed),
            at("2026-03-01T00:00:00Z")
        );
        assert_eq!(
            same_point(&utc(), p("2026-01"), elapsed),
            at("2026-01-31T12:00:00Z")
        );
    }

    #[test]
    fn a_deal_created_after_its_period_ended_but_booked_in_it_counts() {
        // Backdated into February after February's (clamped) point: no February pipeline held it.
        let deals = [
            won("2026-03-02T00:00:00Z", "2026-02-28", 7),
            won("2026-02-27T00:00:00Z", "2026-02-28", 900),
        ];
        assert_eq!(
            months("2026-03-31T12:00:00Z", 1, &deals).values,
            vec![(p("2026-02"), 7)]
        );
    }

    #[test]
    fn nothing_booked_after_the_as_of_instant_counts() {
        let past = [won("2026-04-20T00:00:00Z", "2026-04-25", 40)];
        let before = months("2026-05-11T00:00:00Z", 3, &past);
        let mut more = past.to_vec();
        more.extend([
            // Later in May, in June, and earlier in May itself: none is a past period.
            won("2026-05-10T00:00:00Z", "2026-05-20", 1_000),
            won("2026-03-20T00:00:00Z", "2026-06-03", 2_000),
            won("2026-05-10T00:00:00Z", "2026-05-10", 3_000),
        ]);
        assert_eq!(months("2026-05-11T00:00:00Z", 3, &more), before);
        assert_eq!(before.expected, 13);
    }

    #[test]
    fn a_deal_created_after_the_as_of_instant_is_unknown_then() {
        // Backdated into April after the as-of instant: a backtest must not see it.
        let deals = [won("2026-05-11T00:00:01Z", "2026-04-28", 500)];
        assert_eq!(
            months("2026-05-11T00:00:00Z", 1, &deals).values,
            vec![(p("2026-04"), 0)]
        );
    }

    #[test]
    fn quiet_periods_count_as_zero_in_the_mean() {
        let deals = [won("2026-03-30T00:00:00Z", "2026-03-31", 100)];
        let term = not_yet_created(
            &utc(),
            PeriodKind::Quarter,
            at("2026-07-01T00:00:00Z"),
            4,
            &deals,
        );
        assert_eq!(
            term.values,
            vec![
                (p("2025-Q3"), 0),
                (p("2025-Q4"), 0),
                (p("2026-Q1"), 100),
                (p("2026-Q2"), 0)
            ]
        );
        assert_eq!(term.expected, 25);
    }

    #[test]
    fn the_expectation_is_the_mean_rounded_half_up() {
        assert_eq!(mean_half_up(&[1, 0]), 1);
        assert_eq!(mean_half_up(&[3, 0]), 2);
        assert_eq!(mean_half_up(&[1, 0, 0, 0]), 0);
        assert_eq!(mean_half_up(&[-1, 0]), 0);
        assert_eq!(mean_half_up(&[-3, 0]), -1);
        assert_eq!(mean_half_up(&[i64::MAX, i64::MAX]), i64::MAX);
        assert_eq!(mean_half_up(&[]), 0);
    }

    #[test]
    fn periods_step_back_across_years_and_fiscal_years() {
        assert_eq!(previous(p("2026-01")), p("2025-12"));
        assert_eq!(previous(p("2026-07")), p("2026-06"));
        assert_eq!(previous(p("2027-Q1")), p("2026-Q4"));
        assert_eq!(previous(p("2027-Q3")), p("2027-Q2"));
    }

    #[test]
    fn fiscal_quarters_are_the_orgs() {
        // Fiscal years from February: 15 June 2026 is in 2027-Q2 (May to July 2026).
        let february = OrgCalendar::new(
            crate::domain::period::FiscalCalendar::starting_in(2).unwrap(),
            chrono_tz::Tz::UTC,
        );
        assert_eq!(
            PeriodKind::Quarter.period_of(&february, day("2026-06-15")),
            p("2027-Q2")
        );
        // 45 days into 2027-Q2; 2026-Q4 (Nov to Jan) is 45 days in on 16 December 2025.
        let deals = [
            won("2025-12-16T00:00:01Z", "2026-01-31", 8),
            won("2025-12-15T23:59:59Z", "2026-01-31", 800),
        ];
        let term = not_yet_created(
            &february,
            PeriodKind::Quarter,
            at("2026-06-15T00:00:00Z"),
            2,
            &deals,
        );
        assert_eq!(term.values, vec![(p("2026-Q4"), 8), (p("2027-Q1"), 0)]);
    }

    #[test]
    fn the_point_is_measured_from_the_periods_first_instant_in_the_org_zone() {
        let la = OrgCalendar::new(
            Default::default(),
            OrgCalendar::parse_zone("America/Los_Angeles").unwrap(),
        );
        // Midnight of 3 May in California; April began at 07:00 UTC, so its point is 3 April
        // 07:00 UTC.
        let deals = [
            won("2026-04-03T06:59:59Z", "2026-04-10", 1),
            won("2026-04-03T07:00:01Z", "2026-04-10", 20),
        ];
        let term = not_yet_created(
            &la,
            PeriodKind::Month,
            at("2026-05-03T07:00:00Z"),
            1,
            &deals,
        );
        assert_eq!(term.values, vec![(p("2026-04"), 20)]);
    }

    #[test]
    fn p10_and_p90_are_nearest_ranks_of_the_past_values() {
        let term = |values: &[i64]| NotYetCreated {
            expected: mean_half_up(values),
            values: values.iter().map(|&v| (p("2026-01"), v)).collect(),
        };
        let year = term(&[7, 1, 12, 3, 5, 9, 2, 11, 4, 6, 10, 8]);
        assert_eq!((year.p10(), year.p90()), (2, 11));
        let quarters = term(&[40, 10, 30, 20]);
        assert_eq!((quarters.p10(), quarters.p90()), (10, 40));
        assert_eq!(quarters.quantile(0.5), 20);
        let none = NotYetCreated {
            expected: 0,
            values: vec![],
        };
        assert_eq!((none.p10(), none.p90()), (0, 0));
    }

    fn arb_won() -> impl Strategy<Value = WonDeal> {
        // Any creation and booking in 2025 to 2026.
        let base = at("2025-01-01T00:00:00Z");
        (0i64..730 * 86_400, 0i64..730, 1i64..1_000_000).prop_map(move |(c, b, amount)| WonDeal {
            created_at: base + Duration::seconds(c),
            booked_on: base.date_naive() + Duration::days(b),
            amount,
        })
    }

    proptest! {
        /// Deals booked from the as-of instant's period on never change the term, and its
        /// expectation lies between its lowest and highest past values.
        #[test]
        fn deals_booked_from_the_as_of_period_on_change_nothing(
            deals in prop::collection::vec(arb_won(), 0..40),
            later in prop::collection::vec(arb_won(), 0..10),
            as_of in 0i64..730 * 86_400,
            quarters in any::<bool>(),
        ) {
            let calendar = utc();
            let as_of = at("2025-01-01T00:00:00Z") + Duration::seconds(as_of);
            let kind = if quarters { PeriodKind::Quarter } else { PeriodKind::Month };
            let first_day = calendar.bounds(kind.period_of(&calendar, calendar.day_of(as_of))).0;
            let term = not_yet_created(&calendar, kind, as_of, kind.default_lookback(), &deals);
            let mut more = deals.clone();
            more.extend(later.into_iter().filter(|d| d.booked_on >= first_day));
            prop_assert_eq!(&not_yet_created(&calendar, kind, as_of, kind.default_lookback(), &more), &term);
            let values: Vec<i64> = term.values.iter().map(|v| v.1).collect();
            prop_assert_eq!(values.len(), kind.default_lookback());
            prop_assert!(values.iter().min().is_some_and(|&low| low <= term.expected));
            prop_assert!(values.iter().max().is_some_and(|&high| term.expected <= high));
        }
    }
}
