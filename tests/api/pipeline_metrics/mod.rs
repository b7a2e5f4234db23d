//! GetPipelineMetrics on a hand-built history (January and February 2025) whose answers are
//! worked out in the comments, plus permissions and bad input.
//!
//! The book (pipeline P, SMB: discover 1, evaluate 2 (stale after 30 days), decide 3, won,
//! lost; every time 09:00 UTC unless said). Close dates in brackets are the deal's close date
//! on that history row.
//!
//! | deal | owner | source   | history                                                           |
//! |------|-------|----------|-------------------------------------------------------------------|
//! | A    | R1    | inbound  | discover 01-02 [03-31], evaluate 01-12 [03-31], decide 01-22      |
//! |      |       |          | [04-15], won 02-01 [05-20]                                        |
//! | B    | R1    | outbound | discover 01-05 [02-28], evaluate 01-25 [02-28], back to discover  |
//! |      |       |          | 02-04 [03-10], lost 02-24 [03-10]                                 |
//! | C    | R2    | inbound  | discover 2024-12-20 [01-31], evaluate 01-09 [02-20], decide 02-13 |
//! |      |       |          | [02-28], still open                                               |
//! | D    | R2    | referral | created in evaluate 02-10 [05-31], won 02-20 21:00 [05-31]        |
//! | E    | R3    | inbound  | discover 01-10 [02-28], lost 01-30 [01-30] (pulled in, no push)   |
//! | F    | R1    | none     | discover 02-14 [no date], evaluate 02-25 [06-30], still open      |
//! | G    | R2    | inbound  | discover three days ago [next year], still open                  |
//! | H    | R1    | inbound  | in another pipeline: discover 01-03, won 01-13 (never counted)    |
//! | J    | R3    | outbound | discover 100 days ago, evaluate 90, decide 80, won 60 days ago    |
//! | K    | R3    | outbound | discover 50 days ago, lost 20 days ago                            |
//!
//! J and K are recent: they move nothing in 2025 and are only the stale rule's history (the
//! twelve months before now, pipeline-wide).
//!
//! Reporting tree: manager M over R1 and R2; manager M2 over R3.

use chrono::{DateTime, Duration, Utc};
use dealdesk::domain::deal::{
    Bant, Deal, DealFields, DealStatus, ForecastCategory, HistoryDirection, LeadSource,
    StageHistoryEntry,
};
use dealdesk::domain::directory::Role;
use dealdesk::domain::ids::{DealId, PipelineId};
use dealdesk::domain::money::{Currency, Money};
use dealdesk::proto as pb;
use tonic::{Code, Status};

use crate::contract_test;
use crate::fixtures::{at, create_pipeline, day, insert_book, pipeline_uuid, stage_at};
use crate::helpers::{Person, TestApp, assert_error, authed, person, user_id, violated_fields};

mod figures;
mod scope;

/// Discover, evaluate (stale after 30 days), decide, won, lost.
async fn pipeline(app: &TestApp, name: &str) -> (String, uuid::Uuid) {
    use pb::stage::Kind;
    let stage = |id: &str, position, kind: Kind, bps, stale: Option<i32>| pb::Stage {
        stale_after_days: stale,
        ..stage_at(id, position, kind, bps)
    };
    let created = create_pipeline(
        app,
        pb::Pipeline {
            display_name: name.into(),
            segment: pb::Segment::Smb as i32,
            stages: vec![
                stage("discover", 1, Kind::Open, 2_000, None),
                stage("evaluate", 2, Kind::Open, 5_000, Some(30)),
                stage("decide", 3, Kind::Open, 8_000, None),
                stage("won", 4, Kind::Won, 10_000, None),
                stage("lost", 5, Kind::Lost, 0, None),
            ],
            ..Default::default()
        },
    )
    .await;
    let id = pipeline_uuid(&created);
    (created.name, id)
}

