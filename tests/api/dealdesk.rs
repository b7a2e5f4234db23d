//! DealDeskService: versioned approval policies and route previews.

use dealdesk::domain::directory::Role;
use dealdesk::proto::{self as pb};
use tonic::Code;

use crate::contract_test;
use crate::fixtures::{
    create_deal, create_policy, deal_in, queue, relation, step, template_pipeline,
};
use crate::helpers::{assert_error, authed, violated_fields};
use pb::approval_step::Mode;

/// The deal "Acme" of the account "Acme" on `pipeline`.
fn acme(pipeline: &pb::Pipeline, amount: Option<pb::Money>) -> pb::Deal {
    pb::Deal {
        account: "Acme".into(),
        amount,
        ..deal_in(pipeline, "Acme")
    }
}

/// Mid-market: 15% pre-approved; to 25% the manager; to 40% adds the VP; beyond, finance.
fn policy() -> pb::ApprovalPolicy {
    use pb::approver::Relation;
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
                    Mode::Unspecified,
                )],
            },
            pb::DiscountTier {
                ceiling_bps: 4000,
                steps: vec![step(
                    "VP of Sales",
                    vec![relation(Relation::LeaderAboveOwner)],
                    Mode::Unspecified,
                )],
            },
            pb::DiscountTier {
                ceiling_bps: 10_000,
                steps: vec![step(
                    "CFO",
                    vec![queue(pb::Role::Finance)],
                    Mode::Unspecified,
                )],
            },
        ],
        size_thresholds: vec![],
        playbook: vec!["MUTUAL_NDA".into()],
        legal_step: Some(step(
            "Legal review",
            vec![queue(pb::Role::Legal)],
            Mode::Unspecified,
        )),
        payment_days_limit: 45,
        finance_step: Some(step(
            "Finance",
            vec![queue(pb::Role::Finance)],
            Mode::Unspecified,
        )),
        ..Default::default()
    }
}

