//! The rules of learning q, as tests. Amounts are minor units written as dollars_cents
//! (100_00 is 100.00).
#![allow(clippy::inconsistent_digit_grouping)]
use chrono::{Duration, TimeZone};
use proptest::prelude::*;
use uuid::Uuid;

use super::learn::{
    Converter, Learner, Observation, StageIndex, booking_at, observation_instants, observe,
};
use super::*;
use crate::domain::deal::{DealStatus, ForecastCategory};
use crate::domain::deal_history::{FieldValue, as_of, changes, pushes};
use crate::domain::directory::UserId;
use crate::domain::estimate::wilson;
use crate::domain::ids::DealId;
use crate::domain::money::Currency;
use crate::domain::period::FiscalCalendar;

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

/// A converter with no exchange rate: only an amount already in the currency converts.
fn no_rates(money: Money, into: Currency) -> Option<i64> {
    (money.currency == into).then_some(money.minor)
}

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).unwrap()
}

/// Noon UTC of a 2026 day.
fn at(m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, m, d, 12, 0, 0).unwrap()
}

fn open(stage: &str, amount: i64, close: NaiveDate) -> DealState {
    DealState {
        owner_id: UserId(Uuid::nil()),
        stage_id: stage.into(),
        status: DealStatus::Open,
        amount: Some(amount),
        currency: Some(usd()),
        close_date: Some(close),
        category: ForecastCategory::Pipeline,
    }
}

fn won(before: &DealState, amount: i64, booked: NaiveDate) -> DealState {
    DealState {
        stage_id: "closed_won".into(),
        status: DealStatus::Won,
        amount: Some(amount),
        close_date: Some(booked),
        ..before.clone()
    }
}

fn lost(before: &DealState, on: NaiveDate) -> DealState {
    DealState {
        stage_id: "closed_lost".into(),
        status: DealStatus::Lost,
        close_date: Some(on),
        ..before.clone()
    }
}

fn moved(before: &DealState, close: NaiveDate) -> DealState {
    DealState {
        close_date: Some(close),
        ..before.clone()
    }
}

/// A deal created at `created` as `first`, then becoming each later state at its instant.
fn timeline(
    id: u128,
    created: DateTime<Utc>,
    first: DealState,
    later: &[(DateTime<Utc>, DealState)],
) -> DealTimeline {
    let deal_id = DealId(Uuid::from_u128(id));
    let mut rows = Vec::new();
    let mut current = first;
    for (when, next) in later {
        rows.extend(changes(deal_id, &current, next, *when, None));
        current = next.clone();
    }
    DealTimeline {
        deal_id,
        created_at: created,
        current,
        rows,
    }
}

fn months_at(learned_at: DateTime<Utc>) -> PeriodRateSettings {
    PeriodRateSettings::new(learned_at, OrgCalendar::default(), PeriodKind::Month)
}

fn learn(
    settings: &PeriodRateSettings,
    deals: &[DealTimeline],
    rates: &[(&str, f64)],
) -> PeriodRateTable {
    let rates = rates.iter().map(|(s, r)| (s.to_string(), *r)).collect();
    PeriodRateTable::learn(settings, deals, &rates, &no_rates)
}

fn key(bucket: u8, band: Option<u8>, pushes: Option<u8>) -> CellKey {
    CellKey {
        horizon_bucket: bucket,
        size_band: band,
        pushes,
    }
}

fn cell<'t>(table: &'t PeriodRateTable, stage: &str, key: CellKey) -> &'t PeriodRateCell {
    &table.cells[stage][&key]
}

fn total_observations(table: &PeriodRateTable) -> u64 {
    table
        .cells()
        .filter(|(_, key, _)| key.size_band.is_none())
        .map(|(_, _, cell)| cell.observations)
        .sum()
}

