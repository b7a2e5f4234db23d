//! DealService: creating deals, gated stage moves and their checklist, closing, leader-owned
//! fields, visibility, etags, idempotent retries, listing and the stage history.

use dealdesk::domain::directory::Role;
use dealdesk::proto::deal_service_client::DealServiceClient;
use dealdesk::proto::google::r#type::Date;
use dealdesk::proto::{self as pb, exit_criterion as ec};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::contract_test;
use crate::fixtures::{
    Org, close_deal, close_lost, close_won, create_deal, create_pipeline, date, deal_in, in_days,
    mask, move_to, stage, template_pipeline, today, try_create_deal, usd,
};
use crate::helpers::{Person, TestApp, assert_error, authed, person, unmet, violated_fields};

use pb::close_deal_request::Outcome;
use pb::deal::Status as DealStatus;
use pb::stage_history_entry::Direction as History;

mod close;
mod create;
mod history;
mod list;
mod moves;
mod update;
mod visibility;

// ---------------------------------------------------------------------------------------------
// Setup: people, pipelines, deals.

/// Sends six copies of one request at once (each on its own connection) and returns every
/// answer, which must all be successes.
async fn six_at_once<T, F, Fut>(app: &TestApp, send: F) -> Vec<T>
where
    F: Fn(DealServiceClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>> + Send + 'static,
    T: Send + 'static,
{
    let mut tasks = Vec::new();
    for _ in 0..6 {
        tasks.push(tokio::spawn(send(app.deals().await)));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(
            task.await
                .unwrap()
                .expect("every retry gets the first answer"),
        );
    }
    answers
}

/// leader -> manager -> rep and leader -> peer_manager -> peer, plus the read-only roles.
async fn org(app: &TestApp) -> Org {
    Org::builder()
        .staff(&[Role::DealDesk, Role::Finance, Role::Legal])
        .build(app)
        .await
}

const PROPOSE: [&str; 2] = [
    "An economic buyer is among the contacts",
    "Close date is today or later",
];

/// A small pipeline with known gates: qualify -> propose -> negotiate -> won / lost.
async fn gated_pipeline(app: &TestApp) -> pb::Pipeline {
    use pb::stage::Kind;
    create_pipeline(
        app,
        pb::Pipeline {
            display_name: "Gated".into(),
            segment: pb::Segment::MidMarket as i32,
            stages: vec![
                stage(
                    "qualify",
                    10,
                    Kind::Open,
                    vec![
                        ec::Rule::FieldSet(ec::FieldSet {
                            field: pb::DealField::NextStep as i32,
                        }),
                        ec::Rule::AmountPositive(ec::AmountPositive {}),
                    ],
                ),
                stage(
                    "propose",
                    20,
                    Kind::Open,
                    vec![
                        ec::Rule::ContactWithRole(ec::ContactWithRole {
                            role: pb::BuyingRole::EconomicBuyer as i32,
                        }),
                        ec::Rule::CloseDateInFuture(ec::CloseDateInFuture {}),
                    ],
                ),
                stage(
                    "negotiate",
                    30,
                    Kind::Open,
                    vec![ec::Rule::QualificationAtLeast(ec::QualificationAtLeast {
                        element: pb::QualificationElement::PaperProcess as i32,
                        min_status: pb::QualificationStatus::Green as i32,
                    })],
                ),
                stage("closed-won", 100, Kind::Won, vec![]),
                stage("closed-lost", 110, Kind::Lost, vec![]),
            ],
            ..Default::default()
        },
    )
    .await
}

/// A pipeline created as-is from a built-in template.
fn subject(pipeline: &pb::Pipeline, stage_id: &str) -> String {
    format!("{}/stages/{stage_id}", pipeline.name)
}

fn contact(role: pb::BuyingRole, department: &str) -> pb::Contact {
    pb::Contact {
        display_name: format!("Pat {department}"),
        email: String::new(),
        title: "Director".into(),
        buying_role: role as i32,
        department: department.into(),
    }
}

fn item(
    element: pb::QualificationElement,
    status: pb::QualificationStatus,
) -> pb::QualificationItem {
    pb::QualificationItem {
        element: element as i32,
        status: status as i32,
        ..Default::default()
    }
}

/// A deal that meets the criteria of `qualify` and `propose` (not `negotiate`).
fn ready(pipeline: &pb::Pipeline, name: &str) -> pb::Deal {
    pb::Deal {
        amount: usd(5_000_000),
        close_date: in_days(30),
        next_step: "Demo with the CFO".into(),
        contacts: vec![contact(pb::BuyingRole::EconomicBuyer, "Finance")],
        ..deal_in(pipeline, name)
    }
}

async fn get(app: &TestApp, token: &str, name: &str) -> Result<pb::Deal, Status> {
    app.deals()
        .await
        .get_deal(authed(token, pb::GetDealRequest { name: name.into() }))
        .await
        .map(|r| r.into_inner())
}

/// Updates the fields named by `paths` to the values in `deal` (which carries the name).
async fn update(
    app: &TestApp,
    token: &str,
    deal: pb::Deal,
    paths: &[&str],
) -> Result<pb::Deal, Status> {
    app.deals()
        .await
        .update_deal(authed(
            token,
            pb::UpdateDealRequest {
                deal: Some(deal),
                update_mask: mask(paths),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn preview(
    app: &TestApp,
    token: &str,
    name: &str,
    target: &str,
) -> Result<pb::PreviewDealStageResponse, Status> {
    app.deals()
        .await
        .preview_deal_stage(authed(
            token,
            pb::PreviewDealStageRequest {
                name: name.into(),
                target_stage: target.into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn try_history(
    app: &TestApp,
    token: &str,
    name: &str,
) -> Result<Vec<pb::StageHistoryEntry>, Status> {
    app.deals()
        .await
        .list_deal_stage_history(authed(
            token,
            pb::ListDealStageHistoryRequest {
                parent: name.into(),
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner().entries)
}

async fn history(app: &TestApp, token: &str, name: &str) -> Vec<pb::StageHistoryEntry> {
    try_history(app, token, name).await.unwrap()
}

async fn list(
    app: &TestApp,
    token: &str,
    request: pb::ListDealsRequest,
) -> Result<pb::ListDealsResponse, Status> {
    app.deals()
        .await
        .list_deals(authed(token, request))
        .await
        .map(|r| r.into_inner())
}

/// The names of the deals of one page listed with `request`.
async fn listed(app: &TestApp, token: &str, request: pb::ListDealsRequest) -> Vec<String> {
    list(app, token, request)
        .await
        .unwrap()
        .deals
        .into_iter()
        .map(|d| d.name)
        .collect()
}

/// A timestamp as comparable (seconds, nanos).
fn instant(t: &Option<prost_types::Timestamp>) -> (i64, i32) {
    let t = t.expect("a timestamp");
    (t.seconds, t.nanos)
}

fn names(deals: &[&pb::Deal]) -> Vec<String> {
    deals.iter().map(|d| d.name.clone()).collect()
}

/// The expected unmet list: `descriptions` of the stage `stage_id`.
fn expect(pipeline: &pb::Pipeline, stage_id: &str, descriptions: &[&str]) -> Vec<(String, String)> {
    descriptions
        .iter()
        .map(|d| (subject(pipeline, stage_id), d.to_string()))
        .collect()
}
