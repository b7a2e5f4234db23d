//! ComputeWinRates: cohorts, the prior, segments, idempotency and who may compute.

use super::*;

/// The textbook 95% Wilson score interval of `wins` of `n` (z = 1.959963984540054), clamped to
/// [0, 1]; [0, 1] for an empty cohort.
fn wilson(wins: f64, n: f64) -> (f64, f64) {
    if n == 0.0 {
        return (0.0, 1.0);
    }
    let z: f64 = 1.959_963_984_540_054;
    let p = wins / n;
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z * z / n;
    (
        ((centre - spread) / denominator).max(0.0),
        ((centre + spread) / denominator).min(1.0),
    )
}

/// Checks a cohort's counts, raw rate, prior, Wilson bounds and the smoothed rate given.
#[track_caller]
fn assert_rate(r: &pb::StageWinRate, n: i64, wins: i64, prior: f64, smoothed: f64) {
    let what = format!("stage {}", r.stage_id);
    assert_eq!((r.n, r.wins), (n, wins), "{what}: n and wins");
    match r.raw_rate {
        Some(raw) => assert_close(raw, wins as f64 / n as f64, &format!("{what} raw")),
        None => assert_eq!(n, 0, "{what}: raw rate unset only for an empty cohort"),
    }
    assert_close(r.prior, prior, &format!("{what} prior"));
    assert_close(r.smoothed_rate, smoothed, &format!("{what} smoothed"));
    let (low, high) = wilson(wins as f64, n as f64);
    assert_close(r.wilson_low, low, &format!("{what} wilson_low"));
    assert_close(r.wilson_high, high, &format!("{what} wilson_high"));
}

// ---------------------------------------------------------------------------------------------
// Win rates.

contract_test!(
    win_rates_count_each_closed_deal_once_per_stage_it_entered,
    |app| {
        let h = history(&app).await;
        let snapshot = compute(&app, rates_of(&h.pipeline)).await;

        assert_eq!(
            snapshot.name,
            format!("{}/winRateSnapshots/1", h.pipeline.name)
        );
        assert_eq!(snapshot.pipeline, h.pipeline.name);
        assert_eq!((snapshot.version, snapshot.current), (1, true));
        assert_eq!(snapshot.prior_weight, 10, "unset means 10");
        assert_eq!(
            snapshot.window_end_date,
            Some(date(today())),
            "default: today"
        );
        assert_eq!(
            snapshot.window_start_date,
            Some(date(today() - Months::new(12))),
            "default: a year before the end"
        );
        assert_eq!(snapshot.creator, app.admin.name);
        assert!(snapshot.create_time.is_some());
        assert!(snapshot.segments.is_empty(), "no segments unless asked");
        let ids: Vec<&str> = snapshot
            .stages
            .iter()
            .map(|s| s.stage_id.as_str())
            .collect();
        assert_eq!(ids, ["s1", "s2", "s3", "won", "lost"], "pipeline order");

        // k = 10, smoothed = (wins + 10 x prior) / (n + 10):
        // s1: n 3, wins 1, raw 1/3; (1 + 2) / 13 = 3/13 = 0.2308;
        //     Wilson(1 of 3) = [0.0615, 0.7923].
        assert_rate(stage_rate(&snapshot, "s1"), 3, 1, 0.2, 3.0 / 13.0);
        // s2: n 4, wins 2, raw 1/2; (2 + 4) / 14 = 3/7 = 0.4286; Wilson(2 of 4) = [0.1500, 0.8500].
        assert_rate(stage_rate(&snapshot, "s2"), 4, 2, 0.4, 3.0 / 7.0);
        // s3: n 3, wins 2, raw 2/3; (2 + 6) / 13 = 8/13 = 0.6154; Wilson(2 of 3) = [0.2077, 0.9385].
        assert_rate(stage_rate(&snapshot, "s3"), 3, 2, 0.6, 8.0 / 13.0);
        // won: A, C, H, I: n 4, wins 4, smoothed 1 whatever the counts; Wilson(4 of 4) =
        // [0.5101, 1].
        assert_rate(stage_rate(&snapshot, "won"), 4, 4, 1.0, 1.0);
        // lost: B, D, E: n 3, wins 0, smoothed 0; Wilson(0 of 3) = [0, 0.5615].
        assert_rate(stage_rate(&snapshot, "lost"), 3, 0, 0.0, 0.0);

        // Value weighted (won amount / amount of the cohort, all USD):
        // s1: A 100k won of A + B + E = 350k -> 2/7; s2: A + H = 250k of 850k -> 5/17;
        // s3: C + I = 550k of C + D + I = 950k -> 11/19; won 1; lost 0.
        let vw = |stage: &str| stage_rate(&snapshot, stage).value_weighted_rate.unwrap();
        assert_close(vw("s1"), 2.0 / 7.0, "s1 value weighted");
        assert_close(vw("s2"), 5.0 / 17.0, "s2 value weighted");
        assert_close(vw("s3"), 11.0 / 19.0, "s3 value weighted");
        assert_close(vw("won"), 1.0, "won value weighted");
        assert_close(vw("lost"), 0.0, "lost value weighted");

        // What was stored reads back the same.
        let read = get_snapshot(&app, &h.rep.token, &snapshot.name)
            .await
            .unwrap();
        assert_eq!(read, snapshot);
    }
);

