//! A team of more than 32 people is read in groups, not deal by deal: on SQLite from the whole
//! period packed with each deal's owner (`persistence/forecast/packed.rs`), its owners' kept per
//! owner; on PostgreSQL in grouped SQL. Its figures are its deals' own, per report, and a deal
//! of someone outside it is left out.

use super::*;

/// More reps than a small team (32 owners) holds, with their manager.
const REPS: usize = 33;

contract_test!(
    a_team_of_more_than_32_people_adds_up_its_own_deals_per_report,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(NOW))),
    |app| {
        let manager = app.user(Role::Manager, None).await;
        let mut reps = Vec::new();
        for _ in 0..REPS {
            reps.push(app.user(Role::Rep, Some(&manager.0)).await);
        }
        let outsider = app.user(Role::Rep, None).await;
        let pipeline = pipeline(&app).await;
        let pid = pipeline_uuid(&pipeline);
        let mut book = closed_book(pid, &june_closed(&reps[0].0, &reps[1].0));
        let created = "2025-06-02T09:00:00Z";
        let open = [
            (&reps[0].0, 100_000, "2025-07-25"),
            (&reps[7].0, 30_000, "2025-07-28"),
            (&reps[7].0, 45_000, "2025-07-14"),
            (&reps[32].0, 250_000, "2025-07-20"),
            (&outsider.0, 70_000, "2025-07-21"),
        ];
        for (owner, amount, close) in open {
            book.add(open_deal(pid, owner, amount, created, close, None));
        }
        book.insert(&app).await;
        let snapshot = compute_win_rates(&app, &pipeline.name).await;

        let f = forecast(&app, &manager.1, &manager.0.name).await;
        assert_eq!(f.method, pb::ForecastMethod::PeriodForecast as i32);
        // 10 July to 31 July: 21 days left; no deal was pushed.
        let expected = |amount: i64| weigh(amount, q_of(&snapshot, 21, amount, 0));
        for (rep, amounts) in [
            (&reps[0].0, vec![100_000]),
            (&reps[7].0, vec![30_000, 45_000]),
            (&reps[32].0, vec![250_000]),
            (&reps[1].0, vec![]),
        ] {
            let figures = report(&f, rep);
            assert_eq!(figures.open_deals, amounts.len() as i64, "{}", rep.name);
            assert_eq!(figures.open_pipeline, amounts.iter().sum::<i64>());
            assert_eq!(
                figures.period_forecast,
                amounts.iter().map(|&a| expected(a)).sum::<i64>()
            );
        }
        let totals = f.totals.unwrap();
        assert_eq!(totals.open_deals, 4);
        assert_eq!(totals.open_pipeline, 425_000);
        assert_eq!(
            totals.period_forecast,
            [100_000, 30_000, 45_000, 250_000]
                .map(expected)
                .iter()
                .sum::<i64>()
        );
        // The org has the outsider's deal too.
        let org = forecast(&app, &app.admin_token, "org")
            .await
            .totals
            .unwrap();
        assert_eq!(org.open_deals, 5);
        assert_eq!(
            org.period_forecast,
            totals.period_forecast + expected(70_000)
        );
    }
);
