//! GetForecast's overdue line: open deals dated before the period (their date passed while they
//! stayed open) weighed at the overdue rate the snapshot learned, inside `expected`, in each
//! report's figures, in the org's grouped read and in a forecast snapshot.

use super::*;
use crate::accuracy::Closed;

/// X (`rep1`, 100.00) dated 20 May 2025, left open past it and won on 20 June; Y (`rep2`,
/// 100.00) dated 20 May, lost on 5 July. At the June instants both were overdue.
pub(super) fn overdue_in_june<'a>(rep1: &'a pb::User, rep2: &'a pb::User) -> [Closed<'a>; 2] {
    [
        (
            rep1,
            10_000,
            "2025-05-01T09:00:00Z",
            "2025-05-20",
            true,
            "2025-06-20T12:00:00Z",
        ),
        (
            rep2,
            10_000,
            "2025-05-01T09:00:00Z",
            "2025-05-20",
            false,
            "2025-07-05T12:00:00Z",
        ),
    ]
}

contract_test!(
    get_forecast_adds_overdue_open_deals_at_their_overdue_rate,
    configure = |a: Application| a.with_clock(Clock::starting_at(at(NOW))),
    |app| {
        let manager = app.user(Role::Manager, None).await;
        let rep1 = app.user(Role::Rep, Some(&manager.0)).await;
        let rep2 = app.user(Role::Rep, Some(&manager.0)).await;
        let pipeline = pipeline(&app).await;
        let pid = pipeline_uuid(&pipeline);
        let mut book = closed_book(pid, &overdue_in_june(&rep1.0, &rep2.0));
        // Open: O (rep 1, 1,000.00) closing 25 July; N (rep 2, 400.00) dated 15 June, overdue;
        // M (rep 1, 700.00) created on 2 July with a date more than a year before July: in no
        // term.
        for (owner, amount, created, close) in [
            (&rep1.0, 100_000, "2025-07-01T09:00:00Z", "2025-07-25"),
            (&rep2.0, 40_000, "2025-05-02T09:00:00Z", "2025-06-15"),
            (&rep1.0, 70_000, "2025-07-02T09:00:00Z", "2024-06-30"),
        ] {
            book.add(open_deal(pid, owner, amount, created, close, None));
        }
        book.insert(&app).await;

        // Without period rates nothing overdue counts.
        let classic = forecast(&app, &manager.1, &manager.0.name).await;
        assert_eq!(classic.overdue, None);
        assert_eq!(classic.totals.unwrap().overdue, 0);

        let snapshot = compute_win_rates(&app, &pipeline.name).await;
        let months = snapshot
            .period_rates
            .iter()
            .find(|t| t.kind == pb::period_rate_table::Kind::Month as i32)
            .unwrap();
        // Of what X and Y were won for, all of X's was booked in the period it was overdue in:
        // the overdue share is 1. Nothing dated later was ever booked early.
        assert_eq!(months.overdue_share, 1.0);
        // Every overdue cell leans on the pipeline's overdue rate: X's three observations
        // booked all, Y's four nothing.
        assert_eq!(months.overdue_prior, 3.0 / 7.0);
        assert_eq!(months.pull_in_share, 0.0);
        // 10 July has 21 days left in July: the bucket from 14 days. X and Y were overdue on 5
        // and 12 June (25 and 18 days left), X booking all of its amount in June.
        let cell = months
            .overdue_cells
            .iter()
            .find(|c| c.stage == "s1" && c.horizon_from_days == 14)
            .expect("an overdue cell of s1 from 14 days");
        assert_eq!(cell.prior, 3.0 / 7.0);
        assert_eq!(
            (cell.observations, cell.deals, cell.deals_won_in_period),
            (4, 2, 1)
        );
        assert_eq!(cell.raw_rate, 0.5);
        assert_eq!(cell.size_band, None);
        // 19 June (11 days left): X overdue and won in June, Y overdue; 26 June: Y alone.
        let week = |from| {
            let c = months
                .overdue_cells
                .iter()
                .find(|c| c.horizon_from_days == from);
            c.map(|c| (c.observations, c.deals_won_in_period))
        };
        assert_eq!((week(7), week(0)), (Some((2, 1)), Some((1, 0))));
        let overdue = weigh(40_000, cell.q);
        assert!(overdue > 0);

        let f = forecast(&app, &manager.1, &manager.0.name).await;
        assert_eq!(f.method, pb::ForecastMethod::PeriodForecast as i32);
        assert_eq!(
            f.overdue,
            Some(pb::OffPeriodDeals {
                open_deals: 1,
                amount: 40_000,
                expected: overdue,
            })
        );
        // No snapshot saw a deal booked early: the next month's deals are not read.
        assert_eq!(f.pulled_in, Some(pb::OffPeriodDeals::default()));
        let totals = f.totals.unwrap();
        assert_eq!(totals.overdue, overdue);
        // N and M are no open deals of July's: only O is.
        assert_eq!(totals.open_deals, 1);
        assert_eq!(totals.open_pipeline, 100_000);
        assert_eq!(
            totals.expected,
            totals.closed_won + totals.period_forecast + overdue + totals.not_yet_created
        );
        assert_eq!(
            (report(&f, &rep1.0).overdue, report(&f, &rep2.0).overdue),
            (0, overdue)
        );
        let range = f.range.unwrap();
        assert!(
            range.p10 <= range.p50 && range.p50 <= range.p90,
            "{range:?}"
        );
        // The org's forecast (open deals added up in the database in groups) agrees.
        let org = forecast(&app, &app.admin_token, "org").await;
        assert_eq!(org.totals, f.totals);
        assert_eq!(org.overdue, f.overdue);
        // A forecast snapshot keeps the overdue part, stored as taken.
        let (taken, stored) = org_snapshot(&app, "2025-07").await;
        assert_eq!(taken.totals.unwrap().overdue, overdue);
        assert_eq!(stored, vec![taken]);
    }
);
