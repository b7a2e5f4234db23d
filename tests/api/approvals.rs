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

/// The policy with a legal step asked of both the legal queue and the owner's manager.
fn joint_legal_policy(mode: Mode) -> pb::ApprovalPolicy {
    pb::ApprovalPolicy {
        legal_step: Some(step(
            "Legal review",
            vec![queue(pb::Role::Legal), relation(Relation::OwnersManager)],
            mode,
        )),
        ..policy()
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

/// The (stage, description, met) of each check of a previewed move.
async fn gate_checks(
    app: &TestApp,
    who: &Person,
    deal: &pb::Deal,
    target: &str,
) -> Vec<(String, String, bool)> {
    app.deals()
        .await
        .preview_deal_stage(authed(
            &who.token,
            pb::PreviewDealStageRequest {
                name: deal.name.clone(),
                target_stage: target.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .checks
        .into_iter()
        .map(|c| (c.stage, c.criterion.unwrap().description, c.met))
        .collect()
}

async fn set_discount(app: &TestApp, who: &Person, deal: &pb::Deal, discount_bps: i32) {
    let updated = app
        .deals()
        .await
        .update_deal(authed(
            &who.token,
            pb::UpdateDealRequest {
                deal: Some(pb::Deal {
                    name: deal.name.clone(),
                    discount_bps,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["discount_bps".into()],
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.discount_bps, discount_bps);
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

/// A request for `discount_bps` that replaces `earlier`.
fn resubmit(
    deal: &pb::Deal,
    discount_bps: i32,
    earlier: &pb::ApprovalRequest,
) -> pb::SubmitApprovalRequestRequest {
    pb::SubmitApprovalRequestRequest {
        resubmits: earlier.name.clone(),
        ..ask(deal, discount_bps)
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

fn reapprovals(request: &pb::ApprovalRequest) -> Vec<String> {
    request.steps.iter().map(|s| s.reapproval.clone()).collect()
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

/// A delegation of the caller's approvals to `delegate` from `start` to `end` days from today.
fn delegation(delegate: &Person, start: i64, end: i64) -> pb::Delegation {
    pb::Delegation {
        delegate: delegate.name(),
        start_date: in_days(start),
        end_date: in_days(end),
        ..Default::default()
    }
}

async fn try_delegate(
    app: &TestApp,
    who: &Person,
    delegation: pb::Delegation,
) -> Result<pb::Delegation, Status> {
    app.deal_desk()
        .await
        .create_delegation(authed(
            &who.token,
            pb::CreateDelegationRequest {
                delegation: Some(delegation),
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn delegations_seen_by(app: &TestApp, who: &Person) -> Vec<String> {
    app.deal_desk()
        .await
        .list_delegations(authed(
            &who.token,
            pb::ListDelegationsRequest {
                page_size: 500,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .delegations
        .into_iter()
        .map(|d| d.name)
        .collect()
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

/// Events of requests on which `approver` is an approver.
fn by_approver(approver: &Person) -> pb::WatchApprovalEventsRequest {
    pb::WatchApprovalEventsRequest {
        approver: approver.name(),
        ..Default::default()
    }
}

/// Events of requests with a step for `role`'s queue.
fn by_queue(role: pb::Role) -> pb::WatchApprovalEventsRequest {
    pb::WatchApprovalEventsRequest {
        role_queue: role as i32,
        ..Default::default()
    }
}

fn watch_all(after_event_id: i64) -> pb::WatchApprovalEventsRequest {
    pb::WatchApprovalEventsRequest {
        after_event_id,
        ..Default::default()
    }
}

async fn try_metrics(
    app: &TestApp,
    who: &Person,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<pb::ApprovalMetrics, Status> {
    app.deal_desk()
        .await
        .get_approval_metrics(authed(
            &who.token,
            pb::GetApprovalMetricsRequest {
                start_time: timestamp(start),
                end_time: timestamp(end),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// (count, decided) of a turnaround, after checking its times are sane.
#[track_caller]
fn counted(t: &Option<pb::Turnaround>) -> (i64, i64) {
    let t = t.as_ref().expect("a turnaround");
    assert!(t.median_seconds >= 0.0, "{t:?}");
    assert!(t.p90_seconds >= t.median_seconds, "{t:?}");
    (t.count, t.decided)
}

// ---------------------------------------------------------------------------------------------
// Submitting: routing, seats, version pinning.

contract_test!(
    a_discount_within_the_pre_approved_tier_is_approved_at_once,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 1500)).await;
        assert!(request.name.starts_with("approvalRequests/"));
        assert_eq!(request.deal, d.deal.name);
        assert_eq!(request.requester, d.rep.name());
        assert_eq!(request.policy, "approvalPolicies/mid-market/versions/1");
        assert_eq!(request.discount_bps, 1500);
        assert_eq!(request.amount, d.deal.amount);
        assert_eq!(request.state(), State::Approved);
        assert!(request.auto_approved);
        assert!(request.steps.is_empty());
        assert!(request.resubmits.is_empty());
        assert!(request.create_time.is_some());
        assert_eq!(request.close_time, request.create_time);
        assert_eq!(stored(&app, &request.name).await, request);
        assert_eq!(app.count("approval_requests").await, 1);
    }
);

contract_test!(
    a_discount_above_the_tier_waits_on_each_step_in_order_with_reasons_and_seats,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        assert_eq!(request.state(), State::Pending);
        assert!(!request.auto_approved);
        assert!(request.close_time.is_none());
        assert_eq!(step_names(&request), ["Sales manager", "VP of Sales"]);
        assert_eq!(
            step_states(&request),
            [StepState::Pending, StepState::Waiting]
        );
        assert_eq!(
            request.steps[0].reasons,
            ["discount 30.0% exceeds the 15.0% pre-approved for mid-market: Sales manager"]
        );
        assert_eq!(
            request.steps[1].reasons,
            ["discount 30.0% exceeds 25.0%: VP of Sales"]
        );
        assert_eq!(request.steps[0].name, step_of(&request, 1));
        assert_eq!(request.steps[1].name, step_of(&request, 2));
        // The first step is asked now and due after its 24-hour SLA; the second waits.
        let start = request.steps[0]
            .start_time
            .expect("the first step is asked");
        let due = request.steps[0].due_time.expect("and due");
        assert_eq!(
            (due.seconds - start.seconds, due.nanos),
            (24 * 3600, start.nanos)
        );
        assert_eq!(request.steps[0].start_time, request.create_time);
        assert!(request.steps[1].start_time.is_none() && request.steps[1].due_time.is_none());
        // Seats resolve to people: the owner's manager, the leader above the owner.
        let seats: Vec<(&str, i32)> = request
            .steps
            .iter()
            .flat_map(|s| &s.seats)
            .map(|seat| (seat.user.as_str(), seat.role))
            .collect();
        assert_eq!(
            seats,
            [
                (d.manager.name().as_str(), pb::Role::Unspecified as i32),
                (d.vp.name().as_str(), pb::Role::Unspecified as i32)
            ]
        );
        assert_eq!(
            request.steps[0].seats[0].approver,
            Some(relation(Relation::OwnersManager))
        );
        assert!(
            request
                .steps
                .iter()
                .flat_map(|s| &s.seats)
                .all(|s| s.decision.is_none() && s.escalated_to.is_empty())
        );

        // Clauses outside the playbook and long payment terms add role-queue steps.
        let terms = submit(
            &app,
            &d.rep,
            pb::SubmitApprovalRequestRequest {
                clauses: vec!["MUTUAL_NDA".into(), UNCAPPED.into()],
                payment_days: 60,
                ..ask(&d.deal, 4500)
            },
        )
        .await;
        assert_eq!(
            step_names(&terms),
            [
                "Sales manager",
                "VP of Sales",
                "CFO",
                "Legal review",
                "Finance"
            ]
        );
        assert_eq!(
            terms.steps[3].reasons,
            ["clauses outside the legal playbook (UNCAPPED_LIABILITY): Legal review"]
        );
        assert_eq!(
            terms.steps[4].reasons,
            ["payment in 60 days exceeds the 45-day limit: Finance"]
        );
        let queues: Vec<(String, pb::Role)> = terms.steps[2..]
            .iter()
            .map(|s| (s.seats[0].user.clone(), s.seats[0].role()))
            .collect();
        assert_eq!(
            queues,
            [
                (String::new(), pb::Role::Finance),
                (String::new(), pb::Role::Legal),
                (String::new(), pb::Role::Finance)
            ]
        );
        assert_eq!(terms.clauses, ["MUTUAL_NDA", UNCAPPED]);
        assert_eq!(terms.payment_days, 60);
        assert_eq!(stored(&app, &request.name).await, request);
        assert_eq!(app.count("approval_requests").await, 2);
    }
);

contract_test!(
    a_request_keeps_the_policy_version_it_was_routed_with,
    |app| {
        let d = Desk::new(&app).await;
        let old = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        assert_eq!(old.policy, "approvalPolicies/mid-market/versions/1");
        assert_eq!(old.state(), State::Pending);
        // Version 2 pre-approves up to 25%.
        let mut looser = policy();
        looser.tiers.remove(1);
        looser.tiers[0].ceiling_bps = 2500;
        assert_eq!(
            create_policy(&app, &app.admin_token, looser)
                .await
                .unwrap()
                .version,
            2
        );

        let read = stored(&app, &old.name).await;
        assert_eq!(read, old, "a new version changes nothing in flight");
        let new = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        assert_eq!(new.policy, "approvalPolicies/mid-market/versions/2");
        assert_eq!(new.state(), State::Approved);
        assert!(new.auto_approved && new.steps.is_empty());
        // The old request still follows version 1: its manager approves it.
        let approved = approve(&app, &d.manager, &step_of(&old, 1)).await;
        assert_eq!(approved.state(), State::Approved);
        assert_eq!(approved.policy, "approvalPolicies/mid-market/versions/1");
    }
);

contract_test!(
    owners_managers_deal_desk_and_admins_submit_others_do_not,
    |app| {
        let d = Desk::new(&app).await;
        for who in [&d.rep, &d.manager, &d.vp, &d.desk, &d.admin] {
            let request = submit(&app, who, ask(&d.deal, 2000)).await;
            assert_eq!(request.requester, who.name());
            assert_eq!(request.state(), State::Pending);
        }
        for who in [&d.finance, &d.legal] {
            let status = try_submit(&app, who, ask(&d.deal, 2000)).await.unwrap_err();
            assert_error(&status, Code::PermissionDenied, "REQUESTER_ROLE");
        }
        for who in [&d.peer, &d.other_manager] {
            let status = try_submit(&app, who, ask(&d.deal, 2000)).await.unwrap_err();
            assert_error(&status, Code::NotFound, "NOT_FOUND");
        }
        assert_eq!(app.count("approval_requests").await, 5);
    }
);

contract_test!(a_segment_without_a_policy_cannot_be_submitted, |app| {
    let d = Desk::new(&app).await;
    let smb = create_pipeline(&app, gated_pipeline(pb::Segment::Smb)).await;
    let deal = create_deal(
        &app,
        &d.rep.token,
        priced_deal(&smb, "Small", "discovery", 0),
    )
    .await;
    let status = try_submit(&app, &d.rep, ask(&deal, 2000))
        .await
        .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "NO_APPROVAL_POLICY");
    assert_eq!(app.count("approval_requests").await, 0);

    // Without a policy nothing is pre-approved: any discount blocks the discount gate.
    let discounted = create_deal(
        &app,
        &d.rep.token,
        priced_deal(&smb, "Small", "pricing", 500),
    )
    .await;
    let refused = move_to(&app, &d.rep.token, &discounted.name, "signature")
        .await
        .unwrap_err();
    assert_eq!(
        unmet_gates(&refused),
        [criterion(&smb, "pricing", DISCOUNT_COVERED)]
    );
    let undiscounted =
        create_deal(&app, &d.rep.token, priced_deal(&smb, "Small", "pricing", 0)).await;
    let moved = move_to(&app, &d.rep.token, &undiscounted.name, "signature")
        .await
        .unwrap();
    assert_eq!(moved.stage, "signature");
});

contract_test!(
    a_closed_deal_takes_no_request_and_closing_won_waits_for_pending_approvals,
    |app| {
        let d = Desk::new(&app).await;
        let deal = d.deal_of_rep(&app, "signature", 0).await;
        let pending = submit(&app, &d.rep, ask(&deal, 2000)).await;
        let refused = close_won(&app, &d.rep.token, &deal.name).await.unwrap_err();
        assert_eq!(
            unmet_gates(&refused),
            [criterion(&d.pipeline, "signature", NO_PENDING)]
        );
        try_withdraw(&app, &d.rep, &pending.name).await.unwrap();
        let won = close_won(&app, &d.rep.token, &deal.name).await.unwrap();
        assert_eq!(won.status, pb::deal::Status::Won as i32);
        let status = try_submit(&app, &d.rep, ask(&deal, 2000))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "DEAL_CLOSED");
        assert_eq!(app.count("approval_requests").await, 1);
    }
);

contract_test!(
    a_step_nobody_but_the_requester_could_approve_is_refused,
    |app| {
        let d = Desk::new(&app).await;
        // A rep without a manager: nobody is the owner's manager.
        let orphan = person(&app, Role::Rep, None).await;
        let deal = create_deal(
            &app,
            &orphan.token,
            priced_deal(&d.pipeline, "Alone", "discovery", 0),
        )
        .await;
        let status = try_submit(&app, &orphan, ask(&deal, 2000))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "NO_APPROVER");
        // Within the pre-approved tier nobody is needed.
        let auto = submit(&app, &orphan, ask(&deal, 1000)).await;
        assert_eq!(auto.state(), State::Approved);
        // The VP asking for 30% on their rep's deal: the only leader above the owner is the
        // requester, whose step goes to the deal desk queue (tests/api/self_approval.rs).
        let routed = submit(&app, &d.vp, ask(&d.deal, 3000)).await;
        assert_eq!(routed.steps[1].seats[0].role, pb::Role::DealDesk as i32);
        assert_eq!(app.count("approval_requests").await, 2);
    }
);

contract_test!(submit_names_every_bad_field_and_stores_nothing, |app| {
    let d = Desk::new(&app).await;
    let cases: Vec<(pb::SubmitApprovalRequestRequest, Vec<&str>)> = vec![
        (
            pb::SubmitApprovalRequestRequest {
                deal: String::new(),
                ..ask(&d.deal, 2000)
            },
            vec!["deal"],
        ),
        (
            pb::SubmitApprovalRequestRequest {
                deal: "deals/not-a-uuid".into(),
                ..ask(&d.deal, 2000)
            },
            vec!["deal"],
        ),
        (ask(&d.deal, -1), vec!["discount_bps"]),
        (ask(&d.deal, 10_001), vec!["discount_bps"]),
        (
            pb::SubmitApprovalRequestRequest {
                payment_days: -1,
                ..ask(&d.deal, 2000)
            },
            vec!["payment_days"],
        ),
        (
            pb::SubmitApprovalRequestRequest {
                payment_days: 3651,
                ..ask(&d.deal, 2000)
            },
            vec!["payment_days"],
        ),
        (
            pb::SubmitApprovalRequestRequest {
                resubmits: "approvalRequests/42".into(),
                ..ask(&d.deal, 2000)
            },
            vec!["resubmits"],
        ),
        (
            pb::SubmitApprovalRequestRequest {
                resubmits: format!("approvalRequests/{}", uuid::Uuid::now_v7()),
                ..ask(&d.deal, 2000)
            },
            vec!["resubmits"],
        ),
        (
            pb::SubmitApprovalRequestRequest {
                clauses: (0..51).map(|i| format!("CLAUSE_{i}")).collect(),
                ..ask(&d.deal, 2000)
            },
            vec!["clauses"],
        ),
        (
            pb::SubmitApprovalRequestRequest {
                non_standard_terms: "x".repeat(10_001),
                ..ask(&d.deal, 2000)
            },
            vec!["non_standard_terms"],
        ),
        (
            pb::SubmitApprovalRequestRequest {
                request_id: "r".repeat(129),
                ..ask(&d.deal, 2000)
            },
            vec!["request_id"],
        ),
        (
            pb::SubmitApprovalRequestRequest {
                deal: String::new(),
                payment_days: -5,
                ..ask(&d.deal, -5)
            },
            vec!["deal", "discount_bps", "payment_days"],
        ),
    ];
    for (request, fields) in cases {
        let status = try_submit(&app, &d.rep, request.clone()).await.unwrap_err();
        assert_eq!(violated_fields(&status), fields, "{request:?}");
    }
    // The last ceiling itself is fine.
    let cfo = submit(&app, &d.rep, ask(&d.deal, 10_000)).await;
    assert_eq!(step_names(&cfo), ["Sales manager", "VP of Sales", "CFO"]);
    assert_eq!(app.count("approval_requests").await, 1);
});

contract_test!(
    a_request_id_makes_submit_idempotent_even_for_concurrent_retries,
    |app| {
        let d = Desk::new(&app).await;
        let keyed = pb::SubmitApprovalRequestRequest {
            request_id: "submit-acme-1".into(),
            ..ask(&d.deal, 3000)
        };
        let first = submit(&app, &d.rep, keyed.clone()).await;
        let again = submit(&app, &d.rep, keyed.clone()).await;
        assert_eq!(again, first);
        assert_eq!(app.count("approval_requests").await, 1);

        let concurrent = pb::SubmitApprovalRequestRequest {
            request_id: "submit-acme-2".into(),
            ..ask(&d.deal, 2000)
        };
        let (a, b, c) = tokio::join!(
            try_submit(&app, &d.rep, concurrent.clone()),
            try_submit(&app, &d.rep, concurrent.clone()),
            try_submit(&app, &d.rep, concurrent.clone()),
        );
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_ne!(a.name, first.name);
        assert_eq!(app.count("approval_requests").await, 2);

        // The same key for other terms is refused.
        let status = try_submit(
            &app,
            &d.rep,
            pb::SubmitApprovalRequestRequest {
                request_id: "submit-acme-1".into(),
                ..ask(&d.deal, 3100)
            },
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "REQUEST_ID_REUSED");
        assert_eq!(app.count("approval_requests").await, 2);
    }
);

// ---------------------------------------------------------------------------------------------
// Deciding.

contract_test!(
    steps_are_decided_in_order_and_the_last_approval_approves,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;

        let status = try_approve(&app, &d.vp, &step_of(&request, 2))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "STEP_NOT_STARTED");
        let status = try_approve(&app, &d.vp, &step_of(&request, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "NOT_AN_APPROVER");
        // Legal and deal desk see the request but hold no seat of the step; a manager outside
        // the owner's chain does not even learn that it exists.
        for outsider in [&d.legal, &d.desk] {
            let status = try_approve(&app, outsider, &step_of(&request, 1))
                .await
                .unwrap_err();
            assert_error(&status, Code::PermissionDenied, "NOT_AN_APPROVER");
        }
        let status = try_approve(&app, &d.other_manager, &step_of(&request, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = try_approve(&app, &d.rep, &step_of(&request, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "OWN_REQUEST");
        let status = try_approve(&app, &d.manager, &step_of(&request, 9))
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = app
            .deal_desk()
            .await
            .approve_approval_step(authed(
                &d.manager.token,
                approval(&step_of(&request, 1), &"x".repeat(2001)),
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["comment"]);
        for bad in [
            format!("{}/steps/0", request.name),
            format!("{}/steps/one", request.name),
            request.name.clone(),
        ] {
            let status = try_approve(&app, &d.manager, &bad).await.unwrap_err();
            assert_eq!(violated_fields(&status), ["step"]);
        }
        assert_eq!(
            stored(&app, &request.name).await,
            request,
            "nothing changed"
        );

        // The manager approves step 1, with a request id: a retry gets the same answer.
        let mut manager_client = app.deal_desk().await;
        let keyed = pb::ApproveApprovalStepRequest {
            request_id: "approve-1".into(),
            ..approval(&step_of(&request, 1), "within budget")
        };
        let after_first = manager_client
            .approve_approval_step(authed(&d.manager.token, keyed.clone()))
            .await
            .unwrap()
            .into_inner();
        let retried = manager_client
            .approve_approval_step(authed(&d.manager.token, keyed))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(retried, after_first);
        assert_eq!(after_first.state(), State::Pending);
        assert_eq!(
            step_states(&after_first),
            [StepState::Approved, StepState::Pending]
        );
        let decided = decisions(&after_first, 1);
        assert_eq!(decided.len(), 1);
        assert!(decided[0].approved);
        assert_eq!(decided[0].decided_by, d.manager.name());
        assert_eq!(decided[0].on_behalf_of, "");
        assert_eq!(decided[0].comment, "within budget");
        assert_eq!(after_first.steps[0].decide_time, decided[0].decide_time);
        assert_eq!(
            after_first.steps[1].start_time, after_first.steps[0].decide_time,
            "the next step is asked when the previous completes"
        );
        assert!(after_first.close_time.is_none());

        let status = try_approve(&app, &d.manager, &step_of(&request, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "STEP_DECIDED");
        let status = try_reject(&app, &d.manager, &step_of(&request, 1), "changed my mind")
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "STEP_DECIDED");

        let approved = approve(&app, &d.vp, &step_of(&request, 2)).await;
        assert_eq!(approved.state(), State::Approved);
        assert!(!approved.auto_approved);
        assert_eq!(
            step_states(&approved),
            [StepState::Approved, StepState::Approved]
        );
        assert_eq!(approved.close_time, approved.steps[1].decide_time);
        assert!(approved.close_time.is_some());
        assert_eq!(stored(&app, &request.name).await, approved);

        let status = try_approve(&app, &d.vp, &step_of(&request, 2))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
    }
);

contract_test!(
    one_rejection_rejects_the_request_and_cancels_the_rest,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        for comment in ["", "   "] {
            let status = try_reject(&app, &d.manager, &step_of(&request, 1), comment)
                .await
                .unwrap_err();
            assert_eq!(violated_fields(&status), ["comment"]);
        }
        let status = try_reject(&app, &d.vp, &step_of(&request, 1), "no")
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "NOT_AN_APPROVER");
        let rejected = try_reject(&app, &d.manager, &step_of(&request, 1), "too deep")
            .await
            .unwrap();
        assert_eq!(rejected.state(), State::Rejected);
        assert_eq!(
            step_states(&rejected),
            [StepState::Rejected, StepState::Cancelled]
        );
        let decided = decisions(&rejected, 1);
        assert_eq!(decided.len(), 1);
        assert!(!decided[0].approved);
        assert_eq!(decided[0].comment, "too deep");
        assert!(rejected.close_time.is_some());
        assert_eq!(rejected.close_time, rejected.steps[0].decide_time);
        for n in [1, 2] {
            let status = try_approve(&app, &d.vp, &step_of(&request, n))
                .await
                .unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
        }
        assert_eq!(stored(&app, &request.name).await, rejected);
    }
);

contract_test!(the_requester_never_decides_their_own_request, |app| {
    let d = Desk::new(&app).await;
    // A manager submits on their rep's deal: the owner's manager is the requester, so the
    // seat goes to the manager's own manager.
    let request = submit(&app, &d.manager, ask(&d.deal, 3000)).await;
    let seats: Vec<String> = request
        .steps
        .iter()
        .map(|s| s.seats[0].user.clone())
        .collect();
    assert_eq!(seats, [d.vp.name(), d.vp.name()]);
    let status = try_approve(&app, &d.manager, &step_of(&request, 1))
        .await
        .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "OWN_REQUEST");
    approve(&app, &d.vp, &step_of(&request, 1)).await;
    let approved = approve(&app, &d.vp, &step_of(&request, 2)).await;
    assert_eq!(approved.state(), State::Approved);

    // Deal desk submits terms that deal desk's own queue approves: not them.
    let mut desk_finance = policy();
    desk_finance.finance_step = Some(step(
        "Deal desk terms",
        vec![queue(pb::Role::DealDesk)],
        Mode::All,
    ));
    create_policy(&app, &app.admin_token, desk_finance)
        .await
        .unwrap();
    let terms = submit(
        &app,
        &d.desk,
        pb::SubmitApprovalRequestRequest {
            payment_days: 90,
            ..ask(&d.deal, 0)
        },
    )
    .await;
    assert_eq!(step_names(&terms), ["Deal desk terms"]);
    assert_eq!(terms.steps[0].seats[0].role(), pb::Role::DealDesk);
    let status = try_approve(&app, &d.desk, &step_of(&terms, 1))
        .await
        .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "OWN_REQUEST");
    let status = try_reject(&app, &d.desk, &step_of(&terms, 1), "mine")
        .await
        .unwrap_err();
    assert_error(&status, Code::PermissionDenied, "OWN_REQUEST");
    assert!(!my_queue(&app, &d.desk).await.contains(&terms.name));
    assert_eq!(my_queue(&app, &d.desk2).await, [terms.name.as_str()]);
    let approved = approve(&app, &d.desk2, &step_of(&terms, 1)).await;
    assert_eq!(approved.state(), State::Approved);
    assert_eq!(decisions(&approved, 1)[0].decided_by, d.desk2.name());
});

contract_test!(
    an_all_step_needs_every_approver_and_an_any_step_one,
    |app| {
        let d = Desk::without_policy(&app).await;
        create_policy(&app, &app.admin_token, joint_legal_policy(Mode::All))
            .await
            .unwrap();
        let all = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        assert_eq!(step_names(&all), ["Legal review"]);
        let seats: Vec<(String, pb::Role)> = all.steps[0]
            .seats
            .iter()
            .map(|s| (s.user.clone(), s.role()))
            .collect();
        assert_eq!(
            seats,
            [
                (String::new(), pb::Role::Legal),
                (d.manager.name(), pb::Role::Unspecified)
            ]
        );
        let half = approve(&app, &d.legal, &step_of(&all, 1)).await;
        assert_eq!(half.state(), State::Pending);
        assert_eq!(half.steps[0].state(), StepState::Pending);
        assert_eq!(decisions(&half, 1).len(), 1);
        // Legal's seat is decided: neither the same person nor another legal user decides it
        // again.
        for who in [&d.legal, &d.legal2] {
            let status = try_approve(&app, who, &step_of(&all, 1)).await.unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "ALREADY_DECIDED");
        }
        assert_eq!(my_queue(&app, &d.legal2).await, Vec::<String>::new());
        assert_eq!(my_queue(&app, &d.manager).await, [all.name.as_str()]);
        let done = approve(&app, &d.manager, &step_of(&all, 1)).await;
        assert_eq!(done.state(), State::Approved);
        let by: Vec<String> = decisions(&done, 1)
            .into_iter()
            .map(|x| x.decided_by)
            .collect();
        assert_eq!(by, [d.legal.name(), d.manager.name()]);

        create_policy(&app, &app.admin_token, joint_legal_policy(Mode::Any))
            .await
            .unwrap();
        let any = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        assert_eq!(
            any.steps[0].step.as_ref().unwrap().mode(),
            Mode::Any,
            "the step as the policy defines it"
        );
        let done = approve(&app, &d.legal2, &step_of(&any, 1)).await;
        assert_eq!(done.state(), State::Approved);
        assert_eq!(done.steps[0].state(), StepState::Approved);
        assert!(done.steps[0].seats[1].decision.is_none());
        let status = try_approve(&app, &d.manager, &step_of(&any, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
    }
);

contract_test!(concurrent_approvals_of_an_any_step_count_once, |app| {
    let d = Desk::without_policy(&app).await;
    create_policy(&app, &app.admin_token, joint_legal_policy(Mode::Any))
        .await
        .unwrap();
    for round in 0..4 {
        let request = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        let step = step_of(&request, 1);
        let (mut a, mut b) = (app.deal_desk().await, app.deal_desk().await);
        let (legal, manager) = tokio::join!(
            a.approve_approval_step(authed(&d.legal.token, approval(&step, "legal ok"))),
            b.approve_approval_step(authed(&d.manager.token, approval(&step, "mgr ok"))),
        );
        let (won, lost) = match (legal, manager) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won.into_inner(), lost),
            other => panic!("round {round}: exactly one approval must succeed: {other:?}"),
        };
        assert_eq!(lost.code(), Code::FailedPrecondition, "{lost:?}");
        let reason = lost.get_details_error_info().unwrap().reason;
        assert!(
            ["STEP_DECIDED", "REQUEST_CLOSED"].contains(&reason.as_str()),
            "round {round}: {lost:?}"
        );
        assert_eq!(won.state(), State::Approved);
        let stored = stored(&app, &request.name).await;
        assert_eq!(stored, won, "round {round}");
        assert_eq!(
            decisions(&stored, 1).len(),
            1,
            "round {round}: one decision"
        );
    }
});

contract_test!(concurrent_approvals_of_an_all_step_both_count, |app| {
    let d = Desk::without_policy(&app).await;
    create_policy(&app, &app.admin_token, joint_legal_policy(Mode::All))
        .await
        .unwrap();
    for round in 0..4 {
        let request = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        let step = step_of(&request, 1);
        let (mut a, mut b) = (app.deal_desk().await, app.deal_desk().await);
        let (legal, manager) = tokio::join!(
            a.approve_approval_step(authed(&d.legal.token, approval(&step, "legal ok"))),
            b.approve_approval_step(authed(&d.manager.token, approval(&step, "mgr ok"))),
        );
        let (legal, manager) = (
            legal
                .unwrap_or_else(|e| panic!("round {round}: {e:?}"))
                .into_inner(),
            manager
                .unwrap_or_else(|e| panic!("round {round}: {e:?}"))
                .into_inner(),
        );
        // Whichever was saved last saw the other's decision and approved the request.
        let states = [legal.state(), manager.state()];
        assert!(
            states.contains(&State::Approved) && states.contains(&State::Pending),
            "round {round}: {states:?}"
        );
        let stored = stored(&app, &request.name).await;
        assert_eq!(stored.state(), State::Approved);
        let mut by: Vec<String> = decisions(&stored, 1)
            .into_iter()
            .map(|x| x.decided_by)
            .collect();
        by.sort();
        let mut expected = vec![d.legal.name(), d.manager.name()];
        expected.sort();
        assert_eq!(by, expected, "round {round}");
    }
});

contract_test!(
    concurrent_retries_of_one_decision_or_withdrawal_get_one_answer,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        let keyed = pb::ApproveApprovalStepRequest {
            request_id: "approve-once".into(),
            ..approval(&step_of(&request, 1), "ok")
        };
        let (mut a, mut b, mut c) = (
            app.deal_desk().await,
            app.deal_desk().await,
            app.deal_desk().await,
        );
        let (x, y, z) = tokio::join!(
            a.approve_approval_step(authed(&d.manager.token, keyed.clone())),
            b.approve_approval_step(authed(&d.manager.token, keyed.clone())),
            c.approve_approval_step(authed(&d.manager.token, keyed.clone())),
        );
        let (x, y, z) = (
            x.unwrap().into_inner(),
            y.unwrap().into_inner(),
            z.unwrap().into_inner(),
        );
        assert_eq!(x, y);
        assert_eq!(y, z);
        let after = stored(&app, &request.name).await;
        assert_eq!(after, x);
        assert_eq!(
            step_states(&after),
            [StepState::Approved, StepState::Pending]
        );
        assert_eq!(decisions(&after, 1).len(), 1);

        let keyed = pb::WithdrawApprovalRequestRequest {
            name: request.name.clone(),
            request_id: "withdraw-once".into(),
        };
        let (x, y, z) = tokio::join!(
            a.withdraw_approval_request(authed(&d.rep.token, keyed.clone())),
            b.withdraw_approval_request(authed(&d.rep.token, keyed.clone())),
            c.withdraw_approval_request(authed(&d.rep.token, keyed.clone())),
        );
        let (x, y, z) = (
            x.unwrap().into_inner(),
            y.unwrap().into_inner(),
            z.unwrap().into_inner(),
        );
        assert_eq!(x.state(), State::Withdrawn);
        assert_eq!(x, y);
        assert_eq!(y, z);
        assert_eq!(stored(&app, &request.name).await, x);
    }
);

// ---------------------------------------------------------------------------------------------
// Withdrawing.

contract_test!(
    the_requester_deal_desk_or_an_admin_withdraw_a_pending_request_once,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        for who in [&d.manager, &d.vp] {
            let status = try_withdraw(&app, who, &request.name).await.unwrap_err();
            assert_error(&status, Code::PermissionDenied, "NOT_THE_REQUESTER");
        }
        let status = try_withdraw(&app, &d.peer, &request.name)
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        assert_eq!(stored(&app, &request.name).await, request);

        let withdrawn = try_withdraw(&app, &d.rep, &request.name).await.unwrap();
        assert_eq!(withdrawn.state(), State::Withdrawn);
        assert_eq!(
            step_states(&withdrawn),
            [StepState::Cancelled, StepState::Cancelled]
        );
        assert!(withdrawn.close_time.is_some());
        assert_eq!(stored(&app, &request.name).await, withdrawn);
        let status = try_withdraw(&app, &d.rep, &request.name).await.unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
        let status = try_approve(&app, &d.manager, &step_of(&request, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
        assert_eq!(my_queue(&app, &d.manager).await, Vec::<String>::new());

        for who in [&d.desk, &d.admin] {
            let request = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
            let withdrawn = try_withdraw(&app, who, &request.name).await.unwrap();
            assert_eq!(withdrawn.state(), State::Withdrawn);
        }
        let auto = submit(&app, &d.rep, ask(&d.deal, 500)).await;
        let status = try_withdraw(&app, &d.rep, &auto.name).await.unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
    }
);

// ---------------------------------------------------------------------------------------------
// Reading and listing.

contract_test!(
    a_request_is_read_by_those_who_see_its_deal_or_decide_it,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        for who in [
            &d.rep, &d.manager, &d.vp, &d.desk, &d.legal, &d.finance, &d.admin,
        ] {
            assert_eq!(try_read(&app, who, &request.name).await.unwrap(), request);
        }
        for who in [&d.peer, &d.other_manager] {
            let status = try_read(&app, who, &request.name).await.unwrap_err();
            assert_error(&status, Code::NotFound, "NOT_FOUND");
        }
        let missing = format!("approvalRequests/{}", uuid::Uuid::now_v7());
        let status = try_read(&app, &d.rep, &missing).await.unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = try_read(&app, &d.rep, "approvalRequests/x")
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["name"]);
    }
);

contract_test!(
    a_deals_requests_list_newest_first_by_state_and_page_by_page,
    |app| {
        let d = Desk::new(&app).await;
        let auto = submit(&app, &d.rep, ask(&d.deal, 1000)).await;
        let manager_only = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        let deep = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        let withdrawn = submit(&app, &d.rep, ask(&d.deal, 2200)).await;
        try_withdraw(&app, &d.rep, &withdrawn.name).await.unwrap();
        let elsewhere = d.deal_of_rep(&app, "discovery", 0).await;
        let other = submit(&app, &d.rep, ask(&elsewhere, 2000)).await;

        let newest_first = vec![
            withdrawn.name.clone(),
            deep.name.clone(),
            manager_only.name.clone(),
            auto.name.clone(),
        ];
        assert_eq!(
            of_deal(&app, &d.rep, &d.deal, State::Unspecified).await,
            newest_first
        );
        assert_eq!(
            of_deal(&app, &d.manager, &d.deal, State::Pending).await,
            [deep.name.clone(), manager_only.name.clone()]
        );
        assert_eq!(
            of_deal(&app, &d.desk, &d.deal, State::Approved).await,
            [auto.name.as_str()]
        );
        assert_eq!(
            of_deal(&app, &d.rep, &d.deal, State::Withdrawn).await,
            [withdrawn.name.as_str()]
        );
        assert_eq!(
            of_deal(&app, &d.rep, &elsewhere, State::Unspecified).await,
            [other.name.as_str()]
        );

        // One at a time, following the tokens.
        let mut walked = Vec::new();
        let mut token = String::new();
        for _ in 0..10 {
            let page = try_list(
                &app,
                &d.rep,
                pb::ListApprovalRequestsRequest {
                    deal: d.deal.name.clone(),
                    page_size: 1,
                    page_token: token.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            assert!(page.approval_requests.len() <= 1);
            walked.extend(names(&page.approval_requests));
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        assert!(token.is_empty(), "the walk ends");
        assert_eq!(walked, newest_first);

        // Exactly one of deal and my_queue.
        for request in [
            pb::ListApprovalRequestsRequest::default(),
            pb::ListApprovalRequestsRequest {
                deal: d.deal.name.clone(),
                my_queue: true,
                ..Default::default()
            },
        ] {
            let status = try_list(&app, &d.rep, request).await.unwrap_err();
            assert_eq!(violated_fields(&status), ["deal"]);
        }
        let status = try_list(
            &app,
            &d.peer,
            pb::ListApprovalRequestsRequest {
                deal: d.deal.name.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
    }
);

contract_test!(
    my_queue_holds_what_waits_on_me_or_my_role_never_my_own_requests,
    |app| {
        let d = Desk::new(&app).await;
        let to_manager = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        let to_legal = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        // The manager's own request waits on the VP, never on the manager.
        let by_manager = submit(&app, &d.manager, ask(&d.deal, 2000)).await;

        assert_eq!(my_queue(&app, &d.manager).await, [to_manager.name.as_str()]);
        assert_eq!(my_queue(&app, &d.vp).await, [by_manager.name.as_str()]);
        assert_eq!(my_queue(&app, &d.legal).await, [to_legal.name.as_str()]);
        assert_eq!(my_queue(&app, &d.legal2).await, [to_legal.name.as_str()]);
        for who in [&d.rep, &d.finance, &d.desk, &d.other_manager, &d.peer] {
            assert_eq!(my_queue(&app, who).await, Vec::<String>::new());
        }

        approve(&app, &d.manager, &step_of(&to_manager, 1)).await;
        assert_eq!(my_queue(&app, &d.manager).await, Vec::<String>::new());
        assert_eq!(
            my_queue(&app, &d.vp).await,
            [by_manager.name.clone(), to_manager.name.clone()],
            "newest first"
        );
        approve(&app, &d.legal2, &step_of(&to_legal, 1)).await;
        assert_eq!(my_queue(&app, &d.legal).await, Vec::<String>::new());

        let status = try_list(
            &app,
            &d.vp,
            pb::ListApprovalRequestsRequest {
                my_queue: true,
                state: State::Pending as i32,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["state"]);
    }
);

// ---------------------------------------------------------------------------------------------
// Delegation.

contract_test!(
    a_delegate_decides_for_the_delegator_only_while_the_delegation_is_in_force,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        let future = person(&app, Role::Manager, Some(&d.vp)).await;
        let past = person(&app, Role::Manager, Some(&d.vp)).await;
        let stand_in = person(&app, Role::Manager, Some(&d.vp)).await;

        let starts_tomorrow = try_delegate(&app, &d.manager, delegation(&future, 1, 5))
            .await
            .unwrap();
        let ended_yesterday = try_delegate(&app, &d.manager, delegation(&past, -5, -1))
            .await
            .unwrap();
        // Out of force, a delegation gives neither the seat nor the sight of the request.
        for who in [&future, &past] {
            assert_eq!(my_queue(&app, who).await, Vec::<String>::new());
            let status = try_approve(&app, who, &step_of(&request, 1))
                .await
                .unwrap_err();
            assert_error(&status, Code::NotFound, "NOT_FOUND");
        }

        let today = try_delegate(&app, &d.manager, delegation(&stand_in, 0, 2))
            .await
            .unwrap();
        assert!(today.name.starts_with("delegations/"));
        assert_eq!(today.delegator, d.manager.name(), "the caller by default");
        assert_eq!(today.delegate, stand_in.name());
        assert_eq!(today.creator, d.manager.name());
        assert_eq!((today.start_date, today.end_date), (in_days(0), in_days(2)));
        assert_eq!(my_queue(&app, &stand_in).await, [request.name.as_str()]);
        // The delegate can read the request they may decide.
        assert_eq!(
            try_read(&app, &stand_in, &request.name).await.unwrap(),
            request
        );

        let approved = approve(&app, &stand_in, &step_of(&request, 1)).await;
        assert_eq!(approved.state(), State::Approved);
        let decided = decisions(&approved, 1);
        assert_eq!(decided.len(), 1);
        assert_eq!(decided[0].decided_by, stand_in.name());
        assert_eq!(decided[0].on_behalf_of, d.manager.name());
        assert_eq!(approved.steps[0].seats[0].user, d.manager.name());

        assert_eq!(
            delegations_seen_by(&app, &d.manager).await,
            [
                today.name.clone(),
                ended_yesterday.name.clone(),
                starts_tomorrow.name.clone()
            ]
        );
        assert_eq!(
            delegations_seen_by(&app, &stand_in).await,
            [today.name.as_str()]
        );
        assert_eq!(delegations_seen_by(&app, &d.desk).await.len(), 3);
        assert_eq!(
            delegations_seen_by(&app, &d.rep).await,
            Vec::<String>::new()
        );
    }
);

contract_test!(
    a_delegate_of_a_role_queue_holder_decides_for_the_queue,
    |app| {
        let d = Desk::new(&app).await;
        let request = submit(&app, &d.rep, ask_clause(&d.deal)).await;
        try_delegate(&app, &d.legal, delegation(&d.other_manager, 0, 0))
            .await
            .unwrap();
        assert_eq!(
            my_queue(&app, &d.other_manager).await,
            [request.name.as_str()]
        );
        let approved = approve(&app, &d.other_manager, &step_of(&request, 1)).await;
        assert_eq!(approved.state(), State::Approved);
        let decided = decisions(&approved, 1);
        assert_eq!(decided[0].decided_by, d.other_manager.name());
        assert_eq!(decided[0].on_behalf_of, d.legal.name());
    }
);

contract_test!(
    delegations_refuse_cycles_self_reversed_ranges_and_other_peoples_approvals,
    |app| {
        let d = Desk::new(&app).await;
        try_delegate(&app, &d.manager, delegation(&d.vp, 0, 10))
            .await
            .unwrap();
        // B -> A over days A -> B covers: a cycle.
        let status = try_delegate(&app, &d.vp, delegation(&d.manager, 5, 20))
            .await
            .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(violated_fields(&status), ["delegation.delegate"]);
        // After A -> B ends, B -> A is fine.
        try_delegate(&app, &d.vp, delegation(&d.manager, 11, 20))
            .await
            .unwrap();
        // A -> B -> C, then C -> A: a longer cycle.
        try_delegate(&app, &d.vp, delegation(&d.other_manager, 0, 3))
            .await
            .unwrap();
        let status = try_delegate(&app, &d.other_manager, delegation(&d.manager, 2, 2))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["delegation.delegate"]);

        let status = try_delegate(&app, &d.legal, delegation(&d.legal, 0, 1))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["delegation.delegate"]);
        let status = try_delegate(&app, &d.legal, delegation(&d.legal2, 3, 2))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["delegation.end_date"]);
        let status = try_delegate(
            &app,
            &d.legal,
            pb::Delegation {
                start_date: None,
                ..delegation(&d.legal2, 0, 1)
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["delegation.start_date"]);

        let someone_elses = pb::Delegation {
            delegator: d.manager.name(),
            ..delegation(&d.peer, 30, 31)
        };
        let status = try_delegate(&app, &d.rep, someone_elses.clone())
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "OWN_DELEGATIONS_ONLY");
        let by_admin = try_delegate(&app, &d.admin, someone_elses).await.unwrap();
        assert_eq!(by_admin.delegator, d.manager.name());
        assert_eq!(by_admin.creator, d.admin.name());
        assert_eq!(app.count("delegations").await, 4);
    }
);

contract_test!(
    two_opposite_delegations_created_at_once_never_form_a_cycle,
    |app| {
        let d = Desk::new(&app).await;
        for round in 0..3 {
            let a = person(&app, Role::Manager, Some(&d.vp)).await;
            let b = person(&app, Role::Manager, Some(&d.vp)).await;
            let (ab, ba) = tokio::join!(
                try_delegate(&app, &a, delegation(&b, 0, 7)),
                try_delegate(&app, &b, delegation(&a, 3, 9)),
            );
            let refused = match (ab, ba) {
                (Ok(_), Err(refused)) | (Err(refused), Ok(_)) => refused,
                other => panic!("round {round}: exactly one delegation must be refused: {other:?}"),
            };
            assert_eq!(
                violated_fields(&refused),
                ["delegation.delegate"],
                "round {round}"
            );
            assert_eq!(app.count("delegations").await, round + 1);
        }
    }
);

// ---------------------------------------------------------------------------------------------
// Escalation.

contract_test!(
    a_step_past_its_sla_escalates_once_even_from_two_replicas,
    |app| {
        let d = Desk::new(&app).await;
        let first = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        let second = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        let third = submit(&app, &d.rep, ask(&d.deal, 2400)).await;
        let status = try_approve(&app, &d.vp, &step_of(&first, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "NOT_AN_APPROVER");
        assert_eq!(
            app.app
                .escalate_overdue(Utc::now() + chrono::Duration::hours(23))
                .await
                .unwrap(),
            0,
            "nothing is overdue before its SLA"
        );

        let here = dealdesk::app::App::new(app.app.store.clone());
        let replica = dealdesk::app::App::new(
            dealdesk::startup::open_store(&app.database_url)
                .await
                .unwrap(),
        );
        let later = Utc::now() + chrono::Duration::hours(25);
        let (a, b) = tokio::join!(
            here.escalate_overdue(later),
            replica.escalate_overdue(later)
        );
        assert_eq!(
            a.unwrap() + b.unwrap(),
            3,
            "each overdue step escalates exactly once"
        );
        let (a, b) = tokio::join!(
            here.escalate_overdue(later),
            replica.escalate_overdue(later)
        );
        assert_eq!(a.unwrap() + b.unwrap(), 0, "and never again");
        assert_eq!(app.app.escalate_overdue(later).await.unwrap(), 0);

        let escalated = stored(&app, &first.name).await;
        assert!(escalated.steps[0].escalate_time.is_some());
        assert_eq!(escalated.steps[0].seats[0].user, d.manager.name());
        assert_eq!(escalated.steps[0].seats[0].escalated_to, [d.vp.name()]);
        assert!(escalated.steps[1].escalate_time.is_none());
        assert_eq!(escalated.state(), State::Pending);
        assert_eq!(
            my_queue(&app, &d.vp).await,
            [third.name.clone(), second.name.clone(), first.name.clone()]
        );

        // The manager it escalated to decides for the approver.
        let approved = approve(&app, &d.vp, &step_of(&first, 1)).await;
        let decided = decisions(&approved, 1);
        assert_eq!(decided[0].decided_by, d.vp.name());
        assert_eq!(decided[0].on_behalf_of, d.manager.name());
        assert_eq!(
            step_states(&approved),
            [StepState::Approved, StepState::Pending]
        );
        // The original approver still decides their own seat elsewhere.
        let approved = approve(&app, &d.manager, &step_of(&second, 1)).await;
        assert_eq!(approved.state(), State::Approved);
        assert_eq!(decisions(&approved, 1)[0].on_behalf_of, "");
    }
);

// ---------------------------------------------------------------------------------------------
// Smart re-approval.

contract_test!(
    a_resubmission_keeps_approvals_that_still_cover_and_asks_again_when_the_discount_rises,
    |app| {
        let d = Desk::new(&app).await;
        let first = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        approve_manager_and_vp(&app, &d, &first).await;

        let lower = submit(&app, &d.rep, resubmit(&d.deal, 2800, &first)).await;
        assert_eq!(lower.state(), State::Approved);
        assert!(lower.auto_approved);
        assert_eq!(lower.resubmits, first.name);
        assert_eq!(step_states(&lower), [StepState::Kept, StepState::Kept]);
        assert_eq!(
            reapprovals(&lower),
            [
                "kept: the earlier approval still covers this request",
                "kept: the earlier approval still covers this request"
            ]
        );
        assert!(lower.close_time.is_some());
        let superseded = stored(&app, &first.name).await;
        assert_eq!(superseded.state(), State::Superseded);
        assert_eq!(
            step_states(&superseded),
            [StepState::Approved, StepState::Approved],
            "its approvals stand"
        );

        let higher = submit(&app, &d.rep, resubmit(&d.deal, 3500, &lower)).await;
        assert_eq!(higher.state(), State::Pending);
        assert!(!higher.auto_approved);
        assert_eq!(
            step_states(&higher),
            [StepState::Pending, StepState::Waiting]
        );
        assert_eq!(
            reapprovals(&higher),
            [
                "asked again: discount rose from 30.0% to 35.0%",
                "asked again: discount rose from 30.0% to 35.0%"
            ]
        );
        assert_eq!(stored(&app, &lower.name).await.state(), State::Superseded);

        // A superseded request is not resubmitted again.
        for earlier in [&first, &lower] {
            let status = try_submit(&app, &d.rep, resubmit(&d.deal, 2000, earlier))
                .await
                .unwrap_err();
            assert_error(&status, Code::FailedPrecondition, "NOT_RESUBMITTABLE");
        }
        // Resubmitting a pending request supersedes it and cancels what it still asked.
        let again = submit(&app, &d.rep, resubmit(&d.deal, 3500, &higher)).await;
        assert_eq!(again.state(), State::Pending);
        let replaced = stored(&app, &higher.name).await;
        assert_eq!(replaced.state(), State::Superseded);
        assert_eq!(
            step_states(&replaced),
            [StepState::Cancelled, StepState::Cancelled]
        );
        assert_eq!(app.count("approval_requests").await, 4);
    }
);

contract_test!(
    a_new_clause_on_resubmission_adds_a_legal_step_not_approved_before,
    |app| {
        let d = Desk::new(&app).await;
        let first = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        approve_manager_and_vp(&app, &d, &first).await;
        let with_clause = submit(
            &app,
            &d.rep,
            pb::SubmitApprovalRequestRequest {
                clauses: vec![UNCAPPED.into()],
                ..resubmit(&d.deal, 3000, &first)
            },
        )
        .await;
        assert_eq!(with_clause.state(), State::Pending);
        assert!(!with_clause.auto_approved);
        assert_eq!(
            step_names(&with_clause),
            ["Sales manager", "VP of Sales", "Legal review"]
        );
        assert_eq!(
            step_states(&with_clause),
            [StepState::Kept, StepState::Kept, StepState::Pending]
        );
        assert_eq!(with_clause.steps[2].reapproval, "not approved before");
        assert_eq!(my_queue(&app, &d.legal).await, [with_clause.name.as_str()]);
        assert_eq!(my_queue(&app, &d.manager).await, Vec::<String>::new());
        let approved = approve(&app, &d.legal, &step_of(&with_clause, 3)).await;
        assert_eq!(approved.state(), State::Approved);
    }
);

contract_test!(
    only_a_pending_approved_or_rejected_request_of_the_same_deal_is_resubmitted,
    |app| {
        let d = Desk::new(&app).await;
        let withdrawn = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        try_withdraw(&app, &d.rep, &withdrawn.name).await.unwrap();
        let status = try_submit(&app, &d.rep, resubmit(&d.deal, 2000, &withdrawn))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "NOT_RESUBMITTABLE");

        let elsewhere = d.deal_of_rep(&app, "discovery", 0).await;
        let other_deals = submit(&app, &d.rep, ask(&elsewhere, 2000)).await;
        let status = try_submit(&app, &d.rep, resubmit(&d.deal, 2000, &other_deals))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["resubmits"]);
        assert_eq!(app.count("approval_requests").await, 2);
        assert_eq!(stored(&app, &other_deals.name).await, other_deals);

        // A rejected request may be resubmitted: nothing of it was approved.
        let rejected = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        try_reject(&app, &d.manager, &step_of(&rejected, 1), "too deep")
            .await
            .unwrap();
        let retry = submit(&app, &d.rep, resubmit(&d.deal, 2500, &rejected)).await;
        assert_eq!(retry.state(), State::Pending);
        assert_eq!(reapprovals(&retry), ["not approved before"]);
        assert_eq!(
            stored(&app, &rejected.name).await.state(),
            State::Superseded
        );
    }
);

contract_test!(
    resubmitting_a_partly_approved_request_keeps_its_approved_step_and_supersedes_it,
    |app| {
        let d = Desk::new(&app).await;
        let first = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        approve(&app, &d.manager, &step_of(&first, 1)).await;
        let second = submit(&app, &d.rep, resubmit(&d.deal, 3000, &first)).await;
        assert_eq!(second.state(), State::Pending);
        assert_eq!(step_states(&second), [StepState::Kept, StepState::Pending]);
        assert_eq!(
            reapprovals(&second),
            [
                "kept: the earlier approval still covers this request",
                "not approved before"
            ]
        );
        let superseded = stored(&app, &first.name).await;
        assert_eq!(superseded.state(), State::Superseded);
        assert_eq!(
            step_states(&superseded),
            [StepState::Approved, StepState::Cancelled]
        );
        assert!(superseded.close_time.is_some());
        assert_eq!(my_queue(&app, &d.vp).await, [second.name.as_str()]);
        let status = try_approve(&app, &d.vp, &step_of(&first, 2))
            .await
            .unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "REQUEST_CLOSED");
        let approved = approve(&app, &d.vp, &step_of(&second, 2)).await;
        assert_eq!(approved.state(), State::Approved);
        assert!(!approved.auto_approved);

        // The superseded request is closed in the event log as withdrawn.
        let mut stream = watch(&app, &d.desk, by_deal(&d.deal.name)).await.unwrap();
        let events = take(&mut stream, 6).await;
        assert_eq!(
            summary(&events),
            [
                (Kind::Submitted, first.name.clone(), String::new()),
                (Kind::StepDecided, first.name.clone(), step_of(&first, 1)),
                (Kind::Withdrawn, first.name.clone(), String::new()),
                (Kind::Submitted, second.name.clone(), String::new()),
                (Kind::StepDecided, second.name.clone(), step_of(&second, 2)),
                (Kind::Approved, second.name.clone(), String::new()),
            ]
        );
        assert_eq!(
            events[2].description,
            format!("superseded by {}", second.name)
        );
        assert_increasing(&events);
        quiet(&mut stream).await;
    }
);

contract_test!(two_concurrent_resubmissions_replace_a_request_once, |app| {
    let d = Desk::new(&app).await;
    for round in 0..3 {
        let first = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        approve(&app, &d.manager, &step_of(&first, 1)).await;
        let (a, b) = tokio::join!(
            try_submit(&app, &d.rep, resubmit(&d.deal, 1800, &first)),
            try_submit(&app, &d.rep, resubmit(&d.deal, 1900, &first)),
        );
        let (won, lost) = match (a, b) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
            other => panic!("round {round}: exactly one resubmission must win: {other:?}"),
        };
        let reason = lost.get_details_error_info().unwrap().reason;
        assert!(
            [
                (Code::Aborted, "STALE_ETAG"),
                (Code::FailedPrecondition, "NOT_RESUBMITTABLE")
            ]
            .contains(&(lost.code(), reason.as_str())),
            "round {round}: {lost:?}"
        );
        assert_eq!(won.resubmits, first.name);
        assert_eq!(won.state(), State::Approved);
        assert_eq!(stored(&app, &first.name).await.state(), State::Superseded);
        assert_eq!(
            app.count("approval_requests").await,
            2 * (round + 1),
            "round {round}: one replacement"
        );
    }
});

// ---------------------------------------------------------------------------------------------
// The deal gates.

contract_test!(
    the_discount_gate_needs_an_approved_request_covering_the_deals_discount,
    |app| {
        let d = Desk::new(&app).await;
        let deal = d.deal_of_rep(&app, "pricing", 0).await;
        set_discount(&app, &d.rep, &deal, 3000).await;
        let refused = move_to(&app, &d.rep.token, &deal.name, "signature")
            .await
            .unwrap_err();
        assert_eq!(
            unmet_gates(&refused),
            [criterion(&d.pipeline, "pricing", DISCOUNT_COVERED)]
        );

        // A pending request covering it does not count; an approved lower one neither.
        let pending = submit(&app, &d.rep, ask(&deal, 3000)).await;
        let refused = move_to(&app, &d.rep.token, &deal.name, "signature")
            .await
            .unwrap_err();
        assert_eq!(
            unmet_gates(&refused),
            [criterion(&d.pipeline, "pricing", DISCOUNT_COVERED)]
        );
        try_withdraw(&app, &d.rep, &pending.name).await.unwrap();
        let lower = submit(&app, &d.rep, ask(&deal, 2000)).await;
        approve(&app, &d.manager, &step_of(&lower, 1)).await;
        let refused = move_to(&app, &d.rep.token, &deal.name, "signature")
            .await
            .unwrap_err();
        assert_eq!(
            unmet_gates(&refused),
            [criterion(&d.pipeline, "pricing", DISCOUNT_COVERED)]
        );

        let covering = submit(&app, &d.rep, ask(&deal, 3000)).await;
        approve_manager_and_vp(&app, &d, &covering).await;
        assert_eq!(
            gate_checks(&app, &d.rep, &deal, "signature").await,
            [(
                format!("{}/stages/pricing", d.pipeline.name),
                DISCOUNT_COVERED.to_string(),
                true
            )]
        );
        // Raising the deal's discount past what was approved uncovers it again.
        set_discount(&app, &d.rep, &deal, 3500).await;
        assert_eq!(
            gate_checks(&app, &d.rep, &deal, "signature").await,
            [(
                format!("{}/stages/pricing", d.pipeline.name),
                DISCOUNT_COVERED.to_string(),
                false
            )]
        );
        let refused = move_to(&app, &d.rep.token, &deal.name, "signature")
            .await
            .unwrap_err();
        assert_eq!(
            unmet_gates(&refused),
            [criterion(&d.pipeline, "pricing", DISCOUNT_COVERED)]
        );
        set_discount(&app, &d.rep, &deal, 3000).await;
        let moved = move_to(&app, &d.rep.token, &deal.name, "signature")
            .await
            .unwrap();
        assert_eq!(moved.stage, "signature");

        // A new deal cannot be created past the gate with an uncovered discount.
        let status = try_create_deal(
            &app,
            &d.rep.token,
            priced_deal(&d.pipeline, "Skipper", "signature", 3000),
        )
        .await
        .unwrap_err();
        assert_eq!(
            unmet_gates(&status),
            [criterion(&d.pipeline, "pricing", DISCOUNT_COVERED)]
        );

        // Within the pre-approved tier, no request is needed.
        let small = d.deal_of_rep(&app, "pricing", 1500).await;
        let moved = move_to(&app, &d.rep.token, &small.name, "signature")
            .await
            .unwrap();
        assert_eq!(moved.stage, "signature");
        assert_eq!(
            of_deal(&app, &d.rep, &small, State::Unspecified).await,
            Vec::<String>::new()
        );
    }
);

contract_test!(
    a_pending_request_blocks_the_no_pending_approval_gate_until_decided_or_withdrawn,
    |app| {
        let d = Desk::new(&app).await;
        for ending in ["withdrawn", "approved", "rejected"] {
            let deal = d.deal_of_rep(&app, "signature", 0).await;
            assert_eq!(deal.stage, "signature");
            let request = submit(&app, &d.rep, ask(&deal, 2000)).await;
            let refused = move_to(&app, &d.rep.token, &deal.name, "contract")
                .await
                .unwrap_err();
            assert_eq!(
                unmet_gates(&refused),
                [criterion(&d.pipeline, "signature", NO_PENDING)],
                "{ending}"
            );
            match ending {
                "withdrawn" => {
                    try_withdraw(&app, &d.rep, &request.name).await.unwrap();
                }
                "approved" => {
                    approve(&app, &d.manager, &step_of(&request, 1)).await;
                }
                _ => {
                    try_reject(&app, &d.manager, &step_of(&request, 1), "no")
                        .await
                        .unwrap();
                }
            }
            let moved = move_to(&app, &d.rep.token, &deal.name, "contract")
                .await
                .unwrap();
            assert_eq!(moved.stage, "contract", "{ending}");
        }
    }
);

// ---------------------------------------------------------------------------------------------
// The event stream.

contract_test!(
    events_stream_in_order_and_resume_after_the_last_seen_id_without_loss,
    |app| {
        let d = Desk::new(&app).await;
        let mut stream = watch(&app, &d.desk, watch_all(0)).await.unwrap();
        let first = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        approve(&app, &d.manager, &step_of(&first, 1)).await;
        approve(&app, &d.vp, &step_of(&first, 2)).await;
        let seen = take(&mut stream, 2).await;
        assert_eq!(
            summary(&seen),
            [
                (Kind::Submitted, first.name.clone(), String::new()),
                (Kind::StepDecided, first.name.clone(), step_of(&first, 1)),
            ]
        );
        assert_eq!(seen[0].actor, d.rep.name());
        assert_eq!(seen[0].deal, d.deal.name);
        assert_eq!(seen[1].actor, d.manager.name());
        assert!(seen[1].create_time.is_some());
        drop(stream);

        let second = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        try_withdraw(&app, &d.rep, &second.name).await.unwrap();
        let mut resumed = watch(&app, &d.desk, watch_all(seen[1].id)).await.unwrap();
        let rest = take(&mut resumed, 4).await;
        assert_eq!(
            summary(&rest),
            [
                (Kind::StepDecided, first.name.clone(), step_of(&first, 2)),
                (Kind::Approved, first.name.clone(), String::new()),
                (Kind::Submitted, second.name.clone(), String::new()),
                (Kind::Withdrawn, second.name.clone(), String::new()),
            ]
        );
        assert!(rest[0].id > seen[1].id);
        assert_eq!(rest[0].actor, d.vp.name());
        assert_eq!(rest[3].actor, d.rep.name());
        quiet(&mut resumed).await;

        // Live: a change made now arrives on the open stream, and nothing else.
        let third = submit(&app, &d.rep, ask(&d.deal, 1000)).await;
        let live = take_within(&mut resumed, 2, Duration::from_secs(5)).await;
        assert_eq!(
            summary(&live),
            [
                (Kind::Submitted, third.name.clone(), String::new()),
                (Kind::Approved, third.name.clone(), String::new()),
            ]
        );
        quiet(&mut resumed).await;

        // From the start: the same events with the same ids, each once.
        let mut everything = watch(&app, &d.desk, watch_all(0)).await.unwrap();
        let all = take(&mut everything, 8).await;
        quiet(&mut everything).await;
        let mut expected = seen.clone();
        expected.extend(rest.clone());
        expected.extend(live.clone());
        assert_eq!(all, expected);
        assert_increasing(&all);
    }
);

contract_test!(escalations_and_rejections_are_streamed_live, |app| {
    let d = Desk::new(&app).await;
    let mut stream = watch(&app, &d.rep, by_deal(&d.deal.name)).await.unwrap();
    quiet(&mut stream).await;
    let request = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
    let live = Duration::from_secs(5);
    let submitted = take_within(&mut stream, 1, live).await;
    assert_eq!(submitted[0].kind(), Kind::Submitted);
    let escalated = app
        .app
        .escalate_overdue(Utc::now() + chrono::Duration::hours(25))
        .await
        .unwrap();
    assert_eq!(escalated, 1);
    let event = take_within(&mut stream, 1, live).await;
    assert_eq!(
        summary(&event),
        [(Kind::Escalated, request.name.clone(), step_of(&request, 1))]
    );
    assert_eq!(event[0].actor, "", "the server escalates");
    try_reject(&app, &d.manager, &step_of(&request, 1), "no")
        .await
        .unwrap();
    let events = take_within(&mut stream, 2, live).await;
    assert_eq!(
        summary(&events),
        [
            (
                Kind::StepDecided,
                request.name.clone(),
                step_of(&request, 1)
            ),
            (Kind::Rejected, request.name.clone(), String::new()),
        ]
    );
    let mut all = submitted;
    all.extend(event);
    all.extend(events);
    assert_increasing(&all);
    quiet(&mut stream).await;
});

contract_test!(watchers_see_only_what_their_filter_and_role_allow, |app| {
    let d = Desk::new(&app).await;
    let clause_deal = d.deal_of_rep(&app, "discovery", 0).await;
    let peers_deal = d.deal_of_peer(&app).await;
    let discount = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
    let clause = submit(&app, &d.rep, ask_clause(&clause_deal)).await;
    let peers = submit(&app, &d.peer, ask(&peers_deal, 2000)).await;

    let requests_seen = |events: Vec<pb::ApprovalEvent>| -> Vec<String> {
        events.into_iter().map(|e| e.approval_request).collect()
    };
    let cases: Vec<(&Person, pb::WatchApprovalEventsRequest, Vec<String>)> = vec![
        (&d.rep, by_deal(&d.deal.name), vec![discount.name.clone()]),
        (
            &d.manager,
            by_approver(&d.manager),
            vec![discount.name.clone()],
        ),
        (&d.vp, by_approver(&d.vp), vec![discount.name.clone()]),
        (
            &d.vp,
            by_approver(&d.other_manager),
            vec![peers.name.clone()],
        ),
        (
            &d.legal,
            by_queue(pb::Role::Legal),
            vec![clause.name.clone()],
        ),
        (
            &d.desk,
            pb::WatchApprovalEventsRequest {
                deal: clause_deal.name.clone(),
                ..by_queue(pb::Role::Legal)
            },
            vec![clause.name.clone()],
        ),
        (
            &d.desk,
            pb::WatchApprovalEventsRequest {
                deal: d.deal.name.clone(),
                ..by_queue(pb::Role::Legal)
            },
            vec![],
        ),
        (
            &d.desk,
            watch_all(0),
            vec![
                discount.name.clone(),
                clause.name.clone(),
                peers.name.clone(),
            ],
        ),
        (
            &d.finance,
            watch_all(0),
            vec![
                discount.name.clone(),
                clause.name.clone(),
                peers.name.clone(),
            ],
        ),
    ];
    for (who, request, expected) in cases {
        let mut stream = watch(&app, who, request.clone())
            .await
            .unwrap_or_else(|e| panic!("{request:?}: {e:?}"));
        let events = take(&mut stream, expected.len()).await;
        assert!(events.iter().all(|e| e.kind() == Kind::Submitted));
        assert_eq!(requests_seen(events), expected, "{request:?}");
        quiet(&mut stream).await;
    }

    let refusals: Vec<(&Person, pb::WatchApprovalEventsRequest)> = vec![
        (&d.rep, watch_all(0)),
        (&d.manager, watch_all(0)),
        (&d.vp, watch_all(0)),
        (&d.rep, by_approver(&d.peer)),
        (&d.rep, by_approver(&d.manager)),
        (&d.manager, by_approver(&d.peer)),
        (&d.rep, by_queue(pb::Role::Legal)),
        (&d.finance, by_queue(pb::Role::Legal)),
    ];
    for (who, request) in refusals {
        let status = watch(&app, who, request.clone()).await.unwrap_err();
        assert_error(&status, Code::PermissionDenied, "WATCH_SCOPE");
    }
    let status = watch(&app, &d.rep, by_deal(&peers_deal.name))
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "NOT_FOUND");
    let status = watch(&app, &d.desk, watch_all(-1)).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["after_event_id"]);
});

// ---------------------------------------------------------------------------------------------
// Metrics.

contract_test!(
    metrics_count_requests_auto_approvals_and_decided_work,
    |app| {
        let d = Desk::new(&app).await;
        let start = Utc::now() - chrono::Duration::hours(1);
        let end = Utc::now() + chrono::Duration::hours(1);
        let empty = try_metrics(&app, &d.desk, start, end).await.unwrap();
        assert_eq!((empty.count, empty.auto_approved_share), (0, 0.0));
        assert!(empty.segments.is_empty() && empty.approvers.is_empty());

        submit(&app, &d.rep, ask(&d.deal, 1000)).await; // auto-approved
        let decided = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        approve(&app, &d.manager, &step_of(&decided, 1)).await;
        let half = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        approve(&app, &d.manager, &step_of(&half, 1)).await; // the VP step stays pending

        let m = try_metrics(&app, &d.desk, start, end).await.unwrap();
        assert_eq!(m.count, 3);
        assert_eq!(m.auto_approved_share, 1.0 / 3.0);
        assert_eq!(
            counted(&m.requests),
            (2, 1),
            "two needed a human, one decided"
        );
        assert_eq!(counted(&m.steps), (3, 2), "three steps asked, two decided");
        assert_eq!(m.segments.len(), 1);
        assert_eq!(m.segments[0].segment(), pb::Segment::MidMarket);
        assert_eq!(m.segments[0].count, 3);
        assert_eq!(m.segments[0].auto_approved_share, 1.0 / 3.0);
        assert_eq!(counted(&m.segments[0].requests), (2, 1));
        let steps_of = |m: &pb::ApprovalMetrics, r: Relation| {
            let found: Vec<&pb::ApproverTurnaround> = m
                .approvers
                .iter()
                .filter(|a| a.approver == Some(relation(r)))
                .collect();
            assert_eq!(found.len(), 1, "{r:?} once in {:?}", m.approvers);
            counted(&found[0].steps)
        };
        assert_eq!(m.approvers.len(), 2);
        assert_eq!(steps_of(&m, Relation::OwnersManager), (2, 2));
        assert_eq!(steps_of(&m, Relation::LeaderAboveOwner), (1, 0));

        // A rejection is decided too.
        let rejected = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        try_reject(&app, &d.manager, &step_of(&rejected, 1), "no")
            .await
            .unwrap();
        for who in [&d.desk, &d.finance, &d.legal, &d.vp, &d.admin] {
            let m = try_metrics(&app, who, start, end).await.unwrap();
            assert_eq!(m.count, 4);
            assert_eq!(m.auto_approved_share, 0.25);
            assert_eq!(counted(&m.requests), (3, 2));
            assert_eq!(counted(&m.steps), (4, 3));
            assert_eq!(steps_of(&m, Relation::OwnersManager), (3, 3));
        }

        // Requests outside the range are not counted.
        let before = try_metrics(&app, &d.desk, start - chrono::Duration::days(2), start)
            .await
            .unwrap();
        assert_eq!(before.count, 0);

        // Another segment is counted apart, in segment order.
        create_policy(
            &app,
            &app.admin_token,
            pb::ApprovalPolicy {
                segment: pb::Segment::Smb as i32,
                ..policy()
            },
        )
        .await
        .unwrap();
        let smb = create_pipeline(&app, gated_pipeline(pb::Segment::Smb)).await;
        let small = create_deal(
            &app,
            &d.rep.token,
            priced_deal(&smb, "Small", "discovery", 0),
        )
        .await;
        submit(&app, &d.rep, ask(&small, 1000)).await;
        let m = try_metrics(&app, &d.desk, start, end).await.unwrap();
        assert_eq!(m.count, 5);
        assert_eq!(m.auto_approved_share, 2.0 / 5.0);
        let segments: Vec<(pb::Segment, i64, f64)> = m
            .segments
            .iter()
            .map(|s| (s.segment(), s.count, s.auto_approved_share))
            .collect();
        assert_eq!(
            segments,
            [
                (pb::Segment::Smb, 1, 1.0),
                (pb::Segment::MidMarket, 4, 0.25)
            ]
        );
        assert_eq!(counted(&m.segments[0].requests), (0, 0));
        assert_eq!(counted(&m.segments[1].requests), (3, 2));

        for who in [&d.rep, &d.manager] {
            let status = try_metrics(&app, who, start, end).await.unwrap_err();
            assert_error(&status, Code::PermissionDenied, "METRICS_READERS_ONLY");
        }
        for (from, to) in [(end, start), (start, start)] {
            let status = try_metrics(&app, &d.desk, from, to).await.unwrap_err();
            assert_eq!(violated_fields(&status), ["end_time"]);
        }
        let status = app
            .deal_desk()
            .await
            .get_approval_metrics(authed(
                &d.desk.token,
                pb::GetApprovalMetricsRequest::default(),
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["start_time", "end_time"]);
        let status = try_metrics(&app, &d.desk, start, start + chrono::Duration::days(367))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["end_time"]);
    }
);

contract_test!(
    a_submitted_request_stales_the_deals_etag_so_a_move_read_before_it_is_refused,
    |app| {
        let d = Desk::new(&app).await;
        // In "signature", whose exit needs no pending approval; the move below read the deal
        // (and so its gates) before the request existed.
        let deal = d.deal_of_rep(&app, "signature", 0).await;
        submit(&app, &d.rep, ask(&deal, 2000)).await;
        let status = app
            .deals()
            .await
            .advance_deal_stage(authed(
                &d.rep.token,
                pb::AdvanceDealStageRequest {
                    name: deal.name.clone(),
                    target_stage: "contract".into(),
                    etag: deal.etag.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Aborted);
        // Read again, the gate holds the move back while the request is pending.
        let status = move_to(&app, &d.rep.token, &deal.name, "contract")
            .await
            .unwrap_err();
        assert_eq!(
            unmet_gates(&status),
            [criterion(&d.pipeline, "signature", NO_PENDING)]
        );
    }
);
