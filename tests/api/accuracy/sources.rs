//! A backtest point says where the period's revenue after its day came from: deals dated in the
//! period, dated later (pulled in), dated earlier (overdue), not created yet, or closed then; and
//! how the period forecast weighs the deals dated off the period.

use super::*;
use pb::method_accuracy::Method;

/// Inserts the closed deals `closed` into the pipeline `pid` with their histories.
async fn insert_closed(app: &TestApp, pid: uuid::Uuid, closed: &[Closed<'_>]) {
    closed_book(pid, closed).insert(app).await;
}

/// BacktestForecast of June 2025 for `scope` at the June days `days`, as `token`.
async fn backtest_june(app: &TestApp, token: &str, scope: &str, days: &[u32]) -> pb::Backtest {
    let date = |d: u32| dealdesk::proto::google::r#type::Date {
        year: 2025,
        month: 6,
        day: d as i32,
    };
    app.forecasts()
        .await
        .backtest_forecast(authed(
            token,
            pb::BacktestForecastRequest {
                period: "2025-06".into(),
                scope: scope.to_string(),
                as_of_dates: days.iter().map(|&d| date(d)).collect(),
                currency_code: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

contract_test!(
    a_backtest_point_splits_what_the_period_booked_after_its_day_by_what_each_deal_was_then,
    |app| {
        let manager = app.user(Role::Manager, None).await;
        let rep = app.user(Role::Rep, Some(&manager.0)).await;
        let pipeline = pipeline(&app).await;
        let pid = pipeline_uuid(&pipeline);
        let r = &rep.0;
        // Owner, amount, created, close date at creation, won, closed (the booking day).
        let closed: Vec<Closed<'_>> = vec![
            // Booked on 3 June: already booked on the 8th.
            (
                r,
                1_000,
                "2025-05-01T09:00:00Z",
                "2025-06-03",
                true,
                "2025-06-03T12:00:00Z",
            ),
            // Dated 20 June, won on the 10th: dated in the period.
            (
                r,
                20_000,
                "2025-05-02T09:00:00Z",
                "2025-06-20",
                true,
                "2025-06-10T12:00:00Z",
            ),
            // Dated 15 July, won on 20 June: pulled in.
            (
                r,
                300_000,
                "2025-05-03T09:00:00Z",
                "2025-07-15",
                true,
                "2025-06-20T12:00:00Z",
            ),
            // Dated 30 May (overdue on the 8th), won on 12 June: dated earlier.
            (
                r,
                4_000_000,
                "2025-05-04T09:00:00Z",
                "2025-05-30",
                true,
                "2025-06-12T12:00:00Z",
            ),
            // Created on the 9th, won on the 25th: not created yet on the 8th.
            (
                r,
                50_000_000,
                "2025-06-09T09:00:00Z",
                "2025-06-30",
                true,
                "2025-06-25T12:00:00Z",
            ),
            // Dated in June and lost: books nothing.
            (
                r,
                7,
                "2025-05-05T09:00:00Z",
                "2025-06-18",
                false,
                "2025-06-18T12:00:00Z",
            ),
            // Won in July: not the period's.
            (
                r,
                8,
                "2025-05-06T09:00:00Z",
                "2025-06-28",
                true,
                "2025-07-02T12:00:00Z",
            ),
        ];
        insert_closed(&app, pid, &closed).await;
        let backtest = backtest_june(&app, &manager.1, &manager.0.name, &[8, 22]).await;
        assert_eq!(backtest.actual, 54_321_000);
        let first = &backtest.points[0];
        assert_eq!(first.closed_won, 1_000);
        assert_eq!(
            first.booked_after,
            Some(pb::BookedAfter {
                dated_in_period: 20_000,
                dated_later: 300_000,
                dated_earlier: 4_000_000,
                not_yet_created: 50_000_000,
                closed_then: 0,
            })
        );
        // On the 22nd only the deal created on the 9th (dated 30 June) is still to book.
        let second = &backtest.points[1];
        assert_eq!(second.closed_won, 4_321_000);
        assert_eq!(
            second.booked_after,
            Some(pb::BookedAfter {
                dated_in_period: 50_000_000,
                ..Default::default()
            })
        );
        // Another manager's empty subtree booked nothing.
        let other = app.user(Role::Manager, None).await;
        let empty = backtest_june(&app, &other.1, &other.0.name, &[8]).await;
        assert_eq!(empty.actual, 0);
        assert_eq!(
            empty.points[0].booked_after,
            Some(pb::BookedAfter::default())
        );
    }
);

contract_test!(
    a_backtest_point_weighs_the_next_periods_open_deals_at_the_pull_in_rate_learned_before_it,
    |app| {
        let manager = app.user(Role::Manager, None).await;
        let rep = app.user(Role::Rep, Some(&manager.0)).await;
        let pipeline = pipeline(&app).await;
        let pid = pipeline_uuid(&pipeline);
        let r = &rep.0;
        let closed: Vec<Closed<'_>> = vec![
            // P: dated 10 June, won early on 20 May (pulled into May).
            (
                r,
                10_000,
                "2025-05-01T09:00:00Z",
                "2025-06-10",
                true,
                "2025-05-20T12:00:00Z",
            ),
            // S: dated 10 June, lost on 1 June at noon (after the point).
            (
                r,
                10_000,
                "2025-05-01T09:00:00Z",
                "2025-06-10",
                false,
                "2025-06-01T12:00:00Z",
            ),
            // N: dated 15 July, won early on 10 June (pulled into June).
            (
                r,
                100_000,
                "2025-05-15T09:00:00Z",
                "2025-07-15",
                true,
                "2025-06-10T12:00:00Z",
            ),
        ];
        insert_closed(&app, pid, &closed).await;
        let backtest = backtest_june(&app, &manager.1, &manager.0.name, &[1]).await;
        assert_eq!(backtest.actual, 100_000);
        let point = &backtest.points[0];
        // N is open on 1 June, dated in the next month: not an open deal of June's.
        assert_eq!(point.open_deals, 1);
        assert_eq!(point.booked_after.unwrap().dated_later, 100_000);
        // Learned as of 1 June from May's weekly instants, when P and S were dated in June (the
        // month after May): P booked all of itself early, S (open then) nothing, so the pull-in
        // share is 1 and the prior s1's classic rate learned then, (1 + 10 x 0.5) / 11 = 6/11
        // (P alone had closed). On 1 June 29 days are left: the bucket from 14 days, where P
        // and S were each seen on 11 and 4 May (20 and 27 days left), P booking 1 each time:
        // q = (2 + 10 x 6/11) / (4 + 10) = 82/154, and N weighs 100,000 x 82/154 = 53,246.75.
        assert_eq!(point.pulled_in, 53_247);
        // The static defaults and the classic rates weigh no deal dated in July.
        // S alone, at s1's default (0.5) and classic rate (6/11).
        assert_eq!(method_forecast(point, Method::DefaultProbabilities), 5_000);
        assert_eq!(method_forecast(point, Method::WeightedPipeline), 5_455);
        assert!(method_forecast(point, Method::PeriodForecast) >= 53_247);
    }
);

contract_test!(
    a_backtest_point_weighs_overdue_open_deals_at_the_overdue_rate_learned_before_it,
    |app| {
        let manager = app.user(Role::Manager, None).await;
        let rep = app.user(Role::Rep, Some(&manager.0)).await;
        let pipeline = pipeline(&app).await;
        let pid = pipeline_uuid(&pipeline);
        let r = &rep.0;
        let closed: Vec<Closed<'_>> = vec![
            // A: dated 20 April, left open past it, won on 20 May (overdue, won in May).
            (
                r,
                10_000,
                "2025-04-01T09:00:00Z",
                "2025-04-20",
                true,
                "2025-05-20T12:00:00Z",
            ),
            // B: dated 20 April, lost on 1 June at noon (after the point).
            (
                r,
                10_000,
                "2025-04-01T09:00:00Z",
                "2025-04-20",
                false,
                "2025-06-01T12:00:00Z",
            ),
            // N: dated 25 May, still open on 1 June, won on 10 June.
            (
                r,
                100_000,
                "2025-05-15T09:00:00Z",
                "2025-05-25",
                true,
                "2025-06-10T12:00:00Z",
            ),
        ];
        insert_closed(&app, pid, &closed).await;
        let backtest = backtest_june(&app, &manager.1, &manager.0.name, &[1]).await;
        assert_eq!(backtest.actual, 100_000);
        let point = &backtest.points[0];
        // B and N are open on 1 June, dated before it: no open deal of June's.
        assert_eq!(point.open_deals, 0);
        assert_eq!(point.booked_after.unwrap().dated_earlier, 100_000);
        assert_eq!(point.pulled_in, 0);
        // Learned as of 1 June from May's weekly instants, when A and B were overdue: A was
        // seen on 4, 11 and 18 May and booked all of itself in May, B on 4, 11, 18 and 25 May
        // and nothing. The overdue rate every cell leans on is 30,000 of 70,000 = 3/7. On 1 June
        // 29 days are left: the bucket from 14 days, where each was seen on 4 and 11 May (27
        // and 20 days left): q = (2 + 10 x 3/7) / (4 + 10) = 22/49; N weighs 100,000 x 22/49 =
        // 44,897.96 and B 10,000 x 22/49 = 4,489.80, each rounded.
        assert_eq!(point.overdue, 44_898 + 4_490);
        // The static defaults and the classic rates weigh no overdue deal.
        assert_eq!(method_forecast(point, Method::DefaultProbabilities), 0);
        assert_eq!(method_forecast(point, Method::WeightedPipeline), 0);
        assert!(method_forecast(point, Method::PeriodForecast) >= 44_898 + 4_490);
    }
);

/// What `method` forecast at `point`.
fn method_forecast(point: &pb::BacktestPoint, method: Method) -> i64 {
    point
        .methods
        .iter()
        .find(|p| p.method == method as i32)
        .unwrap()
        .forecast
}
