//! DealDeskService approval requests end to end: routing and version pinning, who submits and
//! who decides, ALL and ANY steps, concurrent decisions, withdrawal, lists and queues,
//! delegation, escalation, smart re-approval, the deal gates, the event stream and metrics.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dealdesk::domain::directory::Role;
use dealdesk::proto::{self as pb, exit_criterion as ec};
use prost_types::FieldMask;
use tonic::{Code, Status, Streaming};
use tonic_types::StatusExt;

use crate::contract_test;
use crate::fixtures::{
    Org, close_won, create_deal, create_pipeline, create_policy, deal_in, in_days, move_to, queue,
    relation, stage, step, timestamp, try_create_deal, usd,
};
use crate::helpers::{Person, TestApp, assert_error, authed, person, violated_fields};

use pb::approval_event::Kind;
use pb::approval_request::State;
use pb::approval_request_step::State as StepState;
use pb::approval_step::Mode;
use pb::approver::Relation;

mod decisions;
mod delegations;
mod escalation;
mod events;
mod gates;
mod metrics;
mod reads;
mod resubmission;
mod submit;

// ---------------------------------------------------------------------------------------------
// The policy.

/// Mid-market: 15% pre-approved; to 25% the owner's manager; to 40% adds the VP (the leader
/// above the owner); beyond, the CFO (finance). Clauses outside the playbook go to legal,
/// payment beyond 45 days to finance.
fn policy() -> pb::ApprovalPolicy {
    pb::ApprovalPolicy {
        segment: pb::Segment::MidMarket as i32,
        tiers: vec![
            pb::DiscountTier {
                ceiling_bps: 1500,
                steps: vec![],
            },
            pb::DiscountTier {
                ceiling_bps: 2500,
                steps: vec![step(
                    "Sales manager",
                    vec![relation(Relation::OwnersManager)],
                    Mode::All,
                )],
            },
            pb::DiscountTier {
                ceiling_bps: 4000,
                steps: vec![step(
                    "VP of Sales",
                    vec![relation(Relation::LeaderAboveOwner)],
                    Mode::All,
                )],
            },
            pb::DiscountTier {
                ceiling_bps: 10_000,
                steps: vec![step("CFO", vec![queue(pb::Role::Finance)], Mode::All)],
            },
        ],
        size_thresholds: vec![],
        playbook: vec!["MUTUAL_NDA".into()],
        legal_step: Some(step(
            "Legal review",
            vec![queue(pb::Role::Legal)],
            Mode::All,
        )),
        payment_days_limit: 45,
        finance_step: Some(step("Finance", vec![queue(pb::Role::Finance)], Mode::All)),
        ..Default::default()
    }
}

/// A clause outside the playbook: it needs legal.
const UNCAPPED: &str = "UNCAPPED_LIABILITY";

// ---------------------------------------------------------------------------------------------
// The fixture: people, a mid-market pipeline with the approval gates, a deal.

/// discovery -> pricing (exit: discount covered) -> signature (exit: no pending approval) ->
/// contract -> won / lost.
fn gated_pipeline(segment: pb::Segment) -> pb::Pipeline {
    use pb::stage::Kind;
    pb::Pipeline {
        display_name: "Deal desk gates".into(),
        segment: segment as i32,
        stages: vec![
            stage("discovery", 10, Kind::Open, vec![]),
            stage(
                "pricing",
                20,
                Kind::Open,
                vec![ec::Rule::DiscountCovered(ec::DiscountCovered {})],
            ),
            stage(
                "signature",
                30,
                Kind::Open,
                vec![ec::Rule::NoPendingApproval(ec::NoPendingApproval {})],
            ),
            stage("contract", 40, Kind::Open, vec![]),
            stage("closed-won", 100, Kind::Won, vec![]),
            stage("closed-lost", 110, Kind::Lost, vec![]),
        ],
        ..Default::default()
    }
}