/// Open in `propose` for 100.00 closing 25 June, created 1 June, won 22 June for `booked`.
/// Learning on 1 August sees it on 20 June (10 days left) and 13 and 6 June (17 and 24).
fn won_in_june_for(booked: i64) -> PeriodRateTable {
    learn(&months_at(at(8, 1)), &[won_in_june(1, booked)], &[])
}

/// The deal of [`won_in_june_for`].
fn won_in_june(id: u128, booked: i64) -> DealTimeline {
    let first = open("propose", 100_00, day(6, 25));
    timeline(
        id,
        at(6, 1),
        first.clone(),
        &[(at(6, 22), won(&first, booked, day(6, 22)))],
    )
}

#[test]
fn a_deal_won_in_its_period_counts_its_booked_share() {
    let table = won_in_june_for(100_00);
    let week_before = cell(&table, "propose", key(1, None, None));
    assert_eq!(
        (week_before.observations, week_before.outcome_sum),
        (1, 1.0)
    );
    let earlier = cell(&table, "propose", key(2, None, None));
    assert_eq!((earlier.observations, earlier.outcome_sum), (2, 2.0));
    assert_eq!(earlier.in_period_win_share, 1.0);
    assert_eq!(total_observations(&table), 3);
}

#[test]
fn each_past_period_reports_what_it_booked_against_what_q_expected() {
    let table = won_in_june_for(60_00);
    assert_eq!(table.periods.len(), 1);
    let june = table.periods[0];
    assert_eq!(june.first_day, day(6, 1));
    // Three observations of 100.00 (one 7-13 days before the end, two 14-29), each
    // booking 60%, against the q of their cells.
    assert!((june.booked - 3.0 * 60_00.0).abs() < 1e-6, "{june:?}");
    let q = |horizon| table.q("propose", horizon, 100_00, 0);
    let expected = 100_00.0 * (q(7) + 2.0 * q(14));
    assert!(
        (june.expected - expected).abs() < 1e-6,
        "{june:?} vs {expected}"
    );
}

#[test]
fn a_deal_won_for_less_than_its_pipeline_amount_counts_the_fraction() {
    let table = won_in_june_for(60_00);
    assert_eq!(cell(&table, "propose", key(1, None, None)).outcome_sum, 0.6);
    assert_eq!(cell(&table, "propose", key(2, None, None)).outcome_sum, 1.2);
    assert_eq!(cell(&table, "propose", key(2, None, None)).won_in_period, 2);
}

#[test]
fn a_deal_won_for_more_than_its_pipeline_amount_counts_at_most_one() {
    let table = won_in_june_for(150_00);
    assert_eq!(cell(&table, "propose", key(1, None, None)).outcome_sum, 1.0);
    assert_eq!(cell(&table, "propose", key(2, None, None)).outcome_sum, 2.0);
}

#[test]
fn a_deal_that_slipped_to_the_next_period_counts_zero_for_the_earlier_tau() {
    // Closing 30 June, pushed to 10 July on 28 June, won 8 July.
    let first = open("a", 100_00, day(6, 30));
    let pushed = moved(&first, day(7, 10));
    let deal = timeline(
        1,
        at(6, 1),
        first,
        &[
            (at(6, 28), pushed.clone()),
            (at(7, 8), won(&pushed, 100_00, day(7, 8))),
        ],
    );
    let table = learn(&months_at(at(8, 1)), &[deal], &[]);
    // 27 June, 3 days left in June: slipped, so 0.
    let last_week = cell(&table, "a", key(0, None, None));
    assert_eq!((last_week.observations, last_week.outcome_sum), (1, 0.0));
    assert_eq!(last_week.in_period_win_share, 0.0);
    // 13 and 6 June (0 each) and 4 July (after one push, won in July: 1).
    let earlier = cell(&table, "a", key(2, None, None));
    assert_eq!((earlier.observations, earlier.outcome_sum), (3, 1.0));
    let unpushed = cell(&table, "a", key(2, Some(0), Some(0)));
    assert_eq!((unpushed.observations, unpushed.outcome_sum), (2, 0.0));
    let pushed_once = cell(&table, "a", key(2, Some(0), Some(1)));
    assert_eq!(
        (pushed_once.observations, pushed_once.outcome_sum),
        (1, 1.0)
    );
}