/// A deal that went through `steps` (stage, when, close date on that row), in order.
fn deal(
    pipeline: uuid::Uuid,
    owner: &Person,
    source: Option<LeadSource>,
    steps: &[(&str, DateTime<Utc>, Option<&str>)],
) -> (Deal, Vec<StageHistoryEntry>) {
    let position = |stage: &str| match stage {
        "discover" => 1,
        "evaluate" => 2,
        "decide" => 3,
        _ => 9,
    };
    let (last_stage, last_at, last_close) = *steps.last().unwrap();
    let status = match last_stage {
        "won" => DealStatus::Won,
        "lost" => DealStatus::Lost,
        _ => DealStatus::Open,
    };
    let deal = Deal {
        id: DealId::generate(),
        pipeline_id: PipelineId(pipeline),
        stage_id: last_stage.into(),
        status,
        loss_reason: if status == DealStatus::Lost {
            "No budget".into()
        } else {
            String::new()
        },
        fields: DealFields {
            display_name: format!("deal from {}", steps[0].1.date_naive())
                .try_into()
                .unwrap(),
            account: "Metrics Corp".to_string().try_into().unwrap(),
            owner_id: user_id(&owner.name()),
            amount: Some(Money {
                minor: 100_000,
                currency: Currency::USD,
            }),
            // A closed deal is booked on the day it closed.
            close_date: if status == DealStatus::Open {
                last_close.map(day)
            } else {
                Some(last_at.date_naive())
            },
            lead_source: source,
            next_step: String::new(),
            next_step_date: None,
            bant: Bant::default(),
            confirmed_budget: None,
            discount_bps: 0,
            forecast_category: if status == DealStatus::Open {
                ForecastCategory::Pipeline
            } else {
                ForecastCategory::Closed
            },
            contacts: vec![],
            qualification: vec![],
        },
        created_at: steps[0].1,
        updated_at: last_at,
        stage_entered_at: last_at,
        closed_at: (status != DealStatus::Open).then_some(last_at),
        version: 1,
    };
    let history = steps
        .iter()
        .enumerate()
        .map(|(i, (stage, when, close))| {
            let from = (i > 0).then(|| steps[i - 1].0);
            let direction = match from {
                None => HistoryDirection::Create,
                Some(_) if matches!(*stage, "won" | "lost") => HistoryDirection::Close,
                Some(from) if position(stage) < position(from) => HistoryDirection::Backward,
                Some(_) => HistoryDirection::Forward,
            };
            StageHistoryEntry {
                sequence: 0,
                deal_id: deal.id,
                pipeline_id: PipelineId(pipeline),
                from_stage: from.map(str::to_string),
                to_stage: (*stage).into(),
                at: *when,
                actor: None,
                amount: deal.fields.amount,
                close_date: close.map(day),
                direction,
                overridden: false,
                justification: String::new(),
            }
        })
        .collect();
    (deal, history)
}

struct Book {
    pipeline: String,
    deal_desk: Person,
    manager: Person,
    rep1: Person,
    rep2: Person,
    rep3: Person,
}

/// Builds the book of the module doc.
async fn book(app: &TestApp) -> Book {
    let deal_desk = person(app, Role::DealDesk, None).await;
    let manager = person(app, Role::Manager, None).await;
    let rep1 = person(app, Role::Rep, Some(&manager)).await;
    let rep2 = person(app, Role::Rep, Some(&manager)).await;
    let manager2 = person(app, Role::Manager, None).await;
    let rep3 = person(app, Role::Rep, Some(&manager2)).await;
    let (name, p) = pipeline(app, "Metrics").await;
    let (_, other) = pipeline(app, "Elsewhere").await;
    let books = the_deals(p, other, [&rep1, &rep2, &rep3]);
    let deals: Vec<Deal> = books.iter().map(|(d, _)| d.clone()).collect();
    let fields: Vec<_> = books
        .iter()
        .flat_map(|(d, rows)| dealdesk::domain::deal_history::rows_from_stage_history(d, rows))
        .collect();
    let mut history: Vec<StageHistoryEntry> =
        books.into_iter().flat_map(|(_, rows)| rows).collect();
    // Stored in time order, so each deal's rows are in order too.
    history.sort_by_key(|h| h.at);
    insert_book(app, &deals, &history, &fields).await;
    Book {
        pipeline: name,
        deal_desk,
        manager,
        rep1,
        rep2,
        rep3,
    }
}

