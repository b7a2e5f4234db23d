//! GetForecast: weighting by the learned rates, roll-ups, scopes and bad requests.

use super::*;

/// The field-by-field sum of several scopes' figures.
fn sum(all: &[pb::ForecastFigures]) -> pb::ForecastFigures {
    all.iter()
        .fold(pb::ForecastFigures::default(), |a, f| pb::ForecastFigures {
            closed_won: a.closed_won + f.closed_won,
            weighted_pipeline: a.weighted_pipeline + f.weighted_pipeline,
            expected: a.expected + f.expected,
            commit: a.commit + f.commit,
            best_case: a.best_case + f.best_case,
            pipeline: a.pipeline + f.pipeline,
            omitted: a.omitted + f.omitted,
            commit_forecast: a.commit_forecast + f.commit_forecast,
            best_case_forecast: a.best_case_forecast + f.best_case_forecast,
            open_pipeline: a.open_pipeline + f.open_pipeline,
            open_deals: a.open_deals + f.open_deals,
            period_forecast: a.period_forecast + f.period_forecast,
            not_yet_created: a.not_yet_created + f.not_yet_created,
            pulled_in: a.pulled_in + f.pulled_in,
            overdue: a.overdue + f.overdue,
            classic_expected: a.classic_expected + f.classic_expected,
        })
}

fn report<'a>(forecast: &'a pb::Forecast, user: &Person) -> &'a pb::ForecastFigures {
    forecast
        .by_report
        .iter()
        .find(|r| r.user == user.name())
        .and_then(|r| r.figures.as_ref())
        .unwrap_or_else(|| panic!("no by_report entry for {}", user.name()))
}

/// The users of `by_report`: the scope's own user first, then the direct reports by display
/// name, then id.
#[track_caller]
fn assert_reports(forecast: &pb::Forecast, first: &Person, reports: &[&Person]) {
    let users: Vec<&str> = forecast.by_report.iter().map(|r| r.user.as_str()).collect();
    assert_eq!(users.first().copied(), Some(first.user.name.as_str()));
    let mut expected: Vec<&Person> = reports.to_vec();
    expected.sort_by(|a, b| {
        (&a.user.display_name, &a.user.name).cmp(&(&b.user.display_name, &b.user.name))
    });
    let expected: Vec<&str> = expected.iter().map(|p| p.user.name.as_str()).collect();
    assert_eq!(
        users[1..],
        expected,
        "one entry per direct report, by display name then id"
    );
    let parts: Vec<pb::ForecastFigures> = forecast
        .by_report
        .iter()
        .map(|r| r.figures.unwrap())
        .collect();
    assert_eq!(
        sum(&parts),
        forecast.totals.unwrap(),
        "by_report sums to the totals"
    );
}

// ---------------------------------------------------------------------------------------------
// Forecast visibility.

