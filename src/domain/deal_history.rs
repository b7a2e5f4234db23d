//! Field history: every change of a deal's tracked fields (amount, currency, close date,
//! forecast category, owner, stage, status) is an append-only row with its time, actor, old and
//! new value; the deal as of any past instant is rebuilt from it.
//!
//! A deal's creation writes no rows: its first values are what undoing every later change from
//! today's deal leaves. So the rebuild walks back from the deal as it is now, undoing each change
//! made after the instant asked for, newest first; replaying the same rows forward from that
//! state gives today's deal again (a property test below).

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use super::deal::{Deal, DealStatus, ForecastCategory, HistoryDirection, StageHistoryEntry};
use super::directory::UserId;
use super::ids::DealId;
use super::money::{Currency, Money};

/// A field whose every change is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrackedField {
    /// The amount, in minor units of the deal's currency.
    Amount,
    /// The deal's currency.
    Currency,
    /// The close date (the booking date once won).
    CloseDate,
    ForecastCategory,
    /// The owning rep.
    Owner,
    Stage,
    /// Open, won or lost.
    Status,
}

impl TrackedField {
    /// Every tracked field, in the order a change's rows are written.
    pub const ALL: [TrackedField; 7] = [
        TrackedField::Amount,
        TrackedField::Currency,
        TrackedField::CloseDate,
        TrackedField::ForecastCategory,
        TrackedField::Owner,
        TrackedField::Stage,
        TrackedField::Status,
    ];

    /// The field's name on the wire and in storage (`close_date`).
    pub fn name(self) -> &'static str {
        match self {
            TrackedField::Amount => "amount",
            TrackedField::Currency => "currency",
            TrackedField::CloseDate => "close_date",
            TrackedField::ForecastCategory => "forecast_category",
            TrackedField::Owner => "owner",
            TrackedField::Stage => "stage",
            TrackedField::Status => "status",
        }
    }

    /// The field named `name` (see [`TrackedField::name`]).
    pub fn parse(name: &str) -> Option<TrackedField> {
        TrackedField::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for TrackedField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value of a tracked field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// An amount in minor units.
    Amount(i64),
    Currency(Currency),
    /// A date.
    CloseDate(NaiveDate),
    ForecastCategory(ForecastCategory),
    /// A user.
    Owner(UserId),
    /// A stage id.
    Stage(String),
    Status(DealStatus),
}

impl FieldValue {
    /// The field this value belongs to.
    pub fn field(&self) -> TrackedField {
        match self {
            FieldValue::Amount(_) => TrackedField::Amount,
            FieldValue::Currency(_) => TrackedField::Currency,
            FieldValue::CloseDate(_) => TrackedField::CloseDate,
            FieldValue::ForecastCategory(_) => TrackedField::ForecastCategory,
            FieldValue::Owner(_) => TrackedField::Owner,
            FieldValue::Stage(_) => TrackedField::Stage,
            FieldValue::Status(_) => TrackedField::Status,
        }
    }
}

/// One append-only row of a deal's field history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldHistoryEntry {
    /// Increasing over the whole service, in write order (0 until stored); orders the rows of
    /// one instant.
    pub sequence: i64,
    /// The deal.
    pub deal_id: DealId,
    /// When the change took effect.
    pub at: DateTime<Utc>,
    /// Who made it (`None` for imports and generators).
    pub actor: Option<UserId>,
    pub field: TrackedField,
    /// Its value before (`None`: unset).
    pub old: Option<FieldValue>,
    /// Its value after (`None`: unset).
    pub new: Option<FieldValue>,
}

/// The tracked part of a deal: what "the deal as of an instant" means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealState {
    /// The owning rep.
    pub owner_id: UserId,
    /// The stage.
    pub stage_id: String,
    /// Open, won or lost.
    pub status: DealStatus,
    /// The amount in minor units of `currency`.
    pub amount: Option<i64>,
    /// The deal's currency.
    pub currency: Option<Currency>,
    /// The close date (the booking date once won).
    pub close_date: Option<NaiveDate>,
    /// The forecast category.
    pub category: ForecastCategory,
}

impl DealState {
    /// The tracked part of `deal` as it is.
    pub fn of(deal: &Deal) -> DealState {
        DealState {
            owner_id: deal.fields.owner_id,
            stage_id: deal.stage_id.clone(),
            status: deal.status,
            amount: deal.fields.amount.map(|m| m.minor),
            currency: deal.fields.amount.map(|m| m.currency),
            close_date: deal.fields.close_date,
            category: deal.fields.forecast_category,
        }
    }

