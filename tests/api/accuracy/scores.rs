//! Accuracy scores per method and person, and when accuracy and backtests may run.

use super::*;

contract_test!(
    accuracy_scores_each_snapshot_per_method_and_per_person,
    |app| {
        use pb::method_accuracy::Method;
        let june = june(&app).await;
        let mut forecasts = app.forecasts().await;
        let submit = |token: String, commit: i64| {
            let mut c = forecasts.clone();
            async move {
                c.submit_forecast_call(authed(
                    &token,
                    pb::SubmitForecastCallRequest {
                        period: "2025-06".into(),
                        commit: usd(commit),
                        best_case: usd(commit),
                        note: String::new(),
                    },
                ))
                .await
                .unwrap();
            }
        };
        submit(june.rep1.1.clone(), 9_000).await;
        submit(june.rep2.1.clone(), 30_000).await;
        submit(june.manager.1.clone(), 45_000).await;
        forecasts
            .adjust_forecast_call(authed(
                &june.manager.1,
                pb::AdjustForecastCallRequest {
                    period: "2025-06".into(),
                    user: june.rep2.0.name.clone(),
                    commit: usd(35_000),
                    best_case: usd(35_000),
                    note: String::new(),
                },
            ))
            .await
            .unwrap();
        let snapshot = forecasts
            .snapshot_forecast(authed(
                &june.manager.1,
                pb::SnapshotForecastRequest {
                    period: "2025-06".into(),
                    scope: june.manager.0.name.clone(),
                    currency_code: String::new(),
                    request_id: "snap-1".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            snapshot.totals.as_ref().map(|t| (t.closed_won, t.expected)),
            Some((50_000, 50_000))
        );
        assert_eq!(snapshot.calls.len(), 3);
        let listed = forecasts
            .list_forecast_snapshots(authed(
                &june.manager.1,
                pb::ListForecastSnapshotsRequest {
                    period: "2025-06".into(),
                    scope: june.manager.0.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.snapshots, vec![snapshot.clone()]);

        let accuracy = forecasts
            .get_forecast_accuracy(authed(
                &june.manager.1,
                pb::GetForecastAccuracyRequest {
                    period: "2025-06".into(),
                    scope: june.manager.0.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(accuracy.actual, 50_000);
        let scored = &accuracy.snapshots[0];
        assert_eq!(
            method(&scored.methods, Method::WeightedPipeline),
            (50_000, 0, Some(0.0))
        );
        // The snapshot's own `expected` (the period forecast; nothing open, nothing to come).
        assert_eq!(
            method(&scored.methods, Method::PeriodForecast),
            (50_000, 0, Some(0.0))
        );
        // Rep call: the sellers without reports, R1 9,000 + R2 30,000 = 39,000.
        assert_eq!(
            method(&scored.methods, Method::RepCall),
            (39_000, -11_000, Some(0.22))
        );
        // Manager call: M's own 45,000 (nobody above M).
        assert_eq!(
            method(&scored.methods, Method::ManagerCall),
            (45_000, -5_000, Some(0.1))
        );
        let person = |user: &pb::User| scored.people.iter().find(|p| p.user == user.name).unwrap();
        let r2 = person(&june.rep2.0);
        assert_eq!(r2.actual, 40_000);
        assert_eq!(r2.own_call.as_ref().map(|m| m.error), Some(-10_000));
        assert_eq!(
            r2.manager_call.as_ref().map(|m| m.forecast),
            Some(35_000),
            "the manager's adjustment"
        );
        assert_eq!(person(&june.rep1.0).actual, 10_000);
        assert_eq!(person(&june.manager.0).actual, 50_000);
    }
);

contract_test!(
    accuracy_and_backtests_wait_for_the_period_to_end_and_respect_scopes,
    |app| {
        let june = june(&app).await;
        let mut forecasts = app.forecasts().await;
        let quarter = dealdesk::domain::period::FiscalCalendar::default()
            .quarter_of(Utc::now().date_naive())
            .to_string();
        let status = forecasts
            .get_forecast_accuracy(authed(
                &june.manager.1,
                pb::GetForecastAccuracyRequest {
                    period: quarter.clone(),
                    scope: june.manager.0.name.clone(),
                },
            ))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "PERIOD_NOT_OVER");
        let status = forecasts
            .backtest_forecast(authed(
                &june.manager.1,
                pb::BacktestForecastRequest {
                    period: quarter,
                    scope: june.manager.0.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "PERIOD_NOT_OVER");
        let status = forecasts
            .get_forecast_accuracy(authed(
                &june.rep1.1,
                pb::GetForecastAccuracyRequest {
                    period: "2025-06".into(),
                    scope: june.manager.0.name.clone(),
                },
            ))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
        let status = forecasts
            .snapshot_forecast(authed(
                &june.rep1.1,
                pb::SnapshotForecastRequest {
                    period: "2025-13".into(),
                    scope: "team".into(),
                    currency_code: "usd".into(),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            ["period", "scope", "currency_code"]
        );
        // Default backtest days: every seven days from the 1st: 1, 8, 15, 22, 29.
        let backtest = forecasts
            .backtest_forecast(authed(
                &june.manager.1,
                pb::BacktestForecastRequest {
                    period: "2025-06".into(),
                    scope: june.manager.0.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let days: Vec<i32> = backtest
            .points
            .iter()
            .map(|p| p.as_of_date.unwrap().day)
            .collect();
        assert_eq!(days, [1, 8, 15, 22, 29]);
        assert_eq!(backtest.points.last().unwrap().closed_won, 50_000);
    }
);
