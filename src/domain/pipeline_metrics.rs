//! Pipeline metrics: the month range a report covers and how it buckets what happened, the
//! median every duration is summarised by, and the rule that says when an open deal has sat in
//! its stage too long.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};

use super::period::Period;
use super::wording::echoed;
use super::{Problem, Violations};

/// Most months one report covers.
pub const MAX_MONTHS: usize = 24;

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    first_day: NaiveDate,
}

impl Month {
    /// Parses `YYYY-MM`, naming `field` in the violation.
    pub fn parse(field: &str, text: &str) -> Result<Month, Violations> {
        let bad = || {
            Violations::one_as(
                Problem::BadPeriod,
                field,
                format!("{} is not a month like 2026-11 (YYYY-MM)", echoed(text)),
            )
        };
        match Period::parse(text).map_err(|_| bad())? {
            Period::Month { year, month } => NaiveDate::from_ymd_opt(year, month, 1)
                .map(|first_day| Month { first_day })
                .ok_or_else(bad),
            Period::Quarter { .. } => Err(bad()),
        }
    }

    /// The month's first day.
    pub fn first_day(self) -> NaiveDate {
        self.first_day
    }

    /// The month after this one.
    pub fn next(self) -> Month {
        Month {
            first_day: self
                .first_day
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(NaiveDate::MAX),
        }
    }

    /// Midnight UTC at the start of the month.
    pub fn start(self) -> DateTime<Utc> {
        self.first_day.and_time(NaiveTime::MIN).and_utc()
    }

    /// Months from `self` to `later` (0 for the same month, negative when `later` is earlier).
    fn months_until(self, later: Month) -> i64 {
        let index = |m: Month| i64::from(m.first_day.year()) * 12 + i64::from(m.first_day.month());
        index(later) - index(self)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}",
            self.first_day.year(),
            self.first_day.month()
        )
    }
}

/// Consecutive months, first to last inclusive, at most [`MAX_MONTHS`].
///
/// Bucketing: a movement belongs to the month (UTC) in which it happened, so month `i` holds
/// what happened in `[boundaries[i], boundaries[i + 1])`; the whole range is
/// `[boundaries[0], boundaries[len])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthRange {
    first: Month,
    len: usize,
}

impl MonthRange {
    /// Parses `start_month` and `end_month` (`YYYY-MM`, inclusive), reporting every problem.
    pub fn parse(start_month: &str, end_month: &str) -> Result<MonthRange, Violations> {
        let mut v = Violations::new();
        let first = Month::parse("start_month", start_month)
            .map_err(|e| v.extend(e))
            .ok();
        let last = Month::parse("end_month", end_month)
            .map_err(|e| v.extend(e))
            .ok();
        let (Some(first), Some(last)) = (first, last) else {
            return Err(v);
        };
        let span = first.months_until(last);
        if span < 0 {
            v.add_as(
                Problem::BadPeriod,
                "end_month",
                "must not be before start_month",
            );
        } else if span >= MAX_MONTHS as i64 {
            v.add_as(
                Problem::BadPeriod,
                "end_month",
                format!("must be at most {MAX_MONTHS} months from start_month (inclusive)"),
            );
        }
        v.into_result(MonthRange {
            first,
            len: usize::try_from(span + 1).unwrap_or(0),
        })
    }

    /// The first month.
    pub fn first(&self) -> Month {
        self.first
    }

    /// The last month.
    pub fn last(&self) -> Month {
        self.months().last().copied().unwrap_or(self.first)
    }

    /// How many months (1 to [`MAX_MONTHS`]).
    pub fn month_count(&self) -> usize {
        self.len
    }

    /// The months in order.
    pub fn months(&self) -> Vec<Month> {
        std::iter::successors(Some(self.first), |m| Some(m.next()))
            .take(self.len)
            .collect()
    }

    /// The `len + 1` instants that bound the months (see the type's doc), in UTC.
    pub fn boundaries(&self) -> Vec<DateTime<Utc>> {
        self.first_days()
            .into_iter()
            .map(|d| d.and_time(NaiveTime::MIN).and_utc())
            .collect()
    }

    /// The first days of the months and of the month after them (`len + 1` days).
    pub fn first_days(&self) -> Vec<NaiveDate> {
        std::iter::successors(Some(self.first), |m| Some(m.next()))
            .take(self.len + 1)
            .map(|m| m.first_day)
            .collect()
    }
}

