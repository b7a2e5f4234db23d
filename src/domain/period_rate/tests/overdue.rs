//! The rules of learning the overdue rates, as tests: deals dated before the period observed
//! and still open, and what of them was booked in it.
#![allow(clippy::inconsistent_digit_grouping)]

use super::*;

/// R, dated 20 May and left open past it, won on 16 June (revived); D, dated 20 May, lost on
/// 30 June; both 100.00 in stage `a`, created 1 May, learned on 1 August. Both are overdue
/// observations on 6 and 13 June (24 and 17 days left in June: bucket 2); D also on 20 and 27
/// June (buckets 1 and 0), when R was won already. At the five May instants both were dated in
/// their period.
fn revived_and_dead() -> (DealTimeline, DealTimeline) {
    let first = open("a", 100_00, day(5, 20));
    let revived = timeline(
        1,
        at(5, 1),
        first.clone(),
        &[(at(6, 16), won(&first, 100_00, day(6, 16)))],
    );
    let dead = timeline(
        2,
        at(5, 1),
        first.clone(),
        &[(at(6, 30), lost(&first, day(6, 30)))],
    );
    (revived, dead)
}

#[test]
fn an_open_deal_dated_before_the_period_and_won_in_it_is_an_overdue_observation() {
    let (revived, dead) = revived_and_dead();
    let table = learn(&months_at(at(8, 1)), &[revived, dead], &[("a", 0.5)]);
    let cell = &table.overdue["a"][&2];
    assert_eq!(
        (cell.observations, cell.deals, cell.deals_won_in_period),
        (4, 2, 1)
    );
    assert_eq!(cell.outcome_sum, 2.0);
    // R's two observations booked all of what was won from overdue deals.
    assert_eq!(table.overdue_share, 1.0);
    // Every cell leans on the pipeline's overdue rate: of six observations of 100.00, two
    // booked all (not on the stage's rate x the share, 0.5).
    let prior = 2.0 / 6.0;
    assert_eq!(table.overdue_prior, prior);
    assert_eq!(cell.prior, prior);
    let k = f64::from(DEFAULT_PRIOR_WEIGHT);
    let q = (2.0 + k * prior) / (4.0 + k);
    assert!((table.off_period_q(OffPeriod::Overdue, "a", 20) - q).abs() < 1e-12);
    // A stage without overdue cells leans on the same prior, whatever its win rate.
    assert_eq!(table.off_period_q(OffPeriod::Overdue, "b", 20), prior);
    let late = |bucket| {
        let c = &table.overdue["a"][&bucket];
        (c.observations, c.outcome_sum)
    };
    assert_eq!((late(1), late(0)), ((1, 0.0), (1, 0.0)));
    // Neither is a pull-in observation, and their in-period observations are May's.
    assert!(table.pulled_in.is_empty());
    assert_eq!(table.pull_in_share, 0.0);
    let may: u64 = table.cells["a"]
        .iter()
        .filter(|(key, _)| key.size_band.is_none())
        .map(|(_, c)| c.observations)
        .sum();
    assert_eq!(may, total_observations(&table));
    assert_eq!(may, 2 * 5);
}

#[test]
fn without_an_overdue_deal_won_nothing_overdue_counts() {
    let (_, dead) = revived_and_dead();
    let table = learn(&months_at(at(8, 1)), &[dead], &[("a", 0.5)]);
    assert_eq!(table.overdue_share, 0.0);
    assert_eq!(table.overdue_prior, 0.0);
    assert_eq!(table.off_period_q(OffPeriod::Overdue, "a", 3), 0.0);
    assert_eq!(table.off_period_prior(OffPeriod::Overdue, "a"), 0.0);
}

#[test]
fn a_deal_dated_more_than_a_year_before_the_period_is_not_observed() {
    // Dated 31 May 2025, won on 16 June 2026: June 2026 starts 366 days after its date.
    let first = open("a", 100_00, day(5, 31) - Duration::days(365));
    let stale = timeline(
        1,
        at(5, 1) - Duration::days(400),
        first.clone(),
        &[(at(6, 16), won(&first, 100_00, day(6, 16)))],
    );
    let table = learn(&months_at(at(8, 1)), &[stale], &[("a", 0.5)]);
    // Overdue in every month up to May 2026 (within a year of each), never in June.
    assert!(!table.overdue["a"].is_empty());
    let june = table.periods.iter().find(|p| p.first_day == day(6, 1));
    assert_eq!(june, None);
    assert_eq!(table.overdue_share, 0.0);
}

#[test]
fn a_past_periods_outcome_counts_what_its_overdue_deals_booked_against_their_q() {
    let (revived, dead) = revived_and_dead();
    let table = learn(&months_at(at(8, 1)), &[revived, dead], &[("a", 0.5)]);
    let june = table.periods.iter().find(|p| p.first_day == day(6, 1));
    let june = june.expect("June observed");
    assert!((june.booked - 2.0 * 100_00.0).abs() < 1e-6, "{june:?}");
    let q = |days_left| table.off_period_q(OffPeriod::Overdue, "a", days_left);
    let expected = 100_00.0 * (q(3) + q(10) + 4.0 * q(20));
    assert!((june.expected - expected).abs() < 1e-6, "{june:?}");
}
