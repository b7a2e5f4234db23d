//! Dates and times as an import reads them: the mapping's `date_format` (strftime, chrono's
//! syntax) for every date and date-time column (a format with a time of day also reads its
//! date part alone), or the shapes exports write by default; a value
//! without an offset is a wall-clock time of the org's time zone (DESIGN.md, "The org's
//! calendar"), so `2023-02-07 20:47:49` from a Chicago org is 02:47:49 UTC the next day.
//!
//! Values with an explicit offset (`2025-01-15T10:00:00Z`, Salesforce's `...+0000`) and epoch
//! milliseconds (HubSpot's API exports) are instants whatever the format says: they cannot be
//! misread.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::calendar::OrgCalendar;

/// Reads the date and time columns of one import.
#[derive(Debug, Clone, PartialEq)]
pub struct DateReader {
    /// The mapping's `date_format`, if any.
    format: Option<String>,
    /// The org's zone, for values without an offset.
    zone: Tz,
}

impl Default for DateReader {
    fn default() -> Self {
        DateReader::new(None, Tz::UTC)
    }
}

/// Checks a `date_format`: a strftime pattern chrono understands.
pub fn check_format(format: &str) -> Result<(), String> {
    if format.trim().is_empty() || StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(format!(
            "{format:?} is not a strftime date format (chrono syntax, like \"%m/%d/%Y\" or \
             \"%Y-%m-%d %H:%M:%S\")"
        ));
    }
    Ok(())
}

impl DateReader {
    /// Dates in `format` (default: the usual shapes), wall-clock times in `zone`.
    pub fn new(format: Option<String>, zone: Tz) -> Self {
        DateReader { format, zone }
    }

    /// A point in time (see the module doc).
    pub fn time(&self, text: &str) -> Result<DateTime<Utc>, String> {
        let parsed = match instant(text) {
            Some(at) => Ok(at),
            None => match &self.format {
                Some(format) => self.formatted(text, format),
                None => self.usual(text),
            },
        }?;
        if !(1900..=9999).contains(&parsed.year()) {
            return Err(format!(
                "{text:?} is not a time between the years 1900 and 9999"
            ));
        }
        Ok(parsed.trunc_subsecs(6))
    }

    /// A calendar date: the date as written, or the org's date at an instant.
    pub fn date(&self, text: &str) -> Result<NaiveDate, String> {
        let parsed = match (instant(text), &self.format) {
            (Some(at), _) => Some(at.with_timezone(&self.zone).date_naive()),
            (None, Some(format)) => parse_day(text, format),
            (None, None) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .or_else(|| naive_time(text).map(|t| t.date())),
        };
        match (parsed, &self.format) {
            (Some(day), _) if (1900..=9999).contains(&day.year()) => Ok(day),
            (_, Some(format)) => Err(mismatch(text, format)),
            (_, None) => Err(format!(
                "{text:?} is not a date (expected YYYY-MM-DD, or name the shape in the \
                 mapping's \"date_format\", like \"%m/%d/%Y\")"
            )),
        }
    }

    fn formatted(&self, text: &str, format: &str) -> Result<DateTime<Utc>, String> {
        if let Ok(at) = DateTime::parse_from_str(text, format) {
            return Ok(at.to_utc());
        }
        if let Ok(wall) = NaiveDateTime::parse_from_str(text, format) {
            return self.local(text, wall);
        }
        match parse_day(text, format) {
            Some(day) => Ok(self.start_of(day)),
            None => Err(mismatch(text, format)),
        }
    }

    fn usual(&self, text: &str) -> Result<DateTime<Utc>, String> {
        if let Some(wall) = naive_time(text) {
            return self.local(text, wall);
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|day| self.start_of(day))
            .map_err(|_| {
                format!(
                    "{text:?} is not a time (expected RFC 3339 like 2025-01-15T10:00:00Z, \
                     YYYY-MM-DD HH:MM:SS or YYYY-MM-DD, or name the shape in the mapping's \
                     \"date_format\")"
                )
            })
    }

    /// A wall-clock time of the org's zone; of a time the clocks pass twice, the first.
    fn local(&self, text: &str, wall: NaiveDateTime) -> Result<DateTime<Utc>, String> {
        self.zone
            .from_local_datetime(&wall)
            .earliest()
            .map(|at| at.to_utc())
            .ok_or_else(|| {
                format!(
                    "{text:?} does not exist in {} (the clocks skip it when daylight saving \
                     time starts)",
                    self.zone
                )
            })
    }

    fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        OrgCalendar::new(Default::default(), self.zone).start_of(day)
    }
}

/// A date in `format`, or in its date part alone: reports write `20/10/2016` in a date column
/// beside `20/10/2016 14:30` in a time column, and one `date_format` serves both. (chrono's
/// date parser reads a full date-time and ignores its time fields.)
fn parse_day(text: &str, format: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, format).ok().or_else(|| {
        let cut = ["%H", "%I", "%k", "%l", "%T", "%R", "%X", "%r"]
            .iter()
            .filter_map(|time| format.find(time))
            .min()?;
        let date_part = format[..cut].trim_end_matches([' ', 'T', ',', '-', '@']);
        NaiveDate::parse_from_str(text, date_part).ok()
    })
}

fn mismatch(text: &str, format: &str) -> String {
    format!("{text:?} does not match the date format {format:?} (the mapping's \"date_format\")")
}

/// A value that names its instant: RFC 3339, Salesforce's `+0000` offsets, epoch milliseconds.
fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.to_utc())
        .ok()
        .or_else(|| {
            (text.len() >= 12 && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse::<i64>().ok())
                .flatten()
                .and_then(DateTime::from_timestamp_millis)
        })
}