    /// The amount with its currency, when both are known.
    pub fn money(&self) -> Option<Money> {
        Some(Money {
            minor: self.amount?,
            currency: self.currency?,
        })
    }

    /// The value of `field`.
    pub fn value(&self, field: TrackedField) -> Option<FieldValue> {
        match field {
            TrackedField::Amount => self.amount.map(FieldValue::Amount),
            TrackedField::Currency => self.currency.map(FieldValue::Currency),
            TrackedField::CloseDate => self.close_date.map(FieldValue::CloseDate),
            TrackedField::ForecastCategory => Some(FieldValue::ForecastCategory(self.category)),
            TrackedField::Owner => Some(FieldValue::Owner(self.owner_id)),
            TrackedField::Stage => Some(FieldValue::Stage(self.stage_id.clone())),
            TrackedField::Status => Some(FieldValue::Status(self.status)),
        }
    }

    /// Sets `field` to `value`. A value of another field, or no value for a field that is
    /// always set, changes nothing (a corrupt row cannot unset an owner).
    pub fn set(&mut self, field: TrackedField, value: Option<&FieldValue>) {
        match (field, value) {
            (TrackedField::Amount, None) => self.amount = None,
            (TrackedField::Amount, Some(FieldValue::Amount(v))) => self.amount = Some(*v),
            (TrackedField::Currency, None) => self.currency = None,
            (TrackedField::Currency, Some(FieldValue::Currency(v))) => self.currency = Some(*v),
            (TrackedField::CloseDate, None) => self.close_date = None,
            (TrackedField::CloseDate, Some(FieldValue::CloseDate(v))) => self.close_date = Some(*v),
            (TrackedField::ForecastCategory, Some(FieldValue::ForecastCategory(v))) => {
                self.category = *v
            }
            (TrackedField::Owner, Some(FieldValue::Owner(v))) => self.owner_id = *v,
            (TrackedField::Stage, Some(FieldValue::Stage(v))) => self.stage_id = v.clone(),
            (TrackedField::Status, Some(FieldValue::Status(v))) => self.status = *v,
            _ => {}
        }
    }
}

/// The rows recording every tracked field that differs between `before` and `after`, in
/// [`TrackedField::ALL`] order, at `at` by `actor`.
pub fn changes(
    deal_id: DealId,
    before: &DealState,
    after: &DealState,
    at: DateTime<Utc>,
    actor: Option<UserId>,
) -> Vec<FieldHistoryEntry> {
    TrackedField::ALL
        .into_iter()
        .filter_map(|field| {
            let (old, new) = (before.value(field), after.value(field));
            (old != new).then_some(FieldHistoryEntry {
                sequence: 0,
                deal_id,
                at,
                actor,
                field,
                old,
                new,
            })
        })
        .collect()
}

/// The rows of a write that turned `before` into `after`, stamped with `after`'s update time.
pub fn changes_between(
    before: &Deal,
    after: &Deal,
    actor: Option<UserId>,
) -> Vec<FieldHistoryEntry> {
    changes(
        after.id,
        &DealState::of(before),
        &DealState::of(after),
        after.updated_at,
        actor,
    )
}

/// The deal as of `instant`: `current` (the deal now, created at `created_at`) with every row
/// after `instant` undone, newest first. `rows` are the deal's rows in history order (time, then
/// sequence). `None` when the deal did not exist yet.
pub fn as_of(
    current: &DealState,
    created_at: DateTime<Utc>,
    rows: &[FieldHistoryEntry],
    instant: DateTime<Utc>,
) -> Option<DealState> {
    if created_at > instant {
        return None;
    }
    let mut state = current.clone();
    for row in rows.iter().rev().take_while(|r| r.at > instant) {
        state.set(row.field, row.old.as_ref());
    }
    Some(state)
}

/// `initial` with `rows` applied in order: the forward replay of a history.
pub fn replay(initial: &DealState, rows: &[FieldHistoryEntry]) -> DealState {
    let mut state = initial.clone();
    for row in rows {
        state.set(row.field, row.new.as_ref());
    }
    state
}

/// The deal as a source saw it at one instant: a stage-history row, a CRM's history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// When.
    pub at: DateTime<Utc>,
    /// In which stage.
    pub stage_id: String,
    /// Open, won or lost (from the stage's kind).
    pub status: DealStatus,
    /// Its amount then, when the source says.
    pub amount: Option<Money>,
    /// Its close date then, when the source says.
    pub close_date: Option<NaiveDate>,
}

