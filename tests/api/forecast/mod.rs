//! ForecastService: win rates learned from a hand-built stage history, versioned snapshots,
//! segments, the weighted forecast of the current month rolled up the reporting tree, its range,
//! currencies, permissions and input validation. Every expected figure is worked out by hand in
//! the comments.

use chrono::{Datelike, Days, Months, NaiveDate};
use dealdesk::domain::directory::Role;
use dealdesk::proto::google::r#type::Date;
use dealdesk::proto::{self as pb};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::contract_test;
use crate::fixtures::{
    Org, close_lost, close_won, create_deal, create_pipeline, date, money, move_to, stage_at,
    today, usd,
};
use crate::helpers::{Person, TestApp, assert_error, authed, person, violated_fields};

use pb::ForecastCategory as Category;
use pb::LeadSource as Lead;
use pb::segment_win_rate::Kind as SegmentKind;

// ---------------------------------------------------------------------------------------------
// Setup: people, pipelines, deals.

/// leader -> manager -> (rep, second rep) and leader -> peer_manager -> peer, plus finance.
async fn team(app: &TestApp) -> Org {
    Org::builder()
        .reps(2)
        .staff(&[Role::Finance])
        .build(app)
        .await
}

/// A pipeline with the given open stages (id, default probability in bps) and no exit criteria,
/// then `won` and `lost`.
async fn pipeline(app: &TestApp, open: &[(&str, i32)]) -> pb::Pipeline {
    use pb::stage::Kind;
    let mut stages: Vec<pb::Stage> = open
        .iter()
        .zip(1..)
        .map(|(&(id, bps), i)| stage_at(id, i * 10, Kind::Open, bps))
        .collect();
    stages.push(stage_at("won", 1_000, Kind::Won, 10_000));
    stages.push(stage_at("lost", 1_010, Kind::Lost, 0));
    create_pipeline(
        app,
        pb::Pipeline {
            display_name: "Forecasting".into(),
            segment: pb::Segment::MidMarket as i32,
            stages,
            ..Default::default()
        },
    )
    .await
}

/// s1 (20%), s2 (40%), s3 (60%), won, lost.
async fn three_stages(app: &TestApp) -> pb::Pipeline {
    pipeline(app, &[("s1", 2_000), ("s2", 4_000), ("s3", 6_000)]).await
}

/// The current month as a period, `YYYY-MM`.
fn this_month() -> String {
    format!("{:04}-{:02}", today().year(), today().month())
}

fn last_day_of_month(day: NaiveDate) -> NaiveDate {
    let first = day.with_day(1).unwrap();
    first + Months::new(1) - Days::new(1)
}

/// A close date inside the current month that is today or later.
fn in_period() -> NaiveDate {
    (today() + Days::new(3)).min(last_day_of_month(today()))
}

/// The first day of next month (always after today).
fn next_month() -> NaiveDate {
    last_day_of_month(today()) + Days::new(1)
}

/// An open deal in `stage` of `pipeline`, closing within the current month.
fn draft(pipeline: &pb::Pipeline, stage: &str, amount: Option<pb::Money>) -> pb::Deal {
    pb::Deal {
        display_name: format!("{stage} deal"),
        account: "Acme Corp".into(),
        pipeline: pipeline.name.clone(),
        stage: stage.into(),
        amount,
        close_date: Some(date(in_period())),
        ..Default::default()
    }
}

/// Closes `name` as won, or as lost for "No budget", and checks that it closed so.
async fn close(app: &TestApp, token: &str, name: &str, won: bool) {
    let (closed, status) = if won {
        (close_won(app, token, name).await, pb::deal::Status::Won)
    } else {
        (
            close_lost(app, token, name, "No budget").await,
            pb::deal::Status::Lost,
        )
    };
    assert_eq!(closed.unwrap().status, status as i32);
}

/// A deal of `owner` created in `path[0]`, moved through the rest of `path`, then closed now.
async fn closed_deal(
    app: &TestApp,
    owner: &Person,
    pipeline: &pb::Pipeline,
    path: &[&str],
    amount: Option<pb::Money>,
    lead: Lead,
    won: bool,
) -> pb::Deal {
    let deal = create_deal(
        app,
        &owner.token,
        pb::Deal {
            lead_source: lead as i32,
            close_date: None,
            ..draft(pipeline, path[0], amount)
        },
    )
    .await;
    for stage in &path[1..] {
        move_to(app, &owner.token, &deal.name, stage).await.unwrap();
    }
    close(app, &owner.token, &deal.name, won).await;
    deal
}