const DISCOUNT_COVERED: &str = "The discount is covered by an approved deal-desk request";

const NO_PENDING: &str = "No deal-desk approval is pending";

/// vp (LEADER) -> manager -> rep, and vp -> other_manager -> peer; legal (twice), finance and
/// deal desk (twice) outside the sales tree; a mid-market pipeline and a $50,000 deal of the rep.
struct Desk {
    admin: Person,
    vp: Person,
    manager: Person,
    rep: Person,
    other_manager: Person,
    peer: Person,
    legal: Person,
    legal2: Person,
    finance: Person,
    desk: Person,
    desk2: Person,
    pipeline: pb::Pipeline,
    deal: pb::Deal,
}

impl Desk {
    /// Everything but the approval policy.
    async fn without_policy(app: &TestApp) -> Desk {
        let org = Org::builder()
            .staff(&[
                Role::Legal,
                Role::Legal,
                Role::Finance,
                Role::DealDesk,
                Role::DealDesk,
            ])
            .build(app)
            .await;
        let Ok([rep]) = <[Person; 1]>::try_from(org.reps) else {
            unreachable!("one rep was asked for")
        };
        let Ok([peer]) = <[Person; 1]>::try_from(org.peers) else {
            unreachable!("one peer was asked for")
        };
        let Ok([legal, legal2, finance, desk, desk2]) = <[Person; 5]>::try_from(org.staff) else {
            unreachable!("five staff were asked for")
        };
        let pipeline = create_pipeline(app, gated_pipeline(pb::Segment::MidMarket)).await;
        let deal = create_deal(
            app,
            &rep.token,
            priced_deal(&pipeline, "Acme", "discovery", 0),
        )
        .await;
        Desk {
            admin: app.admin_person(),
            vp: org.leader,
            manager: org.manager,
            rep,
            other_manager: org.peer_manager,
            peer,
            legal,
            legal2,
            finance,
            desk,
            desk2,
            pipeline,
            deal,
        }
    }

    /// The fixture with the mid-market policy (version 1).
    async fn new(app: &TestApp) -> Desk {
        let desk = Desk::without_policy(app).await;
        create_policy(app, &app.admin_token, policy())
            .await
            .unwrap();
        desk
    }

    /// Another deal of the rep, in `stage` with `discount_bps`.
    async fn deal_of_rep(&self, app: &TestApp, stage: &str, discount_bps: i32) -> pb::Deal {
        create_deal(
            app,
            &self.rep.token,
            priced_deal(&self.pipeline, "Globex", stage, discount_bps),
        )
        .await
    }

    /// A deal of the peer (whom the rep cannot see).
    async fn deal_of_peer(&self, app: &TestApp) -> pb::Deal {
        create_deal(
            app,
            &self.peer.token,
            priced_deal(&self.pipeline, "Initech", "discovery", 0),
        )
        .await
    }
}

/// A $50,000 deal of the account "`name` Corp" in `stage`, at `discount_bps` off.
fn priced_deal(pipeline: &pb::Pipeline, name: &str, stage: &str, discount_bps: i32) -> pb::Deal {
    pb::Deal {
        account: format!("{name} Corp"),
        stage: stage.into(),
        amount: usd(5_000_000),
        discount_bps,
        ..deal_in(pipeline, name)
    }
}

/// The (stage, description) of each unmet gate of an EXIT_CRITERIA_NOT_MET refusal, whatever
/// the violation's type.
#[track_caller]
fn unmet_gates(status: &Status) -> Vec<(String, String)> {
    assert_error(status, Code::FailedPrecondition, "EXIT_CRITERIA_NOT_MET");
    status
        .get_details_precondition_failure()
        .expect("FAILED_PRECONDITION carries a PreconditionFailure")
        .violations
        .into_iter()
        .map(|v| (v.subject, v.description))
        .collect()
}