/// Where a count belongs: one month of the range, or the range as a whole (medians and distinct
/// counts of the whole range cannot be summed from its months).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    /// The month at this index of the range.
    Month(usize),
    /// The whole range.
    Range,
}

/// The median of `values`: the middle one, or the mean of the two middle ones when there is an
/// even number of them; `None` when there are none.
///
/// The store never loads every value: it ranks them in SQL and returns only those ranked
/// `(n + 1) / 2` and `(n + 2) / 2` (integer division, 1-based), whose median is the median of
/// all `n` (see the property test).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// `part / whole`, or `None` when `whole` is 0.
pub fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// What set a stage's staleness threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdSource {
    /// The request's `stale_after_days`, which overrides every stage's.
    Request,
    /// The stage's own `stale_after_days`.
    Stage,
    /// Twice the stage's median days (the stage sets none).
    TwiceMedian,
}

/// How long a deal may sit in a stage before it is stale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaleThreshold {
    /// Days (fractional when taken from a median).
    pub days: f64,
    /// Where they came from.
    pub source: ThresholdSource,
}

impl StaleThreshold {
    /// A deal that entered the stage before this instant is stale at `now` (it has been there
    /// strictly longer than the threshold).
    pub fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let millis = (self.days * 86_400_000.0).round();
        // Thresholds are at most 3650 days or twice a median of real stays: far inside range.
        now - Duration::milliseconds(millis.clamp(0.0, 1e15) as i64)
    }
}

/// How far back the stage medians of the staleness rule look: stays that ended in the months
/// before now, over the whole pipeline, so that whether a deal is stale depends neither on who
/// asks nor on the months a report covers.
pub const STALE_HISTORY_MONTHS: u32 = 12;

/// The window of stays whose median days a stage without a setting falls back on: the
/// [`STALE_HISTORY_MONTHS`] before `now`.
pub fn stale_history_window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = now
        .checked_sub_months(chrono::Months::new(STALE_HISTORY_MONTHS))
        .unwrap_or(now);
    (from, now)
}