#[test]
fn a_deal_lost_counts_zero() {
    let first = open("a", 100_00, day(6, 30));
    let deal = timeline(
        1,
        at(6, 1),
        first.clone(),
        &[(at(6, 29), lost(&first, day(6, 29)))],
    );
    let table = learn(&months_at(at(8, 1)), &[deal], &[]);
    let sums: Vec<(u64, f64)> = table
        .cells()
        .filter(|(_, key, _)| key.size_band.is_none())
        .map(|(_, _, cell)| (cell.observations, cell.outcome_sum))
        .collect();
    assert_eq!(sums, [(1, 0.0), (1, 0.0), (2, 0.0)]);
}

#[test]
fn periods_not_ended_before_the_learning_instant_are_not_observed() {
    // Learning on 15 July: the July instants (15, 8, 1 July) are not observed.
    let settings = months_at(at(7, 15));
    let instants = observation_instants(&settings);
    assert_eq!(instants[0].at, at(6, 24));
    assert!(instants.iter().all(|i| i.days.last() < day(7, 1)));
    let in_july = timeline(1, at(6, 1), open("a", 100_00, day(7, 20)), &[]);
    let first = open("b", 100_00, day(6, 30));
    let in_june = timeline(
        2,
        at(6, 1),
        first.clone(),
        &[(at(7, 2), lost(&first, day(7, 2)))],
    );
    let table = learn(&settings, &[in_july, in_june], &[]);
    assert!(!table.cells.contains_key("a"));
    assert_eq!(total_observations(&table), 4);
}

#[test]
fn observation_instants_are_every_seven_days_back_within_the_window_whose_period_ended() {
    let settings = PeriodRateSettings {
        window_days: 30,
        ..months_at(at(8, 1))
    };
    let seen: Vec<(DateTime<Utc>, i64)> = observation_instants(&settings)
        .iter()
        .map(|i| (i.at, i.horizon_days))
        .collect();
    assert_eq!(
        seen,
        [
            (at(7, 25), 6),
            (at(7, 18), 13),
            (at(7, 11), 20),
            (at(7, 4), 27)
        ]
    );
}

#[test]
fn the_period_of_an_instant_is_read_in_the_orgs_zone() {
    // 1 July 02:00 UTC is still 30 June in Los Angeles: June's last day, 0 days left.
    let learned_at = Utc.with_ymd_and_hms(2026, 7, 8, 2, 0, 0).unwrap();
    let deal = timeline(1, at(6, 15), open("a", 100_00, day(6, 30)), &[]);
    let la = OrgCalendar::new(
        FiscalCalendar::default(),
        OrgCalendar::parse_zone("America/Los_Angeles").unwrap(),
    );
    let settings = PeriodRateSettings::new(learned_at, la, PeriodKind::Month);
    let table = learn(&settings, std::slice::from_ref(&deal), &[]);
    // Seen there at 0, 7 and 14 days left; read in UTC, 1 July is not observed (July has
    // not ended) and the other two instants are a day later: 6 and 13 days left.
    let buckets = |table: &PeriodRateTable| -> Vec<(u8, u64)> {
        table
            .cells()
            .filter(|(_, key, _)| key.size_band.is_none())
            .map(|(_, key, cell)| (key.horizon_bucket, cell.observations))
            .collect()
    };
    assert_eq!(buckets(&table), [(0, 1), (1, 1), (2, 1)]);
    let in_utc = learn(&months_at(learned_at), &[deal], &[]);
    assert_eq!(buckets(&in_utc), [(0, 1), (1, 1)]);
}

