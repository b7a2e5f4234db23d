//! Properties of learning q: the backward sweep equals a rebuild at every instant, learning deal
//! by deal equals learning at once, and nothing after L changes the table.

use super::*;

/// The reference: the deal rebuilt with `as_of` at L and at every instant, pushes counted
/// afresh each time.
fn rebuilt_at_every_instant(
    learner: &mut Learner<'_>,
    deal: &DealTimeline,
    out: &mut Vec<Observation>,
) {
    let settings = *learner.settings;
    let rebuild = |at| as_of(&deal.current, deal.created_at, &deal.rows, at);
    let Some(at_learning) = rebuild(settings.learned_at) else {
        return;
    };
    let Some(booking) = booking_at(&at_learning, &mut learner.converter) else {
        return;
    };
    let period_end = |day| PeriodKind::Month.last_day(&settings.calendar, day);
    for instant in &learner.instants {
        let Some(state) = rebuild(instant.at) else {
            continue;
        };
        let pushed = pushes(&deal.rows, None, instant.at, period_end);
        let seen = observe(
            &state,
            pushed,
            booking,
            instant,
            &mut learner.converter,
            &mut learner.stages,
        );
        out.extend(seen);
    }
}

fn arb_state() -> impl Strategy<Value = DealState> {
    (
        prop::sample::select(vec!["a", "b", "c"]),
        prop::sample::select(vec![
            DealStatus::Open,
            DealStatus::Open,
            DealStatus::Open,
            DealStatus::Won,
            DealStatus::Lost,
        ]),
        prop::option::weighted(0.9, 1i64..1_000),
        prop::sample::select(vec!["USD", "USD", "USD", "EUR"]),
        prop::option::weighted(0.95, 0i64..240),
    )
        .prop_map(|(stage, status, amount, currency, close)| DealState {
            owner_id: UserId(Uuid::nil()),
            stage_id: stage.into(),
            status,
            amount,
            currency: Currency::parse(currency),
            close_date: close.map(|d| day(1, 1) - Duration::days(30) + Duration::days(d)),
            category: ForecastCategory::Pipeline,
        })
}

/// Hours from 2025-10-01 00:00 UTC.
fn hour(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 1, 0, 0, 0).unwrap() + Duration::hours(h)
}

/// Creation hour, first state, then each later state after a gap in hours.
type RawTimeline = (i64, DealState, Vec<(i64, DealState)>);

/// A deal created at an hour, then changing to each state after some hours.
fn arb_timeline() -> impl Strategy<Value = RawTimeline> {
    (
        0i64..240 * 24,
        arb_state(),
        prop::collection::vec((1i64..40 * 24, arb_state()), 0..8),
    )
}

/// The timelines, with each deal's states at or before `cut` only (and deals created by
/// then) when a cut is given.
fn build(raw: &[RawTimeline], cut: Option<DateTime<Utc>>) -> Vec<DealTimeline> {
    raw.iter()
        .enumerate()
        .filter(|(_, (created, _, _))| cut.is_none_or(|cut| hour(*created) <= cut))
        .map(|(i, (created, first, later))| {
            let mut when = *created;
            let stamped: Vec<(DateTime<Utc>, DealState)> = later
                .iter()
                .map(|(gap, state)| {
                    when += gap;
                    (hour(when), state.clone())
                })
                .filter(|(at, _)| cut.is_none_or(|cut| *at <= cut))
                .collect();
            timeline(i as u128, hour(*created), first.clone(), &stamped)
        })
        .collect()
}

fn arb_settings() -> impl Strategy<Value = PeriodRateSettings> {
    (
        0i64..90 * 24,
        prop::bool::ANY,
        1u32..=12,
        prop::sample::select(vec!["UTC", "America/Los_Angeles", "Asia/Tokyo"]),
        prop::sample::select(vec![365u32, 120]),
    )
        .prop_map(|(h, monthly, start, zone, window_days)| {
            let calendar = OrgCalendar::new(
                FiscalCalendar::starting_in(start).unwrap(),
                OrgCalendar::parse_zone(zone).unwrap(),
            );
            let kind = if monthly {
                PeriodKind::Month
            } else {
                PeriodKind::Quarter
            };
            PeriodRateSettings {
                window_days,
                ..PeriodRateSettings::new(hour(210 * 24 + h), calendar, kind)
            }
        })
}

