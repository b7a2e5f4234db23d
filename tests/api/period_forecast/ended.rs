//! GetForecast of a period that has ended, and of one that has not begun: nothing learned books
//! in an ended period any more (its forecast is what it booked), and a future period's overdue
//! line counts only deals whose date has passed. The clock stands at 10 July 2025.

use super::*;

/// A manager's team with a book the snapshot learns overdue rates from: X and Y
/// ([`super::overdue::overdue_in_june`]), overdue at the June instants, X won in June. Open: P (rep 1, 500.00) dated 25 June; O (rep 1, 1,000.00)
/// dated 25 July; N (rep 2, 400.00) dated 15 May. Returns the team and the month table.
async fn team_with_overdue_rates(app: &TestApp) -> (Team, pb::PeriodRateTable) {
    let manager = app.user(Role::Manager, None).await;
    let rep1 = app.user(Role::Rep, Some(&manager.0)).await;
    let rep2 = app.user(Role::Rep, Some(&manager.0)).await;
    let pipeline = pipeline(app).await;
    let pid = pipeline_uuid(&pipeline);
    let mut book = closed_book(pid, &super::overdue::overdue_in_june(&rep1.0, &rep2.0));
    for (owner, amount, created, close) in [
        (&rep1.0, 50_000, "2025-06-01T09:00:00Z", "2025-06-25"),
        (&rep1.0, 100_000, "2025-07-01T09:00:00Z", "2025-07-25"),
        (&rep2.0, 40_000, "2025-05-02T09:00:00Z", "2025-05-15"),
    ] {
        book.add(open_deal(pid, owner, amount, created, close, None));
    }
    book.insert(app).await;
    let snapshot = compute_win_rates(app, &pipeline.name).await;
    let months = snapshot
        .period_rates
        .into_iter()
        .find(|t| t.kind == pb::period_rate_table::Kind::Month as i32)
        .unwrap();
    (
        Team {
            manager,
            rep1,
            rep2,
        },
        months,
    )
}

/// A manager and two reps, each with their token.
struct Team {
    manager: (pb::User, String),
    rep1: (pb::User, String),
    rep2: (pb::User, String),
}

contract_test!(
    an_ended_periods_forecast_is_what_it_booked,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(NOW))),
    |app| {
        let (Team { manager, .. }, months) = team_with_overdue_rates(&app).await;
        assert!(months.overdue_share > 0.0);

        let f = forecast_of(&app, &manager.1, &manager.0.name, "2025-06").await;
        assert_eq!(f.method, pb::ForecastMethod::PeriodForecast as i32);
        let totals = f.totals.unwrap();
        // X booked on 20 June; P, dated in June and still open, can book in it no more; O
        // (dated in July) is not pulled in and N (overdue) not revived into a June that ended.
        assert_eq!(totals.closed_won, 10_000);
        assert_eq!(
            (
                totals.period_forecast,
                totals.pulled_in,
                totals.overdue,
                totals.not_yet_created
            ),
            (0, 0, 0, 0)
        );
        assert_eq!(totals.expected, 10_000);
        assert_eq!(f.pulled_in, Some(pb::OffPeriodDeals::default()));
        assert_eq!(f.overdue, Some(pb::OffPeriodDeals::default()));
        // The classic figure is the CRM's view and still weighs P, June's one open deal.
        assert_eq!((totals.open_deals, totals.open_pipeline), (1, 50_000));
        assert!(totals.weighted_pipeline > 0);
        assert_eq!(
            totals.classic_expected,
            totals.closed_won + totals.weighted_pipeline
        );
        let range = f.range.unwrap();
        assert_eq!((range.p10, range.p50, range.p90), (10_000, 10_000, 10_000));
        // The org's forecast (open deals added up in the database in groups) agrees.
        let org = forecast_of(&app, &app.admin_token, "org", "2025-06").await;
        assert_eq!(org.totals, f.totals);
        assert_eq!(org.range, f.range);
    }
);

contract_test!(
    a_future_periods_overdue_line_counts_only_deals_whose_date_has_passed,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(NOW))),
    |app| {
        let (
            Team {
                manager,
                rep1,
                rep2,
            },
            months,
        ) = team_with_overdue_rates(&app).await;
        // August ends 52 days from 10 July: the bucket from 30 days, where no overdue deal was
        // ever seen (June's instants had at most 25 days left), so each overdue deal weighs the
        // pipeline's overdue rate: at the four June instants X (three, won in June: 100.00
        // each), Y (four) and N (four, 400.00 each) were overdue: 300 / (300 + 400 + 1,600).
        assert!(
            !months
                .overdue_cells
                .iter()
                .any(|c| c.horizon_from_days == 30)
        );
        let q = months.overdue_prior;
        assert_eq!(q, 3.0 / 23.0);

        let f = forecast_of(&app, &manager.1, &manager.0.name, "2025-08").await;
        // N's date (15 May) has passed: overdue. P (25 June) has passed too, but O (25 July)
        // has not: it may still close in July, and is in no term of August's.
        let expected = weigh(50_000, q) + weigh(40_000, q);
        assert_eq!(
            f.overdue,
            Some(pb::OffPeriodDeals {
                open_deals: 2,
                amount: 90_000,
                expected,
            })
        );
        let totals = f.totals.unwrap();
        assert_eq!(totals.overdue, expected);
        assert_eq!((totals.open_deals, totals.closed_won), (0, 0));
        assert_eq!(
            (report(&f, &rep1.0).overdue, report(&f, &rep2.0).overdue),
            (weigh(50_000, q), weigh(40_000, q))
        );
        let org = forecast_of(&app, &app.admin_token, "org", "2025-08").await;
        assert_eq!(org.overdue, f.overdue);
        assert_eq!(org.totals, f.totals);
    }
);

contract_test!(
    without_period_rates_an_ended_periods_forecast_is_still_what_it_booked,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(NOW))),
    |app| {
        let manager = app.user(Role::Manager, None).await;
        let rep = app.user(Role::Rep, Some(&manager.0)).await;
        let pipeline = pipeline(&app).await;
        let pid = pipeline_uuid(&pipeline);
        // W won on 20 June for 100.00; P (500.00) dated 25 June and still open.
        let won = [(
            &rep.0,
            10_000,
            "2025-05-01T09:00:00Z",
            "2025-06-20",
            true,
            "2025-06-20T12:00:00Z",
        )];
        let mut book = closed_book(pid, &won);
        book.add(open_deal(
            pid,
            &rep.0,
            50_000,
            "2025-06-01T09:00:00Z",
            "2025-06-25",
            None,
        ));
        book.insert(&app).await;
        for scope in [manager.0.name.as_str(), "org"] {
            let token = match scope {
                "org" => &app.admin_token,
                _ => &manager.1,
            };
            let f = forecast_of(&app, token, scope, "2025-06").await;
            assert_eq!(f.method, pb::ForecastMethod::StageWeighted as i32);
            let totals = f.totals.unwrap();
            // The classic figure weighs P at its stage's rate; `expected` is what June booked.
            assert!(totals.weighted_pipeline > 0);
            assert_eq!(totals.classic_expected, 10_000 + totals.weighted_pipeline);
            assert_eq!((totals.expected, totals.period_forecast), (10_000, 0));
            let range = f.range.unwrap();
            assert_eq!((range.p10, range.p90), (10_000, 10_000));
        }
    }
);