contract_test!(a_forecast_scope_is_visible_as_deals_are, |app| {
    let t = team(&app).await;
    let month = this_month();
    let ok = |token: &str, who: &str| {
        let (app, token, request) = (&app, token.to_string(), scope(&month, who));
        let who = who.to_string();
        async move {
            let f = try_forecast(app, &token, request).await;
            assert!(f.is_ok(), "{who}: {f:?}");
        }
    };
    let denied = |token: &str, who: &str| {
        let (app, token, request) = (&app, token.to_string(), scope(&month, who));
        async move {
            let status = try_forecast(app, &token, request).await.unwrap_err();
            assert_error(&status, Code::PermissionDenied, "SCOPE_NOT_VISIBLE");
        }
    };

    // A rep: only themselves.
    ok(&t.rep().token, &t.rep().name()).await;
    denied(&t.rep().token, &t.second_rep().name()).await;
    denied(&t.rep().token, &t.manager.name()).await;
    denied(&t.rep().token, "org").await;

    // A manager: themselves and their subtree, not a peer manager's nor anyone above.
    ok(&t.manager.token, &t.manager.name()).await;
    ok(&t.manager.token, &t.rep().name()).await;
    ok(&t.manager.token, &t.second_rep().name()).await;
    denied(&t.manager.token, &t.peer_manager.name()).await;
    denied(&t.manager.token, &t.peer().name()).await;
    denied(&t.manager.token, &t.leader.name()).await;
    denied(&t.manager.token, "org").await;

    // A leader: their whole subtree at any depth, but not the org.
    ok(&t.leader.token, &t.leader.name()).await;
    ok(&t.leader.token, &t.peer().name()).await;
    ok(&t.leader.token, &t.second_rep().name()).await;
    denied(&t.leader.token, "org").await;
    let other_leader = person(&app, Role::Leader, None).await;
    denied(&other_leader.token, &t.rep().name()).await;

    // Finance, deal desk, legal and admins: the org and anyone.
    let desk = person(&app, Role::DealDesk, None).await;
    let legal = person(&app, Role::Legal, None).await;
    for token in [
        &t.finance().token,
        &desk.token,
        &legal.token,
        &app.admin_token,
    ] {
        ok(token, "org").await;
        ok(token, &t.peer().name()).await;
        ok(token, &t.leader.name()).await;
    }
});

contract_test!(
    a_managers_forecast_weights_open_deals_by_the_learned_rates,
    |app| {
        let w = world(&app).await;
        let t = &w.team;
        let f = forecast(
            &app,
            &t.manager.token,
            scope(&this_month(), &t.manager.name()),
        )
        .await;
        let month_start = today().with_day(1).unwrap();
        assert_eq!(f.period, this_month());
        assert_eq!(f.scope, t.manager.name());
        assert_eq!(f.currency_code, "USD");
        assert_eq!(f.period_start_date, Some(date(month_start)));
        assert_eq!(f.period_end_date, Some(date(last_day_of_month(today()))));
        assert_eq!(f.snapshots, vec![w.snapshot.name.clone()]);

        // The weighted amounts from the snapshot's rates, as the hand computation above.
        let rate = |stage: &str| stage_rate(&w.snapshot, stage).smoothed_rate;
        let (o1, o2, o3, o4, o5) = (
            weighted(10_000, rate("s1")),
            weighted(30_000, rate("s3")),
            weighted(20_000, rate("s2")),
            weighted(7_000, rate("s2")),
            weighted(12_345, rate("s1")),
        );
        assert_eq!((o1, o2, o3, o4, o5), (3_333, 19_091, 8_333, 2_917, 4_115));

        // Totals of the manager's subtree (O1-O6; X1 + X3 won; X2 lost does not count):
        // closed won 300_000; weighted 3_333 + 19_091 + 8_333 + 2_917 + 4_115 = 37_789;
        // commit 30_000; best case 20_000 + 12_345 = 32_345; pipeline 10_000 (+ O6's 0);
        // omitted 7_000; commit forecast 330_000; best-case forecast 362_345;
        // open pipeline 72_345 (omitted left out); 6 open deals.
        assert_eq!(
            f.totals.unwrap(),
            pb::ForecastFigures {
                closed_won: 300_000,
                weighted_pipeline: 37_789,
                expected: 337_789,
                commit: 30_000,
                best_case: 32_345,
                pipeline: 10_000,
                omitted: 7_000,
                commit_forecast: 330_000,
                best_case_forecast: 362_345,
                open_pipeline: 72_345,
                open_deals: 6,
                // Every deal was created today: q is each stage's rate (see `figures`).
                period_forecast: 37_789,
                not_yet_created: 0,
                // No deal is dated in the next quarter, nor overdue.
                pulled_in: 0,
                overdue: 0,
                classic_expected: 337_789,
            }
        );

        // By stage, in pipeline order, with the snapshot's rates:
        // s1: O1, O5, O6: 22_345, weighted 3_333 + 4_115 = 7_448;
        // s2: O3, O4: 27_000, weighted 8_333 + 2_917 = 11_250; s3: O2: 30_000, 19_091.
        let stages: Vec<(String, i64, i64, i64)> = f
            .by_stage
            .iter()
            .map(|s| (s.stage.clone(), s.open_deals, s.amount, s.weighted))
            .collect();
        let stage = |id: &str| format!("{}/stages/{id}", w.pipeline.name);
        assert_eq!(
            stages,
            vec![
                (stage("s1"), 3, 22_345, 7_448),
                (stage("s2"), 2, 27_000, 11_250),
                (stage("s3"), 1, 30_000, 19_091),
            ]
        );
        for (s, id) in f.by_stage.iter().zip(["s1", "s2", "s3"]) {
            assert_close(s.win_rate, rate(id), id);
        }

        // By category: COMMIT O2; BEST_CASE O3, O5; PIPELINE O1, O6; OMITTED O4.
        let categories: Vec<(i32, i64, i64, i64)> = f
            .by_category
            .iter()
            .map(|c| (c.category, c.open_deals, c.amount, c.weighted))
            .collect();
        assert_eq!(
            categories,
            vec![
                (Category::Commit as i32, 1, 30_000, 19_091),
                (Category::BestCase as i32, 2, 32_345, 12_448),
                (Category::Pipeline as i32, 2, 10_000, 3_333),
                (Category::Omitted as i32, 1, 7_000, 2_917),
            ]
        );

        // By report: the manager's own deals first (X3 won, O5), then each direct report's.
        assert_reports(&f, &t.manager, &[t.rep(), t.second_rep()]);
        assert_eq!(
            f.by_report[0].figures.unwrap(),
            figures(200_000, 4_115, 0, 12_345, 0, 0, 1)
        );
        // rep1: X1 won; O1, O2, O6.
        assert_eq!(
            *report(&f, t.rep()),
            figures(100_000, 3_333 + 19_091, 30_000, 0, 10_000, 0, 3)
        );
        // rep2: X2 lost; O3, O4.
        assert_eq!(
            *report(&f, t.second_rep()),
            figures(0, 8_333 + 2_917, 0, 20_000, 0, 7_000, 2)
        );

        // A rep's own forecast: only their deals, and by_report is just them.
        let own = forecast(&app, &t.rep().token, scope(&this_month(), &t.rep().name())).await;
        assert_eq!(own.totals.unwrap(), *report(&f, t.rep()));
        assert_reports(&own, t.rep(), &[]);
    }
);