/// The rows a history of sightings implies: from `start` through each sighting later than
/// `since` (in time order), every tracked field that differs from the sighting before is a
/// change at its time (so rows that change only the amount or close date count); entering a
/// closed stage sets the category CLOSED, leaving one restores `last`'s. Where `last` (the deal
/// as the writer leaves it) still differs, the change is dated `settled` (default: the last
/// sighting's time).
pub fn rows_from_sightings(
    deal_id: DealId,
    start: DealState,
    sightings: &[Sighting],
    (last, settled): (&DealState, Option<DateTime<Utc>>),
    since: DateTime<Utc>,
) -> Vec<FieldHistoryEntry> {
    let mut out = Vec::new();
    let (mut state, mut at) = (start, since);
    for sighting in sightings.iter().filter(|s| s.at > since) {
        let mut next = state.clone();
        next.stage_id = sighting.stage_id.clone();
        next.status = sighting.status;
        if sighting.status != DealStatus::Open {
            next.category = ForecastCategory::Closed;
        } else if state.status != DealStatus::Open {
            next.category = last.category;
        }
        if let Some(amount) = sighting.amount {
            next.amount = Some(amount.minor);
            next.currency = Some(amount.currency);
        }
        if let Some(date) = sighting.close_date {
            next.close_date = Some(date);
        }
        out.extend(changes(deal_id, &state, &next, sighting.at, None));
        (state, at) = (next, sighting.at);
    }
    out.extend(changes(
        deal_id,
        &state,
        last,
        settled.unwrap_or(at).max(at),
        None,
    ));
    out
}

/// The state a deal starts in, seen first in `first`: today's owner, and today's category
/// (PIPELINE for a closed deal: sources do not keep the category before the close).
pub fn first_state(last: &DealState, first: &Sighting) -> DealState {
    DealState {
        owner_id: last.owner_id,
        stage_id: first.stage_id.clone(),
        status: first.status,
        amount: first.amount.map(|m| m.minor),
        currency: first.amount.map(|m| m.currency),
        close_date: first.close_date,
        category: match last.category {
            ForecastCategory::Closed => ForecastCategory::Pipeline,
            open => open,
        },
    }
}

/// The field history a deal's stage history implies (bulk writers whose source keeps only
/// stage moves): each row is a sighting with the amount and close date of its time; a close
/// row has the deal's final status. `history` is the deal's rows, oldest first.
pub fn rows_from_stage_history(
    deal: &Deal,
    history: &[StageHistoryEntry],
) -> Vec<FieldHistoryEntry> {
    let sightings: Vec<Sighting> = history
        .iter()
        .map(|h| Sighting {
            at: h.at,
            stage_id: h.to_stage.clone(),
            status: if h.direction == HistoryDirection::Close {
                deal.status
            } else {
                DealStatus::Open
            },
            amount: h.amount,
            close_date: h.close_date,
        })
        .collect();
    let last = DealState::of(deal);
    let Some(first) = sightings.first() else {
        return Vec::new();
    };
    rows_from_sightings(
        deal.id,
        first_state(&last, first),
        &sightings,
        (&last, None),
        first.at,
    )
}