contract_test!(
    a_prior_weight_sets_how_far_rates_lean_on_the_defaults,
    |app| {
        let h = history(&app).await;
        // k = 2: s1 (1 + 0.4) / 5 = 0.28; s2 (2 + 0.8) / 6 = 7/15; s3 (2 + 1.2) / 5 = 0.64.
        let k2 = compute(
            &app,
            pb::ComputeWinRatesRequest {
                prior_weight: Some(2),
                ..rates_of(&h.pipeline)
            },
        )
        .await;
        assert_eq!((k2.version, k2.prior_weight), (1, 2));
        assert_rate(stage_rate(&k2, "s1"), 3, 1, 0.2, 0.28);
        assert_rate(stage_rate(&k2, "s2"), 4, 2, 0.4, 7.0 / 15.0);
        assert_rate(stage_rate(&k2, "s3"), 3, 2, 0.6, 0.64);
        assert_rate(stage_rate(&k2, "won"), 4, 4, 1.0, 1.0);
        assert_rate(stage_rate(&k2, "lost"), 3, 0, 0.0, 0.0);

        // k = 0: the raw rates.
        let k0 = compute(
            &app,
            pb::ComputeWinRatesRequest {
                prior_weight: Some(0),
                ..rates_of(&h.pipeline)
            },
        )
        .await;
        assert_eq!((k0.version, k0.prior_weight), (2, 0));
        assert_rate(stage_rate(&k0, "s1"), 3, 1, 0.2, 1.0 / 3.0);
        assert_rate(stage_rate(&k0, "s2"), 4, 2, 0.4, 0.5);
        assert_rate(stage_rate(&k0, "s3"), 3, 2, 0.6, 2.0 / 3.0);

        // k = 1000 (the most): (1 + 200) / 1003 for s1.
        let k1000 = compute(
            &app,
            pb::ComputeWinRatesRequest {
                prior_weight: Some(1000),
                ..rates_of(&h.pipeline)
            },
        )
        .await;
        assert_rate(stage_rate(&k1000, "s1"), 3, 1, 0.2, 201.0 / 1003.0);
    }
);

