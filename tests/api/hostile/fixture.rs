//! The world every hostile request is aimed at: people, a pipeline, deals, a policy, requests.

use super::*;

pub(crate) fn policy() -> pb::ApprovalPolicy {
    use pb::approver::Relation;
    pb::ApprovalPolicy {
        segment: pb::Segment::MidMarket as i32,
        tiers: vec![
            pb::DiscountTier {
                ceiling_bps: 1500,
                steps: vec![],
            },
            pb::DiscountTier {
                ceiling_bps: 10_000,
                steps: vec![step(
                    "Manager",
                    vec![relation(Relation::OwnersManager)],
                    pb::approval_step::Mode::All,
                )],
            },
        ],
        playbook: vec!["MUTUAL_NDA".into()],
        legal_step: Some(step(
            "Legal",
            vec![queue(pb::Role::Legal)],
            pb::approval_step::Mode::All,
        )),
        payment_days_limit: 45,
        finance_step: Some(step(
            "Finance",
            vec![queue(pb::Role::Finance)],
            pb::approval_step::Mode::All,
        )),
        ..Default::default()
    }
}

pub(super) fn a_deal(pipeline: &str, name: &str) -> pb::Deal {
    pb::Deal {
        display_name: name.into(),
        account: "Hostile Corp".into(),
        pipeline: pipeline.into(),
        amount: usd(100_000),
        ..Default::default()
    }
}

pub(super) async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.admin_token.clone();
    let leader = person(app, Role::Leader, None).await;
    let manager = person(app, Role::Manager, Some(&leader)).await;
    let rep = person(app, Role::Rep, Some(&manager)).await;
    let other_manager = person(app, Role::Manager, None).await;
    let other_rep = person(app, Role::Rep, Some(&other_manager)).await;
    let desk = person(app, Role::DealDesk, None).await;
    let _legal = person(app, Role::Legal, None).await;
    let _finance = person(app, Role::Finance, None).await;

    let mut directory = app.directory().await;
    let token = |parent: &str| pb::CreateApiTokenRequest {
        parent: parent.into(),
        api_token: Some(pb::ApiToken {
            display_name: "hostile".into(),
            ..Default::default()
        }),
    };
    let revoked = directory
        .create_api_token(authed(&admin, token(&rep.name())))
        .await
        .unwrap()
        .into_inner();
    directory
        .revoke_api_token(authed(
            &admin,
            pb::RevokeApiTokenRequest {
                name: revoked.api_token.unwrap().name,
            },
        ))
        .await
        .unwrap();
    let live = directory
        .create_api_token(authed(&admin, token(&other_rep.name())))
        .await
        .unwrap()
        .into_inner();
    let leaving = person(app, Role::Rep, Some(&manager)).await;
    directory
        .update_user(authed(
            &admin,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    name: leaving.name(),
                    active: Some(false),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["active".into()],
                }),
            },
        ))
        .await
        .unwrap();

    let pipeline = template_pipeline(app, pb::Segment::MidMarket).await;
    let mut template = pipeline.clone();
    template.name.clear();
    template.etag.clear();
    template.create_time = None;
    template.update_time = None;
    template.display_name = "Hostile copy".into();

    let mut deals = app.deals().await;
    let reused_request = pb::CreateDealRequest {
        deal: Some(a_deal(&pipeline.name, "Approval deal")),
        request_id: "hostile-request-1".into(),
    };
    let deal = deals
        .create_deal(authed(&rep.token, reused_request.clone()))
        .await
        .unwrap()
        .into_inner();
    let free_deal = deals
        .create_deal(authed(
            &rep.token,
            pb::CreateDealRequest {
                deal: Some(a_deal(&pipeline.name, "Free deal")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let foreign_deal = deals
        .create_deal(authed(
            &other_rep.token,
            pb::CreateDealRequest {
                deal: Some(a_deal(&pipeline.name, "Foreign deal")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();

    let mut desk_client = pb::deal_desk_service_client::DealDeskServiceClient::connect(format!(
        "http://{}",
        app.addr
    ))
    .await
    .unwrap();
    desk_client
        .create_approval_policy(authed(
            &admin,
            pb::CreateApprovalPolicyRequest {
                policy: Some(policy()),
            },
        ))
        .await
        .unwrap();
    let approval = desk_client
        .submit_approval_request(authed(
            &rep.token,
            pb::SubmitApprovalRequestRequest {
                deal: deal.name.clone(),
                discount_bps: 2000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let step = approval.steps[0].name.clone();

    let snapshot = app
        .forecasts()
        .await
        .compute_win_rates(authed(
            &admin,
            pb::ComputeWinRatesRequest {
                pipeline: pipeline.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .name;

    Fixture {
        admin,
        manager,
        rep,
        other_manager,
        other_rep,
        desk,
        revoked: revoked.secret,
        inactive: leaving.token,
        pipeline: pipeline.name,
        template,
        deal,
        free_deal,
        foreign_deal,
        approval,
        step,
        snapshot,
        live_token: live.api_token.unwrap().name,
        reused_request,
    }
}