/// How many times the close date moved later, out of its period, between `from` and `to`
/// (exclusive, inclusive): a push. `period_end` gives the last day of the period a date falls in.
pub fn pushes(
    rows: &[FieldHistoryEntry],
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
    period_end: impl Fn(NaiveDate) -> NaiveDate,
) -> u32 {
    rows.iter()
        .filter(|r| r.field == TrackedField::CloseDate && r.at <= to)
        .filter(|r| from.is_none_or(|from| r.at > from))
        .filter(|r| match (&r.old, &r.new) {
            (Some(FieldValue::CloseDate(old)), Some(FieldValue::CloseDate(new))) => {
                *new > period_end(*old)
            }
            _ => false,
        })
        .count() as u32
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Duration, TimeZone};
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    fn t(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap() + Duration::days(day)
    }

    fn state() -> DealState {
        DealState {
            owner_id: UserId(Uuid::from_u128(1)),
            stage_id: "qualify".into(),
            status: DealStatus::Open,
            amount: Some(10_000),
            currency: Some(Currency::USD),
            close_date: NaiveDate::from_ymd_opt(2026, 3, 31),
            category: ForecastCategory::Pipeline,
        }
    }

    #[test]
    fn a_write_records_each_tracked_field_that_changed_and_nothing_else() {
        let before = state();
        let mut after = before.clone();
        after.amount = Some(12_000);
        after.close_date = NaiveDate::from_ymd_opt(2026, 4, 15);
        let rows = changes(DealId(Uuid::nil()), &before, &after, t(3), None);
        assert_eq!(
            rows.iter().map(|r| r.field).collect::<Vec<_>>(),
            [TrackedField::Amount, TrackedField::CloseDate]
        );
        assert_eq!(rows[0].old, Some(FieldValue::Amount(10_000)));
        assert_eq!(rows[0].new, Some(FieldValue::Amount(12_000)));
        assert!(changes(DealId(Uuid::nil()), &before, &before, t(3), None).is_empty());
    }

    #[test]
    fn the_deal_as_of_an_instant_undoes_only_later_changes() {
        let first = state();
        let mut second = first.clone();
        second.amount = Some(15_000);
        let mut third = second.clone();
        third.stage_id = "propose".into();
        third.close_date = NaiveDate::from_ymd_opt(2026, 5, 1);
        let mut rows = changes(DealId(Uuid::nil()), &first, &second, t(10), None);
        rows.extend(changes(DealId(Uuid::nil()), &second, &third, t(20), None));
        assert_eq!(as_of(&third, t(0), &rows, t(-1)), None);
        assert_eq!(as_of(&third, t(0), &rows, t(5)), Some(first.clone()));
        assert_eq!(as_of(&third, t(0), &rows, t(10)), Some(second.clone()));
        assert_eq!(as_of(&third, t(0), &rows, t(25)), Some(third.clone()));
    }

    #[test]
    fn a_push_is_a_close_date_moved_past_the_end_of_its_period() {
        let month_end = |d: NaiveDate| {
            let next = if d.month0() == 11 {
                NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
            };
            next.unwrap().pred_opt().unwrap()
        };
        let date = |m, d| FieldValue::CloseDate(NaiveDate::from_ymd_opt(2026, m, d).unwrap());
        let row = |day, old, new| FieldHistoryEntry {
            sequence: 0,
            deal_id: DealId(Uuid::nil()),
            at: t(day),
            actor: None,
            field: TrackedField::CloseDate,
            old: Some(old),
            new: Some(new),
        };
        let rows = [
            row(1, date(3, 10), date(3, 28)), // later, same month: not a push
            row(2, date(3, 28), date(4, 2)),  // out of March: a push
            row(3, date(4, 2), date(3, 30)),  // pulled in: not a push
            row(4, date(3, 30), date(6, 1)),  // a push
        ];
        assert_eq!(pushes(&rows, None, t(10), month_end), 2);
        assert_eq!(pushes(&rows, None, t(3), month_end), 1);
        assert_eq!(pushes(&rows, Some(t(2)), t(10), month_end), 1);
    }

    fn arb_state() -> impl Strategy<Value = DealState> {
        (
            0u128..3,
            prop::sample::select(vec!["a", "b", "c"]),
            prop::sample::select(vec![DealStatus::Open, DealStatus::Won, DealStatus::Lost]),
            prop::option::of(1i64..1_000_000),
            prop::option::of(prop::sample::select(vec!["USD", "EUR"])),
            prop::option::of(0i64..400),
            prop::sample::select(vec![
                ForecastCategory::Pipeline,
                ForecastCategory::BestCase,
                ForecastCategory::Commit,
                ForecastCategory::Omitted,
                ForecastCategory::Closed,
            ]),
        )
            .prop_map(|(owner, stage, status, amount, currency, day, category)| {
                DealState {
                    owner_id: UserId(Uuid::from_u128(owner)),
                    stage_id: stage.into(),
                    status,
                    amount,
                    currency: currency.and_then(Currency::parse),
                    close_date: day
                        .map(|d| NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(d)),
                    category,
                }
            })
    }

    proptest! {
        /// Replaying a deal's rows from its first state gives the deal; rebuilding as of the
        /// instant of any write gives the state that write left.
        #[test]
        fn replaying_a_deals_rows_gives_the_deal(states in prop::collection::vec(arb_state(), 1..12)) {
            let mut rows = Vec::new();
            for (i, pair) in states.windows(2).enumerate() {
                rows.extend(changes(DealId(Uuid::nil()), &pair[0], &pair[1], t(i as i64 + 1), None));
            }
            let last = states.last().unwrap();
            prop_assert_eq!(&replay(&states[0], &rows), last);
            for (i, state) in states.iter().enumerate() {
                prop_assert_eq!(as_of(last, t(0), &rows, t(i as i64)), Some(state.clone()));
            }
        }
    }
}