/// The hand-built history every win-rate test reads. All deals are owned by `rep` (whose
/// manager is `manager`) in a three-stage pipeline (s1 20%, s2 40%, s3 60%) and close now:
///
/// | deal | path               | outcome | amount  | lead source |
/// |------|--------------------|---------|---------|-------------|
/// | A    | s1 -> s2           | won     | 100_000 | INBOUND     |
/// | B    | s1 -> s2 -> s1 -> s2 | lost  | 200_000 | INBOUND     |
/// | C    | created in s3      | won     | 300_000 | INBOUND     |
/// | D    | created in s2 -> s3 | lost   | 400_000 | INBOUND     |
/// | E    | s1                 | lost    |  50_000 | OUTBOUND    |
/// | H    | created in s2      | won     | 150_000 | OUTBOUND    |
/// | I    | created in s3      | won     | 250_000 | (none)      |
/// | F    | s1 -> s2           | open    |  70_000 | INBOUND     |
/// | G    | created in s3      | open    |  80_000 | INBOUND     |
///
/// plus one deal won in another pipeline with the same stage ids (never counted here).
///
/// Cohorts (every deal closed in the window that ever entered the stage, once each):
/// - s1: A (won), B (lost, entered twice: once), E (lost)      -> n 3, wins 1
/// - s2: A (won), B (lost, entered twice: once), D (lost), H (won) -> n 4, wins 2
/// - s3: C (won), D (lost), I (won)                            -> n 3, wins 2
/// - won: A, C, H, I -> n 4, wins 4;  lost: B, D, E -> n 3, wins 0
///
/// F and G are open: not in any cohort. C and I never were in s1 or s2.
struct History {
    pipeline: pb::Pipeline,
    manager: Person,
    rep: Person,
}

async fn history(app: &TestApp) -> History {
    let manager = person(app, Role::Manager, None).await;
    let rep = person(app, Role::Rep, Some(&manager)).await;
    let p = three_stages(app).await;
    let other = three_stages(app).await;
    let r = &rep;
    closed_deal(app, r, &p, &["s1", "s2"], usd(100_000), Lead::Inbound, true).await;
    closed_deal(
        app,
        r,
        &p,
        &["s1", "s2", "s1", "s2"],
        usd(200_000),
        Lead::Inbound,
        false,
    )
    .await;
    closed_deal(app, r, &p, &["s3"], usd(300_000), Lead::Inbound, true).await;
    closed_deal(
        app,
        r,
        &p,
        &["s2", "s3"],
        usd(400_000),
        Lead::Inbound,
        false,
    )
    .await;
    closed_deal(app, r, &p, &["s1"], usd(50_000), Lead::Outbound, false).await;
    closed_deal(app, r, &p, &["s2"], usd(150_000), Lead::Outbound, true).await;
    closed_deal(app, r, &p, &["s3"], usd(250_000), Lead::Unspecified, true).await;
    // F and G stay open.
    let f = create_deal(
        app,
        &r.token,
        pb::Deal {
            lead_source: Lead::Inbound as i32,
            ..draft(&p, "s1", usd(70_000))
        },
    )
    .await;
    move_to(app, &r.token, &f.name, "s2").await.unwrap();
    create_deal(
        app,
        &r.token,
        pb::Deal {
            lead_source: Lead::Inbound as i32,
            ..draft(&p, "s3", usd(80_000))
        },
    )
    .await;
    // Another pipeline's history never counts.
    closed_deal(app, r, &other, &["s1"], usd(999_000), Lead::Inbound, true).await;
    History {
        pipeline: p,
        manager,
        rep,
    }
}

// ---------------------------------------------------------------------------------------------
// Calls and checks.

fn rates_of(pipeline: &pb::Pipeline) -> pb::ComputeWinRatesRequest {
    pb::ComputeWinRatesRequest {
        pipeline: pipeline.name.clone(),
        ..Default::default()
    }
}

async fn try_compute(
    app: &TestApp,
    token: &str,
    request: pb::ComputeWinRatesRequest,
) -> Result<pb::WinRateSnapshot, Status> {
    app.forecasts()
        .await
        .compute_win_rates(authed(token, request))
        .await
        .map(|r| r.into_inner())
}

async fn compute(app: &TestApp, request: pb::ComputeWinRatesRequest) -> pb::WinRateSnapshot {
    try_compute(app, &app.admin_token, request).await.unwrap()
}

