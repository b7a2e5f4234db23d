//! Forecast periods: calendar months (`2026-11`) and fiscal quarters (`2026-Q4`), with the fiscal
//! year's first month configurable.
//!
//! A fiscal year is named for the calendar year in which it ends: with the year starting in
//! February, FY2027 runs from 2026-02-01 to 2027-01-31 and `2027-Q1` is February to April 2026.
//! With the default (January) fiscal and calendar years coincide.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::wording::echoed;
use super::{Problem, Violations};

/// A month or a fiscal quarter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// A calendar month.
    Month {
        year: i32,
        /// Month, 1 to 12.
        month: u32,
    },
    /// A quarter of a fiscal year.
    Quarter {
        /// Fiscal year (named for the calendar year it ends in).
        fiscal_year: i32,
        /// Quarter, 1 to 4.
        quarter: u32,
    },
}

/// The first month of the fiscal year, 1 (January) to 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiscalCalendar {
    start_month: u32,
}

impl Default for FiscalCalendar {
    fn default() -> Self {
        FiscalCalendar { start_month: 1 }
    }
}

impl FiscalCalendar {
    /// A calendar whose fiscal year starts in `start_month` (1 to 12).
    pub fn starting_in(start_month: u32) -> Option<Self> {
        (1..=12)
            .contains(&start_month)
            .then_some(FiscalCalendar { start_month })
    }

    /// The first month of the fiscal year.
    pub fn start_month(&self) -> u32 {
        self.start_month
    }

    /// The first day of a fiscal quarter.
    fn quarter_start(&self, fiscal_year: i32, quarter: u32) -> Option<NaiveDate> {
        // Months since the start of the calendar year in which the fiscal year starts.
        let year_of_start = if self.start_month == 1 {
            fiscal_year
        } else {
            fiscal_year - 1
        };
        let offset = (self.start_month - 1) + 3 * (quarter - 1);
        NaiveDate::from_ymd_opt(year_of_start + (offset / 12) as i32, offset % 12 + 1, 1)
    }

    /// The fiscal quarter a day falls in.
    pub fn quarter_of(&self, day: NaiveDate) -> Period {
        let months_into_year = (day.month() + 12 - self.start_month) % 12;
        let year_of_start = if day.month() >= self.start_month {
            day.year()
        } else {
            day.year() - 1
        };
        let fiscal_year = if self.start_month == 1 {
            year_of_start
        } else {
            year_of_start + 1
        };
        Period::Quarter {
            fiscal_year,
            quarter: months_into_year / 3 + 1,
        }
    }
}

/// What a period must be, with the value that is not one: `"2026-Q5" is not a period: a
/// month like 2026-11 or a fiscal quarter like 2026-Q4`.
pub fn period_rule(text: &str) -> String {
    format!(
        "{} is not a period: a month like 2026-11 or a fiscal quarter like 2026-Q4",
        echoed(text)
    )
}

impl Period {
    /// Parses `YYYY-MM` or `YYYY-Qn` (years 1900 to 9998; the `Q` in either case, so
    /// `2026-q4` is `2026-Q4`).
    pub fn parse(text: &str) -> Result<Period, Violations> {
        let bad = || Violations::one_as(Problem::BadPeriod, "period", period_rule(text));
        let (year, rest) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        if !(1900..=9998).contains(&year) {
            return Err(bad());
        }
        if let Some(quarter) = rest.strip_prefix(['Q', 'q']) {
            match quarter {
                "1" | "2" | "3" | "4" => Ok(Period::Quarter {
                    fiscal_year: year,
                    quarter: quarter.parse().map_err(|_| bad())?,
                }),
                _ => Err(bad()),
            }
        } else if rest.len() == 2 && rest.bytes().all(|b| b.is_ascii_digit()) {
            let month: u32 = rest.parse().map_err(|_| bad())?;
            if (1..=12).contains(&month) {
                Ok(Period::Month { year, month })
            } else {
                Err(bad())
            }
        } else {
            Err(bad())
        }
    }

