//! Where a past period's revenue came from, seen from a backtest point: each deal booked in the
//! period, by what it was on the point's day. The period forecast has a term for some sources
//! (deals dated in the period, deals not created yet) and none for the others (deals dated in
//! another period, deals closed then and closed_then since); their share says how much of a
//! period the model could not see.

use chrono::NaiveDate;

use crate::domain::deal::DealStatus;
use crate::domain::deal_history::DealState;

/// What a deal booked in the period was at the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Already won with a booking date in the period, before the day (in `closed_won`).
    AlreadyBooked,
    /// Open, with a close date in the period: what the period forecast weighs.
    DatedInPeriod,
    /// Open, dated after the period: pulled in.
    DatedLater,
    /// Open, dated before the period (overdue) or without a close date.
    DatedEarlier,
    /// Not created yet: what the not-yet-created term forecasts.
    NotYetCreated,
    /// Closed otherwise (lost, or won with another booking date) and booked in the period after
    /// a reopening or a correction.
    ClosedThen,
}

/// The source of a deal booked in the period `[start, end)`, from its state at the first instant
/// of `day` (`None`: it did not exist yet).
pub fn source_of(
    then: Option<&DealState>,
    (start, end): (NaiveDate, NaiveDate),
    day: NaiveDate,
) -> Source {
    let Some(then) = then else {
        return Source::NotYetCreated;
    };
    match (then.status, then.close_date) {
        (DealStatus::Won, Some(booked)) if booked >= start && booked < end && booked < day => {
            Source::AlreadyBooked
        }
        (DealStatus::Open, Some(close)) if close >= end => Source::DatedLater,
        (DealStatus::Open, Some(close)) if close >= start => Source::DatedInPeriod,
        (DealStatus::Open, _) => Source::DatedEarlier,
        _ => Source::ClosedThen,
    }
}

/// The revenue a period booked after a point's day, by source (each deal at its booked amount):
/// with what was already booked, they make the period's actual.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookedAfter {
    /// From deals open then and dated in the period.
    pub dated_in_period: i64,
    /// From deals open then and dated after the period.
    pub dated_later: i64,
    /// From deals open then and dated before it, or undated.
    pub dated_earlier: i64,
    /// From deals created after the day.
    pub not_yet_created: i64,
    /// From deals closed then.
    pub closed_then: i64,
}

impl BookedAfter {
    /// Counts `amount` under `source` (already booked revenue is not "after").
    pub fn add(&mut self, source: Source, amount: i64) {
        let slot = match source {
            Source::AlreadyBooked => return,
            Source::DatedInPeriod => &mut self.dated_in_period,
            Source::DatedLater => &mut self.dated_later,
            Source::DatedEarlier => &mut self.dated_earlier,
            Source::NotYetCreated => &mut self.not_yet_created,
            Source::ClosedThen => &mut self.closed_then,
        };
        *slot += amount;
    }

    /// Everything booked after the day.
    pub fn total(&self) -> i64 {
        self.dated_in_period
            + self.dated_later
            + self.dated_earlier
            + self.not_yet_created
            + self.closed_then
    }

    /// The sum of two.
    pub fn plus(self, other: BookedAfter) -> BookedAfter {
        BookedAfter {
            dated_in_period: self.dated_in_period + other.dated_in_period,
            dated_later: self.dated_later + other.dated_later,
            dated_earlier: self.dated_earlier + other.dated_earlier,
            not_yet_created: self.not_yet_created + other.not_yet_created,
            closed_then: self.closed_then + other.closed_then,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::deal::ForecastCategory;
    use crate::domain::ids::UserId;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn state(status: DealStatus, close: Option<&str>) -> DealState {
        DealState {
            owner_id: UserId(uuid::Uuid::nil()),
            stage_id: "s".into(),
            status,
            amount: Some(100),
            currency: None,
            close_date: close.map(d),
            category: ForecastCategory::Pipeline,
        }
    }

    const JUNE: (&str, &str) = ("2025-06-01", "2025-07-01");

    fn source(then: Option<DealState>, day: &str) -> Source {
        source_of(then.as_ref(), (d(JUNE.0), d(JUNE.1)), d(day))
    }

    #[test]
    fn each_deal_booked_in_june_has_the_source_its_state_on_the_day_gives() {
        use DealStatus::*;
        let on_15th = |status, close| source(Some(state(status, close)), "2025-06-15");
        assert_eq!(source(None, "2025-06-15"), Source::NotYetCreated);
        assert_eq!(on_15th(Won, Some("2025-06-14")), Source::AlreadyBooked);
        assert_eq!(on_15th(Won, Some("2025-06-01")), Source::AlreadyBooked);
        assert_eq!(on_15th(Open, Some("2025-06-15")), Source::DatedInPeriod);
        assert_eq!(on_15th(Open, Some("2025-06-30")), Source::DatedInPeriod);
        assert_eq!(
            on_15th(Open, Some("2025-06-02")),
            Source::DatedInPeriod,
            "overdue within the period"
        );
        assert_eq!(on_15th(Open, Some("2025-07-01")), Source::DatedLater);
        assert_eq!(on_15th(Open, Some("2025-05-31")), Source::DatedEarlier);
        assert_eq!(on_15th(Open, None), Source::DatedEarlier);
        assert_eq!(on_15th(Lost, Some("2025-06-10")), Source::ClosedThen);
        assert_eq!(
            on_15th(Won, Some("2025-05-20")),
            Source::ClosedThen,
            "booked in May then"
        );
        // A booking date on or after the day is not "already booked" (it was not, by then).
        assert_eq!(on_15th(Won, Some("2025-06-15")), Source::ClosedThen);
    }

    #[test]
    fn booked_after_sums_every_source_but_what_was_already_booked() {
        let mut after = BookedAfter::default();
        for (source, amount) in [
            (Source::AlreadyBooked, 1),
            (Source::DatedInPeriod, 10),
            (Source::DatedLater, 200),
            (Source::DatedEarlier, 3_000),
            (Source::NotYetCreated, 40_000),
            (Source::ClosedThen, 500_000),
            (Source::DatedLater, 600),
        ] {
            after.add(source, amount);
        }
        let expected = BookedAfter {
            dated_in_period: 10,
            dated_later: 800,
            dated_earlier: 3_000,
            not_yet_created: 40_000,
            closed_then: 500_000,
        };
        assert_eq!(after, expected);
        assert_eq!(after.total(), 543_810);
        assert_eq!(after.plus(after).total(), 2 * 543_810);
    }
}
