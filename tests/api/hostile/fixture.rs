//! The world every hostile request is aimed at: people, a pipeline, deals, a policy, requests.

use super::*;
use crate::fixtures::create_deal;

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
    let credentials = credentials(app, &rep, &other_rep, &manager).await;

    let pipeline = template_pipeline(app, pb::Segment::MidMarket).await;
    let mut template = pipeline.clone();
    template.name.clear();
    template.etag.clear();
    template.create_time = None;
    template.update_time = None;
    template.display_name = "Hostile copy".into();

    let reused_request = pb::CreateDealRequest {
        deal: Some(a_deal(&pipeline.name, "Approval deal")),
        request_id: "hostile-request-1".into(),
    };
    let deal = app
        .deals()
        .await
        .create_deal(authed(&rep.token, reused_request.clone()))
        .await
        .unwrap()
        .into_inner();
    let free_deal = create_deal(app, &rep.token, a_deal(&pipeline.name, "Free deal")).await;
    let foreign_deal = create_deal(
        app,
        &other_rep.token,
        a_deal(&pipeline.name, "Foreign deal"),
    )
    .await;
    let approval = submit_approval(app, &admin, &rep, &deal).await;
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
        revoked: credentials.revoked,
        inactive: credentials.inactive,
        pipeline: pipeline.name,
        template,
        deal,
        free_deal,
        foreign_deal,
        approval,
        step,
        snapshot,
        live_token: credentials.live_token,
        reused_request,
    }
}

/// Credentials that must not work, and a live token (of another rep) to revoke.
struct Credentials {
    /// The secret of the rep's revoked token.
    revoked: String,
    /// The token of a deactivated rep.
    inactive: String,
    /// The name of the other rep's live token.
    live_token: String,
}

/// A token of `rep` issued then revoked, a live token of `other_rep`, and a rep of `manager`
/// deactivated after their token was issued.
async fn credentials(
    app: &TestApp,
    rep: &Person,
    other_rep: &Person,
    manager: &Person,
) -> Credentials {
    let admin = &app.admin_token;
    let mut directory = app.directory().await;
    let token = |parent: &str| pb::CreateApiTokenRequest {
        parent: parent.into(),
        api_token: Some(pb::ApiToken {
            display_name: "hostile".into(),
            ..Default::default()
        }),
    };
    let revoked = directory
        .create_api_token(authed(admin, token(&rep.name())))
        .await
        .unwrap()
        .into_inner();
    directory
        .revoke_api_token(authed(
            admin,
            pb::RevokeApiTokenRequest {
                name: revoked.api_token.unwrap().name,
            },
        ))
        .await
        .unwrap();
    let live = directory
        .create_api_token(authed(admin, token(&other_rep.name())))
        .await
        .unwrap()
        .into_inner();
    let leaving = person(app, Role::Rep, Some(manager)).await;
    directory
        .update_user(authed(
            admin,
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
    Credentials {
        revoked: revoked.secret,
        inactive: leaving.token,
        live_token: live.api_token.unwrap().name,
    }
}

/// The hostile policy, and a request for 20% off on `deal` by `rep` under it.
async fn submit_approval(
    app: &TestApp,
    admin: &str,
    rep: &Person,
    deal: &pb::Deal,
) -> pb::ApprovalRequest {
    let mut desk_client = pb::deal_desk_service_client::DealDeskServiceClient::connect(format!(
        "http://{}",
        app.addr
    ))
    .await
    .unwrap();
    desk_client
        .create_approval_policy(authed(
            admin,
            pb::CreateApprovalPolicyRequest {
                policy: Some(policy()),
            },
        ))
        .await
        .unwrap();
    desk_client
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
        .into_inner()
}