contract_test!(leader_and_org_forecasts_roll_up_every_team, |app| {
    let w = world(&app).await;
    let t = &w.team;
    let month = this_month();
    let manager = forecast(&app, &t.manager.token, scope(&month, &t.manager.name())).await;

    // The leader: no own deals, then the manager's subtree and the peer manager's (O8).
    let led = forecast(&app, &t.leader.token, scope(&month, &t.leader.name())).await;
    assert_reports(&led, &t.leader, &[&t.manager, &t.peer_manager]);
    assert_eq!(
        led.by_report[0].figures.unwrap(),
        figures(0, 0, 0, 0, 0, 0, 0)
    );
    assert_eq!(*report(&led, &t.manager), manager.totals.unwrap());
    assert_eq!(
        *report(&led, &t.peer_manager),
        figures(0, 16_667, 0, 0, 40_000, 0, 1)
    );
    // Totals: 300_000 won; weighted 37_789 + 16_667 = 54_456; pipeline 50_000; 7 open deals.
    let totals = figures(300_000, 54_456, 30_000, 32_345, 50_000, 7_000, 7);
    assert_eq!(led.totals.unwrap(), totals);

    // The org (finance): the same totals, and no by_report.
    let org = forecast(&app, &t.finance().token, scope(&month, "org")).await;
    assert_eq!(org.totals.unwrap(), totals);
    assert!(org.by_report.is_empty());
    assert_eq!(org.scope, "org");

    // The peer manager sees only their own team.
    let peer = forecast(
        &app,
        &t.peer_manager.token,
        scope(&month, &t.peer_manager.name()),
    )
    .await;
    assert_eq!(peer.totals.unwrap(), figures(0, 16_667, 0, 0, 40_000, 0, 1));

    // The (calendar = fiscal) quarter holding this month holds the same deals, plus O7 (rep1,
    // s2, 99_000 x 5/12 = 41_250) when next month is in the same quarter.
    let quarter = format!("{}-Q{}", today().year(), (today().month() - 1) / 3 + 1);
    let q = forecast(&app, &t.finance().token, scope(&quarter, "org")).await;
    let q_start =
        NaiveDate::from_ymd_opt(today().year(), (today().month() - 1) / 3 * 3 + 1, 1).unwrap();
    let q_end = q_start + Months::new(3) - Days::new(1);
    assert_eq!(q.period_start_date, Some(date(q_start)));
    assert_eq!(q.period_end_date, Some(date(q_end)));
    let quarter_totals = if next_month() <= q_end {
        figures(300_000, 54_456 + 41_250, 30_000, 32_345, 149_000, 7_000, 8)
    } else {
        totals
    };
    assert_eq!(q.totals.unwrap(), quarter_totals);

    // Next month holds only O7 (rep1, s2, 99_000 x 5/12 = 41_250) and nothing won.
    let next = format!("{:04}-{:02}", next_month().year(), next_month().month());
    let later = forecast(&app, &t.manager.token, scope(&next, &t.manager.name())).await;
    assert_eq!(
        later.totals.unwrap(),
        figures(0, 41_250, 0, 0, 99_000, 0, 1)
    );
});

