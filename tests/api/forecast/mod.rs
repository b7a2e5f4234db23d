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

mod exchange;
mod get_forecast;
mod range;
mod snapshots;
mod win_rates;

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

const EPSILON: f64 = 1e-9;

#[track_caller]
fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < EPSILON,
        "{what}: {actual} != {expected}"
    );
}

fn stage_rate<'a>(snapshot: &'a pb::WinRateSnapshot, stage_id: &str) -> &'a pb::StageWinRate {
    snapshot
        .stages
        .iter()
        .find(|s| s.stage_id == stage_id)
        .unwrap_or_else(|| panic!("no stage {stage_id} in {snapshot:?}"))
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
        // (no won deal observed), and no past period booked a deal created after its point;
        // no deal was seen booked early, so nothing is pulled in, nor overdue.
        period_forecast: weighted_pipeline,
        not_yet_created: 0,
        pulled_in: 0,
        overdue: 0,
        classic_expected: closed_won + weighted_pipeline,
    }
}

fn weighted(amount: i64, rate: f64) -> i64 {
    (amount as f64 * rate).round() as i64
}

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
