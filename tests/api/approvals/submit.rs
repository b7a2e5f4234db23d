//! SubmitApprovalRequest: routing by policy, who may submit, what is refused, idempotent submits.

use super::*;

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