/// A history that goes on after L (1 July), and the same history as it stood at L.
fn with_and_without_later_changes() -> (Vec<DealTimeline>, Vec<DealTimeline>) {
    let x = open("a", 100_00, day(6, 25));
    let x_bigger = DealState {
        amount: Some(120_00),
        ..x.clone()
    };
    let y = open("b", 50_00, day(6, 20));
    let y_lost = lost(&y, day(6, 19));
    let z = open("a", 70_00, day(5, 31));
    let z_won = won(&z, 70_00, day(5, 28));
    let known = vec![
        timeline(1, at(5, 20), x.clone(), &[(at(6, 10), x_bigger.clone())]),
        timeline(2, at(5, 1), y.clone(), &[(at(6, 19), y_lost.clone())]),
        timeline(3, at(5, 2), z.clone(), &[(at(5, 28), z_won.clone())]),
    ];
    let reopened = DealState {
        stage_id: "c".into(),
        status: DealStatus::Open,
        close_date: Some(day(6, 20)),
        ..y_lost.clone()
    };
    let full = vec![
        // Won after L, booked back on 30 June: not known at L.
        timeline(
            1,
            at(5, 20),
            x,
            &[
                (at(6, 10), x_bigger.clone()),
                (at(7, 3), won(&x_bigger, 120_00, day(6, 30))),
            ],
        ),
        timeline(2, at(5, 1), y, &[(at(6, 19), y_lost), (at(7, 2), reopened)]),
        timeline(
            3,
            at(5, 2),
            z,
            &[
                (at(5, 28), z_won.clone()),
                (
                    at(7, 9),
                    DealState {
                        amount: Some(5_00),
                        ..z_won
                    },
                ),
            ],
        ),
        timeline(4, at(7, 5), open("a", 10_00, day(6, 30)), &[]),
    ];
    (full, known)
}

#[test]
fn nothing_after_the_learning_instant_changes_the_table() {
    let (full, known) = with_and_without_later_changes();
    let settings = months_at(at(7, 1));
    let rates = [("a", 0.4), ("b", 0.3)];
    let table = learn(&settings, &full, &rates);
    assert_eq!(table, learn(&settings, &known, &rates));
    assert!(total_observations(&table) > 0);
    assert_eq!(table.size_cuts, Some([50_00, 70_00]));
}

/// X (won in June) and Y (slipped, won in July), both 100.00 in stage `a` closing 20 June,
/// learned on 1 August. X is seen on 13 and 6 June (outcome 1 each), Y on 20, 13 and 6 June
/// (0 each, won share 1): the in-period share is 2 / 5.
fn won_in_and_after_june() -> PeriodRateTable {
    let first = open("a", 100_00, day(6, 20));
    let x = timeline(
        1,
        at(6, 1),
        first.clone(),
        &[(at(6, 18), won(&first, 100_00, day(6, 18)))],
    );
    let pushed = moved(&first, day(7, 5));
    let y = timeline(
        2,
        at(6, 1),
        first,
        &[
            (at(6, 25), pushed.clone()),
            (at(7, 3), won(&pushed, 100_00, day(7, 3))),
        ],
    );
    learn(&months_at(at(8, 1)), &[x, y], &[("a", 0.5), ("b", 0.8)])
}

#[test]
fn the_prior_is_the_stage_rate_times_the_in_period_share_by_value() {
    let table = won_in_and_after_june();
    assert_eq!(table.in_period_share, 0.4);
    assert_eq!(cell(&table, "a", key(2, None, None)).prior, 0.5 * 0.4);
    assert_eq!(cell(&table, "a", key(1, None, None)).prior, 0.5 * 0.4);
}

#[test]
fn with_no_won_deal_observed_the_in_period_share_is_one() {
    let first = open("a", 100_00, day(6, 30));
    let deal = timeline(
        1,
        at(6, 1),
        first.clone(),
        &[(at(6, 29), lost(&first, day(6, 29)))],
    );
    let table = learn(&months_at(at(8, 1)), &[deal], &[("a", 0.3)]);
    assert_eq!(table.in_period_share, 1.0);
    assert_eq!(table.q("b", 3, 100_00, 0), 0.0);
    assert_eq!(table.stage_prior("a"), 0.3);
}