async fn get_snapshot(
    app: &TestApp,
    token: &str,
    name: &str,
) -> Result<pb::WinRateSnapshot, Status> {
    app.forecasts()
        .await
        .get_win_rate_snapshot(authed(
            token,
            pb::GetWinRateSnapshotRequest { name: name.into() },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn list_snapshots(
    app: &TestApp,
    token: &str,
    request: pb::ListWinRateSnapshotsRequest,
) -> Result<pb::ListWinRateSnapshotsResponse, Status> {
    app.forecasts()
        .await
        .list_win_rate_snapshots(authed(token, request))
        .await
        .map(|r| r.into_inner())
}

fn scope(period: &str, scope: &str) -> pb::GetForecastRequest {
    pb::GetForecastRequest {
        period: period.into(),
        scope: scope.into(),
        ..Default::default()
    }
}

async fn try_forecast(
    app: &TestApp,
    token: &str,
    request: pb::GetForecastRequest,
) -> Result<pb::Forecast, Status> {
    app.forecasts()
        .await
        .get_forecast(authed(token, request))
        .await
        .map(|r| r.into_inner())
}

async fn forecast(app: &TestApp, token: &str, request: pb::GetForecastRequest) -> pb::Forecast {
    try_forecast(app, token, request).await.unwrap()
}

async fn try_set_rate(
    app: &TestApp,
    token: &str,
    from: &str,
    to: &str,
    rate: f64,
) -> Result<pb::ExchangeRate, Status> {
    app.forecasts()
        .await
        .set_exchange_rate(authed(
            token,
            pb::SetExchangeRateRequest {
                rate: Some(pb::ExchangeRate {
                    from_currency: from.into(),
                    to_currency: to.into(),
                    rate,
                    update_time: None,
                }),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn exchange_rates(app: &TestApp, token: &str) -> Vec<(String, String, f64)> {
    app.forecasts()
        .await
        .list_exchange_rates(authed(token, pb::ListExchangeRatesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .rates
        .into_iter()
        .map(|r| (r.from_currency, r.to_currency, r.rate))
        .collect()
}

const EPSILON: f64 = 1e-9;

#[track_caller]
fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < EPSILON,
        "{what}: {actual} != {expected}"
    );
}

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

fn stage_rate<'a>(snapshot: &'a pb::WinRateSnapshot, stage_id: &str) -> &'a pb::StageWinRate {
    snapshot
        .stages
        .iter()
        .find(|s| s.stage_id == stage_id)
        .unwrap_or_else(|| panic!("no stage {stage_id} in {snapshot:?}"))
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

fn figures(
    closed_won: i64,
    weighted_pipeline: i64,
    commit: i64,
    best_case: i64,
    pipeline: i64,
    omitted: i64,
    open_deals: i64,
) -> pb::ForecastFigures {
    pb::ForecastFigures {
        closed_won,
        weighted_pipeline,
        expected: closed_won + weighted_pipeline,
        commit,
        best_case,
        pipeline,
        omitted,
        commit_forecast: closed_won + commit,
        best_case_forecast: closed_won + commit + best_case,
        open_pipeline: commit + best_case + pipeline,
        open_deals,
        // These fixtures' deals are all created today, so a snapshot's period rates have no
        // observation: every q is its stage's prior, the stage rate x an in-period share of 1
        // (no won deal observed), and no past period booked a deal created after its point.
        period_forecast: weighted_pipeline,
        not_yet_created: 0,
        classic_expected: closed_won + weighted_pipeline,
    }
}

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

fn weighted(amount: i64, rate: f64) -> i64 {
    (amount as f64 * rate).round() as i64
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
    snapshots_are_versioned_with_only_the_newest_current,
    |app| {
        let h = history(&app).await;
        let v1 = compute(&app, rates_of(&h.pipeline)).await;
        let v2 = compute(
            &app,
            pb::ComputeWinRatesRequest {
                prior_weight: Some(2),
                ..rates_of(&h.pipeline)
            },
        )
        .await;
        // A leader may compute too.
        let leader = person(&app, Role::Leader, None).await;
        let v3 = try_compute(&app, &leader.token, rates_of(&h.pipeline))
            .await
            .unwrap();
        assert_eq!((v1.version, v2.version, v3.version), (1, 2, 3));
        assert_eq!(v3.creator, leader.name());
        assert_eq!(v3.name, format!("{}/winRateSnapshots/3", h.pipeline.name));

        // Everyone reads them (a rep here): only the newest is current.
        let read = |name: String| {
            let app = &app;
            let token = h.rep.token.clone();
            async move { get_snapshot(app, &token, &name).await.unwrap() }
        };
        let r1 = read(v1.name.clone()).await;
        let r2 = read(v2.name.clone()).await;
        let r3 = read(v3.name.clone()).await;
        assert_eq!((r1.current, r2.current, r3.current), (false, false, true));
        assert_eq!(
            r1,
            pb::WinRateSnapshot {
                current: false,
                ..v1.clone()
            }
        );
        assert_eq!(r2.prior_weight, 2);
        assert_eq!(r3, v3);

        // Listed newest first, in pages.
        let first = list_snapshots(
            &app,
            &h.rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: h.pipeline.name.clone(),
                page_size: 2,
                page_token: String::new(),
            },
        )
        .await
        .unwrap();
        let versions: Vec<(i64, bool)> = first
            .snapshots
            .iter()
            .map(|s| (s.version, s.current))
            .collect();
        assert_eq!(versions, [(3, true), (2, false)]);
        assert!(!first.next_page_token.is_empty());
        let second = list_snapshots(
            &app,
            &h.rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: h.pipeline.name.clone(),
                page_size: 2,
                page_token: first.next_page_token.clone(),
            },
        )
        .await
        .unwrap();
        assert_eq!(second.snapshots, vec![r1.clone()]);
        assert_eq!(second.next_page_token, "", "the last page");
        let all = list_snapshots(
            &app,
            &h.manager.token,
            pb::ListWinRateSnapshotsRequest {
                parent: h.pipeline.name.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(all.snapshots, vec![r3, r2, r1]);
        assert_eq!(all.next_page_token, "");
        // A negative page size is refused.
        let status = list_snapshots(
            &app,
            &h.rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: h.pipeline.name.clone(),
                page_size: -1,
                page_token: String::new(),
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["page_size"]);

        // Another pipeline has none.
        let other = three_stages(&app).await;
        let none = list_snapshots(
            &app,
            &h.rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: other.name.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(none.snapshots.is_empty());
        // A page token belongs to the list it came from.
        let status = list_snapshots(
            &app,
            &h.rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: other.name.clone(),
                page_size: 2,
                page_token: first.next_page_token.clone(),
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["page_token"]);
        assert_eq!(app.count("win_rate_snapshots").await, 3);
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
    only_admins_set_exchange_rates_and_everyone_reads_them,
    |app| {
        let t = team(&app).await;
        for who in [t.rep(), &t.manager, &t.leader, t.finance()] {
            let status = try_set_rate(&app, &who.token, "EUR", "USD", 1.1)
                .await
                .unwrap_err();
            assert_error(&status, Code::PermissionDenied, "ADMIN_ONLY");
        }
        assert_eq!(app.count("exchange_rates").await, 0);
        let set = try_set_rate(&app, &app.admin_token, "EUR", "USD", 1.1)
            .await
            .unwrap();
        assert_eq!(
            (
                set.from_currency.as_str(),
                set.to_currency.as_str(),
                set.rate
            ),
            ("EUR", "USD", 1.1)
        );
        assert!(set.update_time.is_some());
        // Setting again replaces the rate of the pair.
        try_set_rate(&app, &app.admin_token, "EUR", "USD", 1.25)
            .await
            .unwrap();
        try_set_rate(&app, &app.admin_token, "GBP", "USD", 1.5)
            .await
            .unwrap();
        let expected = vec![
            ("EUR".to_string(), "USD".to_string(), 1.25),
            ("GBP".to_string(), "USD".to_string(), 1.5),
        ];
        for token in [&t.rep().token, &t.finance().token, &app.admin_token] {
            assert_eq!(exchange_rates(&app, token).await, expected);
        }
    }
);

// ---------------------------------------------------------------------------------------------
// Forecast figures.

/// The forecast world of the current month, on `three_stages` (s1 20%, s2 40%, s3 60%):
///
/// History, all closed now (this month):
/// - X1: rep1, created in s1, 100_000, won.
/// - X2: rep2, created in s2, 50_000, lost.
/// - X3: manager, s1 -> s2 -> s3, 200_000, won.
///
/// Win rates (k = 10): s1 cohort X1, X3 (n 2, wins 2): (2 + 2) / 12 = 1/3;
/// s2 cohort X2, X3 (n 2, wins 1): (1 + 4) / 12 = 5/12; s3 cohort X3 (n 1, wins 1):
/// (1 + 6) / 11 = 7/11.
///
/// Open deals closing this month:
/// - O1: rep1, s1, 10_000, PIPELINE: 10_000 / 3 = 3_333.33 -> 3_333
/// - O2: rep1, s3, 30_000, COMMIT (set by the manager): 30_000 x 7/11 = 19_090.9 -> 19_091
/// - O3: rep2, s2, 20_000, BEST_CASE: 20_000 x 5/12 = 8_333.3 -> 8_333
/// - O4: rep2, s2, 7_000, OMITTED: 7_000 x 5/12 = 2_916.7 -> 2_917
/// - O5: manager, s1, 12_345, BEST_CASE: 12_345 / 3 = 4_115
/// - O6: rep1, s1, no amount, PIPELINE: 0
/// - O8: peer (another manager's team), s2, 40_000, PIPELINE: 16_666.7 -> 16_667
///
/// Not in the period: O7 (rep1, s2, 99_000, closing next month).
struct World {
    team: Org,
    pipeline: pb::Pipeline,
    snapshot: pb::WinRateSnapshot,
}

async fn world(app: &TestApp) -> World {
    let t = team(app).await;
    let p = three_stages(app).await;
    closed_deal(app, t.rep(), &p, &["s1"], usd(100_000), Lead::Inbound, true).await;
    closed_deal(
        app,
        t.second_rep(),
        &p,
        &["s2"],
        usd(50_000),
        Lead::Inbound,
        false,
    )
    .await;
    closed_deal(
        app,
        &t.manager,
        &p,
        &["s1", "s2", "s3"],
        usd(200_000),
        Lead::Inbound,
        true,
    )
    .await;
    let snapshot = compute(app, rates_of(&p)).await;
    assert_close(stage_rate(&snapshot, "s1").smoothed_rate, 1.0 / 3.0, "s1");
    assert_close(stage_rate(&snapshot, "s2").smoothed_rate, 5.0 / 12.0, "s2");
    assert_close(stage_rate(&snapshot, "s3").smoothed_rate, 7.0 / 11.0, "s3");

    create_deal(app, &t.rep().token, draft(&p, "s1", usd(10_000))).await;
    create_deal(
        app,
        &t.manager.token,
        pb::Deal {
            owner: t.rep().name(),
            forecast_category: Category::Commit as i32,
            ..draft(&p, "s3", usd(30_000))
        },
    )
    .await;
    create_deal(
        app,
        &t.second_rep().token,
        pb::Deal {
            forecast_category: Category::BestCase as i32,
            ..draft(&p, "s2", usd(20_000))
        },
    )
    .await;
    create_deal(
        app,
        &t.second_rep().token,
        pb::Deal {
            forecast_category: Category::Omitted as i32,
            ..draft(&p, "s2", usd(7_000))
        },
    )
    .await;
    create_deal(
        app,
        &t.manager.token,
        pb::Deal {
            forecast_category: Category::BestCase as i32,
            ..draft(&p, "s1", usd(12_345))
        },
    )
    .await;
    create_deal(app, &t.rep().token, draft(&p, "s1", None)).await;
    create_deal(
        app,
        &t.rep().token,
        pb::Deal {
            close_date: Some(date(next_month())),
            ..draft(&p, "s2", usd(99_000))
        },
    )
    .await;
    create_deal(app, &t.peer().token, draft(&p, "s2", usd(40_000))).await;
    World {
        team: t,
        pipeline: p,
        snapshot,
    }
}

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

// ---------------------------------------------------------------------------------------------
// Range.

contract_test!(a_small_range_is_enumerated_exactly, |app| {
    let rep = person(&app, Role::Rep, None).await;
    // No snapshot: the default probabilities. half 50%, sure 100%, never 0%.
    let p = pipeline(&app, &[("half", 5_000), ("sure", 10_000), ("never", 0)]).await;
    // Won now: 1_000 (closed won this month).
    closed_deal(&app, &rep, &p, &["half"], usd(1_000), Lead::Inbound, true).await;
    create_deal(&app, &rep.token, draft(&p, "half", usd(10_000))).await;
    create_deal(&app, &rep.token, draft(&p, "half", usd(10_000))).await;
    create_deal(&app, &rep.token, draft(&p, "sure", usd(5_000))).await;
    create_deal(&app, &rep.token, draft(&p, "never", usd(8_000))).await;
    let f = forecast(&app, &rep.token, scope(&this_month(), &rep.name())).await;
    // Certain: 1_000 won + 5_000 sure = 6_000; the never deal adds nothing; two independent
    // 10_000 deals at 1/2: 6_000 (1/4), 16_000 (1/2), 26_000 (1/4).
    // P10 = 6_000, P50 = 16_000, P90 = 26_000.
    let range = f.range.unwrap();
    assert_eq!((range.p10, range.p50, range.p90), (6_000, 16_000, 26_000));
    assert!(range.exact);
    assert_eq!(range.samples, 0);
    // Expected: 1_000 + 5_000 + 5_000 + 5_000 + 0 = 16_000.
    assert_eq!(f.totals.unwrap().expected, 16_000);
    assert_eq!(f.totals.unwrap().closed_won, 1_000);
});

contract_test!(
    the_range_is_ordered_and_bounded_exact_up_to_sixteen_deals,
    |app| {
        let w = world(&app).await;
        let t = &w.team;
        let month = this_month();
        // The manager's scope: 5 uncertain deals (O6 has no amount) -> exact.
        let f = forecast(&app, &t.manager.token, scope(&month, &t.manager.name())).await;
        let (range, totals) = (f.range.unwrap(), f.totals.unwrap());
        assert!(range.exact);
        // Bounds: 300_000 won; everything won adds 10_000 + 30_000 + 20_000 + 7_000 + 12_345.
        let everything = 300_000 + 79_345;
        assert!(
            totals.closed_won <= range.p10
                && range.p10 <= range.p50
                && range.p50 <= range.p90
                && range.p90 <= everything,
            "{range:?}"
        );

        // A rep with 16 uncertain deals is still exact; a 17th makes it sampled.
        let rep = person(&app, Role::Rep, None).await;
        let mut amounts = 0;
        for i in 1..=16 {
            create_deal(&app, &rep.token, draft(&w.pipeline, "s2", usd(1_000 * i))).await;
            amounts += 1_000 * i;
        }
        let mine = scope(&month, &rep.name());
        let sixteen = forecast(&app, &rep.token, mine.clone()).await;
        let r = sixteen.range.unwrap();
        assert!(r.exact, "{r:?}");
        assert_eq!(r.method(), pb::revenue_range::Method::Exact);
        assert!(0 <= r.p10 && r.p10 <= r.p50 && r.p50 <= r.p90 && r.p90 <= amounts);
        create_deal(&app, &rep.token, draft(&w.pipeline, "s3", usd(17_000))).await;
        amounts += 17_000;
        let seventeen = forecast(&app, &rep.token, mine.clone()).await;
        let r = seventeen.range.unwrap();
        assert!(!r.exact, "{r:?}");
        assert_eq!(r.method(), pb::revenue_range::Method::MonteCarlo);
        // Samples: 200_000 / 17 capped at 10_000; 99% DKW bound sqrt(ln(200) / 20_000).
        assert_eq!(r.samples, 10_000);
        assert_close(
            r.error_bound,
            ((200f64).ln() / 20_000.0).sqrt(),
            "error bound",
        );
        assert!(
            0 <= r.p10 && r.p10 < r.p50 && r.p50 < r.p90 && r.p90 <= amounts,
            "{r:?}"
        );
        // Seeded: the same inputs give the same range.
        let again = forecast(&app, &rep.token, mine).await;
        assert_eq!(again.range, seventeen.range);
    }
);

// ---------------------------------------------------------------------------------------------
// Currencies.

contract_test!(a_missing_exchange_rate_fails_the_forecast, |app| {
    let rep = person(&app, Role::Rep, None).await;
    let p = three_stages(&app).await;
    create_deal(&app, &rep.token, draft(&p, "s1", usd(10_000))).await;
    create_deal(&app, &rep.token, draft(&p, "s1", money("EUR", 10_000))).await;
    let request = scope(&this_month(), &rep.name());
    let status = try_forecast(&app, &rep.token, request.clone())
        .await
        .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "EXCHANGE_RATE_MISSING");
    let violations: Vec<(String, String)> = status
        .get_details_precondition_failure()
        .expect("a PreconditionFailure")
        .violations
        .into_iter()
        .map(|v| (v.r#type, v.subject))
        .collect();
    assert_eq!(
        violations,
        [(
            "EXCHANGE_RATE".to_string(),
            "exchangeRates/EUR-USD".to_string()
        )]
    );

    // A deal won in GBP is missing too: every missing rate is named, by currency.
    closed_deal(
        &app,
        &rep,
        &p,
        &["s2"],
        money("GBP", 3_000),
        Lead::Inbound,
        true,
    )
    .await;
    let status = try_forecast(&app, &rep.token, request.clone())
        .await
        .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "EXCHANGE_RATE_MISSING");
    let subjects: Vec<String> = status
        .get_details_precondition_failure()
        .unwrap()
        .violations
        .into_iter()
        .map(|v| v.subject)
        .collect();
    assert_eq!(subjects, ["exchangeRates/EUR-USD", "exchangeRates/GBP-USD"]);

    // Forecasting in EUR needs USD and GBP into EUR.
    let status = try_forecast(
        &app,
        &rep.token,
        pb::GetForecastRequest {
            currency_code: "EUR".into(),
            ..request
        },
    )
    .await
    .unwrap_err();
    let subjects: Vec<String> = status
        .get_details_precondition_failure()
        .unwrap()
        .violations
        .into_iter()
        .map(|v| v.subject)
        .collect();
    assert_eq!(subjects, ["exchangeRates/GBP-EUR", "exchangeRates/USD-EUR"]);
});

contract_test!(exchange_rates_convert_either_way, |app| {
    let rep = person(&app, Role::Rep, None).await;
    // No snapshot: s1 at 20%, s2 at 40%.
    let p = three_stages(&app).await;
    create_deal(&app, &rep.token, draft(&p, "s1", money("EUR", 10_000))).await;
    create_deal(&app, &rep.token, draft(&p, "s2", usd(4_000))).await;
    closed_deal(
        &app,
        &rep,
        &p,
        &["s1"],
        money("EUR", 3_000),
        Lead::Inbound,
        true,
    )
    .await;
    let set = try_set_rate(&app, &app.admin_token, "EUR", "USD", 2.0)
        .await
        .unwrap();
    assert_eq!(set.rate, 2.0);
    assert_eq!(
        exchange_rates(&app, &rep.token).await,
        [("EUR".to_string(), "USD".to_string(), 2.0)]
    );

    // In USD, EUR counts double: won 3_000 EUR = 6_000; open 10_000 EUR = 20_000 at 20% =
    // 4_000, and 4_000 USD at 40% = 1_600.
    let request = scope(&this_month(), &rep.name());
    let in_usd = forecast(&app, &rep.token, request.clone()).await;
    assert_eq!(in_usd.currency_code, "USD");
    assert_eq!(
        in_usd.totals.unwrap(),
        figures(6_000, 5_600, 0, 0, 24_000, 0, 2)
    );

    // In EUR, the inverse rate: USD counts half. Won 3_000; open 10_000 at 20% = 2_000 and
    // 4_000 USD = 2_000 EUR at 40% = 800.
    let in_eur = forecast(
        &app,
        &rep.token,
        pb::GetForecastRequest {
            currency_code: "EUR".into(),
            ..request.clone()
        },
    )
    .await;
    assert_eq!(in_eur.currency_code, "EUR");
    assert_eq!(
        in_eur.totals.unwrap(),
        figures(3_000, 2_800, 0, 0, 12_000, 0, 2)
    );

    // Currencies with other minor units convert by them: 50_000 JPY (no minor unit) at 0.01
    // USD per yen is 500.00 USD = 50_000 cents, x 20% = 10_000.
    create_deal(&app, &rep.token, draft(&p, "s1", money("JPY", 50_000))).await;
    let status = try_forecast(&app, &rep.token, request.clone())
        .await
        .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "EXCHANGE_RATE_MISSING");
    try_set_rate(&app, &app.admin_token, "JPY", "USD", 0.01)
        .await
        .unwrap();
    let with_yen = forecast(&app, &rep.token, request).await;
    assert_eq!(
        with_yen.totals.unwrap(),
        figures(6_000, 15_600, 0, 0, 74_000, 0, 3)
    );
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

contract_test!(
    snapshot_reads_reject_bad_names_and_unknown_versions,
    |app| {
        let p = three_stages(&app).await;
        let snapshot = compute(&app, rates_of(&p)).await;
        let rep = person(&app, Role::Rep, None).await;
        for missing in [
            format!("{}/winRateSnapshots/2", p.name),
            format!("pipelines/{}/winRateSnapshots/1", uuid::Uuid::now_v7()),
        ] {
            let status = get_snapshot(&app, &rep.token, &missing).await.unwrap_err();
            assert_error(&status, Code::NotFound, "NOT_FOUND");
        }
        for bad in [
            String::new(),
            p.name.clone(),
            format!("{}/winRateSnapshots/0", p.name),
            format!("{}/winRateSnapshots/-1", p.name),
            format!("{}/winRateSnapshots/x", p.name),
            "pipelines/x/winRateSnapshots/1".to_string(),
        ] {
            let status = get_snapshot(&app, &rep.token, &bad).await.unwrap_err();
            assert_eq!(violated_fields(&status), ["name"], "{bad:?}");
        }
        assert!(get_snapshot(&app, &rep.token, &snapshot.name).await.is_ok());

        let status = list_snapshots(
            &app,
            &rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: "pipelines/x".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["parent"]);
        let status = list_snapshots(
            &app,
            &rep.token,
            pb::ListWinRateSnapshotsRequest {
                parent: format!("pipelines/{}", uuid::Uuid::now_v7()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
    }
);

contract_test!(set_exchange_rate_rejects_bad_rates, |app| {
    let admin = app.admin_token.clone();
    let bad = |from: &'static str, to: &'static str, rate: f64| {
        let (app, admin) = (&app, admin.clone());
        async move { violated_fields(&try_set_rate(app, &admin, from, to, rate).await.unwrap_err()) }
    };
    assert_eq!(bad("EUR", "USD", 0.0).await, ["rate.rate"]);
    assert_eq!(bad("EUR", "USD", -1.5).await, ["rate.rate"]);
    assert_eq!(bad("EUR", "USD", f64::NAN).await, ["rate.rate"]);
    assert_eq!(bad("EUR", "USD", f64::INFINITY).await, ["rate.rate"]);
    assert_eq!(bad("USD", "USD", 1.0).await, ["rate.to_currency"]);
    assert_eq!(bad("usd", "EUR", 1.0).await, ["rate.from_currency"]);
    assert_eq!(bad("EUR", "XYZ", 1.0).await, ["rate.to_currency"]);
    assert_eq!(
        bad("", "", 1.0).await,
        ["rate.from_currency", "rate.to_currency"]
    );
    let status = app
        .forecasts()
        .await
        .set_exchange_rate(authed(&admin, pb::SetExchangeRateRequest { rate: None }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["rate"]);
    assert_eq!(app.count("exchange_rates").await, 0);
    assert!(exchange_rates(&app, &admin).await.is_empty());
});

contract_test!(
    exchange_rates_are_listed_a_page_at_a_time_by_currency_pair,
    |app| {
        let admin = app.admin_token.clone();
        for from in ["JPY", "EUR", "AUD", "GBP", "CAD"] {
            try_set_rate(&app, &admin, from, "USD", 1.5).await.unwrap();
        }
        let mut client = app.forecasts().await;
        let mut pages = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = client
                .list_exchange_rates(authed(
                    &admin,
                    pb::ListExchangeRatesRequest {
                        page_size: 2,
                        page_token,
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            pages.push(
                page.rates
                    .iter()
                    .map(|r| r.from_currency.clone())
                    .collect::<Vec<_>>(),
            );
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        assert_eq!(
            pages,
            [vec!["AUD", "CAD"], vec!["EUR", "GBP"], vec!["JPY"]],
            "pages of two, by currency pair, the last without a token"
        );
        let all = client
            .list_exchange_rates(authed(&admin, pb::ListExchangeRatesRequest::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (all.rates.len(), all.next_page_token.as_str()),
            (5, ""),
            "page size 0 means the default, 50"
        );
    }
);

contract_test!(
    forecast_snapshots_are_listed_a_page_at_a_time_oldest_first,
    |app| {
        let admin = app.admin_token.clone();
        let mut client = app.forecasts().await;
        let mut taken = Vec::new();
        for i in 0..3 {
            let snapshot = client
                .snapshot_forecast(authed(
                    &admin,
                    pb::SnapshotForecastRequest {
                        period: "2026-Q4".into(),
                        scope: "org".into(),
                        request_id: format!("snap-{i}"),
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            taken.push(snapshot.name);
        }
        let list = |page_size: i32, page_token: String| pb::ListForecastSnapshotsRequest {
            period: "2026-Q4".into(),
            scope: "org".into(),
            page_size,
            page_token,
        };
        let first = client
            .list_forecast_snapshots(authed(&admin, list(2, String::new())))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(first.snapshots.len(), 2);
        assert!(!first.next_page_token.is_empty());
        let second = client
            .list_forecast_snapshots(authed(&admin, list(2, first.next_page_token.clone())))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(second.next_page_token, "", "the last page has no token");
        let listed: Vec<String> = first
            .snapshots
            .iter()
            .chain(&second.snapshots)
            .map(|s| s.name.clone())
            .collect();
        let whole: Vec<String> = client
            .list_forecast_snapshots(authed(&admin, list(0, String::new())))
            .await
            .unwrap()
            .into_inner()
            .snapshots
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(listed, whole, "the pages in the order of the whole list");
        let (mut listed, mut taken) = (listed, taken);
        listed.sort();
        taken.sort();
        assert_eq!(listed, taken, "every snapshot once");
        // A token is bound to its period and scope.
        let (rep, _) = app.user(Role::Rep, None).await;
        let other_scope = client
            .list_forecast_snapshots(authed(
                &admin,
                pb::ListForecastSnapshotsRequest {
                    scope: rep.name.clone(),
                    ..list(2, first.next_page_token)
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&other_scope), ["page_token"]);
    }
);

contract_test!(
    exchange_rate_and_forecast_snapshot_lists_refuse_bad_paging,
    |app| {
        let admin = app.admin_token.clone();
        let mut client = app.forecasts().await;
        for (page_size, page_token, field) in [
            (-1, "", "page_size"),
            (i32::MIN, "", "page_size"),
            (0, "not-a-token", "page_token"),
        ] {
            let status = client
                .list_exchange_rates(authed(
                    &admin,
                    pb::ListExchangeRatesRequest {
                        page_size,
                        page_token: page_token.into(),
                    },
                ))
                .await
                .unwrap_err();
            assert_eq!(violated_fields(&status), [field], "exchange rates");
            let status = client
                .list_forecast_snapshots(authed(
                    &admin,
                    pb::ListForecastSnapshotsRequest {
                        period: "2026-Q4".into(),
                        scope: "org".into(),
                        page_size,
                        page_token: page_token.into(),
                    },
                ))
                .await
                .unwrap_err();
            assert_eq!(violated_fields(&status), [field], "forecast snapshots");
        }
    }
);
