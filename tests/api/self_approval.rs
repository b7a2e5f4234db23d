//! The requester never approves their own request (DESIGN.md, "Deal desk: approvals"): a step
//! whose approver resolves to the requester goes to the next person above them in the tree,
//! and where there is none, to the deal desk queue; the preview and the stored step say why.

use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use tonic::{Code, Status};

use crate::contract_test;
use crate::fixtures::{
    Org, create_deal, create_pipeline, create_policy, deal_in, queue, relation, stage, step, usd,
};
use crate::helpers::{Person, TestApp, assert_error, authed};

use pb::approval_request::State;
use pb::approval_step::Mode;
use pb::approver::Relation;

/// Mid-market: 15% pre-approved; to 25% the owner's manager; to 40% adds the VP (the leader
/// above the owner); beyond, the CFO (finance).
fn policy() -> pb::ApprovalPolicy {
    let tier = |ceiling_bps, steps| pb::DiscountTier { ceiling_bps, steps };
    pb::ApprovalPolicy {
        segment: pb::Segment::MidMarket as i32,
        tiers: vec![
            tier(1500, vec![]),
            tier(
                2500,
                vec![step(
                    "Sales manager",
                    vec![relation(Relation::OwnersManager)],
                    Mode::All,
                )],
            ),
            tier(
                4000,
                vec![step(
                    "VP of Sales",
                    vec![relation(Relation::LeaderAboveOwner)],
                    Mode::All,
                )],
            ),
            tier(
                10_000,
                vec![step("CFO", vec![queue(pb::Role::Finance)], Mode::All)],
            ),
        ],
        legal_step: Some(step("Legal", vec![queue(pb::Role::Legal)], Mode::All)),
        finance_step: Some(step("Finance", vec![queue(pb::Role::Finance)], Mode::All)),
        payment_days_limit: 45,
        ..Default::default()
    }
}

/// leader -> manager -> rep, a deal desk person, a mid-market pipeline and the policy.
async fn setup(app: &TestApp) -> (Org, pb::Pipeline) {
    use pb::stage::Kind;
    let org = Org::builder().staff(&[Role::DealDesk]).build(app).await;
    let pipeline = create_pipeline(
        app,
        pb::Pipeline {
            display_name: "Self approval".into(),
            segment: pb::Segment::MidMarket as i32,
            stages: vec![
                stage("discovery", 10, Kind::Open, vec![]),
                stage("closed-won", 100, Kind::Won, vec![]),
                stage("closed-lost", 110, Kind::Lost, vec![]),
            ],
            ..Default::default()
        },
    )
    .await;
    create_policy(app, &app.admin_token, policy())
        .await
        .unwrap();
    (org, pipeline)
}

/// A $50,000 deal owned by `owner`.
async fn deal_of(app: &TestApp, owner: &Person, pipeline: &pb::Pipeline) -> pb::Deal {
    let deal = pb::Deal {
        stage: "discovery".into(),
        amount: usd(5_000_000),
        ..deal_in(pipeline, "Umbrella")
    };
    create_deal(app, &owner.token, deal).await
}

async fn submit(app: &TestApp, who: &Person, deal: &pb::Deal, bps: i32) -> pb::ApprovalRequest {
    let request = pb::SubmitApprovalRequestRequest {
        deal: deal.name.clone(),
        discount_bps: bps,
        ..Default::default()
    };
    app.deal_desk()
        .await
        .submit_approval_request(authed(&who.token, request))
        .await
        .unwrap()
        .into_inner()
}

/// The reasons of each previewed step, as `who` would submit `bps` on `deal`.
async fn preview(app: &TestApp, who: &Person, deal: &pb::Deal, bps: i32) -> Vec<Vec<String>> {
    let request = pb::PreviewApprovalRouteRequest {
        deal: deal.name.clone(),
        discount_bps: bps,
        ..Default::default()
    };
    app.deal_desk()
        .await
        .preview_approval_route(authed(&who.token, request))
        .await
        .unwrap()
        .into_inner()
        .steps
        .into_iter()
        .map(|s| s.reasons)
        .collect()
}