fn criterion(pipeline: &pb::Pipeline, stage_id: &str, description: &str) -> (String, String) {
    (
        format!("{}/stages/{stage_id}", pipeline.name),
        description.to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// Calls.

/// A request for `discount_bps` on `deal`, nothing else.
fn ask(deal: &pb::Deal, discount_bps: i32) -> pb::SubmitApprovalRequestRequest {
    pb::SubmitApprovalRequestRequest {
        deal: deal.name.clone(),
        discount_bps,
        ..Default::default()
    }
}

/// A request for a clause outside the playbook (legal), no discount.
fn ask_clause(deal: &pb::Deal) -> pb::SubmitApprovalRequestRequest {
    pb::SubmitApprovalRequestRequest {
        clauses: vec![UNCAPPED.into()],
        ..ask(deal, 0)
    }
}

async fn try_submit(
    app: &TestApp,
    who: &Person,
    request: pb::SubmitApprovalRequestRequest,
) -> Result<pb::ApprovalRequest, Status> {
    app.deal_desk()
        .await
        .submit_approval_request(authed(&who.token, request))
        .await
        .map(|r| r.into_inner())
}

async fn submit(
    app: &TestApp,
    who: &Person,
    request: pb::SubmitApprovalRequestRequest,
) -> pb::ApprovalRequest {
    try_submit(app, who, request).await.unwrap()
}

fn approval(step: &str, comment: &str) -> pb::ApproveApprovalStepRequest {
    pb::ApproveApprovalStepRequest {
        step: step.into(),
        comment: comment.into(),
        request_id: String::new(),
    }
}

async fn try_approve(
    app: &TestApp,
    who: &Person,
    step: &str,
) -> Result<pb::ApprovalRequest, Status> {
    app.deal_desk()
        .await
        .approve_approval_step(authed(&who.token, approval(step, "fine by me")))
        .await
        .map(|r| r.into_inner())
}

async fn approve(app: &TestApp, who: &Person, step: &str) -> pb::ApprovalRequest {
    try_approve(app, who, step).await.unwrap()
}

async fn try_reject(
    app: &TestApp,
    who: &Person,
    step: &str,
    comment: &str,
) -> Result<pb::ApprovalRequest, Status> {
    app.deal_desk()
        .await
        .reject_approval_step(authed(
            &who.token,
            pb::RejectApprovalStepRequest {
                step: step.into(),
                comment: comment.into(),
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn try_withdraw(
    app: &TestApp,
    who: &Person,
    name: &str,
) -> Result<pb::ApprovalRequest, Status> {
    app.deal_desk()
        .await
        .withdraw_approval_request(authed(
            &who.token,
            pb::WithdrawApprovalRequestRequest {
                name: name.into(),
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn try_read(app: &TestApp, who: &Person, name: &str) -> Result<pb::ApprovalRequest, Status> {
    app.deal_desk()
        .await
        .get_approval_request(authed(
            &who.token,
            pb::GetApprovalRequestRequest { name: name.into() },
        ))
        .await
        .map(|r| r.into_inner())
}

/// The request as stored, read by an admin.
async fn stored(app: &TestApp, name: &str) -> pb::ApprovalRequest {
    let admin = app.admin_person();
    try_read(app, &admin, name).await.unwrap()
}

async fn try_list(
    app: &TestApp,
    who: &Person,
    request: pb::ListApprovalRequestsRequest,
) -> Result<pb::ListApprovalRequestsResponse, Status> {
    app.deal_desk()
        .await
        .list_approval_requests(authed(&who.token, request))
        .await
        .map(|r| r.into_inner())
}

/// The names of the requests in the caller's queue (one page of 500).
async fn my_queue(app: &TestApp, who: &Person) -> Vec<String> {
    let page = try_list(
        app,
        who,
        pb::ListApprovalRequestsRequest {
            my_queue: true,
            page_size: 500,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(page.next_page_token.is_empty());
    names(&page.approval_requests)
}

/// The names of a deal's requests (one page of 500), optionally in one state.
async fn of_deal(app: &TestApp, who: &Person, deal: &pb::Deal, state: State) -> Vec<String> {
    names(
        &try_list(
            app,
            who,
            pb::ListApprovalRequestsRequest {
                deal: deal.name.clone(),
                state: state as i32,
                page_size: 500,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .approval_requests,
    )
}

fn names(requests: &[pb::ApprovalRequest]) -> Vec<String> {
    requests.iter().map(|r| r.name.clone()).collect()
}

/// `approvalRequests/{id}/steps/{n}`, n from 1.
fn step_of(request: &pb::ApprovalRequest, n: usize) -> String {
    format!("{}/steps/{n}", request.name)
}

fn step_states(request: &pb::ApprovalRequest) -> Vec<StepState> {
    request.steps.iter().map(|s| s.state()).collect()
}

fn step_names(request: &pb::ApprovalRequest) -> Vec<String> {
    request
        .steps
        .iter()
        .map(|s| s.step.as_ref().unwrap().name.clone())
        .collect()
}

/// Every decision on step `n` (from 1), in seat order.
fn decisions(request: &pb::ApprovalRequest, n: usize) -> Vec<pb::ApprovalDecision> {
    request.steps[n - 1]
        .seats
        .iter()
        .filter_map(|s| s.decision.clone())
        .collect()
}

/// Approves a 30% request of the fixture's rep: the manager, then the VP.
async fn approve_manager_and_vp(
    app: &TestApp,
    d: &Desk,
    request: &pb::ApprovalRequest,
) -> pb::ApprovalRequest {
    approve(app, &d.manager, &step_of(request, 1)).await;
    let approved = approve(app, &d.vp, &step_of(request, 2)).await;
    assert_eq!(approved.state(), State::Approved);
    approved
}

async fn watch(
    app: &TestApp,
    who: &Person,
    request: pb::WatchApprovalEventsRequest,
) -> Result<Streaming<pb::ApprovalEvent>, Status> {
    app.deal_desk()
        .await
        .watch_approval_events(authed(&who.token, request))
        .await
        .map(|r| r.into_inner())
}

/// The next `n` events of a stream; fails if any takes more than `wait`.
async fn take_within(
    stream: &mut Streaming<pb::ApprovalEvent>,
    n: usize,
    wait: Duration,
) -> Vec<pb::ApprovalEvent> {
    let mut events = Vec::new();
    for i in 0..n {
        let event = tokio::time::timeout(wait, stream.message())
            .await
            .unwrap_or_else(|_| panic!("event {} of {n} did not come within {wait:?}", i + 1))
            .expect("the stream does not fail")
            .expect("the stream stays open");
        events.push(event);
    }
    events
}

/// The next `n` events (already stored) of a stream.
async fn take(stream: &mut Streaming<pb::ApprovalEvent>, n: usize) -> Vec<pb::ApprovalEvent> {
    take_within(stream, n, Duration::from_secs(10)).await
}

/// No further event arrives within a second.
async fn quiet(stream: &mut Streaming<pb::ApprovalEvent>) {
    let next = tokio::time::timeout(Duration::from_secs(1), stream.message()).await;
    assert!(next.is_err(), "unexpected event: {next:?}");
}

/// Each event as (kind, request, step).
fn summary(events: &[pb::ApprovalEvent]) -> Vec<(Kind, String, String)> {
    events
        .iter()
        .map(|e| (e.kind(), e.approval_request.clone(), e.step.clone()))
        .collect()
}

#[track_caller]
fn assert_increasing(events: &[pb::ApprovalEvent]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].id < pair[1].id,
            "event ids must increase: {events:?}"
        );
    }
}

/// Events of one deal.
fn by_deal(deal: &str) -> pb::WatchApprovalEventsRequest {
    pb::WatchApprovalEventsRequest {
        deal: deal.into(),
        ..Default::default()
    }
}
