//! Forecast snapshots, accuracy and backtests on a hand-built past period (June 2025) whose
//! answers are worked out in the comments.

use chrono::Utc;
use dealdesk::domain::deal::{
    Bant, Deal, DealFields, DealStatus, ForecastCategory, HistoryDirection, StageHistoryEntry,
};
use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use tonic::Code;

use crate::contract_test;
use crate::fixtures::{at, create_pipeline, day, domain_usd, insert_book, stage_at, usd};
use crate::helpers::{TestApp, assert_error, authed, user_id, violated_fields};

/// One stage `s1` (default 50%), won and lost.
pub(crate) async fn pipeline(app: &TestApp) -> pb::Pipeline {
    use pb::stage::Kind;
    create_pipeline(
        app,
        pb::Pipeline {
            display_name: "Past".into(),
            segment: pb::Segment::Smb as i32,
            stages: vec![
                stage_at("s1", 1, Kind::Open, 5_000),
                stage_at("won", 2, Kind::Won, 10_000),
                stage_at("lost", 3, Kind::Lost, 0),
            ],
            ..Default::default()
        },
    )
    .await
}

/// A deal created in s1 at `created` (closing on `close`), closed `outcome` at `closed`.
pub(crate) fn past_deal(
    pipeline: uuid::Uuid,
    owner: &pb::User,
    amount: i64,
    created: &str,
    close: &str,
    won: bool,
    closed: &str,
) -> (Deal, Vec<StageHistoryEntry>) {
    let fields = DealFields {
        display_name: format!("deal {amount}"),
        account: "Past Corp".into(),
        owner_id: user_id(&owner.name),
        amount: Some(domain_usd(amount)),
        // Booked on the day it closed.
        close_date: Some(at(closed).date_naive()),
        lead_source: None,
        next_step: String::new(),
        next_step_date: None,
        bant: Bant::default(),
        confirmed_budget: None,
        discount_bps: 0,
        forecast_category: ForecastCategory::Closed,
        contacts: vec![],
        qualification: vec![],
    };
    let deal = Deal {
        id: uuid::Uuid::now_v7(),
        pipeline_id: pipeline,
        stage_id: if won { "won" } else { "lost" }.into(),
        status: if won {
            DealStatus::Won
        } else {
            DealStatus::Lost
        },
        loss_reason: if won {
            String::new()
        } else {
            "No budget".into()
        },
        fields,
        created_at: at(created),
        updated_at: at(closed),
        stage_entered_at: at(closed),
        closed_at: Some(at(closed)),
        version: 1,
    };
    let entry = |from: Option<&str>, to: &str, when: &str, direction, close| StageHistoryEntry {
        sequence: 0,
        deal_id: deal.id,
        pipeline_id: pipeline,
        from_stage: from.map(str::to_string),
        to_stage: to.into(),
        at: at(when),
        actor: None,
        amount: Some(domain_usd(amount)),
        close_date: Some(close),
        direction,
        overridden: false,
        justification: String::new(),
    };
    let history = vec![
        entry(None, "s1", created, HistoryDirection::Create, day(close)),
        entry(
            Some("s1"),
            &deal.stage_id,
            closed,
            HistoryDirection::Close,
            at(closed).date_naive(),
        ),
    ];
    (deal, history)
}

/// One closed deal: owner, amount, created, close date then, won, closed.
pub(crate) type Closed<'a> = (
    &'a pb::User,
    i64,
    &'static str,
    &'static str,
    bool,
    &'static str,
);

/// June 2025's closed deals: A (rep 1, 100.00) won on the 10th; B (rep 2, 200.00) lost on the
/// 18th; C (rep 2, 400.00, created on the 5th) won on the 24th.
pub(crate) fn june_closed<'a>(rep1: &'a pb::User, rep2: &'a pb::User) -> Vec<Closed<'a>> {
    vec![
        (
            rep1,
            10_000,
            "2025-05-20T09:00:00Z",
            "2025-06-15",
            true,
            "2025-06-10T12:00:00Z",
        ),
        (
            rep2,
            20_000,
            "2025-05-25T09:00:00Z",
            "2025-06-20",
            false,
            "2025-06-18T12:00:00Z",
        ),
        (
            rep2,
            40_000,
            "2025-06-05T09:00:00Z",
            "2025-06-25",
            true,
            "2025-06-24T12:00:00Z",
        ),
    ]
}