fn arb_rates() -> impl Strategy<Value = HashMap<String, f64>> {
    prop::collection::hash_map(
        prop::sample::select(vec!["a".to_string(), "b".into(), "c".into()]),
        -0.5f64..1.5,
        0..3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The backward sweep sees exactly what rebuilding each deal at every instant sees.
    #[test]
    fn the_sweep_equals_a_rebuild_at_every_instant(
        raw in prop::collection::vec(arb_timeline(), 1..10),
        settings in arb_settings(),
        rates in arb_rates(),
    ) {
        let deals = build(&raw, None);
        let learner = || Learner {
            settings: &settings,
            instants: observation_instants(&settings),
            converter: Converter { convert: &no_rates, into: usd(), last: None },
            stages: StageIndex::default(),
        };
        let mut learners = [learner(), learner()];
        for deal in &deals {
            let (mut swept, mut rebuilt) = (Vec::new(), Vec::new());
            sweep_deal(&mut learners[0], deal, &mut swept);
            rebuilt_at_every_instant(&mut learners[1], deal, &mut rebuilt);
            prop_assert_eq!(swept, rebuilt);
        }
        let table = PeriodRateTable::learn(&settings, &deals, &rates, &no_rates);
        let reference = learn_with(&settings, &deals, &rates, &no_rates, rebuilt_at_every_instant);
        prop_assert_eq!(table, reference);
    }

    /// Learning deal by deal in any order (a large pipeline is read a page at a time) gives the
    /// table learning them at once does, up to the order of float sums.
    #[test]
    fn learning_deal_by_deal_in_any_order_gives_the_same_table(
        raw in prop::collection::vec(arb_timeline(), 1..10),
        settings in arb_settings(),
        rates in arb_rates(),
    ) {
        let deals = build(&raw, None);
        let at_once = PeriodRateTable::learn(&settings, &deals, &rates, &no_rates);
        let mut sample = SizeCutSample::new(&settings, &no_rates);
        deals.iter().rev().for_each(|deal| sample.add(deal));
        let mut learning = PeriodRateLearning::new(&settings, sample.cuts(), &no_rates);
        deals.iter().rev().for_each(|deal| learning.add(deal));
        let streamed = learning.finish(&rates);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
        prop_assert_eq!(streamed.size_cuts, at_once.size_cuts);
        prop_assert!(close(streamed.in_period_share, at_once.in_period_share));
        let cells: Vec<_> = streamed.cells().zip(at_once.cells()).collect();
        prop_assert_eq!(cells.len(), at_once.cells().count());
        for ((stage, key, s), (at_stage, at_key, a)) in cells {
            prop_assert_eq!((stage, key), (at_stage, at_key));
            prop_assert_eq!((s.observations, s.deals), (a.observations, a.deals));
            prop_assert_eq!((s.won_in_period, s.deals_won_in_period), (a.won_in_period, a.deals_won_in_period));
            prop_assert!(close(s.outcome_sum, a.outcome_sum) && close(s.q, a.q));
        }
        prop_assert_eq!(streamed.periods.len(), at_once.periods.len());
        for (s, a) in streamed.periods.iter().zip(&at_once.periods) {
            prop_assert_eq!(s.first_day, a.first_day);
            prop_assert!(close(s.booked, a.booked) && close(s.expected, a.expected));
        }
    }

    /// Whatever happens after L, the table is what the history known at L gives.
    #[test]
    fn changes_after_the_learning_instant_leave_the_table_identical(
        raw in prop::collection::vec(arb_timeline(), 1..10),
        settings in arb_settings(),
        rates in arb_rates(),
    ) {
        let full = build(&raw, None);
        let known = build(&raw, Some(settings.learned_at));
        prop_assert_eq!(
            PeriodRateTable::learn(&settings, &full, &rates, &no_rates),
            PeriodRateTable::learn(&settings, &known, &rates, &no_rates)
        );
    }

    /// Every q, prior and share is in [0, 1], and a top cell's q lies between its raw rate
    /// and its prior.
    #[test]
    fn q_stays_between_zero_and_one(
        raw in prop::collection::vec(arb_timeline(), 1..10),
        settings in arb_settings(),
        rates in arb_rates(),
        lookups in prop::collection::vec(
            (prop::sample::select(vec!["a", "b", "c", "d"]), -5i64..100, -10i64..2_000, 0u32..4),
            1..20,
        ),
    ) {
        let table = PeriodRateTable::learn(&settings, &build(&raw, None), &rates, &no_rates);
        let unit = 0.0..=1.0;
        prop_assert!(unit.contains(&table.in_period_share));
        for (_, key, cell) in table.cells() {
            prop_assert!(unit.contains(&cell.q) && unit.contains(&cell.prior));
            prop_assert!(unit.contains(&cell.raw) && unit.contains(&cell.in_period_win_share));
            prop_assert!(cell.deals <= cell.observations && cell.deals_won_in_period <= cell.deals);
            if key.size_band.is_none() {
                let (low, high) = (cell.raw.min(cell.prior), cell.raw.max(cell.prior));
                prop_assert!(low - 1e-12 <= cell.q && cell.q <= high + 1e-12);
            }
        }
        for (stage, horizon, amount, pushes) in lookups {
            prop_assert!(unit.contains(&table.q(stage, horizon, amount, pushes)));
        }
    }
}
