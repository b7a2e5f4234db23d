//! `dealdesk approvals queue|preview|submit|approve|reject`.

use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use pb::approval_step::Mode;

use super::{error, field, gated_pipeline, json, table};
use crate::contract_test;
use crate::fixtures::{Org, create_deal, create_policy, deal_in, queue, relation, step, usd};
use crate::helpers::TestApp;

/// Mid-market: 15% pre-approved, to 25% the owner's manager, beyond it the finance queue;
/// `MUTUAL_NDA` in the playbook, other clauses to the legal queue.
fn policy() -> pb::ApprovalPolicy {
    use pb::approver::Relation;
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
                    Mode::Unspecified,
                )],
            ),
            tier(
                10_000,
                vec![step("CFO", vec![queue(pb::Role::Finance)], Mode::Any)],
            ),
        ],
        playbook: vec!["MUTUAL_NDA".into()],
        legal_step: Some(step(
            "Legal review",
            vec![queue(pb::Role::Legal)],
            Mode::Any,
        )),
        payment_days_limit: 45,
        finance_step: Some(step("Finance", vec![queue(pb::Role::Finance)], Mode::Any)),
        ..Default::default()
    }
}

/// The org (with deal desk) under the policy, and a USD 40,000.00 deal of its rep.
async fn desk(app: &TestApp) -> (Org, pb::Deal) {
    let org = Org::builder().staff(&[Role::DealDesk]).build(app).await;
    create_policy(app, &org.desk().token, policy())
        .await
        .unwrap();
    let pipeline = gated_pipeline(app).await;
    let deal = pb::Deal {
        amount: usd(4_000_000),
        ..deal_in(&pipeline, "Initech")
    };
    let deal = create_deal(app, &org.rep().token, deal).await;
    (org, deal)
}

contract_test!(approvals_preview_prints_the_route_with_its_reasons, |app| {
    let (org, deal) = desk(&app).await;

    let out = table(
        &app,
        &org.rep().token,
        &[
            "approvals",
            "preview",
            &deal.name,
            "--discount",
            "22",
            "--clause",
            "MUTUAL_NDA",
            "--clause",
            "UNCAPPED_LIABILITY",
        ],
    )
    .await;

    assert_eq!(
        out,
        "Policy         approvalPolicies/mid-market/versions/1\n\
         Auto-approved  no\n\
         \n\
         Route\n\
         1. Sales manager (the owner's manager; all; SLA 24 h)\n\
         \x20  - discount 22.0% exceeds the 15.0% pre-approved for mid-market: Sales manager\n\
         2. Legal review (legal queue; any one; SLA 24 h)\n\
         \x20  - clauses outside the legal playbook (UNCAPPED_LIABILITY): Legal review\n"
    );

    let answer = json(
        &app,
        &org.rep().token,
        &["approvals", "preview", &deal.name, "--discount", "10"],
    )
    .await;
    assert_eq!(
        answer,
        serde_json::json!({"policy": "approvalPolicies/mid-market/versions/1", "autoApproved": true})
    );
});

contract_test!(approvals_submit_queue_and_approve_a_request, |app| {
    let (org, deal) = desk(&app).await;

    let submitted = json(
        &app,
        &org.rep().token,
        &[
            "approvals",
            "submit",
            &deal.name,
            "--discount",
            "22.5",
            "--request-id",
            "cli-1",
        ],
    )
    .await;
    let request = submitted["name"].as_str().unwrap().to_string();
    assert_eq!(submitted["state"], "STATE_PENDING");
    assert_eq!(submitted["discountBps"], 2250);
    assert_eq!(submitted["requester"], org.rep().name().as_str());
    let steps = submitted["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["name"], format!("{request}/steps/1").as_str());
    assert_eq!(steps[0]["state"], "STATE_PENDING");

    let queue = table(&app, &org.manager.token, &["approvals", "queue"]).await;
    let lines: Vec<&str> = queue.lines().collect();
    assert_eq!(lines.len(), 2, "{queue}");
    let columns: Vec<&str> = lines[1]
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let rep = &org.rep().user.display_name;
    assert_eq!(
        columns[..6],
        [
            request.as_str(),
            deal.name.as_str(),
            rep.as_str(),
            "22.5%",
            "USD 40,000.00",
            "1 Sales manager"
        ]
    );

    let own = error(&app, &org.rep().token, &["approvals", "approve", &request]).await;
    assert!(own.starts_with("PERMISSION_DENIED: "), "{own}");
    assert!(own.ends_with("\n  reason: OWN_REQUEST"), "{own}");

    let approved = table(
        &app,
        &org.manager.token,
        &[
            "approvals",
            "approve",
            &request,
            "--comment",
            "OK for 3 years",
        ],
    )
    .await;
    let manager = &org.manager.user.display_name;
    assert_eq!(field(&approved, "State"), "approved");
    let steps = approved.split("\nSteps\n").nth(1).unwrap();
    assert_eq!(
        steps,
        format!(
            "1 Sales manager [approved]\n   {manager}: approved by {manager}: OK for 3 years\n   \
             - discount 22.5% exceeds the 15.0% pre-approved for mid-market: Sales manager\n"
        )
    );
    let queue = table(&app, &org.manager.token, &["approvals", "queue"]).await;
    assert_eq!(queue.lines().count(), 1, "only the header: {queue}");
});

contract_test!(approvals_reject_names_the_step_and_needs_a_comment, |app| {
    let (org, deal) = desk(&app).await;
    let submitted = json(
        &app,
        &org.rep().token,
        &["approvals", "submit", &deal.name, "--discount", "20"],
    )
    .await;
    let step = submitted["steps"][0]["name"].as_str().unwrap().to_string();

    let rejected = json(
        &app,
        &org.manager.token,
        &["approvals", "reject", &step, "--comment", "Too deep"],
    )
    .await;

    assert_eq!(rejected["state"], "STATE_REJECTED");
    let decision = &rejected["steps"][0]["seats"][0]["decision"];
    assert_eq!(decision["comment"], "Too deep");
    assert_eq!(decision["decidedBy"], org.manager.name().as_str());
    assert!(decision.get("approved").is_none(), "false is left out");
});