    /// The first day of the period and the first day after it.
    pub fn bounds(&self, calendar: FiscalCalendar) -> (NaiveDate, NaiveDate) {
        let month_start = |year: i32, month: u32| {
            NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
        };
        match *self {
            Period::Month { year, month } => {
                let next = if month == 12 {
                    month_start(year + 1, 1)
                } else {
                    month_start(year, month + 1)
                };
                (month_start(year, month), next)
            }
            Period::Quarter {
                fiscal_year,
                quarter,
            } => {
                let start = calendar
                    .quarter_start(fiscal_year, quarter)
                    .unwrap_or(NaiveDate::MIN);
                let end = start
                    .checked_add_months(chrono::Months::new(3))
                    .unwrap_or(NaiveDate::MAX);
                (start, end)
            }
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            Period::Quarter {
                fiscal_year,
                quarter,
            } => write!(f, "{fiscal_year:04}-Q{quarter}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn months_and_quarters_parse_and_print_back() {
        for text in ["2026-11", "2026-01", "2026-Q4", "1999-Q1"] {
            assert_eq!(Period::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn bad_periods_are_refused() {
        for text in [
            "",
            "2026",
            "2026-13",
            "2026-00",
            "2026-Q5",
            "2026-Q0",
            "26-11",
            "2026-1",
            "2026-11-01",
            "１２３４-11",
            "2026-Q4 ",
            "9999-Q1",
        ] {
            let err = Period::parse(text).unwrap_err();
            assert_eq!(err.0[0].field, "period", "{text:?}");
            assert_eq!(err.0[0].problem, Problem::BadPeriod, "{text:?}");
            assert_eq!(err.0[0].description, period_rule(text), "{text:?}");
        }
    }

    #[test]
    fn a_quarter_is_read_in_either_case() {
        assert_eq!(
            Period::parse("2026-q4").unwrap(),
            Period::parse("2026-Q4").unwrap()
        );
        assert_eq!(Period::parse("2026-q4").unwrap().to_string(), "2026-Q4");
    }

    #[test]
    fn a_bad_period_is_echoed_in_the_refusal() {
        let err = Period::parse("2026-Q5").unwrap_err();
        assert_eq!(
            err.0[0].description,
            "\"2026-Q5\" is not a period: a month like 2026-11 or a fiscal quarter like 2026-Q4"
        );
        let hostile = "9".repeat(1_000_000);
        let err = Period::parse(&hostile).unwrap_err();
        assert!(err.0[0].description.len() < 200);
    }

    #[test]
    fn a_month_runs_to_the_first_of_the_next() {
        let cal = FiscalCalendar::default();
        assert_eq!(
            Period::parse("2026-12").unwrap().bounds(cal),
            (d(2026, 12, 1), d(2027, 1, 1))
        );
        assert_eq!(
            Period::parse("2024-02").unwrap().bounds(cal),
            (d(2024, 2, 1), d(2024, 3, 1))
        );
    }

    #[test]
    fn calendar_quarters_by_default() {
        let cal = FiscalCalendar::default();
        assert_eq!(
            Period::parse("2026-Q4").unwrap().bounds(cal),
            (d(2026, 10, 1), d(2027, 1, 1))
        );
        assert_eq!(
            cal.quarter_of(d(2026, 11, 22)),
            Period::parse("2026-Q4").unwrap()
        );
    }

    #[test]
    fn a_fiscal_year_starting_in_february_is_named_for_the_year_it_ends_in() {
        let cal = FiscalCalendar::starting_in(2).unwrap();
        assert_eq!(
            Period::parse("2027-Q1").unwrap().bounds(cal),
            (d(2026, 2, 1), d(2026, 5, 1))
        );
        assert_eq!(
            Period::parse("2027-Q4").unwrap().bounds(cal),
            (d(2026, 11, 1), d(2027, 2, 1))
        );
        assert_eq!(
            cal.quarter_of(d(2026, 11, 22)),
            Period::parse("2027-Q4").unwrap()
        );
        assert_eq!(
            cal.quarter_of(d(2027, 1, 31)),
            Period::parse("2027-Q4").unwrap()
        );
        assert_eq!(
            cal.quarter_of(d(2027, 2, 1)),
            Period::parse("2028-Q1").unwrap()
        );
    }

    #[test]
    fn the_start_month_must_be_a_month() {
        assert!(FiscalCalendar::starting_in(0).is_none());
        assert!(FiscalCalendar::starting_in(13).is_none());
    }

    proptest! {
        /// For any fiscal start, the four quarters of a fiscal year tile twelve months without
        /// gaps, and every day falls in the quarter whose bounds contain it.
        #[test]
        fn quarters_tile_the_fiscal_year(start in 1u32..=12, year in 1950i32..2100, day in 0i64..366) {
            let cal = FiscalCalendar::starting_in(start).unwrap();
            let quarters: Vec<(NaiveDate, NaiveDate)> = (1..=4)
                .map(|q| Period::Quarter { fiscal_year: year, quarter: q }.bounds(cal))
                .collect();
            for pair in quarters.windows(2) {
                prop_assert_eq!(pair[0].1, pair[1].0);
            }
            prop_assert_eq!(quarters[0].0.checked_add_months(chrono::Months::new(12)).unwrap(), quarters[3].1);
            let some_day = quarters[0].0 + chrono::Duration::days(day);
            let period = cal.quarter_of(some_day);
            let (from, to) = period.bounds(cal);
            prop_assert!(from <= some_day && some_day < to, "{} not in {}", some_day, period);
        }
    }
}