contract_test!(
    policies_are_versioned_per_segment_and_only_editors_write_them,
    |app| {
        let (_, desk_token) = app.user(Role::DealDesk, None).await;
        let (_, rep_token) = app.user(Role::Rep, None).await;
        let first = create_policy(&app, &desk_token, policy()).await.unwrap();
        assert_eq!(
            (first.name.as_str(), first.version),
            ("approvalPolicies/mid-market/versions/1", 1)
        );
        let mut changed = policy();
        changed.tiers[0].ceiling_bps = 1000;
        let second = create_policy(&app, &app.admin_token, changed)
            .await
            .unwrap();
        assert_eq!(second.version, 2);
        let mut client = app.deal_desk().await;
        let latest = client
            .get_approval_policy(authed(
                &rep_token,
                pb::GetApprovalPolicyRequest {
                    name: "approvalPolicies/mid-market/versions/latest".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(latest, second);
        let old = client
            .get_approval_policy(authed(
                &rep_token,
                pb::GetApprovalPolicyRequest {
                    name: first.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(old, first, "versions never change");
        let status = create_policy(&app, &rep_token, policy()).await.unwrap_err();
        assert_error(&status, Code::PermissionDenied, "POLICY_EDITORS_ONLY");
        let status = client
            .get_approval_policy(authed(
                &rep_token,
                pb::GetApprovalPolicyRequest {
                    name: "approvalPolicies/smb/versions/latest".into(),
                },
            ))
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        assert_eq!(app.count("approval_policies").await, 2);
    }
);

contract_test!(a_policy_is_read_by_the_name_a_preview_returns, |app| {
    let rep = app.user(Role::Rep, None).await;
    let pipeline = template_pipeline(&app, pb::Segment::MidMarket).await;
    let deal = create_deal(&app, &rep.1, acme(&pipeline, None)).await;
    let created = create_policy(&app, &app.admin_token, policy())
        .await
        .unwrap();
    let mut client = app.deal_desk().await;
    let preview = client
        .preview_approval_route(authed(
            &rep.1,
            pb::PreviewApprovalRouteRequest {
                deal: deal.name.clone(),
                discount_bps: 2200,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let read = client
        .get_approval_policy(authed(
            &rep.1,
            pb::GetApprovalPolicyRequest {
                name: preview.policy.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
    assert_eq!(read.name, preview.policy);
});

contract_test!(
    a_malformed_policy_name_is_invalid_and_an_unknown_one_not_found,
    |app| {
        let (_, rep_token) = app.user(Role::Rep, None).await;
        create_policy(&app, &app.admin_token, policy())
            .await
            .unwrap();
        let client = app.deal_desk().await;
        let get = |name: &str| {
            let request = authed(
                &rep_token,
                pb::GetApprovalPolicyRequest { name: name.into() },
            );
            let mut client = client.clone();
            async move { client.get_approval_policy(request).await }
        };
        for malformed in [
            "",
            "approvalPolicies/mid-market",
            "approvalPolicies/mid-market/versions/",
            "approvalPolicies/mid-market/versions/0",
            "approvalPolicies/mid-market/versions/-1",
            "approvalPolicies/mid-market/versions/+1",
            "approvalPolicies/mid-market/versions/one",
            "approvalPolicies/MID_MARKET/versions/1",
            "approvalPolicies/mid-market/versions/1/extra",
            "policies/mid-market/versions/1",
        ] {
            let status = get(malformed).await.unwrap_err();
            assert_eq!(violated_fields(&status), ["name"], "{malformed:?}");
        }
        for unknown in [
            "approvalPolicies/mid-market/versions/2",
            "approvalPolicies/enterprise/versions/1",
            "approvalPolicies/smb/versions/latest",
        ] {
            let status = get(unknown).await.unwrap_err();
            assert_error(&status, Code::NotFound, "NOT_FOUND");
        }
        let latest = get("approvalPolicies/mid-market/versions/latest")
            .await
            .unwrap()
            .into_inner();
        assert_eq!(latest.name, "approvalPolicies/mid-market/versions/1");
    }
);

contract_test!(
    invalid_policies_report_every_problem_and_store_nothing,
    |app| {
        let mut bad = policy();
        bad.tiers[2].ceiling_bps = 2000; // overlaps the tier below
        bad.tiers[1].steps.clear(); // a tier that adds nothing
        bad.tiers[3].steps[0].approvers[0] = queue(pb::Role::Rep);
        bad.legal_step = None;
        let status = create_policy(&app, &app.admin_token, bad)
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["policy.legal_step"]);
        let mut bad = policy();
        bad.tiers[2].ceiling_bps = 2000;
        bad.tiers[1].steps.clear();
        bad.tiers[3].steps[0].approvers[0] = queue(pb::Role::Rep);
        let status = create_policy(&app, &app.admin_token, bad)
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            [
                "policy.tiers[1].steps",
                "policy.tiers[2].ceiling_bps",
                "policy.tiers[3].steps[0].approvers[0]"
            ]
        );
        assert_eq!(app.count("approval_policies").await, 0);
    }
);

contract_test!(
    a_preview_routes_by_tier_with_reasons_and_writes_nothing,
    |app| {
        let leader = app.user(Role::Leader, None).await;
        let manager = app.user(Role::Manager, Some(&leader.0)).await;
        let rep = app.user(Role::Rep, Some(&manager.0)).await;
        let peer = app.user(Role::Rep, None).await;
        let pipeline = template_pipeline(&app, pb::Segment::MidMarket).await;
        let deal = create_deal(&app, &rep.1, acme(&pipeline, None)).await;
        let preview = |token: String, discount_bps: i32, clauses: Vec<String>| {
            let app = &app;
            let deal = deal.name.clone();
            async move {
                app.deal_desk()
                    .await
                    .preview_approval_route(authed(
                        &token,
                        pb::PreviewApprovalRouteRequest {
                            deal,
                            discount_bps,
                            clauses,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| r.into_inner())
            }
        };
        let status = preview(rep.1.clone(), 2200, vec![]).await.unwrap_err();
        assert_error(&status, Code::FailedPrecondition, "NO_APPROVAL_POLICY");
        create_policy(&app, &app.admin_token, policy())
            .await
            .unwrap();

        let at_ceiling = preview(rep.1.clone(), 1500, vec!["MUTUAL_NDA".into()])
            .await
            .unwrap();
        assert!(at_ceiling.auto_approved && at_ceiling.steps.is_empty());
        assert_eq!(at_ceiling.policy, "approvalPolicies/mid-market/versions/1");
        let over = preview(rep.1.clone(), 2200, vec![]).await.unwrap();
        assert!(!over.auto_approved);
        assert_eq!(
            over.steps[0].reasons,
            ["discount 22.0% exceeds the 15.0% pre-approved for mid-market: Sales manager"]
        );
        let big = preview(manager.1.clone(), 4500, vec!["UNCAPPED_LIABILITY".into()])
            .await
            .unwrap();
        let names: Vec<&str> = big
            .steps
            .iter()
            .map(|s| s.step.as_ref().unwrap().name.as_str())
            .collect();
        assert_eq!(
            names,
            ["Sales manager", "VP of Sales", "CFO", "Legal review"]
        );

        let status = preview(peer.1.clone(), 2200, vec![]).await.unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        let status = preview(rep.1.clone(), 10_001, vec![]).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["discount_bps"]);
        let status = preview(rep.1.clone(), -1, vec![]).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["discount_bps"]);
        assert_eq!(app.count("approval_policies").await, 1);
    }
);

contract_test!(
    a_preview_follows_every_write_of_the_deal_at_once_and_another_replicas_within_two_seconds,
    |app| {
        let rep = app.user(Role::Rep, None).await;
        let peer = app.user(Role::Rep, None).await;
        let pipeline = template_pipeline(&app, pb::Segment::MidMarket).await;
        let usd = |minor: i64| pb::Money {
            currency_code: "USD".into(),
            amount_minor: minor,
        };
        create_policy(
            &app,
            &app.admin_token,
            pb::ApprovalPolicy {
                size_thresholds: vec![pb::SizeThreshold {
                    above: Some(usd(10_000_000)),
                    step: Some(step(
                        "Large deal",
                        vec![queue(pb::Role::Finance)],
                        Mode::Unspecified,
                    )),
                }],
                ..policy()
            },
        )
        .await
        .unwrap();
        let deal = create_deal(&app, &rep.1, acme(&pipeline, Some(usd(1_000_000)))).await;
        let preview = |token: String| {
            let app = &app;
            let deal = deal.name.clone();
            async move {
                app.deal_desk()
                    .await
                    .preview_approval_route(authed(
                        &token,
                        pb::PreviewApprovalRouteRequest {
                            deal,
                            discount_bps: 1000,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| r.into_inner())
            }
        };
        let steps = |route: &pb::PreviewApprovalRouteResponse| -> Vec<String> {
            route
                .steps
                .iter()
                .map(|s| s.step.as_ref().unwrap().name.clone())
                .collect()
        };
        let update = |token: String, deal: pb::Deal, path: &str| {
            let app = &app;
            let path = path.to_string();
            async move {
                app.deals()
                    .await
                    .update_deal(authed(
                        &token,
                        pb::UpdateDealRequest {
                            deal: Some(deal),
                            update_mask: Some(prost_types::FieldMask { paths: vec![path] }),
                        },
                    ))
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
        assert!(preview(rep.1.clone()).await.unwrap().auto_approved);

        // The amount, through this server: the next preview (same deal, cached) routes on it.
        let deal = update(
            rep.1.clone(),
            pb::Deal {
                amount: Some(usd(20_000_000)),
                ..deal.clone()
            },
            "amount",
        )
        .await;
        let large = preview(rep.1.clone()).await.unwrap();
        assert_eq!(steps(&large), ["Large deal"]);

        // The owner: the old one no longer sees the deal, the new one does, at once.
        update(
            app.admin_token.clone(),
            pb::Deal {
                owner: peer.0.name.clone(),
                ..deal.clone()
            },
            "owner",
        )
        .await;
        let status = preview(rep.1.clone()).await.unwrap_err();
        assert_error(&status, Code::NotFound, "NOT_FOUND");
        assert_eq!(
            steps(&preview(peer.1.clone()).await.unwrap()),
            ["Large deal"]
        );

        // Another replica's write (straight to the shared database, past this server's store):
        // seen once the cached entry is older than its TTL (2 s).
        let other = sea_orm::Database::connect(app.database_url.as_str())
            .await
            .unwrap();
        let id = deal.name.trim_start_matches("deals/");
        let changed = sea_orm::ConnectionTrait::execute_unprepared(
            &other,
            &format!("UPDATE deals SET amount_minor = 500000 WHERE id = '{id}'"),
        )
        .await
        .unwrap();
        assert_eq!(changed.rows_affected(), 1);
        other.close().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert!(preview(peer.1.clone()).await.unwrap().auto_approved);
        assert_eq!(app.count("approval_requests").await, 0);
    }
);