contract_test!(
    a_window_before_the_closes_has_empty_cohorts_and_the_defaults,
    |app| {
        let h = history(&app).await;
        let yesterday = today() - Days::new(1);
        let snapshot = compute(
            &app,
            pb::ComputeWinRatesRequest {
                window_end_date: Some(date(yesterday)),
                ..rates_of(&h.pipeline)
            },
        )
        .await;
        assert_eq!(snapshot.window_end_date, Some(date(yesterday)));
        assert_eq!(
            snapshot.window_start_date,
            Some(date(yesterday - Months::new(12)))
        );
        // Every deal closed today: nothing in the window. n 0, no raw rate, the prior as the smoothed
        // rate, Wilson [0, 1], no value-weighted rate.
        for (stage, prior) in [
            ("s1", 0.2),
            ("s2", 0.4),
            ("s3", 0.6),
            ("won", 1.0),
            ("lost", 0.0),
        ] {
            let r = stage_rate(&snapshot, stage);
            assert_eq!(r.raw_rate, None, "{stage}");
            assert_eq!(r.value_weighted_rate, None, "{stage}");
            assert_rate(r, 0, 0, prior, prior);
        }

        // A window of exactly today counts them all again.
        let today_only = compute(
            &app,
            pb::ComputeWinRatesRequest {
                window_start_date: Some(date(today())),
                window_end_date: Some(date(today())),
                ..rates_of(&h.pipeline)
            },
        )
        .await;
        assert_rate(stage_rate(&today_only, "s1"), 3, 1, 0.2, 3.0 / 13.0);
        assert_rate(stage_rate(&today_only, "s3"), 3, 2, 0.6, 8.0 / 13.0);
    }
);

