//! Where an open deal is dated, seen from a period: in it, off it in a term (pulled in or
//! overdue), or in none. Learning, the forecast's reads and backtests all ask this one rule.

use super::*;

/// Fiscal 2027-Q4 of a year starting in February: November 2026 to January 2027.
fn fiscal_q4() -> PeriodDays {
    let calendar = OrgCalendar::new(FiscalCalendar::starting_in(2).unwrap(), chrono_tz::Tz::UTC);
    let quarter = PeriodKind::Quarter.period_of(&calendar, day(11, 22));
    PeriodDays::new(&calendar, PeriodKind::Quarter, calendar.bounds(quarter))
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn a_quarter_holds_its_days_pulls_in_the_next_quarter_and_counts_a_year_before_it_overdue() {
    let q4 = fiscal_q4();
    assert_eq!(
        (q4.first, q4.last(), q4.end, q4.next_end),
        (
            date(2026, 11, 1),
            date(2027, 1, 31),
            date(2027, 2, 1),
            date(2027, 5, 1)
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
    let days = PeriodDays::new(&calendar, PeriodKind::Month, calendar.bounds(january));
    assert_eq!(
        days.off_days(OffPeriod::Next),
        (date(2027, 2, 1), date(2027, 3, 1))
    );
    assert_eq!(days.dated(date(2027, 2, 28)), Some(Some(OffPeriod::Next)));
    assert_eq!(days.dated(date(2027, 3, 1)), None);
    assert_eq!(
        days.off_days(OffPeriod::Overdue),
        (date(2026, 1, 1), date(2027, 1, 1))
    );
}

proptest! {
    /// Every day falls in at most one of the period and its terms' ranges, and `dated` names
    /// the one it falls in.
    #[test]
    fn dated_names_the_one_range_a_day_falls_in(offset in -800i64..400) {
        let q4 = fiscal_q4();
        let close = q4.first + Duration::days(offset);
        let ranges: Vec<Option<OffPeriod>> = std::iter::once((None, (q4.first, q4.end)))
            .chain(OffPeriod::ALL.map(|off| (Some(off), q4.off_days(off))))
            .filter(|(_, (from, until))| *from <= close && close < *until)
            .map(|(which, _)| which)
            .collect();
        prop_assert!(ranges.len() <= 1);
        prop_assert_eq!(q4.dated(close), ranges.first().copied());
    }
}
