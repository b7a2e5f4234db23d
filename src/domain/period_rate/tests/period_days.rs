//! Where an open deal is dated, seen from a period: in it, off it in a term (pulled in or
//! overdue), or in none. Learning, the forecast's reads and backtests all ask this one rule.

use super::*;

/// Fiscal 2027-Q4 of a year starting in February (November 2026 to January 2027), seen on
/// `as_of`.
fn fiscal_q4_on(as_of: NaiveDate) -> PeriodDays {
    let calendar = OrgCalendar::new(FiscalCalendar::starting_in(2).unwrap(), chrono_tz::Tz::UTC);
    let quarter = PeriodKind::Quarter.period_of(&calendar, day(11, 22));
    PeriodDays::new(
        &calendar,
        PeriodKind::Quarter,
        calendar.bounds(quarter),
        as_of,
    )
}

/// The same quarter seen on 22 November 2026, in it.
fn fiscal_q4() -> PeriodDays {
    fiscal_q4_on(day(11, 22))
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn a_quarter_holds_its_days_pulls_in_the_next_quarter_and_counts_a_year_before_it_overdue() {
    let q4 = fiscal_q4();
    assert_eq!(
        (q4.first, q4.last(), q4.end, q4.next_end, q4.ended()),
        (
            date(2026, 11, 1),
            date(2027, 1, 31),
            date(2027, 2, 1),
            date(2027, 5, 1),
            false
        )
    );
    let cases = [
        (date(2026, 11, 1), Some(None)),
        (date(2027, 1, 31), Some(None)),
        (date(2027, 2, 1), Some(Some(OffPeriod::Next))),
        (date(2027, 4, 30), Some(Some(OffPeriod::Next))),
        // Two quarters ahead: in no term.
        (date(2027, 5, 1), None),
        (date(2026, 10, 31), Some(Some(OffPeriod::Overdue))),
        // 365 days before the first day is the earliest overdue day; a day earlier is debris.
        (date(2025, 11, 1), Some(Some(OffPeriod::Overdue))),
        (date(2025, 10, 31), None),
    ];
    for (close, dated) in cases {
        assert_eq!(q4.dated(close), dated, "dated {close}");
    }
}

#[test]
fn a_month_pulls_in_the_whole_next_month_whatever_its_length() {
    let calendar = OrgCalendar::default();
    let january = PeriodKind::Month.period_of(&calendar, date(2027, 1, 15));
    let bounds = calendar.bounds(january);
    let days = PeriodDays::new(&calendar, PeriodKind::Month, bounds, date(2027, 1, 15));
    assert_eq!(
        days.off_days(OffPeriod::Next),
        Some((date(2027, 2, 1), date(2027, 3, 1)))
    );
    assert_eq!(days.dated(date(2027, 2, 28)), Some(Some(OffPeriod::Next)));
    assert_eq!(days.dated(date(2027, 3, 1)), None);
    assert_eq!(
        days.off_days(OffPeriod::Overdue),
        Some((date(2026, 1, 1), date(2027, 1, 1)))
    );
}

#[test]
fn a_period_that_has_ended_keeps_its_own_deals_and_takes_none_dated_off_it() {
    let q4 = fiscal_q4_on(date(2027, 2, 1));
    assert!(q4.ended());
    assert_eq!(q4.dated(date(2027, 1, 31)), Some(None));
    for off in OffPeriod::ALL {
        assert_eq!(q4.off_days(off), None, "{off:?}");
    }
    assert_eq!(q4.dated(date(2027, 2, 1)), None);
    assert_eq!(q4.dated(date(2026, 10, 31)), None);
    // Its last day it has not ended.
    assert!(!fiscal_q4_on(date(2027, 1, 31)).ended());
}

#[test]
fn a_future_periods_overdue_deals_are_those_whose_date_has_passed() {
    // Seen on 20 September, before the quarter: a deal dated 1 October is neither in it nor
    // overdue (its date has not come), one dated 19 September is overdue.
    let q4 = fiscal_q4_on(date(2026, 9, 20));
    assert_eq!(
        q4.off_days(OffPeriod::Overdue),
        Some((date(2025, 11, 1), date(2026, 9, 20)))
    );
    assert_eq!(q4.dated(date(2026, 10, 1)), None);
    assert_eq!(q4.dated(date(2026, 9, 20)), None);
    assert_eq!(q4.dated(date(2026, 9, 19)), Some(Some(OffPeriod::Overdue)));
    assert_eq!(q4.dated(date(2027, 2, 1)), Some(Some(OffPeriod::Next)));
    // Seen more than a year before it, no day is both passed and within the year before it.
    assert_eq!(
        fiscal_q4_on(date(2025, 10, 1)).off_days(OffPeriod::Overdue),
        None
    );
}

proptest! {
    /// Seen on any day, every day falls in at most one of the period and its terms' ranges,
    /// `dated` names the one it falls in, and an overdue deal's date has passed.
    #[test]
    fn dated_names_the_one_range_a_day_falls_in(offset in -800i64..400, seen in -500i64..200) {
        let q4 = fiscal_q4_on(date(2026, 11, 1) + Duration::days(seen));
        let close = q4.first + Duration::days(offset);
        let ranges: Vec<Option<OffPeriod>> = std::iter::once((None, Some((q4.first, q4.end))))
            .chain(OffPeriod::ALL.map(|off| (Some(off), q4.off_days(off))))
            .filter_map(|(which, days)| Some((which, days?)))
            .filter(|(_, (from, until))| *from <= close && close < *until)
            .map(|(which, _)| which)
            .collect();
        prop_assert!(ranges.len() <= 1);
        prop_assert_eq!(q4.dated(close), ranges.first().copied());
        if q4.dated(close) == Some(Some(OffPeriod::Overdue)) {
            prop_assert!(close < q4.as_of && close < q4.first);
        }
    }
}