contract_test!(
    segments_shrink_toward_the_stages_pipeline_wide_rate,
    |app| {
        let h = history(&app).await;
        let snapshot = compute(
            &app,
            pb::ComputeWinRatesRequest {
                segment_by_lead_source: true,
                segment_by_team: true,
                ..rates_of(&h.pipeline)
            },
        )
        .await;
        // The pipeline-wide rates are as without segments: 3/13, 3/7, 8/13.
        let wide = |stage: &str| stage_rate(&snapshot, stage).smoothed_rate;
        assert_close(wide("s1"), 3.0 / 13.0, "s1");
        assert_close(wide("s2"), 3.0 / 7.0, "s2");
        assert_close(wide("s3"), 8.0 / 13.0, "s3");

        let segment = |kind: SegmentKind, value: &str, stage: &str| {
            snapshot
                .segments
                .iter()
                .find(|s| {
                    s.kind == kind as i32
                        && s.value == value
                        && s.rate.as_ref().unwrap().stage_id == stage
                })
                .and_then(|s| s.rate.as_ref())
                .unwrap_or_else(|| panic!("no segment {kind:?} {value} {stage}: {snapshot:?}"))
                .clone()
        };
        use SegmentKind::{LeadSource, Team};
        // Each segment leans (k = 10) on its stage's pipeline-wide smoothed rate:
        // INBOUND s1: A won, B lost -> n 2, wins 1; (1 + 10 x 3/13) / 12 = 43/156.
        let r = segment(LeadSource, "INBOUND", "s1");
        assert_rate(&r, 2, 1, wide("s1"), 43.0 / 156.0);
        // INBOUND s2: A won, B, D lost -> n 3, wins 1; (1 + 10 x 3/7) / 13 = 37/91.
        assert_rate(
            &segment(LeadSource, "INBOUND", "s2"),
            3,
            1,
            wide("s2"),
            37.0 / 91.0,
        );
        // INBOUND s3: C won, D lost -> n 2, wins 1; (1 + 10 x 8/13) / 12 = 31/52.
        assert_rate(
            &segment(LeadSource, "INBOUND", "s3"),
            2,
            1,
            wide("s3"),
            31.0 / 52.0,
        );
        // OUTBOUND s1: E lost -> n 1, wins 0; (0 + 10 x 3/13) / 11 = 30/143.
        assert_rate(
            &segment(LeadSource, "OUTBOUND", "s1"),
            1,
            0,
            wide("s1"),
            30.0 / 143.0,
        );
        // OUTBOUND s2: H won -> n 1, wins 1; (1 + 10 x 3/7) / 11 = 37/77.
        assert_rate(
            &segment(LeadSource, "OUTBOUND", "s2"),
            1,
            1,
            wide("s2"),
            37.0 / 77.0,
        );
        // No lead source, s3: I won -> n 1, wins 1; (1 + 10 x 8/13) / 11 = 93/143.
        assert_rate(
            &segment(LeadSource, "", "s3"),
            1,
            1,
            wide("s3"),
            93.0 / 143.0,
        );
        // By team: every deal's owner reports to the manager, so each team cohort is the stage's:
        // s1 (1 + 10 x 3/13) / 13 = 43/169; s2 (2 + 10 x 3/7) / 14 = 22/49;
        // s3 (2 + 10 x 8/13) / 13 = 106/169.
        let team = h.manager.name();
        assert_rate(&segment(Team, &team, "s1"), 3, 1, wide("s1"), 43.0 / 169.0);
        assert_rate(&segment(Team, &team, "s2"), 4, 2, wide("s2"), 22.0 / 49.0);
        assert_rate(&segment(Team, &team, "s3"), 3, 2, wide("s3"), 106.0 / 169.0);
        // Closed stages are not segmented and nothing else appears: 6 lead-source cells, 3 team.
        assert_eq!(snapshot.segments.len(), 9, "{:?}", snapshot.segments);

        let read = get_snapshot(&app, &h.rep.token, &snapshot.name)
            .await
            .unwrap();
        assert_eq!(read, snapshot, "segments are stored with the snapshot");

        // An owner without a manager is in the team with an empty value. In a fresh pipeline the
        // manager (who has no manager) wins one deal from s1 and the rep loses one: s1 n 2,
        // wins 1, (1 + 10 x 0.2) / 12 = 1/4. Team "": n 1, wins 1, (1 + 2.5) / 11 = 7/22;
        // team users/{manager}: n 1, wins 0, (0 + 2.5) / 11 = 5/22.
        let fresh = three_stages(&app).await;
        closed_deal(
            &app,
            &h.manager,
            &fresh,
            &["s1"],
            usd(1_000),
            Lead::Inbound,
            true,
        )
        .await;
        closed_deal(
            &app,
            &h.rep,
            &fresh,
            &["s1"],
            usd(1_000),
            Lead::Inbound,
            false,
        )
        .await;
        let by_team = compute(
            &app,
            pb::ComputeWinRatesRequest {
                segment_by_team: true,
                ..rates_of(&fresh)
            },
        )
        .await;
        assert_close(stage_rate(&by_team, "s1").smoothed_rate, 0.25, "s1");
        let teams: Vec<(i32, String, String, i64, i64)> = by_team
            .segments
            .iter()
            .map(|s| {
                let r = s.rate.as_ref().unwrap();
                (s.kind, s.value.clone(), r.stage_id.clone(), r.n, r.wins)
            })
            .collect();
        let mut teams_sorted = teams.clone();
        teams_sorted.sort();
        let mut expected = vec![
            (Team as i32, String::new(), "s1".to_string(), 1, 1),
            (Team as i32, h.manager.name(), "s1".to_string(), 1, 0),
        ];
        expected.sort();
        assert_eq!(teams_sorted, expected);
        for s in &by_team.segments {
            let r = s.rate.as_ref().unwrap();
            let smoothed = if s.value.is_empty() {
                7.0 / 22.0
            } else {
                5.0 / 22.0
            };
            assert_rate(r, r.n, r.wins, 0.25, smoothed);
        }
    }
);