#[test]
fn once_the_period_has_ended_every_q_is_zero() {
    let table = won_in_and_after_june();
    assert_eq!(table.q("a", 0, 100_00, 0), 0.2);
    assert_eq!(table.q("a", -1, 100_00, 0), 0.0);
    assert_eq!(table.q_in("b", -30, None, 2), 0.0);
    for off in OffPeriod::ALL {
        assert_eq!(table.off_period_q(off, "a", -1), 0.0, "{off:?}");
    }
}

#[test]
fn a_cell_with_no_observations_is_its_prior() {
    let table = won_in_and_after_june();
    // Stage a was never seen with 3 days left: its prior, 0.5 x 0.4.
    assert_eq!(table.q("a", 3, 100_00, 0), 0.2);
    // Stage b was never seen: 0.8 x 0.4; a stage without a rate: 0.
    assert_eq!(table.q("b", 20, 100_00, 0), 0.8 * 0.4);
    assert_eq!(table.q("c", 20, 100_00, 0), 0.0);
    // A larger deal's band was never seen: its parent's q.
    let bucket = cell(&table, "a", key(2, None, None));
    assert_eq!(table.q("a", 20, 500_00, 0), bucket.q);
    // Two pushes were never seen in band 0: the band's q.
    let band = cell(&table, "a", key(2, Some(0), None));
    assert_eq!(table.q("a", 20, 100_00, 2), band.q);
    let deepest = cell(&table, "a", key(2, Some(0), Some(0)));
    assert_eq!(table.q("a", 20, 100_00, 0), deepest.q);
}

#[test]
fn the_smoothed_q_lies_between_the_raw_rate_and_the_prior() {
    let table = won_in_and_after_june();
    let bucket = cell(&table, "a", key(2, None, None));
    assert_eq!((bucket.observations, bucket.outcome_sum), (4, 2.0));
    assert_eq!(bucket.raw, 0.5);
    assert!((bucket.q - (2.0 + 10.0 * 0.2) / (4.0 + 10.0)).abs() < 1e-12);
    assert!(bucket.prior < bucket.q && bucket.q < bucket.raw);
}

#[test]
fn segments_shrink_toward_their_parent_cell() {
    let table = won_in_and_after_june();
    let bucket = cell(&table, "a", key(2, None, None));
    let band = cell(&table, "a", key(2, Some(0), None));
    let pushes = cell(&table, "a", key(2, Some(0), Some(0)));
    assert_eq!(band.prior, bucket.q);
    assert_eq!(pushes.prior, band.q);
    let k = 10.0;
    assert!((band.q - (band.outcome_sum + k * bucket.q) / (4.0 + k)).abs() < 1e-12);
}

#[test]
fn distinct_deals_are_counted_once_per_cell_though_seen_at_many_tau() {
    let table = won_in_and_after_june();
    let bucket = cell(&table, "a", key(2, None, None));
    assert_eq!(bucket.observations, 4);
    assert_eq!((bucket.deals, bucket.deals_won_in_period), (2, 1));
    assert_eq!((bucket.wilson_low, bucket.wilson_high), wilson(1.0, 2.0));
    let alone = won_in_june_for(100_00);
    let seen_twice = cell(&alone, "propose", key(2, None, None));
    assert_eq!((seen_twice.observations, seen_twice.deals), (2, 1));
    assert_eq!(seen_twice.deals_won_in_period, 1);
}

#[test]
fn horizon_buckets_are_the_last_week_the_week_before_the_rest_of_a_month_the_month_before_and_earlier()
 {
    let cases = [
        (-3, 0),
        (0, 0),
        (6, 0),
        (7, 1),
        (13, 1),
        (14, 2),
        (29, 2),
        (30, 3),
        (59, 3),
        (60, 4),
        (91, 4),
    ];
    for (days, bucket) in cases {
        assert_eq!(horizon_bucket(days), bucket, "{days} days");
    }
}

