//! The demo book's backtest (`dealdesk backtest-demo`): over its last 4 full quarters and last 6
//! full months, weekly points, the period forecast beats the classic stage rates by at least
//! 30% of their mean APE, beats the static defaults, and is no worse than the better naive
//! baseline. The demo book is simulated (optimistic close dates, pushes, size-dependent wins,
//! discounts at signing), not drawn from the model's formula.

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
        println!("{table}");
    }
);