contract_test!(compute_win_rates_is_idempotent_on_request_id, |app| {
    let h = history(&app).await;
    let request = pb::ComputeWinRatesRequest {
        request_id: "rates-retry-1".into(),
        ..rates_of(&h.pipeline)
    };
    let first = compute(&app, request.clone()).await;
    let retry = compute(&app, request.clone()).await;
    assert_eq!(retry, first, "a retry returns the first answer");
    assert_eq!(retry.version, 1);
    assert_eq!(app.count("win_rate_snapshots").await, 1, "computed once");

    // The same key with another body is refused and creates nothing.
    let status = try_compute(
        &app,
        &app.admin_token,
        pb::ComputeWinRatesRequest {
            prior_weight: Some(3),
            ..request.clone()
        },
    )
    .await
    .unwrap_err();
    assert_error(&status, Code::InvalidArgument, "REQUEST_ID_REUSED");
    assert_eq!(app.count("win_rate_snapshots").await, 1);

    // A new key is a new computation.
    let second = compute(
        &app,
        pb::ComputeWinRatesRequest {
            request_id: "rates-retry-2".into(),
            ..rates_of(&h.pipeline)
        },
    )
    .await;
    assert_eq!(second.version, 2);
    assert_eq!(app.count("win_rate_snapshots").await, 2);

    // Keys belong to their caller: a leader reusing the admin's key computes anew.
    let leader = person(&app, Role::Leader, None).await;
    let theirs = try_compute(&app, &leader.token, request).await.unwrap();
    assert_eq!((theirs.version, theirs.creator), (3, leader.name()));
    assert_eq!(app.count("win_rate_snapshots").await, 3);
});

contract_test!(only_leaders_and_admins_compute_win_rates, |app| {
    let t = team(&app).await;
    let p = three_stages(&app).await;
    let desk = person(&app, Role::DealDesk, None).await;
    let legal = person(&app, Role::Legal, None).await;
    for who in [t.rep(), &t.manager, t.finance(), &desk, &legal] {
        let status = try_compute(&app, &who.token, rates_of(&p))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "WIN_RATES_REQUIRE_LEADER");
    }
    assert_eq!(app.count("win_rate_snapshots").await, 0);
    let by_leader = try_compute(&app, &t.leader.token, rates_of(&p))
        .await
        .unwrap();
    let by_admin = try_compute(&app, &app.admin_token, rates_of(&p))
        .await
        .unwrap();
    assert_eq!((by_leader.version, by_admin.version), (1, 2));
    // Unauthenticated callers are refused.
    let status = app
        .forecasts()
        .await
        .compute_win_rates(tonic::Request::new(rates_of(&p)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
});

contract_test!(compute_win_rates_rejects_bad_input, |app| {
    let p = three_stages(&app).await;
    let admin = app.admin_token.clone();
    let bad = |request: pb::ComputeWinRatesRequest| {
        let (app, admin) = (&app, admin.clone());
        async move { violated_fields(&try_compute(app, &admin, request).await.unwrap_err()) }
    };
    let day = |y, m, d| {
        Some(Date {
            year: y,
            month: m,
            day: d,
        })
    };
    assert_eq!(
        bad(pb::ComputeWinRatesRequest {
            window_start_date: day(2026, 3, 2),
            window_end_date: day(2026, 3, 1),
            ..rates_of(&p)
        })
        .await,
        ["window_start_date"]
    );
    assert_eq!(
        bad(pb::ComputeWinRatesRequest {
            window_end_date: day(2026, 2, 30),
            ..rates_of(&p)
        })
        .await,
        ["window_end_date"]
    );
    for k in [5_000, 1_001, -1] {
        assert_eq!(
            bad(pb::ComputeWinRatesRequest {
                prior_weight: Some(k),
                ..rates_of(&p)
            })
            .await,
            ["prior_weight"],
            "{k}"
        );
    }
    let unknown = format!("pipelines/{}", uuid::Uuid::now_v7());
    assert_eq!(
        bad(pb::ComputeWinRatesRequest {
            pipeline: unknown,
            ..Default::default()
        })
        .await,
        ["pipeline"]
    );
    for name in [
        "",
        "pipelines/nope",
        "deals/1",
        p.name.trim_start_matches("pipelines/"),
    ] {
        assert_eq!(
            bad(pb::ComputeWinRatesRequest {
                pipeline: name.into(),
                ..Default::default()
            })
            .await,
            ["pipeline"],
            "{name:?}"
        );
    }
    assert_eq!(app.count("win_rate_snapshots").await, 0, "nothing computed");
});
