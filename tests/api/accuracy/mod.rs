//! Forecast snapshots, accuracy and backtests on a hand-built past period (June 2025) whose
//! answers are worked out in the comments.

use chrono::Utc;
use dealdesk::domain::deal::{
    Bant, Deal, DealFields, DealStatus, ForecastCategory, HistoryDirection, StageHistoryEntry,
};
use dealdesk::domain::directory::Role;
use dealdesk::domain::ids::{DealId, PipelineId};
use dealdesk::proto as pb;
use tonic::Code;

use crate::contract_test;
use crate::fixtures::{Book, at, create_pipeline, day, domain_usd, pipeline_uuid, stage_at, usd};
use crate::helpers::{TestApp, assert_error, authed, user_id, violated_fields};

mod learning;
mod scores;
mod sources;

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
        display_name: format!("deal {amount}").try_into().unwrap(),
        account: "Past Corp".to_string().try_into().unwrap(),
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
        id: DealId::generate(),
        pipeline_id: PipelineId(pipeline),
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
        pipeline_id: PipelineId(pipeline),
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
pub(crate) fn closed_book(pipeline: uuid::Uuid, closed: &[Closed<'_>]) -> Book {
    let mut book = Book::default();
    for &(owner, amount, created, close, won, when) in closed {
        let (deal, rows) = past_deal(pipeline, owner, amount, created, close, won, when);
        let fields = dealdesk::domain::deal_history::rows_from_stage_history(&deal, &rows);
        book.add((deal, rows, fields));
    }
    book
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
    let pid = pipeline_uuid(&pipeline);
    closed_book(pid, &june_closed(&rep1.0, &rep2.0))
        .insert(app)
        .await;
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