#[test]
fn pushes_so_far_are_segmented_as_zero_one_and_two_or_more() {
    let segments: Vec<u8> = [0, 1, 2, 3, 9].into_iter().map(push_segment).collect();
    assert_eq!(segments, [0, 1, 2, 2, 2]);
}

#[test]
fn the_period_kind_names_the_month_or_the_fiscal_quarter_of_a_day() {
    let calendar = OrgCalendar::new(FiscalCalendar::starting_in(2).unwrap(), chrono_tz::Tz::UTC);
    let month = PeriodKind::Month.period_of(&calendar, day(11, 22));
    let quarter = PeriodKind::Quarter.period_of(&calendar, day(11, 22));
    assert_eq!(
        (month.to_string(), quarter.to_string()),
        ("2026-11".into(), "2027-Q4".into())
    );
    assert_eq!(PeriodKind::of(quarter), PeriodKind::Quarter);
    assert_eq!(
        PeriodKind::Quarter.last_day(&calendar, day(11, 22)),
        NaiveDate::from_ymd_opt(2027, 1, 31).unwrap()
    );
    assert_eq!(PeriodKind::Month.last_day(&calendar, day(2, 3)), day(2, 28));
}

#[test]
fn cells_are_listed_by_stage_bucket_band_and_pushes() {
    let table = won_in_and_after_june();
    let listed: Vec<(&str, CellKey)> = table.cells().map(|(s, k, _)| (s, *k)).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    assert_eq!(listed[0], ("a", key(1, None, None)));
}

mod properties;
mod size_bands;

mod overdue;
mod period_days;
mod pull_in;

/// Two deals seen once each (June 24, 6 days left, bucket 0, when learned on July 1): a small
/// one won in June, a large one lost. By value the cell booked 100 of 900, not one deal of two.
fn small_won_large_lost() -> [DealTimeline; 2] {
    let small = open("a", 100_00, day(6, 30));
    let large = open("a", 800_00, day(6, 30));
    [
        timeline(
            1,
            at(6, 20),
            small.clone(),
            &[(at(6, 29), won(&small, 100_00, day(6, 29)))],
        ),
        timeline(
            2,
            at(6, 20),
            large.clone(),
            &[(at(6, 29), lost(&large, day(6, 29)))],
        ),
    ]
}

#[test]
fn a_cells_rate_is_its_revenue_over_its_amounts() {
    let table = learn(&months_at(at(7, 1)), &small_won_large_lost(), &[("a", 0.5)]);
    let top = cell(&table, "a", key(0, None, None));
    assert_eq!((top.observations, top.deals, top.won_in_period), (2, 2, 1));
    // By count half the deals were won in June; by value 100 of 900 was booked.
    assert_eq!(top.in_period_win_share, 0.5);
    assert!((top.raw - 100.0 / 900.0).abs() < 1e-12);
    assert!((top.outcome_sum - 2.0 * 100.0 / 900.0).abs() < 1e-12);
    // Every won deal booked in its period: the share is 1 by value and by count alike.
    assert_eq!(table.in_period_share, 1.0);
    let k = 10.0;
    let expected = (2.0 * 100.0 / 900.0 + k * 0.5) / (2.0 + k);
    assert!((top.q - expected).abs() < 1e-12);
}

#[test]
fn q_books_in_sample_what_its_observations_booked() {
    // Without a prior's pull (k = 0), the cell's q x its amounts is exactly what it booked.
    let settings = PeriodRateSettings {
        prior_weight: 0,
        ..months_at(at(7, 1))
    };
    let table = learn(&settings, &small_won_large_lost(), &[("a", 0.5)]);
    let q = table.q_in("a", 6, None, 0);
    assert!((q * 900_00.0 - 100_00.0).abs() < 1e-6);
    let [june] = table.periods.as_slice() else {
        panic!("one period observed: {:?}", table.periods);
    };
    assert!((june.booked - june.expected).abs() < 1e-6);
}
