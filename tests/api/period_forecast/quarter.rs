//! The org's forecast of a quarter, whose open deals SQLite reads packed month by month
//! (`persistence/forecast/packed.rs`) and PostgreSQL in groups, agrees deal for deal with the
//! team's deals read one by one: deals in each month of the quarter (added up across months),
//! one without an amount, one pushed into a later month three times, and one dated in the next
//! quarter (pulled in). This small book learns the same q in every segment: that each deal
//! lands in its segment is `cargo test --lib packed`'s to check.

use super::*;

contract_test!(
    the_org_forecast_of_a_quarter_agrees_with_its_deals_read_one_by_one,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(NOW))),
    |app| {
        let manager = app.user(Role::Manager, None).await;
        let rep1 = app.user(Role::Rep, Some(&manager.0)).await;
        let rep2 = app.user(Role::Rep, Some(&manager.0)).await;
        let pipeline = pipeline(&app).await;
        let pid = pipeline_uuid(&pipeline);
        let mut book = closed_book(pid, &june_closed(&rep1.0, &rep2.0));
        let created = "2025-06-02T09:00:00Z";
        for (owner, amount, close) in [
            (&rep1.0, 100_000, "2025-07-25"),
            (&rep2.0, 30_000, "2025-07-28"),
            (&rep1.0, 250_000, "2025-08-14"),
            (&rep2.0, 40_000, "2025-09-30"),
            (&rep1.0, 70_000, "2025-10-15"),
        ] {
            book.add(open_deal(pid, owner, amount, created, close, None));
        }
        // Without an amount, dated 20 August.
        let (mut deal, mut history, _) = open_deal(pid, &rep2.0, 1, created, "2025-08-20", None);
        deal.fields.amount = None;
        history[0].amount = None;
        let fields = rows_from_stage_history(&deal, &history);
        book.add((deal, history, fields));
        // First dated 20 June, then 15 July (on 15 June), 10 August (2 July), 10 September (5
        // July): three pushes into a later month.
        let (deal, history, mut fields) = open_deal(
            pid,
            &rep1.0,
            120_000,
            created,
            "2025-09-10",
            Some(("2025-06-15T09:00:00Z", "2025-06-20")),
        );
        let day = |d: &str| Some(FieldValue::CloseDate(d.parse().unwrap()));
        let first = fields.pop().unwrap();
        for (when, old, new) in [
            ("2025-06-15T09:00:00Z", "2025-06-20", "2025-07-15"),
            ("2025-07-02T09:00:00Z", "2025-07-15", "2025-08-10"),
            ("2025-07-05T09:00:00Z", "2025-08-10", "2025-09-10"),
        ] {
            fields.push(FieldHistoryEntry {
                at: at(when),
                old: day(old),
                new: day(new),
                ..first.clone()
            });
        }
        book.add((deal, history, fields));
        book.insert(&app).await;
        compute_win_rates(&app, &pipeline.name).await;

        let team = forecast_of(&app, &manager.1, &manager.0.name, "2025-Q3").await;
        assert_eq!(team.method, pb::ForecastMethod::PeriodForecast as i32);
        let totals = team.totals.unwrap();
        assert_eq!(totals.open_deals, 6);
        assert_eq!(totals.open_pipeline, 540_000);
        assert!(totals.period_forecast > 0, "{totals:?}");
        let org = forecast_of(&app, &app.admin_token, "org", "2025-Q3").await;
        assert_eq!(org.totals, team.totals);
        assert_eq!(org.by_stage, team.by_stage);
        assert_eq!(org.by_category, team.by_category);
        assert_eq!(org.pulled_in, team.pulled_in);
        assert_eq!(org.not_yet_created, team.not_yet_created);
    }
);
