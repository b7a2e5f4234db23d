//! Period rates learned by snapshots and backtests from what happened before each point.

use super::*;

contract_test!(
    a_snapshot_learns_period_rates_from_the_deals_open_in_each_ended_period,
    |app| {
        use pb::period_rate_table::Kind;
        let june = june(&app).await;
        // Learning at 2026-01-01, weekly instants back to 2025-01-01. In June 2025: on the 5th
        // A (won 10th) and B (lost 18th) are open, 25 days left; on the 12th B and C (won
        // 24th), 18 days; on the 19th C, 11 days; on the 26th nothing is open. s1's rate is
        // 7/13 and every won deal booked in its period: priors 7/13. Amounts: A 10,000, B
        // 20,000, C 40,000; a cell's rate is its booked revenue over its amounts, each
        // observation weighing its amount over the cell's mean (outcome sum = n x raw).
        let table = |kind: Kind| {
            june.snapshot
                .period_rates
                .iter()
                .find(|t| t.kind == kind as i32)
                .unwrap()
                .clone()
        };
        let cell = |t: &pb::PeriodRateTable, from: i32, band: Option<i32>| {
            t.cells
                .iter()
                .find(|c| {
                    c.stage == "s1"
                        && c.horizon_from_days == from
                        && c.size_band == band
                        && c.pushes.is_none()
                })
                .map(|c| {
                    (
                        c.observations,
                        c.deals,
                        c.deals_won_in_period,
                        (c.q * 1e6).round() / 1e6,
                    )
                })
        };
        let months = table(Kind::Month);
        assert_eq!(months.size_cuts, [10_000, 20_000], "terciles of A, B, C");
        assert_eq!(months.in_period_share, 1.0);
        // 14-29 days: A 1, B 0, B 0, C 1 booked 50,000 of 90,000 (by count it would be 2 of
        // 4): q = (4 x 5/9 + 10 x 7/13) / 14 = 445/819.
        assert_eq!(cell(&months, 14, None), Some((4, 3, 2, 0.543346)));
        // 7-13 days: C 1: q = (1 + 70/13) / 11 = 83/143.
        assert_eq!(cell(&months, 7, None), Some((1, 1, 1, 0.58042)));
        // C alone in the largest band, shrunk toward its bucket: (1 + 10 x 445/819) / 11.
        assert_eq!(cell(&months, 14, Some(2)), Some((1, 1, 1, 0.58486)));
        assert_eq!(
            cell(&months, 0, None),
            None,
            "nothing open in the last week"
        );
        // A quarter (Q2) also sees A on 22 and 29 May and B on the 29th, 30-59 days left:
        // 20,000 booked of 40,000, (3 x 1/2 + 70/13) / 13 = 179/338.
        let quarters = table(Kind::Quarter);
        assert_eq!(cell(&quarters, 30, None), Some((3, 2, 1, 0.529586)));
        assert_eq!(cell(&quarters, 14, None), Some((4, 3, 2, 0.543346)));
        // Read back as computed.
        let stored = app
            .forecasts()
            .await
            .get_win_rate_snapshot(authed(
                &june.manager.1,
                pb::GetWinRateSnapshotRequest {
                    name: june.snapshot.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stored.period_rates, june.snapshot.period_rates);
    }
);

contract_test!(
    a_backtest_learns_each_points_rates_only_from_what_happened_before_its_day,
    |app| {
        use pb::method_accuracy::Method;
        let june = june(&app).await;
        let date = |d: u32| dealdesk::proto::google::r#type::Date {
            year: 2025,
            month: 6,
            day: d as i32,
        };
        let request = pb::BacktestForecastRequest {
            period: "2025-06".into(),
            scope: june.manager.0.name.clone(),
            as_of_dates: vec![date(1), date(15)],
            currency_code: String::new(),
        };
        let mut forecasts = app.forecasts().await;
        let backtest = forecasts
            .backtest_forecast(authed(&june.manager.1, request.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(backtest.actual, 50_000);
        // June 1st: nothing closed yet, nothing closed before it to learn from: every learned
        // rate is its prior (0.5). A and B open in s1 (C not created): 5,000 + 10,000.
        let first = &backtest.points[0];
        assert_eq!((first.closed_won, first.open_deals), (0, 2));
        for m in [
            Method::DefaultProbabilities,
            Method::WeightedPipeline,
            Method::PeriodForecast,
        ] {
            assert_eq!(
                method(&first.methods, m),
                (15_000, -35_000, Some(0.7)),
                "{m:?}"
            );
        }
        assert_eq!(method(&first.methods, Method::LastPeriodsAverage).0, 0);
        assert_eq!(method(&first.methods, Method::ClosedPlusNew).0, 0);
        // June 15th: A won on the 10th (10,000). The classic rate is learned from A alone (s1: 1
        // of 1, smoothed (1 + 10 x 0.5) / 11 = 6/11), not from B and C, which closed after the
        // day: 10,000 + round(20,000 x 6/11) + round(40,000 x 6/11) = 10,000 + 10,909 + 21,818.
        // No period ended before it saw a deal dated in it, so q is its prior (6/11 x 1) and
        // nothing was won from deals created later in a past month.
        let second = &backtest.points[1];
        assert_eq!((second.closed_won, second.open_deals), (10_000, 2));
        assert_eq!(second.new_pipeline, 0);
        assert_eq!(
            method(&second.methods, Method::DefaultProbabilities).0,
            40_000
        );
        assert_eq!(method(&second.methods, Method::WeightedPipeline).0, 42_727);
        assert_eq!(method(&second.methods, Method::PeriodForecast).0, 42_727);
        assert_eq!(method(&second.methods, Method::ClosedPlusNew).0, 10_000);
        let summary = |m: Method| {
            *backtest
                .summaries
                .iter()
                .find(|s| s.method == m as i32)
                .unwrap()
        };
        let defaults = summary(Method::DefaultProbabilities);
        assert_eq!(defaults.points, 2);
        // APE 0.7 on the 1st, |40,000 - 50,000| / 50,000 = 0.2 on the 15th.
        assert_eq!(
            defaults
                .mean_absolute_percentage_error
                .map(|a| (a * 1e6).round() / 1e6),
            Some(0.45)
        );
        assert_eq!(summary(Method::LastPeriodsAverage).brier_score, None);
        // Brier of the defaults: four (deal, day) predictions at 0.5; A won in June, B lost, then
        // B lost and C won: each (0.5 - outcome)^2 = 0.25.
        assert_eq!(defaults.brier_score, Some(0.25));
        assert_eq!(backtest.points.len(), 2);

        // Now: a deal won today and rates recomputed change no past point.
        let mut deals = app.deals().await;
        let today = deals
            .create_deal(authed(
                &june.rep1.1,
                pb::CreateDealRequest {
                    deal: Some(pb::Deal {
                        display_name: "Won today".into(),
                        account: "Now Corp".into(),
                        pipeline: june.pipeline.clone(),
                        amount: Some(pb::Money {
                            currency_code: "USD".into(),
                            amount_minor: 70_000,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        deals
            .close_deal(authed(
                &june.rep1.1,
                pb::CloseDealRequest {
                    name: today.name,
                    outcome: pb::close_deal_request::Outcome::Won as i32,
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
        app.forecasts()
            .await
            .compute_win_rates(authed(
                &app.admin_token,
                pb::ComputeWinRatesRequest {
                    pipeline: june.pipeline.clone(),
                    window_start_date: Some(date(1)),
                    window_end_date: Some(dealdesk::proto::google::r#type::Date {
                        year: 2026,
                        month: 12,
                        day: 1,
                    }),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
        let again = forecasts
            .backtest_forecast(authed(&june.manager.1, request))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again, backtest);
    }
);