/// The staleness rule: the request's threshold overrides everything; else the stage's own
/// `stale_after_days`; else twice the stage's median days (over [`stale_history_window`]);
/// else (no history either) the stage has no threshold and none of its deals is stale.
pub fn stale_threshold(
    requested: Option<u32>,
    stage_setting: Option<u16>,
    median_days: Option<f64>,
) -> Option<StaleThreshold> {
    if let Some(days) = requested {
        return Some(StaleThreshold {
            days: f64::from(days),
            source: ThresholdSource::Request,
        });
    }
    if let Some(days) = stage_setting {
        return Some(StaleThreshold {
            days: f64::from(days),
            source: ThresholdSource::Stage,
        });
    }
    median_days
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(|median| StaleThreshold {
            days: 2.0 * median,
            source: ThresholdSource::TwiceMedian,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn fields(v: Violations) -> Vec<String> {
        v.0.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn a_range_of_three_months_is_bounded_by_four_month_starts() {
        let range = MonthRange::parse("2025-11", "2026-01").unwrap();
        assert_eq!(range.month_count(), 3);
        let names: Vec<String> = range.months().iter().map(Month::to_string).collect();
        assert_eq!(names, ["2025-11", "2025-12", "2026-01"]);
        assert_eq!(
            range.boundaries(),
            [
                at("2025-11-01T00:00:00Z"),
                at("2025-12-01T00:00:00Z"),
                at("2026-01-01T00:00:00Z"),
                at("2026-02-01T00:00:00Z"),
            ]
        );
        assert_eq!(range.last().to_string(), "2026-01");
    }

    #[test]
    fn a_single_month_is_a_range() {
        let range = MonthRange::parse("2026-02", "2026-02").unwrap();
        assert_eq!(range.month_count(), 1);
        assert_eq!(
            range.boundaries(),
            [at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z")]
        );
    }

    #[test]
    fn twenty_four_months_are_allowed_and_twenty_five_are_not() {
        assert_eq!(
            MonthRange::parse("2024-01", "2025-12")
                .unwrap()
                .month_count(),
            24
        );
        let err = MonthRange::parse("2024-01", "2026-01").unwrap_err();
        assert_eq!(fields(err), ["end_month"]);
    }

    #[test]
    fn an_end_before_the_start_is_rejected_on_end_month() {
        let err = MonthRange::parse("2026-03", "2026-02").unwrap_err();
        assert_eq!(fields(err), ["end_month"]);
    }

    #[test]
    fn malformed_months_are_each_reported_by_field() {
        let err = MonthRange::parse("2026-13", "2026-Q1").unwrap_err();
        assert_eq!(fields(err), ["start_month", "end_month"]);
        let err = MonthRange::parse("", "26-01").unwrap_err();
        assert_eq!(fields(err), ["start_month", "end_month"]);
    }

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        assert_eq!(median(&[9.0, 1.0, 4.0]), Some(4.0));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_two_middle_values() {
        assert_eq!(median(&[10.0, 2.0, 4.0, 100.0]), Some(7.0));
    }

    #[test]
    fn nothing_has_no_median() {
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn a_share_of_nothing_is_undefined() {
        assert_eq!(share(0, 0), None);
        assert_eq!(share(1, 4), Some(0.25));
    }

    #[test]
    fn the_requested_threshold_overrides_the_stage_and_the_history() {
        let t = stale_threshold(Some(5), Some(30), Some(12.0)).unwrap();
        assert_eq!((t.days, t.source), (5.0, ThresholdSource::Request));
    }

    #[test]
    fn the_stage_setting_overrides_the_history() {
        let t = stale_threshold(None, Some(30), Some(12.0)).unwrap();
        assert_eq!((t.days, t.source), (30.0, ThresholdSource::Stage));
    }

    #[test]
    fn without_a_setting_the_threshold_is_twice_the_median() {
        let t = stale_threshold(None, None, Some(12.5)).unwrap();
        assert_eq!((t.days, t.source), (25.0, ThresholdSource::TwiceMedian));
    }

    #[test]
    fn without_a_setting_or_history_a_stage_has_no_threshold() {
        assert_eq!(stale_threshold(None, None, None), None);
    }

    #[test]
    fn the_history_of_the_rule_is_the_twelve_months_before_now() {
        let now = at("2026-03-31T12:00:00Z");
        assert_eq!(stale_history_window(now), (at("2025-03-31T12:00:00Z"), now));
    }

    #[test]
    fn a_deal_is_stale_once_it_entered_before_the_cutoff() {
        let now = at("2026-03-31T12:00:00Z");
        let threshold = StaleThreshold {
            days: 1.5,
            source: ThresholdSource::TwiceMedian,
        };
        assert_eq!(threshold.cutoff(now), at("2026-03-30T00:00:00Z"));
    }

    proptest! {
        #[test]
        fn the_median_of_the_middle_ranks_is_the_median_of_all(
            values in proptest::collection::vec(-1e6f64..1e6, 1..60)
        ) {
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len();
            // The ranks the store keeps, 1-based: its SQL's (n + 1) / 2 and (n + 2) / 2.
            let (low, high) = (n.div_ceil(2), n / 2 + 1);
            let middle: Vec<f64> = sorted[low - 1..high].to_vec();
            prop_assert_eq!(median(&middle), median(&values));
        }

        #[test]
        fn the_median_lies_between_the_smallest_and_largest_value(
            values in proptest::collection::vec(-1e6f64..1e6, 1..60)
        ) {
            let m = median(&values).unwrap();
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(min <= m && m <= max);
        }

        #[test]
        fn every_instant_of_the_range_falls_in_exactly_one_month(
            start in 0u32..120, len in 1usize..=MAX_MONTHS, offset_hours in 0i64..(24 * 31 * 24)
        ) {
            let first = Month::parse("m", &format!("{}-{:02}", 2020 + start / 12, start % 12 + 1)).unwrap();
            let last = std::iter::successors(Some(first), |m| Some(m.next())).nth(len - 1).unwrap();
            let range = MonthRange::parse(&first.to_string(), &last.to_string()).unwrap();
            let bounds = range.boundaries();
            let instant = bounds[0] + Duration::hours(offset_hours);
            let holding = bounds.windows(2).filter(|w| w[0] <= instant && instant < w[1]).count();
            prop_assert_eq!(holding, usize::from(instant < bounds[len]));
            prop_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