/// The deals `closed` of `pipeline` ([`past_deal`]) with their stage and field history.
pub(crate) fn closed_book(
    pipeline: uuid::Uuid,
    closed: &[Closed<'_>],
) -> (
    Vec<Deal>,
    Vec<StageHistoryEntry>,
    Vec<dealdesk::domain::deal_history::FieldHistoryEntry>,
) {
    let (mut deals, mut history, mut fields) = (Vec::new(), Vec::new(), Vec::new());
    for &(owner, amount, created, close, won, when) in closed {
        let (deal, rows) = past_deal(pipeline, owner, amount, created, close, won, when);
        fields.extend(dealdesk::domain::deal_history::rows_from_stage_history(
            &deal, &rows,
        ));
        deals.push(deal);
        history.extend(rows);
    }
    (deals, history, fields)
}

struct June {
    pipeline: String,
    /// The win rates of 2025 (with their period rates).
    snapshot: pb::WinRateSnapshot,
    manager: (pb::User, String),
    rep1: (pb::User, String),
    rep2: (pb::User, String),
}

/// Manager M over reps R1 and R2. June 2025: A (R1, 100.00) won on the 10th; B (R2, 200.00)
/// lost on the 18th; C (R2, 400.00, created on the 5th) won on the 24th. Actual: 500.00.
/// Win rates over 2025: s1's cohort is A, B, C: n 3, wins 2, smoothed (2 + 10 x 0.5) / 13 = 7/13.
async fn june(app: &TestApp) -> June {
    let manager = app.user(Role::Manager, None).await;
    let rep1 = app.user(Role::Rep, Some(&manager.0)).await;
    let rep2 = app.user(Role::Rep, Some(&manager.0)).await;
    let pipeline = pipeline(app).await;
    let pid = uuid::Uuid::parse_str(pipeline.name.trim_start_matches("pipelines/")).unwrap();
    let (deals, mut history, fields) = closed_book(pid, &june_closed(&rep1.0, &rep2.0));
    history.sort_by_key(|h| h.at);
    insert_book(app, &deals, &history, &fields).await;
    let snapshot = app
        .forecasts()
        .await
        .compute_win_rates(authed(
            &app.admin_token,
            pb::ComputeWinRatesRequest {
                pipeline: pipeline.name.clone(),
                window_start_date: Some(dealdesk::proto::google::r#type::Date {
                    year: 2025,
                    month: 1,
                    day: 1,
                }),
                window_end_date: Some(dealdesk::proto::google::r#type::Date {
                    year: 2025,
                    month: 12,
                    day: 31,
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    June {
        pipeline: pipeline.name.clone(),
        snapshot,
        manager,
        rep1,
        rep2,
    }
}

fn method(
    methods: &[pb::MethodAccuracy],
    which: pb::method_accuracy::Method,
) -> (i64, i64, Option<f64>) {
    let m = methods
        .iter()
        .find(|m| m.method == which as i32)
        .expect("method reported");
    (
        m.forecast,
        m.error,
        m.absolute_percentage_error.map(|a| (a * 1e6).round() / 1e6),
    )
}

contract_test!(
    a_snapshot_learns_period_rates_from_the_deals_open_in_each_ended_period,
    |app| {
        use pb::period_rate_table::Kind;
        let june = june(&app).await;
        // Learning at 2026-01-01, weekly instants back to 2025-01-01. In June 2025: on the 5th
        // A (won 10th) and B (lost 18th) are open, 25 days left; on the 12th B and C (won
        // 24th), 18 days; on the 19th C, 11 days; on the 26th nothing is open. s1's rate is
        // 7/13 and every won deal booked in its period: priors 7/13.
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
        // 14-29 days: A 1, B 0, B 0, C 1: q = (2 + 10 x 7/13) / 14 = 96/182.
        assert_eq!(cell(&months, 14, None), Some((4, 3, 2, 0.527473)));
        // 7-13 days: C 1: q = (1 + 70/13) / 11 = 83/143.
        assert_eq!(cell(&months, 7, None), Some((1, 1, 1, 0.58042)));
        // C alone in the largest band, shrunk toward its bucket: (1 + 10 x 96/182) / 11.
        assert_eq!(cell(&months, 14, Some(2)), Some((1, 1, 1, 0.57043)));
        assert_eq!(
            cell(&months, 0, None),
            None,
            "nothing open in the last week"
        );
        // A quarter (Q2) also sees A on 22 and 29 May and B on the 29th, 30-59 days left:
        // (2 + 70/13) / 13 = 96/169.
        let quarters = table(Kind::Quarter);
        assert_eq!(cell(&quarters, 30, None), Some((3, 2, 1, 0.568047)));
        assert_eq!(cell(&quarters, 14, None), Some((4, 3, 2, 0.527473)));
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
