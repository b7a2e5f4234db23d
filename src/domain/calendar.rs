//! The org's calendar: its time zone and the month its fiscal year starts. Every date the
//! service derives from an instant (today, a period's bounds as instants, days in stage, as-of
//! days) is a date in the org's zone, so a deal closed at 19:00 on 31 March in California books
//! in March, as the CRM it came from says.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::period::{FiscalCalendar, Period};

/// The org's time zone and fiscal year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgCalendar {
    /// When fiscal years and quarters start.
    pub fiscal: FiscalCalendar,
    /// The zone every date is read in.
    pub zone: Tz,
}

impl Default for OrgCalendar {
    fn default() -> Self {
        OrgCalendar {
            fiscal: FiscalCalendar::default(),
            zone: Tz::UTC,
        }
    }
}

impl OrgCalendar {
    /// The calendar of `zone` with fiscal years per `fiscal`.
    pub fn new(fiscal: FiscalCalendar, zone: Tz) -> Self {
        OrgCalendar { fiscal, zone }
    }

    /// Parses an IANA zone name (`America/Mexico_City`, `UTC`).
    pub fn parse_zone(name: &str) -> Option<Tz> {
        name.parse().ok()
    }

    /// The org's date at `instant`.
    pub fn day_of(&self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.zone).date_naive()
    }

    /// The first instant of `day` in the org's zone. Where a zone skips midnight (a daylight
    /// saving change at 00:00), the day starts at its first instant that exists.
    pub fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        let mut time = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        // No zone skips more than a few hours; step a quarter hour at a time until one exists.
        for _ in 0..(24 * 4) {
            if let Some(at) = self.zone.from_local_datetime(&time).earliest() {
                return at.with_timezone(&Utc);
            }
            time += chrono::Duration::minutes(15);
        }
        day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
    }

    /// The fiscal quarter `day` falls in.
    pub fn quarter_of(&self, day: NaiveDate) -> Period {
        self.fiscal.quarter_of(day)
    }

    /// The period's first day and the first day after it.
    pub fn bounds(&self, period: Period) -> (NaiveDate, NaiveDate) {
        period.bounds(self.fiscal)
    }

    /// The period's first instant and the first instant after it, in the org's zone.
    pub fn instants(&self, period: Period) -> (DateTime<Utc>, DateTime<Utc>) {
        let (start, end) = self.bounds(period);
        (self.start_of(start), self.start_of(end))
    }
}

/// The kind of a forecast period: what rates, the not-yet-created term and baselines learn
/// from past periods of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodKind {
    /// Calendar months.
    Month,
    /// Fiscal quarters.
    Quarter,
}

impl PeriodKind {
    /// The kind of `period`.
    pub fn of(period: Period) -> PeriodKind {
        match period {
            Period::Month { .. } => PeriodKind::Month,
            Period::Quarter { .. } => PeriodKind::Quarter,
        }
    }

    /// The period of this kind that `day` (a date in the org's zone) falls in.
    pub fn period_of(self, calendar: &OrgCalendar, day: NaiveDate) -> Period {
        match self {
            PeriodKind::Month => Period::Month {
                year: day.year(),
                month: day.month(),
            },
            PeriodKind::Quarter => calendar.quarter_of(day),
        }
    }

    /// The last day of the period of this kind that `day` falls in.
    pub fn last_day(self, calendar: &OrgCalendar, day: NaiveDate) -> NaiveDate {
        let (_, next) = calendar.bounds(self.period_of(calendar, day));
        next.pred_opt().unwrap_or(day)
    }

    /// How many past periods are learned from unless told otherwise: a year of either kind
    /// (4 quarters, 12 months), so every season is seen once.
    pub fn default_lookback(self) -> usize {
        match self {
            PeriodKind::Month => 12,
            PeriodKind::Quarter => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar(zone: &str) -> OrgCalendar {
        OrgCalendar::new(
            FiscalCalendar::default(),
            OrgCalendar::parse_zone(zone).unwrap(),
        )
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn an_evening_in_california_is_still_that_day() {
        let la = calendar("America/Los_Angeles");
        assert_eq!(la.day_of(at("2026-04-01T02:00:00Z")), d(2026, 3, 31));
        assert_eq!(
            calendar("UTC").day_of(at("2026-04-01T02:00:00Z")),
            d(2026, 4, 1)
        );
    }

    #[test]
    fn a_quarter_starts_at_local_midnight() {
        let mexico = calendar("America/Mexico_City");
        let q2 = Period::parse("2026-Q2").unwrap();
        assert_eq!(
            mexico.instants(q2),
            (at("2026-04-01T06:00:00Z"), at("2026-07-01T06:00:00Z"))
        );
    }

    #[test]
    fn a_day_that_skips_midnight_starts_at_its_first_instant() {
        // Chile moved its clocks from 00:00 to 01:00 on 2022-09-11.
        let santiago = calendar("America/Santiago");
        assert_eq!(
            santiago.start_of(d(2022, 9, 11)),
            at("2022-09-11T04:00:00Z")
        );
    }

    #[test]
    fn unknown_zone_names_are_refused() {
        assert!(OrgCalendar::parse_zone("Mars/Olympus_Mons").is_none());
        assert!(OrgCalendar::parse_zone("").is_none());
    }
}