async fn approve(
    app: &TestApp,
    who: &Person,
    request: &pb::ApprovalRequest,
    n: usize,
) -> Result<pb::ApprovalRequest, Status> {
    let step = pb::ApproveApprovalStepRequest {
        step: format!("{}/steps/{n}", request.name),
        comment: "fine".into(),
        ..Default::default()
    };
    app.deal_desk()
        .await
        .approve_approval_step(authed(&who.token, step))
        .await
        .map(|r| r.into_inner())
}

/// The (user, role) of every seat of every step.
fn seats(request: &pb::ApprovalRequest) -> Vec<Vec<(String, i32)>> {
    request
        .steps
        .iter()
        .map(|s| {
            s.seats
                .iter()
                .map(|seat| (seat.user.clone(), seat.role))
                .collect()
        })
        .collect()
}

const MANAGER_REASON: &str =
    "discount 20.0% exceeds the 15.0% pre-approved for mid-market: Sales manager";
const VP_REASON: &str = "discount 30.0% exceeds 25.0%: VP of Sales";

fn above(who: &Person) -> String {
    format!(
        "the owner's manager is the requester, who never approves their own request: it goes \
         to the next person above them, {}",
        who.name()
    )
}

const TO_DESK: &str = "the leader above the owner is the requester, who never approves their \
                       own request, and nobody is above them: it goes to the deal desk queue";

contract_test!(
    a_manager_asking_on_their_reps_deal_goes_to_their_leader,
    |app| {
        let (org, pipeline) = setup(&app).await;
        let deal = deal_of(&app, org.rep(), &pipeline).await;
        let why = vec![vec![MANAGER_REASON.to_string(), above(&org.leader)]];
        assert_eq!(preview(&app, &org.manager, &deal, 2000).await, why);
        let request = submit(&app, &org.manager, &deal, 2000).await;
        assert_eq!(request.state(), State::Pending);
        assert_eq!(seats(&request), [[(org.leader.name(), 0)]]);
        assert_eq!(request.steps[0].reasons, why[0]);
        // The rep asking the same is routed to the manager as the policy says.
        assert_eq!(
            preview(&app, org.rep(), &deal, 2000).await,
            [[MANAGER_REASON]]
        );
        let status = approve(&app, &org.manager, &request, 1).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        let approved = approve(&app, &org.leader, &request, 1).await.unwrap();
        assert_eq!(approved.state(), State::Approved);
    }
);

contract_test!(
    a_manager_asking_on_their_own_deal_goes_to_their_leader_as_the_policy_says,
    |app| {
        let (org, pipeline) = setup(&app).await;
        let deal = deal_of(&app, &org.manager, &pipeline).await;
        let request = submit(&app, &org.manager, &deal, 2000).await;
        assert_eq!(seats(&request), [[(org.leader.name(), 0)]]);
        assert_eq!(request.steps[0].reasons, [MANAGER_REASON]);
    }
);

contract_test!(
    a_top_of_tree_leader_asking_goes_to_the_deal_desk_queue,
    |app| {
        let (org, pipeline) = setup(&app).await;
        let deal = deal_of(&app, org.rep(), &pipeline).await;
        let reasons = preview(&app, &org.leader, &deal, 3000).await;
        assert_eq!(reasons.len(), 2);
        assert_eq!(reasons[1], [VP_REASON, TO_DESK]);
        let request = submit(&app, &org.leader, &deal, 3000).await;
        let desk = pb::Role::DealDesk as i32;
        assert_eq!(
            seats(&request),
            [vec![(org.manager.name(), 0)], vec![(String::new(), desk)]]
        );
        assert_eq!(request.steps[1].reasons, [VP_REASON, TO_DESK]);
        approve(&app, &org.manager, &request, 1).await.unwrap();
        let status = approve(&app, &org.leader, &request, 2).await.unwrap_err();
        assert_error(&status, Code::PermissionDenied, "OWN_REQUEST");
        let approved = approve(&app, org.desk(), &request, 2).await.unwrap();
        assert_eq!(approved.state(), State::Approved);
    }
);
