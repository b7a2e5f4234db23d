//! GetForecast's pulled-in line: open deals dated in the next month weighed at the pull-in rate
//! the snapshot learned, inside `expected`, in each report's figures and in a forecast snapshot.

use super::*;

contract_test!(
    get_forecast_adds_the_next_periods_open_deals_at_their_pull_in_rate,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(NOW))),
    |app| {
        let manager = app.user(Role::Manager, None).await;
        let rep1 = app.user(Role::Rep, Some(&manager.0)).await;
        let rep2 = app.user(Role::Rep, Some(&manager.0)).await;
        let pipeline = pipeline(&app).await;
        let pid = pipeline_uuid(&pipeline);
        // X (rep 1, 100.00) dated 20 July, won early on 20 June (pulled in); Y (rep 2, 100.00)
        // dated 20 July, lost on 5 July. At the June instants both were dated in the next month.
        let closed = [
            (
                &rep1.0,
                10_000,
                "2025-06-01T09:00:00Z",
                "2025-07-20",
                true,
                "2025-06-20T12:00:00Z",
            ),
            (
                &rep2.0,
                10_000,
                "2025-06-01T09:00:00Z",
                "2025-07-20",
                false,
                "2025-07-05T12:00:00Z",
            ),
        ];
        let mut book = closed_book(pid, &closed);
        // Open: O (rep 1, 1,000.00) closing 25 July; N (rep 2, 400.00) closing 15 August.
        for (owner, amount, created, close) in [
            (&rep1.0, 100_000, "2025-07-01T09:00:00Z", "2025-07-25"),
            (&rep2.0, 40_000, "2025-06-02T09:00:00Z", "2025-08-15"),
        ] {
            book.add(open_deal(pid, owner, amount, created, close, None));
        }
        book.insert(&app).await;

        // Without period rates nothing is pulled in.
        let classic = forecast(&app, &manager.1, &manager.0.name).await;
        assert_eq!(classic.pulled_in, None);
        assert_eq!(classic.totals.unwrap().pulled_in, 0);

        let snapshot = compute_win_rates(&app, &pipeline.name).await;
        let months = snapshot
            .period_rates
            .iter()
            .find(|t| t.kind == pb::period_rate_table::Kind::Month as i32)
            .unwrap();
        // Of what X and Y were won for, X's all was booked early: the pull-in share is 1.
        assert_eq!(months.pull_in_share, 1.0);
        // 10 July has 21 days left in July: the bucket from 14 days. X and Y were seen on 12
        // and 5 June (18 and 25 days left), X booking all of its amount.
        let cell = months
            .pulled_in_cells
            .iter()
            .find(|c| c.stage == "s1" && c.horizon_from_days == 14)
            .expect("a pull-in cell of s1 from 14 days");
        assert_eq!(
            (cell.observations, cell.deals, cell.deals_won_in_period),
            (4, 2, 1)
        );
        assert_eq!(cell.raw_rate, 0.5);
        assert_eq!(cell.size_band, None);
        let pulled = weigh(40_000, cell.q);
        assert!(pulled > 0);

        let f = forecast(&app, &manager.1, &manager.0.name).await;
        assert_eq!(f.method, pb::ForecastMethod::PeriodForecast as i32);
        assert_eq!(
            f.pulled_in,
            Some(pb::OffPeriodDeals {
                open_deals: 1,
                amount: 40_000,
                expected: pulled,
            })
        );
        let totals = f.totals.unwrap();
        assert_eq!(totals.pulled_in, pulled);
        // N is no open deal of July's: only O is.
        assert_eq!(totals.open_deals, 1);
        assert_eq!(totals.open_pipeline, 100_000);
        assert_eq!(
            totals.expected,
            totals.closed_won + totals.period_forecast + pulled + totals.not_yet_created
        );
        assert_eq!(
            (report(&f, &rep1.0).pulled_in, report(&f, &rep2.0).pulled_in),
            (0, pulled)
        );
        let range = f.range.unwrap();
        assert!(
            range.p10 <= range.p50 && range.p50 <= range.p90,
            "{range:?}"
        );
        // The org's forecast (open deals added up in the database in groups) agrees.
        let org = forecast(&app, &app.admin_token, "org").await;
        assert_eq!(org.totals, f.totals);
        assert_eq!(org.pulled_in, f.pulled_in);
        // A forecast snapshot keeps the pulled-in part, stored as taken.
        let (taken, stored) = org_snapshot(&app, "2025-07").await;
        assert_eq!(taken.totals.unwrap().pulled_in, pulled);
        assert_eq!(stored, vec![taken]);
    }
);
