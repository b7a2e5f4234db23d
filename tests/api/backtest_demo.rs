//! The demo book's backtest (`dealdesk backtest-demo`): over its last 4 full quarters and last 6
//! full months, weekly points, the period forecast beats the classic stage rates by at least
//! 30% of their mean APE, beats the static defaults, is no worse than the better naive
//! baseline, and its P10-P90 range holds the actual at 60-95% of the points (64-89% on eight
//! books, BENCHMARKS.md). The demo book is simulated (optimistic close dates, pushes, dates left
//! overdue, buyers gone quiet, size-dependent wins, discounts at signing), not drawn from the
//! model's formula.

use dealdesk::app::{Clock, Principal};
use dealdesk::demo::{self, backtest_table};
use dealdesk::domain::backtest::Method;

use crate::contract_test;

/// When the demo is generated.
const NOW: &str = "2026-12-01T12:00:00Z";

contract_test!(
    the_period_forecast_beats_the_classic_rates_and_the_baselines_on_the_demo_book,
    |app| {
        // The demo book is generated back from "now": a fixed now gives the same book every day.
        let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().to_utc();
        let app = app.app.clone().with_clock(Clock::starting_at(now));
        demo::seed(&app).await.unwrap();
        let (admin, _) = demo::create_admin(&app, "backtest@demo.dealdesk", "Backtest")
            .await
            .unwrap();
        let admin = Principal { user: admin };
        let backtests = backtest_table::run(&app, &admin).await.unwrap();
        assert_eq!(backtests.len(), 10, "4 quarters and 6 months");
        let rows = backtest_table::table(&backtests);
        let ape = |m: Method| {
            rows.iter()
                .find(|r| r.method == m)
                .and_then(|r| r.mean_ape)
                .unwrap()
        };
        let period = ape(Method::PeriodForecast);
        let table = backtest_table::markdown(&backtests, &rows);
        assert!(period <= 0.7 * ape(Method::Classic), "{table}");
        assert!(period < ape(Method::StaticDefaults), "{table}");
        let naive = ape(Method::LastPeriodsAverage).min(ape(Method::ClosedPlusNew));
        assert!(period <= naive, "{table}");
        let coverage = rows
            .iter()
            .find(|r| r.method == Method::PeriodForecast)
            .and_then(|r| r.coverage)
            .unwrap();
        assert!((0.6..=0.95).contains(&coverage), "{table}");
        println!("{table}");
    }
);

contract_test!(
    the_demo_stores_a_field_history_that_agrees_with_its_stage_history,
    |app| {
        use dealdesk::app::ports::{DealStore, ForecastStore};
        use dealdesk::domain::deal_history::as_of;
        let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().to_utc();
        let app = app.app.clone().with_clock(Clock::starting_at(now));
        demo::seed(&app).await.unwrap();
        let year = |y: &str| chrono::DateTime::parse_from_rfc3339(y).unwrap().to_utc();
        let (from, to) = (year("2000-01-01T00:00:00Z"), year("2100-01-01T00:00:00Z"));
        let timelines = app
            .store
            .deal_timelines(None, None, (from, to), None)
            .await
            .unwrap();
        assert_eq!(timelines.len(), demo::DEMO_DEALS);
        let with_rows = timelines.iter().filter(|(_, t)| !t.rows.is_empty()).count();
        assert!(
            with_rows > demo::DEMO_DEALS / 2,
            "{with_rows} deals have field history"
        );
        // Every 25th deal: rebuilt as of each of its stage moves, it stands where the move put it.
        for (_, deal) in timelines.iter().step_by(25) {
            let moves = app
                .store
                .list_stage_history(deal.deal_id, None, 100)
                .await
                .unwrap();
            for m in moves {
                let then = as_of(&deal.current, deal.created_at, &deal.rows, m.at).unwrap();
                assert_eq!(then.stage_id, m.to_stage, "{:?} at {}", deal.deal_id, m.at);
                assert_eq!(then.money(), m.amount, "{:?} at {}", deal.deal_id, m.at);
                assert_eq!(
                    then.close_date, m.close_date,
                    "{:?} at {}",
                    deal.deal_id, m.at
                );
            }
        }
    }
);