contract_test!(a_named_snapshot_replaces_the_current_one, |app| {
    let w = world(&app).await;
    let t = &w.team;
    // v2 with k = 0: raw rates s1 1, s2 1/2, s3 1.
    let v2 = compute(
        &app,
        pb::ComputeWinRatesRequest {
            prior_weight: Some(0),
            ..rates_of(&w.pipeline)
        },
    )
    .await;
    let month = this_month();
    let current = forecast(&app, &t.manager.token, scope(&month, &t.manager.name())).await;
    assert_eq!(current.snapshots, vec![v2.name.clone()]);
    // O1 10_000 + O5 12_345 + O2 30_000 at 1; O3 20_000 + O4 7_000 at 1/2 = 13_500.
    assert_eq!(current.totals.unwrap().weighted_pipeline, 52_345 + 13_500);

    let pinned = forecast(
        &app,
        &t.manager.token,
        pb::GetForecastRequest {
            snapshots: vec![w.snapshot.name.clone()],
            ..scope(&month, &t.manager.name())
        },
    )
    .await;
    assert_eq!(pinned.snapshots, vec![w.snapshot.name.clone()]);
    assert_eq!(pinned.totals.unwrap().weighted_pipeline, 37_789);

    // A snapshot that does not exist, a second one of the same pipeline, a bad name.
    let missing = format!("{}/winRateSnapshots/9", w.pipeline.name);
    let status = try_forecast(
        &app,
        &t.manager.token,
        pb::GetForecastRequest {
            snapshots: vec![missing],
            ..scope(&month, &t.manager.name())
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["snapshots"]);
    let status = try_forecast(
        &app,
        &t.manager.token,
        pb::GetForecastRequest {
            snapshots: vec![w.snapshot.name.clone(), v2.name.clone()],
            ..scope(&month, &t.manager.name())
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["snapshots[1]"]);
    let status = try_forecast(
        &app,
        &t.manager.token,
        pb::GetForecastRequest {
            snapshots: vec!["pipelines/x/winRateSnapshots/1".into()],
            ..scope(&month, &t.manager.name())
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["snapshots[0]"]);
});

contract_test!(without_a_snapshot_the_stage_defaults_are_used, |app| {
    let rep = person(&app, Role::Rep, None).await;
    let p = three_stages(&app).await;
    // s1 25_000 x 0.2 = 5_000; s2 12_345 x 0.4 = 4_938; s3 10_001 x 0.6 = 6_000.6 -> 6_001.
    create_deal(&app, &rep.token, draft(&p, "s1", usd(25_000))).await;
    create_deal(&app, &rep.token, draft(&p, "s2", usd(12_345))).await;
    create_deal(&app, &rep.token, draft(&p, "s3", usd(10_001))).await;
    let f = forecast(&app, &rep.token, scope(&this_month(), &rep.name())).await;
    assert!(
        f.snapshots.is_empty(),
        "no snapshot used: {:?}",
        f.snapshots
    );
    let rates: Vec<f64> = f.by_stage.iter().map(|s| s.win_rate).collect();
    assert_eq!(rates.len(), 3);
    for (actual, expected) in rates.iter().zip([0.2, 0.4, 0.6]) {
        assert_close(*actual, expected, "default probability");
    }
    let weighted: Vec<i64> = f.by_stage.iter().map(|s| s.weighted).collect();
    assert_eq!(weighted, [5_000, 4_938, 6_001]);
    assert_eq!(f.totals.unwrap(), figures(0, 15_939, 0, 0, 47_346, 0, 3));
    let listed = list_snapshots(
        &app,
        &rep.token,
        pb::ListWinRateSnapshotsRequest {
            parent: p.name.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(listed.snapshots.is_empty());
});

contract_test!(
    each_deal_is_converted_and_weighed_on_its_own_so_every_scope_adds_up,
    |app| {
        let t = team(&app).await;
        // No snapshot: s1 at its default 10%.
        let p = pipeline(&app, &[("s1", 1_000)]).await;
        // rep1: three deals of 5 cents, each weighing 0.5 -> 1 (the three as one group would
        // weigh 1.5 -> 2).
        for _ in 0..3 {
            create_deal(&app, &t.rep().token, draft(&p, "s1", usd(5))).await;
        }
        // rep2: 5 and 15 euro cents at 1.1: 5.5 -> 6 and 16.5 -> 17 cents, weighing 0.6 -> 1 and
        // 1.7 -> 2 (converted together, 22 cents would weigh 2).
        create_deal(
            &app,
            &t.second_rep().token,
            draft(&p, "s1", money("EUR", 5)),
        )
        .await;
        create_deal(
            &app,
            &t.second_rep().token,
            draft(&p, "s1", money("EUR", 15)),
        )
        .await;
        // Won this month: 25 euro cents -> 27.5 -> 28 cents, and 1 cent.
        closed_deal(
            &app,
            t.second_rep(),
            &p,
            &["s1"],
            money("EUR", 25),
            Lead::Inbound,
            true,
        )
        .await;
        closed_deal(&app, t.rep(), &p, &["s1"], usd(1), Lead::Inbound, true).await;
        let month = this_month();

        // Without a EUR rate neither the team nor the org adds up: both name the rate.
        for (token, scope_name) in [
            (&t.manager.token, t.manager.name()),
            (&t.finance().token, "org".to_string()),
        ] {
            let status = try_forecast(&app, token, scope(&month, &scope_name))
                .await
                .unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "EXCHANGE_RATE_MISSING");
            let subjects: Vec<String> = status
                .get_details_precondition_failure()
                .expect("a PreconditionFailure")
                .violations
                .into_iter()
                .map(|v| v.subject)
                .collect();
            assert_eq!(subjects, ["exchangeRates/EUR-USD"], "{scope_name}");
        }
        try_set_rate(&app, &app.admin_token, "EUR", "USD", 1.1)
            .await
            .unwrap();

        let rep1 = pb::ForecastFigures {
            closed_won: 1,
            weighted_pipeline: 3,
            expected: 4,
            ..Default::default()
        };
        let rep2 = pb::ForecastFigures {
            closed_won: 28,
            weighted_pipeline: 3,
            expected: 31,
            ..Default::default()
        };
        let team = forecast(&app, &t.manager.token, scope(&month, &t.manager.name())).await;
        let weighed = |f: &pb::ForecastFigures| {
            (
                f.closed_won,
                f.weighted_pipeline,
                f.expected,
                f.open_pipeline + f.omitted,
                f.open_deals,
            )
        };
        assert_eq!(
            weighed(report(&team, t.rep())),
            (
                rep1.closed_won,
                rep1.weighted_pipeline,
                rep1.expected,
                15,
                3
            )
        );
        assert_eq!(
            weighed(report(&team, t.second_rep())),
            (
                rep2.closed_won,
                rep2.weighted_pipeline,
                rep2.expected,
                23,
                2
            )
        );
        assert_eq!(weighed(&team.totals.unwrap()), (29, 6, 35, 38, 5));
        assert_eq!(team.by_stage.len(), 1);
        assert_eq!(
            (team.by_stage[0].amount, team.by_stage[0].weighted),
            (38, 6)
        );
        for (token, who) in [
            (&t.rep().token, &t.rep()),
            (&t.second_rep().token, &t.second_rep()),
        ] {
            let own = forecast(&app, token, scope(&month, &who.name())).await;
            assert_eq!(own.totals.unwrap(), *report(&team, who), "{}", who.name());
        }
        // The org adds up to the team (nobody else has deals), the leader's to the same.
        let org = forecast(&app, &t.finance().token, scope(&month, "org")).await;
        assert_eq!(org.totals, team.totals);
        assert_eq!(org.by_stage, team.by_stage);
        let led = forecast(&app, &t.leader.token, scope(&month, &t.leader.name())).await;
        assert_eq!(led.totals, team.totals);
    }
);

// ---------------------------------------------------------------------------------------------
// Bad input.

contract_test!(
    get_forecast_rejects_bad_periods_scopes_and_currencies,
    |app| {
        let month = this_month();
        let admin = app.admin_token.clone();
        let admin_scope = app.admin.name.clone();
        for period in [
            "2026-13", "2026-Q5", "", "2026-00", "26-01", "2026-1", "2026/01", "2026-Q0",
        ] {
            let status = try_forecast(&app, &admin, scope(period, "org"))
                .await
                .unwrap_err();
            assert_eq!(violated_fields(&status), ["period"], "{period:?}");
        }
        for bad in ["teams/x", "", "users/not-a-uuid", "ORG"] {
            let status = try_forecast(&app, &admin, scope(&month, bad))
                .await
                .unwrap_err();
            assert_eq!(violated_fields(&status), ["scope"], "{bad:?}");
        }
        for code in ["usd", "US", "XYZ", "USDX"] {
            let status = try_forecast(
                &app,
                &admin,
                pb::GetForecastRequest {
                    currency_code: code.into(),
                    ..scope(&month, &admin_scope)
                },
            )
            .await
            .unwrap_err();
            assert_eq!(violated_fields(&status), ["currency_code"], "{code:?}");
        }
        // Every bad field at once.
        let status = try_forecast(
            &app,
            &admin,
            pb::GetForecastRequest {
                currency_code: "usd".into(),
                ..scope("2026-13", "teams/x")
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            ["period", "scope", "currency_code"]
        );
        // A user who does not exist.
        let nobody = format!("users/{}", uuid::Uuid::now_v7());
        let status = try_forecast(&app, &admin, scope(&month, &nobody))
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        // Good periods: a month and a quarter.
        forecast(&app, &admin, scope("2026-02", "org")).await;
        forecast(&app, &admin, scope("2026-Q4", "org")).await;
    }
);
