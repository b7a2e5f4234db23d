//! Delegation windows: a user's approvals handed to another for a date range, without cycles.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::Problem;
use crate::domain::Violations;
use crate::domain::directory::UserId;
use crate::domain::ids::DelegationId;

/// A user's approvals handed to another for a date range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    pub id: DelegationId,
    /// Who delegates.
    pub delegator: UserId,
    /// Who decides for them.
    pub delegate: UserId,
    /// First day, inclusive.
    pub start: NaiveDate,
    /// Last day, inclusive.
    pub end: NaiveDate,
    /// Who created it.
    pub creator: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl Delegation {
    /// Whether the delegation is in force on `day`.
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }
}

/// Longest delegation, in days.
pub const MAX_DELEGATION_DAYS: i64 = 366;

/// Checks a new delegation against those already stored: a range in order and at most
/// [`MAX_DELEGATION_DAYS`] long, not to oneself, and no day on which the delegations in force
/// would form a cycle (A to B, B to ... to A).
pub fn check_delegation(new: &Delegation, existing: &[Delegation]) -> Result<(), Violations> {
    let mut v = Violations::new();
    if new.delegate == new.delegator {
        v.add_as(
            Problem::ConflictingFields,
            "delegation.delegate",
            "must be someone other than the delegator",
        );
    }
    if new.end < new.start {
        v.add_as(
            Problem::BadDate,
            "delegation.end_date",
            "must be on or after the start date",
        );
    } else if (new.end - new.start).num_days() >= MAX_DELEGATION_DAYS {
        v.add_as(
            Problem::NumberOutOfRange,
            "delegation.end_date",
            format!("must be at most {MAX_DELEGATION_DAYS} days after the start date"),
        );
    }
    if !v.is_empty() {
        return Err(v);
    }
    // The set of delegations in force only changes on a start day or the day after an end:
    // checking each such day inside the new range checks every day.
    let mut days: Vec<NaiveDate> = vec![new.start];
    for d in existing {
        days.push(d.start);
        if let Some(after) = d.end.succ_opt() {
            days.push(after);
        }
    }
    days.retain(|d| new.covers(*d));
    days.sort();
    days.dedup();
    for day in days {
        let in_force: Vec<&Delegation> = existing.iter().filter(|d| d.covers(day)).collect();
        // Can the new delegate reach the delegator through delegations in force that day?
        let mut frontier = vec![new.delegate];
        let mut seen = vec![new.delegate];
        while let Some(user) = frontier.pop() {
            if user == new.delegator {
                v.add_as(
                    Problem::BadShape,
                    "delegation.delegate",
                    format!("would close a cycle of delegations on {day}"),
                );
                return Err(v);
            }
            for d in in_force.iter().filter(|d| d.delegator == user) {
                if !seen.contains(&d.delegate) {
                    seen.push(d.delegate);
                    frontier.push(d.delegate);
                }
            }
        }
    }
    Ok(())
}
