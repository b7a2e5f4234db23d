//! The rules of learning the pull-in rates, as tests: deals dated in the period after the one
//! observed, and what of them was booked early.
#![allow(clippy::inconsistent_digit_grouping)]

use super::*;

/// P, dated 15 July and won on 20 June (pulled in), and S, dated 15 July and won then, both
/// 100.00 in stage `a`, created 1 June, learned on 1 August. Both are pull-in observations on
/// 13 and 6 June (17 and 24 days left in June: bucket 2); S also on 20 June (10 days: bucket 1)
/// and 27 June (3 days: bucket 0), when P was won already.
fn pulled_in_and_not() -> (DealTimeline, DealTimeline) {
    let first = open("a", 100_00, day(7, 15));
    let pulled = timeline(
        1,
        at(6, 1),
        first.clone(),
        &[(at(6, 20), won(&first, 100_00, day(6, 20)))],
    );
    let on_time = timeline(
        2,
        at(6, 1),
        first.clone(),
        &[(at(7, 15), won(&first, 100_00, day(7, 15)))],
    );
    (pulled, on_time)
}

#[test]
fn a_deal_dated_in_the_next_period_and_won_in_this_one_is_a_pull_in_of_its_booked_share() {
    let (pulled, _) = pulled_in_and_not();
    let table = learn(&months_at(at(8, 1)), &[pulled], &[("a", 0.5)]);
    let cell = &table.pulled_in["a"][&2];
    assert_eq!(
        (cell.observations, cell.deals, cell.outcome_sum),
        (2, 1, 2.0)
    );
    assert_eq!(cell.deals_won_in_period, 1);
    assert_eq!(table.pull_in_share, 1.0);
    // It is no observation of the cells of deals dated in their period.
    assert_eq!(total_observations(&table), 0);
}

#[test]
fn the_pull_in_share_is_what_was_booked_early_of_what_was_won_by_value() {
    let (pulled, on_time) = pulled_in_and_not();
    let table = learn(&months_at(at(8, 1)), &[pulled, on_time], &[("a", 0.5)]);
    // P's two observations booked all, of six observations of deals won in full.
    assert_eq!(table.pull_in_share, 2.0 / 6.0);
    let cell = &table.pulled_in["a"][&2];
    assert_eq!((cell.observations, cell.outcome_sum), (4, 2.0));
    let prior = 0.5 * (2.0 / 6.0);
    assert_eq!(cell.prior, prior);
    let k = f64::from(DEFAULT_PRIOR_WEIGHT);
    let q = (2.0 + k * prior) / (4.0 + k);
    assert!((table.off_period_q(OffPeriod::Next, "a", 20) - q).abs() < 1e-12);
    let last_week = &table.pulled_in["a"][&0];
    assert_eq!((last_week.observations, last_week.outcome_sum), (1, 0.0));
    // A bucket without observations leans on the stage's prior; a stage without any too.
    assert_eq!(table.off_period_q(OffPeriod::Next, "a", 45), prior);
    assert_eq!(table.off_period_q(OffPeriod::Next, "b", 20), 0.0);
}

#[test]
fn without_a_deal_booked_early_nothing_is_pulled_in() {
    let (_, on_time) = pulled_in_and_not();
    let table = learn(&months_at(at(8, 1)), &[on_time], &[("a", 0.5)]);
    assert_eq!(table.pull_in_share, 0.0);
    assert_eq!(table.pulled_in["a"][&2].outcome_sum, 0.0);
    assert_eq!(table.off_period_q(OffPeriod::Next, "a", 3), 0.0);
    assert!(table.off_period_q(OffPeriod::Next, "a", 20) < 0.01);
}

#[test]
fn deals_dated_two_periods_ahead_are_not_observed() {
    let first = open("a", 100_00, day(8, 15));
    let far = timeline(
        1,
        at(6, 1),
        first.clone(),
        &[(at(6, 20), won(&first, 100_00, day(6, 20)))],
    );
    let table = learn(&months_at(at(9, 1)), &[far], &[("a", 0.5)]);
    assert!(table.pulled_in.is_empty());
    assert_eq!(total_observations(&table), 0);
}

#[test]
fn a_past_periods_outcome_counts_what_its_pull_ins_booked_against_their_q() {
    let (pulled, on_time) = pulled_in_and_not();
    let table = learn(&months_at(at(8, 1)), &[pulled, on_time], &[("a", 0.5)]);
    let june = table.periods.iter().find(|p| p.first_day == day(6, 1));
    let june = june.expect("June observed");
    assert!((june.booked - 2.0 * 100_00.0).abs() < 1e-6, "{june:?}");
    let q = |days_left| table.off_period_q(OffPeriod::Next, "a", days_left);
    let expected = 100_00.0 * (q(3) + q(10) + 4.0 * q(20));
    assert!((june.expected - expected).abs() < 1e-6, "{june:?}");
}