/// The zone-less date-times exports write.
fn naive_time(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(format: Option<&str>, zone: &str) -> DateReader {
        DateReader::new(format.map(str::to_string), zone.parse().unwrap())
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_date_format_reads_month_first_and_day_first_dates() {
        let us = reader(Some("%m/%d/%Y"), "UTC");
        assert_eq!(us.date("10/20/2016"), Ok(day("2016-10-20")));
        assert_eq!(
            us.date("3/7/2017"),
            Ok(day("2017-03-07")),
            "one-digit months and days"
        );
        let eu = reader(Some("%d/%m/%Y"), "UTC");
        assert_eq!(eu.date("20/10/2016"), Ok(day("2016-10-20")));
        assert_eq!(eu.time("20/10/2016"), Ok(utc("2016-10-20T00:00:00Z")));
    }

    #[test]
    fn a_value_that_does_not_match_the_format_names_it_and_the_format() {
        let us = reader(Some("%m/%d/%Y"), "UTC");
        assert_eq!(
            us.date("20/10/2016").unwrap_err(),
            "\"20/10/2016\" does not match the date format \"%m/%d/%Y\" (the mapping's \
             \"date_format\")"
        );
        assert_eq!(
            us.time("2016-10-20").unwrap_err(),
            "\"2016-10-20\" does not match the date format \"%m/%d/%Y\" (the mapping's \
             \"date_format\")"
        );
    }

    #[test]
    fn a_date_time_format_serves_date_columns_and_time_columns() {
        let r = reader(Some("%Y-%m-%d %H:%M:%S"), "UTC");
        assert_eq!(
            r.time("2023-02-07 20:47:49"),
            Ok(utc("2023-02-07T20:47:49Z"))
        );
        assert_eq!(r.date("2023-02-07 20:47:49"), Ok(day("2023-02-07")));
    }

    #[test]
    fn a_date_time_format_also_reads_its_date_part_alone() {
        let r = reader(Some("%d/%m/%Y %H:%M"), "UTC");
        assert_eq!(r.date("20/10/2016"), Ok(day("2016-10-20")));
        assert_eq!(r.time("20/10/2016"), Ok(utc("2016-10-20T00:00:00Z")));
        assert_eq!(r.time("20/10/2016 14:30"), Ok(utc("2016-10-20T14:30:00Z")));
        let iso = reader(Some("%Y-%m-%dT%H:%M:%S"), "UTC");
        assert_eq!(iso.date("2016-10-20"), Ok(day("2016-10-20")));
    }

    #[test]
    fn a_naive_date_time_is_read_in_the_orgs_zone() {
        // Chicago is UTC-6 in February (CST) and UTC-5 in July (CDT).
        let chicago = reader(Some("%Y-%m-%d %H:%M:%S"), "America/Chicago");
        assert_eq!(
            chicago.time("2023-02-07 20:47:49"),
            Ok(utc("2023-02-08T02:47:49Z"))
        );
        assert_eq!(
            chicago.time("2023-07-07 20:47:49"),
            Ok(utc("2023-07-08T01:47:49Z"))
        );
        let by_default = reader(None, "America/Chicago");
        assert_eq!(
            by_default.time("2023-02-07 20:47:49"),
            Ok(utc("2023-02-08T02:47:49Z"))
        );
        assert_eq!(
            by_default.time("2023-02-07"),
            Ok(utc("2023-02-07T06:00:00Z"))
        );
        let dates = reader(Some("%m/%d/%Y"), "America/Chicago");
        assert_eq!(dates.time("2/7/2023"), Ok(utc("2023-02-07T06:00:00Z")));
    }

    #[test]
    fn a_value_with_an_offset_is_its_instant_whatever_the_format() {
        let chicago = reader(Some("%m/%d/%Y"), "America/Chicago");
        assert_eq!(
            chicago.time("2023-02-07T20:47:49.000+0000"),
            Ok(utc("2023-02-07T20:47:49Z"))
        );
        assert_eq!(
            chicago.time("1736935200000"),
            Ok(utc("2025-01-15T10:00:00Z"))
        );
        // Its date is the org's date then.
        assert_eq!(chicago.date("2023-02-08T03:00:00Z"), Ok(day("2023-02-07")));
    }

    #[test]
    fn a_wall_clock_time_the_clocks_skip_is_refused_and_one_they_repeat_is_the_first() {
        let chicago = reader(None, "America/Chicago");
        assert_eq!(
            chicago.time("2026-03-08 02:30:00").unwrap_err(),
            "\"2026-03-08 02:30:00\" does not exist in America/Chicago (the clocks skip it when \
             daylight saving time starts)"
        );
        assert_eq!(
            chicago.time("2026-11-01 01:30:00"),
            Ok(utc("2026-11-01T06:30:00Z"))
        );
    }

    #[test]
    fn formats_are_checked() {
        assert!(check_format("%m/%d/%Y").is_ok());
        assert!(check_format("%Y-%m-%d %H:%M:%S").is_ok());
        assert!(
            check_format("%Q/%d")
                .unwrap_err()
                .contains("is not a strftime date format")
        );
        assert!(check_format("").is_err());
    }

    #[test]
    fn without_a_format_the_usual_shapes_are_read() {
        let r = DateReader::default();
        assert_eq!(r.time("2025-01-15 10:00"), Ok(utc("2025-01-15T10:00:00Z")));
        assert_eq!(r.date("2025-06-30"), Ok(day("2025-06-30")));
        assert_eq!(
            r.date("06/30/2025").unwrap_err(),
            "\"06/30/2025\" is not a date (expected YYYY-MM-DD, or name the shape in the \
             mapping's \"date_format\", like \"%m/%d/%Y\")"
        );
        assert!(r.time("0001-01-01").is_err());
    }
}