/// The deals of the module doc with their stage history: nine in the pipeline `p` (by rep1,
/// rep2, rep3), one in `other`.
fn the_deals(
    p: uuid::Uuid,
    other: uuid::Uuid,
    [rep1, rep2, rep3]: [&Person; 3],
) -> [(Deal, Vec<StageHistoryEntry>); 10] {
    let t = |text: &str| at(&format!("2025-{text}:00Z"));
    let now = Utc::now();
    let ago = |days: i64| now - Duration::days(days);
    [
        deal(
            p,
            rep1,
            Some(LeadSource::Inbound),
            &[
                ("discover", t("01-02T09:00"), Some("2025-03-31")),
                ("evaluate", t("01-12T09:00"), Some("2025-03-31")),
                ("decide", t("01-22T09:00"), Some("2025-04-15")),
                ("won", t("02-01T09:00"), Some("2025-05-20")),
            ],
        ),
        deal(
            p,
            rep1,
            Some(LeadSource::Outbound),
            &[
                ("discover", t("01-05T09:00"), Some("2025-02-28")),
                ("evaluate", t("01-25T09:00"), Some("2025-02-28")),
                ("discover", t("02-04T09:00"), Some("2025-03-10")),
                ("lost", t("02-24T09:00"), Some("2025-03-10")),
            ],
        ),
        deal(
            p,
            rep2,
            Some(LeadSource::Inbound),
            &[
                ("discover", at("2024-12-20T09:00:00Z"), Some("2025-01-31")),
                ("evaluate", t("01-09T09:00"), Some("2025-02-20")),
                ("decide", t("02-13T09:00"), Some("2025-02-28")),
            ],
        ),
        deal(
            p,
            rep2,
            Some(LeadSource::Referral),
            &[
                ("evaluate", t("02-10T09:00"), Some("2025-05-31")),
                ("won", t("02-20T21:00"), Some("2025-05-31")),
            ],
        ),
        deal(
            p,
            rep3,
            Some(LeadSource::Inbound),
            &[
                ("discover", t("01-10T09:00"), Some("2025-02-28")),
                ("lost", t("01-30T09:00"), Some("2025-01-30")),
            ],
        ),
        deal(
            p,
            rep1,
            None,
            &[
                ("discover", t("02-14T09:00"), None),
                ("evaluate", t("02-25T09:00"), Some("2025-06-30")),
            ],
        ),
        deal(
            p,
            rep2,
            Some(LeadSource::Inbound),
            &[("discover", ago(3), Some("2027-12-31"))],
        ),
        deal(
            p,
            rep3,
            Some(LeadSource::Outbound),
            &[
                ("discover", ago(100), Some("2027-12-31")),
                ("evaluate", ago(90), Some("2027-12-31")),
                ("decide", ago(80), Some("2027-12-31")),
                ("won", ago(60), Some("2027-12-31")),
            ],
        ),
        deal(
            p,
            rep3,
            Some(LeadSource::Outbound),
            &[
                ("discover", ago(50), Some("2027-12-31")),
                ("lost", ago(20), Some("2027-12-31")),
            ],
        ),
        deal(
            other,
            rep1,
            Some(LeadSource::Inbound),
            &[
                ("discover", t("01-03T09:00"), Some("2025-01-31")),
                ("won", t("01-13T09:00"), Some("2025-01-31")),
            ],
        ),
    ]
}

/// January and February 2025 of `pipeline`.
fn ask(pipeline: &str) -> pb::GetPipelineMetricsRequest {
    pb::GetPipelineMetricsRequest {
        pipeline: pipeline.into(),
        start_month: "2025-01".into(),
        end_month: "2025-02".into(),
        ..Default::default()
    }
}

async fn metrics(
    app: &TestApp,
    token: &str,
    request: pb::GetPipelineMetricsRequest,
) -> Result<pb::PipelineMetrics, Status> {
    app.pipelines()
        .await
        .get_pipeline_metrics(authed(token, request))
        .await
        .map(|r| r.into_inner())
}

/// Rounds away floating-point noise.
fn r(x: Option<f64>) -> Option<f64> {
    x.map(|v| (v * 1e9).round() / 1e9)
}

/// (stage id, entered, advanced, conversion) per stage.
fn conversion(p: &pb::PeriodPipelineMetrics) -> Vec<(String, i64, i64, Option<f64>)> {
    p.stages
        .iter()
        .map(|s| {
            let id = s.stage.rsplit('/').next().unwrap().to_string();
            (id, s.entered, s.advanced, r(s.conversion_rate))
        })
        .collect()
}

/// (stage id, exits, backward moves, backward rate, median days).
type Velocity = (String, i64, i64, Option<f64>, Option<f64>);

/// (won, lost, win rate, median sales cycle days).
type Outcome = (i64, i64, Option<f64>, Option<f64>);

/// Velocity per stage.
fn velocity(p: &pb::PeriodPipelineMetrics) -> Vec<Velocity> {
    p.stages
        .iter()
        .map(|s| {
            let id = s.stage.rsplit('/').next().unwrap().to_string();
            (
                id,
                s.exits,
                s.backward_moves,
                r(s.backward_rate),
                r(s.median_days_in_stage),
            )
        })
        .collect()
}

/// (compared, pushes, pushed deals, push rate, median push days).
fn pushes(p: &pb::PeriodPipelineMetrics) -> (i64, i64, i64, Option<f64>, Option<f64>) {
    let c = p.close_date_pushes.as_ref().unwrap();
    (
        c.compared,
        c.pushes,
        c.pushed_deals,
        r(c.push_rate),
        r(c.median_push_days),
    )
}

fn closed(c: &pb::ClosedDealMetrics) -> Outcome {
    (c.won, c.lost, r(c.win_rate), r(c.median_sales_cycle_days))
}

fn s(id: &str) -> String {
    id.to_string()
}
